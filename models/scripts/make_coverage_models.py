#!/usr/bin/env python3
"""Small, seeded ONNX models covering what real exporters write (issue 15), and their
ONNX Runtime reference outputs.

Each model is built with `onnx.helper` (no torch), mimics the graph an exporter writes
(torch.onnx names such as `/block/Shape_output_0`, Shape -> Gather -> Concat -> Reshape
subgraphs), and is a few tens of kilobytes. For each model `NAME` this writes:

  models/NAME.onnx
  models/testdata/NAME_in_K.npy     seeded input K (model input order)
  models/testdata/NAME_out_K.npy    ONNX Runtime output K on those inputs

Usage: python models/scripts/make_coverage_models.py [--out models]
Needs numpy, onnx, onnxruntime (models/requirements.txt). Deterministic: a second run
gives the same bytes.
"""

import argparse
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
F = TensorProto.FLOAT
I64 = TensorProto.INT64


class Builder:
    """Collects nodes and initializers with exporter-style names."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = {}

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
        scale = scale if scale is not None else 1.0 / np.sqrt(max(fan_in, 1))
        arr = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return self.const(name, arr)

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, scope, n_out=1, out_names=None, **attrs):
        """Adds node `scope/Op[_k]` with outputs `scope/Op[_k]_output_i`."""
        k = self.count.get((scope, op_type), 0)
        self.count[(scope, op_type)] = k + 1
        base = f"{scope}/{op_type}" + (f"_{k}" if k else "")
        outs = out_names or [f"{base}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def model(self, inputs, outputs):
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tandem-make_coverage_models")
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m

    # Exporter-style shape subgraphs -------------------------------------------------
    def dim(self, x, axis, scope):
        """Shape(x)[axis] as a 1-element int64 tensor (Shape -> Gather -> Unsqueeze)."""
        shape = self.op("Shape", [x], scope)
        idx = self.const(f"{scope}/Constant_{axis}_{len(self.inits)}", np.array(axis, np.int64))
        g = self.op("Gather", [shape, idx], scope, axis=0)
        ax = self.const(f"{scope}/unsq_axes_{len(self.inits)}", np.array([0], np.int64))
        return self.op("Unsqueeze", [g, ax], scope)

    def ints(self, scope, values):
        return self.const(f"{scope}/Constant_{len(self.inits)}_output_0", np.array(values, np.int64))

    def concat(self, parts, scope):
        return self.op("Concat", parts, scope, axis=0)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


# Models ---------------------------------------------------------------------------------

def conv(b, x, cin, cout, k, scope, stride=1, group=1):
    w = b.weight(f"{scope}.weight", [cout, cin // group, k, k])
    bias = b.weight(f"{scope}.bias", [cout], 0.1)
    return b.op("Conv", [x, w, bias], scope, kernel_shape=[k, k], strides=[stride, stride],
                pads=[k // 2] * 4, group=group)


def channel_shuffle(b, x, groups, scope):
    """torchvision ShuffleNetV2's channel_shuffle, as torch.onnx exports it."""
    n = b.dim(x, 0, scope)
    c = b.dim(x, 1, scope)
    h = b.dim(x, 2, scope)
    w = b.dim(x, 3, scope)
    per = b.op("Div", [c, b.ints(scope, [groups])], scope)
    shape5 = b.concat([n, b.ints(scope, [groups]), per, h, w], scope)
    r = b.op("Reshape", [x, shape5], scope)
    t = b.op("Transpose", [r], scope, perm=[0, 2, 1, 3, 4])
    shape4 = b.concat([n, b.ints(scope, [-1]), h, w], scope)
    return b.op("Reshape", [t, shape4], scope)


