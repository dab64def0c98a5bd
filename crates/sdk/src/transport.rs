//! One interface to whatever serves the part after the cut: a [`Transport`] checks that the
//! server holds this model file, fetches what it says about its speed, says which cuts and
//! encodings it takes, encodes and sends one inference, and learns from the answers.
//!
//! Two implementations: [`crate::offload::TandemClient`] (a Tandem edge, every cut, Tandem's
//! encodings and times) and [`crate::plain::PlainLink`] (a plain Open Inference Protocol
//! server serving a `tandem export` repository). The session never asks which one it has.
//!
//! Every failure is classified into a [`FallbackReason`]; nothing here retries or falls
//! back by itself, and nothing here changes an encoding silently: [`Outgoing::decisions`]
//! says why the tensors travel otherwise than planned.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_protocol::wire::{EncodedBody, HeaderMap};
use tandem_protocol::WireError;

use crate::encoding::{self, EncodedTensor, Encoding};
use crate::netest::{LinkEstimate, TransferSample};
use crate::offload::EdgeEndpoint;
use crate::planner::EdgeProfile;
pub use crate::planner::UnusableEncoding;
use crate::report::{Decision, FallbackReason};
use crate::{DType, Model, NamedTensor, TensorSpec};

/// A boxed, sendable future: what the trait's async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an exchange with the server failed.
#[derive(Clone, Debug)]
pub struct OffloadError {
    /// The fallback reason the report shows.
    pub reason: FallbackReason,
    /// For people and logs; names no user data.
    pub detail: String,
    /// Whether request bytes may have left the phone.
    pub sent: bool,
}

impl OffloadError {
    /// An error for `reason`.
    pub fn new(reason: FallbackReason, detail: impl Into<String>, sent: bool) -> Self {
        OffloadError { reason, detail: detail.into(), sent }
    }

    /// An answer that could not be used.
    pub(crate) fn malformed(e: WireError) -> Self {
        OffloadError::new(FallbackReason::MalformedResponse, e.to_string(), true)
    }
}

/// Why a server cannot be used for this model.
#[derive(Clone, Debug)]
pub enum VerifyError {
    /// It serves another model file under this model's name: never offload to it. The text
    /// says what it serves (no user data).
    Mismatch(String),
    /// It could not be asked, or refused.
    Failed(OffloadError),
}

/// What a server can take now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capabilities {
    /// The cuts it takes a request at (a plain server: the exported cuts found ready);
    /// `None`: any.
    pub offloadable_cuts: Option<Vec<usize>>,
    /// The encodings it cannot decode.
    pub unusable_encodings: Vec<UnusableEncoding>,
}

impl Capabilities {
    /// Whether a request at `cut` can be sent.
    pub fn offloadable(&self, cut: usize) -> bool {
        self.offloadable_cuts.as_ref().is_none_or(|cuts| cuts.contains(&cut))
    }

    /// Why `encoding` cannot be used, if it cannot.
    pub fn unusable(&self, encoding: Encoding) -> Option<&str> {
        self.unusable_encodings.iter().find(|u| u.encoding == encoding).map(|u| u.reason.as_str())
    }
}

/// An inference request ready to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The body (with its JSON header's length when binary data follows).
    pub body: EncodedBody,
    /// The encoding the float32 crossing tensors travel in.
    pub encoding: Encoding,
    /// Why it is not the encoding asked for, if it is not.
    pub decisions: Vec<Decision>,
}

/// One inference to send.
pub struct Exchange<'a> {
    /// The cut the request's tensors cross.
    pub cut: usize,
    /// The request.
    pub request: EncodedBody,
    /// The outputs the answer must hold.
    pub expected: &'a [TensorSpec],
    /// The link model the plan used (a plain server's time is learned against it).
    pub link: &'a LinkEstimate,
    /// The server time the plan predicted, ms.
    pub predicted_edge_ms: f64,
}

/// A successful inference exchange.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The requested outputs, in the order asked for.
    pub outputs: Vec<NamedTensor>,
    /// The server's compute time, ms: what a Tandem edge reports; for a plain server, the
    /// plan's prediction.
    pub compute_ms: f64,
    /// The time a Tandem edge spent getting the built part (0 when cached), ms.
    pub prepare_ms: f64,
    /// The wait for a compute slot on the server, ms (0 for a plain server).
    pub queue_ms: f64,
    /// Send to first response byte, ms (upload, round trip and the server's time).
    pub first_byte_ms: f64,
    /// First to last response byte, ms.
    pub download_ms: f64,
    /// Response body bytes.
    pub bytes_down: u64,
    /// The cut the server ran after.
    pub edge_cut: Option<usize>,
    /// Three tiers: what the edge said of the cloud hop.
    pub cloud: CloudAnswer,
}

