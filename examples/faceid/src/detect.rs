//! Face detection with MediaPipe BlazeFace (`models/face_detector.onnx`, front model,
//! 128x128): letterboxing, anchors, decoding and weighted non-maximum suppression.
//!
//! A port of `models/scripts/blazeface_decode.py`, which is the specification; the
//! numbers (anchors, thresholds, keypoint order) are documented in `models/README.md`.
//! Detection always runs on the phone: the model is 440 KB and takes a few milliseconds.

use std::path::Path;
use std::sync::Arc;

use tandem_sdk::{Executor, LoadOptions, Model, NamedTensor};

use crate::error::{FaceError, Result};
use crate::frame::{resize_bilinear_pil, RgbFrame};

/// Side of the detector's square input, pixels.
pub const INPUT_SIZE: u32 = 128;
/// Detections scoring below this are dropped (keijiro's default; MediaPipe uses 0.5).
pub const SCORE_THRESHOLD: f64 = 0.75;
/// Detections overlapping at least this much (IoU) are merged by the weighted NMS.
pub const IOU_THRESHOLD: f64 = 0.3;
/// The detector's input tensor.
pub const INPUT_NAME: &str = "input:0";
/// The detector's outputs: scores (16x16 grid), scores (8x8 grid), regressors, regressors.
pub const OUTPUT_NAMES: [&str; 4] = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"];
/// Number of anchors: 16·16·2 + 8·8·6.
pub const NUM_ANCHORS: usize = 896;

/// Index of each keypoint in [`Detection::keypoints`] (left and right are the subject's).
pub mod keypoint {
    /// Right eye (image left on a frontal face).
    pub const RIGHT_EYE: usize = 0;
    /// Left eye.
    pub const LEFT_EYE: usize = 1;
    /// Nose tip.
    pub const NOSE_TIP: usize = 2;
    /// Mouth centre.
    pub const MOUTH_CENTER: usize = 3;
    /// Right ear tragion.
    pub const RIGHT_EAR: usize = 4;
    /// Left ear tragion.
    pub const LEFT_EAR: usize = 5;
}

/// A face, in normalised coordinates of the detector's letterboxed input (`[0,1]`, y down)
/// before [`Letterbox::to_pixels`], in the photo's pixels after.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Confidence, 0..1 (the best score of the merged cluster).
    pub score: f64,
    /// Box as centre x, centre y, width, height.
    pub box_cxcywh: [f64; 4],
    /// The 6 keypoints (see [`keypoint`]), (x, y).
    pub keypoints: [[f64; 2]; 6],
}

impl Detection {
    /// The box as (x0, y0, x1, y1).
    pub fn box_corners(&self) -> [f64; 4] {
        let [cx, cy, w, h] = self.box_cxcywh;
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
    }
}

/// The 896 anchor centres (x, y), normalised, in the model's output order.
pub fn anchors() -> Vec<[f64; 2]> {
    let mut out = Vec::with_capacity(NUM_ANCHORS);
    for (grid, per_cell) in [(16u32, 2usize), (8, 6)] {
        for row in 0..grid {
            for col in 0..grid {
                // The reference keeps anchors as float32.
                let a = [
                    ((col as f64 + 0.5) / grid as f64) as f32 as f64,
                    ((row as f64 + 0.5) / grid as f64) as f32 as f64,
                ];
                out.extend(std::iter::repeat_n(a, per_cell));
            }
        }
    }
    out
}

/// How a photo was letterboxed into the detector's square input, to map detections back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Side of the square canvas, photo pixels.
    pub side: f64,
    /// Left padding, photo pixels.
    pub pad_x: f64,
    /// Top padding, photo pixels.
    pub pad_y: f64,
}

impl Letterbox {
    /// Maps a detection from normalised letterboxed coordinates to photo pixels.
    pub fn to_pixels(&self, det: &Detection) -> Detection {
        let s = self.side;
        let [cx, cy, w, h] = det.box_cxcywh;
        Detection {
            score: det.score,
            box_cxcywh: [cx * s - self.pad_x, cy * s - self.pad_y, w * s, h * s],
            keypoints: det.keypoints.map(|[x, y]| [x * s - self.pad_x, y * s - self.pad_y]),
        }
    }
}

/// Pads the photo to a centred black square and resizes it to 128x128 exactly as the
/// reference (Pillow's bilinear), giving the detector's input tensor `[1,128,128,3]` NHWC in
/// `[-1, 1]`.
pub fn letterbox(frame: &RgbFrame) -> (NamedTensor, Letterbox) {
    let (w, h) = (frame.width(), frame.height());
    let side = w.max(h);
    let (pad_x, pad_y) = ((side - w) / 2, (side - h) / 2);
    let small = resize_bilinear_pil(frame, side, side, pad_x as i64, pad_y as i64, INPUT_SIZE, INPUT_SIZE);
    let values: Vec<f32> = small.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let n = INPUT_SIZE as usize;
    let tensor = NamedTensor::from_f32(INPUT_NAME, vec![1, n, n, 3], &values)
        .expect("128*128*3 values match the shape [1,128,128,3]");
    (tensor, Letterbox { side: side as f64, pad_x: pad_x as f64, pad_y: pad_y as f64 })
}

