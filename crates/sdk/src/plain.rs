//! Offloading to a plain Open Inference Protocol server (KServe, Triton, any OIP server)
//! that serves a `tandem export` repository, without any of Tandem's extensions.
//!
//! Against a Tandem edge, one served model answers every cut and the edge reports its own
//! times. A plain server serves one model per exported cut (`NAME_cutK`), knows nothing of
//! model hashes, encodings, profiles or probes. So, with a [`PlainOip`] target, the session:
//!
//! - maps the planned cut to its served model name through the repository's manifest, and
//!   plans only among the exported cuts whose served model is ready (the planner's choice
//!   at another cut is replaced by the best exported cut, or by running locally);
//! - checks the model file's identity once, locally: the manifest's hash must be the
//!   phone's model hash (a mismatch means never offloading, as with a Tandem edge);
//! - sends float32 tensors only (a smaller encoding asked for is an explicit decision in the
//!   report), with no Tandem parameter, as binary data
//!   (`Content-Type: application/octet-stream` and `Inference-Header-Content-Length`) or as
//!   JSON (`Content-Type: application/json`: KServe 0.21 treats any other body as binary);
//! - learns the server's time from measured round trips: the time to the first answer byte
//!   minus the link model's round trip and upload time, per cut (moving average), and, for
//!   cuts not measured yet, the planner's estimate scaled by what the measured cuts showed.
//!   This attribution is an estimate: a plain server does not say how long it computed, so
//!   the report's `edge_compute_ms` is the session's belief (`edge_queue_ms` is 0), and the
//!   upload estimate absorbs its error;
//! - never depends on `GET /v2` listing `binary_tensor_data` (KServe does not), and never
//!   calls the profile or probe endpoints.
//!
//! ```no_run
//! use tandem_sdk::{EdgeEndpoint, PlainOip, Session};
//!
//! let target = PlainOip::from_repository("repo")?;          // `tandem export ... --out repo`
//! let session = Session::builder("models/mobilenetv2.onnx")
//!     .plain_edge(EdgeEndpoint::new("http://kserve.local:8080"), target)
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use tandem_protocol::client::{self, TensorData};
use tandem_protocol::manifest::{ExportedModel, Manifest, ManifestError};
use tandem_protocol::wire::{EncodedBody, RequestOptions, RequestedOutput};

use crate::encoding::{EncodedTensor, Encoding};
use crate::energy::transfer_ms;
use crate::netest::TransferSample;
use crate::offload::EdgeEndpoint;
use crate::planner::EdgeProfile;
use crate::report::{Decision, FallbackReason};
use crate::transport::{
    Answer, BoxFuture, Capabilities, CloudHop, EdgeClient, Exchange, OffloadError, Outgoing, ProbeTarget,
    Transport, UnusableEncoding, VerifyError, HTTP_REQUEST_OVERHEAD_BYTES,
};
use crate::Model;
use crate::NamedTensor;

/// A plain OIP server serving a `tandem export` repository: what
/// [`SessionBuilder::plain_edge`](crate::SessionBuilder::plain_edge) needs besides the URL.
#[derive(Clone, Debug, PartialEq)]
pub struct PlainOip {
    /// The repository's manifest.
    pub manifest: Manifest,
    /// The base name the model was exported under (`NAME` in `NAME_cutK`); `None`: the
    /// manifest's entry exported from this model file (found by its hash).
    pub name: Option<String>,
    /// Send the crossing tensors with the binary tensor data extension (the default); JSON
    /// otherwise (for servers without the extension; about 2.5x the bytes).
    pub binary: bool,
}

impl PlainOip {
    /// A target described by `manifest`, binary tensors.
    pub fn new(manifest: Manifest) -> Self {
        PlainOip { manifest, name: None, binary: true }
    }

    /// A target described by the manifest of the repository at `path` (the directory or the
    /// manifest file).
    pub fn from_repository(path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        Ok(PlainOip::new(Manifest::load(path)?))
    }

    /// Use the manifest entry exported under `name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Send tensors as JSON instead of binary data.
    pub fn json(mut self) -> Self {
        self.binary = false;
        self
    }
}

/// Why a plain server cannot be used.
pub(crate) enum PlainCheckError {
    /// The repository was not exported from this model file.
    Mismatch(String),
    /// The server could not be asked, or serves none of the exported cuts.
    Offload(OffloadError),
}

