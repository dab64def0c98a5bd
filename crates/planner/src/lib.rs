//! # tandem-planner
//!
//! Where to cut, which exit, which encoding and which tiers, for one request; and what that
//! decision needs: the energy model ([`energy`]), the link estimator ([`netest`]), device
//! profiles ([`devprofile`]) and the platform state the planner reads ([`platform`]).
//!
//! Pure and deterministic: the same inputs give the same plan, with no I/O and no clock. The
//! cost model and the objectives are documented in `docs/PLANNER.md`. In short, for a cut `c`
//! sending `B(c)` bytes:
//!
//! ```text
//! latency(c) = phone_ms(c) + B(c)·8/uplink + rtt + queue + edge_ms(c) + out·8/downlink
//! energy(c)  = compute_mw·phone_ms(c) + radio(upload, wait, download, tail)    (energy.rs)
//! ```
//!
//! The last cut is local-only (no radio); cut 0 sends the raw input (edge-only).
//!
//! A decision, [`plan`], runs in four steps, one module each: check the inputs (`validate`),
//! predict every way to run the request (`cost`: the cost model), choose under the policy
//! ([`policy`]) and the [`constraints`] (`choose`), and explain the choice (`explain`).

mod choose;
pub mod constraints;
mod cost;
pub mod devprofile;
pub mod energy;
mod explain;
pub mod netest;
pub mod platform;
pub mod policy;
mod validate;

// UniFFI derives on the types the Kotlin and Swift bindings carry as they are (bindings/).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
uniffi::use_remote_type!(tandem_model::usize);

use serde::{Deserialize, Serialize};
use tandem_model::encoding::Encoding;
use tandem_model::meta::ModelMeta;
use tandem_model::Cut;

pub use constraints::{Adjustment, Constraints, UnusableEncoding};
pub use devprofile::{DeviceProfile, ProfileStore};
pub use energy::{EnergyBreakdown, EnergyModel};
pub use netest::{LinkEstimate, NetworkEstimator, TransferSample};
pub use platform::{CellularGen, NetworkKind, PlatformState, ThermalState};
pub use policy::{balanced_weights, Objective, Policy};
pub use tandem_protocol::profile::{EdgeCutProfile, EdgeLoad, EdgeProfile, ProfileStatus};

/// The third tier: a cloud behind the edge.
#[derive(Clone, Copy, Debug)]
pub struct CloudTier<'a> {
    /// The cloud's per-cut times and load.
    pub profile: &'a EdgeProfile,
    /// The edge's link to the cloud.
    pub link: &'a LinkEstimate,
}

/// Everything a decision depends on.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// The model's cut table.
    pub cuts: &'a [Cut],
    /// The phone's time before each cut.
    pub device: &'a DeviceProfile,
    /// The edge's time after each cut and its load; `None`: no edge.
    pub edge: Option<&'a EdgeProfile>,
    /// A cloud behind the edge, for three-tier plans.
    pub cloud: Option<CloudTier<'a>>,
    /// The phone's link to the edge.
    pub link: &'a LinkEstimate,
    /// The phone's state.
    pub platform: &'a PlatformState,
    /// The phone's energy model.
    pub energy: &'a EnergyModel,
    /// The application's policy.
    pub policy: &'a Policy,
    /// The model's exits and encoding costs.
    pub meta: Option<&'a ModelMeta>,
    /// What the caller or the edge imposes beyond the policy (forced cuts, the cuts and
    /// encodings the edge can take); `Default::default()`: nothing.
    pub constraints: Constraints,
}

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Tier {
    /// The phone.
    Device,
    /// The edge server.
    Edge,
    /// The cloud behind the edge.
    Cloud,
}

/// A plan's predicted costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Phone compute, ms.
    pub phone_ms: f64,
    /// Upload from the phone, ms.
    pub upload_ms: f64,
    /// Round trip(s), ms.
    pub rtt_ms: f64,
    /// Edge queue and compute, ms.
    pub edge_ms: f64,
    /// Edge-to-cloud transfer, cloud queue and compute, ms (three tiers).
    pub cloud_ms: f64,
    /// Download to the phone, ms.
    pub download_ms: f64,
    /// Everything, ms.
    pub total_ms: f64,
    /// Bytes the phone sends.
    pub bytes_up: u64,
    /// Bytes the phone receives.
    pub bytes_down: u64,
    /// Phone energy, mJ.
    pub energy_mj: f64,
    /// Phone energy without the radio tail, mJ.
    pub energy_without_tail_mj: f64,
}

