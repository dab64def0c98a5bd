//! Three tiers (`--three-tiers`, issue 19): a weak edge near the phone, a strong cloud behind
//! a slower link.
//!
//! ```text
//!  phone (cgroup quota, --slowdown) ── link emulator (the network) ──► edge (cgroup quota,
//!  --edge-slowdown; `tandem edge --cloud`) ── link emulator (--cloud-mbps, --cloud-rtt-ms)
//!  ──► cloud (`tandem edge`, unthrottled)
//! ```
//!
//! The static sweep then measures the two-tier plans against the *weak* edge, as usual. After
//! it, per model and network, the benchmark measures alternately (one run of each in turn, so
//! that the machine's load of the moment hits all alike):
//!
//! - the best two-tier plan: the sweep's oracle cut (local-only or the best phone/edge split);
//! - forced three-tier splits: cut 0 (the raw input to the edge) with the cloud taking over at
//!   each of `--cloud-cuts` (default 1, last/4, last/2);
//! - the planner's choice with the cloud the edge advertises (latency objective, the network's
//!   known link, the phone's calibrated profile), which may keep two tiers.
//!
//! A three-tier split *wins* when its median is below the best two-tier plan's median of the
//! same alternating runs. Latencies are measured; energy is modeled from the measured times.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tandem_linkemu::{LinkConfig, LinkEmulator};

use crate::edge::{CloudAdvert, EdgeProcess, ProfileState};
use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::{Command, MeasureRequest, OpenedModel, Response, RunRecord};
use crate::results::{CutResult, ModelResult};
use crate::run::{unexpected, Link, PhoneProcess};
use crate::settings::{Settings, ThreeTierSettings};
use crate::stats;
use crate::throttle::CpuThrottle;

/// One measured configuration: a (cut, cloud cut) pair, or a two-tier cut.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeTierRow {
    /// `two_tier_best`, `forced` or `planner`.
    pub label: String,
    /// The phone/edge cut.
    pub cut: usize,
    /// The edge/cloud cut (`None`: two tiers).
    pub cloud_cut: Option<usize>,
    /// Whether it ran at all (else its phone-to-edge transfer alone exceeded the cap).
    pub measured: bool,
    /// Median measured latency, ms (`None` when capped or not run).
    pub latency_ms: Option<f64>,
    /// When capped or not run: the latency is above this, ms.
    pub latency_lower_bound_ms: Option<f64>,
    /// Every reported run, ms.
    pub runs_ms: Vec<f64>,
    /// Median phone compute, ms.
    pub phone_ms: Option<f64>,
    /// Median upload with one round trip, ms.
    pub upload_ms: Option<f64>,
    /// Median time at the edge (its compute and, with three tiers, the cloud hop), ms.
    pub edge_ms: Option<f64>,
    /// Median edge-to-cloud round trip as the edge reports it, ms.
    pub cloud_ms: Option<f64>,
    /// Median cloud compute as the edge reports it, ms.
    pub cloud_compute_ms: Option<f64>,
    /// Median phone energy, mJ: modeled from the measured times, not measured.
    pub modeled_energy_mj: Option<f64>,
    /// Reported runs the edge answered.
    pub offloaded_runs: usize,
    /// Reported runs the cloud took over at `cloud_cut` (the rest: the edge finished).
    pub cloud_runs: usize,
    /// Why the edge finished a run itself, if it did (the first reason).
    pub cloud_fallback: Option<String>,
    /// Why the phone finished a run itself, if it did (the first report code: a cap, or
    /// the edge's refusal).
    pub fallback: Option<String>,
    /// Largest absolute difference of any run's outputs from the phone's local-only outputs.
    pub max_abs_diff: Option<f64>,
    /// The planner's predicted latency (the `planner` row), ms.
    pub predicted_latency_ms: Option<f64>,
}

