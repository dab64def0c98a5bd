//! Images as the pipeline sees them: 8-bit RGB, row-major, no padding.
//!
//! Loading goes through the `image` crate (JPEG and PNG only). EXIF orientation is not
//! applied, like the Python reference (`PIL.Image.open(...).convert("RGB")`).

use std::path::{Path, PathBuf};

use crate::error::{FaceError, Result};

/// An 8-bit RGB image, `width * height * 3` bytes, row-major, top row first.
///
/// Its `Debug` output never contains pixel data (logs must not leak faces).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbFrame {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl RgbFrame {
    /// Wraps raw RGB bytes (e.g. a converted camera frame). Fails if `data` is not exactly
    /// `width * height * 3` bytes or the image is empty.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let expected = (width as usize).checked_mul(height as usize).and_then(|n| n.checked_mul(3));
        match expected {
            Some(0) => Err(FaceError::BadFrame(format!("empty image ({width}x{height})"))),
            Some(n) if n == data.len() => Ok(RgbFrame { width, height, data }),
            _ => Err(FaceError::BadFrame(format!(
                "{width}x{height} RGB needs {} bytes, got {}",
                width as u128 * height as u128 * 3,
                data.len()
            ))),
        }
    }

    /// Reads and decodes a JPEG or PNG file. A file that is not a decodable image is
    /// [`FaceError::CorruptImage`]; a file that cannot be read is [`FaceError::Io`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| FaceError::Io { path: path.to_path_buf(), source })?;
        Self::decode(&bytes, path)
    }

    /// Decodes JPEG or PNG bytes; `label` names them in errors (a file name, a URI).
    pub fn decode(bytes: &[u8], label: impl Into<PathBuf>) -> Result<Self> {
        let label: PathBuf = label.into();
        let corrupt = |reason: String| FaceError::CorruptImage { path: label.clone(), reason };
        let format = match image::guess_format(bytes) {
            Ok(f @ (image::ImageFormat::Jpeg | image::ImageFormat::Png)) => f,
            Ok(other) => return Err(corrupt(format!("{other:?} is not supported (JPEG or PNG only)"))),
            Err(e) => return Err(corrupt(e.to_string())),
        };
        // The JPEG decoder is lenient and fills a truncated image with grey; a truncated
        // photo is a bad photo (as Pillow says), so it is refused before decoding.
        if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
            return Err(corrupt("the JPEG data is truncated (no end-of-image marker)".into()));
        }
        let decoded =
            image::load_from_memory_with_format(bytes, format).map_err(|e| corrupt(e.to_string()))?;
        let rgb = decoded.to_rgb8();
        let (width, height) = rgb.dimensions();
        RgbFrame::from_raw(width, height, rgb.into_raw()).map_err(|e| corrupt(e.to_string()))
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RGB bytes, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The pixel at (`x`, `y`), or black outside the image.
    #[inline]
    pub(crate) fn pixel_or_black(&self, x: i64, y: i64) -> [u8; 3] {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return [0; 3];
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Whether a JPEG stream reaches its end-of-image marker: walks the marker segments from
/// the start of image, skipping each segment by its length and each scan's entropy-coded
/// data up to the next marker. Data after the end of image (some phones append a video) is
/// ignored.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    let mut in_scan = false;
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            if !in_scan {
                return false; // garbage between segments
            }
            i += 1;
            continue;
        }
        let marker = bytes[i + 1];
        match marker {
            // Stuffed 0xFF in scan data, fill bytes, restart markers: no length.
            0x00 | 0xFF | 0xD0..=0xD7 => i += if marker == 0xFF { 1 } else { 2 },
            0xD9 => return true,
            0x01 | 0xD8 => i += 2,
            _ => {
                if i + 3 >= bytes.len() {
                    return false;
                }
                let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
                if len < 2 {
                    return false;
                }
                i += 2 + len;
                in_scan = marker == 0xDA;
            }
        }
    }
    false
}

