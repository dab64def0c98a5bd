//! What a request did, flattened for the FFI: the plan, what happened, and why it fell back.

use tandem_sdk as tc;

use crate::platform::NetworkKind;
use crate::policy::Encoding;
use crate::tensor::Tensor;

/// Where a part of the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Tier {
    /// The phone.
    Device,
    /// The edge server.
    Edge,
    /// A cloud behind the edge.
    Cloud,
}

/// Why a request that could have used the edge ran (or finished) on the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum FallbackReason {
    /// The phone is offline.
    Offline,
    /// The network is metered and the policy forbids spending data on it.
    MeteredForbidden,
    /// The edge failed repeatedly; it is not tried until a back-off has elapsed.
    BreakerOpen,
    /// The edge serves a different model file under this model's name.
    HashMismatch,
    /// The edge does not serve this model.
    ModelNotServed,
    /// The edge refused the token.
    Unauthorized,
    /// No connection could be made (refused, unreachable, DNS, TLS).
    EdgeUnreachable,
    /// The edge did not answer in time.
    Timeout,
    /// The connection broke while the request or the answer was on its way.
    LinkReset,
    /// The edge answered with a server error (5xx).
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// The edge refused the request with another client error (4xx).
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The edge's answer could not be used.
    MalformedResponse,
}

/// What the session knows about its edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum EdgeStatus {
    /// No edge configured: everything runs on the phone.
    NoEdge,
    /// The edge's model has not been checked yet, or the edge could not be reached.
    Unverified,
    /// The edge serves the same model file: requests may offload.
    Verified,
    /// The edge serves a different model file under this model's name: never offloaded.
    HashMismatch,
}

/// The planner's decision for one request.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Plan {
    /// Where the phone stops: 0 sends the raw input, the last cut runs everything locally.
    pub cut: u32,
    /// Where the edge stops and a cloud takes over (three tiers only).
    pub cloud_cut: Option<u32>,
    /// The early exit taken, for multi-exit models.
    pub exit: Option<String>,
    /// How the crossing tensors are encoded.
    pub encoding: Encoding,
    /// The tiers that run a part, in order.
    pub tiers: Vec<Tier>,
    /// Whether anything leaves the phone.
    pub offloads: bool,
    /// Why this plan won, for people.
    pub reason: String,
    /// Whether the predicted latency meets the deadline (`None` without a deadline).
    pub deadline_met: Option<bool>,
    /// Predicted accuracy of the exit and encoding, from the model's metadata.
    pub accuracy: Option<f64>,
    /// Predicted phone compute, ms.
    pub predicted_phone_ms: f64,
    /// Predicted upload and round trip, ms.
    pub predicted_upload_ms: f64,
    /// Predicted edge queue and compute, ms.
    pub predicted_edge_ms: f64,
    /// Predicted download, ms.
    pub predicted_download_ms: f64,
    /// Predicted end-to-end latency, ms.
    pub predicted_total_ms: f64,
    /// Predicted bytes sent.
    pub predicted_bytes_up: u64,
    /// Predicted phone energy, mJ.
    pub predicted_energy_mj: f64,
}

/// What one request did. Numbers carry their unit in their name.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Report {
    /// The client's request counter (for logs; not a user identifier).
    pub request_id: u64,
    /// The plan the request followed.
    pub plan: Plan,
    /// The ONNX node just before the plan's cut (`None` for cut 0).
    pub after_node: Option<String>,
    /// Whether the cut was forced by the caller ([`crate::InferOptions::cut`]).
    pub forced_cut: bool,
    /// The network the request went over (or would have).
    pub network: NetworkKind,
    /// Whether the edge computed (part of) the result.
    pub offloaded: bool,
    /// Why the edge was not used, or not to the end; `None` when the plan ran as planned.
    pub fallback_reason: Option<FallbackReason>,
    /// A sentence about the fallback, for people and logs.
    pub fallback_detail: Option<String>,
    /// Phone compute, ms.
    pub phone_ms: f64,
    /// Upload and one round trip, ms.
    pub upload_ms: f64,
    /// The edge's own time (queue and compute), ms.
    pub edge_ms: f64,
    /// Download, ms.
    pub download_ms: f64,
    /// From the call to the result, ms.
    pub total_ms: f64,
    /// Request body bytes sent.
    pub bytes_up: u64,
    /// Response body bytes received.
    pub bytes_down: u64,
    /// The phone's modeled energy for this request (compute and radio), mJ.
    pub energy_mj: f64,
    /// The deadline the request had, ms.
    pub deadline_ms: Option<f64>,
    /// Whether `total_ms` met the deadline (`None` without one).
    pub deadline_met: Option<bool>,
    /// Estimated uplink throughput the plan used, Mbps.
    pub uplink_mbps: f64,
    /// Estimated round trip the plan used, ms.
    pub rtt_ms: f64,
    /// One line for logs and overlays, e.g.
    /// `cut 37 (after layer2) via Wi-Fi: 41 ms, 112 KB up, 18 mJ`.
    pub summary: String,
}

