//! The phone-speed sweep: `tandem bench --device-classes flagship,mid-range,low-end,wearable`
//! or `--ratios 2,4,8,16,32`.
//!
//! The same edge (its fastest engine, unthrottled) and the same phone process serve every
//! speed; between speeds only the phone's CPU quota changes (or, in calibrated-slowdown mode,
//! the factor it sleeps by), and the phone calibrates again. At each speed the static sweep
//! of [`crate::sweep`] runs unchanged (calibrate, plan, measure every cut the oracle needs,
//! confirm), and two more forced configurations are measured per model and network:
//! **edge-only with the raw float32 input** (the sweep's own cut 0 is in whatever encoding the
//! session picks) and **edge-only with a JPEG input** (cut 0 in the `jpeg` codec: the phone
//! encodes the input as a JPEG, the edge decodes it back to the tensor), the edge-only baseline
//! real apps use.
//!
//! Per model x network x speed, a [`SpeedCell`] holds the planner's choice (latency
//! objective) and the three baselines, all measured end to end through the phone's session
//! (medians of the reported runs), and the speedups `baseline ms / chosen ms`. A baseline that
//! was capped counts with its lower bound, and its speedup says so. The JPEG baseline is
//! `null` with a reason when the model's sidecar has no calibrated `jpeg` codec at cut 0, or
//! when the session would not send one; its fidelity (from the sidecar) is reported beside it,
//! and whether it meets the default policy's fidelity bar (ADR 0014: the baseline is measured
//! even when it does not, since apps send JPEGs regardless).

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tandem_sdk::encoding::Encoding;
use tandem_sdk::meta::ModelMeta;
use tandem_sdk::Policy;

use crate::error::BenchError;
use crate::protocol::{MeasureRequest, ModelSpec};
use crate::results::{CutResult, ModelResult, Summary};
use crate::run::{Link, PhoneProcess};
use crate::settings::Settings;
use crate::stats;

/// The photo the phone's image inputs are made from in a sweep, unless `--input-image` says.
pub const DEFAULT_IMAGE: &str = "models/photos/astronaut.jpg";

/// One speed of the phone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneSpeed {
    /// The device class (`--device-classes`), `None` for a bare ratio (`--ratios`).
    pub device_class: Option<String>,
    /// How many times slower than this machine's tract the phone is.
    pub slowdown: f64,
}

impl PhoneSpeed {
    /// The speeds of `--device-classes` or `--ratios` (at most one of them is non-empty; clap
    /// checks). Unknown classes, ratios outside 1 to 1000 and repeats are refused.
    pub fn parse(classes: &[String], ratios: &[f64]) -> Result<Vec<PhoneSpeed>, BenchError> {
        let mut speeds = vec![];
        for name in classes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            let c = crate::device_class::device_class(name).map_err(BenchError::Args)?;
            speeds.push(PhoneSpeed { device_class: Some(c.name.to_string()), slowdown: c.slowdown });
        }
        for &r in ratios {
            crate::throttle::cfs_for(r)
                .map_err(|_| BenchError::Args(format!("--ratios {r}: expected 1 to 1000")))?;
            speeds.push(PhoneSpeed { device_class: None, slowdown: r });
        }
        for (i, s) in speeds.iter().enumerate() {
            if speeds[..i].iter().any(|o| o == s) {
                return Err(BenchError::Args(format!("the sweep lists {} twice", s.label())));
            }
        }
        Ok(speeds)
    }

    /// `mid-range (6.1x)` or `8x`.
    pub fn label(&self) -> String {
        match &self.device_class {
            Some(c) => format!("{c} ({}x)", self.slowdown),
            None => format!("{}x", self.slowdown),
        }
    }
}

