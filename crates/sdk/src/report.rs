//! What one request did: the plan, what actually happened, and why it fell back if it did.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::breaker::BreakerPhase;
use crate::encoding::Encoding;
use crate::netest::LinkEstimate;
use crate::planner::Plan;
use crate::platform::{CellularGen, NetworkKind};
use crate::NamedTensor;

/// Why a request that could have used the edge ran (or finished) on the phone.
///
/// Serialized with a `code` tag: `{"code": "timeout"}`, `{"code": "server_error", "status": 503}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FallbackReason {
    /// The phone is offline.
    Offline,
    /// The network is metered and the policy forbids spending data on it.
    MeteredForbidden,
    /// The circuit breaker is open after repeated failures: the edge is not tried.
    BreakerOpen,
    /// The edge serves a different model file under this model's name: never offloaded.
    HashMismatch,
    /// The edge does not serve this model (HTTP 404).
    ModelNotServed,
    /// The edge refused the bearer token (HTTP 401 or 403).
    Unauthorized,
    /// No connection could be made (refused, unreachable, DNS, TLS handshake).
    EdgeUnreachable,
    /// The edge did not answer in time: the deadline-aware timeout fired.
    Timeout,
    /// The connection broke while the request or the answer was on its way.
    LinkReset,
    /// The edge answered with a server error (5xx, including 503 when overloaded).
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// The edge refused the request with another client error (4xx).
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The edge's answer could not be used (bad framing, wrong tensors, bad profile).
    MalformedResponse,
}

impl FallbackReason {
    /// The short snake_case code (`timeout`, `server_error`, ...), as in JSON.
    pub fn code(self) -> &'static str {
        match self {
            FallbackReason::Offline => "offline",
            FallbackReason::MeteredForbidden => "metered_forbidden",
            FallbackReason::BreakerOpen => "breaker_open",
            FallbackReason::HashMismatch => "hash_mismatch",
            FallbackReason::ModelNotServed => "model_not_served",
            FallbackReason::Unauthorized => "unauthorized",
            FallbackReason::EdgeUnreachable => "edge_unreachable",
            FallbackReason::Timeout => "timeout",
            FallbackReason::LinkReset => "link_reset",
            FallbackReason::ServerError { .. } => "server_error",
            FallbackReason::Rejected { .. } => "rejected",
            FallbackReason::MalformedResponse => "malformed_response",
        }
    }

    /// Whether this says something about the edge's health (it counts for the circuit
    /// breaker), as opposed to the phone's situation or a permanent configuration problem.
    pub fn is_edge_failure(self) -> bool {
        matches!(
            self,
            FallbackReason::Unauthorized
                | FallbackReason::EdgeUnreachable
                | FallbackReason::Timeout
                | FallbackReason::LinkReset
                | FallbackReason::ServerError { .. }
                | FallbackReason::Rejected { .. }
                | FallbackReason::MalformedResponse
                | FallbackReason::ModelNotServed
        )
    }
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FallbackReason::Offline => f.write_str("offline"),
            FallbackReason::MeteredForbidden => f.write_str("metered network forbidden"),
            FallbackReason::BreakerOpen => f.write_str("breaker open"),
            FallbackReason::HashMismatch => f.write_str("model hash mismatch"),
            FallbackReason::ModelNotServed => f.write_str("model not served"),
            FallbackReason::Unauthorized => f.write_str("unauthorized"),
            FallbackReason::EdgeUnreachable => f.write_str("edge unreachable"),
            FallbackReason::Timeout => f.write_str("timeout"),
            FallbackReason::LinkReset => f.write_str("link reset"),
            FallbackReason::ServerError { status } => write!(f, "server error {status}"),
            FallbackReason::Rejected { status } => write!(f, "rejected {status}"),
            FallbackReason::MalformedResponse => f.write_str("malformed response"),
        }
    }
}

/// A choice the session made about a request beyond the plan, with why: nothing is changed
/// silently. Serialized with a `kind` tag: `{"kind": "encoding_changed", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// The crossing tensors travelled as `sent`, not in the plan's encoding `planned` (a
    /// plain OIP server takes float32 only; a tensor could not take the encoding).
    EncodingChanged {
        /// The plan's encoding (or the caller's forced one).
        planned: Encoding,
        /// The encoding the request carried.
        sent: Encoding,
        /// Why, for people (no user data).
        reason: String,
    },
    /// The whole request went to the edge at cut 0 because the phone's engine cannot run
    /// the model (an operator it lacks); the edge runs it with ONNX Runtime.
    WholeOnEdge {
        /// Why, for people: the operator and node.
        reason: String,
    },
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::EncodingChanged { planned, sent, reason } => {
                write!(f, "sent as {sent} instead of {planned}: {reason}")
            }
            Decision::WholeOnEdge { reason } => f.write_str(reason),
        }
    }
}

