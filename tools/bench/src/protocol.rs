//! What the benchmark and its phone process say to each other: one JSON object per line,
//! commands on the phone's stdin, responses on its stdout (logs go to its stderr).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use tandem_sdk::encoding::Encoding;

use crate::networks::Network;
use crate::trace::TraceSegment;

/// A model for the phone to open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The model's name on the edge (its file stem).
    pub name: String,
    /// The ONNX file.
    pub path: PathBuf,
    /// The input shapes to load it with (`--input-shape`), for symbolic input dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shapes: Option<Vec<Vec<usize>>>,
}

impl ModelSpec {
    /// How the phone loads the model.
    pub fn load_options(&self) -> tandem_sdk::LoadOptions {
        tandem_sdk::LoadOptions { input_shapes: self.input_shapes.clone() }
    }
}

/// How the phone sets itself up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhoneSetup {
    /// The edge as the phone sees it: the link emulator's address.
    pub edge_url: String,
    /// The models to open, one session each.
    pub models: Vec<ModelSpec>,
    /// Calibrated-slowdown mode (no cgroup): the phone runs at full speed, then sleeps
    /// `(N - 1)` times its measured compute after each request and reports it as if it had
    /// run `N` times slower. `None`: the orchestrator throttles the process (cgroup).
    pub sleep_slowdown: Option<f64>,
    /// Cuts timed by the device calibration (the others are interpolated).
    pub calibration_cuts: usize,
    /// Timed runs per calibrated cut.
    pub calibration_runs: usize,
    /// The networks of the static experiments: each model gets one online session per
    /// network (for `regret_estimated`: a session probes at most every 10 s, so each network
    /// starts from a session that has never probed).
    #[serde(default)]
    pub networks: Vec<String>,
    /// The photo the image inputs are made from (through each sidecar's `preprocessing`);
    /// `None`, or a model without `preprocessing`: seeded random inputs.
    #[serde(default)]
    pub input_image: Option<PathBuf>,
}

/// One request of the static experiments: run `cut` on `network`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasureRequest {
    /// The model's name.
    pub model: String,
    /// The network the link emulator is set to (the phone reports its kind).
    pub network: Network,
    /// The forced cut.
    pub cut: usize,
    /// Unreported runs first (they build the parts on both sides).
    pub warmup: usize,
    /// Reported runs.
    pub runs: usize,
    /// Give up on the edge when finishing locally would still make this, ms: the cap of a
    /// measurement. `None`: no cap.
    pub deadline_ms: Option<f64>,
    /// Three tiers: the forced cloud cut (after `cut`). `None`: two tiers.
    #[serde(default)]
    pub cloud_cut: Option<usize>,
    /// Force this encoding of the crossing tensors (the JPEG edge-only baseline: cut 0 in
    /// `jpeg`). `None`: the session picks.
    #[serde(default)]
    pub encoding: Option<Encoding>,
}

/// How a trace run picks its cuts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceMode {
    /// The session plans every request itself, from its online link estimate.
    Online,
    /// The oracle: it knows the trace and forces the best measured cut of the level in
    /// effect when each request starts.
    Forced {
        /// The cut to force at each level.
        cut_per_level: Vec<usize>,
    },
}

/// A trace-driven run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRun {
    /// Who picks the cuts.
    pub mode: TraceMode,
    /// The bandwidth levels over time (the orchestrator applies them to the link).
    pub trace: Vec<TraceSegment>,
    /// How long the run lasts, ms.
    pub duration_ms: f64,
    /// A request starts every `period_ms` (or as soon as the previous one ends, if later).
    pub period_ms: f64,
    /// The deadline scored when the session had none (the oracle's), ms.
    #[serde(default)]
    pub deadline_ms: Option<f64>,
}