impl ThreeTierRow {
    fn of(
        label: &str,
        cut: usize,
        cloud_cut: Option<usize>,
        bytes: u64,
        runs: &[RunRecord],
        last: usize,
    ) -> Self {
        let c = CutResult::from_runs(cut, bytes, runs, last, 0.0);
        let med =
            |f: fn(&RunRecord) -> Option<f64>| stats::median(&runs.iter().filter_map(f).collect::<Vec<_>>());
        ThreeTierRow {
            label: label.into(),
            cut,
            cloud_cut,
            measured: c.measured,
            latency_ms: c.latency_ms,
            latency_lower_bound_ms: c.latency_lower_bound_ms,
            runs_ms: c.runs_ms,
            phone_ms: c.phone_ms,
            upload_ms: c.upload_ms,
            edge_ms: c.edge_ms,
            cloud_ms: med(|r| r.cloud_ms),
            cloud_compute_ms: med(|r| r.cloud_compute_ms),
            modeled_energy_mj: c.energy_mj,
            offloaded_runs: runs.iter().filter(|r| r.offloaded).count(),
            cloud_runs: runs.iter().filter(|r| cloud_cut.is_some() && r.cloud_cut == cloud_cut).count(),
            cloud_fallback: runs.iter().find_map(|r| r.cloud_fallback.clone()),
            fallback: c.fallback,
            max_abs_diff: runs.iter().filter_map(|r| r.max_abs_diff).reduce(f64::max),
            predicted_latency_ms: None,
        }
    }

    fn not_measured(label: &str, cut: usize, cloud_cut: Option<usize>, floor_ms: f64) -> Self {
        ThreeTierRow {
            label: label.into(),
            cut,
            cloud_cut,
            latency_lower_bound_ms: Some(floor_ms),
            ..Default::default()
        }
    }
}

/// One model on one network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeTierCell {
    /// The model.
    pub model: String,
    /// The network between phone and edge.
    pub network: String,
    /// The model's last cut (everything on the phone).
    pub last_cut: usize,
    /// Local-only's median in the sweep, ms.
    pub sweep_local_only_ms: Option<f64>,
    /// The best phone/edge split in the sweep (edge-only included): its cut.
    pub sweep_best_split_cut: Option<usize>,
    /// Its median in the sweep, ms.
    pub sweep_best_split_ms: Option<f64>,
    /// The best two-tier plan (the sweep's oracle: local-only or the best split), measured
    /// again alternately with the three-tier rows.
    pub two_tier_best: ThreeTierRow,
    /// The forced three-tier splits.
    pub forced: Vec<ThreeTierRow>,
    /// The planner's choice with the cloud available (`cloud_cut` `None`: it kept two tiers).
    pub planner: Option<ThreeTierRow>,
    /// Why the planner chose it.
    pub planner_reason: String,
    /// The fastest measured three-tier split (forced or the planner's): its cuts.
    pub best_three_tier: Option<(usize, usize)>,
    /// Its median, ms.
    pub best_three_tier_ms: Option<f64>,
    /// The best two-tier plan's median over the best three-tier split's (above 1: three
    /// tiers win).
    pub speedup_vs_two_tier: Option<f64>,
    /// Whether the best three-tier split beats both local-only and the best phone/edge split.
    pub three_tiers_win: Option<bool>,
}

impl ThreeTierCell {
    /// Fills in the best three-tier split and the comparison with the two-tier plan.
    pub fn derive(mut self) -> Self {
        let best = self
            .forced
            .iter()
            .chain(self.planner.iter())
            .filter_map(|r| Some((r.cut, r.cloud_cut?, r.latency_ms?)))
            .min_by(|a, b| a.2.total_cmp(&b.2));
        self.best_three_tier = best.map(|(c, k, _)| (c, k));
        self.best_three_tier_ms = best.map(|b| b.2);
        self.speedup_vs_two_tier = match (self.two_tier_best.latency_ms, self.best_three_tier_ms) {
            (Some(two), Some(three)) if three > 0.0 => Some(two / three),
            _ => None,
        };
        self.three_tiers_win = self.speedup_vs_two_tier.map(|s| s > 1.0);
        self
    }
}

