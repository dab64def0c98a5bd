//! Packed codecs for the tensors crossing a cut: per-channel quantization (8 or 4 bits) with
//! a clipping range, optionally followed by a lossless entropy stage (zstd or LZ4).
//!
//! A packed tensor travels as one `UINT8` byte string (the payload) whose header carries
//! everything needed to decode it; the codec's name travels as the `tandem_encoding` tensor
//! parameter (see `docs/PROTOCOL.md`). Payload, all integers little-endian:
//!
//! ```text
//! u8 version (2) | u8 bits (8 or 4) | u8 entropy (0 none, 1 zstd, 2 lz4, 3 jpeg) | u8 rank r (1..=8)
//! r x u32 dims | u32 channels C (dims[1] when r >= 3 and dims[2..] hold more than one value, else 1)
//! C x f32 scale | C x u8 zero point | u32 raw body length | u32 CRC-32 | body
//! ```
//!
//! The CRC-32 (IEEE, as zlib's) covers the whole payload but itself: the header, then the body
//! as sent (after the entropy stage). A payload garbled anywhere between the two SDKs is
//! refused, not decoded into other values. Version 1 payloads (no CRC field) are still
//! accepted, from SDKs released before the check.
//!
//! The raw body is one quantized value per element (8 bits), or two per byte, low nibble
//! first (4 bits). Channel `c` of element `i` is `(i / inner) % C`, `inner` the product of the
//! dims after the channel axis. Values are `q = clamp(round(x / scale) + zp, 0, 2^bits - 1)`,
//! decoded as `(q - zp) * scale`.
//!
//! Clipping: each channel's range is `[lo, hi]` widened to include 0, with `lo` and `hi` the
//! `1 - clip` and `clip` quantiles of the channel's values (`clip = 1`: min and max). Values
//! beyond saturate. So for a value inside the range, `|x - y| <= scale / 2`.
//!
//! Decoding never trusts the payload: a wrong version, length, channel count, scale, zero
//! point, or a body that does not decompress to exactly the raw length is a typed error.

use crate::error::{Error, Result};

/// The payload format version written: 2 carries a CRC-32 of the header and body.
const VERSION: u8 = 2;
/// The first version, without the CRC-32, still accepted when read.
const VERSION_NO_CRC: u8 = 1;
/// Most dimensions a packed tensor may have.
const MAX_RANK: usize = 8;

/// The lossless stage after quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entropy {
    /// None: the raw quantized body.
    None,
    /// zstd (level [`ZSTD_LEVEL`]).
    Zstd,
    /// LZ4 block format (lz4_flex).
    Lz4,
    /// JPEG (baseline, quality [`JPEG_QUALITY`]) of the 8-bit values laid out as an RGB
    /// image: for `[1, 3, H, W]` tensors only (an image model's input at cut 0). Lossy: the
    /// values are those of the JPEG decoder.
    Jpeg,
}

/// The JPEG quality of [`Entropy::Jpeg`].
pub const JPEG_QUALITY: u8 = 90;

/// The zstd level: 3, zstd's default (see docs/PERFORMANCE.md for ratio and speed).
pub const ZSTD_LEVEL: i32 = 3;

impl Entropy {
    fn tag(self) -> u8 {
        match self {
            Entropy::None => 0,
            Entropy::Zstd => 1,
            Entropy::Lz4 => 2,
            Entropy::Jpeg => 3,
        }
    }
}

/// A packed codec: bits per value, clipping quantile and entropy stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packing {
    /// 8 or 4.
    pub bits: u8,
    /// The clipping quantile, in (0.5, 1]; 1 keeps every value in range.
    pub clip: f64,
    /// The lossless stage.
    pub entropy: Entropy,
}

fn bad(tensor: &str, reason: impl Into<String>) -> Error {
    Error::BadTensor { tensor: tensor.into(), reason: reason.into() }
}

/// `(channels, inner)`: the channel axis is axis 1 when there are dims after it whose
/// product is above 1 (NCHW maps, token sequences); else (vectors like `[1, 1280]`, where a
/// scale per value would cost more than the values) there is one channel.
fn channel_layout(shape: &[usize]) -> (usize, usize) {
    if shape.len() >= 3 && shape[2..].iter().product::<usize>() > 1 {
        (shape[1], shape[2..].iter().product())
    } else {
        (1, shape.iter().product())
    }
}

/// The `q`-quantile of `v` (nearest rank), reordering `v`.
fn quantile(v: &mut [f32], q: f64) -> f32 {
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(k.min(v.len() - 1), f32::total_cmp).1
}

