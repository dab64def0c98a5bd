//! The one error type of `tandem-faceid`.
//!
//! Every variant is something a caller can act on: ask for another photo (no face, several
//! faces, a corrupt file), enroll first, or fix the installation (a model that does not load).

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = FaceError> = std::result::Result<T, E>;

/// What can go wrong between a photo and a match decision.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// The detector found no face in the image.
    #[error("no face found")]
    NoFace,
    /// The detector found more than one face: which one to verify is ambiguous.
    #[error("{0} faces found, expected exactly one")]
    MultipleFaces(usize),
    /// The file is not a decodable JPEG or PNG image (truncated, wrong format, garbage).
    #[error("{}: not a readable JPEG or PNG image: {reason}", path.display())]
    CorruptImage {
        /// The file (or the label given to in-memory bytes).
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A file could not be read at all.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Raw pixels whose size does not match the stated dimensions.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// `verify` was called before any face was enrolled.
    #[error("no face is enrolled: enroll at least one photo first")]
    NotEnrolled,
    /// A descriptor is not the length the enrollment expects (another embedder model?).
    #[error("descriptor has {got} values, expected {expected}")]
    DescriptorLength {
        /// The enrollment's descriptor length.
        expected: usize,
        /// The descriptor given.
        got: usize,
    },
    /// A model output was missing or not what this pipeline expects.
    #[error("unexpected model output: {0}")]
    ModelOutput(String),
    /// Loading or running a model failed in the engine.
    #[error(transparent)]
    Model(#[from] tandem_sdk::Error),
}

impl FaceError {
    /// Whether the error is about the picture (retake it) rather than the installation.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FaceError::NoFace
                | FaceError::MultipleFaces(_)
                | FaceError::CorruptImage { .. }
                | FaceError::BadFrame(_)
                | FaceError::Io { .. }
        )
    }
}
