//! Alignment: from a detected face to the 150x150 "face chip" the embedder expects.
//!
//! A port of `aligned_chip` in `models/scripts/make_face_crops.py`: a least-squares
//! similarity transform (rotation, uniform scale, shift) maps BlazeFace's right eye, left
//! eye and mouth centre onto where dlib's `get_face_chip_details(size=150, padding=0.25)`
//! puts them; the chip is resampled bilinearly (pixel centres at integer coordinates, black
//! outside the photo), with k x k supersampling and a box filter when the face is larger
//! than the chip, and rounded to integers as a camera pipeline would deliver it.

use tandem_sdk::NamedTensor;

use crate::detect::{keypoint, Detection};
use crate::frame::RgbFrame;

/// Side of the face chip, pixels.
pub const CHIP_SIZE: usize = 150;
/// dlib's padding around the mean face, as a fraction of its size.
pub const CHIP_PADDING: f64 = 0.25;
/// dlib's mean face in `[0,1]` units: right eye, left eye, mouth centre (the subject's).
pub const MEAN_FACE: [[f64; 2]; 3] = [[0.22733, 0.22139], [0.75281, 0.22123], [0.49011, 0.80]];
/// The embedder's input tensor.
pub const EMBEDDER_INPUT: &str = "image";

/// Where [`MEAN_FACE`] lands in the chip, pixels.
pub fn template_px() -> [[f64; 2]; 3] {
    MEAN_FACE.map(|p| p.map(|t| (CHIP_PADDING + t) / (1.0 + 2.0 * CHIP_PADDING) * CHIP_SIZE as f64))
}

/// A 2x3 affine matrix: `dst = m[.][0..2] · src + m[.][2]`.
pub type Affine = [[f64; 3]; 2];

/// The least-squares similarity transform (no reflection) mapping `src` onto `dst`.
/// In 2-D this closed form is Umeyama's solution: `[a -b; b a]` with `a`, `b` from the
/// centred point sets.
pub fn similarity(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Affine {
    let n = src.len().min(dst.len()) as f64;
    let mean = |p: &[[f64; 2]]| -> [f64; 2] {
        let s = p.iter().fold([0.0, 0.0], |acc, q| [acc[0] + q[0], acc[1] + q[1]]);
        [s[0] / n, s[1] / n]
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - ms[0], s[1] - ms[1]);
        let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        norm += sx * sx + sy * sy;
    }
    let (a, b) = if norm > 0.0 { (dot / norm, cross / norm) } else { (0.0, 0.0) };
    [[a, -b, md[0] - (a * ms[0] - b * ms[1])], [b, a, md[1] - (b * ms[0] + a * ms[1])]]
}

/// A 150x150 aligned face, on the phone. Its `Debug` never prints pixels.
#[derive(Clone, PartialEq)]
pub struct FaceCrop {
    /// RGB, row-major, 150·150·3 bytes.
    pixels: Vec<u8>,
    /// The photo-to-chip transform that made it.
    pub photo_to_chip: Affine,
}

impl std::fmt::Debug for FaceCrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceCrop").field("photo_to_chip", &self.photo_to_chip).finish_non_exhaustive()
    }
}

impl FaceCrop {
    /// The chip's RGB bytes, row-major (150·150·3).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The embedder's input: `image`, float32 `[1,3,150,150]` NCHW, RGB 0..255.
    pub fn to_tensor(&self) -> NamedTensor {
        let plane = CHIP_SIZE * CHIP_SIZE;
        let mut values = vec![0f32; plane * 3];
        for (i, px) in self.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                values[c * plane + i] = px[c] as f32;
            }
        }
        NamedTensor::from_f32(EMBEDDER_INPUT, vec![1, 3, CHIP_SIZE, CHIP_SIZE], &values)
            .expect("3*150*150 values match the shape [1,3,150,150]")
    }
}

