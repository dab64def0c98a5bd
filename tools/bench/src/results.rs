//! What a benchmark run found: the schema of `results.json`, and the arithmetic from
//! measured cuts to strategies, regret and speedups.
//!
//! **Regret.** For one model and network, every measured cut has the median of its runs,
//! and the oracle is the measured cut with the lowest median latency. The planner's
//! regret is the latency of the cut it chose (latency objective) over the oracle's:
//!
//! - `regret_sweep`: both medians from the sweep. At least 1 by construction, and biased
//!   up by noise: the minimum of noisy medians is optimistic (the winner's curse), and the
//!   two cuts were measured minutes apart under whatever load the machine had then.
//! - `regret` (the reported one): when the chosen cut is not the oracle's, both are measured
//!   again, alternately (chosen, oracle, chosen, ...) so that drifting load hits both alike,
//!   and regret is the ratio of those medians. It is *not* bounded by 1: a value below 1
//!   says the sweep's oracle won by noise and the planner's cut is as fast. When the planner
//!   chose the oracle's cut, regret is 1.
//!
//! A cut whose measurement was capped counts with a lower bound of its latency; a chosen
//! cut that was capped gives a regret lower bound, flagged.

use serde::{Deserialize, Serialize};

use crate::edge::ProfileState;
use crate::networks::Network;
use crate::protocol::{EstimatedLink, PlanChoice, RunRecord, TraceRequest};
use crate::stats;
use crate::trace::{TraceSegment, TraceStats};

/// Neurosurgeon's (ASPLOS 2017) published average latency speedup over cloud-only.
pub const NEUROSURGEON_SPEEDUP: f64 = 3.1;
/// Neurosurgeon's published average mobile energy reduction over cloud-only.
pub const NEUROSURGEON_ENERGY_REDUCTION: f64 = 0.595;
/// The regret targets: median and worst.
pub const REGRET_TARGET_MEDIAN: f64 = 1.05;
/// See [`REGRET_TARGET_MEDIAN`].
pub const REGRET_TARGET_WORST: f64 = 1.15;
/// The targets of the regret with the online estimator: median and worst.
pub const REGRET_ESTIMATED_TARGET_MEDIAN: f64 = 1.10;
/// See [`REGRET_ESTIMATED_TARGET_MEDIAN`].
pub const REGRET_ESTIMATED_TARGET_WORST: f64 = 1.30;

/// One cut measured (or not) on one network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CutResult {
    /// The cut.
    pub cut: usize,
    /// Bytes crossing it (float32).
    pub bytes: u64,
    /// Whether it was run at all (else its link time alone exceeded the cap).
    pub measured: bool,
    /// Median latency of the runs, ms; `None` when not measured or capped.
    pub latency_ms: Option<f64>,
    /// When capped or not measured: the latency is above this, ms.
    pub latency_lower_bound_ms: Option<f64>,
    /// Median modeled phone energy, mJ (`None` when capped or not measured).
    pub energy_mj: Option<f64>,
    /// Median phone compute, ms.
    pub phone_ms: Option<f64>,
    /// Median upload (with one round trip), ms.
    pub upload_ms: Option<f64>,
    /// Median edge time, ms.
    pub edge_ms: Option<f64>,
    /// Median download, ms.
    pub download_ms: Option<f64>,
    /// Request body bytes (of the last run).
    pub bytes_up: Option<u64>,
    /// Response body bytes (of the last run).
    pub bytes_down: Option<u64>,
    /// Every run's latency, ms.
    pub runs_ms: Vec<f64>,
    /// (max - min) / median of the runs.
    pub spread: f64,
    /// The planner's predicted latency for this cut, ms.
    pub predicted_latency_ms: Option<f64>,
    /// The planner's predicted phone energy, mJ.
    pub predicted_energy_mj: Option<f64>,
    /// A fallback that happened in the runs (the first one).
    pub fallback: Option<String>,
}

impl CutResult {
    /// A cut not run: its link time alone (`floor_ms`) is beyond the cap.
    pub fn not_measured(cut: usize, bytes: u64, floor_ms: f64) -> Self {
        CutResult { cut, bytes, latency_lower_bound_ms: Some(floor_ms), ..Default::default() }
    }