/// What a three-tier answer says of the cloud hop.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudAnswer {
    /// The cut where the cloud took over (`None`: it did not).
    pub cut: Option<usize>,
    /// The edge's round trip to the cloud, ms.
    pub round_trip_ms: Option<f64>,
    /// The cloud's own compute time, ms.
    pub compute_ms: Option<f64>,
    /// Why the edge finished the request itself.
    pub fallback_reason: Option<String>,
}

impl From<&tandem_protocol::client::EdgeTimes> for CloudAnswer {
    fn from(t: &tandem_protocol::client::EdgeTimes) -> Self {
        CloudAnswer {
            cut: t.cloud_cut,
            round_trip_ms: t.cloud_ms,
            compute_ms: t.cloud_compute_ms,
            fallback_reason: t.cloud_fallback_reason.clone(),
        }
    }
}

/// The cloud hop a request asks the edge for (three tiers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CloudHop {
    /// The edge runs up to this cut and forwards the rest to the cloud.
    pub cut: usize,
    /// The longest the edge may wait for the cloud before finishing itself, ms.
    pub timeout_ms: Option<u64>,
}

impl Answer {
    /// Everything the server says it spent, ms.
    pub fn server_ms(&self) -> f64 {
        self.compute_ms + self.queue_ms + self.prepare_ms
    }
}

/// Where the active link probe runs ([`crate::probe::probe`]).
pub struct ProbeTarget<'a> {
    /// The HTTP client.
    pub http: &'a reqwest::Client,
    /// The server's base URL.
    pub base_url: &'a str,
    /// Its bearer token.
    pub token: Option<&'a str>,
}

/// A server of the part after the cut, as the session uses it.
pub trait Transport: Send + Sync {
    /// What kind of server this is, for logs (`Tandem edge`, `plain OIP server`).
    fn kind(&self) -> &'static str;

    /// The server's base URL.
    fn base_url(&self) -> &str;

    /// The name the server serves the model under.
    fn model_name(&self) -> &str;

    /// The cuts and encodings it can take now.
    fn capabilities(&self) -> Capabilities;

    /// Checks that the server holds this model file (and, for a plain server, which
    /// exported parts are ready). `Ok`: a round-trip sample of the check, if it makes one.
    fn verify(&self) -> BoxFuture<'_, Result<Option<TransferSample>, VerifyError>>;

    /// Fetches the server's per-cut times and load, checked against the model (cuts it has
    /// not measured come from `estimate`). `Ok`: the fetch's transfer sample, if one was
    /// made (a plain server has no profile).
    fn fetch_profile<'a>(
        &'a self,
        estimate: &'a EdgeProfile,
    ) -> BoxFuture<'a, Result<Option<TransferSample>, OffloadError>>;

    /// The profile to plan with: what was fetched or learned, else `estimate`.
    fn planning_profile(&self, estimate: EdgeProfile) -> EdgeProfile;

    /// Drops the fetched profile (another model file, or an unusable profile).
    fn forget_profile(&self);

    /// Encodes the crossing tensors of a request: float32 ones in `encoding` when the server
    /// and the tensors allow it (else float32, with a decision saying why); `outputs`: the
    /// outputs to ask for (all the model's when empty); `cloud`: the cloud hop of a
    /// three-tier plan (a server without a cloud tier is never given one).
    fn encode(
        &self,
        id: &str,
        crossing: &[NamedTensor],
        encoding: Encoding,
        outputs: &[String],
        cloud: Option<CloudHop>,
    ) -> Outgoing;

    /// Sends one inference and decodes the answer, checked against `exchange.expected`. No
    /// timeout here: the caller wraps the future in its own (dropping it closes the
    /// connection).
    fn send<'a>(&'a self, exchange: Exchange<'a>) -> BoxFuture<'a, Result<Answer, OffloadError>>;

    /// Learns the server's load from an answer at `cut`; `true`: the load changed much,
    /// refresh the profile soon.
    fn observe(&self, cut: usize, answer: &Answer) -> bool;

    /// Where to probe the link, if the server has the probe endpoint.
    fn probe_target(&self) -> Option<ProbeTarget<'_>>;
}

