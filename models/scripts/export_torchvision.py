#!/usr/bin/env python3
"""Export a torchvision classification model with SEEDED (not pretrained) weights to ONNX.

  python models/scripts/export_torchvision.py --arch mobilenet_v2 --out models/mobilenetv2.onnx
  python models/scripts/export_torchvision.py --arch resnet18 --out /tmp/resnet18.onnx
  python models/scripts/export_torchvision.py --arch alexnet  --out /tmp/alexnet.onnx
  python models/scripts/export_torchvision.py --arch vgg16    --out /tmp/vgg16.onnx   (528 MB!)

Only mobilenetv2.onnx is committed; the others are for benchmarks, regenerate them.

Recipe: torch.manual_seed(0); model = torchvision.models.<arch>(weights=None);
BatchNorm re-calibration (see below); model.eval(); legacy TorchScript exporter
(dynamo=False), opset 13, do_constant_folding=True, static shape [1,3,224,224],
input "input", output "logits". In eval mode the exporter folds every BatchNorm into
the preceding Conv; Dropout disappears.

BatchNorm re-calibration (default on, --calib-batches 0 disables it): a freshly
initialised torchvision model has BN running stats mean=0/var=1, which in eval mode
are identities; with torchvision's fan-out init MobileNetV2's activations then shrink
layer after layer and the logits come out ~1e-9, useless for numeric comparisons.
So, still fully seeded, the running stats are re-estimated (cumulative average,
model.train() under torch.no_grad(), weights untouched) on --calib-batches batches
of 8 standard-normal images (torch.Generator seeded with 0), like a trained network's
BN statistics would be. Models without BN (alexnet, vgg16) are unaffected.

Post-processing: Constant nodes become initializers, Identity nodes that only alias
an initializer are removed, every node gets a non-empty unique name (the exporter's
"/features/features.0/..." names are kept). The model is checked with
onnx.checker and compared against PyTorch with onnxruntime.

needs: torch, torchvision (CPU is enough), onnx, onnxruntime
"""
import argparse
import os

import numpy as np
import onnx
import torch
import torchvision

ARCHS = ["mobilenet_v2", "resnet18", "alexnet", "vgg16"]


def cleanup(m):
    """Constant nodes -> initializers; drop Identity nodes aliasing an initializer."""
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
        elif n.op_type == "Identity" and n.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[n.input[0]])
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    alive = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(alive)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=ARCHS, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib-batches", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions

    torch.manual_seed(args.seed)
    model = getattr(torchvision.models, args.arch)(weights=None)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if bns and args.calib_batches > 0:
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average
        model.train()
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for _ in range(args.calib_batches):
                model(torch.randn(8, 3, 224, 224, generator=g))
    model.eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1234))

    kwargs = dict(export_params=True, opset_version=13, do_constant_folding=True,
                  input_names=["input"], output_names=["logits"],
                  training=torch.onnx.TrainingMode.EVAL)
    try:
        torch.onnx.export(model, (x,), args.out, dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo flag
        torch.onnx.export(model, (x,), args.out, **kwargs)

    m = onnx.load(args.out)
    cleanup(m)
    used = set()
    for i, n in enumerate(m.graph.node):
        if not n.name or n.name in used:
            n.name = f"{n.op_type}_{i}"
        assert n.name not in used
        used.add(n.name)
    m.producer_name = f"tandem-export_torchvision ({args.arch}, torch.manual_seed({args.seed}))"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, args.out)

    import onnxruntime as ort
    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    (got,) = sess.run(["logits"], {"input": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    diff = float(np.abs(got - want).max())
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(m.graph.node)} nodes, ops={ops}")
    print(f"  input {[d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]}, "
          f"output {[d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]}, "
          f"opset {m.opset_import[0].version}, torch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"  max |onnxruntime - torch| = {diff:.2e}; logits std {want.std():.4f}")
    assert diff < 1e-3


if __name__ == "__main__":
    main()
