#!/usr/bin/env python3
"""Detect faces in models/photos/* with BlazeFace (models/face_detector.onnx), align and
crop them like dlib's 150x150 face chips, save them as test inputs for the face
embedder, and print the pairwise descriptor distances.

Alignment: a least-squares similarity transform (rotation + uniform scale + shift)
maps BlazeFace's keypoints right eye, left eye and mouth centre onto where dlib's
get_face_chip_details(size=150, padding=0.25) puts those points:

    chip = (padding + t) / (1 + 2*padding) * 150
    t (dlib mean face, [0,1] units): right eye (0.22733, 0.22139)
                                     left eye  (0.75281, 0.22123)
                                     mouth     (0.49011, 0.80000)
    (eye centres = midpoints of dlib's 5-point eye-corner template; mouth = mean of
    dlib's 68-point mean-shape inner-lip points)

Resampling: bilinear, pixel centres at integer coordinates. When the chip is smaller
than the face in the photo (scale < 1) the chip is rendered k times larger
(k = ceil(1/scale)) and box-averaged k x k down to 150x150 (anti-aliasing).

The chip is rounded to integer pixel values (as a camera pipeline would deliver), so
the PNG and the .npy of a crop hold exactly the same numbers.

Outputs (models/testdata/):
  <name>_crop.png   every face crop, 150x150 RGB (name = photo stem, or
                    <photo>_face<i> for photos with several faces, i = left to right)
  <name>_crop.npy   float32 [1,3,150,150], RGB 0..255 (integer-valued), NCHW, only for
                    NPY_CROPS (obama, obama2, biden, astronaut) to stay within
                    the 40 MB budget of models/; the other crops are in the PNGs only
  face_crops.json            detections (pixels), alignment matrices, descriptors
  face_detector_input.npy    letterboxed obama.jpg, float32 [1,128,128,3] in [-1,1]
  face_detector_expected.json  decoded detections (normalised, after NMS) for that input
  <name>_descriptor.npy      float32 [1,128], onnxruntime output of face_embedder.onnx
                             for <name>_crop.npy
  mobilenetv2_input.npy, tiny_resnet_input.npy  seeded standard-normal inputs
                             (numpy default_rng(0), drawn in that order)
  mobilenetv2_expected_logits.npy, tiny_resnet_expected_logits.npy  their onnxruntime
                             outputs ([1,1000] / [1,10] float32)

usage: python models/scripts/make_face_crops.py
"""
import glob
import json
import math
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import blazeface_decode as bd  # noqa: E402

MODELS = os.path.normpath(os.path.join(HERE, ".."))
PHOTOS = os.path.join(MODELS, "photos")
TESTDATA = os.path.join(MODELS, "testdata")

CHIP = 150
PADDING = 0.25
TEMPLATE = np.array([[0.22733, 0.22139],   # right eye (image left)
                     [0.75281, 0.22123],   # left eye
                     [0.49011, 0.80000]])  # mouth centre
TEMPLATE_PX = (PADDING + TEMPLATE) / (1 + 2 * PADDING) * CHIP
KEYPOINT_IDX = [0, 1, 3]  # BlazeFace: right eye, left eye, mouth centre
DLIB_THRESHOLD = 0.6
NPY_CROPS = {"obama", "obama2", "biden", "astronaut"}


