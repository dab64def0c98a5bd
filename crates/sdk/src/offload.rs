//! The Tandem edge's client: the [`Transport`] of an edge that speaks the Open Inference
//! Protocol with Tandem's extensions (`docs/PROTOCOL.md`), over reqwest and rustls.
//!
//! Requests carry the crossing tensors with the binary tensor data extension: a JSON header
//! (`Inference-Header-Content-Length` bytes) followed by the tensors' bytes, in the plan's
//! encoding, with the model hash. The edge answers its own times and serves a profile of
//! its per-cut times and load, which this client keeps, adjusted by the load seen in answers.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tandem_protocol::client::{self, TensorData};
use tandem_protocol::wire::{RequestOptions, RequestedOutput};

use crate::encoding::Encoding;
use crate::netest::TransferSample;
use crate::planner::EdgeProfile;
use crate::report::FallbackReason;
use crate::transport::{
    encode_crossing, Answer, BoxFuture, Capabilities, CloudAnswer, CloudHop, EdgeClient, Exchange,
    OffloadError, Outgoing, ProbeTarget, Transport, VerifyError,
};
use crate::{Model, NamedTensor};
use tandem_protocol::profile::CloudInfo;

/// Where the edge is and how to talk to it.
#[derive(Clone, Default)]
pub struct EdgeEndpoint {
    /// Base URL, `http://host:port` or `https://host:port` (a path prefix is kept).
    pub url: String,
    /// Bearer token the edge requires (`tandem edge --token-file`).
    pub token: Option<String>,
    /// Extra root certificates to trust, PEM (one or several): a private CA, or a test
    /// server's self-signed certificate. The public web roots are always trusted too.
    pub ca_pem: Option<Vec<u8>>,
    /// The name the edge serves the model under; by default the model file's stem
    /// (`face_embedder.onnx` is served as `face_embedder`).
    pub model_name: Option<String>,
}

// The token is a secret: never print it.
impl std::fmt::Debug for EdgeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeEndpoint")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(Vec::len))
            .field("model_name", &self.model_name)
            .finish()
    }
}

impl EdgeEndpoint {
    /// An endpoint at `url` without a token.
    pub fn new(url: impl Into<String>) -> Self {
        EdgeEndpoint { url: url.into(), ..Default::default() }
    }

    /// With a bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Also trusting these root certificates (PEM).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// With the name the edge serves the model under.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = Some(name.into());
        self
    }
}

/// What a session learns about a Tandem edge's speed and load.
#[derive(Default)]
struct Learned {
    /// The fetched profile, checked against the model.
    profile: Option<EdgeProfile>,
    /// Queue wait observed in answers (moving average), ms.
    observed_queue_ms: Option<f64>,
    /// Observed compute time over the profile's (moving average): the edge's load.
    compute_ratio: Option<f64>,
}

/// A session's link to a Tandem edge.
pub struct TandemClient {
    client: EdgeClient,
    model_hash: String,
    cut_count: usize,
    learned: Mutex<Learned>,
}

impl TandemClient {
    /// A link to the edge at `endpoint` for `model`.
    pub fn new(endpoint: &EdgeEndpoint, model: &Model, connect_timeout: Duration) -> Result<Self, String> {
        Ok(TandemClient {
            client: EdgeClient::new(endpoint, model, connect_timeout)?,
            model_hash: model.hash().to_string(),
            cut_count: model.cuts().len(),
            learned: Mutex::new(Learned::default()),
        })
    }

    fn learned(&self) -> MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model hash the edge serves under this model's name (`GET /v2/models/{m}`);
    /// `None` if the edge does not say.
    async fn served_hash(&self) -> Result<Option<String>, OffloadError> {
        let fetched = self.client.get(self.client.model_url(self.client.model_name(), "")).await?;
        client::decode_model_hash(&fetched.body).map_err(OffloadError::malformed)
    }

    async fn verify_hash(&self) -> Result<Option<TransferSample>, VerifyError> {
        match self.served_hash().await.map_err(VerifyError::Failed)? {
            Some(h) if h != self.model_hash => {
                Err(VerifyError::Mismatch(format!("a file with hash {}", tandem_model::util::short_hash(&h))))
            }
            _ => Ok(None),
        }
    }