    /// A cut from its runs. `floor_ms`: the link time alone, a lower bound if capped.
    pub fn from_runs(cut: usize, bytes: u64, runs: &[RunRecord], last_cut: usize, floor_ms: f64) -> Self {
        let med = |f: fn(&RunRecord) -> f64| stats::median(&runs.iter().map(f).collect::<Vec<_>>());
        let runs_ms: Vec<f64> = runs.iter().map(|r| r.total_ms).collect();
        let capped = cut < last_cut && runs.iter().any(|r| !r.offloaded);
        let fallback = runs.iter().find_map(|r| r.fallback.clone());
        if capped || runs.is_empty() {
            let waited = runs.iter().filter_map(|r| r.edge_timeout_ms).fold(0.0, f64::max);
            return CutResult {
                cut,
                bytes,
                measured: !runs.is_empty(),
                latency_lower_bound_ms: Some(waited.max(floor_ms)),
                runs_ms,
                fallback,
                ..Default::default()
            };
        }
        CutResult {
            cut,
            bytes,
            measured: true,
            latency_ms: med(|r| r.total_ms),
            latency_lower_bound_ms: None,
            energy_mj: med(|r| r.energy_mj),
            phone_ms: med(|r| r.phone_ms),
            upload_ms: med(|r| r.upload_ms),
            edge_ms: med(|r| r.edge_ms),
            download_ms: med(|r| r.download_ms),
            bytes_up: runs.last().map(|r| r.bytes_up),
            bytes_down: runs.last().map(|r| r.bytes_down),
            spread: stats::relative_range(&runs_ms),
            runs_ms,
            fallback,
            ..Default::default()
        }
    }

    /// Its latency if measured, else its lower bound.
    pub fn latency_or_bound_ms(&self) -> Option<f64> {
        self.latency_ms.or(self.latency_lower_bound_ms)
    }
}

/// One strategy on one model and network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    /// The cut it runs at.
    pub cut: usize,
    /// Measured median latency, ms (`None` when capped: see the lower bound).
    pub latency_ms: Option<f64>,
    /// When capped: the latency is above this, ms.
    pub latency_lower_bound_ms: Option<f64>,
    /// Modeled phone energy from the measured times, mJ.
    pub energy_mj: Option<f64>,
    /// Request body bytes.
    pub bytes_up: Option<u64>,
    /// The planner's predicted latency for this cut, ms.
    pub predicted_latency_ms: Option<f64>,
    /// The planner's predicted energy for this cut, mJ.
    pub predicted_energy_mj: Option<f64>,
    /// How many runs the latency is the median of (fewer than `setup.runs` for a cut whose
    /// link time alone exceeds the normal cap, or whose first run was capped).
    #[serde(default)]
    pub runs: usize,
}

impl StrategyResult {
    fn of(c: &CutResult) -> Self {
        StrategyResult {
            runs: c.runs_ms.len(),
            cut: c.cut,
            latency_ms: c.latency_ms,
            latency_lower_bound_ms: c.latency_lower_bound_ms,
            energy_mj: c.energy_mj,
            bytes_up: c.bytes_up,
            predicted_latency_ms: c.predicted_latency_ms,
            predicted_energy_mj: c.predicted_energy_mj,
        }
    }
}

/// Every strategy on one model and network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Strategies {
    /// Everything on the phone (the last cut).
    pub local_only: StrategyResult,
    /// The raw input to the edge (cut 0): the status quo of cloud/edge offloading.
    pub edge_only: StrategyResult,
    /// The planner, latency objective (Neurosurgeon's latency mode).
    pub latency_optimal: StrategyResult,
    /// The planner, energy objective (Neurosurgeon's energy mode).
    pub energy_optimal: StrategyResult,
    /// The planner, Tandem's balanced objective (battery 50%, not charging).
    pub balanced: StrategyResult,
    /// The measured cut with the lowest latency.
    pub oracle: StrategyResult,
    /// The measured cut with the lowest modeled energy.
    pub energy_oracle: StrategyResult,
}

/// The planner's cut and the oracle's, measured again back to back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The planner's cut (latency objective).
    pub chosen_cut: usize,
    /// The sweep's oracle cut.
    pub oracle_cut: usize,
    /// The chosen cut's runs, ms.
    pub chosen_runs_ms: Vec<f64>,
    /// The oracle cut's runs, ms.
    pub oracle_runs_ms: Vec<f64>,
    /// Their medians, ms.
    pub chosen_ms: Option<f64>,
    /// See `chosen_ms`.
    pub oracle_ms: Option<f64>,
}

/// The latency objective's plan from the online estimator on one network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EstimatedPlan {
    /// The plan.
    pub plan: PlanChoice,
    /// The estimator's link when it planned.
    pub link: EstimatedLink,
    /// Requests the online session made on this network before (planned by itself).
    pub requests: usize,
    /// How many of them the edge answered.
    pub offloads: usize,
}