/// Edge-only (cut 0) with the input in one forced encoding, on one model and network:
/// `fp32` (the raw input) or `jpeg`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeBaseline {
    /// The encoding forced.
    pub encoding: Option<Encoding>,
    /// The measured runs at cut 0 in that encoding (`None`: not run, see `unavailable`).
    pub measured: Option<CutResult>,
    /// Why there is no measurement: the codec is not calibrated, or the session would not
    /// send it.
    pub unavailable: Option<String>,
    /// The sidecar's mean JPEG size over its calibration inputs, bytes.
    pub calibrated_mean_bytes: Option<f64>,
    /// The sidecar's fidelity of the JPEG input against float32 (`top-1 agreement 53.7%`,
    /// `cosine >= 0.9984`).
    pub fidelity: Option<String>,
    /// Whether that fidelity meets the default policy's bar (`max_accuracy_drop`); the
    /// planner never picks a codec that does not.
    pub meets_policy: Option<bool>,
}

impl EdgeBaseline {
    /// Its latency if measured, else its lower bound (capped), else `None`.
    pub fn latency_or_bound_ms(&self) -> Option<f64> {
        self.measured.as_ref().and_then(CutResult::latency_or_bound_ms)
    }
}

/// One model x network x phone speed: the planner's choice against the three baselines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeedCell {
    /// The model.
    pub model: String,
    /// The network.
    pub network: String,
    /// The device class, `None` for a bare ratio.
    pub device_class: Option<String>,
    /// How many times slower than this machine's tract the phone is.
    pub slowdown: f64,
    /// The planner's cut (latency objective).
    pub chosen_cut: usize,
    /// The model's last cut (local-only).
    pub last_cut: usize,
    /// `local`, `split` or `edge`: what the planner's cut is.
    pub plan_kind: String,
    /// The planner's choice, measured, ms (`None`: capped).
    pub chosen_ms: Option<f64>,
    /// Local-only, measured, ms.
    pub local_ms: Option<f64>,
    /// Edge-only with the raw float32 input (cut 0 forced in `fp32`; the sweep's own cut 0
    /// is in the encoding the session picks), measured (or its lower bound when capped), ms.
    pub edge_ms: Option<f64>,
    /// Whether `edge_ms` is a lower bound.
    pub edge_ms_is_lower_bound: bool,
    /// Edge-only with a JPEG input, measured (or its lower bound), ms; `None`: see
    /// `edge_jpeg.unavailable`.
    pub edge_jpeg_ms: Option<f64>,
    /// Whether `edge_jpeg_ms` is a lower bound.
    pub edge_jpeg_ms_is_lower_bound: bool,
    /// `local_ms / chosen_ms`.
    pub speedup_vs_local: Option<f64>,
    /// `edge_ms / chosen_ms`.
    pub speedup_vs_edge: Option<f64>,
    /// Whether it is a lower bound (edge-only capped).
    pub speedup_vs_edge_is_lower_bound: bool,
    /// `edge_jpeg_ms / chosen_ms`.
    pub speedup_vs_edge_jpeg: Option<f64>,
    /// Whether it is a lower bound (the JPEG baseline capped).
    pub speedup_vs_edge_jpeg_is_lower_bound: bool,
    /// The raw-input baseline in full.
    pub edge_raw: EdgeBaseline,
    /// The JPEG baseline in full.
    pub edge_jpeg: EdgeBaseline,
}

/// One phone speed: the static sweep at it, and the JPEG baselines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeedPoint {
    /// The speed.
    #[serde(flatten)]
    pub speed: PhoneSpeed,
    /// How the phone was slowed down at this speed, in words.
    pub throttle_detail: String,
    /// The static sweep at this speed.
    pub models: Vec<ModelResult>,
    /// Its summary.
    pub summary: Summary,
    /// Per model (in `models`' order), per network: edge-only with the raw float32 input.
    pub edge_raw: Vec<Vec<EdgeBaseline>>,
    /// Per model (in `models`' order), per network: edge-only with a JPEG input.
    pub edge_jpeg: Vec<Vec<EdgeBaseline>>,
}