/// Encodes crossing tensors: float32 tensors in `encoding`, others as they are. When one
/// float32 tensor cannot take it (float16 overflow, a NaN for int8), every tensor travels
/// as float32 and a decision says why, so an encoding never turns into a failure and the
/// request has one encoding.
pub fn encode_crossing(
    tensors: &[NamedTensor],
    encoding: Encoding,
) -> (Vec<EncodedTensor>, Encoding, Vec<Decision>) {
    let as_is =
        || tensors.iter().map(|t| EncodedTensor { tensor: t.clone(), encoding: Encoding::Fp32, int8: None });
    if encoding == Encoding::Fp32 {
        return (as_is().collect(), Encoding::Fp32, vec![]);
    }
    if !tensors.iter().any(|t| t.dtype == DType::Fp32) {
        let reason = "no float32 tensor crosses this cut: the tensors travel as they are".to_string();
        let decision = Decision::EncodingChanged { planned: encoding, sent: Encoding::Fp32, reason };
        return (as_is().collect(), Encoding::Fp32, vec![decision]);
    }
    let encoded: Result<Vec<EncodedTensor>, _> = tensors
        .iter()
        .map(|t| {
            let wanted = if t.dtype == DType::Fp32 { encoding } else { Encoding::Fp32 };
            encoding::encode(t, wanted)
        })
        .collect();
    match encoded {
        Ok(e) => (e, encoding, vec![]),
        Err(e) => {
            let reason = format!("a crossing tensor cannot travel as {encoding}: {e}");
            log::debug!("the request travels as fp32: {reason}");
            let decision = Decision::EncodingChanged { planned: encoding, sent: Encoding::Fp32, reason };
            (as_is().collect(), Encoding::Fp32, vec![decision])
        }
    }
}

/// The HTTP client of one session's server.
pub struct EdgeClient {
    http: reqwest::Client,
    base: String,
    model: String,
    token: Option<String>,
}

/// Bytes of the request line and headers reqwest sends besides the body (measured: ~200);
/// for the estimator's samples, which count what goes on the wire.
pub const HTTP_REQUEST_OVERHEAD_BYTES: u64 = 250;

/// A small answer with its timing, for round-trip samples.
pub(crate) struct Fetched {
    pub body: bytes::Bytes,
    pub first_byte_ms: f64,
    pub download_ms: f64,
}

impl Fetched {
    /// The transfer sample of this GET.
    pub(crate) fn sample(&self) -> TransferSample {
        TransferSample {
            bytes_up: HTTP_REQUEST_OVERHEAD_BYTES,
            upload_ms: self.first_byte_ms,
            bytes_down: self.body.len() as u64,
            download_ms: self.download_ms,
            rtt_ms: None,
            server_ms: 0.0,
        }
    }
}

/// A received answer: status, binary header length, body and timing.
pub(crate) struct Received {
    pub status: u16,
    pub header_len: Result<Option<usize>, WireError>,
    pub body: bytes::Bytes,
    pub first_byte_ms: f64,
    pub download_ms: f64,
}

