#!/usr/bin/env python3
"""Sanity-check every committed model under models/: onnx.checker (full), unique
non-empty node names, runs in onnxruntime on the committed test input, I/O names and
shapes, opset, size and SHA-256. Also checks that models/ stays under 40 MB.

usage: python models/scripts/check_all.py
"""
import glob
import hashlib
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, ".."))
TD = os.path.join(MODELS, "testdata")

INPUTS = {
    "face_embedder.onnx": {"image": "obama_crop.npy"},
    "face_detector.onnx": {"input:0": "face_detector_input.npy"},
    "mobilenetv2.onnx": {"input": "mobilenetv2_input.npy"},
    "tiny_resnet.onnx": {"input": "tiny_resnet_input.npy"},
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dims(vi):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def main():
    ok = True
    for name, feeds in INPUTS.items():
        path = os.path.join(MODELS, name)
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        names = [n.name for n in m.graph.node]
        uniq = all(names) and len(set(names)) == len(names)
        ok &= uniq
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        arrays = {k: np.load(os.path.join(TD, v)) for k, v in feeds.items()}
        outs = sess.run(None, arrays)
        print(f"{name}: {os.path.getsize(path)} bytes sha256={sha256(path)}")
        print(f"  opset {m.opset_import[0].version}, ir {m.ir_version}, {len(names)} nodes, "
              f"names unique+non-empty: {uniq}")
        for vi in m.graph.input:
            print(f"  in  {vi.name} {dims(vi)}")
        for vi, o in zip(m.graph.output, outs):
            print(f"  out {vi.name} {dims(vi)} -> ran: shape {list(o.shape)}, "
                  f"mean {o.mean():.4g}, std {o.std():.4g}, finite {bool(np.isfinite(o).all())}")
            ok &= bool(np.isfinite(o).all())
    for p in sorted(glob.glob(os.path.join(TD, "*.npy"))):
        a = np.load(p)
        assert a.dtype == np.dtype("<f4") and a.flags.c_contiguous, p
    total = 0
    for root, dirs, files in os.walk(MODELS):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"models/ total: {total} bytes ({total / 2**20:.1f} MiB)")
    ok &= total < 40 * 2**20
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