/// One model on one network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkResult {
    /// The network's name.
    pub network: String,
    /// The strategies.
    pub strategies: Strategies,
    /// The planner's regret (see the module docs): from the confirmation pass when the
    /// planner's cut is not the oracle's, else from the sweep.
    pub regret: Option<f64>,
    /// Chosen over oracle latency, both from the sweep: >= 1.
    pub regret_sweep: Option<f64>,
    /// Whether `regret` is a lower bound (the chosen cut was capped).
    pub regret_is_lower_bound: bool,
    /// The back-to-back re-measurement of the chosen and the oracle's cut.
    pub confirmation: Option<Confirmation>,
    /// The planner's regret when it plans from the online estimator (what a phone sees:
    /// probes, its own offloads, the network kind) instead of the true link: the latency of
    /// its cut over the oracle's (see [`NetworkResult::set_estimated`]).
    #[serde(default)]
    pub regret_estimated: Option<f64>,
    /// Whether `regret_estimated` is a lower bound (its cut was capped).
    #[serde(default)]
    pub regret_estimated_is_lower_bound: bool,
    /// The plan from the online estimator, and what the estimator believed.
    #[serde(default)]
    pub estimated: Option<EstimatedPlan>,
    /// Energy objective's energy over the energy oracle's, >= 1.
    pub energy_regret: Option<f64>,
    /// The balanced objective's latency over the oracle's.
    pub balanced_latency_ratio: Option<f64>,
    /// Edge-only latency over the latency-optimal strategy's.
    pub speedup_vs_edge_only: Option<f64>,
    /// Whether that speedup is a lower bound (edge-only was capped).
    pub speedup_vs_edge_only_is_lower_bound: bool,
    /// Local-only latency over the latency-optimal strategy's.
    pub speedup_vs_local_only: Option<f64>,
    /// 1 - energy-optimal energy / edge-only energy (`None` if edge-only was capped).
    pub energy_reduction_vs_edge_only: Option<f64>,
    /// 1 - energy-optimal energy / local-only energy.
    pub energy_reduction_vs_local_only: Option<f64>,
    /// Whether every capped cut's lower bound is above the oracle's latency (so the oracle
    /// is the true minimum over the measured set).
    pub oracle_proven: bool,
    /// The planner's decisions.
    pub plans: Vec<PlanChoice>,
    /// Every measured (or skipped) cut.
    pub cuts: Vec<CutResult>,
}

fn plan_cut(plans: &[PlanChoice], objective: &str) -> Option<usize> {
    plans.iter().find(|p| p.objective == objective).map(|p| p.cut)
}

impl NetworkResult {
    /// Derives the strategies and ratios from the measured cuts (sorted by cut, the last
    /// being local-only) and the planner's decisions.
    pub fn derive(network: &str, cuts: Vec<CutResult>, plans: Vec<PlanChoice>) -> NetworkResult {
        let find = |c: usize| cuts.iter().find(|x| x.cut == c);
        let strategy = |c: Option<usize>| c.and_then(find).map(StrategyResult::of).unwrap_or_default();
        let last = cuts.iter().map(|c| c.cut).max().unwrap_or(0);
        let oracle = cuts
            .iter()
            .filter_map(|c| c.latency_ms.map(|l| (c, l)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cut.cmp(&b.0.cut)))
            .map(|(c, _)| c);
        let energy_oracle = cuts
            .iter()
            .filter_map(|c| c.energy_mj.map(|e| (c, e)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cut.cmp(&b.0.cut)))
            .map(|(c, _)| c);
        let s = Strategies {
            local_only: strategy(Some(last)),
            edge_only: strategy(Some(0)),
            latency_optimal: strategy(plan_cut(&plans, "latency")),
            energy_optimal: strategy(plan_cut(&plans, "energy")),
            balanced: strategy(plan_cut(&plans, "balanced")),
            oracle: oracle.map(StrategyResult::of).unwrap_or_default(),
            energy_oracle: energy_oracle.map(StrategyResult::of).unwrap_or_default(),
        };
        let oracle_ms = s.oracle.latency_ms;
        let chosen = &s.latency_optimal;
        let (regret, regret_is_lower_bound) =
            match (chosen.latency_ms, chosen.latency_lower_bound_ms, oracle_ms) {
                (Some(l), _, Some(o)) if o > 0.0 => (Some(l / o), false),
                (None, Some(lb), Some(o)) if o > 0.0 => (Some(lb / o), true),
                _ => (None, false),
            };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let reduction = |a: Option<f64>, b: Option<f64>| ratio(a, b).map(|r| 1.0 - r);
        let (speedup_vs_edge_only, speedup_vs_edge_only_is_lower_bound) = match s.edge_only.latency_ms {
            Some(e) => (ratio(Some(e), chosen.latency_ms), false),
            None => (
                ratio(s.edge_only.latency_lower_bound_ms, chosen.latency_ms),
                s.edge_only.latency_lower_bound_ms.is_some(),
            ),
        };
        let oracle_proven = match oracle_ms {
            Some(o) => cuts
                .iter()
                .filter(|c| c.latency_ms.is_none())
                .all(|c| c.latency_lower_bound_ms.is_some_and(|lb| lb >= o)),
            None => false,
        };
        NetworkResult {
            network: network.into(),
            regret,
            regret_sweep: regret,
            regret_is_lower_bound,
            confirmation: None,
            regret_estimated: None,
            regret_estimated_is_lower_bound: false,
            estimated: None,
            energy_regret: ratio(s.energy_optimal.energy_mj, s.energy_oracle.energy_mj),
            balanced_latency_ratio: ratio(s.balanced.latency_ms, oracle_ms),
            speedup_vs_edge_only,
            speedup_vs_edge_only_is_lower_bound,
            speedup_vs_local_only: ratio(s.local_only.latency_ms, chosen.latency_ms),
            energy_reduction_vs_edge_only: reduction(s.energy_optimal.energy_mj, s.edge_only.energy_mj),
            energy_reduction_vs_local_only: reduction(s.energy_optimal.energy_mj, s.local_only.energy_mj),
            oracle_proven,
            strategies: s,
            plans,
            cuts,
        }
    }
}