/// What a session learns about a plain server.
#[derive(Default)]
struct Learned {
    /// Per cut: whether the served model answered ready at the last check (`None`: not
    /// checked yet, assumed ready).
    ready: BTreeMap<usize, bool>,
    /// Per cut: the server time attributed to its answers, ms (moving average).
    observed_ms: BTreeMap<usize, f64>,
    /// Measured over estimated server time, over the cuts measured (moving average).
    ratio: Option<f64>,
    /// The estimate the last planning profile started from, per cut, ms.
    base_ms: Vec<f64>,
}

/// A session's link to a plain server: the manifest entry and what was learned.
pub(crate) struct PlainLink {
    entry: Option<ExportedModel>,
    /// Why the manifest does not fit the model, if it does not.
    mismatch: Option<String>,
    binary: bool,
    learned: Mutex<Learned>,
}

fn ewma(old: Option<f64>, new: f64) -> f64 {
    old.map_or(new, |o| 0.7 * o + 0.3 * new)
}

impl PlainLink {
    /// Resolves the manifest entry of `model`.
    pub(crate) fn new(target: PlainOip, model: &Model) -> Self {
        let hash = model.hash();
        let found = match &target.name {
            Some(name) => target.manifest.by_name(name),
            None => target.manifest.by_hash(hash),
        };
        let (entry, mismatch) = match found {
            None => {
                let hashes: Vec<String> =
                    target.manifest.models.iter().map(|m| short(&m.model_hash).to_string()).collect();
                let what = match &target.name {
                    Some(n) => format!("a repository without a model named `{n}`"),
                    None => format!("a repository exported from other model files (hashes {hashes:?})"),
                };
                (None, Some(what))
            }
            Some(e) if !e.model_hash.eq_ignore_ascii_case(hash) => {
                (None, Some(format!("`{}` exported from a file with hash {}", e.name, short(&e.model_hash))))
            }
            Some(e) if e.cut_count != model.cuts().len() => (
                None,
                Some(format!(
                    "`{}` exported with {} cuts, this phone's model has {}",
                    e.name,
                    e.cut_count,
                    model.cuts().len()
                )),
            ),
            Some(e) => (Some(e.clone()), None),
        };
        PlainLink { entry, mismatch, binary: target.binary, learned: Mutex::new(Learned::default()) }
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether tensors travel as binary data.
    pub(crate) fn binary(&self) -> bool {
        self.binary
    }

    /// Why this repository cannot serve the model, if it cannot.
    #[cfg(test)]
    pub(crate) fn mismatch(&self) -> Option<&str> {
        self.mismatch.as_deref()
    }

    /// The served model name of `cut`, if it was exported.
    fn served_name(&self, cut: usize) -> Option<&str> {
        self.entry.as_ref()?.cut(cut).map(|c| c.served_name.as_str())
    }

    /// Whether a request at `cut` can be sent: exported, and not found unready.
    pub(crate) fn serves(&self, cut: usize) -> bool {
        self.served_name(cut).is_some() && self.learned().ready.get(&cut).copied().unwrap_or(true)
    }

    /// The exported cuts, for messages.
    pub(crate) fn exported(&self) -> Vec<usize> {
        self.entry.as_ref().map(|e| e.cuts.iter().map(|c| c.cut).collect()).unwrap_or_default()
    }

    /// Asks the server whether each exported part is ready (`GET /v2/models/{m}/ready`).
    /// Succeeds when at least one is; returns the fastest answer's time to first byte, ms
    /// (a small request: mostly the round trip).
    pub(crate) async fn check(&self, client: &EdgeClient) -> Result<f64, PlainCheckError> {
        if let Some(m) = &self.mismatch {
            return Err(PlainCheckError::Mismatch(m.clone()));
        }
        let entry = self.entry.as_ref().expect("an entry exists without a mismatch");
        let mut fastest: Option<f64> = None;
        let mut first_error: Option<OffloadError> = None;
        let mut ready = BTreeMap::new();
        for c in &entry.cuts {
            let outcome = client.get(client.model_url(&c.served_name, "/ready")).await.map(|fetched| {
                let ms = fetched.first_byte_ms;
                fastest = Some(fastest.map_or(ms, |f: f64| f.min(ms)));
            });
            match outcome {
                Ok(()) => {
                    ready.insert(c.cut, true);
                }
                Err(e) => {
                    // Unreachable or unauthorized: the other cuts will not do better.
                    let fatal =
                        matches!(e.reason, FallbackReason::EdgeUnreachable | FallbackReason::Unauthorized);
                    log::debug!(
                        "plain server: `{}` is not ready ({}): {}",
                        c.served_name,
                        e.reason.code(),
                        e.detail
                    );
                    ready.insert(c.cut, false);
                    first_error.get_or_insert(e);
                    if fatal {
                        break;
                    }
                }
            }
        }
        let any_ready = ready.values().any(|r| *r);
        self.learned().ready = ready;
        match (any_ready, fastest, first_error) {
            (true, Some(ms), _) => Ok(ms),
            (_, _, Some(e)) => Err(PlainCheckError::Offload(e)),
            _ => Err(PlainCheckError::Offload(OffloadError::new(
                FallbackReason::ModelNotServed,
                "the repository's manifest lists no exported cut",
                false,
            ))),
        }
    }

    /// The profile to plan with: per cut, the server time learned from round trips, else
    /// `base` (the session's estimate) scaled by what measured cuts showed. The server's
    /// load is unknown: no queue is assumed (answers that take longer raise the averages).
    pub(crate) fn planning_profile(&self, mut base: EdgeProfile) -> EdgeProfile {
        let mut learned = self.learned();
        learned.base_ms = base.cuts.iter().map(|c| c.after_ms.unwrap_or(0.0)).collect();
        let ratio = learned.ratio.unwrap_or(1.0);
        let last = base.cuts.len().saturating_sub(1);
        for c in &mut base.cuts {
            c.after_ms = if c.id == last {
                Some(0.0)
            } else {
                Some(learned.observed_ms.get(&c.id).copied().unwrap_or(c.after_ms.unwrap_or(0.0) * ratio))
            };
            c.measured = learned.observed_ms.contains_key(&c.id);
        }
        base.model = self.entry.as_ref().map(|e| e.name.clone()).unwrap_or_default();
        base.load = crate::planner::EdgeLoad { capacity: 1, ..Default::default() };
        base
    }

    /// Sends one request at `cut` and decodes the answer. `predicted_edge_ms` is what the
    /// plan expected of the server: the answer reports it as the server's time (what the
    /// network estimator takes out of the round trip), while the time attributed to the
    /// server from `link` (round trip minus the link model) feeds the per-cut average.
    pub(crate) async fn infer(
        &self,
        client: &EdgeClient,
        exchange: Exchange<'_>,
    ) -> Result<Answer, OffloadError> {
        let cut = exchange.cut;
        let Some(served) = self.served_name(cut) else {
            return Err(OffloadError::new(
                FallbackReason::ModelNotServed,
                format!("cut {cut} is not exported to the plain server (exported: {:?})", self.exported()),
                false,
            ));
        };
        let bytes_up = exchange.request.body.len() as u64;
        let received = client.post_infer(client.model_url(served, "/infer"), exchange.request).await?;
        let first_byte_ms = received.first_byte_ms;
        if !(200..300).contains(&received.status) {
            let mut e = crate::transport::status_error(received.status, &received.body);
            if received.status == 404 {
                self.learned().ready.insert(cut, false);
                e.detail = format!("served model `{served}`: {}", e.detail);
            }
            return Err(e);
        }
        let header_len = received.header_len.map_err(OffloadError::malformed)?;
        let decoded = client::decode_answer(header_len, &received.body, exchange.expected)
            .map_err(OffloadError::malformed)?;
        let link = exchange.link;
        let attributed_ms =
            (first_byte_ms - link.rtt_ms - transfer_ms(bytes_up, link.uplink_mbps)).clamp(0.0, first_byte_ms);
        self.observe(cut, attributed_ms);
        let predicted = exchange.predicted_edge_ms;
        let prior_ms = if predicted.is_finite() { predicted.clamp(0.0, first_byte_ms) } else { 0.0 };
        Ok(Answer {
            outputs: decoded.outputs,
            compute_ms: prior_ms,
            prepare_ms: 0.0,
            queue_ms: 0.0,
            first_byte_ms,
            download_ms: received.download_ms,
            bytes_down: received.body.len() as u64,
            edge_cut: Some(cut),
            cloud: Default::default(),
        })
    }

    /// Learns the server time of `cut` from one answer.
    fn observe(&self, cut: usize, server_ms: f64) {
        let mut learned = self.learned();
        let avg = ewma(learned.observed_ms.get(&cut).copied(), server_ms);
        learned.observed_ms.insert(cut, avg);
        if let Some(base) = learned.base_ms.get(cut).copied().filter(|b| *b >= 0.5) {
            let ratio = ewma(learned.ratio, (server_ms / base).clamp(0.05, 20.0));
            learned.ratio = Some(ratio);
        }
    }
}

/// Builds a plain OIP inference request: no Tandem parameter, every tensor as it is
/// (float32 crossing tensors stay float32). Binary: JSON header then the tensors' bytes,
/// outputs asked as binary; JSON: flat `data` arrays (NaN and infinities, which JSON cannot
/// carry, are sent as `null`). `outputs`: the outputs to ask for (all if `None`).
pub(crate) fn encode_request(
    id: &str,
    tensors: &[NamedTensor],
    outputs: Option<&[&str]>,
    binary: bool,
) -> EncodedBody {
    let inputs: Vec<EncodedTensor> = tensors
        .iter()
        .map(|t| EncodedTensor { tensor: t.clone(), encoding: Encoding::Fp32, int8: None })
        .collect();
    let options = RequestOptions { id: Some(id.to_string()), binary_outputs: binary, ..Default::default() };
    let outputs: Vec<RequestedOutput> = outputs
        .unwrap_or_default()
        .iter()
        .map(|name| RequestedOutput { name: name.to_string(), binary })
        .collect();
    let data = if binary { TensorData::Binary } else { TensorData::Json };
    client::encode_request(&inputs, &options, &outputs, data)
}

/// Why a plain server takes float32 only.
const FP32_ONLY: &str = "a plain OIP server takes the crossing tensors as they are (no Tandem encodings)";

/// The [`Transport`] of a plain OIP server: its HTTP client and what the session learns.
pub struct PlainClient {
    client: EdgeClient,
    link: PlainLink,
}

impl PlainClient {
    /// A client of the plain server at `endpoint` serving the repository `target` describes,
    /// for `model`.
    pub fn new(
        endpoint: &EdgeEndpoint,
        target: PlainOip,
        model: &Model,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        Ok(PlainClient {
            client: EdgeClient::new(endpoint, model, connect_timeout)?,
            link: PlainLink::new(target, model),
        })
    }