def make_shufflenet_block():
    b = Builder("shufflenet_block", 1501)
    x = "input"
    y = b.op("Relu", [conv(b, x, 3, 16, 3, "/conv1", stride=2)], "/conv1")
    for i in range(2):
        s = f"/stage2/stage2.{i}"
        left, right = b.op("Split", [y, b.ints(s, [8, 8])], s, n_out=2, axis=1)
        r = b.op("Relu", [conv(b, right, 8, 8, 1, f"{s}/branch2.0")], f"{s}/branch2.0")
        r = conv(b, r, 8, 8, 3, f"{s}/branch2.3", group=8)
        r = b.op("Relu", [conv(b, r, 8, 8, 1, f"{s}/branch2.5")], f"{s}/branch2.5")
        cat = b.op("Concat", [left, r], s, axis=1)
        y = channel_shuffle(b, cat, 2, s)
    pool = b.op("GlobalAveragePool", [y], "/pool")
    flat = b.op("Flatten", [pool], "/pool", axis=1)
    logits = b.op("Gemm", [flat, b.weight("fc.weight", [10, 16]), b.weight("fc.bias", [10], 0.1)],
                  "/fc", transB=1, out_names=["logits"])
    m = b.model([vi(x, F, ["batch", 3, 16, 16])], [vi(logits, F, ["batch", 10])])
    feeds = {x: b.rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    return m, feeds


def attention_block(b, x, d, heads, scope, mask_bias=None):
    """Pre-norm transformer block with Shape-driven head reshapes (torch.onnx style)."""
    ln = b.op("LayerNormalization", [x, b.const(f"{scope}.ln1.weight", np.ones(d, np.float32)),
                                     b.weight(f"{scope}.ln1.bias", [d], 0.1)], f"{scope}/ln1",
              axis=-1, epsilon=1e-5)
    n = b.dim(ln, 0, f"{scope}/attn")
    seq = b.dim(ln, 1, f"{scope}/attn")
    hd = d // heads
    split_shape = b.concat([n, seq, b.ints(f"{scope}/attn", [heads, hd])], f"{scope}/attn")
    qkv = []
    for which in "qkv":
        p = b.op("MatMul", [ln, b.weight(f"{scope}.attn.{which}.weight", [d, d])], f"{scope}/attn/{which}")
        p = b.op("Add", [p, b.weight(f"{scope}.attn.{which}.bias", [d], 0.1)], f"{scope}/attn/{which}")
        p = b.op("Reshape", [p, split_shape], f"{scope}/attn/{which}")
        perm = [0, 2, 3, 1] if which == "k" else [0, 2, 1, 3]
        qkv.append(b.op("Transpose", [p], f"{scope}/attn/{which}", perm=perm))
    q, k, v = qkv
    s = f"{scope}/attn"
    scores = b.op("MatMul", [q, k], s)
    scores = b.op("Div", [scores, b.const(f"{s}/scale", np.array(np.sqrt(hd), np.float32))], s)
    if mask_bias is not None:
        scores = b.op("Add", [scores, mask_bias], s)
    probs = b.op("Softmax", [scores], s, axis=-1)
    ctx = b.op("MatMul", [probs, v], s)
    ctx = b.op("Transpose", [ctx], s, perm=[0, 2, 1, 3])
    merge = b.concat([n, seq, b.ints(s, [d])], s)
    ctx = b.op("Reshape", [ctx, merge], s)
    out = b.op("MatMul", [ctx, b.weight(f"{scope}.attn.out.weight", [d, d])], f"{s}/out")
    x = b.op("Add", [x, out], scope)
    ln2 = b.op("LayerNormalization", [x, b.const(f"{scope}.ln2.weight", np.ones(d, np.float32)),
                                      b.weight(f"{scope}.ln2.bias", [d], 0.1)], f"{scope}/ln2",
               axis=-1, epsilon=1e-5)
    h = b.op("MatMul", [ln2, b.weight(f"{scope}.mlp.fc1.weight", [d, 2 * d])], f"{scope}/mlp/fc1")
    # Gelu, exact, as torch exports it before opset 20: x * 0.5 * (1 + erf(x / sqrt 2)).
    g = f"{scope}/mlp/act"
    e = b.op("Erf", [b.op("Div", [h, b.const(f"{g}/sqrt2", np.array(np.sqrt(2), np.float32))], g)], g)
    e = b.op("Add", [e, b.const(f"{g}/one", np.array(1.0, np.float32))], g)
    h = b.op("Mul", [b.op("Mul", [h, e], g), b.const(f"{g}/half", np.array(0.5, np.float32))], g)
    h = b.op("MatMul", [h, b.weight(f"{scope}.mlp.fc2.weight", [2 * d, d])], f"{scope}/mlp/fc2")
    return b.op("Add", [x, h], f"{scope}/mlp")


def make_tiny_vit():
    b = Builder("tiny_vit", 1502)
    d = 16
    x = "pixel_values"
    p = conv(b, x, 3, d, 4, "/patch_embed/proj", stride=4)  # [N, d, 4, 4] (k=4, pad=2 -> 5x5)
    s = "/patch_embed"
    flat_shape = b.concat([b.dim(p, 0, s), b.dim(p, 1, s), b.ints(s, [-1])], s)
    p = b.op("Reshape", [p, flat_shape], s)
    tokens = b.op("Transpose", [p], s, perm=[0, 2, 1])  # [N, 25, d]
    tokens = b.op("Add", [tokens, b.weight("pos_embed", [1, 25, d], 0.1)], "/pos")
    for i in range(2):
        tokens = attention_block(b, tokens, d, 2, f"/blocks.{i}")
    pooled = b.op("ReduceMean", [tokens], "/head", axes=[1], keepdims=0)
    logits = b.op("Gemm", [pooled, b.weight("head.weight", [10, d]), b.weight("head.bias", [10], 0.1)],
                  "/head", transB=1, out_names=["logits"])
    m = b.model([vi(x, F, ["batch", 3, 16, 16])], [vi(logits, F, ["batch", 10])])
    feeds = {x: b.rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    return m, feeds


def make_tiny_text_encoder():
    b = Builder("tiny_text_encoder", 1503)
    d, vocab, seq_len = 16, 64, 12
    ids = "input_ids"
    s = "/embeddings"
    tok = b.op("Gather", [b.weight("embeddings.word.weight", [vocab, d], 0.5), ids], s, axis=0)
    # Positions from the sequence length: Range(0, Shape(ids)[1]).
    shape = b.op("Shape", [ids], s)
    seq = b.op("Gather", [shape, b.const(f"{s}/one", np.array(1, np.int64))], s, axis=0)
    pos = b.op("Range", [b.const(f"{s}/zero", np.array(0, np.int64)), seq,
                         b.const(f"{s}/step", np.array(1, np.int64))], s)
    pos = b.op("Gather", [b.weight("embeddings.position.weight", [32, d], 0.5), pos], s, axis=0)
    x = b.op("Add", [tok, pos], s)
    # Padding mask: token id 0 is padding -> -1e4 added to its attention scores.
    m = "/mask"
    pad = b.op("Equal", [ids, b.const(f"{m}/pad_id", np.array(0, np.int64))], m)  # bool
    bias = b.op("Where", [pad, b.const(f"{m}/neg", np.array(-1e4, np.float32)),
                          b.const(f"{m}/zero", np.array(0.0, np.float32))], m)
    bias = b.op("Unsqueeze", [bias, b.ints(m, [1, 2])], m)  # [N,1,1,S]
    x = attention_block(b, x, d, 2, "/encoder/layer.0", mask_bias=bias)
    # Mean over non-padding tokens.
    p = "/pooler"
    keep = b.op("Cast", [b.op("Not", [pad], p)], p, to=F)
    keep3 = b.op("Unsqueeze", [keep, b.ints(p, [2])], p)
    summed = b.op("ReduceSum", [b.op("Mul", [x, keep3], p), b.ints(p, [1])], p, keepdims=0)
    count = b.op("ReduceSum", [keep, b.ints(p, [1])], p, keepdims=1)
    count = b.op("Max", [count, b.const(f"{p}/min_count", np.array(1.0, np.float32))], p)
    emb = b.op("Div", [summed, count], p, out_names=["sentence_embedding"])
    logits = b.op("Gemm", [emb, b.weight("classifier.weight", [4, d]), b.weight("classifier.bias", [4], 0.1)],
                  "/classifier", transB=1, out_names=["logits"])
    model = b.model([vi(ids, I64, ["batch", "sequence"])],
                    [vi(logits, F, ["batch", 4]), vi(emb, F, ["batch", d])])
    tokens = b.rng.integers(1, vocab, (1, seq_len)).astype(np.int64)
    tokens[0, 9:] = 0  # padding
    return model, {ids: tokens}


def recurrent(kind):
    b = Builder(f"tiny_{kind.lower()}", 1504 if kind == "GRU" else 1505)
    t_steps, feat, hidden = 20, 8, 12
    gates = 3 if kind == "GRU" else 4
    x = "features"
    s = f"/{kind.lower()}"
    xt = b.op("Transpose", [x], s, perm=[1, 0, 2])  # [T, N, F]
    n = b.dim(x, 0, s)
    h_shape = b.concat([b.ints(s, [1]), n, b.ints(s, [hidden])], s)
    h0 = b.op("ConstantOfShape", [h_shape], s, value=helper.make_tensor("v", F, [1], [0.0]))
    w = b.weight(f"{s}.W", [1, gates * hidden, feat])
    r = b.weight(f"{s}.R", [1, gates * hidden, hidden])
    bias = b.weight(f"{s}.B", [1, 2 * gates * hidden], 0.1)
    empty = ""
    if kind == "GRU":
        y, y_h = b.op("GRU", [xt, w, r, bias, empty, h0], s, n_out=2, hidden_size=hidden,
                      linear_before_reset=1)
    else:
        y, y_h, _ = b.op("LSTM", [xt, w, r, bias, empty, h0, h0], s, n_out=3, hidden_size=hidden)
    # Per-step features [T, 1, N, H] -> [N, T, H], mean over time, plus the last state.
    ys = b.op("Squeeze", [y, b.ints(s, [1])], s)
    ys = b.op("Transpose", [ys], s, perm=[1, 0, 2])
    mean = b.op("ReduceMean", [ys], s, axes=[1], keepdims=0)
    last = b.op("Squeeze", [y_h, b.ints(s, [0])], s)
    feats = b.op("Concat", [mean, last], s, axis=1)
    logits = b.op("Gemm", [feats, b.weight("fc.weight", [5, 2 * hidden]), b.weight("fc.bias", [5], 0.1)],
                  "/fc", transB=1, out_names=["logits"])
    m = b.model([vi(x, F, ["batch", t_steps, feat])], [vi(logits, F, ["batch", 5])])
    return m, {x: b.rng.standard_normal((1, t_steps, feat)).astype(np.float32)}


def make_seg_head():
    """LR-ASPP-style head whose logits are resized to the input's size (Shape -> Slice -> Concat -> Resize)."""
    b = Builder("lraspp_head", 1506)
    x = "image"
    f = b.op("Relu", [conv(b, x, 3, 8, 3, "/backbone/0", stride=2)], "/backbone/0")
    f = b.op("Relu", [conv(b, f, 8, 16, 3, "/backbone/1", stride=2)], "/backbone/1")  # [N,16,8,8]
    s = "/classifier"
    cbr = b.op("Relu", [conv(b, f, 16, 8, 1, f"{s}/cbr")], f"{s}/cbr")
    scale = b.op("GlobalAveragePool", [f], f"{s}/scale")
    scale = b.op("Sigmoid", [conv(b, scale, 16, 8, 1, f"{s}/scale.1")], f"{s}/scale")
    att = b.op("Mul", [cbr, scale], s)
    low = conv(b, f, 16, 4, 1, f"{s}/low_classifier")
    high = conv(b, att, 8, 4, 1, f"{s}/high_classifier")
    out = b.op("Add", [low, high], s)
    r = "/resize"
    in_shape = b.op("Shape", [x], r)
    hw = b.op("Slice", [in_shape, b.ints(r, [2]), b.ints(r, [4])], r)
    out_shape = b.op("Shape", [out], r)
    nc = b.op("Slice", [out_shape, b.ints(r, [0]), b.ints(r, [2])], r)
    sizes = b.concat([nc, hw], r)
    masks = b.op("Resize", [out, "", "", sizes], r, mode="linear",
                 coordinate_transformation_mode="half_pixel", out_names=["masks"])
    labels = b.op("ArgMax", [masks], "/labels", axis=1, keepdims=0, out_names=["labels"])
    m = b.model([vi(x, F, ["batch", 3, 32, 32])],
                [vi(masks, F, ["batch", 4, 32, 32]), vi(labels, I64, ["batch", 32, 32])])
    return m, {x: b.rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}


def make_mixed_dtypes():
    """Every dtype a cut may carry: float32, float16, int64, int32, bool, uint8, int8."""
    b = Builder("mixed_dtypes", 1507)
    x = "x"
    s = "/mix"
    h = b.op("Cast", [x], s, to=TensorProto.FLOAT16)
    h = b.op("Mul", [h, b.const(f"{s}/w16", (b.rng.standard_normal((1, 16)) * 2).astype(np.float16))], s)
    h = b.op("Relu", [h], s)
    hf = b.op("Cast", [h], s, to=F)
    q = b.op("QuantizeLinear", [hf, b.const(f"{s}/qs", np.array(0.05, np.float32)),
                                b.const(f"{s}/qz", np.array(3, np.uint8))], s)
    dq = b.op("DequantizeLinear", [q, f"{s}/qs", f"{s}/qz"], s)
    qi = b.op("QuantizeLinear", [x, b.const(f"{s}/qs8", np.array(0.02, np.float32)),
                                 b.const(f"{s}/qz8", np.array(-2, np.int8))], s)
    dqi = b.op("DequantizeLinear", [qi, f"{s}/qs8", f"{s}/qz8"], s)
    top = b.op("ArgMax", [x], s, axis=1, keepdims=1)  # int64 [1,1]
    top32 = b.op("Cast", [top], s, to=TensorProto.INT32)
    top32 = b.op("Add", [top32, b.const(f"{s}/off", np.array([[7]], np.int32))], s)
    big = b.op("Greater", [x, b.const(f"{s}/thr", np.array(0.0, np.float32))], s)  # bool
    sel = b.op("Where", [big, dq, dqi], s)
    topf = b.op("Cast", [top32], s, to=F)
    y = b.op("Add", [sel, topf], s, out_names=["y"])
    m = b.model([vi(x, F, [1, 16])], [vi(y, F, [1, 16])])
    return m, {x: b.rng.standard_normal((1, 16)).astype(np.float32)}


def make_small_cnn():
    b = Builder("small_cnn", 1508)
    x = "input"
    y = b.op("Relu", [conv(b, x, 3, 8, 3, "/conv1")], "/conv1")
    y = b.op("MaxPool", [y], "/pool1", kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", [conv(b, y, 8, 16, 3, "/conv2")], "/conv2")
    y = b.op("GlobalAveragePool", [y], "/pool2")
    y = b.op("Flatten", [y], "/pool2", axis=1)
    logits = b.op("Gemm", [y, b.weight("fc.weight", [10, 16]), b.weight("fc.bias", [10], 0.1)],
                  "/fc", transB=1, out_names=["logits"])
    m = b.model([vi(x, F, [1, 3, 16, 16])], [vi(logits, F, [1, 10])])
    return m, b.rng


def make_qdq_cnn(tmp):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    m, rng = make_small_cnn()
    calib = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(8)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            v = next(self.it, None)
            return None if v is None else {"input": v}

    src, dst = os.path.join(tmp, "cnn.onnx"), os.path.join(tmp, "cnn_qdq.onnx")
    onnx.save(m, src)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=False)
    q = onnx.load(dst)
    name_nodes(q)
    q.ir_version = 8
    return q, {"input": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}


def make_text_encoder_dynq(tmp, float_model, feeds):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    src, dst = os.path.join(tmp, "te.onnx"), os.path.join(tmp, "te_dynq.onnx")
    onnx.save(float_model, src)
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8, op_types_to_quantize=["MatMul", "Gemm"])
    q = onnx.load(dst)
    name_nodes(q)
    q.ir_version = 8
    return q, feeds


def name_nodes(m):
    seen = set()
    for i, n in enumerate(m.graph.node):
        if not n.name or n.name in seen:
            n.name = f"{n.op_type}_{i}"
        seen.add(n.name)
    m.producer_name = "tandem-make_coverage_models"
    m.producer_version = ""


def save(out, name, model, feeds):
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feeds)
    td = os.path.join(out, "testdata")
    os.makedirs(td, exist_ok=True)
    for k, i in enumerate(sess.get_inputs()):
        np.save(os.path.join(td, f"{name}_in_{k}.npy"), feeds[i.name])
    for k, o in enumerate(outs):
        np.save(os.path.join(td, f"{name}_out_{k}.npy"), np.ascontiguousarray(o))
    print(f"{name}: {os.path.getsize(path)} bytes, {len(model.graph.node)} nodes, outputs "
          f"{[o.shape for o in outs]}")


