//! What the demo found, as written to `report.json`, and the numbers of the emulated phone.

use serde::Serialize;
use tandem_edge::ServingEngine;
use tandem_sdk::{Objective, Report};

use super::scenario::Expect;

/// One verification in one scenario.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Decision {
    /// The scenario's slug.
    pub(super) scenario: String,
    pub(super) network: String,
    pub(super) photo: String,
    pub(super) expected_match: bool,
    pub(super) is_match: bool,
    pub(super) distance: f64,
    pub(super) correct: bool,
    pub(super) cut: usize,
    pub(super) after_node: Option<String>,
    pub(super) reason: String,
    pub(super) offloaded: bool,
    /// `local`, `split` or `edge` (see [`plan_kind`]).
    pub(super) kind: &'static str,
    /// The encoding of the crossing tensors (as the planner picked it).
    pub(super) encoding: String,
    pub(super) fallback: Option<String>,
    pub(super) predicted_ms: f64,
    /// Measured end to end, with the phone's compute scaled by the slowdown.
    pub(super) measured_ms: f64,
    pub(super) phone_ms: f64,
    pub(super) upload_ms: f64,
    pub(super) edge_ms: f64,
    pub(super) download_ms: f64,
    pub(super) bytes_up: u64,
    pub(super) bytes_down: u64,
    pub(super) energy_mj: f64,
}

/// A photo that must be refused with a clear message.
#[derive(Clone, Debug, Serialize)]
pub(super) struct BadInput {
    pub(super) photo: String,
    pub(super) expected: Expect,
    pub(super) message: String,
    pub(super) correct: bool,
}

/// One forced (or chosen) cut measured on one network.
#[derive(Clone, Debug, Serialize)]
pub(super) struct CutPoint {
    pub(super) network: String,
    pub(super) cut: usize,
    pub(super) forced: bool,
    pub(super) offloaded: bool,
    pub(super) predicted_ms: f64,
    pub(super) measured_ms: f64,
    pub(super) bytes_up: u64,
}

impl CutPoint {
    /// The point of one request at `cut`, with its emulated end-to-end latency.
    pub(super) fn of(network: &str, report: &Report, forced: bool, measured_ms: f64) -> CutPoint {
        CutPoint {
            network: network.into(),
            cut: report.plan.cut,
            forced,
            offloaded: report.offloaded,
            predicted_ms: report.plan.predicted.total_ms,
            measured_ms,
            bytes_up: report.bytes_up,
        }
    }
}

/// One network's predicted latency per cut (the plan's table), for the chart.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Curve {
    pub(super) network: String,
    pub(super) slug: String,
    pub(super) points: Vec<(usize, f64)>,
}

/// Plans by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(super) struct KindCounts {
    pub(super) local: usize,
    pub(super) split: usize,
    pub(super) edge: usize,
}

impl KindCounts {
    pub(super) fn add(&mut self, kind: &str) {
        match kind {
            "local" => self.local += 1,
            "edge" => self.edge += 1,
            _ => self.split += 1,
        }
    }
}

/// One way of running the request, measured in a scenario (its fastest run of several).
#[derive(Clone, Debug, Serialize)]
pub(super) struct Measured {
    /// `chosen` (the planner's plan, forced), `local`, or `cut N`.
    pub(super) label: String,
    pub(super) cut: usize,
    pub(super) encoding: String,
    pub(super) kind: &'static str,
    pub(super) runs: usize,
    pub(super) measured_ms: f64,
    pub(super) phone_ms: f64,
    pub(super) energy_mj: f64,
    /// The scenario's objective on the measured numbers (lower is better): latency in ms,
    /// energy in mJ, or the balanced score with local-only as its scale.
    pub(super) score: f64,
}

