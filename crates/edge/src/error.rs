//! The one error type of the edge server, and the one place it becomes an HTTP status.

use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What can go wrong while starting the edge server or serving a request.
///
/// [`EdgeError::status`] maps every variant to the HTTP status a client sees; the body is
/// always `{"error": "<the Display text>"}`.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The request is malformed: bad JSON, bad binary framing, bad parameters.
    #[error("{0}")]
    BadRequest(String),
    /// A tensor of the request is wrong (name, dtype, shape, length, encoding), or running
    /// the model failed; [`EdgeError::status`] tells the two apart.
    #[error(transparent)]
    Model(#[from] tandem_model::Error),
    /// The request names a model this server does not serve.
    #[error("unknown model `{name}`: this server serves {available:?}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names served.
        available: Vec<String>,
    },
    /// The request was cut from a different model file than the one served.
    #[error(
        "model hash mismatch for `{model}`: the request was cut from {got}, this server serves \
         {served}; use the same model file on both sides"
    )]
    HashMismatch {
        /// The model name.
        model: String,
        /// The hash of the file this server serves.
        served: String,
        /// The hash the request names.
        got: String,
    },
    /// The bearer token is missing or wrong.
    #[error("missing or wrong bearer token (send `Authorization: Bearer <token>`)")]
    Unauthorized,
    /// The request body is larger than the server accepts.
    #[error("request body larger than this server's limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// The body uses a `Content-Encoding` the server does not decode.
    #[error("Content-Encoding `{0}` is not supported: send the body uncompressed")]
    UnsupportedContentEncoding(String),
    /// Every compute slot is busy and the queue is full.
    #[error(
        "server overloaded: {in_flight} running and {queued} queued requests; retry after \
         {retry_after_s} s"
    )]
    Overloaded {
        /// Requests running.
        in_flight: usize,
        /// Requests waiting for a compute slot.
        queued: usize,
        /// Seconds the client should wait (sent as `Retry-After`).
        retry_after_s: u64,
    },
    /// The JSON part of the request is larger than the server accepts for JSON (binary
    /// tensor data has the larger body limit).
    #[error(
        "the request's JSON is larger than this server's limit of {limit_bytes} bytes for JSON; \
         send tensors as binary data (Inference-Header-Content-Length) instead"
    )]
    JsonTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// Every connection the server accepts is taken: only the health checks answer.
    #[error("connection limit reached: this connection may only ask /v2/health/*; retry after 1 s")]
    ConnectionLimit,
    /// A limit or timeout of the configuration is out of its range (startup only).
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The builder method or command-line flag.
        setting: &'static str,
        /// What is wrong, and the accepted range.
        reason: String,
    },
    /// The request body did not arrive within the per-request timeout.
    #[error("the request body did not arrive within the server's timeout of {timeout_ms} ms")]
    RequestTimeout {
        /// The timeout.
        timeout_ms: u64,
    },
    /// The request did not finish within the per-request timeout.
    #[error("the request did not finish within the server's timeout of {timeout_ms} ms")]
    Timeout {
        /// The timeout.
        timeout_ms: u64,
    },
    /// The cloud server (three tiers) failed or refused the forwarded request.
    #[error("cloud server {url}: {reason}")]
    Cloud {
        /// The cloud server.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// No endpoint has this path.
    #[error("no endpoint {method} {path}")]
    NotFound {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// The endpoint exists but not with this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// A bug: a panic in a model run, a lost task. Logged at error level.
    #[error("internal error: {0}")]
    Internal(String),
    /// The server's configuration is unusable (startup only).
    #[error("configuration: {0}")]
    Config(String),
    /// A file the configuration names could not be read (startup only).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The listening socket could not be opened (startup only).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl EdgeError {
    /// The HTTP status of this error: the only place errors become statuses.
    pub fn status(&self) -> StatusCode {
        use tandem_model::Error as Core;
        match self {
            EdgeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EdgeError::Model(e) => match e {
                Core::Shape { .. }
                | Core::DType { .. }
                | Core::BadTensor { .. }
                | Core::UnknownTensor { .. }
                | Core::UnknownCut { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            EdgeError::UnknownModel { .. } | EdgeError::NotFound { .. } => StatusCode::NOT_FOUND,
            EdgeError::HashMismatch { .. } => StatusCode::CONFLICT,
            EdgeError::Unauthorized => StatusCode::UNAUTHORIZED,
            EdgeError::PayloadTooLarge { .. } | EdgeError::JsonTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            EdgeError::ConnectionLimit => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::UnsupportedContentEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EdgeError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            EdgeError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            EdgeError::Cloud { .. } => StatusCode::BAD_GATEWAY,
            EdgeError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            EdgeError::Internal(_)
            | EdgeError::Config(_)
            | EdgeError::InvalidSetting { .. }
            | EdgeError::Io { .. }
            | EdgeError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        EdgeError::BadRequest(reason.into())
    }
}

impl From<tandem_protocol::WireError> for EdgeError {
    fn from(e: tandem_protocol::WireError) -> Self {
        use tandem_protocol::WireError as W;
        match e {
            W::BadRequest(reason) => EdgeError::BadRequest(reason),
            W::Model(e) => EdgeError::Model(e),
            W::HashMismatch { model, served, got } => EdgeError::HashMismatch { model, served, got },
            W::Internal(reason) => EdgeError::Internal(reason),
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error()
            && !matches!(self, EdgeError::Overloaded { .. } | EdgeError::ConnectionLimit)
        {
            log::warn!("status={} error=\"{}\"", status.as_u16(), self);
        }
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self {
            EdgeError::Overloaded { retry_after_s, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            EdgeError::ConnectionLimit => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            EdgeError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