    async fn verify_ready(&self) -> Result<Option<TransferSample>, VerifyError> {
        match self.link.check(&self.client).await {
            Ok(first_byte_ms) => Ok(Some(TransferSample {
                bytes_up: HTTP_REQUEST_OVERHEAD_BYTES,
                upload_ms: first_byte_ms,
                ..Default::default()
            })),
            Err(PlainCheckError::Mismatch(served)) => Err(VerifyError::Mismatch(served)),
            Err(PlainCheckError::Offload(e)) => Err(VerifyError::Failed(e)),
        }
    }
}

impl Transport for PlainClient {
    fn kind(&self) -> &'static str {
        "plain OIP server"
    }

    fn base_url(&self) -> &str {
        self.client.base_url()
    }

    fn model_name(&self) -> &str {
        self.link.entry.as_ref().map_or(self.client.model_name(), |e| e.name.as_str())
    }

    fn capabilities(&self) -> Capabilities {
        let ready: Vec<usize> = self.link.exported().into_iter().filter(|c| self.link.serves(*c)).collect();
        Capabilities {
            offloadable_cuts: Some(ready),
            unusable_encodings: Encoding::ALL
                .into_iter()
                .filter(|e| *e != Encoding::Fp32)
                .map(|encoding| UnusableEncoding { encoding, reason: FP32_ONLY.into() })
                .collect(),
        }
    }

