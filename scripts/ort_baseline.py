#!/usr/bin/env python3
"""ONNX Runtime baseline for docs/PERFORMANCE.md: median latency of a whole model on one thread.

Usage: python scripts/ort_baseline.py models/mobilenetv2.onnx [--threads 1] [--runs 50]
Needs: pip install onnxruntime numpy
"""
import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    for _ in range(5):
        sess.run(None, {inp.name: x})
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t) * 1e3)
    print(f"onnxruntime {ort.__version__} {args.model} threads={args.threads}: "
          f"median {statistics.median(times):.2f} ms over {args.runs} runs")


if __name__ == "__main__":
    main()
