#!/usr/bin/env python3
"""Check models/face_embedder.onnx against the ORIGINAL face-api FaceRecognitionNet.

The original runs in node (face_api_reference.js: @vladmandic/face-api@1.7.15's
dist/face-api.node-wasm.js with @tensorflow/tfjs@4.22.0 on the pure-JS "cpu" backend;
tfjs-node is not used because it downloads a prebuilt binary). The ONNX runs in
onnxruntime. Inputs: every face crop models/testdata/*_crop.png (identical to the
*_crop.npy where one exists; checked) plus one seeded random image.
Passes when the max abs difference of the 128-d descriptors is < 1e-3.

usage: python models/scripts/check_face_embedder.py [--work /tmp/npmwork]
  (fetches face-api and installs the two tfjs packages into WORK if missing)
"""
import argparse
import glob
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, ".."))
TOL = 1e-3


def ensure_node_env(work):
    pkg = os.path.join(work, "faceapi", "package")
    if not os.path.isdir(pkg):
        subprocess.check_call(["bash", os.path.join(HERE, "fetch_faceapi.sh"), work])
    if not os.path.isdir(os.path.join(work, "node_modules", "@tensorflow", "tfjs-backend-wasm")):
        if not os.path.exists(os.path.join(work, "package.json")):
            subprocess.check_call(["npm", "init", "-y"], cwd=work, stdout=subprocess.DEVNULL)
        subprocess.check_call(["npm", "install", "--no-audit", "--no-fund",
                               "@tensorflow/tfjs@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0"], cwd=work)
    return pkg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/npmwork")
    args = ap.parse_args()
    pkg = ensure_node_env(args.work)

    names, imgs = [], []
    from PIL import Image
    for p in sorted(glob.glob(os.path.join(MODELS, "testdata", "*_crop.png"))):
        names.append(os.path.basename(p)[:-len("_crop.png")])
        img = np.asarray(Image.open(p).convert("RGB"), np.float32).transpose(2, 0, 1)
        npy = p[:-4] + ".npy"
        if os.path.exists(npy):
            assert np.array_equal(np.load(npy)[0], img), npy
        imgs.append(img)
    rng = np.random.default_rng(123)
    names.append("random_uniform_0_255")
    imgs.append(rng.uniform(0, 255, (3, 150, 150)).astype(np.float32))
    nchw = np.stack(imgs).astype(np.float32)

    in_path = os.path.join(args.work, "check_in.f32")
    out_path = os.path.join(args.work, "check_out.f32")
    np.ascontiguousarray(nchw.transpose(0, 2, 3, 1), dtype="<f4").tofile(in_path)
    subprocess.check_call(["node", os.path.join(HERE, "face_api_reference.js"), pkg, in_path, out_path,
                           str(len(names))])
    ref = np.fromfile(out_path, "<f4").reshape(len(names), 128)

    sess = ort.InferenceSession(os.path.join(MODELS, "face_embedder.onnx"), providers=["CPUExecutionProvider"])
    worst = 0.0
    print(f"{'input':28s} {'max|diff|':>10s} {'|ref|':>8s}")
    for i, n in enumerate(names):
        out = sess.run(["descriptor"], {"image": nchw[i:i + 1]})[0][0]
        diff = float(np.abs(out - ref[i]).max())
        worst = max(worst, diff)
        print(f"{n:28s} {diff:10.3e} {np.linalg.norm(ref[i]):8.4f}")
    print(f"max abs diff over {len(names)} inputs: {worst:.3e} (tolerance {TOL})")
    if worst >= TOL:
        sys.exit("FAIL")
    print("OK")


if __name__ == "__main__":
    main()
