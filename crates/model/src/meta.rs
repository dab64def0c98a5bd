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
    /// Per cut and codec: measured sizes, costs and fidelity (`tandem calibrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// What a model's output is, which decides how codec fidelity is measured and judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Class scores: top-1 agreement with float32 (and the largest relative error).
    #[default]
    Classifier,
    /// An embedding: cosine similarity to the float32 embedding.
    Embedding,
    /// Any other dense output: relative L2 error and cosine.
    Dense,
}

impl Task {
    /// Parses `classifier`, `embedding` or `dense`.
    pub fn parse(s: &str) -> Option<Task> {
        [Task::Classifier, Task::Embedding, Task::Dense].into_iter().find(|t| t.name() == s)
    }

    /// The task's name.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classifier => "classifier",
            Task::Embedding => "embedding",
            Task::Dense => "dense",
        }
    }
}

/// The results of `tandem calibrate`: per cut and codec, over representative inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// What the output is.
    pub task: Task,
    /// The inputs used (a description: folders, files, preprocessing).
    #[serde(default)]
    pub inputs: String,
    /// How many inputs were run.
    #[serde(default)]
    pub input_count: usize,
    /// The whole model's run time on the calibrating machine, ms (fastest of a few runs):
    /// the planner scales encode and decode times by each side's own whole-model time over
    /// this one, since a phone encodes as much slower as it computes. `None` (older
    /// sidecars): the times are used as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_ms: Option<f64>,
    /// The calibrated cuts.
    pub cuts: Vec<CutCalibration>,
}

/// One cut's calibration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CutCalibration {
    /// The cut id.
    pub cut: usize,
    /// Bytes of the crossing tensors as float32 (as the planner counts them).
    pub fp32_bytes: u64,
    /// Each measured codec.
    pub codecs: Vec<CodecCalibration>,
}

/// One codec at one cut, measured over the calibration inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CodecCalibration {
    /// The codec.
    pub encoding: Encoding,
    /// Mean bytes of the encoded crossing tensors (really encoded).
    pub mean_bytes: f64,
    /// 95th percentile of the encoded bytes.
    pub p95_bytes: u64,
    /// Mean milliseconds to encode the crossing tensors on the calibrating machine.
    pub encode_ms: f64,
    /// Mean milliseconds to decode them.
    pub decode_ms: f64,
    /// Share of inputs whose top-1 class equals float32's (classifiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1_agreement: Option<f64>,
    /// Largest relative error of an output value, `|y - x| / max|x|` per input, worst input.
    pub max_rel_err: f64,
    /// Smallest cosine similarity of the output to float32's over the inputs.
    pub min_cosine: f64,
    /// Largest relative L2 error of the output, `||y - x|| / ||x||`.
    pub max_rel_l2: f64,
}

impl CodecCalibration {
    /// Whether its fidelity meets the policy for `task`: top-1 agreement >= `1 - max_drop`
    /// for classifiers, smallest cosine >= `1 - max_drop / 5` otherwise (0.999 at the
    /// default 0.005).
    pub fn meets(&self, task: Task, max_drop: f64) -> bool {
        match task {
            Task::Classifier => self.top1_agreement.is_some_and(|a| a >= 1.0 - max_drop - 1e-12),
            Task::Embedding | Task::Dense => self.min_cosine >= 1.0 - max_drop / 5.0 - 1e-12,
        }
    }

    /// The accuracy drop the planner charges: top-1 disagreement for classifiers, `1 - cosine`
    /// otherwise.
    pub fn drop(&self, task: Task) -> f64 {
        match task {
            Task::Classifier => 1.0 - self.top1_agreement.unwrap_or(0.0),
            Task::Embedding | Task::Dense => (1.0 - self.min_cosine).max(0.0),
        }
    }

    /// The fidelity in words, for reports: `top-1 agreement 99.8%` or `cosine >= 0.9995`.
    pub fn fidelity_text(&self, task: Task) -> String {
        match task {
            Task::Classifier => format!("top-1 agreement {:.1}%", 100.0 * self.top1_agreement.unwrap_or(0.0)),
            Task::Embedding | Task::Dense => format!("cosine >= {:.4}", self.min_cosine),
        }
    }
}

impl Calibration {
    /// The calibration of `encoding` at `cut`, if measured.
    pub fn codec(&self, cut: usize, encoding: Encoding) -> Option<&CodecCalibration> {
        self.cuts.iter().find(|c| c.cut == cut)?.codecs.iter().find(|c| c.encoding == encoding)
    }
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
    /// It describes another model file (the model changed since it was calibrated).
    #[error("{}: the sidecar was made for the model with SHA-256 {recorded}, but this model's is {actual}: recalibrate (tandem calibrate) or remove the sidecar", path.display())]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The hash the sidecar records.
        recorded: String,
        /// The model's hash.
        actual: String,
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

    /// The metadata beside `model_path`, refused with [`MetaError::HashMismatch`] when it
    /// records a SHA-256 other than `model_hash` (an empty `sha256` is not checked).
    pub fn load_beside_checked(model_path: &Path, model_hash: &str) -> Result<Option<ModelMeta>, MetaError> {
        let meta = ModelMeta::load_beside(model_path)?;
        if let Some(m) = &meta {
            if !m.sha256.is_empty() && !m.sha256.eq_ignore_ascii_case(model_hash) {
                return Err(MetaError::HashMismatch {
                    path: ModelMeta::path_for(model_path),
                    recorded: m.sha256.clone(),
                    actual: model_hash.into(),
                });
            }
        }
        Ok(meta)
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
        if let Some(cal) = &self.calibration {
            for c in cal.cuts.iter().flat_map(|c| &c.codecs) {
                let rates = [c.top1_agreement.unwrap_or(1.0), c.min_cosine];
                let amounts = [c.mean_bytes, c.encode_ms, c.decode_ms];
                if amounts.iter().any(|a| !(a.is_finite() && *a >= 0.0))
                    || rates.iter().any(|r| !(-1.0..=1.0).contains(r))
                {
                    return Err(format!("calibration of {} has a bad size, time or fidelity", c.encoding));
                }
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
    fn a_sidecar_for_another_model_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("m.onnx");
        std::fs::write(dir.path().join("m.tandem.json"), r#"{"sha256":"abc"}"#).expect("write");
        let err = ModelMeta::load_beside_checked(&model, "def").unwrap_err();
        assert!(matches!(err, MetaError::HashMismatch { ref recorded, .. } if recorded == "abc"), "{err}");
        assert!(ModelMeta::load_beside_checked(&model, "ABC").expect("same hash").is_some());
        std::fs::write(dir.path().join("m.tandem.json"), "{}").expect("write");
        assert!(ModelMeta::load_beside_checked(&model, "def").expect("no hash recorded").is_some());
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