/// Per-channel `(scale, zero point)` for `bits`, with the clipping quantile `clip`.
fn channel_params(values: &[f32], shape: &[usize], bits: u8, clip: f64) -> Vec<(f32, u8)> {
    let (channels, inner) = channel_layout(shape);
    let levels = f64::from((1u32 << bits) - 1);
    let mut buf = Vec::new();
    (0..channels)
        .map(|c| {
            buf.clear();
            if inner > 0 {
                for block in values.chunks_exact(inner * channels) {
                    buf.extend_from_slice(&block[c * inner..(c + 1) * inner]);
                }
            }
            let (lo, hi) = if buf.is_empty() {
                (0.0, 0.0)
            } else if clip >= 1.0 {
                buf.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)))
            } else {
                let hi = quantile(&mut buf, clip);
                (quantile(&mut buf, 1.0 - clip), hi)
            };
            let (lo, hi) = (f64::from(lo.min(0.0)), f64::from(hi.max(0.0)));
            let scale = ((hi - lo) / levels) as f32;
            let scale = if scale.is_normal() { scale } else { 1.0 };
            let zp = (-lo / f64::from(scale)).round().clamp(0.0, levels) as u8;
            (scale, zp)
        })
        .collect()
}

/// Encodes float32 `values` of `shape` into a payload. Non-finite values are refused.
pub fn pack(tensor: &str, values: &[f32], shape: &[usize], p: Packing) -> Result<Vec<u8>> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(bad(tensor, "a value is NaN or infinite, which a quantized codec cannot represent"));
    }
    if shape.is_empty() || shape.len() > MAX_RANK || shape.iter().any(|d| u32::try_from(*d).is_err()) {
        return Err(bad(
            tensor,
            format!("a packed codec takes 1 to {MAX_RANK} dims below 2^32, got {shape:?}"),
        ));
    }
    let params = channel_params(values, shape, p.bits, p.clip);
    let (channels, inner) = channel_layout(shape);
    let max_q = (1i32 << p.bits) - 1;
    let quant = |i: usize, v: f32| {
        let (scale, zp) = params[(i / inner.max(1)) % channels.max(1)];
        let q = (f64::from(v) / f64::from(scale)).round() + f64::from(zp);
        q.clamp(0.0, f64::from(max_q)) as u8
    };
    let body: Vec<u8> = if p.bits == 8 {
        values.iter().enumerate().map(|(i, &v)| quant(i, v)).collect()
    } else {
        values
            .chunks(2)
            .enumerate()
            .map(|(j, pair)| {
                let lo = quant(2 * j, pair[0]);
                let hi = pair.get(1).map_or(0, |&v| quant(2 * j + 1, v));
                lo | (hi << 4)
            })
            .collect()
    };
    let mut out = vec![VERSION, p.bits, p.entropy.tag(), shape.len() as u8];
    for d in shape {
        out.extend_from_slice(&(*d as u32).to_le_bytes());
    }
    out.extend_from_slice(&(params.len() as u32).to_le_bytes());
    params.iter().for_each(|(s, _)| out.extend_from_slice(&s.to_le_bytes()));
    params.iter().for_each(|(_, z)| out.push(*z));
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    let sent = match p.entropy {
        Entropy::None => body,
        Entropy::Zstd => {
            zstd::bulk::compress(&body, ZSTD_LEVEL).map_err(|e| bad(tensor, format!("zstd: {e}")))?
        }
        Entropy::Lz4 => lz4_flex::block::compress(&body),
        Entropy::Jpeg => jpeg_encode(tensor, &body, shape)?,
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out);
    crc.update(&sent);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&sent);
    Ok(out)
}

/// `[1, 3, H, W]` as (W, H); anything else is not an image.
fn image_dims(tensor: &str, shape: &[usize]) -> Result<(u32, u32)> {
    match shape {
        [1, 3, h, w] if (1..=65535).contains(h) && (1..=65535).contains(w) => Ok((*w as u32, *h as u32)),
        _ => Err(bad(tensor, format!("the jpeg codec takes [1, 3, H, W] tensors (an image), got {shape:?}"))),
    }
}

/// JPEG-encodes planar (CHW) 8-bit values as an interleaved RGB image.
fn jpeg_encode(tensor: &str, planar: &[u8], shape: &[usize]) -> Result<Vec<u8>> {
    let (w, h) = image_dims(tensor, shape)?;
    let plane = (w * h) as usize;
    let rgb: Vec<u8> =
        (0..plane).flat_map(|i| [planar[i], planar[plane + i], planar[2 * plane + i]]).collect();
    let mut out = vec![];
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| bad(tensor, format!("jpeg: {e}")))?;
    Ok(out)
}