/// What one request did. Numbers carry their unit in their name; times are wall-clock on
/// the phone.
///
/// `phone_ms + upload_rtt_ms + edge_queue_ms + edge_compute_ms + download_ms` accounts for
/// `total_ms` up to a few ms of scheduling and planning.
///
/// In JSON, besides every field, `upload_ms` (= `upload_rtt_ms`) and `edge_ms`
/// (= `edge_queue_ms + edge_compute_ms`) keep the keys older tools and scripts read.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Report {
    /// The session's request counter (for logs; not a user identifier).
    pub request_id: u64,
    /// The plan the request followed: cut, exit, encoding, predicted costs, why it won, and
    /// the per-cut cost table. A forced cut ([`crate::InferOptions::cut`]), the cuts and
    /// encodings the edge cannot take are the planner's constraints: its `adjustments` list
    /// how the plan departs from the planner's own choice, and its reason says so.
    pub plan: Plan,
    /// The ONNX node just before the plan's cut (`None` for cut 0).
    pub after_node: Option<String>,
    /// Whether the cut was forced by the caller.
    pub forced_cut: bool,
    /// Whether the request was exploratory: its plan was local, and the session offloaded it
    /// at a late cut to sample the link (`ExplorationConfig`). Its outputs are as correct as
    /// any other request's; `offloaded` and `fallback_reason` say how it went.
    #[serde(default)]
    pub exploration: bool,
    /// The network the request went over (or would have).
    pub network: NetworkKind,
    /// The link estimate the plan used.
    pub link: LinkEstimate,
    /// Whether the edge computed the result.
    pub offloaded: bool,
    /// Why the edge was not used, or not used to the end; `None` when the plan ran as planned.
    pub fallback_reason: Option<FallbackReason>,
    /// A sentence about the fallback for people and logs (no user data).
    pub fallback_detail: Option<String>,
    /// Phone compute: the part before the cut, any part finished locally, building parts,
    /// encoding and decoding tensors, ms.
    pub phone_ms: f64,
    /// From sending the request to the first byte of the answer, minus the edge's own time:
    /// the upload and one round trip, ms. For a failed attempt, the time lost on it.
    pub upload_rtt_ms: f64,
    /// Time the request waited for a compute slot on the edge, as a Tandem edge reports it,
    /// ms (0 for a plain OIP server, which does not say).
    pub edge_queue_ms: f64,
    /// The edge's compute time (with getting the built part when it was not cached), as a
    /// Tandem edge reports it, ms. For a plain OIP server, which does not say, the session's
    /// belief: the plan's prediction, bounded by the measured round trip.
    pub edge_compute_ms: f64,
    /// From the first to the last byte of the answer, ms.
    pub download_ms: f64,
    /// From the call to the result, ms.
    pub total_ms: f64,
    /// Request body bytes sent (JSON header and tensor data; HTTP headers not counted). For
    /// a failed attempt, what was handed to the network (an upper bound of what left).
    pub bytes_up: u64,
    /// Response body bytes received.
    pub bytes_down: u64,
    /// The phone's modeled energy for what happened (compute and radio, with the tail), mJ.
    pub energy_mj: f64,
    /// The deadline the request had, ms.
    pub deadline_ms: Option<f64>,
    /// Whether `total_ms` met the deadline (`None` without one).
    pub deadline_met: Option<bool>,
    /// How long the session was prepared to wait for the edge, ms (`None` if not tried).
    pub edge_timeout_ms: Option<f64>,
    /// The circuit breaker's phase when the request was planned (`half_open` while one trial
    /// request tests a failing edge; the trial is the one that was not `breaker_open`).
    pub breaker: BreakerPhase,
    /// The encoding the float32 crossing tensors were sent in (`None`: nothing was sent). It
    /// differs from the plan's only with a [`Decision`] saying why.
    #[serde(default)]
    pub encoding_sent: Option<Encoding>,
    /// What the session decided beyond the plan, with why (the plan's own departures from
    /// the planner's choice are its `adjustments`).
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// Three tiers: the cut where the cloud took over (`None` with two tiers, or when the
    /// cloud failed and the edge finished; the plan's is `plan.cloud_cut`).
    #[serde(default)]
    pub cloud_cut: Option<usize>,
    /// Three tiers: the edge's round trip to the cloud, ms, as the edge reports it.
    #[serde(default)]
    pub cloud_ms: Option<f64>,
    /// Three tiers: the cloud's own compute time, ms, as the edge reports it.
    #[serde(default)]
    pub cloud_compute_ms: Option<f64>,
    /// Three tiers: why the edge finished the request itself instead of the cloud (the
    /// cloud was unreachable, too slow, refused, or answered garbage). The outputs are
    /// still right: the edge ran the rest of the model.
    #[serde(default)]
    pub cloud_fallback_reason: Option<String>,
}

