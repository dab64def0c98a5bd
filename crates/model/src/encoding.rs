//! How a float32 tensor travels between the phone and the edge: as is, as float16, or as
//! int8 with a per-tensor affine quantization.
//!
//! The client encodes the crossing tensors of a cut with [`encode`]; the edge server decodes
//! them back to float32 with [`decode`] before running the part after the cut. On the wire
//! (see `docs/PROTOCOL.md`) the tensor's datatype is the encoded one (`FP16`, `INT8`) and its
//! `parameters` carry `tandem_encoding` and, for int8, `tandem_scale` and `tandem_zero_point`.
//!
//! Error bounds, for every finite value `x` of the tensor and its decoded value `y`:
//! - float32 ([`Encoding::Fp32`]) is exact.
//! - float16 ([`Encoding::Fp16`]): `|x - y| <= |x| * 2^-11` for `|x| >= 2^-14` (the normal
//!   float16 range), `|x - y| <= 2^-25` below it. Values beyond float16's range (65504) are
//!   refused.
//! - int8 ([`Encoding::Int8`]): `|x - y| <= scale / 2`, with
//!   `scale = (max(x, 0) - min(x, 0)) / 255` (plus float32 rounding of the product, a few ulps
//!   of `|x|`). Non-finite values are refused.

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::f16;

use crate::codec::{self, Entropy, Packing};
use crate::error::{Error, Result};
use crate::tensor::{DType, NamedTensor};

/// The clipping quantile of the 8-bit packed codecs (per channel, both tails), chosen by
/// calibration over MobileNetV2 and the face embedder (docs/PERFORMANCE.md).
pub const INT8_CLIP: f64 = 0.9999;
/// The clipping quantile of the 4-bit packed codec.
pub const INT4_CLIP: f64 = 0.999;
/// The most elements [`decode`] unpacks from a packed payload that names its own shape
/// (the wire decoder uses [`decode_as`] with the model's shape instead).
const MAX_UNPACKED: usize = 1 << 28;

/// The largest finite float16 value.
const F16_MAX: f32 = 65504.0;

/// How a float32 tensor is represented on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Encoding {
    /// Float32 as is: exact, 4 bytes per element.
    #[default]
    Fp32,
    /// IEEE float16, round to nearest even: 2 bytes per element.
    Fp16,
    /// Signed 8-bit integers with one scale and zero point per tensor: 1 byte per element.
    Int8,
    /// 8 bits per value with a scale and zero point per channel and clipped ranges, in a
    /// packed payload ([`crate::codec`]): about 1 byte per element.
    #[serde(rename = "int8_channel")]
    Int8Channel,
    /// [`Encoding::Int8Channel`] followed by LZ4: variable size, calibrated.
    #[serde(rename = "int8_lz4")]
    Int8Lz4,
    /// [`Encoding::Int8Channel`] followed by zstd: variable size, calibrated.
    #[serde(rename = "int8_zstd")]
    Int8Zstd,
    /// 4 bits per value per channel, clipped, followed by zstd: variable size, calibrated.
    #[serde(rename = "int4_zstd")]
    Int4Zstd,
    /// An image tensor `[1, 3, H, W]` (cut 0 of an image model) mapped per channel to 8 bits
    /// and sent as a JPEG, quality 90: variable size, calibrated.
    #[serde(rename = "jpeg")]
    Jpeg,
}

impl Encoding {
    /// Every encoding, from the most to the least exact.
    pub const ALL: [Encoding; 8] = [
        Encoding::Fp32,
        Encoding::Fp16,
        Encoding::Int8,
        Encoding::Int8Channel,
        Encoding::Int8Lz4,
        Encoding::Int8Zstd,
        Encoding::Int4Zstd,
        Encoding::Jpeg,
    ];

    /// The packed codecs, whose size depends on the values: the planner uses them only at
    /// cuts with calibrated sizes (see [`crate::meta::Calibration`]).
    pub const PACKED: [Encoding; 5] =
        [Encoding::Int8Channel, Encoding::Int8Lz4, Encoding::Int8Zstd, Encoding::Int4Zstd, Encoding::Jpeg];

