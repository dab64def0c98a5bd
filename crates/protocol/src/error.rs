//! What a message can be wrong about. The edge maps each variant to an HTTP status in one
//! place (`tandem_edge::EdgeError`); the phone maps them to a fallback reason.

/// Why a request or response could not be decoded (or encoded).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The message is malformed: bad JSON, bad binary framing, bad parameters.
    #[error("{0}")]
    BadRequest(String),
    /// A tensor of the message does not fit the model (name, dtype, shape, length, encoding).
    #[error(transparent)]
    Model(#[from] tandem_model::Error),
    /// The request was cut from a different model file than the one served.
    #[error(
        "model hash mismatch for `{model}`: the request was cut from {got}, this server serves \
         {served}; use the same model file on both sides"
    )]
    HashMismatch {
        /// The model name.
        model: String,
        /// The hash of the file the server serves.
        served: String,
        /// The hash the request names.
        got: String,
    },
    /// A bug in the codec (an invariant that should hold did not).
    #[error("internal error: {0}")]
    Internal(String),
}

impl WireError {
    /// Whether the fault is the sender's (a 4xx for a server): everything but a codec bug or
    /// a model that fails to run.
    pub fn is_client_error(&self) -> bool {
        use tandem_model::Error as M;
        match self {
            WireError::BadRequest(_) | WireError::HashMismatch { .. } => true,
            WireError::Model(e) => matches!(
                e,
                M::Shape { .. }
                    | M::DType { .. }
                    | M::BadTensor { .. }
                    | M::UnknownTensor { .. }
                    | M::UnknownCut { .. }
            ),
            WireError::Internal(_) => false,
        }
    }

    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        WireError::BadRequest(reason.into())
    }
}