// By hand, to write the older keys `upload_ms` and `edge_ms` beside the fields.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Report", 34)?;
        s.serialize_field("request_id", &self.request_id)?;
        s.serialize_field("plan", &self.plan)?;
        s.serialize_field("after_node", &self.after_node)?;
        s.serialize_field("forced_cut", &self.forced_cut)?;
        s.serialize_field("exploration", &self.exploration)?;
        s.serialize_field("network", &self.network)?;
        s.serialize_field("link", &self.link)?;
        s.serialize_field("offloaded", &self.offloaded)?;
        s.serialize_field("fallback_reason", &self.fallback_reason)?;
        s.serialize_field("fallback_detail", &self.fallback_detail)?;
        s.serialize_field("phone_ms", &self.phone_ms)?;
        s.serialize_field("upload_rtt_ms", &self.upload_rtt_ms)?;
        s.serialize_field("edge_queue_ms", &self.edge_queue_ms)?;
        s.serialize_field("edge_compute_ms", &self.edge_compute_ms)?;
        s.serialize_field("upload_ms", &self.upload_rtt_ms)?;
        s.serialize_field("edge_ms", &self.edge_ms())?;
        s.serialize_field("download_ms", &self.download_ms)?;
        s.serialize_field("total_ms", &self.total_ms)?;
        s.serialize_field("bytes_up", &self.bytes_up)?;
        s.serialize_field("bytes_down", &self.bytes_down)?;
        s.serialize_field("energy_mj", &self.energy_mj)?;
        s.serialize_field("deadline_ms", &self.deadline_ms)?;
        s.serialize_field("deadline_met", &self.deadline_met)?;
        s.serialize_field("edge_timeout_ms", &self.edge_timeout_ms)?;
        s.serialize_field("breaker", &self.breaker)?;
        s.serialize_field("encoding_sent", &self.encoding_sent)?;
        s.serialize_field("decisions", &self.decisions)?;
        s.serialize_field("cloud_cut", &self.cloud_cut)?;
        s.serialize_field("cloud_ms", &self.cloud_ms)?;
        s.serialize_field("cloud_compute_ms", &self.cloud_compute_ms)?;
        s.serialize_field("cloud_fallback_reason", &self.cloud_fallback_reason)?;
        s.end()
    }
}

impl Report {
    /// The edge's whole time, ms: `edge_queue_ms + edge_compute_ms` (the JSON key `edge_ms`).
    pub fn edge_ms(&self) -> f64 {
        self.edge_queue_ms + self.edge_compute_ms
    }

    /// One line for logs and overlays, e.g.
    /// `cut 37 (after layer2) via Wi-Fi: 41 ms, 112 KB up, 18 mJ`.
    pub fn summary(&self) -> String {
        let net = network_label(self.network);
        let cost =
            format!("{:.0} ms, {} up, {:.0} mJ", self.total_ms, kilobytes(self.bytes_up), self.energy_mj);
        let cut = match (&self.after_node, self.plan.cut) {
            (_, 0) => "the raw input".to_string(),
            (Some(node), c) => format!("cut {c} (after {node})"),
            (None, c) => format!("cut {c}"),
        };
        let forced = if self.forced_cut {
            " [forced]"
        } else if self.exploration {
            " [exploring]"
        } else {
            ""
        };
        match (self.plan.offloads(), self.offloaded, self.fallback_reason) {
            (true, true, _) => format!("{cut}{forced} via {net}: {cost}"),
            (true, false, Some(r)) => format!("{cut}{forced} via {net}, finished locally ({r}): {cost}"),
            (_, _, Some(r)) => format!("local ({r}): {cost}"),
            _ => format!("local on {net}: {cost}"),
        }
    }
}

/// A network kind as people write it: `Wi-Fi`, `LTE`, `3G`...
fn network_label(kind: NetworkKind) -> &'static str {
    match kind {
        NetworkKind::Wifi => "Wi-Fi",
        NetworkKind::Cellular(CellularGen::G2) => "2G",
        NetworkKind::Cellular(CellularGen::G3) => "3G",
        NetworkKind::Cellular(CellularGen::Lte) => "LTE",
        NetworkKind::Cellular(CellularGen::G5) => "5G",
        NetworkKind::Cellular(CellularGen::Unknown) => "cellular",
        NetworkKind::Ethernet => "Ethernet",
        NetworkKind::None => "no network",
        NetworkKind::Unknown => "an unknown network",
    }
}