    /// The packed codec's bits, clipping quantile and entropy stage; `None` for the fixed-size
    /// encodings.
    pub fn packing(self) -> Option<Packing> {
        let (bits, clip, entropy) = match self {
            Encoding::Fp32 | Encoding::Fp16 | Encoding::Int8 => return None,
            Encoding::Int8Channel => (8, INT8_CLIP, Entropy::None),
            Encoding::Int8Lz4 => (8, INT8_CLIP, Entropy::Lz4),
            Encoding::Int8Zstd => (8, INT8_CLIP, Entropy::Zstd),
            Encoding::Int4Zstd => (4, INT4_CLIP, Entropy::Zstd),
            Encoding::Jpeg => (8, 1.0, Entropy::Jpeg),
        };
        Some(Packing { bits, clip, entropy })
    }

    /// Whether the tensor travels as a packed `UINT8` payload of variable size.
    pub fn is_packed(self) -> bool {
        self.packing().is_some()
    }

    /// The value of the `tandem_encoding` wire parameter (`fp32`, `fp16`, `int8`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Encoding::Fp32 => "fp32",
            Encoding::Fp16 => "fp16",
            Encoding::Int8 => "int8",
            Encoding::Int8Channel => "int8_channel",
            Encoding::Int8Lz4 => "int8_lz4",
            Encoding::Int8Zstd => "int8_zstd",
            Encoding::Int4Zstd => "int4_zstd",
            Encoding::Jpeg => "jpeg",
        }
    }

    /// Parses a `tandem_encoding` wire parameter.
    pub fn from_wire_name(name: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.wire_name() == name)
    }

    /// The datatype of an encoded float32 tensor on the wire.
    pub fn wire_dtype(self) -> DType {
        match self {
            Encoding::Fp32 => DType::Fp32,
            Encoding::Fp16 => DType::Fp16,
            Encoding::Int8 => DType::Int8,
            _ => DType::Uint8,
        }
    }

    /// Bytes on the wire per float32 element; for a packed codec, the raw quantized body
    /// before the entropy stage (1 for 8 bits and, rounded up, for 4 bits): an upper bound
    /// the planner replaces with calibrated sizes.
    pub fn bytes_per_element(self) -> usize {
        self.wire_dtype().size_bytes()
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// The per-tensor affine quantization of [`Encoding::Int8`]:
/// `q = clamp(round(x / scale) + zero_point, -128, 127)`, `x ≈ (q - zero_point) * scale`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Int8Params {
    /// Step between two representable values; finite and positive.
    pub scale: f32,
    /// The quantized value of 0.0, in -128..=127.
    pub zero_point: i32,
}

impl Int8Params {
    /// Parameters covering `[min, max]` (widened to include 0, so zero is exact).
    /// Returns `None` for a non-finite bound.
    pub fn from_range(min: f32, max: f32) -> Option<Int8Params> {
        if !min.is_finite() || !max.is_finite() {
            return None;
        }
        let lo = f64::from(min.min(0.0));
        let hi = f64::from(max.max(0.0));
        let scale = ((hi - lo) / 255.0) as f32;
        // An all-zero tensor, or one so small that the step underflows: any scale is exact
        // for zero, and 1.0 keeps the decoder's arithmetic finite.
        let scale = if scale.is_normal() { scale } else { 1.0 };
        let zero_point = (-128.0 - lo / f64::from(scale)).round().clamp(-128.0, 127.0) as i32;
        Some(Int8Params { scale, zero_point })
    }

    /// Parameters covering the values of a tensor; `None` if a value is not finite.
    pub fn for_values(values: &[f32]) -> Option<Int8Params> {
        let (min, max) = values.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        Int8Params::from_range(min, max)
    }

