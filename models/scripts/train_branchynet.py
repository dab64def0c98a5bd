#!/usr/bin/env python3
"""Train a small BranchyNet-style CNN with three exits on Fashion-MNIST and export it to ONNX.

  apt-get install dataset-fashion-mnist
  /opt/tandem-venv/bin/python models/scripts/train_branchynet.py \
      --out models/branchynet_fmnist.onnx --meta models/branchynet_fmnist.tandem.json

Not run in CI (about 8 minutes on one CPU core). Deterministic: seeded, one thread.

Layout (BranchyNet, Teerapittayanon et al., ICPR 2016): a trunk of three conv blocks, and an
exit (classifier head) after each block. Each exit is a separate ONNX output:

  input [1,1,28,28] float32, pixels scaled to 0..1
  block1: conv3x3(1->16) BN relu maxpool2  -> [16,14,14] -> exit1: avgpool3 -> fc(256->10)
  block2: conv3x3(16->32) BN relu maxpool2 -> [32,7,7]   -> exit2: avgpool2 -> fc(288->10)
  block3: conv3x3(32->48) BN relu maxpool2 -> [48,3,3]   -> exit3: fc(432->10) (the final exit)

28.6 K parameters (about 120 kB of ONNX: models/ has a 40 MB budget). BatchNorm is folded
into the convolutions by the exporter (eval mode).

Joint training: loss = sum of the exits' cross-entropies weighted (0.3, 0.3, 1.0), as in
BranchyNet. The forward pass computes each exit right after its block, so the ONNX node order
(and so Tandem's cut order) is block1, exit1, block2, exit2, block3, exit3.

The metadata file (`*.tandem.json`, read by Tandem's planner) records, per exit, the ONNX output
name, the test accuracy on the 10,000 test images and the multiply-accumulates needed to
compute that exit; and per tensor encoding (float16, int8 with a per-tensor affine scale) the
worst test-accuracy drop over every exit when the tensors crossing a block boundary are
encoded that way (measured at the two trunk boundaries and at the raw input).
"""
import argparse
import gzip
import hashlib
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x[:, None, :, :]), torch.from_numpy(y)


class BranchyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.exit1_fc = nn.Linear(16 * 4 * 4, 10)
        self.block2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.exit2_fc = nn.Linear(32 * 3 * 3, 10)
        self.block3 = nn.Conv2d(32, 48, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(48)
        self.exit3_fc = nn.Linear(48 * 3 * 3, 10)

    def trunk1(self, x):
        return F.max_pool2d(F.relu(self.bn1(self.block1(x))), 2)

    def head1(self, h1):
        return self.exit1_fc(torch.flatten(F.avg_pool2d(h1, 3, 3), 1))

    def trunk2(self, h1):
        return F.max_pool2d(F.relu(self.bn2(self.block2(h1))), 2)

    def head2(self, h2):
        return self.exit2_fc(torch.flatten(F.avg_pool2d(h2, 2, 2), 1))

    def head3(self, h2):
        h = F.max_pool2d(F.relu(self.bn3(self.block3(h2))), 2)
        return self.exit3_fc(torch.flatten(h, 1))

    def forward(self, x, encode=None):
        enc = encode or (lambda t: t)
        h1 = self.trunk1(enc(x))
        e1 = self.head1(h1)
        h1 = enc(h1)
        h2 = self.trunk2(h1)
        e2 = self.head2(h2)
        h2 = enc(h2)
        e3 = self.head3(h2)
        return e1, e2, e3


def macs_per_exit():
    """Multiply-accumulates to compute each exit (convs and fcs; pooling and relu not counted)."""
    conv = lambda cin, cout, h, w: cin * cout * 9 * h * w
    block1 = conv(1, 16, 28, 28)
    head1 = 16 * 4 * 4 * 10
    block2 = conv(16, 32, 14, 14)
    head2 = 32 * 3 * 3 * 10
    head3 = conv(32, 48, 7, 7) + 48 * 3 * 3 * 10
    return [block1 + head1, block1 + block2 + head2, block1 + block2 + head3]


def fp16(t):
    return t.half().float()


def int8(t):
    # per-tensor affine over a range that includes 0, as core/src/encoding.rs does
    lo, hi = t.min().clamp(max=0.0), t.max().clamp(min=0.0)
    scale = (hi - lo).clamp(min=1e-12) / 255.0
    q = torch.round((t - lo) / scale).clamp(0, 255)
    return q * scale + lo


def accuracies(model, x, y, encode=None):
    model.eval()
    correct = [0, 0, 0]
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            # encode per sample, as the wire does per request (batch 1)
            xb = x[i: i + 1000]
            if encode is None:
                outs = model(xb)
            else:
                outs = [torch.cat(o) for o in zip(*[model(xb[j: j + 1], encode) for j in range(len(xb))])]
            for k, o in enumerate(outs):
                correct[k] += (o.argmax(1) == y[i: i + 1000]).sum().item()
    return [c / len(x) for c in correct]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="models/branchynet_fmnist.onnx")
    ap.add_argument("--meta", default="models/branchynet_fmnist.tandem.json")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    xtr, ytr = load("train")
    xte, yte = load("test")
    model = BranchyNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    weights = (0.3, 0.3, 1.0)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), 128):
            idx = perm[i: i + 128]
            outs = model(xtr[idx])
            loss = sum(w * F.cross_entropy(o, ytr[idx]) for w, o in zip(weights, outs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        acc = accuracies(model, xte, yte)
        print(f"epoch {epoch + 1}: loss {total / len(xtr):.4f} test accuracy per exit {acc}", flush=True)

    acc = accuracies(model, xte, yte)
    acc16 = accuracies(model, xte, yte, fp16)
    acc8 = accuracies(model, xte, yte, int8)
    print("fp32", acc, "fp16", acc16, "int8", acc8)

    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, (dummy,), args.out, dynamo=False, opset_version=13, do_constant_folding=True,
        input_names=["image"], output_names=["exit1", "exit2", "exit3"],
    )
    m = onnx.load(args.out)
    seen = set()
    for i, n in enumerate(m.graph.node):
        if not n.name or n.name in seen:
            n.name = f"{n.op_type}_{i}"
        seen.add(n.name)
    m.producer_name = "tandem train_branchynet.py"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, args.out)

    import onnxruntime as ort
    sess = ort.InferenceSession(args.out)
    got = sess.run(None, {"image": xte[:1].numpy()})
    with torch.no_grad():
        want = [o.numpy() for o in model(xte[:1])]
    diff = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
    assert diff < 1e-4, diff
    np.save(os.path.join(os.path.dirname(args.out), "testdata", "branchynet_fmnist_input.npy"), xte[:1].numpy())

    macs = macs_per_exit()
    drop = lambda a: max(0.0, max(x - y for x, y in zip(acc, a)))
    meta = {
        "model": os.path.basename(args.out),
        "sha256": hashlib.sha256(open(args.out, "rb").read()).hexdigest(),
        "dataset": "Fashion-MNIST test set (10,000 images), Debian dataset-fashion-mnist",
        "exits": [
            {"name": f"exit{k + 1}", "output": f"exit{k + 1}", "accuracy": round(acc[k], 4), "macs": macs[k]}
            for k in range(3)
        ],
        "encodings": [
            {"encoding": "fp32", "accuracy_drop": 0.0},
            {"encoding": "fp16", "accuracy_drop": round(drop(acc16), 4)},
            {"encoding": "int8", "accuracy_drop": round(drop(acc8), 4)},
        ],
    }
    with open(args.meta, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))
    print("onnx bytes", os.path.getsize(args.out), "max |onnxruntime - torch|", diff)


if __name__ == "__main__":
    main()