/// Aligns and crops the face found by `det` (photo pixels) out of `frame`.
pub fn face_chip(frame: &RgbFrame, det: &Detection) -> FaceCrop {
    let src = [
        det.keypoints[keypoint::RIGHT_EYE],
        det.keypoints[keypoint::LEFT_EYE],
        det.keypoints[keypoint::MOUTH_CENTER],
    ];
    let m = similarity(&src, &template_px());
    let scale = m[0][0].hypot(m[1][0]);
    // Degenerate keypoints (all equal, NaN) give scale 0 or NaN: sample once per pixel.
    let k = if scale.is_finite() && scale > 0.0 {
        ((1.0 / scale - 1e-6).ceil() as usize).clamp(1, 64)
    } else {
        1
    };
    let inv = invert(&m);
    let mut pixels = vec![0u8; CHIP_SIZE * CHIP_SIZE * 3];
    let kf = k as f64;
    for cy in 0..CHIP_SIZE {
        for cx in 0..CHIP_SIZE {
            let mut acc = [0.0f64; 3];
            for sy in 0..k {
                let gy = ((cy * k + sy) as f64 + 0.5) / kf - 0.5;
                for sx in 0..k {
                    let gx = ((cx * k + sx) as f64 + 0.5) / kf - 0.5;
                    let x = inv[0][0] * gx + inv[0][1] * gy + inv[0][2];
                    let y = inv[1][0] * gx + inv[1][1] * gy + inv[1][2];
                    let v = bilinear(frame, x, y);
                    for c in 0..3 {
                        acc[c] += v[c];
                    }
                }
            }
            let o = (cy * CHIP_SIZE + cx) * 3;
            for c in 0..3 {
                // As the reference: mean, to float32, round half to even, clip.
                let mean = (acc[c] / (k * k) as f64) as f32;
                pixels[o + c] = mean.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    FaceCrop { pixels, photo_to_chip: m }
}

/// The inverse of a 2x3 affine map (zero map if it is singular).
fn invert(m: &Affine) -> Affine {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if det == 0.0 || !det.is_finite() {
        return [[0.0; 3]; 2];
    }
    let (a, b, c, d) = (m[1][1] / det, -m[0][1] / det, -m[1][0] / det, m[0][0] / det);
    [[a, b, -(a * m[0][2] + b * m[1][2])], [c, d, -(c * m[0][2] + d * m[1][2])]]
}

/// Bilinear sample at (`x`, `y`), pixel centres at integers, black outside the photo.
fn bilinear(frame: &RgbFrame, x: f64, y: f64) -> [f64; 3] {
    if !x.is_finite() || !y.is_finite() {
        return [0.0; 3];
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let mut out = [0.0; 3];
    for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
        for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
            let p = frame.pixel_or_black(x0 + dx, y0 + dy);
            for c in 0..3 {
                out[c] += p[c] as f64 * wx * wy;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, t) = (1.7f64, 0.3f64);
        let (a, b) = (s * t.cos(), s * t.sin());
        let src = [[10.0, 20.0], [50.0, 22.0], [30.0, 70.0]];
        let dst: Vec<[f64; 2]> =
            src.iter().map(|p| [a * p[0] - b * p[1] + 5.0, b * p[0] + a * p[1] - 7.0]).collect();
        let m = similarity(&src, &dst);
        let want = [[a, -b, 5.0], [b, a, -7.0]];
        for r in 0..2 {
            for c in 0..3 {
                assert!((m[r][c] - want[r][c]).abs() < 1e-9, "{m:?}");
            }
        }
        let inv = invert(&m);
        let p = [3.0, 4.0];
        let q = [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
        let back = [
            inv[0][0] * q[0] + inv[0][1] * q[1] + inv[0][2],
            inv[1][0] * q[0] + inv[1][1] * q[1] + inv[1][2],
        ];
        assert!((back[0] - 3.0).abs() < 1e-9 && (back[1] - 4.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_keypoints_give_a_black_chip_not_a_panic() {
        let frame = RgbFrame::from_raw(10, 10, vec![255; 300]).expect("valid");
        for kp in [[5.0, 5.0], [f64::NAN, 1.0]] {
            let det = Detection { score: 1.0, box_cxcywh: [5.0, 5.0, 1.0, 1.0], keypoints: [kp; 6] };
            let crop = face_chip(&frame, &det);
            assert_eq!(crop.pixels().len(), CHIP_SIZE * CHIP_SIZE * 3);
        }
    }

    #[test]
    fn tensor_is_nchw() {
        let mut pixels = vec![0u8; CHIP_SIZE * CHIP_SIZE * 3];
        pixels[0] = 1;
        pixels[1] = 2;
        pixels[5] = 3; // pixel 1, blue
        let crop = FaceCrop { pixels, photo_to_chip: [[0.0; 3]; 2] };
        let t = crop.to_tensor();
        let v = t.to_f32().expect("f32");
        assert_eq!(t.shape, vec![1, 3, 150, 150]);
        assert_eq!((v[0], v[CHIP_SIZE * CHIP_SIZE], v[2 * CHIP_SIZE * CHIP_SIZE + 1]), (1.0, 2.0, 3.0));
    }
}