/// The cost of one cut (with the best encoding for it), for the plan's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutCost {
    /// The cut.
    pub cut: usize,
    /// The encoding that scored best at this cut.
    pub encoding: Encoding,
    /// Bytes the phone sends.
    pub bytes_up: u64,
    /// Phone compute, ms.
    pub phone_ms: f64,
    /// Upload, ms.
    pub upload_ms: f64,
    /// Edge queue and compute, ms.
    pub edge_ms: f64,
    /// Download, ms.
    pub download_ms: f64,
    /// Predicted latency, ms.
    pub latency_ms: f64,
    /// Predicted phone energy, mJ.
    pub energy_mj: f64,
    /// The objective's score (lower is better).
    pub score: f64,
    /// Whether the policy allows this cut (privacy floor, offloading allowed).
    pub allowed: bool,
}

/// The planner's decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Where the phone stops: the last cut means local-only.
    pub cut: usize,
    /// Where the edge stops and the cloud takes over (three tiers only).
    pub cloud_cut: Option<usize>,
    /// The exit computed (`None`: the model's outputs, no exits declared).
    pub exit: Option<String>,
    /// The crossing tensors' encoding.
    pub encoding: Encoding,
    /// The tiers that run a part, in order.
    pub tiers: Vec<Tier>,
    /// Predicted costs.
    pub predicted: Prediction,
    /// Predicted accuracy of the exit with this encoding (from the model's metadata).
    pub accuracy: Option<f64>,
    /// Why this plan won, for people.
    pub reason: String,
    /// Whether the deadline is met (`None` without a deadline).
    pub deadline_met: Option<bool>,
    /// Per-cut costs for the chosen exit (two tiers).
    pub table: Vec<CutCost>,
    /// How the plan departs from the planner's own choice because of the constraints, and
    /// the constraints it could not honour (also summed up at the end of `reason`).
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    /// The chosen codec's calibrated fidelity (`top-1 agreement 99.8%`, `cosine >= 0.9995`),
    /// when the sidecar measured it at the chosen cut.
    #[serde(default)]
    pub fidelity: Option<String>,
    /// Per-cut costs for the chosen exit, one row per cut and allowed codec (two tiers);
    /// a cut without any is one float32 row, not allowed.
    #[serde(default)]
    pub codec_table: Vec<CutCost>,
}

impl Plan {
    /// Whether anything leaves the phone.
    pub fn offloads(&self) -> bool {
        self.tiers.len() > 1
    }
}

/// Why no plan could be made: the inputs are inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The cut table is empty.
    #[error("the model has no cuts")]
    NoCuts,
    /// The cut table's ids are not 0, 1, 2, ...
    #[error("the cut table is out of order: position {position} holds cut {id}")]
    CutOrder {
        /// Position in the table.
        position: usize,
        /// The id found there.
        id: usize,
    },
    /// A profile has another number of cuts than the model.
    #[error("the {profile} profile has {got} cuts, the model {expected}")]
    ProfileLength {
        /// Which profile (`device`, `edge`, `cloud`).
        profile: &'static str,
        /// The model's cut count.
        expected: usize,
        /// The profile's.
        got: usize,
    },
    /// A profile names a cut the model does not have, or lists cuts out of order.
    #[error("the {profile} profile has cut {id} at position {position}")]
    UnknownCut {
        /// Which profile.
        profile: &'static str,
        /// The id found.
        id: usize,
        /// Its position.
        position: usize,
    },
    /// A time is missing.
    #[error("the {profile} profile has no time for cut {cut}")]
    MissingTime {
        /// Which profile.
        profile: &'static str,
        /// The cut.
        cut: usize,
    },
    /// A time is negative, NaN or infinite.
    #[error("the {profile} profile has time {value} ms for cut {cut}")]
    BadTime {
        /// Which profile.
        profile: &'static str,
        /// The cut.
        cut: usize,
        /// The value.
        value: f64,
    },
    /// A profile is for another model file.
    #[error("the {profile} profile is for model {got}, not {expected}")]
    HashMismatch {
        /// Which profile.
        profile: &'static str,
        /// The model's hash.
        expected: String,
        /// The profile's.
        got: String,
    },
    /// A link or load number is negative or NaN.
    #[error("{field} is {value}")]
    BadNumber {
        /// Which number.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// The policy is unusable.
    #[error("invalid policy: {reason}")]
    BadPolicy {
        /// What is wrong.
        reason: String,
    },
    /// The constraints are inconsistent with the model (a forced cut beyond the last).
    #[error("invalid constraints: {reason}")]
    BadConstraints {
        /// What is wrong.
        reason: String,
    },
    /// An exit's output is not produced at any cut.
    #[error("exit `{name}`: output `{output}` is not a tensor of this model")]
    UnknownExit {
        /// The exit.
        name: String,
        /// Its output.
        output: String,
    },
}

/// Makes a plan. Errors only on inconsistent inputs; an unusable network or edge gives a
/// local plan with the reason.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let prep = cost::prepare(input)?;
    let scorer = cost::Scorer::new(input, &prep);
    let (candidates, two_tier) = cost::candidates(input, &prep, &scorer);
    let decision = choose::decide(input, &prep, &candidates);
    Ok(explain::plan(input, &prep, &scorer, &candidates, two_tier, decision))
}