impl NetworkResult {
    /// Whether a confirmation pass applies: the chosen cut differs from the oracle's and
    /// both were measured (not capped). Returns (chosen, oracle).
    pub fn needs_confirmation(&self) -> Option<(usize, usize)> {
        let (c, o) = (&self.strategies.latency_optimal, &self.strategies.oracle);
        (c.cut != o.cut && c.latency_ms.is_some() && o.latency_ms.is_some()).then_some((c.cut, o.cut))
    }

    /// Takes the estimator's plan, after the confirmation pass: `regret_estimated` is
    /// `regret` when it chose the planner's cut (true links), 1 when it chose the oracle's,
    /// else its cut's latency in the sweep over the oracle's (a lower bound if capped).
    pub fn set_estimated(&mut self, estimated: EstimatedPlan) {
        let cut = estimated.plan.cut;
        let oracle = &self.strategies.oracle;
        let (regret, lower) = if cut == self.strategies.latency_optimal.cut {
            (self.regret, self.regret_is_lower_bound)
        } else if cut == oracle.cut {
            (oracle.latency_ms.map(|_| 1.0), false)
        } else {
            match (self.cuts.iter().find(|c| c.cut == cut), oracle.latency_ms) {
                (Some(c), Some(o)) if o > 0.0 => match (c.latency_ms, c.latency_lower_bound_ms) {
                    (Some(l), _) => (Some(l / o), false),
                    (None, Some(lb)) => (Some(lb / o), true),
                    _ => (None, false),
                },
                _ => (None, false),
            }
        };
        self.regret_estimated = regret;
        self.regret_estimated_is_lower_bound = lower;
        self.estimated = Some(estimated);
    }

    /// Takes the confirmation pass's runs: `regret` becomes the ratio of their medians.
    pub fn confirm(&mut self, chosen_runs_ms: Vec<f64>, oracle_runs_ms: Vec<f64>) {
        let Some((chosen_cut, oracle_cut)) = self.needs_confirmation() else { return };
        let chosen_ms = stats::median(&chosen_runs_ms);
        let oracle_ms = stats::median(&oracle_runs_ms);
        if let (Some(c), Some(o)) = (chosen_ms, oracle_ms) {
            if o > 0.0 {
                self.regret = Some(c / o);
            }
        }
        self.confirmation = Some(Confirmation {
            chosen_cut,
            oracle_cut,
            chosen_runs_ms,
            oracle_runs_ms,
            chosen_ms,
            oracle_ms,
        });
    }
}

/// The device calibration of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The cuts timed on the (throttled) phone.
    pub timed_cuts: Vec<usize>,
    /// How long it took, ms.
    pub elapsed_ms: f64,
}

/// One model on every network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model's name.
    pub model: String,
    /// Its file.
    pub path: String,
    /// Its SHA-256.
    pub hash: String,
    /// How many cuts it has.
    pub cuts: usize,
    /// The cuts the oracle measured.
    pub measured_cuts: Vec<usize>,
    /// The phone's calibration.
    pub calibration: Calibration,
    /// The phone's time before each cut as the planner saw it, ms.
    pub device_before_ms: Vec<f64>,
    /// The edge's time after each cut as the planner saw it, ms.
    pub edge_after_ms: Vec<f64>,
    /// One entry per network.
    pub networks: Vec<NetworkResult>,
    /// What the phone's inputs were (a photo through the sidecar's preprocessing, or seeded
    /// random values).
    #[serde(default)]
    pub input: String,
}