/// Across models and networks, at one speed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeedSummary {
    /// The speed.
    #[serde(flatten)]
    pub speed: PhoneSpeed,
    /// Cells whose planner's choice ran locally, split, and all on the edge.
    pub local_plans: usize,
    /// See `local_plans`.
    pub split_plans: usize,
    /// See `local_plans`.
    pub edge_plans: usize,
    /// Geometric mean of `speedup_vs_local`.
    pub speedup_vs_local_geomean: Option<f64>,
    /// Geometric mean of `speedup_vs_edge` (lower bounds included).
    pub speedup_vs_edge_geomean: Option<f64>,
    /// Geometric mean of `speedup_vs_edge_jpeg` over the cells that have it.
    pub speedup_vs_edge_jpeg_geomean: Option<f64>,
    /// Cells where the planner's choice was faster than every measured baseline (local,
    /// edge, JPEG edge where there is one).
    pub beats_every_baseline: usize,
    /// Cells at this speed.
    pub cells: usize,
}

/// `results.json`'s `speed_sweep`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeedSweep {
    /// `device_classes` or `ratios`.
    pub sweep: String,
    /// The speeds in the order run.
    pub points: Vec<SpeedPoint>,
    /// Per model x network x speed.
    pub cells: Vec<SpeedCell>,
    /// Per speed.
    pub summary: Vec<SpeedSummary>,
    /// How it was measured, in words.
    pub method: String,
}