    /// Checks parameters received from the wire.
    pub fn validate(self, tensor: &str) -> Result<Int8Params> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(Error::BadTensor {
                tensor: tensor.into(),
                reason: format!("int8 scale must be finite and positive, got {}", self.scale),
            });
        }
        if !(-128..=127).contains(&self.zero_point) {
            return Err(Error::BadTensor {
                tensor: tensor.into(),
                reason: format!("int8 zero point must be in -128..=127, got {}", self.zero_point),
            });
        }
        Ok(self)
    }

    /// The largest absolute error of a value inside the covered range: half a step.
    pub fn max_abs_error(self) -> f32 {
        self.scale / 2.0
    }
}

/// A tensor as it travels: data in the wire datatype, with what is needed to decode it.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedTensor {
    /// The tensor with its wire datatype (`FP32`, `FP16` or `INT8`) and wire bytes.
    pub tensor: NamedTensor,
    /// How it was encoded.
    pub encoding: Encoding,
    /// The quantization, for [`Encoding::Int8`] only.
    pub int8: Option<Int8Params>,
}

/// Converts float32 values to little-endian float16 bytes (round to nearest even).
/// Refuses a finite value beyond float16's range, which would silently become infinite.
pub fn f32_to_f16_bytes(tensor: &str, values: &[f32]) -> Result<Vec<u8>> {
    if let Some(v) = values.iter().find(|v| v.is_finite() && v.abs() > F16_MAX) {
        // Values that round down to 65504 are fine; only those that would round up to
        // infinity are refused. half does that rounding: check its result.
        if f16::from_f32(*v).is_infinite() {
            return Err(Error::BadTensor {
                tensor: tensor.into(),
                reason: format!("value {v} is outside the float16 range (±65504): use fp32 or int8"),
            });
        }
    }
    Ok(values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect())
}

/// Converts little-endian float16 bytes to float32 values (exact). A trailing odd byte is
/// ignored; callers check lengths first.
pub fn f16_bytes_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
}

/// Quantizes float32 values to int8 bytes with `params` (values outside the covered range
/// saturate).
pub fn quantize_int8(values: &[f32], params: Int8Params) -> Vec<u8> {
    let scale = f64::from(params.scale);
    let zp = f64::from(params.zero_point);
    values
        .iter()
        .map(|&v| {
            // f64 keeps the division exact enough that the bound is half a step.
            let q = (f64::from(v) / scale).round() + zp;
            (q.clamp(-128.0, 127.0) as i8) as u8
        })
        .collect()
}

/// Dequantizes int8 bytes to float32 values with `params`.
pub fn dequantize_int8(bytes: &[u8], params: Int8Params) -> Vec<f32> {
    bytes.iter().map(|&b| ((b as i8) as i32 - params.zero_point) as f32 * params.scale).collect()
}

/// Encodes a float32 tensor for the wire. Any other dtype travels as is, and only with
/// [`Encoding::Fp32`].
pub fn encode(tensor: &NamedTensor, encoding: Encoding) -> Result<EncodedTensor> {
    let values = || {
        tensor.to_f32().ok_or_else(|| Error::DType {
            tensor: tensor.name.clone(),
            expected: format!("FP32 (only float32 tensors can be sent as {encoding})"),
            got: tensor.dtype.to_string(),
        })
    };
    let (data, int8) = match encoding {
        Encoding::Fp32 => return Ok(EncodedTensor { tensor: tensor.clone(), encoding, int8: None }),
        Encoding::Fp16 => (f32_to_f16_bytes(&tensor.name, &values()?)?, None),
        Encoding::Int8Channel
        | Encoding::Int8Lz4
        | Encoding::Int8Zstd
        | Encoding::Int4Zstd
        | Encoding::Jpeg => {
            let packing = encoding.packing().expect("packed");
            let payload = codec::pack(&tensor.name, &values()?, &tensor.shape, packing)?;
            let len = payload.len();
            let tensor = NamedTensor::new(tensor.name.clone(), DType::Uint8, vec![len], payload)?;
            return Ok(EncodedTensor { tensor, encoding, int8: None });
        }
        Encoding::Int8 => {
            let values = values()?;
            let params = Int8Params::for_values(&values).ok_or_else(|| Error::BadTensor {
                tensor: tensor.name.clone(),
                reason: "a value is NaN or infinite, which int8 cannot represent: use fp32 or fp16".into(),
            })?;
            (quantize_int8(&values, params), Some(params))
        }
    };
    let tensor = NamedTensor::new(tensor.name.clone(), encoding.wire_dtype(), tensor.shape.clone(), data)?;
    Ok(EncodedTensor { tensor, encoding, int8 })
}