/// Decodes the raw outputs (in [`OUTPUT_NAMES`] order: two score tensors, two regressor
/// tensors) into detections scoring at least `score_threshold`, in normalised coordinates,
/// before NMS.
pub fn decode(
    scores_16: &[f32],
    scores_8: &[f32],
    regs_16: &[f32],
    regs_8: &[f32],
    score_threshold: f64,
) -> Result<Vec<Detection>> {
    if scores_16.len() + scores_8.len() != NUM_ANCHORS || regs_16.len() + regs_8.len() != NUM_ANCHORS * 16 {
        return Err(FaceError::ModelOutput(format!(
            "expected {NUM_ANCHORS} scores and {} regressors, got {} and {}",
            NUM_ANCHORS * 16,
            scores_16.len() + scores_8.len(),
            regs_16.len() + regs_8.len()
        )));
    }
    let anchors = anchors();
    let scale = INPUT_SIZE as f64;
    let mut out = vec![];
    let logits = scores_16.iter().chain(scores_8);
    let regs: Vec<&[f32]> = regs_16.chunks_exact(16).chain(regs_8.chunks_exact(16)).collect();
    for (i, &logit) in logits.enumerate() {
        let score = 1.0 / (1.0 + (-(logit as f64).clamp(-100.0, 100.0)).exp());
        // NaN scores are dropped with the low ones.
        if score.is_nan() || score < score_threshold {
            continue;
        }
        let [ax, ay] = anchors[i];
        let r = |j: usize| regs[i][j] as f64 / scale;
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [ax + r(4 + 2 * k), ay + r(5 + 2 * k)];
        }
        out.push(Detection { score, box_cxcywh: [ax + r(0), ay + r(1), r(2), r(3)], keypoints });
    }
    Ok(out)
}

/// Intersection over union of two (cx, cy, w, h) boxes.
pub fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let (ax0, ay0, ax1, ay1) = (a[0] - a[2] / 2.0, a[1] - a[3] / 2.0, a[0] + a[2] / 2.0, a[1] + a[3] / 2.0);
    let (bx0, by0, bx1, by1) = (b[0] - b[2] / 2.0, b[1] - b[3] / 2.0, b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
    let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = iw * ih;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// MediaPipe's weighted non-maximum suppression: in order of score, each kept detection
/// absorbs every remaining one overlapping it by at least `iou_threshold`; its box and
/// keypoints become the score-weighted mean of that cluster and its score the cluster's best.
pub fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f64) -> Vec<Detection> {
    // Stable sort, best first, as the reference's `sorted(key=-score)`.
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = vec![];
    while let Some(top) = dets.first().cloned() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) =
            dets.into_iter().partition(|d| iou(&top.box_cxcywh, &d.box_cxcywh) >= iou_threshold);
        dets = rest;
        if cluster.is_empty() {
            // Only with a NaN box (its IoU with itself fails): `top` is still first in `dets`
            // (partition keeps the order); keep it alone rather than loop forever.
            dets.remove(0);
            out.push(top);
            continue;
        }
        let total: f64 = cluster.iter().map(|d| d.score).sum();
        let mut merged = Detection { score: top.score, box_cxcywh: [0.0; 4], keypoints: [[0.0; 2]; 6] };
        for d in &cluster {
            for (m, v) in merged.box_cxcywh.iter_mut().zip(d.box_cxcywh) {
                *m += v * d.score;
            }
            for (m, v) in merged.keypoints.iter_mut().zip(d.keypoints) {
                m[0] += v[0] * d.score;
                m[1] += v[1] * d.score;
            }
        }
        merged.box_cxcywh.iter_mut().for_each(|v| *v /= total);
        merged.keypoints.iter_mut().flatten().for_each(|v| *v /= total);
        out.push(merged);
    }
    out
}

/// BlazeFace on the phone: loads `face_detector.onnx` once and finds faces in photos.
#[derive(Clone)]
pub struct FaceDetector {
    exec: Arc<Executor>,
    score_threshold: f64,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("model", &self.exec.model().path())
            .field("score_threshold", &self.score_threshold)
            .finish()
    }
}