/// The latency of a strategy: `(ms, is a lower bound)`.
fn latency(ms: Option<f64>, lower_bound: Option<f64>) -> (Option<f64>, bool) {
    match (ms, lower_bound) {
        (Some(l), _) => (Some(l), false),
        (None, Some(b)) => (Some(b), true),
        _ => (None, false),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl SpeedSweep {
    /// The sweep's cells and summary from its points.
    pub fn new(points: Vec<SpeedPoint>) -> SpeedSweep {
        let per_point: Vec<Vec<SpeedCell>> = points
            .iter()
            .map(|p| {
                p.models
                    .iter()
                    .zip(p.edge_raw.iter().zip(&p.edge_jpeg))
                    .flat_map(|(m, (raws, jpegs))| {
                        m.networks
                            .iter()
                            .zip(raws.iter().zip(jpegs))
                            .map(|(n, (raw, jpeg))| SpeedCell::new(&p.speed, m, n, raw.clone(), jpeg.clone()))
                    })
                    .collect()
            })
            .collect();
        let summary = points
            .iter()
            .zip(&per_point)
            .map(|(p, cells)| {
                let of: Vec<&SpeedCell> = cells.iter().collect();
                let kind = |k: &str| of.iter().filter(|c| c.plan_kind == k).count();
                let geo = |f: fn(&SpeedCell) -> Option<f64>| {
                    stats::geomean(&of.iter().filter_map(|c| f(c)).collect::<Vec<_>>())
                };
                let beats = |c: &&&SpeedCell| {
                    let over = |s: Option<f64>| s.is_none_or(|x| x > 1.0);
                    c.chosen_ms.is_some()
                        && c.plan_kind != "local"
                        && over(c.speedup_vs_local)
                        && over(c.speedup_vs_edge)
                        && over(c.speedup_vs_edge_jpeg)
                };
                SpeedSummary {
                    speed: p.speed.clone(),
                    local_plans: kind("local"),
                    split_plans: kind("split"),
                    edge_plans: kind("edge"),
                    speedup_vs_local_geomean: geo(|c| c.speedup_vs_local),
                    speedup_vs_edge_geomean: geo(|c| c.speedup_vs_edge),
                    speedup_vs_edge_jpeg_geomean: geo(|c| c.speedup_vs_edge_jpeg),
                    beats_every_baseline: of.iter().filter(beats).count(),
                    cells: of.len(),
                }
            })
            .collect();
        let sweep =
            if points.iter().all(|p| p.speed.device_class.is_some()) { "device_classes" } else { "ratios" };
        SpeedSweep {
            sweep: sweep.into(),
            points,
            cells: per_point.into_iter().flatten().collect(),
            summary,
            method: "One edge (unthrottled, its fastest engine) and one phone process for every speed; between \
                     speeds only the phone's CPU quota changes and the phone calibrates again. At each speed the \
                     static sweep runs as in a single run, then edge-only forced with the raw float32 input and \
                     with a JPEG input (cut 0 in the `jpeg` codec: the phone encodes, the edge decodes) on every \
                     network, through a session whose policy accepts any calibrated fidelity. Every latency is measured \
                     end to end through the phone's session (median of the reported runs); a speedup is the \
                     baseline's median over the planner's choice's (latency objective) median from the same \
                     speed. A capped baseline counts with its lower bound (the speedup is then a lower bound). \
                     The phone's image inputs are a photo through the sidecar's preprocessing (see each model's \
                     `input`). Energy, where shown, is modeled from the measured times."
                .into(),
        }
    }
}

impl SpeedCell {
    fn new(
        speed: &PhoneSpeed,
        m: &ModelResult,
        n: &crate::results::NetworkResult,
        edge_raw: EdgeBaseline,
        edge_jpeg: EdgeBaseline,
    ) -> SpeedCell {
        let st = &n.strategies;
        let last_cut = st.local_only.cut;
        let chosen_cut = st.latency_optimal.cut;
        let plan_kind = match chosen_cut {
            c if c >= last_cut => "local",
            0 => "edge",
            _ => "split",
        };
        let chosen_ms = st.latency_optimal.latency_ms;
        let local_ms = st.local_only.latency_ms;
        let measured = |b: &EdgeBaseline| match &b.measured {
            Some(c) => latency(c.latency_ms, c.latency_lower_bound_ms),
            None => (None, false),
        };
        let (edge_ms, edge_lb) = measured(&edge_raw);
        let (jpeg_ms, jpeg_lb) = measured(&edge_jpeg);
        SpeedCell {
            model: m.model.clone(),
            network: n.network.clone(),
            device_class: speed.device_class.clone(),
            slowdown: speed.slowdown,
            chosen_cut,
            last_cut,
            plan_kind: plan_kind.into(),
            chosen_ms,
            local_ms,
            edge_ms,
            edge_ms_is_lower_bound: edge_lb,
            edge_jpeg_ms: jpeg_ms,
            edge_jpeg_ms_is_lower_bound: jpeg_lb,
            speedup_vs_local: ratio(local_ms, chosen_ms),
            speedup_vs_edge: ratio(edge_ms, chosen_ms),
            speedup_vs_edge_is_lower_bound: edge_lb,
            speedup_vs_edge_jpeg: ratio(jpeg_ms, chosen_ms),
            speedup_vs_edge_jpeg_is_lower_bound: jpeg_lb,
            edge_raw,
            edge_jpeg,
        }
    }
}

/// What the sidecar says about the JPEG codec at cut 0: `Err(reason)` when it is not
/// calibrated there, else `(mean bytes, fidelity, meets the default policy)`.
fn jpeg_calibration(spec: &ModelSpec) -> Result<(f64, String, bool), String> {
    let sidecar = ModelMeta::path_for(&spec.path);
    let meta = match ModelMeta::load_beside(&spec.path) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(format!("no sidecar ({}): the jpeg codec is not calibrated", sidecar.display()))
        }
        Err(e) => return Err(format!("the sidecar is unusable: {e}")),
    };
    let Some(cal) = &meta.calibration else {
        return Err(format!("{} has no codec calibration (run `tandem calibrate`)", sidecar.display()));
    };
    let Some(jpeg) = cal.codec(0, Encoding::Jpeg) else {
        return Err(format!(
            "{} has no jpeg codec at cut 0 (calibrated only for an image input [1, 3, H, W])",
            sidecar.display()
        ));
    };
    let bar = Policy::default().max_accuracy_drop;
    Ok((jpeg.mean_bytes, jpeg.fidelity_text(cal.task), jpeg.meets(cal.task, bar)))
}

