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

pub mod devprofile;
pub mod energy;
pub mod netest;
pub mod platform;

// UniFFI derives on the types the Kotlin and Swift bindings carry as they are (bindings/).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
uniffi::use_remote_type!(tandem_model::usize);

use serde::{Deserialize, Serialize};
use tandem_model::encoding::Encoding;
use tandem_model::meta::ModelMeta;
use tandem_model::{Cut, DType};

pub use devprofile::{DeviceProfile, ProfileStore};
pub use energy::{EnergyBreakdown, EnergyModel};
pub use netest::{LinkEstimate, NetworkEstimator, TransferSample};
pub use platform::{CellularGen, NetworkKind, PlatformState, ThermalState};

use crate::energy::{transfer_ms, Activity};

/// What the planner optimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Objective {
    /// Minimum predicted latency (Neurosurgeon's latency mode).
    Latency,
    /// Minimum phone energy (Neurosurgeon's energy mode).
    Energy,
    /// Latency and energy together, energy weighing more as the battery runs down, less when
    /// charging, more in low-power mode; phone compute penalised under thermal pressure.
    #[default]
    Balanced,
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latency" => Ok(Objective::Latency),
            "energy" => Ok(Objective::Energy),
            "balanced" => Ok(Objective::Balanced),
            _ => Err(format!("unknown objective `{s}`: expected latency, energy or balanced")),
        }
    }
}

/// What the application asks of every plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Policy {
    /// What to optimise.
    pub objective: Objective,
    /// Answer within this many ms: the most accurate (exit, cut) that meets it wins; if none
    /// does, the fastest, flagged.
    pub deadline_ms: Option<f64>,
    /// Privacy floor: never cut before this cut (cut 0 sends the raw input).
    pub min_cut: usize,
    /// Never send the raw input (same as `min_cut >= 1`).
    pub keep_raw_input_on_device: bool,
    /// Offload over metered networks.
    pub allow_metered: bool,
    /// Encodings the crossing tensors may use.
    pub encodings: Vec<Encoding>,
    /// Largest accuracy drop (0..=1) an encoding may cost, from the model's metadata.
    /// Encodings without a measured drop are not used.
    pub max_accuracy_drop: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            objective: Objective::Balanced,
            deadline_ms: None,
            min_cut: 0,
            keep_raw_input_on_device: false,
            allow_metered: true,
            encodings: Encoding::ALL.to_vec(),
            max_accuracy_drop: 0.005,
        }
    }
}

impl Policy {
    /// Minimum latency.
    pub fn latency() -> Self {
        Policy { objective: Objective::Latency, ..Default::default() }
    }

    /// Minimum phone energy.
    pub fn energy() -> Self {
        Policy { objective: Objective::Energy, ..Default::default() }
    }

    /// Battery-aware balance of latency and energy.
    pub fn balanced() -> Self {
        Policy::default()
    }

    /// The first cut the policy allows.
    pub fn first_cut(&self) -> usize {
        if self.keep_raw_input_on_device {
            self.min_cut.max(1)
        } else {
            self.min_cut
        }
    }
}

/// The edge's load, as in the edge's profile endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeLoad {
    /// Requests running now.
    pub in_flight: usize,
    /// Requests waiting for a compute slot.
    pub queued: usize,
    /// Requests that run at once.
    pub capacity: usize,
    /// Recent time requests waited for a slot, ms.
    pub queue_wait_ms: f64,
}

/// One cut in an edge profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeCutProfile {
    /// The cut id.
    pub id: usize,
    /// Time of the part after the cut on the server, ms (`null` while not measured).
    pub after_ms: Option<f64>,
    /// Whether it was measured (else estimated by the server).
    #[serde(default)]
    pub measured: bool,
    /// The crossing tensors' names.
    #[serde(default)]
    pub tensors: Vec<String>,
    /// Bytes crossing the cut as stored.
    #[serde(default)]
    pub bytes: u64,
}

/// A server's per-cut times and load: the body of the edge's `GET /v2/models/{m}/profile`
/// (unknown fields are ignored), or a cloud's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeProfile {
    /// The model name on the server.
    #[serde(default)]
    pub model: String,
    /// The model file's hash on the server: must be the phone's.
    pub hash: String,
    /// Every cut, by id.
    pub cuts: Vec<EdgeCutProfile>,
    /// The load now.
    #[serde(default)]
    pub load: EdgeLoad,
}

