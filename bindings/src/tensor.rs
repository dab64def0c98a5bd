//! Tensors as they cross the FFI: a name, an element type, a shape and little-endian bytes.

use tandem_sdk as tc;

use crate::error::TandemError;

/// Element type of a tensor, named as in the Open Inference Protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DType {
    /// 32-bit IEEE float.
    Fp32,
    /// 16-bit IEEE float.
    Fp16,
    /// 64-bit IEEE float.
    Fp64,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 8-bit integer (e.g. camera pixels).
    Uint8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Boolean, one byte per element (0 or 1).
    Bool,
}

impl From<tc::DType> for DType {
    fn from(d: tc::DType) -> Self {
        match d {
            tc::DType::Fp32 => DType::Fp32,
            tc::DType::Fp16 => DType::Fp16,
            tc::DType::Fp64 => DType::Fp64,
            tc::DType::Int8 => DType::Int8,
            tc::DType::Uint8 => DType::Uint8,
            tc::DType::Int16 => DType::Int16,
            tc::DType::Int32 => DType::Int32,
            tc::DType::Int64 => DType::Int64,
            tc::DType::Bool => DType::Bool,
        }
    }
}

impl From<DType> for tc::DType {
    fn from(d: DType) -> Self {
        match d {
            DType::Fp32 => tc::DType::Fp32,
            DType::Fp16 => tc::DType::Fp16,
            DType::Fp64 => tc::DType::Fp64,
            DType::Int8 => tc::DType::Int8,
            DType::Uint8 => tc::DType::Uint8,
            DType::Int16 => tc::DType::Int16,
            DType::Int32 => tc::DType::Int32,
            DType::Int64 => tc::DType::Int64,
            DType::Bool => tc::DType::Bool,
        }
    }
}

/// A named tensor: the model's inputs and outputs.
///
/// `data` holds `product(shape) * size(dtype)` bytes, little-endian, row-major (what Kotlin's
/// `ByteBuffer.order(ByteOrder.LITTLE_ENDIAN)` and Swift's native layout on ARM give).
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct Tensor {
    /// The ONNX tensor name (e.g. `input`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Concrete shape, outermost dimension first.
    pub shape: Vec<u64>,
    /// The elements as little-endian bytes.
    pub data: Vec<u8>,
}

// Data is user data (camera frames): never print it, only its size.
impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("data_bytes", &self.data.len())
            .finish()
    }
}

/// A shape from the FFI as the core's: a dimension that does not fit this platform's `usize`
/// (possible on 32-bit ARM) is an input error, not a truncation.
pub(crate) fn shape_from_ffi(tensor: &str, shape: &[u64]) -> Result<Vec<usize>, TandemError> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| TandemError::InvalidInput {
                reason: format!("tensor `{tensor}`: dimension {d} is too large for this device"),
            })
        })
        .collect()
}

impl TryFrom<Tensor> for tc::NamedTensor {
    type Error = TandemError;

    fn try_from(t: Tensor) -> Result<Self, TandemError> {
        let shape = shape_from_ffi(&t.name, &t.shape)?;
        Ok(tc::NamedTensor::new(t.name, t.dtype.into(), shape, t.data)?)
    }
}

impl From<tc::NamedTensor> for Tensor {
    fn from(t: tc::NamedTensor) -> Self {
        Tensor {
            name: t.name,
            dtype: t.dtype.into(),
            shape: t.shape.into_iter().map(|d| d as u64).collect(),
            data: t.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_lengths() {
        let t = Tensor { name: "x".into(), dtype: DType::Fp32, shape: vec![1, 2], data: vec![0; 8] };
        let core: tc::NamedTensor = t.clone().try_into().expect("consistent tensor");
        assert_eq!(Tensor::from(core), t);
        let short = Tensor { data: vec![0; 7], ..t };
        let e = tc::NamedTensor::try_from(short).expect_err("7 bytes cannot hold 2 floats");
        assert!(matches!(e, TandemError::InvalidInput { .. }), "{e:?}");
    }

    #[test]
    fn debug_never_prints_data() {
        let t = Tensor { name: "x".into(), dtype: DType::Uint8, shape: vec![3], data: vec![42, 43, 44] };
        let s = format!("{t:?}");
        assert!(s.contains("data_bytes: 3") && !s.contains("42"), "{s}");
    }
}
