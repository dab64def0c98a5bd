//! Tensors as they cross the FFI: the core's [`tc::NamedTensor`] (`Tensor` in Kotlin and
//! Swift): a name, an element type, a shape and little-endian bytes, `data` holding
//! `product(shape) * size(dtype)` bytes, row-major (what Kotlin's
//! `ByteBuffer.order(ByteOrder.LITTLE_ENDIAN)` and Swift's native layout on ARM give).

use tandem_sdk as tc;

use crate::error::TandemError;

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

/// Tensors from foreign code, checked as the core's constructor checks them (a record from
/// Kotlin or Swift is built field by field): the data length must fit dtype and shape.
pub(crate) fn checked(inputs: Vec<tc::NamedTensor>) -> Result<Vec<tc::NamedTensor>, TandemError> {
    inputs.into_iter().map(|t| Ok(tc::NamedTensor::new(t.name, t.dtype, t.shape, t.data)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_lengths() {
        let t =
            tc::NamedTensor { name: "x".into(), dtype: tc::DType::Fp32, shape: vec![1, 2], data: vec![0; 8] };
        assert_eq!(checked(vec![t.clone()]).expect("consistent tensor"), vec![t.clone()]);
        let short = tc::NamedTensor { data: vec![0; 7], ..t };
        let e = checked(vec![short]).expect_err("7 bytes cannot hold 2 floats");
        assert!(matches!(e, TandemError::InvalidInput { .. }), "{e:?}");
    }

    #[test]
    fn shapes_are_checked_not_truncated() {
        assert_eq!(shape_from_ffi("x", &[1, 3]).expect("fits"), vec![1, 3]);
        if usize::BITS < 64 {
            assert!(shape_from_ffi("x", &[u64::MAX]).is_err());
        }
    }

    #[test]
    fn debug_never_prints_data() {
        let t = tc::NamedTensor {
            name: "x".into(),
            dtype: tc::DType::Uint8,
            shape: vec![3],
            data: vec![42, 43, 44],
        };
        let s = format!("{t:?}");
        assert!(s.contains("data_bytes: 3") && !s.contains("42"), "{s}");
    }
}
