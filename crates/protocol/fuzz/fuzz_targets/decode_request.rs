//! Fuzzes the inference request decoder: JSON header / binary payload split, parameters, and
//! tensor decoding. Any input must give a request or a 4xx error, never a panic.
//!
//! The first two bytes choose the `Inference-Header-Content-Length` header (0xFFFF: none).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tandem_model::{DType, TensorSpec};
use tandem_protocol::wire::{decode_infer_request, HeaderMap, HeaderValue, ModelSpec, HEADER_CONTENT_LENGTH};

static SPEC: LazyLock<ModelSpec> = LazyLock::new(|| {
    let t =
        |name: &str, dtype, shape: &[usize]| TensorSpec { name: name.into(), dtype, shape: shape.to_vec() };
    ModelSpec::new(
        "m",
        "fd9d64a9026f39162ff5fe573db27a778af0069c4a304f7103dd4891631c9cd2",
        vec![t("y", DType::Fp32, &[1, 4]), t("n", DType::Int64, &[2])],
        vec![
            vec![t("x", DType::Fp32, &[1, 2, 2]), t("mask", DType::Bool, &[4])],
            vec![t("a", DType::Fp32, &[4]), t("idx", DType::Int64, &[2]), t("mask", DType::Bool, &[4])],
            vec![t("b", DType::Fp16, &[2, 2]), t("c", DType::Uint8, &[3])],
            vec![t("y", DType::Fp32, &[1, 4]), t("n", DType::Int64, &[2])],
        ],
    )
});

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let selector = u16::from_le_bytes([data[0], data[1]]);
    let body = &data[2..];
    let mut headers = HeaderMap::new();
    if selector != u16::MAX {
        headers.insert(HEADER_CONTENT_LENGTH, HeaderValue::from(usize::from(selector) % (body.len() + 2)));
    }
    if let Err(e) = decode_infer_request(&headers, body, &SPEC) {
        assert!(e.is_client_error(), "{e} is not a client error");
    }
});