/// Pillow's `Image.resize(size, Image.BILINEAR)` on an 8-bit RGB image, bit for bit: a
/// triangle filter widened by the scale factor when shrinking (anti-aliasing), fixed-point
/// coefficients with 22 fractional bits, a horizontal pass into an 8-bit buffer, then a
/// vertical pass. The source is the image placed at (`pad_x`, `pad_y`) on a black canvas of
/// `canvas_w x canvas_h`, which is how the detector letterboxes without building the canvas.
pub(crate) fn resize_bilinear_pil(
    src: &RgbFrame,
    canvas_w: u32,
    canvas_h: u32,
    pad_x: i64,
    pad_y: i64,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    let horiz = Coeffs::new(canvas_w as usize, out_w as usize);
    let vert = Coeffs::new(canvas_h as usize, out_h as usize);
    let out_w = out_w as usize;
    let out_h = out_h as usize;

    // Rows of the canvas the vertical pass reads.
    let first_row = vert.bounds[0].0;
    let last_row = vert.bounds[out_h - 1].0 + vert.bounds[out_h - 1].1;
    let rows = last_row - first_row;

    let mut temp = vec![0u8; rows * out_w * 3];
    for r in 0..rows {
        let y = (first_row + r) as i64 - pad_y;
        if y < 0 || y >= src.height as i64 {
            continue; // a canvas row of black stays black
        }
        for xx in 0..out_w {
            let (xmin, n) = horiz.bounds[xx];
            let k = &horiz.kk[xx * horiz.ksize..xx * horiz.ksize + n];
            let mut acc = [ROUND_HALF; 3];
            for (j, &w) in k.iter().enumerate() {
                let p = src.pixel_or_black((xmin + j) as i64 - pad_x, y);
                for c in 0..3 {
                    acc[c] += p[c] as i32 * w;
                }
            }
            let o = (r * out_w + xx) * 3;
            for c in 0..3 {
                temp[o + c] = clip8(acc[c]);
            }
        }
    }

    let mut out = vec![0u8; out_h * out_w * 3];
    for yy in 0..out_h {
        let (ymin, n) = vert.bounds[yy];
        let ymin = ymin - first_row;
        let k = &vert.kk[yy * vert.ksize..yy * vert.ksize + n];
        for xx in 0..out_w {
            let mut acc = [ROUND_HALF; 3];
            for (j, &w) in k.iter().enumerate() {
                let i = ((ymin + j) * out_w + xx) * 3;
                for c in 0..3 {
                    acc[c] += temp[i + c] as i32 * w;
                }
            }
            let o = (yy * out_w + xx) * 3;
            for c in 0..3 {
                out[o + c] = clip8(acc[c]);
            }
        }
    }
    out
}

/// Pillow's fixed-point precision for 8-bit images: `32 - 8 - 2` fractional bits.
const PRECISION_BITS: u32 = 22;
const ROUND_HALF: i32 = 1 << (PRECISION_BITS - 1);

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// The filter taps of one axis, as Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`.
struct Coeffs {
    ksize: usize,
    /// Per output pixel: first source pixel and the number of taps.
    bounds: Vec<(usize, usize)>,
    kk: Vec<i32>,
}

impl Coeffs {
    fn new(in_size: usize, out_size: usize) -> Coeffs {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = filterscale; // the bilinear filter's support is 1
        let ksize = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut kk = vec![0i32; out_size * ksize];
        let mut weights = vec![0f64; ksize];
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's (int) truncates toward zero; negatives are clamped to 0 right after.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin).min(ksize);
            let mut total = 0.0;
            for (x, w) in weights.iter_mut().enumerate().take(n) {
                let t = ((x + xmin) as f64 - center + 0.5) * ss;
                *w = (1.0 - t.abs()).max(0.0);
                total += *w;
            }
            for x in 0..n {
                let w = if total != 0.0 { weights[x] / total } else { weights[x] };
                let fixed = w * (1u32 << PRECISION_BITS) as f64;
                kk[xx * ksize + x] = if w < 0.0 { (-0.5 + fixed) as i32 } else { (0.5 + fixed) as i32 };
            }
            bounds.push((xmin, n));
        }
        Coeffs { ksize, bounds, kk }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_raw_checks_the_size() {
        assert!(RgbFrame::from_raw(2, 2, vec![0; 12]).is_ok());
        assert!(matches!(RgbFrame::from_raw(2, 2, vec![0; 11]), Err(FaceError::BadFrame(_))));
        assert!(matches!(RgbFrame::from_raw(0, 5, vec![]), Err(FaceError::BadFrame(_))));
        assert!(matches!(RgbFrame::from_raw(u32::MAX, u32::MAX, vec![]), Err(FaceError::BadFrame(_))));
    }