/// How the three tiers were set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeTiersSetup {
    /// How many times slower than the cloud the edge was meant to be.
    pub edge_slowdown: f64,
    /// `cgroup`, or `none` (no writable cgroup: the edge ran at full speed).
    pub edge_throttle: String,
    /// The edge's throttle in words.
    pub edge_throttle_detail: String,
    /// The edge-to-cloud link's emulated rate each way, Mbps.
    pub cloud_link_mbps: f64,
    /// Its emulated round trip, ms.
    pub cloud_link_rtt_ms: f64,
    /// What the cloud's profiler reached per model.
    pub cloud_profiles: Vec<ProfileState>,
    /// The cloud as the edge advertised it when the phone opened its sessions.
    pub advertised: Vec<CloudAdvert>,
    /// How the rows were measured, and what is measured and what is modeled.
    pub method: String,
}

/// Across cells.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeTiersSummary {
    /// Cells with a measured two-tier plan and a measured three-tier split.
    pub compared: usize,
    /// Cells where three tiers won.
    pub wins: usize,
    /// The largest speedup of three tiers over the best two-tier plan.
    pub best_speedup: Option<f64>,
    /// The smallest (below 1: three tiers lose).
    pub worst_speedup: Option<f64>,
    /// Cells where the planner chose a three-tier split.
    pub planner_chose_three_tiers: usize,
}

/// `results.json`'s `three_tiers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeTiersResult {
    /// The setup.
    pub setup: ThreeTiersSetup,
    /// Per model and network.
    pub cells: Vec<ThreeTierCell>,
    /// Across them.
    pub summary: ThreeTiersSummary,
}

impl ThreeTiersResult {
    /// The result of `cells`, summarized.
    pub fn new(setup: ThreeTiersSetup, cells: Vec<ThreeTierCell>) -> Self {
        let speedups: Vec<f64> = cells.iter().filter_map(|c| c.speedup_vs_two_tier).collect();
        let summary = ThreeTiersSummary {
            compared: speedups.len(),
            wins: speedups.iter().filter(|s| **s > 1.0).count(),
            best_speedup: speedups.iter().copied().reduce(f64::max),
            worst_speedup: speedups.iter().copied().reduce(f64::min),
            planner_chose_three_tiers: cells
                .iter()
                .filter(|c| c.planner.as_ref().is_some_and(|p| p.cloud_cut.is_some()))
                .count(),
        };
        ThreeTiersResult { setup, cells, summary }
    }
}

/// The cloud: an unthrottled `tandem edge` behind the edge-to-cloud link emulator.
pub(crate) struct CloudSide {
    emu: LinkEmulator,
    _group: Option<CpuThrottle>,
    _process: EdgeProcess,
    /// What its profiler reached.
    pub(crate) profiles: Vec<ProfileState>,
}

impl CloudSide {
    /// Starts the cloud (in a no-quota, high-priority group when `priority`), waits for its
    /// profiles, and puts the link emulator in front of it.
    pub(crate) fn start(
        s: &Settings,
        t: &ThreeTierSettings,
        exe: &Path,
        priority: bool,
        runtime: &tokio::runtime::Runtime,
        progress: &ProgressBar,
    ) -> Result<CloudSide, BenchError> {
        progress.set_message(format!("cloud: loading {} model(s) and profiling their cuts", s.models.len()));
        let log = s.out.join("cloud.log");
        let process = EdgeProcess::spawn(exe, &s.models, "127.0.0.1:0", s.edge_profile_s, None, &log, &[])?;
        let group = if priority {
            let g = CpuThrottle::create(&format!("tandem-bench-{}-cloud", std::process::id()), None)?;
            g.add(process.pid())?;
            Some(g)
        } else {
            None
        };
        let wait = Duration::from_secs_f64(s.edge_profile_s * s.models.len() as f64 + 300.0);
        let profiles = runtime.block_on(process.wait_for_profiles(&s.models, wait))?;
        let upstream: SocketAddr = process
            .authority()
            .parse()
            .map_err(|e| BenchError::Edge(format!("cloud address `{}`: {e}", process.authority())))?;
        let config = LinkConfig::mbps(t.cloud_mbps, t.cloud_mbps, t.cloud_rtt_ms);
        let emu = runtime.block_on(LinkEmulator::start(upstream, config)).map_err(BenchError::Link)?;
        Ok(CloudSide { emu, _group: group, _process: process, profiles })
    }

