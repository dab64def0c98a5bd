//! Helpers shared by the integration tests: paths of the bundled models and test data.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository's `models/` folder.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// A bundled model by file stem.
pub fn model_path(stem: &str) -> PathBuf {
    models_dir().join(format!("{stem}.onnx"))
}

/// A file in `models/testdata`.
pub fn testdata(name: &str) -> PathBuf {
    models_dir().join("testdata").join(name)
}

/// Every bundled model.
pub const BUNDLED: &[&str] = &["tiny_resnet", "face_embedder", "mobilenetv2", "face_detector"];