    /// Fetches `GET /v2/models/{m}/profile`; keeps it when it fits the model. `Ok(None)`:
    /// the edge has no profile endpoint.
    async fn fetch(&self, estimate: &EdgeProfile) -> Result<Option<TransferSample>, OffloadError> {
        let url = self.client.model_url(self.client.model_name(), "/profile");
        let fetched = match self.client.get(url).await {
            Ok(f) => f,
            Err(e) if e.reason == FallbackReason::ModelNotServed => {
                log::debug!("the edge has no profile endpoint: using an estimate");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let profile: EdgeProfile = serde_json::from_slice(&fetched.body).map_err(|e| {
            OffloadError::new(FallbackReason::MalformedResponse, format!("the edge profile: {e}"), true)
        })?;
        match sanitize_profile(profile, &self.model_hash, self.cut_count, estimate) {
            Ok(p) => {
                let mut learned = self.learned();
                learned.profile = Some(p);
                // The fresh profile has the load now; observed answers start over.
                learned.observed_queue_ms = None;
            }
            Err(e) => log::warn!("the edge profile is unusable, using an estimate: {e}"),
        }
        Ok(Some(fetched.sample()))
    }

    async fn infer(&self, exchange: Exchange<'_>) -> Result<Answer, OffloadError> {
        let url = self.client.model_url(self.client.model_name(), "/infer");
        let received = self.client.post_infer(url, exchange.request).await?;
        if !(200..300).contains(&received.status) {
            return Err(crate::transport::status_error(received.status, &received.body));
        }
        let header_len = received.header_len.map_err(OffloadError::malformed)?;
        let decoded = client::decode_answer(header_len, &received.body, exchange.expected)
            .map_err(OffloadError::malformed)?;
        Ok(Answer {
            outputs: decoded.outputs,
            compute_ms: decoded.times.compute_ms,
            prepare_ms: decoded.times.prepare_ms,
            queue_ms: decoded.times.queue_ms,
            first_byte_ms: received.first_byte_ms,
            download_ms: received.download_ms,
            bytes_down: received.body.len() as u64,
            edge_cut: decoded.times.cut,
            cloud: CloudAnswer::from(&decoded.times),
        })
    }
}

impl Transport for TandemClient {
    fn kind(&self) -> &'static str {
        "Tandem edge"
    }

    fn base_url(&self) -> &str {
        self.client.base_url()
    }

    fn model_name(&self) -> &str {
        self.client.model_name()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn verify(&self) -> BoxFuture<'_, Result<Option<TransferSample>, VerifyError>> {
        Box::pin(self.verify_hash())
    }

    fn fetch_profile<'a>(
        &'a self,
        estimate: &'a EdgeProfile,
    ) -> BoxFuture<'a, Result<Option<TransferSample>, OffloadError>> {
        Box::pin(self.fetch(estimate))
    }

    /// The fetched profile adjusted by the load seen in answers, or `estimate` before the
    /// fetch.
    fn planning_profile(&self, estimate: EdgeProfile) -> EdgeProfile {
        let learned = self.learned();
        let mut p = learned.profile.clone().unwrap_or(estimate);
        if let Some(ratio) = learned.compute_ratio {
            for c in &mut p.cuts {
                c.after_ms = c.after_ms.map(|t| t * ratio);
            }
        }
        if let Some(q) = learned.observed_queue_ms {
            // Answers are fresher than the profile's snapshot of the queue.
            p.load.queue_wait_ms = q;
            p.load.in_flight = 0;
            p.load.queued = 0;
        }
        p
    }

    fn forget_profile(&self) {
        self.learned().profile = None;
    }

    fn encode(
        &self,
        id: &str,
        crossing: &[NamedTensor],
        encoding: Encoding,
        outputs: &[String],
        cloud: Option<CloudHop>,
    ) -> Outgoing {
        let (tensors, sent, decisions) = encode_crossing(crossing, encoding);
        let options = RequestOptions {
            id: Some(id.to_string()),
            model_hash: Some(self.model_hash.clone()),
            cloud_cut: cloud.map(|c| c.cut),
            cloud_timeout_ms: cloud.and_then(|c| c.timeout_ms),
            binary_outputs: true,
        };
        let outputs: Vec<RequestedOutput> =
            outputs.iter().map(|name| RequestedOutput { name: name.clone(), binary: true }).collect();
        let body = client::encode_request(&tensors, &options, &outputs, TensorData::Binary);
        Outgoing { body, encoding: sent, decisions }
    }

    fn send<'a>(&'a self, exchange: Exchange<'a>) -> BoxFuture<'a, Result<Answer, OffloadError>> {
        Box::pin(self.infer(exchange))
    }

    fn observe(&self, cut: usize, answer: &Answer) -> bool {
        let mut learned = self.learned();
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| 0.7 * o + 0.3 * new));
        let queue_ms = answer.queue_ms;
        let before = learned.observed_queue_ms.or(learned.profile.as_ref().map(|p| p.load.queue_wait_ms));
        learned.observed_queue_ms = ewma(learned.observed_queue_ms, queue_ms.max(0.0));
        let profiled = learned.profile.as_ref().and_then(|p| p.cuts.get(cut)).and_then(|c| c.after_ms);
        if let Some(t) = profiled.filter(|t| *t >= 0.5) {
            let ratio = (answer.compute_ms / t).clamp(0.1, 10.0);
            learned.compute_ratio = ewma(learned.compute_ratio, ratio);
        }
        // A queue much longer than the profile said: the load changed, refresh it soon.
        before.is_some_and(|b| queue_ms > 2.0 * b + 20.0)
    }

    fn probe_target(&self) -> Option<ProbeTarget<'_>> {
        Some(self.client.probe_target())
    }
}