/// A command to the phone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Build one session per model and check the edge.
    Open(PhoneSetup),
    /// Calibrate the device profile of a model (in the throttled process).
    Calibrate {
        /// The model's name.
        model: String,
    },
    /// Plan with the known link of `network` for the three objectives.
    Plan {
        /// The model's name.
        model: String,
        /// The network.
        network: Network,
    },
    /// Plan with the known link of `network` for the latency objective, with the cloud
    /// behind the edge as the edge's profile advertises it (three tiers).
    PlanThreeTiers {
        /// The model's name.
        model: String,
        /// The network.
        network: Network,
    },
    /// Plan with the online estimator: on `network` (the link is shaped to it), the model's
    /// online session (probes, its own offloads, the network kind as the OS reports it)
    /// makes `requests` requests planned by itself, waits for its first probe, and the
    /// latency objective is planned from its link estimate (with the same device and edge
    /// profiles as [`Command::Plan`]).
    PlanEstimated {
        /// The model's name.
        model: String,
        /// The network.
        network: Network,
        /// Requests the online session makes first (each with `deadline_ms`).
        requests: usize,
        /// Their deadline, ms (the sweep's cap).
        deadline_ms: f64,
    },
    /// Run forced-cut requests.
    Measure(MeasureRequest),
    /// Change the phone's speed in calibrated-slowdown mode (a phone-speed sweep; with a
    /// cgroup the orchestrator changes the quota instead). Calibrate again after it.
    SetSlowdown {
        /// How many times slower than this machine the phone now is.
        slowdown: f64,
    },
    /// Build the trace session: latency objective with a deadline, online estimation.
    TraceOpen {
        /// The model's name.
        model: String,
        /// The network kind the phone reports during the trace.
        network: Network,
        /// The requests' deadline, ms.
        deadline_ms: f64,
        /// The oracle's session: no deadline and no edge timeout short of the cap, so that a
        /// forced cut is never given up on (the deadline is still scored).
        #[serde(default)]
        oracle: bool,
    },
    /// Run a trace.
    Trace(TraceRun),
    /// Exit.
    Quit,
}

/// A cut as the orchestrator needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutInfo {
    /// The cut id.
    pub id: usize,
    /// Bytes crossing it (float32 as stored).
    pub bytes: u64,
    /// Multiply-accumulates before it.
    pub macs_before: u64,
}

/// A model the phone opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenedModel {
    /// The model's name.
    pub name: String,
    /// Its file's SHA-256.
    pub hash: String,
    /// Its cut table.
    pub cuts: Vec<CutInfo>,
    /// Time to build the session (load the model, check the edge), ms.
    pub open_ms: f64,
    /// What its inputs are, in words (a photo through the sidecar's preprocessing, or seeded
    /// random values).
    #[serde(default)]
    pub input: String,
}

/// The planner's decision for one objective.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanChoice {
    /// `latency`, `energy` or `balanced`.
    pub objective: String,
    /// The chosen cut.
    pub cut: usize,
    /// Predicted latency, ms.
    pub predicted_latency_ms: f64,
    /// Predicted phone energy, mJ.
    pub predicted_energy_mj: f64,
    /// Why it won.
    pub reason: String,
}

/// The planner's prediction for one cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutPrediction {
    /// The cut.
    pub cut: usize,
    /// Bytes sent.
    pub bytes_up: u64,
    /// Predicted latency, ms.
    pub latency_ms: f64,
    /// Predicted phone energy, mJ.
    pub energy_mj: f64,
}

/// The online estimator's view of a link when it planned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EstimatedLink {
    /// Uplink, Mbps.
    pub uplink_mbps: f64,
    /// Downlink, Mbps.
    pub downlink_mbps: f64,
    /// Round trip, ms.
    pub rtt_ms: f64,
    /// Uplink samples it rests on (probes and offloads); 0: the network kind's prior.
    pub samples: usize,
    /// The estimator's confidence, 0 to 1.
    pub confidence: f64,
}

/// One measured request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The cut it ran at.
    pub cut: usize,
    /// End to end, ms.
    pub total_ms: f64,
    /// Phone compute (slowed), ms.
    pub phone_ms: f64,
    /// Upload and one round trip, ms.
    pub upload_ms: f64,
    /// The edge's own time, ms.
    pub edge_ms: f64,
    /// Download, ms.
    pub download_ms: f64,
    /// Request body bytes.
    pub bytes_up: u64,
    /// Response body bytes.
    pub bytes_down: u64,
    /// Modeled phone energy, mJ.
    pub energy_mj: f64,
    /// Whether the edge answered.
    pub offloaded: bool,
    /// Why it fell back, if it did (the report's code).
    pub fallback: Option<String>,
    /// How long the session waited for the edge at most, ms.
    pub edge_timeout_ms: Option<f64>,
    /// Three tiers: the cut where the cloud took over (`None`: two tiers, or the cloud
    /// failed and the edge finished).
    #[serde(default)]
    pub cloud_cut: Option<usize>,
    /// Three tiers: the edge's round trip to the cloud, ms.
    #[serde(default)]
    pub cloud_ms: Option<f64>,
    /// Three tiers: the cloud's own compute, ms.
    #[serde(default)]
    pub cloud_compute_ms: Option<f64>,
    /// Three tiers: why the edge finished the request itself.
    #[serde(default)]
    pub cloud_fallback: Option<String>,
    /// The largest absolute difference of the outputs from the phone's local-only outputs
    /// (`None` before a local-only run).
    #[serde(default)]
    pub max_abs_diff: Option<f64>,
    /// The encoding the crossing tensors were sent in (`None`: nothing was sent).
    #[serde(default)]
    pub encoding_sent: Option<Encoding>,
    /// Why the plan departed from what was asked (a forced cut or encoding refused), if it
    /// did: the plan's reason.
    #[serde(default)]
    pub plan_reason: Option<String>,
}