    #[test]
    fn garbage_is_a_corrupt_image_not_a_panic() {
        for bytes in [&b""[..], b"hello", b"\xFF\xD8\xFF\xE0garbage", b"\x89PNG\r\n\x1a\n\0\0"] {
            match RgbFrame::decode(bytes, "x.jpg") {
                Err(FaceError::CorruptImage { path, .. }) => assert_eq!(path, PathBuf::from("x.jpg")),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn jpeg_structure_walk_finds_truncation() {
        // SOI, APP0 (length 4), SOS (length 3) with scan data holding stuffing and RST0, EOI.
        let ok = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 3, 9, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0,
            0x56, 0xFF, 0xD9,
        ];
        assert!(jpeg_is_complete(&ok));
        for n in 0..ok.len() - 1 {
            assert!(!jpeg_is_complete(&ok[..n]), "prefix of {n} bytes");
        }
        let mut trailing = ok.to_vec();
        trailing.extend_from_slice(b"ftypmp42 and a video");
        assert!(jpeg_is_complete(&trailing));
        assert!(!jpeg_is_complete(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 0xFF, 0xD9]), "bad segment length");
    }

    #[test]
    fn debug_never_prints_pixels() {
        let f = RgbFrame::from_raw(1, 1, vec![17, 42, 99]).expect("valid");
        let s = format!("{f:?}");
        assert!(!s.contains("42") && s.contains("width"), "{s}");
    }

    /// Bit-exact against Pillow on the cases of `tests/data/make_pillow_resize.py`.
    #[test]
    fn resize_matches_pillow_bit_for_bit() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pillow_resize.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("reads")).expect("json");
        let cases = doc["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 4);
        for case in cases {
            let n = |k: &str| case[k].as_u64().expect("number") as u32;
            let (w, h) = (n("w"), n("h"));
            let mut data = Vec::with_capacity((w * h * 3) as usize);
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        data.push(((7 * x + 13 * y + 50 * c + (x * y) % 31) % 256) as u8);
                    }
                }
            }
            let frame = RgbFrame::from_raw(w, h, data).expect("valid");
            let ours = resize_bilinear_pil(
                &frame,
                n("canvas_w"),
                n("canvas_h"),
                n("pad_x") as i64,
                n("pad_y") as i64,
                n("out_w"),
                n("out_h"),
            );
            let hex = case["expected"].as_str().expect("hex");
            let theirs: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            assert_eq!(ours.len(), theirs.len());
            let wrong = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
            assert_eq!(wrong, 0, "case {case_w}x{case_h}: {wrong} bytes differ", case_w = w, case_h = h);
        }
    }

    #[test]
    fn resize_of_a_flat_image_is_flat_and_identity_keeps_pixels() {
        let f = RgbFrame::from_raw(40, 30, vec![200; 40 * 30 * 3]).expect("valid");
        let small = resize_bilinear_pil(&f, 40, 30, 0, 0, 7, 5);
        assert!(small.iter().all(|&v| v == 200), "{small:?}");
        let data: Vec<u8> = (0..(5 * 4 * 3)).map(|i| (i * 7 % 251) as u8).collect();
        let g = RgbFrame::from_raw(5, 4, data.clone()).expect("valid");
        assert_eq!(resize_bilinear_pil(&g, 5, 4, 0, 0, 5, 4), data);
    }
}