/// Decodes a JPEG of exactly `shape`'s width and height, RGB, back to planar 8-bit values.
fn jpeg_decode(tensor: &str, jpeg: &[u8], shape: &[usize]) -> Result<Vec<u8>> {
    use image::ImageDecoder;
    let (w, h) = image_dims(tensor, shape)?;
    // the decoder fills a truncated image in silently: a whole JPEG starts with SOI and ends
    // with EOI (0xFF 0xD9 cannot occur inside entropy-coded data, where 0xFF is stuffed)
    if !(jpeg.starts_with(&[0xff, 0xd8]) && jpeg.ends_with(&[0xff, 0xd9])) {
        return Err(bad(tensor, "the jpeg body is truncated (no start or end of image marker)"));
    }
    let decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg))
        .map_err(|e| bad(tensor, format!("the jpeg body does not decode: {e}")))?;
    if decoder.dimensions() != (w, h) || decoder.color_type() != image::ColorType::Rgb8 {
        return Err(bad(tensor, format!("the jpeg body is not a {w}x{h} RGB image")));
    }
    let mut rgb = vec![0u8; decoder.total_bytes() as usize];
    decoder.read_image(&mut rgb).map_err(|e| bad(tensor, format!("the jpeg body does not decode: {e}")))?;
    let plane = (w * h) as usize;
    let mut planar = vec![0u8; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * plane + i] = px[c];
        }
    }
    Ok(planar)
}

/// Reads the payload front to back, every read checked.
struct Reader<'a> {
    tensor: &'a str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(bad(self.tensor, "the packed payload is truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes a payload made by [`pack`] with `p.bits` and `p.entropy` (the clip does not
/// matter), checking that its shape is `expected`. Returns the float32 values.
pub fn unpack(tensor: &str, payload: &[u8], expected: &[usize], p: Packing) -> Result<Vec<f32>> {
    let mut r = Reader { tensor, rest: payload };
    let (version, bits, entropy, rank) = (r.u8()?, r.u8()?, r.u8()?, r.u8()? as usize);
    if version != VERSION && version != VERSION_NO_CRC {
        return Err(bad(
            tensor,
            format!("packed payload version {version}, expected {VERSION_NO_CRC} or {VERSION}"),
        ));
    }
    if bits != p.bits || entropy != p.entropy.tag() {
        return Err(bad(
            tensor,
            format!("packed payload has {bits} bits and entropy stage {entropy}, not the codec's"),
        ));
    }
    if rank != expected.len() {
        return Err(bad(tensor, format!("packed payload has rank {rank}, expected {}", expected.len())));
    }
    for &d in expected {
        let got = r.u32()?;
        if usize::try_from(got).ok() != Some(d) {
            return Err(bad(
                tensor,
                format!("packed payload has shape dim {got}, expected shape {expected:?}"),
            ));
        }
    }
    let (channels, inner) = channel_layout(expected);
    if r.u32()? as usize != channels {
        return Err(bad(tensor, format!("packed payload's channel count is not {channels}")));
    }
    let scales: Vec<f32> = r
        .take(channels.checked_mul(4).ok_or_else(|| bad(tensor, "too many channels"))?)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(bad(tensor, format!("packed scale must be finite and positive, got {s}")));
    }
    let max_q = (1u32 << bits) - 1;
    let zps = r.take(channels)?.to_vec();
    if zps.iter().any(|z| u32::from(*z) > max_q) {
        return Err(bad(tensor, format!("packed zero point above {max_q}")));
    }
    let n: usize = expected.iter().product();
    let raw_len = if bits == 8 { n } else { n.div_ceil(2) };
    if r.u32()? as usize != raw_len {
        return Err(bad(tensor, format!("packed body length is not {raw_len}")));
    }
    if version == VERSION {
        let header = &payload[..payload.len() - r.rest.len()];
        let crc = r.u32()?;
        let mut want = crc32fast::Hasher::new();
        want.update(header);
        want.update(r.rest);
        if want.finalize() != crc {
            return Err(bad(tensor, "the packed body fails its CRC-32 check (corrupted in transit)"));
        }
    }
    let body = match p.entropy {
        Entropy::None if r.rest.len() == raw_len => r.rest.to_vec(),
        Entropy::None => return Err(bad(tensor, "the packed body has the wrong length")),
        Entropy::Zstd => zstd::bulk::decompress(r.rest, raw_len)
            .map_err(|e| bad(tensor, format!("the zstd body does not decompress: {e}")))?,
        Entropy::Lz4 => lz4_flex::block::decompress(r.rest, raw_len)
            .map_err(|e| bad(tensor, format!("the lz4 body does not decompress: {e}")))?,
        Entropy::Jpeg => jpeg_decode(tensor, r.rest, expected)?,
    };
    if body.len() != raw_len {
        return Err(bad(
            tensor,
            format!("the packed body decompresses to {} bytes, not {raw_len}", body.len()),
        ));
    }
    let value = |i: usize, q: u8| {
        let c = (i / inner.max(1)) % channels.max(1);
        (i32::from(q) - i32::from(zps[c])) as f32 * scales[c]
    };
    Ok(if bits == 8 {
        body.iter().enumerate().map(|(i, &q)| value(i, q)).collect()
    } else {
        (0..n).map(|i| value(i, (body[i / 2] >> (4 * (i % 2))) & 0x0f)).collect()
    })
}

