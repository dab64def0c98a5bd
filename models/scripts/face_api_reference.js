// Run the ORIGINAL face-api FaceRecognitionNet (TF.js, pure-JS "cpu" backend) on a
// raw float32 image and write the 128-d descriptor as raw little-endian float32.
//
// usage: node face_api_reference.js FACEAPI_PKG_DIR IN.f32 OUT.f32 [N]
//   FACEAPI_PKG_DIR: extracted @vladmandic/face-api@1.7.15 package
//   IN.f32: N images, each 150*150*3 float32 HWC RGB 0..255 (little-endian)
//   OUT.f32: N * 128 float32
// Needs @tensorflow/tfjs@4.22.0 + @tensorflow/tfjs-backend-wasm@4.22.0 resolvable
// from FACEAPI_PKG_DIR (they are pure JS/wasm; tfjs-node is NOT used).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [pkgDir, inPath, outPath, nArg] = process.argv.slice(2);
  const faceapi = require(path.join(pkgDir, 'dist', 'face-api.node-wasm.js'));
  const tf = faceapi.tf;
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(pkgDir, 'model');
  const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
  const specs = [];
  const bufs = [];
  for (const group of manifest) {
    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(modelDir, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(bufs);
  const ab = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const weightMap = tf.io.decodeWeights(ab, specs);
  faceapi.nets.faceRecognitionNet.loadFromWeightMap(weightMap);

  const raw = fs.readFileSync(inPath);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const n = nArg ? parseInt(nArg, 10) : data.length / (150 * 150 * 3);
  const out = new Float32Array(n * 128);
  for (let i = 0; i < n; i++) {
    const img = tf.tensor3d(data.subarray(i * 67500, (i + 1) * 67500), [150, 150, 3], 'float32');
    const desc = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(img);
    out.set(desc, i * 128);
    img.dispose();
  }
  fs.writeFileSync(outPath, Buffer.from(out.buffer));
  console.log(`face-api ${faceapi.version} tfjs ${tf.version_core} backend=${tf.getBackend()} images=${n}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