impl FaceDetector {
    /// Loads the detector model (`models/face_detector.onnx`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let model = Model::load(path, &LoadOptions::default())?;
        Ok(FaceDetector { exec: Arc::new(Executor::new(Arc::new(model))), score_threshold: SCORE_THRESHOLD })
    }

    /// Uses another score threshold than [`SCORE_THRESHOLD`].
    pub fn with_score_threshold(mut self, threshold: f64) -> Self {
        self.score_threshold = threshold;
        self
    }

    /// Runs the model on an input made by [`letterbox`] and returns the detections after
    /// NMS, in normalised letterboxed coordinates.
    pub fn detect_tensor(&self, input: &NamedTensor) -> Result<Vec<Detection>> {
        let outputs = self.exec.run_full(std::slice::from_ref(input))?;
        let get = |name: &str| -> Result<Vec<f32>> {
            outputs
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.to_f32())
                .ok_or_else(|| FaceError::ModelOutput(format!("no float32 output `{name}`")))
        };
        let raw = decode(
            &get(OUTPUT_NAMES[0])?,
            &get(OUTPUT_NAMES[1])?,
            &get(OUTPUT_NAMES[2])?,
            &get(OUTPUT_NAMES[3])?,
            self.score_threshold,
        )?;
        Ok(weighted_nms(raw, IOU_THRESHOLD))
    }

    /// Every face in the photo, in photo pixels, left to right.
    pub fn detect(&self, frame: &RgbFrame) -> Result<Vec<Detection>> {
        let (input, lb) = letterbox(frame);
        let mut dets: Vec<Detection> = self.detect_tensor(&input)?.iter().map(|d| lb.to_pixels(d)).collect();
        dets.sort_by(|a, b| a.box_corners()[0].total_cmp(&b.box_corners()[0]));
        log::debug!("detected faces={} size={}x{}", dets.len(), frame.width(), frame.height());
        Ok(dets)
    }

    /// The one face in the photo: [`FaceError::NoFace`] or [`FaceError::MultipleFaces`]
    /// otherwise.
    pub fn detect_one(&self, frame: &RgbFrame) -> Result<Detection> {
        let mut dets = self.detect(frame)?;
        match dets.len() {
            0 => Err(FaceError::NoFace),
            1 => Ok(dets.remove(0)),
            n => Err(FaceError::MultipleFaces(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f64, cx: f64) -> Detection {
        Detection { score, box_cxcywh: [cx, 0.5, 0.2, 0.2], keypoints: [[cx, 0.5]; 6] }
    }

    #[test]
    fn anchors_follow_the_documented_order() {
        let a = anchors();
        assert_eq!(a.len(), NUM_ANCHORS);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[512 + 6], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    #[test]
    fn nms_blends_overlapping_and_keeps_separate() {
        let out = weighted_nms(vec![det(0.8, 0.30), det(0.9, 0.32), det(0.95, 0.8)], IOU_THRESHOLD);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.95);
        assert_eq!(out[1].score, 0.9);
        let blended = (0.30 * 0.8 + 0.32 * 0.9) / (0.8 + 0.9);
        assert!((out[1].box_cxcywh[0] - blended).abs() < 1e-12);
        assert!((out[1].keypoints[3][0] - blended).abs() < 1e-12);
    }

    #[test]
    fn nms_survives_nan_boxes() {
        let mut bad = det(0.9, 0.3);
        bad.box_cxcywh = [f64::NAN; 4];
        let out = weighted_nms(vec![bad, det(0.8, 0.3)], IOU_THRESHOLD);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn decode_rejects_wrong_sizes_and_thresholds_scores() {
        assert!(matches!(decode(&[0.0; 3], &[], &[], &[], 0.5), Err(FaceError::ModelOutput(_))));
        let mut s16 = vec![-10.0f32; 512];
        s16[2] = 5.0; // anchor 2 = cell (row 0, col 1)
        s16[3] = f32::NAN;
        let mut r16 = vec![0.0f32; 512 * 16];
        r16[2 * 16] = 12.8; // +0.1 in x
        r16[2 * 16 + 2] = 25.6; // w = 0.2
        let out = decode(&s16, &[-10.0; 384], &r16, &[0.0; 384 * 16], SCORE_THRESHOLD).expect("decodes");
        assert_eq!(out.len(), 1);
        assert!((out[0].box_cxcywh[0] - (1.5 / 16.0 + 0.1)).abs() < 1e-6);
        assert!((out[0].box_cxcywh[2] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn letterbox_pads_the_short_side() {
        let frame = RgbFrame::from_raw(64, 32, vec![255; 64 * 32 * 3]).expect("valid");
        let (t, lb) = letterbox(&frame);
        assert_eq!(lb, Letterbox { side: 64.0, pad_x: 0.0, pad_y: 16.0 });
        let v = t.to_f32().expect("f32");
        assert_eq!(t.shape, vec![1, 128, 128, 3]);
        assert_eq!(v[0], -1.0); // top row: padding, black
        assert_eq!(v[64 * 128 * 3], 1.0); // middle row: white
        let back = lb.to_pixels(&Detection {
            score: 1.0,
            box_cxcywh: [0.5, 0.5, 0.5, 0.5],
            keypoints: [[0.5; 2]; 6],
        });
        assert_eq!(back.box_cxcywh, [32.0, 16.0, 32.0, 32.0]);
    }
}
