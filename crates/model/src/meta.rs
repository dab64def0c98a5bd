//! A model's metadata file, `NAME.tandem.json` next to `NAME.onnx` (optional): its exits
//! with their accuracy, and the accuracy cost of each tensor encoding. The planner reads it
//! for deadlines with early exits and for choosing an encoding.
//!
//! ```json
//! { "exits": [ {"name": "exit1", "output": "exit1", "accuracy": 0.855, "macs": 115456}, ... ],
//!   "encodings": [ {"encoding": "fp16", "accuracy_drop": 0.0}, {"encoding": "int8", "accuracy_drop": 0.0002} ] }
//! ```
//!
//! An optional `preprocessing` object says how a camera frame becomes the model's input (size,
//! layout, channel order, resize, mean and std): see [`crate::preprocess`]; the mobile frame
//! helpers read it. Sidecars without it read as before.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::encoding::Encoding;

/// One exit (classifier head) of a multi-exit model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitMeta {
    /// The exit's name in plans and reports.
    pub name: String,
    /// The ONNX output the exit produces.
    pub output: String,
    /// Its accuracy on the model's test set, 0..=1.
    pub accuracy: f64,
    /// Multiply-accumulates needed to compute it from the input.
    #[serde(default)]
    pub macs: u64,
}

/// The measured cost of sending crossing tensors in one encoding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodingMeta {
    /// The encoding.
    pub encoding: Encoding,
    /// The worst test-accuracy drop it caused at any cut and exit, 0..=1 (0.01 = one point).
    pub accuracy_drop: f64,
}

/// The contents of a `*.tandem.json` file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The model file the metadata describes.
    #[serde(default)]
    pub model: String,
    /// Its SHA-256, if recorded.
    #[serde(default)]
    pub sha256: String,
    /// The exits, from the earliest to the final one. Empty: a single-exit model.
    #[serde(default)]
    pub exits: Vec<ExitMeta>,
    /// Encodings with a measured accuracy cost. An encoding not listed has an unknown cost and
    /// is only used when the policy accepts unmeasured encodings.
    #[serde(default)]
    pub encodings: Vec<EncodingMeta>,
    /// How a camera frame becomes the model's input (optional; see [`crate::preprocess`]):
    /// what the Kotlin and Swift frame helpers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<crate::preprocess::Preprocessing>,
}

/// Why a metadata file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// It could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It is not valid metadata.
    #[error("{}: invalid model metadata: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ModelMeta {
    /// Where the metadata of the model at `model_path` lives: `NAME.tandem.json` beside it.
    pub fn path_for(model_path: &Path) -> PathBuf {
        model_path.with_extension("tandem.json")
    }

    /// Reads and checks a metadata file.
    pub fn load(path: &Path) -> Result<ModelMeta, MetaError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| MetaError::Io { path: path.into(), source })?;
        let meta: ModelMeta = serde_json::from_str(&text)
            .map_err(|e| MetaError::Invalid { path: path.into(), reason: e.to_string() })?;
        meta.validate().map_err(|reason| MetaError::Invalid { path: path.into(), reason })?;
        Ok(meta)
    }

    /// The metadata beside `model_path`, `Ok(None)` if there is none.
    pub fn load_beside(model_path: &Path) -> Result<Option<ModelMeta>, MetaError> {
        let path = ModelMeta::path_for(model_path);
        if path.exists() {
            ModelMeta::load(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Accuracies in 0..=1, drops in 0..=1, unique exit names and outputs.
    pub fn validate(&self) -> Result<(), String> {
        for (i, e) in self.exits.iter().enumerate() {
            if !(0.0..=1.0).contains(&e.accuracy) {
                return Err(format!("exit `{}` has accuracy {}", e.name, e.accuracy));
            }
            if self.exits[..i].iter().any(|o| o.name == e.name || o.output == e.output) {
                return Err(format!("exit `{}` is listed twice", e.name));
            }
        }
        for e in &self.encodings {
            if !(0.0..=1.0).contains(&e.accuracy_drop) {
                return Err(format!("encoding {} has accuracy drop {}", e.encoding, e.accuracy_drop));
            }
        }
        if let Some(p) = &self.preprocessing {
            p.validate()?;
        }
        Ok(())
    }

    /// The measured accuracy drop of `encoding` (0 for float32), `None` if unmeasured.
    pub fn accuracy_drop(&self, encoding: Encoding) -> Option<f64> {
        if encoding == Encoding::Fp32 {
            return Some(0.0);
        }
        self.encodings.iter().find(|e| e.encoding == encoding).map(|e| e.accuracy_drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_committed_branchynet_metadata() {
        let model = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/branchynet_fmnist.onnx"));
        let meta = ModelMeta::load_beside(model).expect("valid").expect("present");
        assert_eq!(meta.exits.len(), 3);
        assert!(
            meta.exits.windows(2).all(|w| w[0].accuracy < w[1].accuracy),
            "later exits are more accurate"
        );
        assert!(meta.accuracy_drop(Encoding::Int8).is_some());
        assert_eq!(meta.accuracy_drop(Encoding::Fp32), Some(0.0));
        assert_eq!(meta.preprocessing, None, "a sidecar without the key still reads");
    }

    #[test]
    fn loads_the_face_embedder_preprocessing() {
        let model = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/face_embedder.onnx"));
        let meta = ModelMeta::load_beside(model).expect("valid").expect("present");
        let p = meta.preprocessing.expect("face_embedder says how to fill its input");
        assert_eq!(p.shape(), vec![1, 3, 150, 150], "models/README.md: [1,3,150,150] RGB 0..255");
        assert_eq!((p.mean.clone(), p.std.clone()), (vec![0.0; 3], vec![1.0; 3]), "it normalises in-graph");
    }

    #[test]
    fn rejects_bad_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.tandem.json");
        for bad in [
            r#"{"exits":[{"name":"a","output":"a","accuracy":1.5}]}"#,
            r#"{"exits":[{"name":"a","output":"a","accuracy":0.5},{"name":"a","output":"b","accuracy":0.6}]}"#,
            r#"{"encodings":[{"encoding":"int8","accuracy_drop":-0.1}]}"#,
            r#"{"encodings":[{"encoding":"int4","accuracy_drop":0.1}]}"#,
            r#"{"preprocessing":{"width":8,"height":8,"std":[1,0,1]}}"#,
            r#"{"preprocessing":{"width":8}}"#,
            "not json",
        ] {
            std::fs::write(&path, bad).expect("write");
            assert!(matches!(ModelMeta::load(&path), Err(MetaError::Invalid { .. })), "{bad}");
        }
        assert!(ModelMeta::load_beside(&dir.path().join("none.onnx")).expect("no file is fine").is_none());
    }
}