    /// The edge's arguments that point it at the cloud (through the link emulator).
    pub(crate) fn edge_args(&self) -> Vec<String> {
        vec![
            "--cloud".into(),
            format!("http://{}", self.emu.local_addr()),
            "--cloud-timeout-ms".into(),
            "60000".into(),
        ]
    }
}

/// The weak edge: process `pid` in a group with `edge_slowdown`'s quota, or, without a
/// writable cgroup, at full speed; and that said in words.
pub(crate) fn throttle_edge(t: &ThreeTierSettings, pid: u32) -> (Option<CpuThrottle>, String, String) {
    let group =
        CpuThrottle::create(&format!("tandem-bench-{}-edge", std::process::id()), Some(t.edge_slowdown))
            .and_then(|g| g.add(pid).map(|_| g));
    match group {
        Ok(g) => {
            let detail = format!("{} ({}x slower than the unthrottled cloud)", g.describe(), t.edge_slowdown);
            (Some(g), "cgroup".into(), detail)
        }
        Err(e) => (
            None,
            "none".into(),
            format!("no edge throttle: no writable cgroup ({e}); the edge ran at full speed, as fast as the cloud"),
        ),
    }
}

/// The default forced cloud cuts after cut 0: 1, last/4, last/2 (distinct, inside the model).
pub fn default_cloud_cuts(last: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = [1, last / 4, last / 2].into_iter().filter(|k| *k > 0 && *k < last).collect();
    cuts.dedup();
    cuts
}