/// `112 KB`, `1.5 KB`, `0 KB` (decimal kilobytes).
fn kilobytes(bytes: u64) -> String {
    let kb = bytes as f64 / 1000.0;
    if bytes == 0 {
        "0 KB".into()
    } else if kb < 10.0 {
        format!("{kb:.1} KB")
    } else {
        format!("{kb:.0} KB")
    }
}

/// The answer to one request: the outputs and how they were obtained.
#[derive(Clone, Debug)]
pub struct InferResult {
    /// The model outputs in the model's order, or, for a multi-exit model, the output of the
    /// exit the plan took. Always complete and correct: computed by the edge or the phone.
    pub outputs: Vec<NamedTensor>,
    /// What happened.
    pub report: Report,
}

impl InferResult {
    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<&NamedTensor> {
        self.outputs.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{Prediction, Tier};

    fn report(offloads: bool, offloaded: bool, reason: Option<FallbackReason>) -> Report {
        Report {
            request_id: 1,
            plan: Plan {
                cut: 37,
                cloud_cut: None,
                exit: None,
                encoding: crate::encoding::Encoding::Fp32,
                tiers: if offloads { vec![Tier::Device, Tier::Edge] } else { vec![Tier::Device] },
                predicted: Prediction::default(),
                accuracy: None,
                reason: "test".into(),
                deadline_met: None,
                table: vec![],
                adjustments: vec![],
                fidelity: None,
                codec_table: vec![],
            },
            after_node: Some("layer2".into()),
            forced_cut: false,
            exploration: false,
            network: NetworkKind::Wifi,
            link: LinkEstimate::fixed(18.88, 30.0, 15.0),
            offloaded,
            fallback_reason: reason,
            fallback_detail: None,
            phone_ms: 10.0,
            upload_rtt_ms: 20.0,
            edge_queue_ms: 0.0,
            edge_compute_ms: 5.0,
            download_ms: 6.0,
            total_ms: 41.2,
            bytes_up: 112_400,
            bytes_down: 512,
            energy_mj: 18.3,
            deadline_ms: None,
            deadline_met: None,
            edge_timeout_ms: None,
            breaker: BreakerPhase::Closed,
            encoding_sent: offloads.then_some(Encoding::Fp32),
            decisions: vec![],
            cloud_cut: None,
            cloud_ms: None,
            cloud_compute_ms: None,
            cloud_fallback_reason: None,
        }
    }

    #[test]
    fn json_keeps_the_older_timing_keys_and_round_trips() {
        let mut r = report(true, true, None);
        r.edge_queue_ms = 1.5;
        r.plan.table = vec![];
        r.decisions = vec![Decision::EncodingChanged {
            planned: Encoding::Fp16,
            sent: Encoding::Fp32,
            reason: "test".into(),
        }];
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!((v["upload_rtt_ms"].as_f64(), v["upload_ms"].as_f64()), (Some(20.0), Some(20.0)));
        assert_eq!((v["edge_queue_ms"].as_f64(), v["edge_compute_ms"].as_f64()), (Some(1.5), Some(5.0)));
        assert_eq!(v["edge_ms"].as_f64(), Some(6.5));
        assert_eq!(v["encoding_sent"], "fp32");
        assert_eq!(v["decisions"][0]["kind"], "encoding_changed");
        assert_eq!(v["decisions"][0]["planned"], "fp16");
        let back: Report = serde_json::from_value(v).expect("deserializes");
        assert_eq!(back, r);
    }

    #[test]
    fn summaries() {
        assert_eq!(
            report(true, true, None).summary(),
            "cut 37 (after layer2) via Wi-Fi: 41 ms, 112 KB up, 18 mJ"
        );
        assert_eq!(
            report(true, false, Some(FallbackReason::Timeout)).summary(),
            "cut 37 (after layer2) via Wi-Fi, finished locally (timeout): 41 ms, 112 KB up, 18 mJ"
        );
        let mut local = report(false, false, Some(FallbackReason::BreakerOpen));
        local.bytes_up = 0;
        assert_eq!(local.summary(), "local (breaker open): 41 ms, 0 KB up, 18 mJ");
        local.fallback_reason = None;
        assert_eq!(local.summary(), "local on Wi-Fi: 41 ms, 0 KB up, 18 mJ");
    }

    #[test]
    fn reasons_serialize_with_a_code() {
        let json = serde_json::to_string(&FallbackReason::ServerError { status: 503 }).expect("serializes");
        assert_eq!(json, r#"{"code":"server_error","status":503}"#);
        assert_eq!(
            serde_json::to_string(&FallbackReason::Timeout).expect("serializes"),
            r#"{"code":"timeout"}"#
        );
        for r in
            [FallbackReason::Offline, FallbackReason::Rejected { status: 400 }, FallbackReason::LinkReset]
        {
            let back: FallbackReason = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back, r);
            assert!(serde_json::to_string(&r).unwrap().contains(r.code()));
        }
    }
}