def similarity(src, dst):
    """Least-squares similarity transform (Umeyama, no reflection) mapping src->dst.
    Returns 2x3 matrix M with dst ~= M[:, :2] @ src + M[:, 2]."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    r = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / (s0 ** 2).sum() * len(src)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def bilinear_sample(img, xs, ys):
    """img HxWx3 float; xs, ys arrays of source coords (pixel centres at integers).
    Out-of-image samples are black (0)."""
    h, w = img.shape[:2]
    x0 = np.floor(xs).astype(np.int64)
    y0 = np.floor(ys).astype(np.int64)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    out = np.zeros(xs.shape + (3,), np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            v = np.zeros(xs.shape + (3,))
            v[ok] = img[yi[ok], xi[ok]]
            out += v * wx * wy
    return out


def aligned_chip(img_u8, keypoints):
    """img HxWx3 uint8 + BlazeFace keypoints (pixels) -> (chip 150x150x3 float32 0..255, M)."""
    src = np.asarray(keypoints, np.float64)[KEYPOINT_IDX]
    m = similarity(src, TEMPLATE_PX)          # photo px -> chip px
    scale = math.hypot(m[0, 0], m[1, 0])       # chip px per photo px
    k = max(1, math.ceil(1.0 / scale - 1e-6))
    a = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(a)                      # chip px -> photo px
    # sub-pixel centres of the k x k supersampling grid inside each chip pixel
    sub = (np.arange(CHIP * k) + 0.5) / k - 0.5
    gx, gy = np.meshgrid(sub, sub)
    xs = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
    ys = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    big = bilinear_sample(img_u8.astype(np.float64), xs, ys)
    chip = big.reshape(CHIP, k, CHIP, k, 3).mean(axis=(1, 3))
    return chip.astype(np.float32), m


def main():
    os.makedirs(TESTDATA, exist_ok=True)
    for old in glob.glob(os.path.join(TESTDATA, "*_crop.*")) + glob.glob(os.path.join(TESTDATA, "*_descriptor.npy")):
        os.remove(old)
    det_sess = bd.make_session(os.path.join(MODELS, "face_detector.onnx"))
    emb_sess = bd.make_session(os.path.join(MODELS, "face_embedder.onnx"))

    report = {"template_px": TEMPLATE_PX.tolist(), "faces": []}
    names, descs = [], []
    for path in sorted(glob.glob(os.path.join(PHOTOS, "*.jpg"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        img = np.asarray(Image.open(path).convert("RGB"))
        dets = bd.detect(det_sess, img)
        dets.sort(key=lambda d: d["box"][0])
        print(f"{stem}: {len(dets)} face(s)")
        for i, det in enumerate(dets):
            name = stem if len(dets) == 1 else f"{stem}_face{i}"
            chip, m = aligned_chip(img, det["keypoints"])
            chip8 = np.clip(np.rint(chip), 0, 255).astype(np.uint8)
            Image.fromarray(chip8).save(os.path.join(TESTDATA, f"{name}_crop.png"))
            x = np.ascontiguousarray(chip8.transpose(2, 0, 1)[None], dtype="<f4")
            desc = emb_sess.run(["descriptor"], {"image": x})[0][0]
            if name in NPY_CROPS:
                np.save(os.path.join(TESTDATA, f"{name}_crop.npy"), x)
                np.save(os.path.join(TESTDATA, f"{name}_descriptor.npy"),
                        np.ascontiguousarray(desc[None], dtype="<f4"))
            names.append(name)
            descs.append(desc)
            report["faces"].append({"name": name, "photo": os.path.basename(path),
                                    "score": det["score"], "box": det["box"],
                                    "keypoints": det["keypoints"], "photo_to_chip": m.tolist(),
                                    "descriptor": [float(f"{v:.8g}") for v in desc.tolist()]})
    with open(os.path.join(TESTDATA, "face_crops.json"), "w") as f:
        json.dump(report, f, separators=(",", ":"))

    # detector test vector (for porting the decoder)
    img = np.asarray(Image.open(os.path.join(PHOTOS, "obama.jpg")).convert("RGB"))
    tensor, tf = bd.letterbox(img)
    np.save(os.path.join(TESTDATA, "face_detector_input.npy"), np.ascontiguousarray(tensor, dtype="<f4"))
    outs = det_sess.run(bd.OUTPUT_NAMES, {bd.INPUT_NAME: tensor})
    raw = bd.decode(outs)
    dets = bd.weighted_nms(raw)
    with open(os.path.join(TESTDATA, "face_detector_expected.json"), "w") as f:
        json.dump({"source": "photos/obama.jpg", "letterbox": tf, "score_threshold": bd.SCORE_THRESHOLD,
                   "iou_threshold": bd.IOU_THRESHOLD, "max_logit": float(max(outs[0].max(), outs[1].max())),
                   "num_candidates_before_nms": len(raw),
                   "detections": dets,
                   "detections_px": [bd.to_pixels(d, tf) for d in dets]}, f, indent=1)

    # seeded random inputs for the synthetic models
    # + their onnxruntime outputs as reference values
    rng = np.random.default_rng(0)
    for stem, shape in (("mobilenetv2", (1, 3, 224, 224)), ("tiny_resnet", (1, 3, 32, 32))):
        x = rng.standard_normal(shape).astype("<f4")
        np.save(os.path.join(TESTDATA, f"{stem}_input.npy"), x)
        sess = bd.make_session(os.path.join(MODELS, f"{stem}.onnx"))
        y = sess.run(["logits"], {"input": x})[0]
        np.save(os.path.join(TESTDATA, f"{stem}_expected_logits.npy"), np.ascontiguousarray(y, dtype="<f4"))

    # distance table
    d = np.array(descs, np.float64)
    dist = np.linalg.norm(d[:, None] - d[None], axis=-1)

    def person(n):
        if n.startswith("obama"):
            return "obama"
        if n.startswith("biden"):
            return "biden"
        if n.startswith("astronaut"):
            return "collins"
        if n == "two_faces_face0":
            return "obama"
        if n == "two_faces_face1":
            return "biden"
        return n

    print("\n| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    bad = []
    for i, a in enumerate(names):
        cells = []
        for j, b in enumerate(names):
            if i == j:
                cells.append("-")
                continue
            same = person(a) == person(b)
            ok = (dist[i, j] < DLIB_THRESHOLD) == same
            cells.append(f"{dist[i, j]:.3f}" + ("" if ok else " (!)"))
            if not ok and i < j:
                bad.append((a, b, dist[i, j], "same" if same else "different"))
        print(f"| {a} | " + " | ".join(cells) + " |")
    print(f"\nviolations of the 0.6 rule: {len(bad)}")
    for b in bad:
        print("  ", b)


if __name__ == "__main__":
    main()
