//! What the demo found, as written to `report.json`, and the numbers of the emulated phone.

use serde::Serialize;
use tandem_sdk::{Objective, Report};

use super::scenario::Expect;

/// One verification over one network.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Decision {
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

/// Everything the demo found, as written to `report.json`.
#[derive(Debug, Serialize)]
pub(super) struct DemoReport {
    pub(super) quick: bool,
    pub(super) phone_slowdown: f64,
    pub(super) objective: Objective,
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
    fn sizes_print_in_kilobytes() {
        assert_eq!(kb(0), "0 KB");
        assert_eq!(kb(1_234), "1.2 KB");
        assert_eq!(kb(123_456), "123 KB");
    }
}