/// A model that was asked for but not run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The model's name.
    pub model: String,
    /// Why.
    pub reason: String,
}

/// How the run was set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// `--quick`.
    pub quick: bool,
    /// How much slower the phone is than the edge.
    pub slowdown: f64,
    /// `cgroup` or `calibrated_sleep`.
    pub throttle: String,
    /// Which throttle ran: `cgroup_v1`, `cgroup_v2` or `calibrated_sleep`.
    #[serde(default)]
    pub throttle_kind: String,
    /// What the throttle is, in words (cgroup path and quota, or why the fallback).
    pub throttle_detail: String,
    /// `linkemu` or `kernel`.
    pub shaper: String,
    /// Reported runs per measured cut.
    pub runs: usize,
    /// `all` or `subset`.
    pub cuts: String,
    /// The rule of the subset.
    pub subset_rule: String,
    /// The cap of a measurement.
    pub cap_rule: String,
    /// How regret is defined.
    pub regret_definition: String,
    /// The networks.
    pub networks: Vec<Network>,
    /// What the edge's profiler reached per model.
    pub edge_profiles: Vec<ProfileState>,
    /// The command line.
    pub command: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// The 1-minute load average at the start and at the end.
    pub load_average: [f64; 2],
    /// Wall time of the run, s.
    pub duration_s: f64,
    /// Seconds since the Unix epoch at the start.
    pub started_unix_s: u64,
}

/// Across models and networks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median planner regret.
    pub regret_median: Option<f64>,
    /// Worst planner regret.
    pub regret_max: Option<f64>,
    /// (model, network) pairs with a regret.
    pub regret_count: usize,
    /// Median of the sweep-only regret (>= 1, biased up by noise).
    pub regret_sweep_median: Option<f64>,
    /// Worst sweep-only regret.
    pub regret_sweep_max: Option<f64>,
    /// Whether the targets (median <= 1.05, worst <= 1.15) are met.
    pub regret_target_met: bool,
    /// Median regret with the online estimator's link.
    #[serde(default)]
    pub regret_estimated_median: Option<f64>,
    /// Worst regret with the online estimator's link.
    #[serde(default)]
    pub regret_estimated_max: Option<f64>,
    /// (model, network) pairs with an estimated regret.
    #[serde(default)]
    pub regret_estimated_count: usize,
    /// Whether its targets (median <= 1.10, worst <= 1.30) are met.
    #[serde(default)]
    pub regret_estimated_target_met: bool,
    /// Geometric mean speedup of the latency-optimal strategy over edge-only (lower bounds
    /// included where edge-only was capped, so this is itself a lower bound then).
    pub speedup_vs_edge_only_geomean: Option<f64>,
    /// Whether lower bounds went into it.
    pub speedup_vs_edge_only_includes_lower_bounds: bool,
    /// Geometric mean speedup over local-only.
    pub speedup_vs_local_only_geomean: Option<f64>,
    /// Mean energy reduction of the energy-optimal strategy over edge-only (where edge-only
    /// was measured).
    pub energy_reduction_vs_edge_only_mean: Option<f64>,
    /// The same over the networks Neurosurgeon measured (3G, LTE, Wi-Fi).
    pub speedup_vs_edge_only_geomean_3g_lte_wifi: Option<f64>,
    /// The energy reduction over 3G, LTE and Wi-Fi.
    pub energy_reduction_vs_edge_only_mean_3g_lte_wifi: Option<f64>,
    /// Per network, across models.
    pub by_network: Vec<NetworkSummary>,
    /// Neurosurgeon's published average speedup, for comparison.
    pub neurosurgeon_speedup: f64,
    /// Neurosurgeon's published average energy reduction, for comparison.
    pub neurosurgeon_energy_reduction: f64,
}

/// One network across models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSummary {
    /// The network.
    pub network: String,
    /// Median planner regret.
    pub regret_median: Option<f64>,
    /// Worst planner regret.
    pub regret_max: Option<f64>,
    /// Geometric mean speedup of the latency-optimal strategy over edge-only.
    pub speedup_vs_edge_only_geomean: Option<f64>,
    /// Whether lower bounds went into it.
    pub speedup_vs_edge_only_includes_lower_bounds: bool,
    /// Geometric mean speedup over local-only.
    pub speedup_vs_local_only_geomean: Option<f64>,
    /// Mean energy reduction of the energy-optimal strategy over edge-only.
    pub energy_reduction_vs_edge_only_mean: Option<f64>,
}