    fn verify(&self) -> BoxFuture<'_, Result<Option<TransferSample>, VerifyError>> {
        Box::pin(self.verify_ready())
    }

    fn fetch_profile<'a>(
        &'a self,
        _estimate: &'a EdgeProfile,
    ) -> BoxFuture<'a, Result<Option<TransferSample>, OffloadError>> {
        // A plain server has no profile: its times are learned from answers.
        Box::pin(std::future::ready(Ok(None)))
    }

    fn planning_profile(&self, estimate: EdgeProfile) -> EdgeProfile {
        self.link.planning_profile(estimate)
    }

    fn forget_profile(&self) {}

    /// A plain server has no cloud tier: its profile never offers one, so `cloud` is `None`.
    fn encode(
        &self,
        id: &str,
        crossing: &[NamedTensor],
        encoding: Encoding,
        outputs: &[String],
        _cloud: Option<CloudHop>,
    ) -> Outgoing {
        let names: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let names = (!names.is_empty()).then_some(names.as_slice());
        let body = encode_request(id, crossing, names, self.link.binary());
        let decisions = if encoding == Encoding::Fp32 {
            vec![]
        } else {
            vec![Decision::EncodingChanged {
                planned: encoding,
                sent: Encoding::Fp32,
                reason: FP32_ONLY.into(),
            }]
        };
        Outgoing { body, encoding: Encoding::Fp32, decisions }
    }

    fn send<'a>(&'a self, exchange: Exchange<'a>) -> BoxFuture<'a, Result<Answer, OffloadError>> {
        Box::pin(self.link.infer(&self.client, exchange))
    }

    fn observe(&self, _cut: usize, _answer: &Answer) -> bool {
        // Learned in `send`, from the round trip.
        false
    }

    fn probe_target(&self) -> Option<ProbeTarget<'_>> {
        // A plain OIP server has no probe endpoint.
        None
    }
}