/// One request of a trace run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// When it started, ms from the start of the run.
    pub t_start_ms: f64,
    /// The level in effect then.
    pub level: usize,
    /// The cut it ran at.
    pub cut: usize,
    /// End to end, ms.
    pub total_ms: f64,
    /// Whether the edge answered.
    pub offloaded: bool,
    /// Why it fell back, if it did.
    pub fallback: Option<String>,
    /// Whether it met the deadline.
    pub deadline_met: Option<bool>,
    /// Modeled phone energy, mJ.
    pub energy_mj: f64,
    /// The uplink the plan assumed, Mbps.
    pub estimated_uplink_mbps: f64,
    /// Request body bytes.
    pub bytes_up: u64,
    /// Whether the session made it an exploratory offload (`Report::exploration`).
    #[serde(default)]
    pub exploration: bool,
}

/// A response from the phone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The sessions are built and the edge checked.
    Opened {
        /// The models, in the order asked.
        models: Vec<OpenedModel>,
    },
    /// The device profile is calibrated.
    Calibrated {
        /// The phone's time before each cut, ms.
        before_ms: Vec<f64>,
        /// The cuts that were timed.
        timed_cuts: Vec<usize>,
        /// How long calibrating took, ms.
        elapsed_ms: f64,
    },
    /// The plans for the three objectives.
    Planned {
        /// One per objective: latency, energy, balanced.
        plans: Vec<PlanChoice>,
        /// The latency objective's per-cut predictions.
        table: Vec<CutPrediction>,
        /// The edge's time after each cut as the session knows it, ms.
        edge_after_ms: Vec<f64>,
        /// The phone's time before each cut as the planner used it, ms.
        device_before_ms: Vec<f64>,
        /// Whether the edge profile came from the edge (else the session's estimate).
        edge_profile_fetched: bool,
    },
    /// The three-tier plan (latency objective).
    PlannedThreeTiers {
        /// The phone/edge cut.
        cut: usize,
        /// The edge/cloud cut (`None`: the planner kept two tiers).
        cloud_cut: Option<usize>,
        /// Predicted latency, ms.
        predicted_latency_ms: f64,
        /// Why it won.
        reason: String,
        /// Whether the session's edge profile described a cloud.
        cloud_known: bool,
    },
    /// The latency objective's plan from the online estimator's link estimate.
    PlannedEstimated {
        /// The plan.
        plan: PlanChoice,
        /// What the estimator believed.
        link: EstimatedLink,
        /// Requests the online session made before planning.
        requests: usize,
        /// How many of them the edge answered.
        offloads: usize,
    },
    /// Measured runs.
    Measured {
        /// The reported runs (warm-ups excluded); fewer than asked when the first was capped.
        runs: Vec<RunRecord>,
    },
    /// The trace session is built.
    TraceReady,
    /// A trace run finished.
    Traced {
        /// Every request, in order.
        requests: Vec<TraceRequest>,
    },
    /// The phone's speed changed.
    SlowdownSet,
    /// The phone is exiting.
    Bye,
    /// The command failed.
    Failed {
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_responses_round_trip_as_one_json_line() {
        let cmd = Command::Trace(TraceRun {
            mode: TraceMode::Forced { cut_per_level: vec![3, 0] },
            trace: vec![TraceSegment { start_ms: 0.0, level: 1 }],
            duration_ms: 1000.0,
            period_ms: 100.0,
            deadline_ms: Some(500.0),
        });
        let line = serde_json::to_string(&cmd).expect("encodes");
        assert!(!line.contains('\n'));
        assert!(line.contains("\"cmd\":\"trace\""), "{line}");
        assert_eq!(serde_json::from_str::<Command>(&line).expect("decodes"), cmd);
        let r = Response::Failed { message: "x".into() };
        let line = serde_json::to_string(&r).expect("encodes");
        assert_eq!(serde_json::from_str::<Response>(&line).expect("decodes"), r);
    }
}