def make_bad_fixtures(td):
    """Two models tract must refuse with a typed error: a too-new opset, an operator it lacks."""
    x = vi("x", F, [1, 3, 3])
    relu = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="/relu")], "opset99", [x],
                             [vi("y", F, [1, 3, 3])])
    m = helper.make_model(relu, opset_imports=[helper.make_opsetid("", 99)])
    m.ir_version = 8
    onnx.save(m, os.path.join(td, "opset99.onnx"))
    det = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="/relu"),
                             helper.make_node("Det", ["r"], ["d"], name="/head/Det")], "det", [x],
                            [vi("d", F, [1])])
    m = helper.make_model(det, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(td, "unsupported_det.onnx"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        save(args.out, "shufflenet_block", *make_shufflenet_block())
        save(args.out, "tiny_vit", *make_tiny_vit())
        te, te_feeds = make_tiny_text_encoder()
        save(args.out, "tiny_text_encoder", te, te_feeds)
        save(args.out, "tiny_text_encoder_dynq", *make_text_encoder_dynq(tmp, te, te_feeds))
        save(args.out, "tiny_gru", *recurrent("GRU"))
        save(args.out, "tiny_lstm", *recurrent("LSTM"))
        save(args.out, "lraspp_head", *make_seg_head())
        save(args.out, "mixed_dtypes", *make_mixed_dtypes())
        save(args.out, "qdq_cnn", *make_qdq_cnn(tmp))
    make_bad_fixtures(os.path.join(args.out, "testdata"))


if __name__ == "__main__":
    main()