/// Decodes a tensor of the model's `shape` received from the wire: a packed payload must
/// name exactly that shape (checked before anything is allocated); the other encodings are
/// decoded by [`decode`] and their shape checked.
pub fn decode_as(encoded: EncodedTensor, shape: &[usize]) -> Result<NamedTensor> {
    let Some(packing) = encoded.encoding.packing() else {
        let t = decode(encoded)?;
        if t.shape != shape {
            return Err(Error::BadTensor {
                tensor: t.name,
                reason: format!("shape {:?}, expected {shape:?}", t.shape),
            });
        }
        return Ok(t);
    };
    let t = encoded.tensor;
    if t.dtype != DType::Uint8 {
        return Err(Error::DType {
            tensor: t.name,
            expected: format!("UINT8 (the wire type of the {} encoding)", encoded.encoding),
            got: t.dtype.to_string(),
        });
    }
    let values = codec::unpack(&t.name, &t.data, shape, packing)?;
    NamedTensor::from_f32(t.name, shape.to_vec(), &values)
}

/// Decodes a tensor received from the wire back to float32 (a float32 or non-float tensor
/// sent with [`Encoding::Fp32`] comes back unchanged, without a copy).
///
/// Checks that the wire datatype is the encoding's, that the byte length fits the shape, and
/// that int8 parameters are present and sane.
pub fn decode(encoded: EncodedTensor) -> Result<NamedTensor> {
    let EncodedTensor { tensor, encoding, int8 } = encoded;
    if encoding == Encoding::Fp32 {
        return Ok(tensor);
    }
    if tensor.dtype != encoding.wire_dtype() {
        return Err(Error::DType {
            tensor: tensor.name,
            expected: format!("{} (the wire type of the {encoding} encoding)", encoding.wire_dtype()),
            got: tensor.dtype.to_string(),
        });
    }
    let tensor = NamedTensor::new(tensor.name, tensor.dtype, tensor.shape, tensor.data)?;
    let values = match (encoding, int8) {
        (Encoding::Int8, None) => {
            return Err(Error::BadTensor {
                tensor: tensor.name,
                reason: "int8 encoding needs tandem_scale and tandem_zero_point".into(),
            })
        }
        (Encoding::Int8, Some(params)) => dequantize_int8(&tensor.data, params.validate(&tensor.name)?),
        (Encoding::Fp16, _) => f16_bytes_to_f32(&tensor.data),
        (e, _) => {
            let shape = codec::payload_shape(&tensor.data)
                .filter(|s| {
                    s.iter().try_fold(1usize, |a, d| a.checked_mul(*d)).is_some_and(|n| n <= MAX_UNPACKED)
                })
                .ok_or_else(|| Error::BadTensor {
                    tensor: tensor.name.clone(),
                    reason: "the packed payload's header is truncated or names too large a shape".into(),
                })?;
            let values = codec::unpack(&tensor.name, &tensor.data, &shape, e.packing().expect("packed"))?;
            return NamedTensor::from_f32(tensor.name, shape, &values);
        }
    };
    NamedTensor::from_f32(tensor.name, tensor.shape, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tensor(values: &[f32]) -> NamedTensor {
        NamedTensor::from_f32("t", vec![values.len()], values).expect("length matches")
    }

    fn round_trip(values: &[f32], encoding: Encoding) -> (Vec<f32>, Option<Int8Params>) {
        let encoded = encode(&tensor(values), encoding).expect("encodable");
        assert_eq!(encoded.tensor.dtype, encoding.wire_dtype());
        assert_eq!(encoded.tensor.data.len(), values.len() * encoding.bytes_per_element());
        let int8 = encoded.int8;
        let decoded = decode(encoded).expect("decodable");
        (decoded.to_f32().expect("float32 after decoding"), int8)
    }

    #[test]
    fn wire_names_round_trip() {
        for e in Encoding::ALL {
            assert_eq!(Encoding::from_wire_name(e.wire_name()), Some(e));
        }
        assert_eq!(Encoding::from_wire_name("FP16"), None);
        assert_eq!(Encoding::default(), Encoding::Fp32);
    }

    #[test]
    fn fp32_is_exact_and_passes_other_dtypes() {
        let values = [1.0, -0.0, f32::MIN_POSITIVE, 3.4e38, f32::NAN];
        let (out, _) = round_trip(&values, Encoding::Fp32);
        assert_eq!(out[..4], values[..4]);
        assert!(out[4].is_nan());
        let ints = NamedTensor::new("i", DType::Int64, vec![1], 7i64.to_le_bytes().to_vec()).unwrap();
        assert_eq!(decode(encode(&ints, Encoding::Fp32).unwrap()).unwrap(), ints);
        assert!(matches!(encode(&ints, Encoding::Fp16), Err(Error::DType { .. })));
    }

    #[test]
    fn fp16_known_values() {
        let (out, _) = round_trip(&[0.0, 1.0, -2.5, 65504.0, 1.0 / 3.0, 1e-8], Encoding::Fp16);
        assert_eq!(out[..4], [0.0, 1.0, -2.5, 65504.0]);
        assert!((out[4] - 1.0 / 3.0).abs() <= (1.0 / 3.0) * 2f32.powi(-11));
        assert!((out[5] - 1e-8).abs() <= 2f32.powi(-25));
        // Round to nearest even: 2049 sits halfway between 2048 and 2050.
        assert_eq!(round_trip(&[2049.0], Encoding::Fp16).0, [2048.0]);
    }

    #[test]
    fn fp16_refuses_overflow_and_keeps_infinities() {
        let err = encode(&tensor(&[1.0, 70000.0]), Encoding::Fp16).unwrap_err();
        assert!(err.to_string().contains("float16 range"), "{err}");
        // 65519 still rounds to 65504.
        assert_eq!(round_trip(&[65519.0], Encoding::Fp16).0, [65504.0]);
        let (out, _) = round_trip(&[f32::INFINITY, f32::NEG_INFINITY], Encoding::Fp16);
        assert_eq!(out, [f32::INFINITY, f32::NEG_INFINITY]);
    }

    #[test]
    fn every_f16_survives_f32_and_back() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            if h.is_nan() {
                continue;
            }
            let bytes = f32_to_f16_bytes("t", &[h.to_f32()]).unwrap();
            assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]), bits);
        }
    }

    #[test]
    fn int8_known_values() {
        let values = [-1.0, 0.0, 0.5, 1.0];
        let (out, params) = round_trip(&values, Encoding::Int8);
        let params = params.expect("int8 params");
        assert!((params.scale - 2.0 / 255.0).abs() < 1e-7);
        assert_eq!(out[1], 0.0, "zero is exact");
        for (x, y) in values.iter().zip(&out) {
            assert!((x - y).abs() <= params.max_abs_error() * 1.0001, "{x} -> {y}");
        }
        // Positive-only and all-zero tensors.
        let (out, p) = round_trip(&[0.0, 10.0], Encoding::Int8);
        assert_eq!(p.unwrap().zero_point, -128);
        assert!((out[1] - 10.0).abs() <= p.unwrap().max_abs_error() * 1.0001);
        let (out, p) = round_trip(&[0.0, 0.0], Encoding::Int8);
        assert_eq!(out, [0.0, 0.0]);
        assert_eq!(p.unwrap().scale, 1.0);
    }

    #[test]
    fn int8_refuses_non_finite_and_bad_params() {
        assert!(encode(&tensor(&[1.0, f32::NAN]), Encoding::Int8).is_err());
        assert!(encode(&tensor(&[f32::INFINITY]), Encoding::Int8).is_err());
        let wire = NamedTensor::new("t", DType::Int8, vec![2], vec![0, 1]).unwrap();
        let with = |int8| EncodedTensor { tensor: wire.clone(), encoding: Encoding::Int8, int8 };
        assert!(decode(with(None)).is_err());
        assert!(decode(with(Some(Int8Params { scale: 0.0, zero_point: 0 }))).is_err());
        assert!(decode(with(Some(Int8Params { scale: f32::NAN, zero_point: 0 }))).is_err());
        assert!(decode(with(Some(Int8Params { scale: 1.0, zero_point: 128 }))).is_err());
        assert_eq!(
            decode(with(Some(Int8Params { scale: 0.5, zero_point: 1 }))).unwrap().to_f32().unwrap(),
            [-0.5, 0.0]
        );
    }

    #[test]
    fn decode_checks_wire_dtype_and_length() {
        let fp32 = tensor(&[1.0]);
        let as_fp16 = EncodedTensor { tensor: fp32, encoding: Encoding::Fp16, int8: None };
        assert!(matches!(decode(as_fp16), Err(Error::DType { .. })));
        let short = NamedTensor { name: "t".into(), dtype: DType::Fp16, shape: vec![2], data: vec![0; 3] };
        let short = EncodedTensor { tensor: short, encoding: Encoding::Fp16, int8: None };
        assert!(matches!(decode(short), Err(Error::BadTensor { .. })));
    }

    proptest! {
        #[test]
        fn fp16_round_trip_is_within_relative_2_pow_minus_11(
            values in prop::collection::vec(-65504.0f32..65504.0, 1..64)
        ) {
            let (out, _) = round_trip(&values, Encoding::Fp16);
            for (x, y) in values.iter().zip(&out) {
                let bound = if x.abs() >= 2f32.powi(-14) { x.abs() * 2f32.powi(-11) } else { 2f32.powi(-25) };
                prop_assert!((x - y).abs() <= bound, "{} -> {} (bound {})", x, y, bound);
            }
        }

        #[test]
        fn fp16_round_trip_of_tiny_values(values in prop::collection::vec(-1e-3f32..1e-3, 1..64)) {
            let (out, _) = round_trip(&values, Encoding::Fp16);
            for (x, y) in values.iter().zip(&out) {
                let bound = if x.abs() >= 2f32.powi(-14) { x.abs() * 2f32.powi(-11) } else { 2f32.powi(-25) };
                prop_assert!((x - y).abs() <= bound, "{} -> {} (bound {})", x, y, bound);
            }
        }

        #[test]
        fn int8_round_trip_is_within_half_a_step(
            values in prop::collection::vec(-1e6f32..1e6, 1..64),
            shrink in 0i32..30,
        ) {
            // Scale the range down too, so tiny and huge ranges are both covered.
            let values: Vec<f32> = values.iter().map(|v| v * 2f32.powi(-shrink)).collect();
            let (out, params) = round_trip(&values, Encoding::Int8);
            let bound = params.expect("int8 params").max_abs_error();
            for (x, y) in values.iter().zip(&out) {
                // Half a step, plus float32 rounding of the decoder's product.
                let slack = x.abs() * 4.0 * f32::EPSILON;
                prop_assert!((x - y).abs() <= bound + slack, "{} -> {} (bound {})", x, y, bound);
            }
        }

        #[test]
        fn int8_zero_point_is_in_range(min in -1e30f32..0.0, max in 0.0f32..1e30) {
            let p = Int8Params::from_range(min, max).expect("finite");
            prop_assert!((-128..=127).contains(&p.zero_point));
            prop_assert!(p.scale.is_finite() && p.scale > 0.0);
            prop_assert!(p.validate("t").is_ok());
        }
    }
}