use tandem_model::util::short_hash as short;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{EdgeCutProfile, EdgeLoad};
    use crate::LoadOptions;
    use serde_json::Value;
    use tandem_export as export;

    fn tiny() -> Model {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tiny_resnet.onnx");
        Model::load(path, &LoadOptions::default()).expect("model loads")
    }

    fn manifest_for(model: &Model, cuts: &[usize]) -> Manifest {
        let dir = tempfile::tempdir().expect("tempdir");
        export::export(model, "tiny", cuts, dir.path()).expect("exports");
        Manifest::load(dir.path()).expect("reads")
    }

    #[test]
    fn requests_carry_no_tandem_parameters() {
        let t = NamedTensor::from_f32("x:0", vec![1, 2], &[1.5, -2.0]).unwrap();
        let binary = encode_request("7", std::slice::from_ref(&t), Some(&["y"]), true);
        let header_len = binary.header_len.expect("binary data follows the header");
        let header: Value = serde_json::from_slice(&binary.body[..header_len]).unwrap();
        assert_eq!(header["inputs"][0]["datatype"], "FP32");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(header["parameters"]["binary_data_output"], true);
        assert_eq!(header["outputs"][0]["parameters"]["binary_data"], true);
        assert_eq!(&binary.body[header_len..], t.data.as_slice());
        let text = String::from_utf8(binary.body[..header_len].to_vec()).unwrap();
        assert!(!text.contains("tandem"), "{text}");

        let nan = NamedTensor::from_f32("x", vec![3], &[0.1, f32::NAN, 7.0]).unwrap();
        let json_req = encode_request("8", &[nan], None, false);
        assert_eq!(json_req.header_len, None);
        let v: Value = serde_json::from_slice(&json_req.body).unwrap();
        let data = &v["inputs"][0]["data"];
        // float32 values are written shortest (`0.1`) and read back exactly; NaN is null
        assert_eq!(
            (data[0].as_f64().map(|x| x as f32), &data[1], data[2].as_f64()),
            (Some(0.1f32), &Value::Null, Some(7.0))
        );
        assert!(v.get("parameters").is_none() && v.get("outputs").is_none());
        // float32 values survive the JSON text exactly
        assert_eq!(v["inputs"][0]["data"][0].as_f64().unwrap() as f32, 0.1f32);
    }

    #[test]
    fn the_manifest_must_come_from_this_model_file() {
        let model = tiny();
        let manifest = manifest_for(&model, &[0, 3, 11]);
        let link = PlainLink::new(PlainOip::new(manifest.clone()), &model);
        assert!(link.mismatch().is_none());
        assert_eq!(link.exported(), vec![0, 3, 11]);
        assert_eq!(link.served_name(3), Some("tiny_cut3"));
        assert!(link.serves(11) && !link.serves(4));

        let mut other = manifest.clone();
        other.models[0].model_hash = "ab".repeat(32);
        assert!(PlainLink::new(PlainOip::new(other.clone()), &model)
            .mismatch()
            .unwrap()
            .contains("other model files"));
        let named = PlainLink::new(PlainOip::new(other).with_name("tiny"), &model);
        assert!(named.mismatch().unwrap().contains("abababababab"), "{:?}", named.mismatch());
        let missing = PlainLink::new(PlainOip::new(manifest).with_name("nope"), &model);
        assert!(missing.mismatch().unwrap().contains("`nope`"));
    }

    fn profile(n: usize, ms: f64) -> EdgeProfile {
        EdgeProfile {
            model: String::new(),
            hash: String::new(),
            status: None,
            cuts: (0..n)
                .map(|id| EdgeCutProfile {
                    id,
                    after_ms: Some(ms * (n - 1 - id) as f64),
                    measured: false,
                    tensors: vec![],
                    bytes: 0,
                    macs_after: 0,
                })
                .collect(),
            load: EdgeLoad::default(),
            cloud: None,
            engine: None,
        }
    }

    #[test]
    fn server_times_are_learned_from_round_trips() {
        let model = tiny();
        let n = model.cuts().len();
        let link = PlainLink::new(PlainOip::new(manifest_for(&model, &[0, 3])), &model);
        let p = link.planning_profile(profile(n, 1.0));
        assert_eq!(p.cuts[3].after_ms, Some((n - 4) as f64));
        assert_eq!(p.cuts[n - 1].after_ms, Some(0.0));
        // The server turned out twice as slow at cut 3: cut 3 learns it, others scale.
        link.observe(3, 2.0 * (n - 4) as f64);
        let p = link.planning_profile(profile(n, 1.0));
        assert_eq!(p.cuts[3].after_ms, Some(2.0 * (n - 4) as f64));
        assert!(p.cuts[3].measured && !p.cuts[0].measured);
        assert!(
            (p.cuts[0].after_ms.unwrap() - 2.0 * (n - 1) as f64).abs() < 1e-9,
            "{:?}",
            p.cuts[0].after_ms
        );
    }

    #[test]
    fn plans_are_restricted_to_exported_cuts() {
        use crate::planner::{Adjustment, Constraints, PlanInput};
        let model = tiny();
        let n = model.cuts().len();
        let link = PlainLink::new(PlainOip::new(manifest_for(&model, &[0, 3])), &model);
        // A slow phone and a fast server: offloading wins.
        let device = crate::DeviceProfile::estimate(
            model.hash(),
            "t",
            model.cuts(),
            1000.0,
            crate::ThermalState::Unknown,
        );
        let edge = link.planning_profile(profile(n, 0.1));
        let platform = crate::PlatformState {
            network: crate::NetworkKind::Wifi,
            network_id: "t".into(),
            ..Default::default()
        };
        let wifi = crate::netest::LinkEstimate::prior(crate::NetworkKind::Wifi);
        let (energy, policy) = (crate::EnergyModel::default(), crate::Policy::default());
        let plan_with = |offloadable_cuts: Option<Vec<usize>>| {
            crate::planner::plan(&PlanInput {
                cuts: model.cuts(),
                device: &device,
                edge: Some(&edge),
                cloud: None,
                link: &wifi,
                platform: &platform,
                energy: &energy,
                policy: &policy,
                meta: None,
                constraints: Constraints { offloadable_cuts, ..Default::default() },
            })
            .expect("plans")
        };
        let ready =
            |link: &PlainLink| link.exported().into_iter().filter(|c| link.serves(*c)).collect::<Vec<_>>();
        let free = plan_with(None);
        assert!(free.offloads(), "{}", free.reason);
        let plan = plan_with(Some(ready(&link)));
        assert!(plan.offloads() && [0, 3].contains(&plan.cut), "cut {}: {}", plan.cut, plan.reason);
        if ![0, 3].contains(&free.cut) {
            let replaced = plan.adjustments.iter().any(
                |a| matches!(a, Adjustment::CutNotOffloadable { cut, forced: false } if *cut == free.cut),
            );
            assert!(replaced, "{:?}", plan.adjustments);
        }
        // A cut found unready is not used.
        link.learned().ready.insert(3, false);
        let plan = plan_with(Some(ready(&link)));
        assert!(!plan.offloads() || plan.cut == 0, "cut {}: {}", plan.cut, plan.reason);
    }
}