/// Checks a fetched profile against the model; fills cuts the edge has not measured (nor
/// estimated) from `estimate`.
fn sanitize_profile(
    mut p: EdgeProfile,
    model_hash: &str,
    cut_count: usize,
    estimate: &EdgeProfile,
) -> Result<EdgeProfile, String> {
    if !p.hash.is_empty() && !p.hash.eq_ignore_ascii_case(model_hash) {
        return Err(format!("the profile is for model {}", p.hash));
    }
    if p.cuts.len() != cut_count {
        return Err(format!("the profile has {} cuts, the model {cut_count}", p.cuts.len()));
    }
    for (i, c) in p.cuts.iter_mut().enumerate() {
        if c.id != i {
            return Err(format!("the profile lists cut {} at position {i}", c.id));
        }
        match c.after_ms {
            Some(t) if !(t.is_finite() && t >= 0.0) => return Err(format!("cut {i} has time {t} ms")),
            Some(_) => {}
            None => c.after_ms = estimate.cuts.get(i).and_then(|e| e.after_ms),
        }
    }
    if !(p.load.queue_wait_ms.is_finite() && p.load.queue_wait_ms >= 0.0) {
        p.load.queue_wait_ms = 0.0;
    }
    p.hash = model_hash.to_string();
    // Three tiers: the cloud's profile passes the same checks (its unmeasured cuts estimated
    // by the edge's times) and its link must be usable; otherwise there is no cloud to plan.
    if let Some(mut cloud) = p.cloud.take() {
        let link = &cloud.link;
        let usable = |v: f64| v.is_finite() && v > 0.0;
        cloud.profile.cloud = None;
        let checked = if usable(link.uplink_mbps) && usable(link.downlink_mbps) && link.rtt_ms.is_finite() {
            sanitize_profile(cloud.profile.clone(), model_hash, cut_count, &p)
        } else {
            Err("the edge-to-cloud link is not usable".to_string())
        };
        match checked {
            Ok(profile) => {
                let cuts =
                    cloud.cuts.take().map(|cuts| cuts.into_iter().filter(|c| *c < cut_count).collect());
                p.cloud = Some(Box::new(CloudInfo { profile, cuts, ..*cloud }));
            }
            Err(e) => log::warn!("the cloud behind the edge cannot be planned with: {e}"),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_debug_hides_the_token() {
        let e = EdgeEndpoint::new("http://x").with_token("s3cret");
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
