//! The static sweep of one model: calibrate the phone, plan on every network, run every cut
//! the oracle needs on every network, and measure again where the planner and the oracle
//! disagree.

use indicatif::ProgressBar;

use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::{Command, CutPrediction, MeasureRequest, ModelSpec, OpenedModel, PlanChoice, Response};
use crate::results::{Calibration, CutResult, EstimatedPlan, ModelResult, NetworkResult};
use crate::run::{unexpected, Link, PhoneProcess};
use crate::settings::Settings;
use crate::subset::oracle_subset;

/// Requests the online session makes on a network before the estimator's plan is taken:
/// the first starts its probe; the others may offload and so add samples.
const ESTIMATOR_REQUESTS: usize = 3;

/// What the phone's session planned for one model on every network.
struct Planned {
    /// Per network, in the settings' order: the plans per objective and the latency
    /// objective's per-cut predictions.
    plans: Vec<(Vec<PlanChoice>, Vec<CutPrediction>)>,
    device_before_ms: Vec<f64>,
    edge_after_ms: Vec<f64>,
}

/// One model's sweep in progress.
struct ModelSweep<'a> {
    phone: &'a mut PhoneProcess,
    link: &'a Link,
    s: &'a Settings,
    name: &'a str,
    progress: &'a ProgressBar,
    /// Bytes crossing each cut.
    bytes: Vec<u64>,
    /// The last cut: all on the phone.
    last: usize,
}

/// Calibrates, plans and sweeps one model on every network.
pub(crate) fn measure_model(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    spec: &ModelSpec,
    om: &OpenedModel,
    progress: &ProgressBar,
) -> Result<ModelResult, BenchError> {
    let bytes: Vec<u64> = om.cuts.iter().map(|c| c.bytes).collect();
    let last = bytes.len().saturating_sub(1);
    let mut m = ModelSweep { phone, link, s, name: &spec.name, progress, bytes, last };
    let calibration = m.calibrate()?;
    m.settle()?;
    let planned = m.plan()?;
    let estimated = m.plan_estimated(&planned)?;
    let chosen: Vec<usize> = planned
        .plans
        .iter()
        .flat_map(|(p, _)| p.iter().map(|c| c.cut))
        .chain(estimated.iter().map(|e| e.plan.cut))
        .collect();
    let cuts = if s.all_cuts {
        (0..=last).collect()
    } else {
        oracle_subset(&m.bytes, &chosen, s.min_bytes_drop, s.max_oracle_cuts)
    };
    progress.inc_length((cuts.len() * s.networks.len()) as u64);
    let (per_net, normal_cap) = m.sweep(&cuts)?;
    link.unlimited()?;
    let mut networks: Vec<NetworkResult> = s
        .networks
        .iter()
        .zip(per_net)
        .zip(planned.plans)
        .map(|((net, cuts), (plans, table))| network_result(net, cuts, plans, &table))
        .collect();
    m.confirm(&mut networks, normal_cap)?;
    link.unlimited()?;
    for (n, e) in networks.iter_mut().zip(estimated) {
        n.set_estimated(e);
    }
    Ok(ModelResult {
        model: spec.name.clone(),
        path: spec.path.display().to_string(),
        hash: om.hash.clone(),
        cuts: m.bytes.len(),
        measured_cuts: cuts,
        calibration,
        device_before_ms: planned.device_before_ms,
        edge_after_ms: planned.edge_after_ms,
        networks,
        input: om.input.clone(),
    })
}

/// One network's result: its cuts in order with the planner's predictions, and what
/// follows from them.
fn network_result(
    net: &Network,
    mut cuts: Vec<CutResult>,
    plans: Vec<PlanChoice>,
    table: &[CutPrediction],
) -> NetworkResult {
    cuts.sort_by_key(|c| c.cut);
    for c in &mut cuts {
        if let Some(p) = table.iter().find(|p| p.cut == c.cut) {
            c.predicted_latency_ms = Some(p.latency_ms).filter(|x| x.is_finite());
            c.predicted_energy_mj = Some(p.energy_mj).filter(|x| x.is_finite());
        }
    }
    NetworkResult::derive(&net.name, cuts, plans)
}

