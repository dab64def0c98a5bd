//! The session's public configuration types: its errors, tuning, per-request options and
//! what it knows about its edge.

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerConfig;
use crate::devprofile::CalibrationOptions;
use crate::encoding::Encoding;
use crate::netest::{EstimatorConfig, ProbeConfig};
use crate::planner::PlanError;
use crate::Error;

/// What can go wrong with a session: only caller mistakes and local failures. Network and
/// edge faults are never errors: the request finishes on the phone and the report says why.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The model file could not be loaded.
    #[error("loading the model: {0}")]
    Load(#[source] Error),
    /// The input tensors do not fit the model (names, types, shapes, byte lengths).
    #[error("invalid input: {0}")]
    InvalidInput(#[source] Error),
    /// The options of a request are unusable (unknown cut, cut below the privacy floor...).
    #[error("invalid request options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// Running the model on the phone failed.
    #[error("local inference failed: {0}")]
    Engine(#[source] Error),
    /// The session's configuration is unusable (edge URL, CA certificate, policy, model
    /// metadata, runtime).
    #[error("invalid session configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The planner refused the phone's own measurements (a bug or a corrupt device profile).
    #[error("planning failed: {0}")]
    Plan(#[source] PlanError),
    /// The model can only run on the edge (the phone's engine cannot run it) and the edge
    /// could not take this request (offline, unreachable, failed, or the policy forbids it).
    #[error("{reason}, but the edge could not take the request: {detail}")]
    EdgeRequired {
        /// Why the model needs the edge.
        reason: String,
        /// Why the edge could not take it.
        detail: String,
    },
    /// [`Session::close`] was called.
    #[error("the session is closed")]
    Closed,
    /// A bug: a task of the session was lost.
    #[error("internal error: {reason}")]
    Internal {
        /// What was lost.
        reason: String,
    },
}

/// Tuning of a session. Every field has a sensible default; the tests shorten timeouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// Longest wait for a TCP (and TLS) connection to the edge, ms.
    pub connect_timeout_ms: u64,
    /// Longest a request waits for the edge's model check to finish before running
    /// locally (the check starts when the session is built), ms.
    pub connect_wait_ms: u64,
    /// Without a deadline, the edge gets `edge_timeout_factor` times its predicted time,
    /// clamped to `[min_edge_timeout_ms, max_edge_timeout_ms]`.
    pub edge_timeout_factor: f64,
    /// The shortest edge timeout without a deadline, ms.
    pub min_edge_timeout_ms: f64,
    /// The longest edge timeout, with or without a deadline, ms.
    pub max_edge_timeout_ms: f64,
    /// With a deadline, the edge is given up on when finishing locally would take all the
    /// time left: the local estimate is multiplied by this safety factor...
    pub local_safety_factor: f64,
    /// ...and this margin is kept, ms.
    pub deadline_margin_ms: f64,
    /// How often the edge's profile and model hash are refreshed, ms.
    pub edge_refresh_ms: u64,
    /// Run an active bandwidth probe in the background when the network has no fresh
    /// estimate (never on a metered network unless the policy allows metered data).
    pub auto_probe: bool,
    /// How the probe runs.
    pub probe: ProbeConfig,
    /// The shortest time between two automatic probes (a failed or inconclusive probe is not
    /// retried sooner either), ms.
    pub probe_interval_ms: u64,
    /// Exploratory offloads: now and then, a request the plan keeps local is offloaded at a
    /// late cut instead, to sample the link (docs/SESSION.md, ADR 0015).
    pub exploration: ExplorationConfig,
    /// Calibrate the device profile in the background the first time (and when the thermal
    /// state changes); until then, a multiply-accumulate estimate is used.
    pub calibrate: bool,
    /// How the calibration runs.
    pub calibration: CalibrationOptions,
    /// The phone's assumed speed before anything is measured, giga multiply-accumulates
    /// per second (the first local run replaces the assumption).
    pub assumed_device_gmacs: f64,
    /// The edge's assumed speed-up over the phone before its profile is fetched.
    pub assumed_edge_speedup: f64,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The network estimator.
    pub estimator: EstimatorConfig,
    /// Reports buffered per subscriber of [`Session::subscribe`].
    pub reports_capacity: usize,
    /// Worker threads of the session's own async runtime (ignored with
    /// [`SessionBuilder::runtime`]). Model parts run on its blocking pool.
    pub worker_threads: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            connect_timeout_ms: 3_000,
            connect_wait_ms: 1_000,
            edge_timeout_factor: 3.0,
            min_edge_timeout_ms: 1_000.0,
            max_edge_timeout_ms: 30_000.0,
            local_safety_factor: 1.25,
            deadline_margin_ms: 3.0,
            edge_refresh_ms: 30_000,
            auto_probe: true,
            probe: ProbeConfig::default(),
            probe_interval_ms: 10_000,
            exploration: ExplorationConfig::default(),
            calibrate: true,
            calibration: CalibrationOptions::default(),
            assumed_device_gmacs: 2.0,
            assumed_edge_speedup: 4.0,
            breaker: BreakerConfig::default(),
            estimator: EstimatorConfig::default(),
            reports_capacity: 64,
            worker_threads: 2,
        }
    }
}