impl Summary {
    /// Summarises `models`.
    pub fn of(models: &[ModelResult]) -> Summary {
        let mut names: Vec<String> = vec![];
        for n in models.iter().flat_map(|m| m.networks.iter()) {
            if !names.contains(&n.network) {
                names.push(n.network.clone());
            }
        }
        let in_nets = |keep: &dyn Fn(&str) -> bool| -> Vec<&NetworkResult> {
            models.iter().flat_map(|m| m.networks.iter()).filter(|n| keep(&n.network)).collect()
        };
        let by_network = names
            .iter()
            .map(|name| {
                let nets = in_nets(&|n| n == name);
                let regrets: Vec<f64> = nets.iter().filter_map(|n| n.regret).collect();
                NetworkSummary {
                    network: name.clone(),
                    regret_median: stats::median(&regrets),
                    regret_max: stats::max(&regrets),
                    speedup_vs_edge_only_geomean: stats::geomean(
                        &nets.iter().filter_map(|n| n.speedup_vs_edge_only).collect::<Vec<_>>(),
                    ),
                    speedup_vs_edge_only_includes_lower_bounds: nets
                        .iter()
                        .any(|n| n.speedup_vs_edge_only_is_lower_bound),
                    speedup_vs_local_only_geomean: stats::geomean(
                        &nets.iter().filter_map(|n| n.speedup_vs_local_only).collect::<Vec<_>>(),
                    ),
                    energy_reduction_vs_edge_only_mean: stats::mean(
                        &nets.iter().filter_map(|n| n.energy_reduction_vs_edge_only).collect::<Vec<_>>(),
                    ),
                }
            })
            .collect();
        let paper = in_nets(&|n| matches!(n, "3g" | "lte" | "wifi"));
        let nets = || models.iter().flat_map(|m| m.networks.iter());
        let regrets: Vec<f64> = nets().filter_map(|n| n.regret).collect();
        let sweep: Vec<f64> = nets().filter_map(|n| n.regret_sweep).collect();
        let edge: Vec<f64> = nets().filter_map(|n| n.speedup_vs_edge_only).collect();
        let local: Vec<f64> = nets().filter_map(|n| n.speedup_vs_local_only).collect();
        let energy: Vec<f64> = nets().filter_map(|n| n.energy_reduction_vs_edge_only).collect();
        let regret_median = stats::median(&regrets);
        let regret_max = stats::max(&regrets);
        let estimated: Vec<f64> = nets().filter_map(|n| n.regret_estimated).collect();
        let (est_median, est_max) = (stats::median(&estimated), stats::max(&estimated));
        Summary {
            regret_median,
            regret_max,
            regret_count: regrets.len(),
            regret_sweep_median: stats::median(&sweep),
            regret_sweep_max: stats::max(&sweep),
            regret_target_met: regret_median.is_some_and(|m| m <= REGRET_TARGET_MEDIAN)
                && regret_max.is_some_and(|m| m <= REGRET_TARGET_WORST),
            regret_estimated_median: est_median,
            regret_estimated_max: est_max,
            regret_estimated_count: estimated.len(),
            regret_estimated_target_met: est_median.is_some_and(|m| m <= REGRET_ESTIMATED_TARGET_MEDIAN)
                && est_max.is_some_and(|m| m <= REGRET_ESTIMATED_TARGET_WORST),
            speedup_vs_edge_only_geomean: stats::geomean(&edge),
            speedup_vs_edge_only_includes_lower_bounds: nets().any(|n| n.speedup_vs_edge_only_is_lower_bound),
            speedup_vs_local_only_geomean: stats::geomean(&local),
            energy_reduction_vs_edge_only_mean: stats::mean(&energy),
            speedup_vs_edge_only_geomean_3g_lte_wifi: stats::geomean(
                &paper.iter().filter_map(|n| n.speedup_vs_edge_only).collect::<Vec<_>>(),
            ),
            energy_reduction_vs_edge_only_mean_3g_lte_wifi: stats::mean(
                &paper.iter().filter_map(|n| n.energy_reduction_vs_edge_only).collect::<Vec<_>>(),
            ),
            by_network,
            neurosurgeon_speedup: NEUROSURGEON_SPEEDUP,
            neurosurgeon_energy_reduction: NEUROSURGEON_ENERGY_REDUCTION,
        }
    }
}

