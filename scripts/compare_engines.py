#!/usr/bin/env python3
"""Per-cut time of the part after a cut on `tandem edge`, tract vs ONNX Runtime engine.

For each engine, starts `tandem edge --engine E` on one model (one compute slot, profiler
off), sends the crossing tensors of each chosen cut (computed by Tandem's part before the cut:
`tandem export --test-vectors`) over the Open Inference Protocol, and reports the median of
the server's own `tandem_compute_ms` (the part's run, without queueing or HTTP) and of the
client's round trip on loopback. Numbers for docs/PERFORMANCE.md.

Usage:
    ORT_DYLIB_PATH=.../libonnxruntime.so.1.32.0 python scripts/compare_engines.py \\
        --tandem target/release/tandem --model models/mobilenetv2.onnx --cuts 0,25,50,75 [--runs 30]
Needs: numpy (and a `tandem` built with `--features ort`).
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

TESTDATA = {
    "tiny_resnet": "tiny_resnet_input.npy",
    "mobilenetv2": "mobilenetv2_input.npy",
    "face_detector": "face_detector_input.npy",
    "face_embedder": "obama_crop.npy",
}
WIRE = {np.dtype("float32"): "FP32", np.dtype("int64"): "INT64", np.dtype("int32"): "INT32", np.dtype("float64"): "FP64"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_body(tensors, model_hash):
    header = {
        "parameters": {"tandem_model_hash": model_hash, "binary_data_output": True},
        "inputs": [
            {"name": n, "shape": list(a.shape), "datatype": WIRE[a.dtype], "parameters": {"binary_data_size": a.nbytes}}
            for n, a in tensors
        ],
    }
    head = json.dumps(header).encode()
    return head + b"".join(np.ascontiguousarray(a).tobytes() for _, a in tensors), len(head)


def measure(tandem, model, engine, vectors, model_hash, runs, threads):
    port = free_port()
    args = [tandem, "edge", "--model", model, "--listen", f"127.0.0.1:{port}", "--engine", engine,
            "--profile-budget-s", "0", "--max-concurrent", "1", "--ort-threads", str(threads)]
    server = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v2/health/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit(f"tandem edge --engine {engine} did not start")
                time.sleep(0.2)
        name = Path(model).stem
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        results = {}
        for cut, tensors in vectors:
            body, head_len = request_body(tensors, model_hash)
            headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(head_len)}
            compute, rtt = [], []
            for i in range(runs + 3):  # 3 warm-up runs (the first builds the part)
                t = time.perf_counter()
                conn.request("POST", f"/v2/models/{name}/infer", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                took = (time.perf_counter() - t) * 1e3
                if resp.status != 200:
                    raise SystemExit(f"{engine} cut {cut}: HTTP {resp.status}: {data[:300]!r}")
                n = int(resp.headers.get("Inference-Header-Content-Length", len(data)))
                params = json.loads(data[:n])["parameters"]
                if i >= 3:
                    compute.append(params["tandem_compute_ms"])
                    rtt.append(took)
            results[cut] = (statistics.median(compute), statistics.median(rtt))
        return results
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cuts", required=True, help="comma-separated cut ids")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--ort-threads", type=int, default=1)
    args = ap.parse_args()
    name = Path(args.model).stem
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.tandem, "export", args.model, "--cuts", args.cuts, "--out", f"{tmp}/repo",
               "--test-vectors", f"{tmp}/vec", "--json"]
        testdata = Path(args.model).parent / "testdata" / TESTDATA.get(name, "")
        if name in TESTDATA and testdata.is_file():
            cmd += ["--input", str(testdata)]
        entry = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        vectors = []
        for c in entry["cuts"]:
            vdir = Path(tmp) / "vec" / c["served_name"]
            index = json.loads((vdir / "vectors.json").read_text())
            vectors.append((c["cut"], [(t["name"], np.load(vdir / t["file"])) for t in index["inputs"]]))
        bytes_of = {c["cut"]: c["bytes"] for c in entry["cuts"]}
        tract = measure(args.tandem, args.model, "tract", vectors, entry["model_hash"], args.runs, args.ort_threads)
        ort = measure(args.tandem, args.model, "ort", vectors, entry["model_hash"], args.runs, args.ort_threads)
    print(f"{name}: median of {args.runs} runs, one compute slot, ONNX Runtime threads={args.ort_threads}")
    print("| cut | bytes crossing | tract after-part ms | ORT after-part ms | tract/ORT | round trip tract / ORT ms |")
    print("|---|---|---|---|---|---|")
    for cut, _ in vectors:
        (tc, tr), (oc, orr) = tract[cut], ort[cut]
        print(f"| {cut} | {bytes_of[cut]} | {tc:.2f} | {oc:.2f} | {tc / oc:.1f}x | {tr:.2f} / {orr:.2f} |")


if __name__ == "__main__":
    main()
