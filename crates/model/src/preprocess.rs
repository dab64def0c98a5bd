//! Camera frame to model input: the optional `preprocessing` object of a model's sidecar
//! (`NAME.tandem.json`) and the reference implementation of what it means. The Kotlin
//! (`dev.tandem.FrameTensors`) and Swift (`FrameTensors`) helpers implement the same steps and
//! the Kotlin ones are tested against tensors this module computes
//! (`android/jvm-test/src/test/resources/frame_tensors.txt`, written by
//! `cargo test --workspace --lib preprocess` with `TANDEM_WRITE_FIXTURES=1`).
//!
//! ```json
//! "preprocessing": { "width": 150, "height": 150, "layout": "nchw", "channel_order": "rgb",
//!                    "resize": "center_crop", "mean": [0, 0, 0], "std": [1, 1, 1] }
//! ```
//!
//! The steps, for an output of `width x height`:
//! 1. the region: the crop rectangle given by the app (a face box, say), else the whole
//!    frame; with `resize: center_crop`, its centred part of the output's aspect ratio
//!    (integer pixels, the surplus split evenly, rounding down);
//! 2. bilinear sampling with half-pixel centres: output pixel `(x, y)` samples the region at
//!    `x0 + (x + 0.5) * region_w / width - 0.5`, neighbours clamped to the region;
//! 3. colour: RGB as 0..=255 floats, never rounded; a YUV 4:2:0 frame is converted per source
//!    pixel with BT.601 full range (JFIF, what Android cameras give):
//!    `R = Y + 1.402 (V-128)`, `G = Y - 0.344136 (U-128) - 0.714136 (V-128)`,
//!    `B = Y + 1.772 (U-128)`, each clamped to 0..=255, before interpolating;
//! 4. `value = (pixel - mean[c]) / std[c]`, `mean` and `std` in 0..=255 pixel units, indexed
//!    by output channel (after `channel_order`);
//! 5. layout `nchw` (`[1, 3, height, width]`) or `nhwc` (`[1, height, width, 3]`).

use serde::{Deserialize, Serialize};

/// Element order of the output tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TensorLayout {
    /// `[1, 3, height, width]`.
    #[default]
    Nchw,
    /// `[1, height, width, 3]`.
    Nhwc,
}

/// Channel order of the output tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// How the region is fitted to the output size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ResizeMode {
    /// The region's centred part of the output's aspect ratio, resized.
    #[default]
    CenterCrop,
    /// The whole region, resized (aspect ratio not kept).
    Stretch,
}

fn zeros() -> Vec<f32> {
    vec![0.0; 3]
}

fn ones() -> Vec<f32> {
    vec![1.0; 3]
}

/// How a camera frame becomes the model's input (sidecar key `preprocessing`, optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Preprocessing {
    /// The model input it fills; `None`: the first.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub input: Option<String>,
    /// Output width, pixels.
    pub width: u32,
    /// Output height, pixels.
    pub height: u32,
    /// Output layout; default `nchw`.
    #[serde(default)]
    pub layout: TensorLayout,
    /// Output channel order; default `rgb`.
    #[serde(default)]
    pub channel_order: ChannelOrder,
    /// How the region is fitted; default `center_crop`.
    #[serde(default)]
    pub resize: ResizeMode,
    /// Per output channel, subtracted from the 0..=255 pixel value; default zeros.
    #[serde(default = "zeros")]
    pub mean: Vec<f32>,
    /// Per output channel, what the difference is divided by; default ones.
    #[serde(default = "ones")]
    pub std: Vec<f32>,
}

impl Preprocessing {
    /// Positive sizes, three finite means and three finite non-zero spreads.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err(format!("preprocessing: size {}x{} is empty", self.width, self.height));
        }
        if self.mean.len() != 3 || self.std.len() != 3 {
            return Err("preprocessing: mean and std need 3 values each".into());
        }
        if self.mean.iter().any(|m| !m.is_finite()) || self.std.iter().any(|s| !s.is_finite() || *s == 0.0) {
            return Err("preprocessing: mean must be finite, std finite and non-zero".into());
        }
        Ok(())
    }

    /// The output shape.
    pub fn shape(&self) -> Vec<usize> {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.layout {
            TensorLayout::Nchw => vec![1, 3, h, w],
            TensorLayout::Nhwc => vec![1, h, w, 3],
        }
    }
}