/// The shape a payload's header names, `None` if the header is truncated or malformed.
pub fn payload_shape(payload: &[u8]) -> Option<Vec<usize>> {
    let mut r = Reader { tensor: "", rest: payload };
    r.take(3).ok()?;
    let rank = r.u8().ok()? as usize;
    if rank == 0 || rank > MAX_RANK {
        return None;
    }
    (0..rank).map(|_| r.u32().ok().map(|d| d as usize)).collect()
}

/// The largest payload of a tensor of `shape`: header plus raw body, plus the entropy
/// stage's worst-case expansion. A receiver refuses anything longer before reading it.
pub fn max_payload_len(shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    let (channels, _) = channel_layout(shape);
    let header = 4 + 4 * shape.len() + 4 + 5 * channels + 4 + 4;
    // zstd's and LZ4's bound on incompressible input is well under 1% + 64 bytes.
    header + n + n / 64 + 1024
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODECS: [Packing; 4] = [
        Packing { bits: 8, clip: 1.0, entropy: Entropy::None },
        Packing { bits: 8, clip: 1.0, entropy: Entropy::Zstd },
        Packing { bits: 8, clip: 1.0, entropy: Entropy::Lz4 },
        Packing { bits: 4, clip: 1.0, entropy: Entropy::Zstd },
    ];

    /// Half a step of each channel's grid, for unclipped packing.
    fn step(values: &[f32], shape: &[usize], bits: u8) -> Vec<f32> {
        channel_params(values, shape, bits, 1.0).iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn round_trip_is_within_half_a_step_per_channel() {
        // channel 0 small values, channel 1 large ones: per-channel scales keep both precise
        let shape = [1, 2, 3];
        let values = [0.0, 0.01, 0.02, -100.0, 0.0, 100.0];
        for p in CODECS {
            let payload = pack("t", &values, &shape, p).unwrap();
            let out = unpack("t", &payload, &shape, p).unwrap();
            let scales = step(&values, &shape, p.bits);
            for (i, (x, y)) in values.iter().zip(&out).enumerate() {
                let bound = scales[i / 3] / 2.0 * 1.0001 + x.abs() * 4.0 * f32::EPSILON;
                assert!((x - y).abs() <= bound, "{p:?}: {x} -> {y} (bound {bound})");
            }
            assert_eq!(out[0], 0.0, "zero is exact");
        }
    }

    #[test]
    fn relu_zeros_compress() {
        let shape = [1, 8, 32, 32];
        let n = 8 * 32 * 32;
        let values: Vec<f32> = (0..n).map(|i| if i % 7 == 0 { (i % 13) as f32 } else { 0.0 }).collect();
        let raw = pack("t", &values, &shape, CODECS[0]).unwrap().len();
        let zstd = pack("t", &values, &shape, CODECS[1]).unwrap().len();
        let lz4 = pack("t", &values, &shape, CODECS[2]).unwrap().len();
        assert!(raw > n, "raw int8 carries a byte per value");
        assert!(zstd * 4 < raw && lz4 * 2 < raw, "mostly zeros: zstd {zstd}, lz4 {lz4}, raw {raw}");
    }

    #[test]
    fn clipping_saturates_outliers_and_refines_the_rest() {
        let shape = [1000];
        let mut values: Vec<f32> = (0..1000).map(|i| (i % 10) as f32 / 10.0).collect();
        values[0] = 1000.0;
        let clipped = Packing { bits: 8, clip: 0.99, entropy: Entropy::None };
        let out = unpack("t", &pack("t", &values, &shape, clipped).unwrap(), &shape, clipped).unwrap();
        assert!(out[0] < 2.0, "the outlier saturates: {}", out[0]);
        assert!((out[5] - 0.5).abs() < 0.01, "the rest stays precise: {}", out[5]);
    }

    /// The length of a version-2 payload's body (everything after the CRC).
    fn body_len(payload: &[u8]) -> usize {
        let rank = payload[3] as usize;
        let mut at = 4 + 4 * rank;
        let channels = u32::from_le_bytes(payload[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + 5 * channels + 4 + 4;
        payload.len() - at
    }

    #[test]
    fn version_1_payloads_without_a_crc_still_decode() {
        let shape = [1, 2, 3];
        let values = [0.0, 0.5, 1.0, -1.0, 2.0, 0.25];
        for p in CODECS {
            let v2 = pack("t", &values, &shape, p).unwrap();
            let crc_at = v2.len() - body_len(&v2) - 4;
            let mut v1 = v2[..crc_at].to_vec();
            v1[0] = VERSION_NO_CRC;
            v1.extend_from_slice(&v2[crc_at + 4..]);
            assert_eq!(unpack("t", &v1, &shape, p).unwrap(), unpack("t", &v2, &shape, p).unwrap());
        }
    }

    #[test]
    fn corrupt_or_truncated_payloads_are_typed_errors() {
        let shape = [1, 4, 16];
        let values: Vec<f32> = (0..64).map(|i| (i as f32).sin()).collect();
        for p in CODECS {
            let good = pack("t", &values, &shape, p).unwrap();
            for cut in 0..good.len() {
                assert!(unpack("t", &good[..cut], &shape, p).is_err(), "{p:?} truncated at {cut}");
            }
            let mut longer = good.clone();
            longer.push(0);
            if p.entropy == Entropy::None {
                assert!(unpack("t", &longer, &shape, p).is_err());
            }
            assert!(unpack("t", &good, &[1, 4, 15], p).is_err(), "wrong shape");
            let other = Packing { bits: 12 - p.bits, ..p };
            assert!(unpack("t", &good, &shape, other).is_err(), "wrong bits");
            // flip any byte, header or body: a typed error (its own check, or the CRC's)
            for i in 0..good.len() {
                let mut bad = good.clone();
                bad[i] ^= 0xa5;
                assert!(unpack("t", &bad, &shape, p).is_err(), "{p:?}: byte {i} flipped, still decoded");
            }
        }
        assert!(pack("t", &[f32::NAN], &[1], CODECS[0]).is_err());
    }

    #[test]
    fn jpeg_takes_images_only_and_round_trips_smooth_ones_closely() {
        let p = Packing { bits: 8, clip: 1.0, entropy: Entropy::Jpeg };
        let shape = [1, 3, 16, 24];
        let values: Vec<f32> = (0..3 * 16 * 24).map(|i| ((i % 24) as f32 / 24.0) * 2.0 - 0.5).collect();
        let payload = pack("t", &values, &shape, p).unwrap();
        let out = unpack("t", &payload, &shape, p).unwrap();
        let max_err = values.iter().zip(&out).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(max_err < 0.1, "a smooth ramp survives quality 90: {max_err}");
        assert!(pack("t", &values, &[1, 6, 8, 24], p).is_err(), "not 3 channels");
        assert!(unpack("t", &payload, &[1, 3, 24, 16], p).is_err(), "other dims");
        for cut in [payload.len() / 2, payload.len() - 2] {
            assert!(unpack("t", &payload[..cut], &shape, p).is_err(), "truncated at {cut}");
        }
        let mut garbled = payload.clone();
        let n = garbled.len();
        garbled[n / 2..].iter_mut().for_each(|b| *b = 0xff);
        let _ = unpack("t", &garbled, &shape, p);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), k in 0usize..4) {
            let _ = unpack("t", &bytes, &[1, 3, 5], CODECS[k]);
        }

        #[test]
        fn round_trip_of_random_tensors(values in prop::collection::vec(-1e4f32..1e4, 1..200), k in 0usize..4) {
            let shape = [values.len()];
            let p = CODECS[k];
            let payload = pack("t", &values, &shape, p).unwrap();
            prop_assert!(payload.len() <= max_payload_len(&shape));
            let out = unpack("t", &payload, &shape, p).unwrap();
            let bound = step(&values, &shape, p.bits)[0] / 2.0 * 1.0001;
            for (x, y) in values.iter().zip(&out) {
                prop_assert!((x - y).abs() <= bound + x.abs() * 4.0 * f32::EPSILON, "{} -> {}", x, y);
            }
        }
    }
}