/// When the session offloads a request its plan keeps local, to sample the link: a stale
/// pessimistic estimate would otherwise keep every request local, and a phone that never
/// offloads never learns that the link got better.
///
/// A request explores only when all hold: exploration is `enabled`; the plan is local and
/// not forced (no forced cut, no whole-model edge); the network is online and **not
/// metered** (whatever the policy allows); the edge is verified (same model file) and the
/// breaker lets a request through (closed, or open with its back-off over: the exploration
/// is then the half-open trial); the battery is not critical (`low_power` off, and above
/// `min_battery_level` unless charging); at least `every_requests` requests have been made
/// since the last exploration; and neither an exploration nor a successful offload happened
/// in the last `min_interval_ms`. No randomness: the same requests at the same times explore
/// the same way.
///
/// The exploratory request is sent at the allowed offloading cut whose remote part (upload,
/// round trip, edge, download) the plan's own cost table predicts shortest (typically a late
/// cut that sends few bytes), with an edge timeout of at most `max(timeout_fraction x local time,
/// min_timeout_ms)` (and within the deadline as usual): if the link is as bad as believed,
/// the phone finishes the few remaining layers itself, so the request costs about its local
/// time plus that timeout. Its outputs are as correct as any other request's; its report
/// says `exploration: true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExplorationConfig {
    /// Whether to explore at all.
    pub enabled: bool,
    /// At most one exploratory request in this many requests.
    pub every_requests: u64,
    /// At most one exploratory request in this long, and none this long after a successful
    /// offload (the link was just sampled), ms.
    pub min_interval_ms: u64,
    /// The edge timeout of an exploratory request, as a fraction of the predicted local time
    /// of the whole model...
    pub timeout_fraction: f64,
    /// ...but at least this long, ms.
    pub min_timeout_ms: f64,
    /// Below this battery level (0..1), unless charging, the session does not explore.
    pub min_battery_level: f32,
}

impl Default for ExplorationConfig {
    fn default() -> Self {
        ExplorationConfig {
            enabled: true,
            every_requests: 10,
            min_interval_ms: 5_000,
            timeout_fraction: 0.5,
            min_timeout_ms: 50.0,
            min_battery_level: 0.2,
        }
    }
}

/// Per-request overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct InferOptions {
    /// Force this cut instead of the planner's choice (for experts, tests and benchmarks).
    /// It must respect the policy's privacy floor. The edge may still be skipped (offline,
    /// breaker open...), and the report says why.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub cut: Option<usize>,
    /// Force this encoding of the crossing tensors when offloading.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub encoding: Option<Encoding>,
    /// Three tiers: force this cloud cut (after `cut`): the edge runs up to it and the cloud
    /// server behind the edge the rest. Refused, and reported, without a cloud tier.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub cloud_cut: Option<usize>,
    /// This request's deadline, ms, instead of the policy's.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub deadline_ms: Option<f64>,
}

/// What the session knows about its edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EdgeStatus {
    /// The session has no edge: everything runs locally.
    NoEdge,
    /// The edge's model hash has not been checked yet (or it could not be reached).
    Unverified,
    /// The edge serves the same model file: offloading is allowed.
    Verified,
    /// The edge serves a different model file under this model's name: never offloaded.
    HashMismatch,
}