impl EdgeProfile {
    /// An edge profile from `tandem profile`'s per-cut timings on the machine that will serve
    /// as the edge (no load).
    pub fn from_timings(
        model: &str,
        hash: &str,
        cuts: &[Cut],
        timings: &[tandem_model::check::CutTiming],
    ) -> EdgeProfile {
        EdgeProfile {
            model: model.into(),
            hash: hash.into(),
            cuts: cuts
                .iter()
                .zip(timings)
                .map(|(c, t)| EdgeCutProfile {
                    id: c.id,
                    after_ms: Some(t.after_ms),
                    measured: true,
                    tensors: c.tensors.iter().map(|t| t.name.clone()).collect(),
                    bytes: c.bytes,
                })
                .collect(),
            load: EdgeLoad { capacity: 1, ..Default::default() },
        }
    }

    /// An edge profile derived from a device profile, for a server `speedup` times faster
    /// than the phone: `after_ms(c) = (before_ms(last) - before_ms(c)) / speedup`. For the CLI
    /// and tests when no measured edge profile is at hand.
    pub fn scaled_from(device: &DeviceProfile, cuts: &[Cut], speedup: f64) -> EdgeProfile {
        let full = device.before_ms.last().copied().unwrap_or(0.0);
        EdgeProfile {
            model: String::new(),
            hash: device.model_hash.clone(),
            cuts: cuts
                .iter()
                .zip(&device.before_ms)
                .map(|(c, b)| EdgeCutProfile {
                    id: c.id,
                    after_ms: Some(((full - b) / speedup).max(0.0)),
                    measured: false,
                    tensors: c.tensors.iter().map(|t| t.name.clone()).collect(),
                    bytes: c.bytes,
                })
                .collect(),
            load: EdgeLoad { capacity: 1, ..Default::default() },
        }
    }
}

/// The third tier: a cloud behind the edge.
#[derive(Clone, Copy, Debug)]
pub struct CloudTier<'a> {
    /// The cloud's per-cut times and load.
    pub profile: &'a EdgeProfile,
    /// The edge's link to the cloud.
    pub link: &'a LinkEstimate,
}

/// Everything a decision depends on.
#[derive(Clone, Copy, Debug)]
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
    /// An exit's output is not produced at any cut.
    #[error("exit `{name}`: output `{output}` is not a tensor of this model")]
    UnknownExit {
        /// The exit.
        name: String,
        /// Its output.
        output: String,
    },
}

/// Per-cut data prepared once per decision.
struct Prepared {
    /// Phone time before each cut, ms.
    before_ms: Vec<f64>,
    /// Edge time after each cut, ms (empty without an edge).
    edge_after_ms: Vec<f64>,
    /// Float32 bytes crossing each cut that an exit still needs (exit outputs excluded).
    float_bytes: Vec<u64>,
    /// Other bytes crossing each cut that an exit still needs.
    other_bytes: Vec<u64>,
}

/// One exit the planner may choose.
struct ExitChoice<'a> {
    name: Option<&'a str>,
    accuracy: Option<f64>,
    /// The first cut at which the exit's output exists: the local-only cut for this exit.
    ready_cut: usize,
    /// Bytes of the exit's output.
    output_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    exit: usize,
    cut: usize,
    cloud_cut: Option<usize>,
    encoding: Encoding,
    accuracy: Option<f64>,
    p: Prediction,
    score: f64,
}

fn check_time(profile: &'static str, cut: usize, value: Option<f64>) -> Result<f64, PlanError> {
    match value {
        None => Err(PlanError::MissingTime { profile, cut }),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Some(value) => Err(PlanError::BadTime { profile, cut, value }),
    }
}

fn check_number(field: &'static str, value: f64, allow_infinite: bool) -> Result<(), PlanError> {
    if value.is_nan() || value < 0.0 || (!allow_infinite && value.is_infinite()) {
        return Err(PlanError::BadNumber { field, value });
    }
    Ok(())
}

