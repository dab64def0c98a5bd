//! The manifest of an exported model repository (`DIR/tandem-manifest.json`): which served
//! model holds the part after which cut, what it reads and answers, and the model file's hash.
//! `tandem export` writes it (`tandem_export`); the phone's plain-OIP transport reads it to
//! talk to KServe or Triton (docs/PROTOCOL.md, ADR 0002).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tandem_model::TensorSpec;

/// The manifest's file name inside an exported repository.
pub const MANIFEST_FILE: &str = "tandem-manifest.json";

/// The manifest format this crate writes and reads.
pub const MANIFEST_FORMAT: &str = "tandem-export/1";

/// What can go wrong reading or writing a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The served model name cannot name a directory and a Triton/KServe model.
    #[error("`{name}` cannot name a served model: use letters, digits, `_`, `-` and `.`")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A manifest that is not one `tandem export` wrote.
    #[error("{}: not a Tandem export manifest: {reason}", path.display())]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io { path: path.to_path_buf(), source }
}

/// The manifest of an exported repository (`DIR/tandem-manifest.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// One entry per exported model file.
    pub models: Vec<ExportedModel>,
}

/// One model file's exported cuts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedModel {
    /// The base name of its served models (`NAME` in `NAME_cutK`).
    pub name: String,
    /// The model file's name, for people.
    pub model_file: String,
    /// Lowercase hex SHA-256 of the model file: the phone must have the same file.
    pub model_hash: String,
    /// The model's number of cuts (so a phone can check its cut table matches).
    pub cut_count: usize,
    /// The exported cuts, by increasing id.
    pub cuts: Vec<ExportedCut>,
}

/// One served model: the part after one cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedCut {
    /// The cut id (`tandem cuts MODEL`).
    pub cut: usize,
    /// The name the server serves this part under (`NAME_cutK`).
    pub served_name: String,
    /// What the served model reads: the tensors crossing the cut (the model inputs for cut 0).
    pub inputs: Vec<TensorSpec>,
    /// What it answers: the model outputs.
    pub outputs: Vec<TensorSpec>,
    /// Bytes crossing the cut as float-as-stored.
    pub bytes: u64,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest { format: MANIFEST_FORMAT.into(), models: vec![] }
    }
}

impl Manifest {
    /// Reads a manifest: `path` is the file or the repository directory holding it.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let file = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
        let text = std::fs::read_to_string(&file).map_err(io_err(&file))?;
        let bad = |reason: String| ManifestError::BadManifest { path: file.clone(), reason };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(bad(format!("format `{}`, expected `{MANIFEST_FORMAT}`", manifest.format)));
        }
        manifest.validate().map_err(bad)?;
        Ok(manifest)
    }

    /// Writes the manifest as pretty JSON to `path` (a file).
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        let text = serde_json::to_string_pretty(self).expect("the manifest always serializes");
        std::fs::write(path, text + "\n").map_err(io_err(path))
    }

    /// Adds `entry`, replacing any entry of the same name.
    pub fn merge(&mut self, entry: ExportedModel) {
        self.models.retain(|m| m.name != entry.name);
        self.models.push(entry);
        self.models.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The entry exported from the model file with this hash (case-insensitive).
    pub fn by_hash(&self, hash: &str) -> Option<&ExportedModel> {
        self.models.iter().find(|m| m.model_hash.eq_ignore_ascii_case(hash))
    }

    /// The entry exported under this base name.
    pub fn by_name(&self, name: &str) -> Option<&ExportedModel> {
        self.models.iter().find(|m| m.name == name)
    }

    fn validate(&self) -> Result<(), String> {
        for m in &self.models {
            if m.model_hash.len() != 64 || !m.model_hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("model `{}`: `{}` is not a SHA-256 hex digest", m.name, m.model_hash));
            }
            for c in &m.cuts {
                if c.cut + 1 >= m.cut_count {
                    return Err(format!(
                        "model `{}`: cut {} is not below its last cut {}",
                        m.name,
                        c.cut,
                        m.cut_count.saturating_sub(1)
                    ));
                }
                check_served_name(&c.served_name).map_err(|e| e.to_string())?;
            }
            if m.cuts.windows(2).any(|w| w[0].cut >= w[1].cut) {
                return Err(format!("model `{}`: cuts are not listed once each in increasing order", m.name));
            }
        }
        Ok(())
    }
}

impl ExportedModel {
    /// The served model of cut `cut`, if it was exported.
    pub fn cut(&self, cut: usize) -> Option<&ExportedCut> {
        self.cuts.iter().find(|c| c.cut == cut)
    }
}

/// The served model name of cut `cut` of a model exported as `name`.
pub fn served_name(name: &str, cut: usize) -> String {
    format!("{name}_cut{cut}")
}

/// Checks that `name` can name a served model (a directory and a Triton/KServe model name).
pub fn check_served_name(name: &str) -> Result<(), ManifestError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ManifestError::BadName { name: name.into() })
    }
}
