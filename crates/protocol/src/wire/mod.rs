//! The wire format: Open Inference Protocol (KServe v2) REST inference requests and
//! responses, with the binary tensor data extension and Tandem's parameters.
//!
//! Everything here is a pure function of bytes and a [`ModelSpec`], so it can be fuzzed and
//! property-tested without a server. `docs/PROTOCOL.md` is the prose version.

use std::collections::HashSet;

pub use http::{HeaderMap, HeaderValue};
use tandem_model::encoding::Encoding;
use tandem_model::{Model, NamedTensor, TensorSpec};

pub use crate::error::WireError;

mod encode;
mod json;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use encode::{encode_infer_request, encode_infer_response, RequestOptions};
pub(crate) use encode::{encode_tensors, join, tandem_parameters, TensorOut};
pub use json::{MAX_DIMS, MAX_PARAMETERS, MAX_TENSORS};
pub use request::{decode_infer_request, header_len, parse_byte_count};
pub use response::{decode_infer_response, InferResponse};

/// The binary tensor data extension's header: the length of the JSON part of the body.
pub const HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Names of the request, tensor and response parameters this server reads and writes.
pub mod param {
    /// Request: hex SHA-256 of the model file the request's tensors were cut from.
    pub const MODEL_HASH: &str = "tandem_model_hash";
    /// Request (three tiers): run only up to this later cut and forward the rest to the
    /// cloud server. Also a response parameter: the cut the cloud took over at.
    pub const CLOUD_CUT: &str = "tandem_cloud_cut";
    /// Old name of [`CLOUD_CUT`], still accepted in requests (not with it).
    pub const UPSTREAM_CUT: &str = "tandem_upstream_cut";
    /// Request (three tiers): the longest the server may wait for the cloud server, in
    /// milliseconds, before finishing the rest itself (at most its own `--cloud-timeout-ms`).
    pub const CLOUD_TIMEOUT_MS: &str = "tandem_cloud_timeout_ms";
    /// Response (three tiers): why the server finished the request itself instead of the
    /// cloud server (unreachable, too slow, refused, garbage); absent when the cloud answered.
    pub const CLOUD_FALLBACK_REASON: &str = "tandem_cloud_fallback_reason";
    /// Input tensor: `fp32` (default), `fp16` or `int8`.
    pub const ENCODING: &str = "tandem_encoding";
    /// Input tensor, int8 encoding: the quantization step.
    pub const SCALE: &str = "tandem_scale";
    /// Input tensor, int8 encoding: the quantized value of zero.
    pub const ZERO_POINT: &str = "tandem_zero_point";
    /// Response: milliseconds the server spent running its part of the model.
    pub const COMPUTE_MS: &str = "tandem_compute_ms";
    /// Response: milliseconds the request waited for a compute slot.
    pub const QUEUE_MS: &str = "tandem_queue_ms";
    /// Response: milliseconds spent getting the built part (0 when cached; a build otherwise).
    pub const PREPARE_MS: &str = "tandem_prepare_ms";
    /// Response: the cut whose part after it the server ran.
    pub const CUT: &str = "tandem_cut";
    /// Response: the cut where the server's part ended: the last cut, or earlier when every
    /// requested output (an early exit) exists there, or the cloud cut (three tiers).
    pub const END_CUT: &str = "tandem_end_cut";
    /// Response (three tiers): round trip to the cloud server, in milliseconds.
    pub const CLOUD_MS: &str = "tandem_cloud_ms";
    /// Response (three tiers): the cloud server's own compute time, in milliseconds.
    pub const CLOUD_COMPUTE_MS: &str = "tandem_cloud_compute_ms";
    /// Old name of [`CLOUD_MS`]: older edges send it; the response decoder maps it.
    pub const UPSTREAM_MS: &str = "tandem_upstream_ms";
    /// Old name of [`CLOUD_COMPUTE_MS`]: older edges send it; the response decoder maps it.
    pub const UPSTREAM_COMPUTE_MS: &str = "tandem_upstream_compute_ms";
    /// Response parameters renamed when the third tier became "cloud" (ADR 0006): (old,
    /// new). The edge writes both; the response decoder adds the new ones to an older
    /// edge's answer.
    pub const RENAMED: [(&str, &str); 3] =
        [(UPSTREAM_CUT, CLOUD_CUT), (UPSTREAM_MS, CLOUD_MS), (UPSTREAM_COMPUTE_MS, CLOUD_COMPUTE_MS)];
    /// Binary extension, input or output tensor: bytes of its data in the binary part.
    pub const BINARY_DATA_SIZE: &str = "binary_data_size";
    /// Binary extension, requested output: send it as binary.
    pub const BINARY_DATA: &str = "binary_data";
    /// Binary extension, request: send every output as binary unless it says otherwise.
    pub const BINARY_DATA_OUTPUT: &str = "binary_data_output";
}