fn server_times(
    profile: &'static str,
    p: &EdgeProfile,
    cuts: &[Cut],
    hash: &str,
) -> Result<Vec<f64>, PlanError> {
    if !hash.is_empty() && !p.hash.is_empty() && p.hash != hash {
        return Err(PlanError::HashMismatch { profile, expected: hash.into(), got: p.hash.clone() });
    }
    if p.cuts.len() != cuts.len() {
        return Err(PlanError::ProfileLength { profile, expected: cuts.len(), got: p.cuts.len() });
    }
    check_number("the server's queue_wait_ms", p.load.queue_wait_ms, false)?;
    p.cuts
        .iter()
        .enumerate()
        .map(|(position, c)| {
            if c.id != position {
                return Err(PlanError::UnknownCut { profile, id: c.id, position });
            }
            check_time(profile, c.id, c.after_ms)
        })
        .collect()
}

/// The wait before a server starts on a request: its recent queue wait, plus, when every slot
/// is busy, the work ahead shared over the slots.
fn queue_ms(load: &EdgeLoad, after_ms: f64) -> f64 {
    let capacity = load.capacity.max(1);
    let busy = load.in_flight + load.queued;
    let ahead =
        if busy >= capacity { (busy + 1 - capacity) as f64 / capacity as f64 * after_ms } else { 0.0 };
    load.queue_wait_ms + ahead
}

/// Bytes on the wire for a cut's tensors in `encoding` (only float32 tensors are encoded).
fn encoded_bytes(float_bytes: u64, other_bytes: u64, encoding: Encoding) -> u64 {
    float_bytes / 4 * encoding.bytes_per_element() as u64 + other_bytes
}

/// The weights of the balanced objective: (energy weight, thermal weight on phone compute).
/// See docs/PLANNER.md.
pub fn balanced_weights(platform: &PlatformState) -> (f64, f64) {
    let mut w_energy = match platform.battery_level {
        Some(level) if level.is_finite() => {
            let spent = 1.0 - f64::from(level).clamp(0.0, 1.0);
            1.0 + 3.0 * spent * spent
        }
        _ => 1.0,
    };
    if platform.charging == Some(true) {
        w_energy *= 0.25;
    }
    if platform.low_power {
        w_energy *= 2.0;
    }
    let w_thermal = match platform.thermal {
        ThermalState::Nominal | ThermalState::Unknown => 0.0,
        ThermalState::Fair => 0.25,
        ThermalState::Serious => 1.0,
        ThermalState::Critical => 4.0,
    };
    (w_energy, w_thermal)
}