/// The edge-only baselines of one model on every network: cut 0 forced with the raw
/// float32 input, then with a JPEG input (when the sidecar calibrates it), each on every
/// network (fastest first, one warm-up there), capped as the sweep caps edge-only. Returns
/// `(raw, jpeg)`, per network in the settings' order.
pub(crate) fn measure_edge_baselines(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    spec: &ModelSpec,
    m: &ModelResult,
    progress: &ProgressBar,
) -> Result<(Vec<EdgeBaseline>, Vec<EdgeBaseline>), BenchError> {
    let raw = EdgeBaseline { encoding: Some(Encoding::Fp32), ..Default::default() };
    let raw = measure_edge_baseline(phone, link, s, spec, m, progress, raw)?;
    let jpeg = match jpeg_calibration(spec) {
        Ok((mean_bytes, fidelity, meets)) => {
            let base = EdgeBaseline {
                encoding: Some(Encoding::Jpeg),
                calibrated_mean_bytes: Some(mean_bytes),
                fidelity: Some(fidelity),
                meets_policy: Some(meets),
                ..Default::default()
            };
            measure_edge_baseline(phone, link, s, spec, m, progress, base)?
        }
        Err(reason) => {
            let none = EdgeBaseline {
                encoding: Some(Encoding::Jpeg),
                unavailable: Some(reason),
                ..Default::default()
            };
            vec![none; s.networks.len()]
        }
    };
    Ok((raw, jpeg))
}

/// One edge-only baseline (`base.encoding` at cut 0) on every network.
fn measure_edge_baseline(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    spec: &ModelSpec,
    m: &ModelResult,
    progress: &ProgressBar,
    base: EdgeBaseline,
) -> Result<Vec<EdgeBaseline>, BenchError> {
    let encoding = base.encoding.unwrap_or(Encoding::Fp32);
    let local_ms = m.networks.first().and_then(|n| n.strategies.local_only.latency_ms).unwrap_or(0.0);
    let cap_ms = (s.cap_factor * local_ms).max(local_ms + s.cap_floor_ms).max(s.edge_only_cap_ms);
    let last = m.cuts.saturating_sub(1);
    // the raw input's bytes: what the float32 baseline sends at least
    let raw_bytes =
        m.networks.first().and_then(|n| n.cuts.iter().find(|c| c.cut == 0)).map_or(0, |c| c.bytes);
    let mut order: Vec<usize> = (0..s.networks.len()).collect();
    order.sort_by(|a, b| s.networks[*b].uplink_mbps.total_cmp(&s.networks[*a].uplink_mbps));
    let mut out = vec![base.clone(); s.networks.len()];
    progress.inc_length(s.networks.len() as u64);
    let mut warmed = false;
    for ni in order {
        let net = &s.networks[ni];
        progress.set_message(format!("{}: edge-only in {encoding} on {}", spec.name, net.name));
        progress.inc(1);
        let floor = if encoding == Encoding::Fp32 { net.transfer_floor_ms(raw_bytes) } else { 0.0 };
        if floor > cap_ms {
            out[ni].measured = Some(CutResult::not_measured(0, raw_bytes, floor));
            continue;
        }
        link.set(net)?;
        let runs = phone.measure(MeasureRequest {
            model: spec.name.clone(),
            network: net.clone(),
            cut: 0,
            warmup: usize::from(!warmed),
            runs: s.runs,
            deadline_ms: Some(cap_ms),
            cloud_cut: None,
            encoding: Some(encoding),
        })?;
        warmed = true;
        // a run that was planned otherwise (not a capped one, which says why it fell back)
        if let Some(r) = runs.iter().find(|r| r.encoding_sent != Some(encoding) && r.fallback.is_none()) {
            out[ni].unavailable = Some(format!(
                "the session sent {} instead of {encoding}: {}",
                r.encoding_sent.map_or("nothing".to_string(), |e| e.to_string()),
                r.plan_reason.clone().unwrap_or_default()
            ));
            continue;
        }
        let bytes = runs.last().map_or(0, |r| r.bytes_up);
        out[ni].measured = Some(CutResult::from_runs(0, bytes, &runs, last, floor));
    }
    link.unlimited()?;
    Ok(out)
}

