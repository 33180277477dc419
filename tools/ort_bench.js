// Times onnxruntime (CPU) on an ONNX file: the baseline //networks:bench compares with.
// Test and benchmark tooling only; the product never uses it.
//
//   node tools/ort_bench.js MODEL.onnx BATCH THREADS SECONDS [CHANNELS SIZE]
//
// Prints one JSON line: {"images_per_second": ..., "seconds_per_batch": ..., "runs": ...}.
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
  await session.run(feeds);  // warm-up: first run allocates and plans
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds || runs < 3) {
    await session.run(feeds);
    ++runs;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  console.log(JSON.stringify({images_per_second: runs * batch / elapsed, seconds_per_batch: elapsed / runs, runs}));
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