/// Measures the three-tier rows of model `m` (already swept) on every network.
pub(crate) fn measure_model(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    t: &ThreeTierSettings,
    m: &ModelResult,
    om: &OpenedModel,
    progress: &ProgressBar,
) -> Result<Vec<ThreeTierCell>, BenchError> {
    let bytes: Vec<u64> = om.cuts.iter().map(|c| c.bytes).collect();
    let last = bytes.len().saturating_sub(1);
    let cloud_cuts: Vec<usize> = if t.cloud_cuts.is_empty() {
        default_cloud_cuts(last)
    } else {
        t.cloud_cuts.iter().copied().filter(|k| *k > 0 && *k < last).collect()
    };
    let mut cells = vec![];
    for (net, result) in s.networks.iter().zip(&m.networks) {
        progress.inc_length(1);
        progress.set_message(format!("{}: three tiers on {}", m.model, net.name));
        let Some(local_ms) = result.strategies.local_only.latency_ms else { continue };
        let normal_cap = (s.cap_factor * local_ms).max(local_ms + s.cap_floor_ms);
        let best_split = result
            .cuts
            .iter()
            .filter(|c| c.cut < last)
            .filter_map(|c| c.latency_ms.map(|l| (c.cut, l)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let plan =
            match phone.call(&Command::PlanThreeTiers { model: m.model.clone(), network: net.clone() })? {
                Response::PlannedThreeTiers { cut, cloud_cut, predicted_latency_ms, reason, cloud_known } => {
                    if !cloud_known {
                        log::warn!("{}: the session's edge profile describes no cloud", m.model);
                    }
                    (cut, cloud_cut, predicted_latency_ms, reason)
                }
                r => return Err(unexpected(&r)),
            };
        let mut configs = vec![("two_tier_best", result.strategies.oracle.cut, None)];
        configs.extend(cloud_cuts.iter().map(|k| ("forced", 0, Some(*k))));
        if !configs.iter().any(|c| (c.1, c.2) == (plan.0, plan.1)) {
            configs.push(("planner", plan.0, plan.1));
        }
        let caps = Caps { normal_ms: normal_cap, edge_only_ms: normal_cap.max(s.edge_only_cap_ms), last };
        let rows = measure_alternately(phone, link, s, &m.model, net, &configs, &bytes, &caps)?;
        let mut planner = rows.iter().find(|r| (r.cut, r.cloud_cut) == (plan.0, plan.1)).cloned();
        if let Some(p) = &mut planner {
            p.label = "planner".into();
            p.predicted_latency_ms = Some(plan.2).filter(|x| x.is_finite());
        }
        let cell = ThreeTierCell {
            model: m.model.clone(),
            network: net.name.clone(),
            last_cut: last,
            sweep_local_only_ms: Some(local_ms),
            sweep_best_split_cut: best_split.map(|b| b.0),
            sweep_best_split_ms: best_split.map(|b| b.1),
            two_tier_best: rows[0].clone(),
            forced: rows.iter().filter(|r| r.label == "forced").cloned().collect(),
            planner,
            planner_reason: plan.3,
            ..Default::default()
        };
        cells.push(cell.derive());
        progress.inc(1);
    }
    link.unlimited()?;
    Ok(cells)
}

/// The caps of a run: local-only's (from the sweep), edge-only's, and the last cut.
struct Caps {
    normal_ms: f64,
    edge_only_ms: f64,
    last: usize,
}

/// Measures `configs` (label, cut, cloud cut) on `net` alternately: a warm-up round, then
/// `s.runs` rounds of one run each; a capped configuration is not run again.
#[allow(clippy::too_many_arguments)]
fn measure_alternately(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    model: &str,
    net: &Network,
    configs: &[(&str, usize, Option<usize>)],
    bytes: &[u64],
    caps: &Caps,
) -> Result<Vec<ThreeTierRow>, BenchError> {
    link.set(net)?;
    let cap = |cut: usize| match cut {
        c if c == caps.last => None,
        0 => Some(caps.edge_only_ms),
        _ => Some(caps.normal_ms),
    };
    let floor = |cut: usize| net.transfer_floor_ms(bytes.get(cut).copied().unwrap_or(0));
    let runnable: Vec<bool> =
        configs.iter().map(|(_, cut, _)| cap(*cut).is_none_or(|c| floor(*cut) <= c)).collect();
    let mut runs: Vec<Vec<RunRecord>> = vec![vec![]; configs.len()];
    let mut capped = vec![false; configs.len()];
    for round in 0..=s.runs {
        for (k, (_, cut, cloud_cut)) in configs.iter().enumerate() {
            if !runnable[k] || capped[k] {
                continue;
            }
            let warm = round == 0;
            let got = phone.measure(MeasureRequest {
                model: model.to_string(),
                network: net.clone(),
                cut: *cut,
                warmup: usize::from(warm),
                runs: usize::from(!warm),
                deadline_ms: cap(*cut),
                cloud_cut: *cloud_cut,
                encoding: None,
            })?;
            capped[k] = *cut < caps.last && got.iter().any(|r| !r.offloaded);
            runs[k].extend(got);
        }
    }
    Ok(configs
        .iter()
        .zip(runs)
        .zip(runnable)
        .map(|(((label, cut, cloud_cut), r), ok)| {
            let b = bytes.get(*cut).copied().unwrap_or(0);
            if ok {
                ThreeTierRow::of(label, *cut, *cloud_cut, b, &r, caps.last)
            } else {
                ThreeTierRow::not_measured(label, *cut, *cloud_cut, floor(*cut))
            }
        })
        .collect())
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

fn latency(r: &ThreeTierRow) -> String {
    let why = r.fallback.as_deref().map_or(String::new(), |f| format!(" (phone fell back: {f})"));
    match (r.latency_ms, r.latency_lower_bound_ms) {
        (Some(l), _) => ms(Some(l)),
        (None, Some(lb)) => format!("> {}{why}", ms(Some(lb))),
        _ => "-".into(),
    }
}

fn split(cut: usize, cloud_cut: Option<usize>, last: Option<usize>) -> String {
    match (cloud_cut, last) {
        (Some(k), _) => format!("{cut} → {k}"),
        (None, Some(l)) if cut == l => "local-only".into(),
        (None, _) if cut == 0 => "edge-only".into(),
        (None, _) => format!("{cut} (two tiers)"),
    }
}

/// `results.md`'s three-tier section.
pub fn render(out: &mut String, r: &ThreeTiersResult) {
    let st = &r.setup;
    let _ = writeln!(out, "\n## Three tiers: phone → weak edge → cloud (measured)\n");
    let _ = writeln!(
        out,
        "Edge {}x slower than the cloud ({}: {}); edge → cloud link {} Mbps each way, {} ms round trip (emulated). {}\n",
        st.edge_slowdown, st.edge_throttle, st.edge_throttle_detail, st.cloud_link_mbps, st.cloud_link_rtt_ms, st.method
    );
    let s = &r.summary;
    let _ = writeln!(
        out,
        "Three tiers beat the best two-tier plan in {} of {} cells (speedup best {}, worst {}); the planner chose three \
         tiers in {} cell(s).\n",
        s.wins,
        s.compared,
        s.best_speedup.map_or("-".into(), |x| format!("{x:.2}x")),
        s.worst_speedup.map_or("-".into(), |x| format!("{x:.2}x")),
        s.planner_chose_three_tiers
    );
    let _ = writeln!(
        out,
        "| model | network | best two-tier (ms) | forced splits cut → cloud cut: ms | planner's choice: ms | best three-tier \
         | two-tier / three-tier | three tiers win |\n|---|---|---|---|---|---|---|---|"
    );
    for c in &r.cells {
        let t = &c.two_tier_best;
        let forced: Vec<String> =
            c.forced.iter().map(|f| format!("{}: {}", split(f.cut, f.cloud_cut, None), latency(f))).collect();
        let planner = c.planner.as_ref().map_or("-".into(), |p| {
            format!(
                "{}: {} (predicted {})",
                split(p.cut, p.cloud_cut, None),
                latency(p),
                ms(p.predicted_latency_ms)
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {}: {} | {} | {} | {} | {} | {} |",
            c.model,
            c.network,
            split(t.cut, None, Some(c.last_cut)),
            latency(t),
            forced.join("; "),
            planner,
            c.best_three_tier.map_or("-".into(), |(a, b)| format!("{a} → {b}: {}", ms(c.best_three_tier_ms))),
            c.speedup_vs_two_tier.map_or("-".into(), |x| format!("{x:.2}x")),
            c.three_tiers_win.map_or("-", |w| if w { "yes" } else { "no" }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, cut: usize, cloud_cut: Option<usize>, ms: f64) -> ThreeTierRow {
        ThreeTierRow {
            label: label.into(),
            cut,
            cloud_cut,
            measured: true,
            latency_ms: Some(ms),
            ..Default::default()
        }
    }

    #[test]
    fn three_tiers_win_when_the_best_split_beats_the_best_two_tier_plan() {
        let cell = ThreeTierCell {
            two_tier_best: row("two_tier_best", 0, None, 300.0),
            forced: vec![row("forced", 0, Some(1), 250.0), row("forced", 0, Some(5), 200.0)],
            planner: Some(row("planner", 3, None, 280.0)),
            ..Default::default()
        }
        .derive();
        assert_eq!(cell.best_three_tier, Some((0, 5)));
        assert_eq!(cell.speedup_vs_two_tier, Some(1.5));
        assert_eq!(cell.three_tiers_win, Some(true));
        let lose = ThreeTierCell {
            two_tier_best: row("two_tier_best", 9, None, 100.0),
            forced: vec![row("forced", 0, Some(1), 400.0)],
            ..Default::default()
        }
        .derive();
        assert_eq!(lose.three_tiers_win, Some(false));
        let r = ThreeTiersResult::new(ThreeTiersSetup::default(), vec![cell, lose]);
        assert_eq!((r.summary.compared, r.summary.wins), (2, 1));
        assert_eq!((r.summary.best_speedup, r.summary.worst_speedup), (Some(1.5), Some(0.25)));
        let mut md = String::new();
        render(&mut md, &r);
        assert!(md.contains("| 0 → 5: 200 | 1.50x | yes |"), "{md}");
    }

    #[test]
    fn default_cloud_cuts_are_distinct_and_inside_the_model() {
        assert_eq!(default_cloud_cuts(40), vec![1, 10, 20]);
        assert_eq!(default_cloud_cuts(3), vec![1]);
        assert_eq!(default_cloud_cuts(1), Vec::<usize>::new());
    }
}
