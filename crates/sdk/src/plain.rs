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
//! - sends float32 tensors only, with no `tandem_*` parameter, as binary data
//!   (`Content-Type: application/octet-stream` and `Inference-Header-Content-Length`) or as
//!   JSON (`Content-Type: application/json`: KServe 0.21 treats any other body as binary);
//! - learns the server's time from measured round trips: the time to the first answer byte
//!   minus the link model's round trip and upload time, per cut (moving average), and, for
//!   cuts not measured yet, the planner's estimate scaled by what the measured cuts showed.
//!   This attribution is an estimate: a plain server does not say how long it computed, so
//!   the report's `edge_ms` is the session's belief, and the upload estimate absorbs its
//!   error;
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
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::energy::transfer_ms;
use crate::netest::LinkEstimate;
use crate::offload::{self, Answer, EdgeClient, EncodedRequest, OffloadError, HEADER_CONTENT_LENGTH};
use crate::planner::{EdgeProfile, Plan};
use crate::report::FallbackReason;
use crate::Model;
use crate::{DType, NamedTensor, TensorSpec};
use tandem_protocol::manifest::{ExportedModel, Manifest, ManifestError};

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
            let url = format!("{}/v2/models/{}/ready", client.base_url(), c.served_name);
            let t0 = Instant::now();
            let mut rb = client.http().get(url);
            if let Some(t) = client.token() {
                rb = rb.bearer_auth(t);
            }
            let outcome = match rb.send().await {
                Ok(response) => {
                    let first_byte_ms = t0.elapsed().as_secs_f64() * 1e3;
                    let status = response.status().as_u16();
                    let body = response.bytes().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        fastest = Some(fastest.map_or(first_byte_ms, |f: f64| f.min(first_byte_ms)));
                        Ok(())
                    } else {
                        Err(offload::status_error(status, &body))
                    }
                }
                Err(e) => Err(offload::classify(&e, false)),
            };
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

    /// The exported cut to offload at instead of the planner's `plan.cut` (which the server
    /// does not serve): the best-scoring allowed exported cut of the plan's table, if it
    /// beats running locally (with a deadline: the best one that meets it, else the fastest).
    /// `None`: run locally.
    pub(crate) fn best_exported(&self, plan: &Plan, deadline_ms: Option<f64>) -> Option<usize> {
        let local = plan.table.last()?;
        let rows = plan.table.iter().filter(|r| r.allowed && r.cut < local.cut && self.serves(r.cut));
        let candidates: Vec<_> = rows.chain(std::iter::once(local)).filter(|r| r.score.is_finite()).collect();
        let pick = match deadline_ms {
            Some(d) => candidates
                .iter()
                .filter(|r| r.latency_ms <= d)
                .min_by(|a, b| a.score.total_cmp(&b.score))
                .or_else(|| candidates.iter().min_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms))),
            None => candidates.iter().min_by(|a, b| a.score.total_cmp(&b.score)),
        }?;
        (pick.cut != local.cut).then_some(pick.cut)
    }

    /// Sends one request at `cut` and decodes the answer. `predicted_edge_ms` is what the
    /// plan expected of the server: the answer reports it as the server's time (what the
    /// network estimator takes out of the round trip), while the time attributed to the
    /// server from `link` (round trip minus the link model) feeds the per-cut average.
    pub(crate) async fn infer(
        &self,
        client: &EdgeClient,
        cut: usize,
        request: EncodedRequest,
        expected: &[TensorSpec],
        link: &LinkEstimate,
        predicted_edge_ms: f64,
    ) -> Result<Answer, OffloadError> {
        let Some(served) = self.served_name(cut) else {
            return Err(OffloadError::new(
                FallbackReason::ModelNotServed,
                format!("cut {cut} is not exported to the plain server (exported: {:?})", self.exported()),
                false,
            ));
        };
        let bytes_up = request.body.len() as u64;
        let url = format!("{}/v2/models/{served}/infer", client.base_url());
        let mut rb = client.http().post(url);
        rb = if self.binary {
            rb.header(HEADER_CONTENT_LENGTH, request.header_len)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        } else {
            rb.header(reqwest::header::CONTENT_TYPE, "application/json")
        };
        if let Some(t) = client.token() {
            rb = rb.bearer_auth(t);
        }
        let t0 = Instant::now();
        let response = rb.body(request.body).send().await.map_err(|e| offload::classify(&e, true))?;
        let first_byte_ms = t0.elapsed().as_secs_f64() * 1e3;
        let status = response.status().as_u16();
        let header_len = offload::header_len(response.headers());
        let t1 = Instant::now();
        let body = response.bytes().await.map_err(|e| offload::classify(&e, true))?;
        let download_ms = t1.elapsed().as_secs_f64() * 1e3;
        if !(200..300).contains(&status) {
            let mut e = offload::status_error(status, &body);
            if status == 404 {
                self.learned().ready.insert(cut, false);
                e.detail = format!("served model `{served}`: {}", e.detail);
            }
            return Err(e);
        }
        let decoded = offload::decode_answer(header_len, &body, expected)?;
        let attributed_ms =
            (first_byte_ms - link.rtt_ms - transfer_ms(bytes_up, link.uplink_mbps)).clamp(0.0, first_byte_ms);
        self.observe(cut, attributed_ms);
        let prior_ms =
            if predicted_edge_ms.is_finite() { predicted_edge_ms.clamp(0.0, first_byte_ms) } else { 0.0 };
        Ok(Answer {
            outputs: decoded.outputs,
            compute_ms: prior_ms,
            queue_ms: 0.0,
            prepare_ms: 0.0,
            first_byte_ms,
            download_ms,
            bytes_down: body.len() as u64,
            edge_cut: Some(cut),
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

/// Builds a plain OIP inference request: no `tandem_*` parameter, every tensor as it is
/// (float32 crossing tensors stay float32). Binary: JSON header then the tensors' bytes,
/// outputs asked as binary; JSON: flat `data` arrays (NaN and infinities, which JSON cannot
/// carry, are sent as `null`). `outputs`: the outputs to ask for (all if `None`).
pub(crate) fn encode_request(
    id: &str,
    tensors: &[NamedTensor],
    outputs: Option<&[&str]>,
    binary: bool,
) -> EncodedRequest {
    let inputs: Vec<Value> = tensors
        .iter()
        .map(|t| {
            let mut input = json!({ "name": t.name, "shape": t.shape, "datatype": t.dtype.wire_name() });
            if binary {
                input["parameters"] = json!({ "binary_data_size": t.data.len() });
            } else {
                input["data"] = json_values(t);
            }
            input
        })
        .collect();
    let mut request = json!({ "id": id, "inputs": inputs });
    if binary {
        let mut p = Map::new();
        p.insert("binary_data_output".into(), true.into());
        request["parameters"] = Value::Object(p);
    }
    if let Some(outputs) = outputs {
        request["outputs"] = outputs
            .iter()
            .map(|n| {
                if binary {
                    json!({"name": n, "parameters": {"binary_data": true}})
                } else {
                    json!({"name": n})
                }
            })
            .collect();
    }
    let mut body = serde_json::to_vec(&request).expect("names, numbers and strings always serialize");
    let header_len = body.len();
    if binary {
        for t in tensors {
            body.extend_from_slice(&t.data);
        }
    }
    EncodedRequest { body, header_len }
}

/// A tensor's values as a flat JSON array.
fn json_values(t: &NamedTensor) -> Value {
    fn each<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> Value) -> Value {
        Value::Array(data.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect())
    }
    let float = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    match t.dtype {
        DType::Fp32 => each::<4>(&t.data, |b| float(f64::from(f32::from_le_bytes(b)))),
        DType::Fp64 => each::<8>(&t.data, |b| float(f64::from_le_bytes(b))),
        DType::Fp16 => Value::Array(
            crate::encoding::f16_bytes_to_f32(&t.data).into_iter().map(|v| float(f64::from(v))).collect(),
        ),
        DType::Int8 => each::<1>(&t.data, |b| i8::from_le_bytes(b).into()),
        DType::Uint8 => each::<1>(&t.data, |b| b[0].into()),
        DType::Int16 => each::<2>(&t.data, |b| i16::from_le_bytes(b).into()),
        DType::Int32 => each::<4>(&t.data, |b| i32::from_le_bytes(b).into()),
        DType::Int64 => each::<8>(&t.data, |b| i64::from_le_bytes(b).into()),
        DType::Bool => each::<1>(&t.data, |b| (b[0] != 0).into()),
    }
}

use tandem_model::util::short_hash as short;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{CutCost, EdgeCutProfile, EdgeLoad};
    use crate::LoadOptions;
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
        let header: Value = serde_json::from_slice(&binary.body[..binary.header_len]).unwrap();
        assert_eq!(header["inputs"][0]["datatype"], "FP32");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(header["parameters"]["binary_data_output"], true);
        assert_eq!(header["outputs"][0]["parameters"]["binary_data"], true);
        assert_eq!(&binary.body[binary.header_len..], t.data.as_slice());
        let text = String::from_utf8(binary.body[..binary.header_len].to_vec()).unwrap();
        assert!(!text.contains("tandem"), "{text}");

        let nan = NamedTensor::from_f32("x", vec![3], &[0.1, f32::NAN, 7.0]).unwrap();
        let json_req = encode_request("8", &[nan], None, false);
        assert_eq!(json_req.header_len, json_req.body.len());
        let v: Value = serde_json::from_slice(&json_req.body).unwrap();
        assert_eq!(v["inputs"][0]["data"], json!([f64::from(0.1f32), null, 7.0]));
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

    fn row(cut: usize, latency_ms: f64, score: f64) -> CutCost {
        CutCost {
            cut,
            encoding: crate::encoding::Encoding::Fp32,
            bytes_up: 0,
            phone_ms: 0.0,
            upload_ms: 0.0,
            edge_ms: 0.0,
            download_ms: 0.0,
            latency_ms,
            energy_mj: 0.0,
            score,
            allowed: true,
        }
    }

    #[test]
    fn plans_are_restricted_to_exported_cuts() {
        let model = tiny();
        let last = model.last_cut();
        let link = PlainLink::new(PlainOip::new(manifest_for(&model, &[0, 3])), &model);
        let mut plan = crate::planner::plan(&crate::planner::PlanInput {
            cuts: model.cuts(),
            device: &crate::DeviceProfile::estimate(
                model.hash(),
                "t",
                model.cuts(),
                10.0,
                crate::ThermalState::Unknown,
            ),
            edge: None,
            cloud: None,
            link: &LinkEstimate::prior(crate::NetworkKind::Wifi),
            platform: &crate::PlatformState::default(),
            energy: &crate::EnergyModel::default(),
            policy: &crate::Policy::default(),
            meta: None,
            constraints: Default::default(),
        })
        .expect("plans");
        plan.table = (0..=last).map(|c| row(c, 50.0 - c as f64, 10.0 + c as f64)).collect();
        plan.table[1].score = 1.0; // the best, but not exported
        plan.table[3].score = 2.0;
        assert_eq!(link.best_exported(&plan, None), Some(3));
        // Local beats every exported cut.
        plan.table[last].score = 0.5;
        assert_eq!(link.best_exported(&plan, None), None);
        // With a deadline, only cuts that meet it (cut 3: 47 ms; local: 50 - last ms).
        plan.table[last].score = 100.0;
        assert_eq!(link.best_exported(&plan, Some(48.0)), Some(3));
        plan.table[3].latency_ms = 60.0;
        assert_eq!(link.best_exported(&plan, Some(48.0)), None);
        // A cut found unready is not used.
        plan.table[3].latency_ms = 47.0;
        link.learned().ready.insert(3, false);
        assert_eq!(link.best_exported(&plan, None), Some(0));
    }
}