/// The trace-driven run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceResult {
    /// The model.
    pub model: String,
    /// The network the phone reported throughout (its estimator sees one network).
    pub reported_network: String,
    /// The levels, slowest first (network names).
    pub levels: Vec<String>,
    /// The bandwidth over time.
    pub trace: Vec<TraceSegment>,
    /// Length of a segment, ms.
    pub segment_ms: f64,
    /// Length of each run, ms.
    pub duration_ms: f64,
    /// A request starts every this many ms (or when the previous one ends, if later).
    pub period_ms: f64,
    /// The requests' deadline, ms.
    pub deadline_ms: f64,
    /// The seed of the trace.
    pub seed: u64,
    /// The oracle's cut at each level (the static sweep's fastest).
    pub oracle_cut_per_level: Vec<usize>,
    /// The static sweep's oracle latency at each level, ms.
    pub oracle_latency_per_level_ms: Vec<Option<f64>>,
    /// The session planning online (estimator and re-planning).
    pub online: TraceStats,
    /// The oracle that knows the trace.
    pub oracle: TraceStats,
    /// Online mean latency over the oracle's.
    pub mean_latency_ratio: Option<f64>,
    /// Segments of the trace at each level (in `levels`' order).
    #[serde(default)]
    pub visits: Vec<usize>,
    /// Segments in which the oracle's requests offloaded (and the edge answered).
    #[serde(default)]
    pub oracle_offload_segments: usize,
    /// Of those, segments in which an online request offloaded successfully too.
    #[serde(default)]
    pub online_offloaded_in_oracle_offload_segments: usize,
    /// Per segment: whether the oracle and the online session offloaded successfully, and
    /// the online session's explorations; with the counts and their one-line summary.
    #[serde(default)]
    pub offload_segments: crate::trace::OffloadSegments,
    /// Every online request.
    pub online_requests: Vec<TraceRequest>,
    /// Every oracle request.
    pub oracle_requests: Vec<TraceRequest>,
}

/// `results.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// `tandem-bench/1`.
    pub schema: String,
    /// How the run was set up.
    pub setup: Setup,
    /// Models asked for but not run.
    pub skipped_models: Vec<Skipped>,
    /// Per model and network.
    pub models: Vec<ModelResult>,
    /// Across models and networks.
    pub summary: Summary,
    /// The trace-driven run, if any.
    pub trace: Option<TraceResult>,
    /// The three-tier scenario (`--three-tiers`), if run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub three_tiers: Option<crate::three_tiers::ThreeTiersResult>,
    /// With `--cuts all`: the subset rule checked against the full measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset_coverage: Option<crate::subset::SubsetCoverage>,
    /// The phone-speed sweep (`--device-classes`, `--ratios`), if run: the top-level
    /// `models`, `summary` and `trace` are then its last speed's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_sweep: Option<crate::speed_sweep::SpeedSweep>,
}

