//! Images as model inputs, for `tandem calibrate`: square crops of a photo, resized and laid
//! out as an NCHW float32 tensor with a declared preprocessing.

use anyhow::{bail, Result};
use image::imageops::FilterType;
use image::RgbImage;
use tandem_model::{DType, NamedTensor, TensorSpec};

/// ImageNet's channel means and standard deviations (torchvision's).
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The whole image, then up to `crops` square windows: a 2x2 grid of half-size windows,
/// then a 3x3 grid of third-size ones, then a 4x4 grid of quarter-size ones.
pub fn views(img: &RgbImage, crops: usize) -> Vec<RgbImage> {
    let mut out = vec![img.clone()];
    let (w, h) = img.dimensions();
    'grids: for grid in 2..=4u32 {
        let side = w.min(h) * 2 / (grid + 1);
        for gy in 0..grid {
            for gx in 0..grid {
                if out.len() > crops {
                    break 'grids;
                }
                let x = (w - side) * gx / (grid - 1);
                let y = (h - side) * gy / (grid - 1);
                out.push(image::imageops::crop_imm(img, x, y, side, side).to_image());
            }
        }
    }
    out
}

/// `img` resized to the input's H x W (bilinear) as NCHW float32 with `preprocess`
/// (`imagenet`, `rgb255` or `unit`).
pub fn to_tensor(img: &RgbImage, spec: &TensorSpec, preprocess: &str) -> Result<NamedTensor> {
    let [1, 3, h, w] = spec.shape[..] else {
        bail!("image inputs need a [1, 3, H, W] input; `{}` is {:?}", spec.name, spec.shape);
    };
    if spec.dtype != DType::Fp32 {
        bail!("image inputs need a float32 input; `{}` is {}", spec.name, spec.dtype);
    }
    let norm: fn(usize, f32) -> f32 = match preprocess {
        "imagenet" => |c, v| (v / 255.0 - MEAN[c]) / STD[c],
        "rgb255" => |_, v| v,
        "unit" => |_, v| v / 255.0,
        other => bail!("unknown --preprocess `{other}`: imagenet, rgb255 or unit"),
    };
    let resized = image::imageops::resize(img, w as u32, h as u32, FilterType::Triangle);
    let plane = h * w;
    let mut values = vec![0f32; 3 * plane];
    for (i, px) in resized.pixels().enumerate() {
        for c in 0..3 {
            values[c * plane + i] = norm(c, f32::from(px.0[c]));
        }
    }
    Ok(NamedTensor::from_f32(spec.name.clone(), spec.shape.clone(), &values)?)
}
