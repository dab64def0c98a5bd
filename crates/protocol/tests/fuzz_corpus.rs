//! Replays every input of the fuzz target's seeds and committed corpus
//! (`crates/protocol/fuzz/{seeds,corpus}/decode_request`) through the request decoder, the
//! way the fuzz target reads them: each must give a request or a client error, never a
//! panic. Runs on stable in every `cargo test`; `scripts/fuzz.sh` fuzzes on from them.

use std::path::PathBuf;

use tandem_model::{DType, TensorSpec};
use tandem_protocol::wire::{decode_infer_request, HeaderMap, HeaderValue, ModelSpec, HEADER_CONTENT_LENGTH};

/// The fuzz target's model spec (`fuzz/fuzz_targets/decode_request.rs`).
fn spec() -> ModelSpec {
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
}

/// What the fuzz target does with one input; `Ok(true)` for a decoded request.
fn replay(data: &[u8], spec: &ModelSpec) -> Result<bool, String> {
    if data.len() < 2 {
        return Ok(false);
    }
    let selector = u16::from_le_bytes([data[0], data[1]]);
    let body = &data[2..];
    let mut headers = HeaderMap::new();
    if selector != u16::MAX {
        headers.insert(HEADER_CONTENT_LENGTH, HeaderValue::from(usize::from(selector) % (body.len() + 2)));
    }
    match decode_infer_request(&headers, body, spec) {
        Ok(_) => Ok(true),
        Err(e) if e.is_client_error() => Ok(false),
        Err(e) => Err(format!("{e} is not a client error")),
    }
}

#[test]
fn every_seed_and_corpus_input_decodes_or_is_a_client_error() {
    let spec = spec();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let (mut files, mut decoded) = (0, 0);
    for dir in ["seeds/decode_request", "corpus/decode_request"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let data = std::fs::read(&path).expect("readable");
            let result = std::panic::catch_unwind(|| replay(&data, &spec));
            match result {
                Ok(Ok(ok)) => decoded += usize::from(ok),
                Ok(Err(e)) => panic!("{}: {e}", path.display()),
                Err(_) => panic!("{}: the decoder panicked", path.display()),
            }
            files += 1;
        }
    }
    assert!(files >= 30, "only {files} inputs found");
    assert!(decoded >= 4, "only {decoded} of {files} inputs decoded: the seeds should");
}
