#!/usr/bin/env python3
"""Compressed cuts report (docs/PERFORMANCE.md): reads the calibrated sidecars, writes an SVG
plot of bytes per cut per codec, and prints markdown tables: ratio to fp32 and fidelity per
cut and codec, held-out bytes vs calibrated bytes, and `tandem plan` picks on CAT1/3G/LTE with
and without the packed codecs.

    python3 scripts/compressed_cuts_report.py [--tandem target/debug/tandem] \
        [--model resnet18=/tmp/bench-models/resnet18.onnx] \
        [--heldout mobilenetv2=/tmp/wt16/mnv2_heldout.json --heldout face_embedder=/tmp/wt16/face_heldout.json]

A model is NAME=PATH.onnx with its sidecar beside it (PATH.tandem.json); the default models are
models/mobilenetv2.onnx and models/face_embedder.onnx, and every --model adds one.

Standard library only (no matplotlib on this machine): the SVG is written by hand.
"""
import argparse, json, math, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> ONNX path (the sidecar is beside it); main() adds the --model ones
MODELS = {m: os.path.join(ROOT, "models", f"{m}.onnx") for m in ["mobilenetv2", "face_embedder"]}
COLORS = {"fp32": "#000000", "fp16": "#888888", "int8": "#1f77b4", "int8_channel": "#17becf",
          "int8_lz4": "#2ca02c", "int8_zstd": "#d62728", "int4_zstd": "#9467bd", "jpeg": "#ff7f0e"}
NETWORKS = [("cat1", 0.13, 150), ("3g", 1.1, 100), ("lte", 5.85, 50), ("wifi", 18.88, 10)]


def load(model):
    with open(os.path.splitext(MODELS[model])[0] + ".tandem.json") as f:
        return json.load(f)


def meets(task, k, max_drop=0.005):
    if task == "classifier":
        return k.get("top1_agreement", 0) >= 1 - max_drop - 1e-12
    return k["min_cosine"] >= 1 - max_drop / 5 - 1e-12


def fidelity(task, k):
    if task == "classifier":
        return f"{100 * k.get('top1_agreement', 0):.1f}%"
    return f"{k['min_cosine']:.5f}"