/// The answer to one request: always complete and correct, computed by the edge or the phone.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct InferResult {
    /// The model outputs, in the model's order.
    pub outputs: Vec<Tensor>,
    /// What happened.
    pub report: Report,
}

impl From<tc::planner::Tier> for Tier {
    fn from(t: tc::planner::Tier) -> Self {
        match t {
            tc::planner::Tier::Device => Tier::Device,
            tc::planner::Tier::Edge => Tier::Edge,
            tc::planner::Tier::Cloud => Tier::Cloud,
        }
    }
}

impl From<tc::FallbackReason> for FallbackReason {
    fn from(r: tc::FallbackReason) -> Self {
        use tc::FallbackReason as R;
        match r {
            R::Offline => FallbackReason::Offline,
            R::MeteredForbidden => FallbackReason::MeteredForbidden,
            R::BreakerOpen => FallbackReason::BreakerOpen,
            R::HashMismatch => FallbackReason::HashMismatch,
            R::ModelNotServed => FallbackReason::ModelNotServed,
            R::Unauthorized => FallbackReason::Unauthorized,
            R::EdgeUnreachable => FallbackReason::EdgeUnreachable,
            R::Timeout => FallbackReason::Timeout,
            R::LinkReset => FallbackReason::LinkReset,
            R::ServerError { status } => FallbackReason::ServerError { status },
            R::Rejected { status } => FallbackReason::Rejected { status },
            R::MalformedResponse => FallbackReason::MalformedResponse,
        }
    }
}

impl From<tc::EdgeStatus> for EdgeStatus {
    fn from(s: tc::EdgeStatus) -> Self {
        match s {
            tc::EdgeStatus::NoEdge => EdgeStatus::NoEdge,
            tc::EdgeStatus::Unverified => EdgeStatus::Unverified,
            tc::EdgeStatus::Verified => EdgeStatus::Verified,
            tc::EdgeStatus::HashMismatch => EdgeStatus::HashMismatch,
        }
    }
}

/// Cut ids are small (one per ONNX node at most); saturate rather than wrap if not.
fn id32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl From<&tc::Plan> for Plan {
    fn from(p: &tc::Plan) -> Self {
        Plan {
            cut: id32(p.cut),
            cloud_cut: p.cloud_cut.map(id32),
            exit: p.exit.clone(),
            encoding: p.encoding.into(),
            tiers: p.tiers.iter().copied().map(Into::into).collect(),
            offloads: p.offloads(),
            reason: p.reason.clone(),
            deadline_met: p.deadline_met,
            accuracy: p.accuracy,
            predicted_phone_ms: p.predicted.phone_ms,
            predicted_upload_ms: p.predicted.upload_ms + p.predicted.rtt_ms,
            predicted_edge_ms: p.predicted.edge_ms + p.predicted.cloud_ms,
            predicted_download_ms: p.predicted.download_ms,
            predicted_total_ms: p.predicted.total_ms,
            predicted_bytes_up: p.predicted.bytes_up,
            predicted_energy_mj: p.predicted.energy_mj,
        }
    }
}

impl From<&tc::Report> for Report {
    fn from(r: &tc::Report) -> Self {
        Report {
            request_id: r.request_id,
            plan: (&r.plan).into(),
            after_node: r.after_node.clone(),
            forced_cut: r.forced_cut,
            network: r.network.into(),
            offloaded: r.offloaded,
            fallback_reason: r.fallback_reason.map(Into::into),
            fallback_detail: r.fallback_detail.clone(),
            phone_ms: r.phone_ms,
            upload_ms: r.upload_rtt_ms,
            edge_ms: r.edge_ms(),
            download_ms: r.download_ms,
            total_ms: r.total_ms,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            energy_mj: r.energy_mj,
            deadline_ms: r.deadline_ms,
            deadline_met: r.deadline_met,
            uplink_mbps: r.link.uplink_mbps,
            rtt_ms: r.link.rtt_ms,
            summary: r.summary(),
        }
    }
}

impl From<tc::InferResult> for InferResult {
    fn from(r: tc::InferResult) -> Self {
        let report = (&r.report).into();
        InferResult { outputs: r.outputs.into_iter().map(Into::into).collect(), report }
    }
}