/// Makes a plan. Errors only on inconsistent inputs; an unusable network or edge gives a
/// local plan with the reason.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let cuts = input.cuts;
    let policy = input.policy;
    if cuts.is_empty() {
        return Err(PlanError::NoCuts);
    }
    if let Some((position, c)) = cuts.iter().enumerate().find(|(i, c)| c.id != *i) {
        return Err(PlanError::CutOrder { position, id: c.id });
    }
    let last = cuts.len() - 1;
    let hash = input.device.model_hash.as_str();

    // --- validate ---------------------------------------------------------------------
    if input.device.before_ms.len() != cuts.len() {
        return Err(PlanError::ProfileLength {
            profile: "device",
            expected: cuts.len(),
            got: input.device.before_ms.len(),
        });
    }
    let before_ms = input
        .device
        .before_ms
        .iter()
        .enumerate()
        .map(|(c, t)| check_time("device", c, Some(*t)))
        .collect::<Result<Vec<_>, _>>()?;
    let link = input.link;
    check_number("the uplink (Mbps)", link.uplink_mbps, true)?;
    check_number("the downlink (Mbps)", link.downlink_mbps, true)?;
    check_number("the round trip (ms)", link.rtt_ms, true)?;
    if let Some(d) = policy.deadline_ms {
        if !(d.is_finite() && d > 0.0) {
            return Err(PlanError::BadPolicy { reason: format!("deadline {d} ms") });
        }
    }
    if !(0.0..=1.0).contains(&policy.max_accuracy_drop) {
        return Err(PlanError::BadPolicy {
            reason: format!("max_accuracy_drop {}", policy.max_accuracy_drop),
        });
    }
    let first_cut = policy.first_cut();
    if first_cut > last {
        return Err(PlanError::BadPolicy {
            reason: format!("min_cut {first_cut} is beyond the last cut {last}"),
        });
    }
    let edge_after_ms = match input.edge {
        Some(e) => server_times("edge", e, cuts, hash)?,
        None => vec![],
    };
    let cloud = match input.cloud {
        Some(c) => {
            check_number("the cloud uplink (Mbps)", c.link.uplink_mbps, true)?;
            check_number("the cloud downlink (Mbps)", c.link.downlink_mbps, true)?;
            check_number("the cloud round trip (ms)", c.link.rtt_ms, true)?;
            Some((c, server_times("cloud", c.profile, cuts, hash)?))
        }
        None => None,
    };

    // --- exits ------------------------------------------------------------------------
    let exit_outputs: Vec<&str> =
        input.meta.map(|m| m.exits.iter().map(|e| e.output.as_str()).collect()).unwrap_or_default();
    let is_exit_output = |name: &str| exit_outputs.contains(&name);
    let mut prep = Prepared {
        before_ms,
        edge_after_ms,
        float_bytes: vec![0; cuts.len()],
        other_bytes: vec![0; cuts.len()],
    };
    for c in cuts {
        for t in c.tensors.iter().filter(|t| !is_exit_output(&t.name)) {
            if t.dtype == DType::Fp32 {
                prep.float_bytes[c.id] += t.bytes();
            } else {
                prep.other_bytes[c.id] += t.bytes();
            }
        }
    }
    let mut exits: Vec<ExitChoice> = vec![];
    match input.meta.filter(|m| !m.exits.is_empty()) {
        Some(meta) => {
            for e in &meta.exits {
                let found = cuts
                    .iter()
                    .find_map(|c| c.tensors.iter().find(|t| t.name == e.output).map(|t| (c.id, t.bytes())));
                let Some((ready_cut, output_bytes)) = found else {
                    return Err(PlanError::UnknownExit { name: e.name.clone(), output: e.output.clone() });
                };
                exits.push(ExitChoice {
                    name: Some(&e.name),
                    accuracy: Some(e.accuracy),
                    ready_cut,
                    output_bytes,
                });
            }
            // without a deadline, only the final (most accurate) exit is a choice
            if policy.deadline_ms.is_none() {
                let best = exits
                    .iter()
                    .enumerate()
                    .max_by(|a, b| {
                        a.1.accuracy
                            .unwrap_or(0.0)
                            .total_cmp(&b.1.accuracy.unwrap_or(0.0))
                            .then(b.0.cmp(&a.0))
                    })
                    .map(|(i, _)| i)
                    .expect("non-empty");
                exits = vec![exits.swap_remove(best)];
            }
        }
        None => exits.push(ExitChoice {
            name: None,
            accuracy: None,
            ready_cut: last,
            output_bytes: cuts[last].bytes,
        }),
    }

    // --- may we offload? ---------------------------------------------------------------
    let network = input.platform.network;
    let blocked: Option<String> = if !network.is_online() {
        Some("offline".into())
    } else if input.platform.metered && !policy.allow_metered {
        Some("the network is metered and the policy forbids metered data".into())
    } else if input.edge.is_none() {
        Some("no edge".into())
    } else if !(link.uplink_mbps > 0.0 && link.downlink_mbps > 0.0) || link.rtt_ms.is_infinite() {
        Some("the link to the edge is down".into())
    } else {
        None
    };
    let encodings: Vec<(Encoding, f64)> = Encoding::ALL
        .into_iter()
        .filter(|e| policy.encodings.contains(e))
        .filter_map(|e| {
            let drop =
                if e == Encoding::Fp32 { Some(0.0) } else { input.meta.and_then(|m| m.accuracy_drop(e)) };
            drop.filter(|d| *d <= policy.max_accuracy_drop).map(|d| (e, d))
        })
        .collect();
    let encodings = if encodings.is_empty() { vec![(Encoding::Fp32, 0.0)] } else { encodings };

    // --- score ------------------------------------------------------------------------
    let energy = input.energy;
    let local_of = |exit: &ExitChoice| -> Prediction {
        let phone_ms = prep.before_ms[exit.ready_cut];
        let e = energy.breakdown(&Activity { compute_ms: phone_ms, ..Default::default() }, network);
        Prediction {
            phone_ms,
            total_ms: phone_ms,
            energy_mj: e.total_mj(),
            energy_without_tail_mj: e.total_without_tail_mj(),
            ..Default::default()
        }
    };
    // the balanced objective's scales: the local-only run of the final exit
    let reference = local_of(exits.last().expect("at least one exit"));
    let l0 = reference.total_ms.max(1e-3);
    let e0 = reference.energy_mj.max(1e-3);
    let (w_energy, w_thermal) = balanced_weights(input.platform);
    let score_of = |p: &Prediction| match policy.objective {
        Objective::Latency => p.total_ms,
        Objective::Energy => p.energy_mj,
        Objective::Balanced => p.total_ms / l0 + w_energy * p.energy_mj / e0 + w_thermal * p.phone_ms / l0,
    };
    let offload =
        |phone_ms: f64, bytes_up: u64, bytes_down: u64, edge_ms: f64, cloud_ms: f64| -> Prediction {
            let upload_ms = transfer_ms(bytes_up, link.uplink_mbps);
            let download_ms = transfer_ms(bytes_down, link.downlink_mbps);
            let wait_ms = link.rtt_ms + edge_ms + cloud_ms;
            let e = energy.breakdown(
                &Activity {
                    compute_ms: phone_ms,
                    upload_ms,
                    uplink_mbps: link.uplink_mbps,
                    wait_ms,
                    download_ms,
                    downlink_mbps: link.downlink_mbps,
                    used_radio: true,
                },
                network,
            );
            Prediction {
                phone_ms,
                upload_ms,
                rtt_ms: link.rtt_ms,
                edge_ms,
                cloud_ms,
                download_ms,
                total_ms: phone_ms + upload_ms + wait_ms + download_ms,
                bytes_up,
                bytes_down,
                energy_mj: e.total_mj(),
                energy_without_tail_mj: e.total_without_tail_mj(),
            }
        };

    let mut candidates: Vec<Candidate> = Vec::with_capacity(exits.len() * (cuts.len() * encodings.len() + 1));
    for (k, exit) in exits.iter().enumerate() {
        let p = local_of(exit);
        candidates.push(Candidate {
            exit: k,
            cut: exit.ready_cut,
            cloud_cut: None,
            encoding: Encoding::Fp32,
            accuracy: exit.accuracy,
            p,
            score: score_of(&p),
        });
        if blocked.is_some() {
            continue;
        }
        let edge = input.edge.expect("not blocked: an edge exists");
        for c in first_cut..exit.ready_cut {
            let edge_compute = (prep.edge_after_ms[c] - prep.edge_after_ms[exit.ready_cut]).max(0.0);
            let edge_ms = edge_compute + queue_ms(&edge.load, edge_compute);
            for &(encoding, drop) in &encodings {
                if encoding != Encoding::Fp32 && prep.float_bytes[c] == 0 {
                    continue;
                }
                let bytes_up = encoded_bytes(prep.float_bytes[c], prep.other_bytes[c], encoding);
                let p = offload(prep.before_ms[c], bytes_up, exit.output_bytes, edge_ms, 0.0);
                candidates.push(Candidate {
                    exit: k,
                    cut: c,
                    cloud_cut: None,
                    encoding,
                    accuracy: exit.accuracy.map(|a| (a - drop).max(0.0)),
                    p,
                    score: score_of(&p),
                });
            }
        }
    }
    let two_tier_count = candidates.len();
    // three tiers: final exit only, the edge runs cuts c1..c2, the cloud c2..
    if let (Some((cloud, cloud_after_ms)), None) = (&cloud, &blocked) {
        let edge = input.edge.expect("not blocked: an edge exists");
        let exit = exits.last().expect("at least one exit");
        let k = exits.len() - 1;
        let up2 = cloud.link;
        if up2.uplink_mbps > 0.0 && up2.downlink_mbps > 0.0 && up2.rtt_ms.is_finite() {
            for c1 in first_cut..exit.ready_cut {
                for c2 in c1..exit.ready_cut {
                    let edge_compute = (prep.edge_after_ms[c1] - prep.edge_after_ms[c2]).max(0.0);
                    let edge_ms = edge_compute + queue_ms(&edge.load, edge_compute);
                    let cloud_compute = (cloud_after_ms[c2] - cloud_after_ms[exit.ready_cut]).max(0.0);
                    for &(encoding, drop) in &encodings {
                        if encoding != Encoding::Fp32 && prep.float_bytes[c1] == 0 {
                            continue;
                        }
                        let bytes_up = encoded_bytes(prep.float_bytes[c1], prep.other_bytes[c1], encoding);
                        let bytes_mid = encoded_bytes(prep.float_bytes[c2], prep.other_bytes[c2], encoding);
                        let cloud_ms = transfer_ms(bytes_mid, up2.uplink_mbps)
                            + up2.rtt_ms
                            + cloud_compute
                            + queue_ms(&cloud.profile.load, cloud_compute)
                            + transfer_ms(exit.output_bytes, up2.downlink_mbps);
                        let p = offload(prep.before_ms[c1], bytes_up, exit.output_bytes, edge_ms, cloud_ms);
                        candidates.push(Candidate {
                            exit: k,
                            cut: c1,
                            cloud_cut: Some(c2),
                            encoding,
                            accuracy: exit.accuracy.map(|a| (a - drop).max(0.0)),
                            p,
                            score: score_of(&p),
                        });
                    }
                }
            }
        }
    }

    // --- choose -----------------------------------------------------------------------
    // Lower score, then fewer bytes sent, then the earlier cut: a total order, so the
    // choice is deterministic and lowering bandwidth never picks a larger upload.
    let better = |a: &Candidate, b: &Candidate| {
        a.score
            .total_cmp(&b.score)
            .then(a.p.bytes_up.cmp(&b.p.bytes_up))
            .then(a.cut.cmp(&b.cut))
            .then(a.cloud_cut.cmp(&b.cloud_cut))
            .then(a.encoding.bytes_per_element().cmp(&b.encoding.bytes_per_element()).reverse())
    };
    let valid = |c: &&Candidate| c.score.is_finite() && c.p.total_ms.is_finite() && c.p.energy_mj.is_finite();
    let (chosen, deadline_met) = match policy.deadline_ms {
        Some(deadline) => {
            let feasible = candidates.iter().filter(valid).filter(|c| c.p.total_ms <= deadline);
            let most_accurate = feasible.max_by(|a, b| {
                a.accuracy
                    .unwrap_or(0.0)
                    .total_cmp(&b.accuracy.unwrap_or(0.0))
                    .then_with(|| better(a, b).reverse())
            });
            match most_accurate {
                Some(c) => (*c, Some(true)),
                None => {
                    let fastest = candidates
                        .iter()
                        .filter(valid)
                        .min_by(|a, b| a.p.total_ms.total_cmp(&b.p.total_ms).then_with(|| better(a, b)))
                        .expect("the local plan is always valid");
                    (*fastest, Some(false))
                }
            }
        }
        None => (
            *candidates
                .iter()
                .filter(valid)
                .min_by(|a, b| better(a, b))
                .expect("the local plan is always valid"),
            None,
        ),
    };

    // --- explain ------------------------------------------------------------------------
    let exit = &exits[chosen.exit];
    let mut best_at: Vec<Option<&Candidate>> = vec![None; exit.ready_cut + 1];
    for x in candidates[..two_tier_count].iter().filter(|x| x.exit == chosen.exit) {
        let slot = &mut best_at[x.cut];
        if slot.is_none_or(|b| better(x, b).is_lt()) {
            *slot = Some(x);
        }
    }
    let table: Vec<CutCost> = (0..=exit.ready_cut)
        .map(|c| {
            match best_at[c] {
                Some(x) => CutCost {
                    cut: c,
                    encoding: x.encoding,
                    bytes_up: x.p.bytes_up,
                    phone_ms: x.p.phone_ms,
                    upload_ms: x.p.upload_ms,
                    edge_ms: x.p.edge_ms,
                    download_ms: x.p.download_ms,
                    latency_ms: x.p.total_ms,
                    energy_mj: x.p.energy_mj,
                    score: x.score,
                    allowed: true,
                },
                None => {
                    // not a candidate: below the privacy floor, or offloading is blocked
                    let phone_ms = prep.before_ms[c];
                    let edge_ms = prep.edge_after_ms.get(c).map_or(f64::NAN, |t| {
                        t - prep.edge_after_ms.get(exit.ready_cut).copied().unwrap_or(0.0)
                    });
                    let p = if prep.edge_after_ms.is_empty() {
                        Prediction { phone_ms, total_ms: f64::NAN, energy_mj: f64::NAN, ..Default::default() }
                    } else {
                        let bytes_up =
                            encoded_bytes(prep.float_bytes[c], prep.other_bytes[c], Encoding::Fp32);
                        offload(phone_ms, bytes_up, exit.output_bytes, edge_ms.max(0.0), 0.0)
                    };
                    CutCost {
                        cut: c,
                        encoding: Encoding::Fp32,
                        bytes_up: p.bytes_up,
                        phone_ms,
                        upload_ms: p.upload_ms,
                        edge_ms: p.edge_ms,
                        download_ms: p.download_ms,
                        latency_ms: p.total_ms,
                        energy_mj: p.energy_mj,
                        score: score_of(&p),
                        allowed: false,
                    }
                }
            }
        })
        .collect();

    let local = candidates
        .iter()
        .find(|c| c.exit == chosen.exit && c.cut == exit.ready_cut && c.cloud_cut.is_none())
        .expect("every exit has a local candidate");
    let edge_only = candidates[..two_tier_count]
        .iter()
        .filter(|c| c.exit == chosen.exit && c.cut == 0)
        .min_by(|a, b| better(a, b));
    let offloads = chosen.cut < exit.ready_cut;
    let tiers = match (offloads, chosen.cloud_cut) {
        (false, _) => vec![Tier::Device],
        (true, None) => vec![Tier::Device, Tier::Edge],
        (true, Some(_)) => vec![Tier::Device, Tier::Edge, Tier::Cloud],
    };
    let what = match policy.objective {
        Objective::Latency => "minimum latency",
        Objective::Energy => "minimum phone energy",
        Objective::Balanced => "best balance of latency and energy",
    };
    let node = cuts[chosen.cut].after_node.as_deref().unwrap_or("the input");
    let mut reason = if !offloads {
        match &blocked {
            Some(why) => format!("local: {why}"),
            None => format!("local ({what})"),
        }
    } else {
        let via = match chosen.cloud_cut {
            Some(c2) => format!("the edge, then the cloud from cut {c2},"),
            None => "the edge".into(),
        };
        let cut_desc = if chosen.cut == 0 {
            "the raw input".to_string()
        } else {
            format!("cut {} (after {node})", chosen.cut)
        };
        format!("{cut_desc} as {} to {via} over {network}: {what}", chosen.encoding)
    };
    if policy.objective == Objective::Balanced {
        reason.push_str(&format!(" (energy weight {w_energy:.2}"));
        if w_thermal > 0.0 {
            reason.push_str(&format!(", thermal {:?}", input.platform.thermal).to_lowercase());
        }
        reason.push(')');
    }
    reason.push_str(&format!("; {:.1} ms, {:.1} mJ predicted", chosen.p.total_ms, chosen.p.energy_mj));
    if offloads || blocked.is_none() {
        reason.push_str(&format!("; local-only {:.1} ms, {:.1} mJ", local.p.total_ms, local.p.energy_mj));
        if let Some(e) = edge_only {
            reason.push_str(&format!("; edge-only {:.1} ms, {:.1} mJ", e.p.total_ms, e.p.energy_mj));
        }
    }
    if first_cut > 0 && offloads {
        reason.push_str(&format!("; privacy floor: cut >= {first_cut}"));
    }
    if let Some(deadline) = policy.deadline_ms {
        let name = exit.name.unwrap_or("the model");
        if deadline_met == Some(true) {
            reason.push_str(&format!(
                "; {name} is the most accurate exit that meets the {deadline} ms deadline"
            ));
        } else {
            reason.push_str(&format!("; no option meets the {deadline} ms deadline: the fastest is taken"));
        }
    }

    Ok(Plan {
        cut: chosen.cut,
        cloud_cut: chosen.cloud_cut.filter(|_| offloads),
        exit: exit.name.map(str::to_string),
        encoding: if offloads { chosen.encoding } else { Encoding::Fp32 },
        tiers,
        predicted: chosen.p,
        accuracy: chosen.accuracy,
        reason,
        deadline_met,
        table,
    })
}