impl EdgeClient {
    /// A client for `endpoint`, for the model at `model` (served under the endpoint's model
    /// name, by default the model file's stem).
    pub fn new(endpoint: &EdgeEndpoint, model: &Model, connect_timeout: Duration) -> Result<Self, String> {
        let name =
            match &endpoint.model_name {
                Some(n) => n.clone(),
                None => model.path().file_stem().and_then(|s| s.to_str()).map(str::to_string).ok_or_else(
                    || format!("{}: cannot name the model after this file", model.path().display()),
                )?,
            };
        let base = endpoint.url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("edge URL `{base}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("edge URL `{base}`: the scheme must be http or https"));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            // A phone talks to its edge directly; a desktop's proxy variables must not
            // reroute (or break) loopback and LAN edges.
            .no_proxy()
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &endpoint.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the CA certificate PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the CA certificate PEM holds no certificate".into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| format!("building the HTTP client: {}", error_chain(&e)))?;
        let token = endpoint.token.as_ref().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        Ok(EdgeClient { http, base, model: name, token })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The name the model is served under.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    pub(crate) fn probe_target(&self) -> ProbeTarget<'_> {
        ProbeTarget { http: &self.http, base_url: &self.base, token: self.token.as_deref() }
    }

    /// `{base}/v2/models/{model}{suffix}`.
    pub(crate) fn model_url(&self, model: &str, suffix: &str) -> String {
        format!("{}/v2/models/{model}{suffix}", self.base)
    }

    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// GETs `url`; any status but 2xx is an error.
    pub(crate) async fn get(&self, url: String) -> Result<Fetched, OffloadError> {
        let t0 = Instant::now();
        let response = self.authorize(self.http.get(url)).send().await.map_err(|e| classify(&e, false))?;
        let first_byte_ms = ms_since(t0);
        let status = response.status().as_u16();
        let t1 = Instant::now();
        let body = response.bytes().await.map_err(|e| classify(&e, true))?;
        let download_ms = ms_since(t1);
        if !(200..300).contains(&status) {
            return Err(status_error(status, &body));
        }
        Ok(Fetched { body, first_byte_ms, download_ms })
    }

    /// POSTs an inference request to `url` (binary with its header length, else JSON).
    pub(crate) async fn post_infer(
        &self,
        url: String,
        request: EncodedBody,
    ) -> Result<Received, OffloadError> {
        let mut rb = self.http.post(url);
        rb = match request.header_len {
            Some(len) => rb
                .header(tandem_protocol::HEADER_CONTENT_LENGTH, len)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream"),
            None => rb.header(reqwest::header::CONTENT_TYPE, "application/json"),
        };
        let t0 = Instant::now();
        let response = self.authorize(rb.body(request.body)).send().await.map_err(|e| classify(&e, true))?;
        let first_byte_ms = ms_since(t0);
        let status = response.status().as_u16();
        let headers: &HeaderMap = response.headers();
        let announced = headers.get(tandem_protocol::HEADER_CONTENT_LENGTH).cloned();
        let t1 = Instant::now();
        let body = response.bytes().await.map_err(|e| classify(&e, true))?;
        let download_ms = ms_since(t1);
        let mut h = HeaderMap::new();
        if let Some(v) = announced {
            h.insert(tandem_protocol::HEADER_CONTENT_LENGTH, v);
        }
        let header_len = tandem_protocol::wire::header_len(&h, body.len());
        Ok(Received { status, header_len, body, first_byte_ms, download_ms })
    }
}

use tandem_model::util::ms_since;

/// An error and its sources, joined: reqwest's own message alone says little
/// ("error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Classifies a transport error. `sent`: whether the request may have left.
pub(crate) fn classify(e: &reqwest::Error, sent: bool) -> OffloadError {
    let detail = error_chain(e);
    if e.is_connect() {
        OffloadError::new(FallbackReason::EdgeUnreachable, detail, false)
    } else if e.is_timeout() {
        OffloadError::new(FallbackReason::Timeout, detail, sent)
    } else {
        OffloadError::new(FallbackReason::LinkReset, detail, sent)
    }
}

/// The fallback reason of an HTTP error status, with the server's `{"error": ...}` message.
pub(crate) fn status_error(status: u16, body: &[u8]) -> OffloadError {
    let reason = match status {
        401 | 403 => FallbackReason::Unauthorized,
        404 => FallbackReason::ModelNotServed,
        408 => FallbackReason::Timeout,
        409 => FallbackReason::HashMismatch,
        500..=599 => FallbackReason::ServerError { status },
        _ => FallbackReason::Rejected { status },
    };
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let message: String = message.chars().take(300).collect();
    let detail = if message.is_empty() {
        format!("the edge answered HTTP {status}")
    } else {
        format!("the edge answered HTTP {status}: {message}")
    };
    OffloadError::new(reason, detail, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencodable_tensors_travel_as_fp32() {
        let big = NamedTensor::from_f32("big", vec![1], &[1e6]).unwrap();
        let ints = NamedTensor::new("shape", DType::Int64, vec![1], 3i64.to_le_bytes().to_vec()).unwrap();
        let (enc, sent, decisions) = encode_crossing(&[big.clone(), ints.clone()], Encoding::Fp16);
        assert_eq!((enc[0].encoding, &enc[0].tensor), (Encoding::Fp32, &big));
        assert_eq!((enc[1].encoding, &enc[1].tensor), (Encoding::Fp32, &ints));
        // Not silently: the request says it travels as fp32, and why.
        assert_eq!(sent, Encoding::Fp32);
        match decisions.as_slice() {
            [Decision::EncodingChanged { planned: Encoding::Fp16, sent: Encoding::Fp32, reason }] => {
                assert!(reason.contains("fp16"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let small = NamedTensor::from_f32("small", vec![1], &[0.5]).unwrap();
        let (enc, sent, decisions) = encode_crossing(&[small, ints], Encoding::Fp16);
        assert_eq!(
            (enc[0].encoding, enc[1].encoding, sent),
            (Encoding::Fp16, Encoding::Fp32, Encoding::Fp16)
        );
        assert!(decisions.is_empty());
    }

    #[test]
    fn statuses_map_to_reasons() {
        let reason = |s| status_error(s, br#"{"error":"nope"}"#).reason;
        assert_eq!(reason(401), FallbackReason::Unauthorized);
        assert_eq!(reason(409), FallbackReason::HashMismatch);
        assert_eq!(reason(503), FallbackReason::ServerError { status: 503 });
        assert_eq!(reason(413), FallbackReason::Rejected { status: 413 });
        assert!(status_error(500, br#"{"error":"boom"}"#).detail.contains("boom"));
    }
}