/// One scenario's outcome.
#[derive(Clone, Debug, Serialize)]
pub(super) struct ScenarioResult {
    pub(super) slug: String,
    pub(super) label: String,
    pub(super) device_class: String,
    pub(super) phone_slowdown: f64,
    pub(super) network: String,
    pub(super) battery: f32,
    pub(super) low_power: bool,
    pub(super) thermal: String,
    pub(super) objective: Objective,
    /// What should happen and why (the scenario's premise).
    pub(super) expect: String,
    /// The planner's reason for its first plan.
    pub(super) reason: String,
    /// The planner's plans over the scenario's photos, by kind.
    pub(super) plans: KindCounts,
    /// The chosen plan, measured again alongside the alternatives.
    pub(super) chosen: Measured,
    /// Every way measured (the chosen plan included), in order.
    pub(super) measured: Vec<Measured>,
    /// The best measured way other than the chosen one (`None`: nothing else could run).
    pub(super) best_alternative: Option<Measured>,
    /// chosen score / best score of all measured ways (1 when the chosen is the best).
    pub(super) ratio_to_best: f64,
    /// ratio_to_best <= the demo's limit.
    pub(super) within_limit: bool,
}

/// Everything the demo found, as written to `report.json`.
#[derive(Debug, Serialize)]
pub(super) struct DemoReport {
    pub(super) quick: bool,
    /// `--phone-slowdown` when given (it overrides every scenario's device class).
    pub(super) phone_slowdown: Option<f64>,
    /// `--device-class` when given (every scenario then uses it).
    pub(super) device_class: Option<String>,
    /// The objective of the scenarios without one of their own (`--objective`).
    pub(super) objective: Objective,
    /// The engine of the embedded edge, and why.
    pub(super) edge_engine: ServingEngine,
    pub(super) scenarios: Vec<ScenarioResult>,
    /// Plans by kind, per scenario slug.
    pub(super) plans_by_kind: Vec<(String, KindCounts)>,
    /// The most a chosen plan may measure over the best measured alternative.
    pub(super) limit_ratio: f64,
    /// Every scenario's chosen plan is within the limit.
    pub(super) plans_within_limit: bool,
    pub(super) privacy_floor_cut: usize,
    pub(super) last_cut: usize,
    pub(super) enrolled: Vec<String>,
    pub(super) networks: Vec<String>,
    pub(super) decisions: Vec<Decision>,
    pub(super) bad_inputs: Vec<BadInput>,
    pub(super) cuts: Vec<CutPoint>,
    pub(super) curves: Vec<Curve>,
    pub(super) not_enrolled_message: String,
    pub(super) privacy_refusal: String,
    pub(super) all_correct: bool,
    pub(super) elapsed_s: f64,
}

/// Report numbers with the emulated phone's compute scaled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Emulated {
    pub(super) phone_ms: f64,
    pub(super) total_ms: f64,
    pub(super) energy_mj: f64,
}

/// The emulated phone: this machine, `slowdown` times slower.
#[derive(Clone, Copy, Debug)]
pub(super) struct PhoneSpeed {
    /// How many times slower than this machine.
    pub(super) slowdown: f64,
    /// The energy model's compute power, mW.
    pub(super) compute_mw: f64,
}

impl PhoneSpeed {
    /// A report's numbers as the emulated phone would have them.
    pub(super) fn emulate(&self, report: &Report) -> Emulated {
        emulate_numbers(
            Emulated { phone_ms: report.phone_ms, total_ms: report.total_ms, energy_mj: report.energy_mj },
            self.slowdown,
            self.compute_mw,
        )
    }
}

/// The phone computes `slowdown` times longer: that much more latency and compute energy.
pub(super) fn emulate_numbers(measured: Emulated, slowdown: f64, compute_mw: f64) -> Emulated {
    let extra_ms = (slowdown - 1.0) * measured.phone_ms;
    Emulated {
        phone_ms: measured.phone_ms + extra_ms,
        total_ms: measured.total_ms + extra_ms,
        energy_mj: measured.energy_mj + compute_mw * extra_ms / 1e3,
    }
}

/// The first clause of a plan's reason.
pub(super) fn short(reason: &str) -> &str {
    reason.split(';').next().unwrap_or(reason)
}

/// Bytes as kilobytes, one decimal below 10 KB.
pub(super) fn kb(bytes: u64) -> String {
    if bytes == 0 {
        "0 KB".into()
    } else if bytes < 10_000 {
        format!("{:.1} KB", bytes as f64 / 1e3)
    } else {
        format!("{:.0} KB", bytes as f64 / 1e3)
    }
}

pub(super) fn mark(ok: bool) -> &'static str {
    if ok {
        "[ok]"
    } else {
        "[WRONG]"
    }
}