/// The schema name in `results.json`.
pub const SCHEMA: &str = "tandem-bench/1";

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(cut: usize, latency: f64, energy: f64) -> CutResult {
        CutResult {
            cut,
            measured: true,
            latency_ms: Some(latency),
            energy_mj: Some(energy),
            runs_ms: vec![latency],
            ..Default::default()
        }
    }

    fn plans(latency: usize, energy: usize, balanced: usize) -> Vec<PlanChoice> {
        [("latency", latency), ("energy", energy), ("balanced", balanced)]
            .into_iter()
            .map(|(o, c)| PlanChoice {
                objective: o.into(),
                cut: c,
                predicted_latency_ms: 0.0,
                predicted_energy_mj: 0.0,
                reason: String::new(),
            })
            .collect()
    }

    #[test]
    fn regret_is_chosen_over_the_measured_minimum() {
        let cuts = vec![
            measured(0, 400.0, 900.0),
            measured(3, 100.0, 300.0),
            measured(5, 120.0, 200.0),
            measured(9, 200.0, 400.0),
        ];
        let n = NetworkResult::derive("wifi", cuts, plans(5, 5, 3));
        assert_eq!(n.strategies.oracle.cut, 3);
        assert_eq!(n.strategies.energy_oracle.cut, 5);
        assert_eq!(n.regret, Some(1.2));
        assert_eq!(n.regret_sweep, Some(1.2));
        assert_eq!(n.energy_regret, Some(1.0));
        assert_eq!(n.speedup_vs_edge_only, Some(400.0 / 120.0));
        assert_eq!(n.speedup_vs_local_only, Some(200.0 / 120.0));
        assert_eq!(n.energy_reduction_vs_edge_only, Some(1.0 - 200.0 / 900.0));
        assert_eq!(n.strategies.local_only.cut, 9);
        assert!(n.oracle_proven);
        let best = NetworkResult::derive(
            "wifi",
            vec![measured(0, 50.0, 1.0), measured(1, 60.0, 1.0)],
            plans(0, 0, 0),
        );
        assert_eq!(best.regret, Some(1.0));
        assert_eq!(best.needs_confirmation(), None);
    }

    #[test]
    fn the_confirmation_pass_decides_the_reported_regret() {
        let cuts = vec![measured(0, 400.0, 900.0), measured(3, 100.0, 300.0), measured(9, 200.0, 400.0)];
        let mut n = NetworkResult::derive("wifi", cuts, plans(9, 9, 9));
        assert_eq!(n.needs_confirmation(), Some((9, 3)));
        assert_eq!(n.regret, Some(2.0));
        // measured again, the planner's cut is a little faster: the sweep's oracle won by noise
        n.confirm(vec![99.0, 101.0, 100.0], vec![105.0, 104.0, 106.0]);
        assert!((n.regret.expect("a regret") - 100.0 / 105.0).abs() < 1e-12);
        assert_eq!(n.regret_sweep, Some(2.0));
        let c = n.confirmation.expect("kept");
        assert_eq!((c.chosen_cut, c.oracle_cut, c.oracle_ms), (9, 3, Some(105.0)));
    }

    #[test]
    fn capped_cuts_give_lower_bounds() {
        let capped = CutResult::not_measured(0, 1_000_000, 5000.0);
        let cuts = vec![capped, measured(4, 100.0, 10.0), measured(9, 150.0, 20.0)];
        let n = NetworkResult::derive("3g", cuts.clone(), plans(4, 9, 4));
        assert_eq!(n.speedup_vs_edge_only, Some(50.0));
        assert!(n.speedup_vs_edge_only_is_lower_bound);
        assert_eq!(n.energy_reduction_vs_edge_only, None);
        assert!(n.oracle_proven);
        let n = NetworkResult::derive("3g", cuts, plans(0, 9, 4));
        assert_eq!(n.regret, Some(50.0));
        assert!(n.regret_is_lower_bound);
        let weak = vec![CutResult::not_measured(0, 10, 50.0), measured(9, 100.0, 1.0)];
        assert!(!NetworkResult::derive("wifi", weak, plans(9, 9, 9)).oracle_proven);
    }

    #[test]
    fn runs_that_fell_back_are_capped_not_measured_latencies() {
        let run = |offloaded: bool, total_ms: f64| RunRecord {
            cut: 2,
            total_ms,
            phone_ms: 10.0,
            upload_ms: 5.0,
            edge_ms: 1.0,
            download_ms: 1.0,
            bytes_up: 100,
            bytes_down: 10,
            energy_mj: 3.0,
            offloaded,
            fallback: (!offloaded).then(|| "timeout".to_string()),
            edge_timeout_ms: Some(700.0),
            ..Default::default()
        };
        let ok = CutResult::from_runs(2, 100, &[run(true, 30.0), run(true, 10.0), run(true, 20.0)], 9, 1.0);
        assert_eq!(ok.latency_ms, Some(20.0));
        assert_eq!(ok.spread, 1.0);
        let capped = CutResult::from_runs(2, 100, &[run(false, 900.0)], 9, 300.0);
        assert_eq!(capped.latency_ms, None);
        assert_eq!(capped.latency_lower_bound_ms, Some(700.0));
        assert_eq!(capped.fallback.as_deref(), Some("timeout"));
        let local = CutResult::from_runs(9, 100, &[run(false, 50.0)], 9, 0.0);
        assert_eq!(local.latency_ms, Some(50.0), "the last cut never offloads");
    }

    #[test]
    fn summaries_check_the_targets() {
        let mk = |regret: f64| NetworkResult {
            regret: Some(regret),
            speedup_vs_local_only: Some(2.0),
            ..Default::default()
        };
        let m = ModelResult { networks: vec![mk(1.0), mk(1.02), mk(1.1)], ..Default::default() };
        let s = Summary::of(std::slice::from_ref(&m));
        assert_eq!(s.regret_median, Some(1.02));
        assert_eq!(s.regret_max, Some(1.1));
        assert!(s.regret_target_met);
        assert_eq!(s.speedup_vs_local_only_geomean, Some(2.0));
        assert_eq!(s.by_network.len(), 1, "one network name (empty) in this fixture");
        assert_eq!(s.by_network[0].regret_max, Some(1.1));
        let bad = ModelResult { networks: vec![mk(1.0), mk(1.2)], ..Default::default() };
        assert!(!Summary::of(&[bad]).regret_target_met);
    }
}
