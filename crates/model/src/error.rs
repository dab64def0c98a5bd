//! The one error type of `tandem-core`.
//!
//! Every variant names what a caller can act on: the file, the node, the tensor or the cut
//! that was wrong. Engine failures from tract keep their full context chain as text.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when loading, cutting or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable ONNX model (truncated, not protobuf, no graph...).
    #[error("{}: not a valid ONNX model: {reason}", path.display())]
    NotOnnx {
        /// The model file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The model uses an operator the engine cannot run.
    #[error("node `{node}` uses operator `{op_type}`, which tract does not support")]
    UnsupportedOperator {
        /// ONNX node name.
        node: String,
        /// ONNX operator type.
        op_type: String,
    },
    /// The model imports a newer version of the standard ONNX operator set than the engine
    /// knows: its operators may mean something else, so it is refused rather than guessed.
    #[error("{}: opset {version} is newer than {max}, the newest this engine supports; export with opset <= {max}", path.display())]
    Opset {
        /// The model file.
        path: PathBuf,
        /// The model's opset for the default (`ai.onnx`) domain.
        version: i64,
        /// The newest supported opset.
        max: i64,
    },
    /// A weight stored outside the model file (ONNX external data) is missing.
    #[error("{}: tensor `{tensor}` keeps its data in `{}`, which cannot be read: {reason}", path.display(), file.display())]
    ExternalData {
        /// The model file.
        path: PathBuf,
        /// The initializer whose data is external.
        tensor: String,
        /// The external data file, as the model names it resolved against the model's folder.
        file: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// An input tensor does not have the shape the model needs.
    #[error("tensor `{tensor}`: expected shape {expected}, got {got:?}")]
    Shape {
        /// Tensor name.
        tensor: String,
        /// What the model expects (may contain symbolic dimensions).
        expected: String,
        /// What was given.
        got: Vec<usize>,
    },
    /// An input tensor does not have the element type the model needs.
    #[error("tensor `{tensor}`: expected {expected}, got {got}")]
    DType {
        /// Tensor name.
        tensor: String,
        /// Expected element type.
        expected: String,
        /// Given element type.
        got: String,
    },
    /// A tensor's declared shape does not match its byte length.
    #[error("tensor `{tensor}`: {reason}")]
    BadTensor {
        /// Tensor name.
        tensor: String,
        /// What is inconsistent.
        reason: String,
    },
    /// The model has a dimension that is not known and was not given.
    #[error("tensor `{tensor}` has shape {shape} with unknown dimensions: give a concrete input shape (e.g. --input IN.npy)")]
    SymbolicShape {
        /// Tensor name.
        tensor: String,
        /// The shape as tract sees it.
        shape: String,
    },
    /// A cut id outside the model's cut table.
    #[error("unknown cut {id}: this model has cuts 0..={last}")]
    UnknownCut {
        /// The id asked for.
        id: usize,
        /// The last valid id.
        last: usize,
    },
    /// A tensor name the model (or the cut) does not know.
    #[error("unknown tensor `{name}`: {reason}")]
    UnknownTensor {
        /// The name given.
        name: String,
        /// Where it was looked for.
        reason: String,
    },
    /// A malformed or unsupported `.npy` file.
    #[error("{}: bad .npy file: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// tract failed to analyse, optimise or run a (part of a) model.
    #[error("{context}: {reason}")]
    Engine {
        /// What Tandem was doing.
        context: String,
        /// tract's error chain.
        reason: String,
    },
}

impl Error {
    /// Wraps a tract error with what Tandem was doing when it happened.
    pub fn engine(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        // `{:#}` on anyhow errors prints the whole context chain, without a backtrace.
        let reason = format!("{err:#}").replace('\n', " ");
        Error::Engine { context: context.into(), reason }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
