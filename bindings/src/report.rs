//! What a request did, flattened for the FFI: the plan, what happened, and why it fell back.
//!
//! These stay records of their own: the FFI's [`Plan`] flattens the prediction and leaves out
//! the per-cut table, and [`Report`] flattens the link estimate, names its timings for apps
//! (`upload_rtt_ms`, `edge_queue_ms`, `edge_compute_ms`) and carries the computed `summary`.
//! The enums inside (tiers, fallback reasons, network kinds) are the core's.

use tandem_sdk as tc;
use tc::encoding::Encoding;
use tc::planner::Tier;
use tc::{FallbackReason, NetworkKind};

use crate::Tensor;

/// The planner's decision for one request.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Plan {
    /// Where the phone stops: 0 sends the raw input, the last cut runs everything locally.
    pub cut: usize,
    /// Where the edge stops and a cloud takes over (three tiers only).
    pub cloud_cut: Option<usize>,
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
    pub predicted_upload_rtt_ms: f64,
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
    /// Whether the session offloaded this request, which its plan kept local, at a late cut
    /// to sample the link.
    pub exploration: bool,
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
    /// Upload and one round trip, ms (for a failed attempt, the time lost on it).
    pub upload_rtt_ms: f64,
    /// Time the request waited for a compute slot on the edge, ms, as a Tandem edge reports
    /// it (0 for a plain OIP edge, which does not say).
    pub edge_queue_ms: f64,
    /// The edge's compute (preparation and model), ms, as a Tandem edge reports it; for a
    /// plain OIP edge, the session's belief of the edge's time.
    pub edge_compute_ms: f64,
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
    /// Three tiers: the cut where the cloud took over (`None` with two tiers, or when the
    /// cloud failed and the edge finished).
    pub cloud_cut: Option<usize>,
    /// Three tiers: the edge's round trip to the cloud, ms.
    pub cloud_ms: Option<f64>,
    /// Three tiers: why the edge finished the request itself instead of the cloud.
    pub cloud_fallback_reason: Option<String>,
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

impl From<&tc::Plan> for Plan {
    fn from(p: &tc::Plan) -> Self {
        Plan {
            cut: p.cut,
            cloud_cut: p.cloud_cut,
            exit: p.exit.clone(),
            encoding: p.encoding,
            tiers: p.tiers.clone(),
            offloads: p.offloads(),
            reason: p.reason.clone(),
            deadline_met: p.deadline_met,
            accuracy: p.accuracy,
            predicted_phone_ms: p.predicted.phone_ms,
            predicted_upload_rtt_ms: p.predicted.upload_ms + p.predicted.rtt_ms,
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
            exploration: r.exploration,
            network: r.network,
            offloaded: r.offloaded,
            fallback_reason: r.fallback_reason,
            fallback_detail: r.fallback_detail.clone(),
            phone_ms: r.phone_ms,
            upload_rtt_ms: r.upload_rtt_ms,
            edge_queue_ms: r.edge_queue_ms,
            edge_compute_ms: r.edge_compute_ms,
            download_ms: r.download_ms,
            total_ms: r.total_ms,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            energy_mj: r.energy_mj,
            deadline_ms: r.deadline_ms,
            deadline_met: r.deadline_met,
            uplink_mbps: r.link.uplink_mbps,
            rtt_ms: r.link.rtt_ms,
            cloud_cut: r.cloud_cut,
            cloud_ms: r.cloud_ms,
            cloud_fallback_reason: r.cloud_fallback_reason.clone(),
            summary: r.summary(),
        }
    }
}

impl From<tc::InferResult> for InferResult {
    fn from(r: tc::InferResult) -> Self {
        let report = (&r.report).into();
        InferResult { outputs: r.outputs, report }
    }
}
