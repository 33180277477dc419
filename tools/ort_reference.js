// Runs onnxruntime (CPU) on one exported reference model: the numbers the parity tests
// compare quantbench's GraphNetwork with. Test tooling only; the product never uses it.
//
//   node tools/ort_reference.js DIR [THREADS]
//
// Reads DIR/model.onnx, DIR/input.bin (raw float32 LE) and DIR/input.json ({"shape": [...]})
// as written by tools/export_torchvision.py; writes DIR/ort_logits.bin (raw float32 LE, the
// model's first output) and DIR/ort_logits.json (shape, onnxruntime version, settings, time).
// THREADS (intra-op) defaults to 2. onnxruntime-node is resolved from $ORT_NODE_MODULES (a
// node_modules folder), else normally; tools/make_reference_models.sh installs it outside
// the repository.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.ORT_NODE_MODULES;
  return require(dir ? path.join(dir, 'onnxruntime-node') : 'onnxruntime-node');
}

function writeAtomic(file, data) {
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

async function main() {
  const [dir, threadsArg] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node tools/ort_reference.js DIR [THREADS]');
    process.exit(2);
  }
  const threads = parseInt(threadsArg || '2', 10);
  const ort = loadOrt();
  const shape = JSON.parse(fs.readFileSync(path.join(dir, 'input.json'), 'utf8')).shape;
  const bytes = fs.readFileSync(path.join(dir, 'input.bin'));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * 4) {
    throw new Error(`${dir}/input.bin has ${bytes.length} bytes, shape [${shape}] needs ${count * 4}`);
  }
  // Copy into an aligned buffer (Buffer slices may start at any offset).
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = bytes.readFloatLE(i * 4);

  const t0 = process.hrtime.bigint();
  const options = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), options);
  const t1 = process.hrtime.bigint();
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  const results = await session.run(feeds);
  const t2 = process.hrtime.bigint();
  const out = results[session.outputNames[0]];
  if (out.type !== 'float32') throw new Error(`output ${session.outputNames[0]} is ${out.type}`);
  const outBytes = Buffer.alloc(out.data.length * 4);
  for (let i = 0; i < out.data.length; ++i) outBytes.writeFloatLE(out.data[i], i * 4);
  writeAtomic(path.join(dir, 'ort_logits.bin'), outBytes);
  writeAtomic(path.join(dir, 'ort_logits.json'), JSON.stringify({
    shape: out.dims,
    output: session.outputNames[0],
    onnxruntime: ort.env.versions,
    node: process.version,
    options,
    seconds: {load: Number(t1 - t0) / 1e9, run: Number(t2 - t1) / 1e9},
  }, null, 1));
  console.error(`ort_reference: ${dir}: output [${out.dims}], load ${(Number(t1 - t0) / 1e9).toFixed(1)}s, ` +
                `run ${(Number(t2 - t1) / 1e9).toFixed(2)}s`);
}

main().catch((e) => { console.error(`ort_reference: ${e.message}`); process.exit(1); });