/// What the decoder needs to know about a served model: its identity, its outputs, and the
/// tensors crossing each of its cuts (cut 0's are the model inputs).
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// The name the model is served under.
    pub name: String,
    /// Lowercase hex SHA-256 of the model file.
    pub hash: String,
    /// The model outputs.
    pub outputs: Vec<TensorSpec>,
    /// The tensors crossing each cut, by cut id.
    pub cuts: Vec<Vec<TensorSpec>>,
    known: HashSet<String>,
}

impl ModelSpec {
    /// A spec from its parts; `cuts` must not be empty.
    pub fn new(
        name: impl Into<String>,
        hash: impl Into<String>,
        outputs: Vec<TensorSpec>,
        cuts: Vec<Vec<TensorSpec>>,
    ) -> Self {
        let known = cuts.iter().flatten().map(|t| t.name.clone()).collect();
        ModelSpec { name: name.into(), hash: hash.into(), outputs, cuts, known }
    }

    /// The spec of a loaded model served as `name`.
    pub fn from_model(name: impl Into<String>, model: &Model) -> Self {
        let cuts = model
            .cuts()
            .iter()
            .map(|c| if c.id == 0 { model.inputs().to_vec() } else { c.tensors.clone() })
            .collect();
        ModelSpec::new(name, model.hash(), model.outputs().to_vec(), cuts)
    }

    /// The last cut's id (the whole model runs before it).
    pub fn last_cut(&self) -> usize {
        self.cuts.len().saturating_sub(1)
    }

    /// The first cut at or after `from` whose crossing tensors include every one of `outputs`:
    /// the part between `from` and it computes them (an early exit). The last cut when none
    /// does (the whole rest of the model).
    pub fn first_cut_producing(&self, from: usize, outputs: &[RequestedOutput]) -> usize {
        let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
        tandem_model::first_cut_with_outputs(self.cuts.iter().map(Vec::as_slice), from, &names)
            .unwrap_or(self.last_cut())
    }

    /// The cut whose crossing tensors are exactly `names` (the first, if several are).
    pub fn cut_by_names(&self, names: &[&str]) -> Option<usize> {
        let wanted: HashSet<&str> = names.iter().copied().collect();
        self.cuts.iter().position(|tensors| {
            tensors.len() == wanted.len() && tensors.iter().all(|t| wanted.contains(t.name.as_str()))
        })
    }
}

/// One output the client asked for, and whether it wants it as binary data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedOutput {
    /// The output tensor's name.
    pub name: String,
    /// Send its data in the binary part of the response.
    pub binary: bool,
}

/// A decoded, validated inference request.
#[derive(Debug)]
pub struct InferRequest {
    /// The client's request id, echoed in the response.
    pub id: Option<String>,
    /// The cut the inputs cross (0: the model's own inputs).
    pub cut: usize,
    /// The input tensors, decoded to the dtype the model expects, in the cut's order.
    pub inputs: Vec<NamedTensor>,
    /// How each input travelled, in the same order.
    pub encodings: Vec<Encoding>,
    /// The outputs to send back, in order.
    pub outputs: Vec<RequestedOutput>,
    /// Three tiers: run up to this cut and forward the rest to the cloud server
    /// (`tandem_cloud_cut`, or its old name `tandem_upstream_cut`).
    pub cloud_cut: Option<usize>,
    /// Three tiers: the longest the client lets the server wait for the cloud, ms.
    pub cloud_timeout_ms: Option<u64>,
    /// The model hash the request named, if any.
    pub model_hash: Option<String>,
}

/// A body to send: JSON, optionally followed by binary tensor data.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBody {
    /// Length of the JSON part when binary data follows it (the value of the
    /// `Inference-Header-Content-Length` header); `None` for a pure JSON body.
    pub header_len: Option<usize>,
    /// The body.
    pub body: Vec<u8>,
}
