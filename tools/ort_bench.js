// Times onnxruntime (CPU) on an ONNX file: the baseline //networks:bench compares with.
// Test and benchmark tooling only; the product never uses it.
//
//   node tools/ort_bench.js MODEL.onnx BATCH THREADS SECONDS [CHANNELS SIZE]
//
// Warm-up: >= 3 runs and >= 1 s. Then runs until SECONDS have passed (and >= 5 runs).
// Prints one JSON line: {"images_per_second": ..., "seconds_per_batch": ..., "runs": ...,
// "median_seconds_per_batch": ..., "min_seconds_per_batch": ...}.
// onnxruntime-node is resolved from $ORT_NODE_MODULES (a node_modules folder), else normally.
'use strict';
const path = require('path');

function loadOrt() {
  const dir = process.env.ORT_NODE_MODULES;
  return require(dir ? path.join(dir, 'onnxruntime-node') : 'onnxruntime-node');
}

async function main() {
  const [model, batchArg, threadsArg, secondsArg, channelsArg, sizeArg] = process.argv.slice(2);
  if (!model) {
    console.error('usage: node tools/ort_bench.js MODEL.onnx BATCH THREADS SECONDS [CHANNELS SIZE]');
    process.exit(2);
  }
  const batch = parseInt(batchArg || '1', 10);
  const threads = parseInt(threadsArg || '1', 10);
  const seconds = parseFloat(secondsArg || '3');
  const channels = parseInt(channelsArg || '3', 10);
  const size = parseInt(sizeArg || '224', 10);
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const data = new Float32Array(batch * channels * size * size);
  for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i * 0.001);  // deterministic input
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [batch, channels, size, size])};
  // Warm-up, as //networks:bench does for its own side: at least 3 runs and 1 s (the first run
  // allocates and plans; the thread pool and caches settle after a few).
  const warmStart = process.hrtime.bigint();
  for (let w = 0; w < 3 || Number(process.hrtime.bigint() - warmStart) / 1e9 < 1; ++w) {
    await session.run(feeds);
  }
  const times = [];
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds || times.length < 5) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    const now = process.hrtime.bigint();
    times.push(Number(now - t) / 1e9);
    elapsed = Number(now - start) / 1e9;
  }
  const runs = times.length;
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({images_per_second: runs * batch / elapsed, seconds_per_batch: elapsed / runs, runs,
                              median_seconds_per_batch: times[Math.floor(runs / 2)], min_seconds_per_batch: times[0]}));
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
