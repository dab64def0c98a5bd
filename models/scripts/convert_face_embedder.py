#!/usr/bin/env python3
"""Convert face-api's FaceRecognitionNet (dlib's 128-d face descriptor ResNet)
from its TF.js weights to an ONNX graph (opset 13, float32).

Source weights: npm package @vladmandic/face-api@1.7.15 (MIT), files
  model/face_recognition_model-weights_manifest.json
  model/face_recognition_model.bin
(fetch with models/scripts/fetch_faceapi.sh). The weights themselves are dlib's
dlib_face_recognition_resnet_model_v1 (CC0 / public domain), re-packed by face-api.

Architecture (transcribed from face-api src/faceRecognitionNet/*.ts):
  x (NHWC, RGB, 0..255, 150x150)
  x = (x - [122.782, 117.001, 104.298]) / 255
  convLayer(p) = conv2d(x, W, b) -> y*scale.weights + scale.biases [-> relu]
  conv32_down : 7x7/2 'valid', 3->32, relu         150 -> 72
  maxPool 3x3/2 'valid'                             72 -> 35
  residual     (conv32_1..3):  relu(conv2(relu(conv1(x))) + x), 3x3/1 'same'
  residualDown (conv64_down, conv128_down, conv256_down, conv256_down_out):
       out    = conv2(relu(conv1_3x3/2_valid(x)))    (conv2 3x3/1 'same', no relu)
       pooled = avgPool 2x2/2 'valid' (x), zero-padded in channels if needed
       if out is smaller than pooled in H/W: zero-pad out by 1 row (bottom) and
       1 column (right)
       relu(pooled + out)
  35 -> 17 (64ch) -> 8 (128ch) -> 4 (256ch, out 3x3 padded to 4x4)
     -> 2 (256ch, out 1x1 padded to 2x2)
  global mean over H,W -> [1,256] x fc[256,128] -> descriptor [1,128]

The ONNX graph is NCHW. The "scale" layers are folded into the preceding conv
(W' = W * s, b' = b * s + t), the normalisation is kept explicit (Sub, Div) so
callers feed raw RGB pixels.

Usage:
  python models/scripts/convert_face_embedder.py \
      --faceapi-dir /tmp/npmwork/faceapi/package --out models/face_embedder.onnx
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEAN_RGB = [122.782, 117.001, 104.298]
DIVISOR = 255.0  # face-api: normalize(batchTensor, meanRgb).div(255)

DTYPE_BYTES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2}


def load_tfjs_weights(model_dir, stem="face_recognition_model"):
    """Read a TF.js weights manifest + shards, dequantizing like tf.io.decodeWeights."""
    with open(os.path.join(model_dir, f"{stem}-weights_manifest.json")) as f:
        manifest = json.load(f)
    out = {}
    for group in manifest:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = w["shape"]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                qdt = q["dtype"]
                nbytes = n * DTYPE_BYTES[qdt]
                raw = np.frombuffer(buf, dtype=np.dtype(qdt).newbyteorder("<"), count=n, offset=off)
                if qdt == "float16":
                    vals = raw.astype(np.float32)
                else:
                    # tfjs: v * scale + min evaluated in float64 (JS numbers), stored as float32
                    vals = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                assert w["dtype"] == "float32", w
                nbytes = n * 4
                vals = np.frombuffer(buf, dtype="<f4", count=n, offset=off).copy()
            off += nbytes
            out[w["name"]] = vals.reshape(shape)
        assert off == len(buf), f"manifest/shard size mismatch: {off} != {len(buf)}"
    return out


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.names = set()

    def _uniq(self, name):
        assert name and name not in self.names, f"duplicate/empty name {name!r}"
        self.names.add(name)
        return name

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), self._uniq(name)))
        return name

    def node(self, op, name, inputs, output=None, **attrs):
        """Add a node; its output tensor is named like the node unless given."""
        self._uniq(name)
        out = output or name
        if output:
            self._uniq(output)
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out


def fold_conv(w, prefix):
    """Return (W_oihw, bias) for a face-api convLayer with its scale layer folded in."""
    filt = w[f"{prefix}/conv/filters"].astype(np.float64)  # HWIO
    bias = w[f"{prefix}/conv/bias"].astype(np.float64)
    s = w[f"{prefix}/scale/weights"].astype(np.float64)
    t = w[f"{prefix}/scale/biases"].astype(np.float64)
    W = filt.transpose(3, 2, 0, 1) * s[:, None, None, None]  # OIHW
    b = bias * s + t
    return W.astype(np.float32), b.astype(np.float32)


def build(weights):
    g = GraphBuilder()
    g.names.add("image")

    def conv(x, prefix, name, k, stride, pad):
        W, b = fold_conv(weights, prefix)
        assert W.shape[2] == k
        wn = g.init(f"{name}.weight", W)
        bn = g.init(f"{name}.bias", b)
        return g.node("Conv", name, [x, wn, bn], kernel_shape=[k, k], strides=[stride, stride],
                      pads=[pad, pad, pad, pad])

    # input normalisation
    mean = g.init("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))
    div = g.init("pixel_divisor", np.array(DIVISOR, np.float32))
    x = g.node("Sub", "input_sub_mean", ["image", mean])
    x = g.node("Div", "input_div", [x, div])

    # stem
    x = conv(x, "conv32_down", "conv32_down", 7, 2, 0)
    x = g.node("Relu", "conv32_down_relu", [x])
    x = g.node("MaxPool", "maxpool", [x], kernel_shape=[3, 3], strides=[2, 2])
    shape = {"c": 32, "hw": 35}

    def residual(x, p):
        y = conv(x, f"{p}/conv1", f"{p}_conv1", 3, 1, 1)
        y = g.node("Relu", f"{p}_relu1", [y])
        y = conv(y, f"{p}/conv2", f"{p}_conv2", 3, 1, 1)
        y = g.node("Add", f"{p}_add", [y, x])
        return g.node("Relu", f"{p}_relu", [y])

    def residual_down(x, p):
        cin, hw = shape["c"], shape["hw"]
        cout = weights[f"{p}/conv2/conv/filters"].shape[3]
        y = conv(x, f"{p}/conv1", f"{p}_conv1", 3, 2, 0)
        y = g.node("Relu", f"{p}_relu1", [y])
        y = conv(y, f"{p}/conv2", f"{p}_conv2", 3, 1, 1)
        out_hw = (hw - 3) // 2 + 1
        pool_hw = hw // 2
        if out_hw != pool_hw:
            assert pool_hw == out_hw + 1
            pads = g.init(f"{p}_pad_spatial.pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
            y = g.node("Pad", f"{p}_pad_spatial", [y, pads], mode="constant")
        pooled = g.node("AveragePool", f"{p}_avgpool", [x], kernel_shape=[2, 2], strides=[2, 2])
        if cout != cin:
            pads = g.init(f"{p}_pad_channels.pads",
                          np.array([0, 0, 0, 0, 0, cout - cin, 0, 0], np.int64))
            pooled = g.node("Pad", f"{p}_pad_channels", [pooled, pads], mode="constant")
        y = g.node("Add", f"{p}_add", [y, pooled])
        shape["c"], shape["hw"] = cout, pool_hw
        return g.node("Relu", f"{p}_relu", [y])

    for p in ["conv32_1", "conv32_2", "conv32_3"]:
        x = residual(x, p)
    x = residual_down(x, "conv64_down")
    for p in ["conv64_1", "conv64_2", "conv64_3"]:
        x = residual(x, p)
    x = residual_down(x, "conv128_down")
    for p in ["conv128_1", "conv128_2"]:
        x = residual(x, p)
    x = residual_down(x, "conv256_down")
    for p in ["conv256_1", "conv256_2"]:
        x = residual(x, p)
    x = residual_down(x, "conv256_down_out")
    assert shape == {"c": 256, "hw": 2}, shape

    x = g.node("GlobalAveragePool", "global_avg_pool", [x])
    x = g.node("Flatten", "flatten", [x], axis=1)
    fc = g.init("fc.weight", weights["fc"].astype(np.float32))  # [256,128]
    g.node("MatMul", "fc", [x, fc], output="descriptor")

    graph = helper.make_graph(
        g.nodes, "face_embedder_dlib_resnet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 150, 150])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, [1, 128])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="tandem-convert_face_embedder", producer_version="1")
    model.ir_version = 8
    model.doc_string = ("dlib face recognition ResNet (128-d descriptor), converted from "
                        "@vladmandic/face-api@1.7.15 TF.js weights. Input: raw RGB pixels 0..255, "
                        "NCHW [1,3,150,150]. Normalisation (x-mean)/255 is inside the graph.")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faceapi-dir", default="/tmp/npmwork/faceapi/package",
                    help="extracted @vladmandic/face-api npm package (contains model/)")
    ap.add_argument("--out", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "face_embedder.onnx")))
    args = ap.parse_args()

    weights = load_tfjs_weights(os.path.join(args.faceapi_dir, "model"))
    print(f"loaded {len(weights)} tensors, {sum(v.size for v in weights.values())} params")
    model = build(weights)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(model.graph.node)} nodes)")


if __name__ == "__main__":
    sys.exit(main())