impl ModelSweep<'_> {
    fn calibrate(&mut self) -> Result<Calibration, BenchError> {
        self.progress.set_message(format!("{}: calibrating the phone", self.name));
        match self.phone.call(&Command::Calibrate { model: self.name.to_string() })? {
            Response::Calibrated { timed_cuts, elapsed_ms, .. } => Ok(Calibration { timed_cuts, elapsed_ms }),
            r => Err(unexpected(&r)),
        }
    }

    /// Settle: a few offloads over the unshaped link before planning, as a session in use
    /// would have made. The edge's recent queue wait then reflects serving, not its startup
    /// profiling, and the session's observed edge-compute ratio corrects a profile measured
    /// under different load (see `docs/PERFORMANCE.md`).
    fn settle(&mut self) -> Result<(), BenchError> {
        let s = self.s;
        let fastest_net = s.networks.iter().max_by(|a, b| a.uplink_mbps.total_cmp(&b.uplink_mbps)).cloned();
        let (Some(net), true) = (fastest_net, s.settle_requests > 0) else { return Ok(()) };
        self.progress
            .set_message(format!("{}: settling the session ({} offloads)", self.name, s.settle_requests));
        self.link.unlimited()?;
        self.phone.measure(MeasureRequest {
            model: self.name.to_string(),
            network: net,
            cut: 0,
            warmup: s.settle_requests,
            runs: 0,
            deadline_ms: None,
            cloud_cut: None,
            encoding: None,
        })?;
        Ok(())
    }

    /// The session's plans on every network, with the profiles it planned with.
    fn plan(&mut self) -> Result<Planned, BenchError> {
        let mut planned = Planned { plans: vec![], device_before_ms: vec![], edge_after_ms: vec![] };
        for n in &self.s.networks {
            match self.phone.call(&Command::Plan { model: self.name.to_string(), network: n.clone() })? {
                Response::Planned { plans, table, edge_after_ms, device_before_ms, edge_profile_fetched } => {
                    if !edge_profile_fetched {
                        log::warn!(
                            "{}: the session has no edge profile; it plans with an estimate",
                            self.name
                        );
                    }
                    planned.plans.push((plans, table));
                    planned.device_before_ms = device_before_ms;
                    planned.edge_after_ms = edge_after_ms;
                }
                r => return Err(unexpected(&r)),
            }
        }
        Ok(planned)
    }

    /// On every network (the link shaped to it), the online session's requests and then
    /// the plan from its link estimate (see [`Command::PlanEstimated`]); the requests'
    /// deadline is the cap, from the planner's local-only time.
    fn plan_estimated(&mut self, planned: &Planned) -> Result<Vec<EstimatedPlan>, BenchError> {
        let s = self.s;
        let local_ms = planned.device_before_ms.last().copied().unwrap_or(0.0);
        let deadline_ms = (s.cap_factor * local_ms).max(local_ms + s.cap_floor_ms);
        let mut out = vec![];
        for n in &s.networks {
            self.progress.set_message(format!("{}: the online estimator on {}", self.name, n.name));
            self.link.set(n)?;
            let cmd = Command::PlanEstimated {
                model: self.name.to_string(),
                network: n.clone(),
                requests: ESTIMATOR_REQUESTS,
                deadline_ms,
            };
            match self.phone.call(&cmd)? {
                Response::PlannedEstimated { plan, link, requests, offloads } => {
                    out.push(EstimatedPlan { plan, link, requests, offloads })
                }
                r => return Err(unexpected(&r)),
            }
        }
        self.link.unlimited()?;
        Ok(out)
    }

    /// The cap of a run at `cut` given local-only's cap.
    fn cap_ms(&self, cut: usize, normal_cap: f64) -> f64 {
        if cut == 0 {
            normal_cap.max(self.s.edge_only_cap_ms)
        } else {
            normal_cap
        }
    }

    /// Local-only, then every cut of `cuts` on every network (fastest network first: it
    /// warms the parts up on both sides). Returns the results per network, in the settings'
    /// order, and the cap of a run (from local-only's latency).
    fn sweep(&mut self, cuts: &[usize]) -> Result<(Vec<Vec<CutResult>>, f64), BenchError> {
        let s = self.s;
        let last = self.last;
        let mut order: Vec<usize> = (0..s.networks.len()).collect();
        order.sort_by(|a, b| s.networks[*b].uplink_mbps.total_cmp(&s.networks[*a].uplink_mbps));
        let mut per_net: Vec<Vec<CutResult>> = vec![vec![]; s.networks.len()];

        // local-only uses no radio: measured once, the same on every network
        let fastest = &s.networks[order[0]];
        self.link.set(fastest)?;
        self.progress.set_message(format!("{}: local-only", self.name));
        let local = self.phone.measure(MeasureRequest {
            model: self.name.to_string(),
            network: fastest.clone(),
            cut: last,
            warmup: 1,
            runs: s.runs,
            deadline_ms: None,
            cloud_cut: None,
            encoding: None,
        })?;
        let local_cut = CutResult::from_runs(last, self.bytes[last], &local, last, 0.0);
        let local_ms = local_cut
            .latency_ms
            .ok_or_else(|| BenchError::Phone(format!("{}: the local-only run gave no latency", self.name)))?;
        for v in &mut per_net {
            v.push(local_cut.clone());
        }
        self.progress.inc(s.networks.len() as u64);
        let normal_cap = (s.cap_factor * local_ms).max(local_ms + s.cap_floor_ms);

        for &c in cuts.iter().filter(|c| **c != last) {
            let mut warmed = false;
            for &ni in &order {
                per_net[ni].push(self.measure_cut(c, &s.networks[ni], normal_cap, &mut warmed)?);
                self.progress.inc(1);
            }
        }
        Ok((per_net, normal_cap))
    }

    /// One cut on one network: not run when its link time alone exceeds the cap; one run
    /// when it exceeds the normal cap (edge-only's longer cap); else a warm-up on the first
    /// network and the settings' runs.
    fn measure_cut(
        &mut self,
        c: usize,
        net: &Network,
        normal_cap: f64,
        warmed: &mut bool,
    ) -> Result<CutResult, BenchError> {
        let bytes = self.bytes[c];
        let floor = net.transfer_floor_ms(bytes);
        let cap = self.cap_ms(c, normal_cap);
        self.progress.set_message(format!("{}: cut {c}/{} on {}", self.name, self.last, net.name));
        if floor > cap {
            return Ok(CutResult::not_measured(c, bytes, floor));
        }
        let long = floor > normal_cap;
        let warmup = usize::from(!*warmed && !long);
        *warmed = true;
        self.link.set(net)?;
        let runs = self.phone.measure(MeasureRequest {
            model: self.name.to_string(),
            network: net.clone(),
            cut: c,
            warmup,
            runs: if long { 1 } else { self.s.runs },
            deadline_ms: Some(cap),
            cloud_cut: None,
            encoding: None,
        })?;
        Ok(CutResult::from_runs(c, bytes, &runs, self.last, floor))
    }

    /// Confirmation: where the planner's cut is not the sweep's oracle, measure both again,
    /// alternately, so that the load of the moment hits both alike (see `results`).
    fn confirm(&mut self, networks: &mut [NetworkResult], normal_cap: f64) -> Result<(), BenchError> {
        let s = self.s;
        for (net, result) in s.networks.iter().zip(networks) {
            let Some((chosen, oracle)) = result.needs_confirmation() else { continue };
            self.progress.inc_length(1);
            self.progress.set_message(format!(
                "{}: confirming cut {chosen} against cut {oracle} on {}",
                self.name, net.name
            ));
            self.link.set(net)?;
            let mut runs: [Vec<f64>; 2] = [vec![], vec![]];
            for round in 0..=s.runs {
                for (k, cut) in [chosen, oracle].into_iter().enumerate() {
                    let warm = round == 0;
                    let got = self.phone.measure(MeasureRequest {
                        model: self.name.to_string(),
                        network: net.clone(),
                        cut,
                        warmup: usize::from(warm),
                        runs: usize::from(!warm),
                        deadline_ms: (cut != self.last).then_some(self.cap_ms(cut, normal_cap)),
                        cloud_cut: None,
                        encoding: None,
                    })?;
                    runs[k].extend(got.iter().map(|r| r.total_ms));
                }
            }
            let [chosen_runs, oracle_runs] = runs;
            result.confirm(chosen_runs, oracle_runs);
            self.progress.inc(1);
        }
        Ok(())
    }
}