/// A rectangle of a frame, pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (> 0).
    pub width: u32,
    /// Height (> 0).
    pub height: u32,
}

/// The region sampled: `crop` (else the whole `frame_w x frame_h` frame) clipped to the frame,
/// then, with [`ResizeMode::CenterCrop`], its centred part of the output's aspect ratio.
/// `None` when it is empty.
pub fn sampled_region(frame_w: u32, frame_h: u32, crop: Option<Region>, p: &Preprocessing) -> Option<Region> {
    let r = crop.unwrap_or(Region { x: 0, y: 0, width: frame_w, height: frame_h });
    let x1 = (u64::from(r.x) + u64::from(r.width)).min(u64::from(frame_w));
    let y1 = (u64::from(r.y) + u64::from(r.height)).min(u64::from(frame_h));
    if u64::from(r.x) >= x1 || u64::from(r.y) >= y1 {
        return None;
    }
    let (mut x, mut y) = (u64::from(r.x), u64::from(r.y));
    let (mut w, mut h) = (x1 - x, y1 - y);
    if p.resize == ResizeMode::CenterCrop {
        let (ow, oh) = (u64::from(p.width), u64::from(p.height));
        if w * oh > h * ow {
            let nw = (h * ow / oh).max(1);
            x += (w - nw) / 2;
            w = nw;
        } else {
            let nh = (w * oh / ow).max(1);
            y += (h - nh) / 2;
            h = nh;
        }
    }
    Some(Region { x: x as u32, y: y as u32, width: w as u32, height: h as u32 })
}

/// BT.601 full-range YUV to RGB, each clamped to 0..=255.
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [f32; 3] {
    let (y, u, v) = (f32::from(y), f32::from(u) - 128.0, f32::from(v) - 128.0);
    [y + 1.402 * v, y - 0.344_136 * u - 0.714_136 * v, y + 1.772 * u].map(|c| c.clamp(0.0, 255.0))
}

/// The model input from a frame whose pixel `(x, y)` has colour `rgb_at(x, y)` (0..=255), as
/// the module documentation describes. `None` when the region is empty.
pub fn frame_to_tensor(
    frame_w: u32,
    frame_h: u32,
    crop: Option<Region>,
    p: &Preprocessing,
    rgb_at: impl Fn(u32, u32) -> [f32; 3],
) -> Option<Vec<f32>> {
    let r = sampled_region(frame_w, frame_h, crop, p)?;
    let (w, h) = (p.width as usize, p.height as usize);
    let mut out = vec![0f32; 3 * w * h];
    let axis = |o: usize, out_len: usize, start: u32, len: u32| -> (u32, u32, f32) {
        let s = f64::from(start) + (o as f64 + 0.5) * f64::from(len) / out_len as f64 - 0.5;
        let lo = f64::from(start);
        let hi = f64::from(start + len - 1);
        let s = s.clamp(lo, hi);
        let i0 = s.floor();
        let i1 = (i0 + 1.0).min(hi);
        (i0 as u32, i1 as u32, (s - i0) as f32)
    };
    for oy in 0..h {
        let (y0, y1, fy) = axis(oy, h, r.y, r.height);
        for ox in 0..w {
            let (x0, x1, fx) = axis(ox, w, r.x, r.width);
            let (a, b, c, d) = (rgb_at(x0, y0), rgb_at(x1, y0), rgb_at(x0, y1), rgb_at(x1, y1));
            for ch in 0..3 {
                let top = a[ch] + (b[ch] - a[ch]) * fx;
                let bottom = c[ch] + (d[ch] - c[ch]) * fx;
                let value = top + (bottom - top) * fy;
                let oc = match p.channel_order {
                    ChannelOrder::Rgb => ch,
                    ChannelOrder::Bgr => 2 - ch,
                };
                let index = match p.layout {
                    TensorLayout::Nchw => oc * h * w + oy * w + ox,
                    TensorLayout::Nhwc => (oy * w + ox) * 3 + oc,
                };
                out[index] = (value - p.mean[oc]) / p.std[oc];
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
