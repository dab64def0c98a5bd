#!/usr/bin/env python3
"""Build models/tiny_resnet.onnx: a small ResNet/Inception-style DAG for fast tests.

input  "input"  float32 [1,3,32,32]  (NCHW, any values; tests use standard normal)
output "logits" float32 [1,10]

Topology (node names = output tensor names; listed in the graph's node order):
  stem_conv (3x3, 3->16) stem_relu                                   [1,16,32,32]
  res1: res1_conv1 res1_relu1 res1_conv2 res1_add(+stem_relu) res1_relu
  pool1 (MaxPool 2x2/2)                                              [1,16,16,16]
  inc (inception block, all branches read pool1):
    inc_a_conv (1x1 16->8) inc_a_relu
    inc_b_conv1 (1x1 16->8) inc_b_relu1 inc_b_conv2 (3x3 8->8) inc_b_relu2
    inc_c_pool (AvgPool 3x3/1 pad 1) inc_c_conv (1x1 16->8) inc_c_relu
    inc_concat (axis 1)                                              [1,24,16,16]
  res2 (down-sampling, projection shortcut):
    res2_conv1 (3x3/2, 24->32) res2_relu1 res2_conv2 (3x3, 32->32)
    res2_proj (1x1/2, 24->32) res2_add res2_relu                      [1,32,8,8]
  gap (GlobalAveragePool) flatten fc (Gemm 32->10, bias) -> logits

Because the branches of the inception block are serialised, several tensors cross a
cut there: e.g. after inc_a_relu and before inc_b_conv1 both pool1 and inc_a_relu are
live; after inc_b_relu2 three tensors (pool1, inc_a_relu, inc_b_relu2) are live. Inside
res1/res2 the block input is live next to the branch.

Weights: numpy.random.seed(0), He-normal conv/fc weights (std = sqrt(2/fan_in)),
biases N(0, 0.01). Opset 13.

usage: python models/scripts/make_tiny_resnet.py [--out models/tiny_resnet.onnx]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def build():
    np.random.seed(0)
    nodes, inits = [], []

    def he(shape, fan_in):
        return (np.random.randn(*shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def add_init(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(op, name, inputs, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(name, x, cin, cout, k, stride=1):
        w = add_init(f"{name}.weight", he((cout, cin, k, k), cin * k * k))
        b = add_init(f"{name}.bias", (np.random.randn(cout) * 0.01).astype(np.float32))
        p = k // 2
        return node("Conv", name, [x, w, b], kernel_shape=[k, k], strides=[stride, stride],
                    pads=[p, p, p, p])

    x = conv("stem_conv", "input", 3, 16, 3)
    stem = node("Relu", "stem_relu", [x])

    y = conv("res1_conv1", stem, 16, 16, 3)
    y = node("Relu", "res1_relu1", [y])
    y = conv("res1_conv2", y, 16, 16, 3)
    y = node("Add", "res1_add", [y, stem])
    y = node("Relu", "res1_relu", [y])

    p1 = node("MaxPool", "pool1", [y], kernel_shape=[2, 2], strides=[2, 2])

    a = conv("inc_a_conv", p1, 16, 8, 1)
    a = node("Relu", "inc_a_relu", [a])
    b = conv("inc_b_conv1", p1, 16, 8, 1)
    b = node("Relu", "inc_b_relu1", [b])
    b = conv("inc_b_conv2", b, 8, 8, 3)
    b = node("Relu", "inc_b_relu2", [b])
    c = node("AveragePool", "inc_c_pool", [p1], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
             count_include_pad=0)
    c = conv("inc_c_conv", c, 16, 8, 1)
    c = node("Relu", "inc_c_relu", [c])
    inc = node("Concat", "inc_concat", [a, b, c], axis=1)

    y = conv("res2_conv1", inc, 24, 32, 3, stride=2)
    y = node("Relu", "res2_relu1", [y])
    y = conv("res2_conv2", y, 32, 32, 3)
    s = conv("res2_proj", inc, 24, 32, 1, stride=2)
    y = node("Add", "res2_add", [y, s])
    y = node("Relu", "res2_relu", [y])

    y = node("GlobalAveragePool", "gap", [y])
    y = node("Flatten", "flatten", [y], axis=1)
    w = add_init("fc.weight", he((10, 32), 32))
    bias = add_init("fc.bias", (np.random.randn(10) * 0.01).astype(np.float32))
    nodes.append(helper.make_node("Gemm", [y, w, bias], ["logits"], name="fc", transB=1))

    graph = helper.make_graph(
        nodes, "tiny_resnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="tandem-make_tiny_resnet", producer_version="1")
    model.ir_version = 8
    model.doc_string = "Tiny ResNet/Inception-style test DAG, seeded random weights (numpy seed 0)."
    return onnx.shape_inference.infer_shapes(model)


def live_tensor_counts(model):
    """Number of tensors crossing each cut position (after node i) in graph order."""
    g = model.graph
    consumers = {}
    for i, n in enumerate(g.node):
        for t in n.input:
            consumers.setdefault(t, []).append(i)
    produced = {"input": -1}
    for i, n in enumerate(g.node):
        for t in n.output:
            produced[t] = i
    counts = []
    for cut in range(len(g.node) - 1):
        live = [t for t, p in produced.items()
                if p <= cut and any(c > cut for c in consumers.get(t, []))]
        counts.append((g.node[cut].name, live))
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "tiny_resnet.onnx")))
    args = ap.parse_args()
    model = build()
    onnx.checker.check_model(model, full_check=True)
    names = [n.name for n in model.graph.node]
    assert all(names) and len(set(names)) == len(names)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(names)} nodes)")
    for name, live in live_tensor_counts(model):
        if len(live) > 1:
            print(f"  cut after {name:12s}: {len(live)} live tensors {live}")

    import onnxruntime as ort
    # activation ranges with the seeded test input
    m2 = onnx.ModelProto()
    m2.CopyFrom(model)
    for n in model.graph.node[:-1]:
        m2.graph.output.append(helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m2.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outs = sess.run(None, {"input": x})
    for meta, o in zip(sess.get_outputs(), outs):
        print(f"  {meta.name:12s} {str(list(o.shape)):16s} std={o.std():.3f} max|x|={np.abs(o).max():.3f}")


if __name__ == "__main__":
    main()
