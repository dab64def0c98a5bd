//! Named, typed, shaped tensors: what crosses a cut and what the wire carries.

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::{DatumType, Tensor};

use crate::error::{Error, Result};

/// Element type of a tensor, named as in the Open Inference Protocol (`FP32`, `INT64`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DType {
    /// 32-bit IEEE float.
    Fp32,
    /// 16-bit IEEE float.
    Fp16,
    /// 64-bit IEEE float.
    Fp64,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Boolean, one byte per element.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Int8 | DType::Uint8 | DType::Bool => 1,
            DType::Fp16 | DType::Int16 => 2,
            DType::Fp32 | DType::Int32 => 4,
            DType::Fp64 | DType::Int64 => 8,
        }
    }

    /// The Open Inference Protocol name (`FP32`, ...).
    pub fn wire_name(self) -> &'static str {
        match self {
            DType::Fp32 => "FP32",
            DType::Fp16 => "FP16",
            DType::Fp64 => "FP64",
            DType::Int8 => "INT8",
            DType::Uint8 => "UINT8",
            DType::Int16 => "INT16",
            DType::Int32 => "INT32",
            DType::Int64 => "INT64",
            DType::Bool => "BOOL",
        }
    }

    /// Every element type Tandem handles.
    pub const ALL: [DType; 9] = [
        DType::Fp32,
        DType::Fp16,
        DType::Fp64,
        DType::Int8,
        DType::Uint8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::Bool,
    ];

    /// Parses an Open Inference Protocol datatype name.
    pub fn from_wire_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.wire_name() == name)
    }

    /// The type of an ONNX `TensorProto.DataType` code, if Tandem handles it.
    pub fn from_onnx_code(code: i32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.onnx_code() == code)
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::Fp32 => 1,
            DType::Uint8 => 2,
            DType::Int8 => 3,
            DType::Int16 => 5,
            DType::Int32 => 6,
            DType::Int64 => 7,
            DType::Bool => 9,
            DType::Fp16 => 10,
            DType::Fp64 => 11,
        }
    }

    pub(crate) fn from_datum(dt: DatumType) -> Option<DType> {
        Some(match dt {
            DatumType::F32 => DType::Fp32,
            DatumType::F16 => DType::Fp16,
            DatumType::F64 => DType::Fp64,
            DatumType::I8 => DType::Int8,
            DatumType::U8 => DType::Uint8,
            DatumType::I16 => DType::Int16,
            DatumType::I32 => DType::Int32,
            DatumType::I64 => DType::Int64,
            DatumType::Bool => DType::Bool,
            _ => return None,
        })
    }

    pub(crate) fn to_datum(self) -> DatumType {
        match self {
            DType::Fp32 => DatumType::F32,
            DType::Fp16 => DatumType::F16,
            DType::Fp64 => DatumType::F64,
            DType::Int8 => DatumType::I8,
            DType::Uint8 => DatumType::U8,
            DType::Int16 => DatumType::I16,
            DType::Int32 => DatumType::I32,
            DType::Int64 => DatumType::I64,
            DType::Bool => DatumType::Bool,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// The name, element type and concrete shape of a tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TensorSpec {
    /// The ONNX tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Concrete shape.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with a zero dimension.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the tensor's data in bytes.
    pub fn bytes(&self) -> u64 {
        (self.len() * self.dtype.size_bytes()) as u64
    }
}

/// A named tensor with its data as little-endian bytes: what crosses a cut, and what the wire
/// carries between the phone and the edge.
#[derive(Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record), uniffi(name = "Tensor"))]
pub struct NamedTensor {
    /// The ONNX tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// `shape.product() * dtype.size_bytes()` bytes, little-endian, row-major.
    pub data: Vec<u8>,
}

// Data is user data: never print it, only its size.
impl std::fmt::Debug for NamedTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedTensor")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("data_bytes", &self.data.len())
            .finish()
    }
}

impl NamedTensor {
    /// Builds a tensor, checking that the data length matches shape and dtype.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> Result<Self> {
        let t = NamedTensor { name: name.into(), dtype, shape, data };
        t.check_len()?;
        Ok(t)
    }

    /// A float32 tensor from values.
    pub fn from_f32(name: impl Into<String>, shape: Vec<usize>, values: &[f32]) -> Result<Self> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NamedTensor::new(name, DType::Fp32, shape, data)
    }

    /// The tensor's spec (name, dtype, shape).
    pub fn spec(&self) -> TensorSpec {
        TensorSpec { name: self.name.clone(), dtype: self.dtype, shape: self.shape.clone() }
    }

    /// The values of a float32 tensor; `None` for other dtypes.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::Fp32).then(|| {
            self.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        })
    }

    fn check_len(&self) -> Result<()> {
        let elems = self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
            Error::BadTensor {
                tensor: self.name.clone(),
                reason: format!("shape {:?} overflows", self.shape),
            }
        })?;
        let expected = elems.saturating_mul(self.dtype.size_bytes());
        if expected != self.data.len() {
            return Err(Error::BadTensor {
                tensor: self.name.clone(),
                reason: format!(
                    "shape {:?} of {} needs {expected} bytes, got {}",
                    self.shape,
                    self.dtype,
                    self.data.len()
                ),
            });
        }
        Ok(())
    }

    /// Converts to a tract tensor.
    pub(crate) fn to_tract(&self) -> Result<Tensor> {
        self.check_len()?;
        // SAFETY: every `DType` is a plain-old-data type whose bytes are valid for any value
        // (bool is checked below), and the length was checked against shape and dtype above.
        if self.dtype == DType::Bool && self.data.iter().any(|b| *b > 1) {
            return Err(Error::BadTensor {
                tensor: self.name.clone(),
                reason: "BOOL tensor holds bytes other than 0 and 1".into(),
            });
        }
        unsafe { Tensor::from_raw_dt(self.dtype.to_datum(), &self.shape, &self.data) }
            .map_err(|e| Error::engine(format!("building tensor `{}`", self.name), e))
    }

    /// Converts from a tract tensor.
    pub(crate) fn from_tract(name: impl Into<String>, t: &Tensor) -> Result<Self> {
        let name = name.into();
        let dtype = DType::from_datum(t.datum_type()).ok_or_else(|| Error::DType {
            tensor: name.clone(),
            expected: "a numeric type".into(),
            got: format!("{:?}", t.datum_type()),
        })?;
        Ok(NamedTensor { name, dtype, shape: t.shape().to_vec(), data: t.as_bytes().to_vec() })
    }

    /// Largest absolute difference between two float tensors of the same shape
    /// (`f64::INFINITY` when they are not comparable).
    pub fn max_abs_diff(&self, other: &NamedTensor) -> f64 {
        match (self.to_f32(), other.to_f32()) {
            (Some(a), Some(b)) if self.shape == other.shape => a
                .iter()
                .zip(&b)
                .map(|(x, y)| if x.is_nan() && y.is_nan() { 0.0 } else { (*x as f64 - *y as f64).abs() })
                .fold(0.0, f64::max),
            _ if self == other => 0.0,
            _ => f64::INFINITY,
        }
    }
}
