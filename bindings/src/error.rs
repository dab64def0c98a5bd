//! The one error type of the bindings, and the one place core errors are mapped to it.
//!
//! Variants are what a caller can act on. Network faults are not errors: a request that
//! could not use the edge is finished on the phone and its report says why.

use tandem_sdk as tc;

/// What can go wrong in a Tandem call. Kotlin sees it as `TandemException`, Swift as
/// `TandemError`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TandemError {
    /// The model file cannot be used: missing, unreadable, not ONNX, or an operator Tandem
    /// cannot run. Ship a supported model file.
    #[error("model: {reason}")]
    Model {
        /// What is wrong, naming the file, node or operator.
        reason: String,
    },
    /// The input tensors do not fit the model: name, element type, shape or byte length.
    /// Fix the caller's tensors.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong, naming the tensor.
        reason: String,
    },
    /// The client configuration is unusable: edge URL, token, policy.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The model can only run on the edge (the phone's engine lacks one of its operators) and
    /// the edge could not take this request (offline, unreachable, failed). Retry later.
    #[error("edge required: {reason}")]
    EdgeRequired {
        /// Why the model needs the edge, and why the edge could not take the request.
        reason: String,
    },
    /// A platform callback (signals, log sink) failed with an exception.
    #[error("callback failed: {reason}")]
    Callback {
        /// The foreign exception, as text.
        reason: String,
    },
    /// The client was closed; create a new one.
    #[error("the client is closed")]
    Closed,
    /// A bug in Tandem (it panicked). The client stays usable; please report it.
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TandemError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TandemError::Callback { reason: e.reason }
    }
}

impl From<tc::Error> for TandemError {
    fn from(e: tc::Error) -> Self {
        let reason = e.to_string();
        match e {
            tc::Error::Io { .. }
            | tc::Error::NotOnnx { .. }
            | tc::Error::UnsupportedOperator { .. }
            | tc::Error::Opset { .. }
            | tc::Error::ExternalData { .. }
            | tc::Error::SymbolicShape { .. }
            | tc::Error::Npy { .. } => TandemError::Model { reason },
            tc::Error::Shape { .. }
            | tc::Error::DType { .. }
            | tc::Error::BadTensor { .. }
            | tc::Error::UnknownTensor { .. } => TandemError::InvalidInput { reason },
            tc::Error::UnknownCut { .. } => TandemError::Config { reason },
            // tract failing on inputs that passed every check is a bug to report, not the
            // caller's fault
            tc::Error::Engine { .. } => TandemError::Internal { reason },
        }
    }
}

impl From<tc::SessionError> for TandemError {
    fn from(e: tc::SessionError) -> Self {
        match e {
            tc::SessionError::Load(inner) => match TandemError::from(inner) {
                // reading or parsing the model file is the model's problem whatever the kind
                TandemError::InvalidInput { reason } | TandemError::Internal { reason } => {
                    TandemError::Model { reason }
                }
                other => other,
            },
            tc::SessionError::InvalidInput(inner) => TandemError::InvalidInput { reason: inner.to_string() },
            tc::SessionError::InvalidOptions { reason } => TandemError::InvalidInput { reason },
            tc::SessionError::Config { reason } => TandemError::Config { reason },
            tc::SessionError::Closed => TandemError::Closed,
            e @ tc::SessionError::EdgeRequired { .. } => TandemError::EdgeRequired { reason: e.to_string() },
            e @ (tc::SessionError::Engine(_)
            | tc::SessionError::Plan(_)
            | tc::SessionError::Internal { .. }) => TandemError::Internal { reason: e.to_string() },
        }
    }
}