fn ms(v: Option<f64>, lower_bound: bool) -> String {
    match v {
        Some(x) if lower_bound => format!("> {x:.0}"),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

fn speedup(v: Option<f64>, lower_bound: bool) -> String {
    match v {
        Some(x) if lower_bound => format!("≥ {x:.2}x"),
        Some(x) => format!("{x:.2}x"),
        None => "-".into(),
    }
}

/// The sweep's section of `results.md`.
pub(crate) fn render(out: &mut String, sw: &SpeedSweep) {
    use std::fmt::Write;
    let _ = writeln!(out, "\n## Phone-speed sweep: the planner's choice against local-only, edge-only and JPEG edge-only (measured)\n");
    let _ = writeln!(out, "{}\n", sw.method);
    let _ = writeln!(
        out,
        "| phone | cells | plans local / split / edge | beats every baseline | speedup vs local-only (geomean) | vs edge-only | vs edge-only, JPEG input |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for s in &sw.summary {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} / {} | {} | {} | {} | {} |",
            s.speed.label(),
            s.cells,
            s.local_plans,
            s.split_plans,
            s.edge_plans,
            s.beats_every_baseline,
            speedup(s.speedup_vs_local_geomean, false),
            speedup(s.speedup_vs_edge_geomean, false),
            speedup(s.speedup_vs_edge_jpeg_geomean, false),
        );
    }
    let _ = writeln!(
        out,
        "\n| model | network | phone | planner's cut | chosen ms | local-only ms | edge-only ms | JPEG edge-only ms (bytes up) | vs local-only | vs edge-only | vs JPEG edge-only | JPEG fidelity |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &sw.cells {
        let speed = PhoneSpeed { device_class: c.device_class.clone(), slowdown: c.slowdown };
        let j = &c.edge_jpeg;
        let jpeg_ms = match (&j.unavailable, c.edge_jpeg_ms) {
            (Some(_), _) => "n/a".to_string(),
            (None, v) => format!(
                "{} ({})",
                ms(v, c.edge_jpeg_ms_is_lower_bound),
                j.measured
                    .as_ref()
                    .and_then(|m| m.bytes_up)
                    .map_or("-".into(), |b| format!("{:.1} KB", b as f64 / 1e3))
            ),
        };
        let fidelity = match (&j.unavailable, &j.fidelity, j.meets_policy) {
            (Some(why), _, _) => format!("none: {why}"),
            (None, Some(f), Some(true)) => format!("{f} (meets the policy)"),
            (None, Some(f), _) => format!("{f} (below the policy's bar)"),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.model,
            c.network,
            speed.label(),
            c.chosen_cut,
            c.plan_kind,
            ms(c.chosen_ms, false),
            ms(c.local_ms, false),
            ms(c.edge_ms, c.edge_ms_is_lower_bound),
            jpeg_ms,
            speedup(c.speedup_vs_local, false),
            speedup(c.speedup_vs_edge, c.speedup_vs_edge_is_lower_bound),
            speedup(c.speedup_vs_edge_jpeg, c.speedup_vs_edge_jpeg_is_lower_bound),
            fidelity,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{NetworkResult, StrategyResult};

    fn strategy(cut: usize, ms: Option<f64>, bound: Option<f64>) -> StrategyResult {
        StrategyResult { cut, latency_ms: ms, latency_lower_bound_ms: bound, ..Default::default() }
    }

    #[test]
    fn speeds_parse_and_refuse_unknown_classes_bad_ratios_and_repeats() {
        let s = PhoneSpeed::parse(&["flagship".into(), "low-end".into()], &[]).expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].label(), "low-end (37.8x)");
        assert_eq!(PhoneSpeed::parse(&[], &[2.0, 8.0]).expect("valid")[1].label(), "8x");
        let e = PhoneSpeed::parse(&["toaster".into()], &[]).unwrap_err().to_string();
        assert!(e.contains("unknown device class `toaster`") && e.contains("wearable"), "{e}");
        assert!(PhoneSpeed::parse(&[], &[0.5]).unwrap_err().to_string().contains("--ratios 0.5"));
        assert!(PhoneSpeed::parse(&[], &[4.0, 4.0]).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn cells_divide_each_baseline_by_the_choice_and_carry_lower_bounds() {
        let mut n = NetworkResult { network: "lte".into(), ..Default::default() };
        n.strategies.local_only = strategy(9, Some(400.0), None);
        n.strategies.latency_optimal = strategy(4, Some(100.0), None);
        let m = ModelResult { model: "m".into(), cuts: 10, networks: vec![n.clone()], ..Default::default() };
        let raw = EdgeBaseline {
            measured: Some(CutResult::not_measured(0, 602_112, 5000.0)),
            ..Default::default()
        };
        let jpeg = EdgeBaseline {
            measured: Some(CutResult { latency_ms: Some(250.0), measured: true, ..Default::default() }),
            fidelity: Some("cosine >= 0.9984".into()),
            meets_policy: Some(false),
            ..Default::default()
        };
        let unavailable = EdgeBaseline { unavailable: Some("no sidecar".into()), ..Default::default() };
        let speed = PhoneSpeed { device_class: Some("low-end".into()), slowdown: 37.8 };
        let mut local = m.clone();
        local.networks[0].strategies.latency_optimal = strategy(9, Some(400.0), None);
        let sw = SpeedSweep::new(vec![
            SpeedPoint {
                speed: speed.clone(),
                models: vec![m],
                edge_raw: vec![vec![raw.clone()]],
                edge_jpeg: vec![vec![jpeg]],
                ..Default::default()
            },
            SpeedPoint {
                speed: PhoneSpeed { device_class: Some("flagship".into()), slowdown: 1.0 },
                models: vec![local],
                edge_raw: vec![vec![raw]],
                edge_jpeg: vec![vec![unavailable]],
                ..Default::default()
            },
        ]);
        assert_eq!(sw.sweep, "device_classes");
        let c = &sw.cells[0];
        assert_eq!((c.plan_kind.as_str(), c.chosen_cut, c.last_cut), ("split", 4, 9));
        assert_eq!(c.speedup_vs_local, Some(4.0));
        assert_eq!((c.speedup_vs_edge, c.speedup_vs_edge_is_lower_bound), (Some(50.0), true));
        assert_eq!(c.speedup_vs_edge_jpeg, Some(2.5));
        let flagship = &sw.cells[1];
        assert_eq!((flagship.plan_kind.as_str(), flagship.speedup_vs_local), ("local", Some(1.0)));
        assert_eq!(flagship.speedup_vs_edge_jpeg, None, "no JPEG baseline, no number");
        assert_eq!(sw.summary[0].beats_every_baseline, 1);
        assert_eq!((sw.summary[1].local_plans, sw.summary[1].beats_every_baseline), (1, 0));
        let mut md = String::new();
        render(&mut md, &sw);
        assert!(md.contains("| m | lte | low-end (37.8x) | 4 (split) | 100 | 400 | > 5000 | 250 (-) | 4.00x | ≥ 50.00x | 2.50x |"), "{md}");
        assert!(md.contains("none: no sidecar"), "{md}");
    }
}