/// One way's measured numbers: end-to-end ms, energy mJ, phone ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sample {
    pub(super) total_ms: f64,
    pub(super) energy_mj: f64,
    pub(super) phone_ms: f64,
}

/// The objective on measured numbers (lower is better), as the planner scores predictions:
/// latency, energy, or balanced (`total/L0 + w_energy * energy/E0 + w_thermal * phone/L0`,
/// with the measured local-only run as L0 and E0, and the planner's weights for the phone's
/// battery and thermal state).
pub(super) fn score(objective: Objective, m: Sample, local: Sample, weights: (f64, f64)) -> f64 {
    match objective {
        Objective::Latency => m.total_ms,
        Objective::Energy => m.energy_mj,
        Objective::Balanced => {
            let (l0, e0) = (local.total_ms.max(1e-3), local.energy_mj.max(1e-3));
            m.total_ms / l0 + weights.0 * m.energy_mj / e0 + weights.1 * m.phone_ms / l0
        }
    }
}

/// A plan's kind: `local` (not offloaded), `edge` (offloaded at or below `floor`: the
/// privacy floor when the policy has one — the phone runs only what the floor keeps on it —
/// else the last cut with no multiply-accumulate before it, as cuts 1-2 of the embedder that
/// only shift and scale the pixels), or `split` (offloaded deeper).
pub(super) fn plan_kind(offloaded: bool, cut: usize, floor: usize, last: usize) -> &'static str {
    if !offloaded || cut >= last {
        "local"
    } else if cut <= floor {
        "edge"
    } else {
        "split"
    }
}

/// Where a request ran, as printed.
pub(super) fn plan_label(report: &Report) -> String {
    let node = report.after_node.as_deref().unwrap_or("the input");
    match (report.plan.offloads(), report.offloaded, report.fallback_reason) {
        (true, true, _) => format!("cut {} (after {node})", report.plan.cut),
        (true, false, Some(r)) => format!("cut {}, local ({r})", report.plan.cut),
        (_, _, Some(r)) => format!("local ({r})"),
        _ => "local".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_scales_only_the_phone() {
        let e = emulate_numbers(Emulated { phone_ms: 10.0, total_ms: 50.0, energy_mj: 30.0 }, 4.0, 2000.0);
        assert_eq!((e.phone_ms, e.total_ms), (40.0, 80.0));
        assert!((e.energy_mj - 90.0).abs() < 1e-9);
        let same = emulate_numbers(Emulated { phone_ms: 10.0, total_ms: 50.0, energy_mj: 30.0 }, 1.0, 2000.0);
        assert_eq!((same.phone_ms, same.total_ms, same.energy_mj), (10.0, 50.0, 30.0));
    }

    #[test]
    fn measured_scores_follow_the_objective() {
        let local = Sample { total_ms: 100.0, energy_mj: 200.0, phone_ms: 100.0 };
        let split = Sample { total_ms: 80.0, energy_mj: 300.0, phone_ms: 20.0 };
        assert_eq!(score(Objective::Latency, split, local, (1.0, 0.0)), 80.0);
        assert_eq!(score(Objective::Energy, split, local, (1.0, 0.0)), 300.0);
        assert_eq!(score(Objective::Balanced, local, local, (1.0, 1.0)), 3.0);
        assert!((score(Objective::Balanced, split, local, (1.0, 1.0)) - (0.8 + 1.5 + 0.2)).abs() < 1e-9);
    }

    #[test]
    fn plan_kinds_follow_the_cut_and_the_floor() {
        assert_eq!(plan_kind(false, 3, 3, 10), "local");
        assert_eq!(plan_kind(true, 10, 3, 10), "local");
        assert_eq!(plan_kind(true, 3, 3, 10), "edge");
        assert_eq!(plan_kind(true, 0, 0, 10), "edge");
        assert_eq!(plan_kind(true, 4, 3, 10), "split");
        let mut counts = KindCounts::default();
        for k in ["local", "split", "edge", "split"] {
            counts.add(k);
        }
        assert_eq!(counts, KindCounts { local: 1, split: 2, edge: 1 });
    }

    #[test]
    fn sizes_print_in_kilobytes() {
        assert_eq!(kb(0), "0 KB");
        assert_eq!(kb(1_234), "1.2 KB");
        assert_eq!(kb(123_456), "123 KB");
    }
}