def svg(path):
    w, h, pad = 560, 300, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(MODELS)}" height="{h}" font-family="sans-serif" font-size="11">']
    for i, model in enumerate(MODELS):
        cal = load(model)["calibration"]
        cuts = cal["cuts"]
        x0 = i * w
        ys = [k["mean_bytes"] for c in cuts for k in c["codecs"]]
        lo, hi = math.log10(max(min(ys), 1)), math.log10(max(ys))
        nx = max(len(cuts) - 1, 1)
        X = lambda j: x0 + pad + j * (w - 2 * pad) / nx
        Y = lambda b: h - pad - (math.log10(max(b, 1)) - lo) / max(hi - lo, 1e-9) * (h - 2 * pad)
        parts.append(f'<text x="{x0 + w / 2}" y="16" text-anchor="middle" font-size="13">{model}: mean bytes per cut (log), filled = allowed by the default floor</text>')
        parts.append(f'<line x1="{x0 + pad}" y1="{h - pad}" x2="{x0 + w - pad}" y2="{h - pad}" stroke="black"/>')
        for j, c in enumerate(cuts):
            parts.append(f'<text x="{X(j)}" y="{h - pad + 14}" text-anchor="middle">{c["cut"]}</text>')
        for e in range(int(math.floor(lo)), int(math.ceil(hi)) + 1):
            if lo <= e <= hi:
                parts.append(f'<text x="{x0 + pad - 4}" y="{Y(10 ** e) + 4}" text-anchor="end">1e{e}</text>')
        for n, (codec, color) in enumerate(COLORS.items()):
            pts = [(j, k) for j, c in enumerate(cuts) for k in c["codecs"] if k["encoding"] == codec]
            if not pts:
                continue
            if len(pts) > 1:
                d = " ".join(f"{X(j):.1f},{Y(k['mean_bytes']):.1f}" for j, k in pts)
                parts.append(f'<polyline points="{d}" fill="none" stroke="{color}"/>')
            for j, k in pts:
                fill = color if meets(cal["task"], k) else "white"
                parts.append(f'<circle cx="{X(j):.1f}" cy="{Y(k["mean_bytes"]):.1f}" r="3" stroke="{color}" fill="{fill}"/>')
            parts.append(f'<text x="{x0 + w - pad + 2}" y="{40 + 13 * n}" fill="{color}">{codec}</text>')
        parts.append(f'<text x="{x0 + w / 2}" y="{h - 10}" text-anchor="middle">cut</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def tables():
    for model in MODELS:
        cal = load(model)["calibration"]
        task = cal["task"]
        codecs = [k["encoding"] for k in max(cal["cuts"], key=lambda c: len(c["codecs"]))["codecs"]]
        metric = "top-1 agreement" if task == "classifier" else "min cosine"
        print(f"\n{model} ({cal['input_count']} inputs; ratio to fp32 / {metric}; enc+dec ms; * = allowed by the default floor)\n")
        print("| cut | fp32 bytes | " + " | ".join(codecs) + " |")
        print("|---|---|" + "---|" * len(codecs))
        for c in cal["cuts"]:
            cells = []
            for codec in codecs:
                k = next((k for k in c["codecs"] if k["encoding"] == codec), None)
                if k is None:
                    cells.append("-")
                    continue
                star = "*" if meets(task, k) else ""
                cells.append(f"{c['fp32_bytes'] / k['mean_bytes']:.1f}x / {fidelity(task, k)}{star} / {k['encode_ms']:.1f}+{k['decode_ms']:.1f}")
            print(f"| {c['cut']} | {c['fp32_bytes']} | " + " | ".join(cells) + " |")


def heldout(pairs):
    if not pairs:
        return
    print("\nheld-out inputs: mean bytes measured vs the sidecar's calibrated mean\n")
    print("| model | cut | codec | calibrated | held-out | error |")
    print("|---|---|---|---|---|---|")
    for pair in pairs:
        model, path = pair.split("=", 1)
        cal = load(model)["calibration"]
        with open(path) as f:
            held = json.load(f)["calibration"]
        for c in held["cuts"]:
            for k in c["codecs"]:
                if k["encoding"] == "fp32":
                    continue
                ref = next((r for cc in cal["cuts"] if cc["cut"] == c["cut"] for r in cc["codecs"] if r["encoding"] == k["encoding"]), None)
                if ref:
                    err = k["mean_bytes"] / ref["mean_bytes"] - 1
                    print(f"| {model} | {c['cut']} | {k['encoding']} | {ref['mean_bytes']:.0f} | {k['mean_bytes']:.0f} ({held['input_count']} inputs) | {100 * err:+.1f}% |")


def phone_profile(tandem, model, slowdown=4.0):
    """This machine's per-cut profile x `slowdown`: the emulated slow phone of the fp32 table."""
    raw = f"/tmp/tandem_cc_{model}.devprofile.json"
    if not os.path.exists(raw):
        subprocess.run([tandem, "profile", MODELS[model], "--runs", "3", "--save", raw],
                       cwd=ROOT, check=True, capture_output=True)
    with open(raw) as f:
        p = json.load(f)
    p["before_ms"] = [t * slowdown for t in p["before_ms"]]
    out = raw.replace(".devprofile.json", f".x{slowdown:g}.devprofile.json")
    with open(out, "w") as f:
        json.dump(p, f)
    return out


def plans(tandem):
    print("\n`tandem plan --objective latency --device-profile (this machine x 4) --edge-speedup 4`\n")
    print("| model | network | encodings | cut | encoding | bytes up | predicted ms | fidelity |")
    print("|---|---|---|---|---|---|---|---|")
    for model in MODELS:
        profile = phone_profile(tandem, model)
        for net, mbps, rtt in NETWORKS:
            for label, encs in [("fp32", "fp32"), ("fp32,fp16,int8", "fp32,fp16,int8"), ("all", None)]:
                args = [tandem, "plan", MODELS[model], "--uplink-mbps", str(mbps), "--rtt-ms", str(rtt),
                        "--network", "lte" if net == "cat1" else net, "--objective", "latency", "--json",
                        "--device-profile", profile, "--edge-speedup", "4"]
                if encs:
                    args += ["--encodings", encs]
                out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"| {model} | {net} | {label} | error: {out.stderr.strip()[:80]} |")
                    continue
                p = json.loads(out.stdout)
                fid = p["plan"].get("fidelity") or ""
                print(f"| {model} | {net} | {label} | {p['cut']} | {p['encoding']} | {p['bytes_up']} | {p['latency_ms']:.1f} | {fid} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tandem", default=os.path.join(ROOT, "target/debug/tandem"))
    ap.add_argument("--heldout", action="append", default=[])
    ap.add_argument("--model", action="append", default=[], help="NAME=PATH.onnx, sidecar beside it")
    ap.add_argument("--svg", default=os.path.join(ROOT, "docs/bench/compressed_cuts_bytes.svg"))
    a = ap.parse_args()
    for pair in a.model:
        name, path = pair.split("=", 1)
        MODELS[name] = os.path.abspath(path)
    svg(a.svg)
    print(f"wrote {a.svg}", file=sys.stderr)
    tables()
    heldout(a.heldout)
    plans(a.tandem)


if __name__ == "__main__":
    main()
