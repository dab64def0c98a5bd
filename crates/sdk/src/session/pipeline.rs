//! One request, end to end: plan, gate (breaker and the edge's model check), run the part
//! before the cut, encode, send within a deadline-aware timeout, account, fall back to the
//! phone, model the energy, report.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::edge::{TrialGuard, Verification};
use super::planning::Target;
use super::{blocking, run_part, InferOptions, Inner, SessionError};
use crate::breaker::{BreakerPhase, Gate};
use crate::devprofile::DeviceProfile;
use crate::encoding::Encoding;
use crate::energy::Activity;
use crate::netest::{LinkEstimate, TransferSample};
use crate::planner::{EdgeProfile, Plan, Policy};
use crate::platform::PlatformState;
use crate::report::{Decision, FallbackReason, InferResult, Report};
use crate::transport::{
    Answer, CloudAnswer, CloudHop, Exchange, OffloadError, Outgoing, HTTP_REQUEST_OVERHEAD_BYTES,
};
use crate::NamedTensor;
use tandem_model::util::ms_since;

/// Why the edge was not used, or not to the end, and a sentence about it.
type Fallback = Option<(FallbackReason, String)>;

/// What one request starts from: the platform state, policy, link, device profile and
/// options it is planned with.
pub(super) struct Request {
    pub id: u64,
    pub t0: Instant,
    pub state: PlatformState,
    pub policy: Policy,
    pub deadline_at: Option<Instant>,
    pub link: LinkEstimate,
    pub device: DeviceProfile,
    pub options: InferOptions,
    /// The cut of an exploratory request (`ExplorationConfig`): planned like a forced cut.
    pub explore_cut: Option<usize>,
}

/// What a request spent, for the report.
#[derive(Default)]
struct Spent {
    phone_ms: f64,
    upload_rtt_ms: f64,
    edge_queue_ms: f64,
    edge_compute_ms: f64,
    download_ms: f64,
    bytes_up: u64,
    bytes_down: u64,
    attempted: bool,
    offloaded: bool,
    edge_timeout_ms: Option<f64>,
    encoding_sent: Option<Encoding>,
    decisions: Vec<Decision>,
    cloud: CloudAnswer,
}

/// How long the edge may take, and whether trying it is pointless.
struct Budget {
    /// The edge timeout (`None`: no time left for the edge).
    timeout_ms: Option<f64>,
    /// The answer is predicted after the moment finishing locally must start.
    hopeless: bool,
    /// The edge's predicted share of the plan (upload, round trip, edge, download), ms.
    remote_ms: f64,
}

impl Inner {
    /// One request, end to end.
    pub(super) async fn run(
        self: Arc<Self>,
        inputs: Vec<NamedTensor>,
        options: InferOptions,
        t0: Instant,
    ) -> Result<InferResult, SessionError> {
        let mut req = self.begin(options, t0);
        let mut fallback: Fallback = None;
        let edge_profile = self.usable_edge_profile(&req, &mut fallback);
        let mut plan = self.plan_or_local(&req, edge_profile.as_ref(), &mut fallback)?;
        if let Some(cut) = self.exploration_cut(&req, &plan, edge_profile.is_some() && fallback.is_none()) {
            req.explore_cut = Some(cut);
            let mut refused: Fallback = None;
            let explored = self.plan_or_local(&req, edge_profile.as_ref(), &mut refused)?;
            if refused.is_none() && explored.offloads() {
                log::debug!("request {}: exploring the link at cut {cut}", req.id);
                plan = explored;
            } else {
                req.explore_cut = None;
            }
        }
        let (plan, trial, breaker) = self.gate(&req, plan, &mut fallback).await?;
        if let Some(reason) = &self.whole_only {
            if trial.is_none() || !plan.offloads() {
                let detail = fallback.map(|(_, d)| d).unwrap_or_else(|| plan.reason.clone());
                return Err(SessionError::EdgeRequired { reason: reason.clone(), detail });
            }
        }

        let target = self.target(&plan);
        let mut spent = Spent::default();
        if let Some(reason) = &self.whole_only {
            spent.decisions.push(Decision::WholeOnEdge { reason: reason.clone() });
        }
        let outputs = match trial.filter(|_| plan.offloads()) {
            Some(guard) => {
                self.offload(&req, &plan, &target, guard, inputs, &mut spent, &mut fallback).await?
            }
            None => self.run_local(&target, inputs, &mut spent).await?,
        };
        let outputs = self.select(&target, outputs)?;

        let report = self.report(req, plan, spent, fallback, breaker);
        log::debug!("request {}: {}", report.request_id, report.summary());
        let _ = self.reports.send(report.clone());
        Ok(InferResult { outputs, report })
    }

    /// Reads the platform state and starts what the request may need in the background.
    fn begin(self: &Arc<Self>, options: InferOptions, t0: Instant) -> Request {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let state = self.signals.state();
        let mut policy = self.policy.clone();
        if options.deadline_ms.is_some() {
            policy.deadline_ms = options.deadline_ms;
        }
        let deadline_at = policy.deadline_ms.map(|d| t0 + Duration::from_secs_f64(d / 1e3));
        self.maybe_calibrate(state.thermal);
        self.maybe_probe(&state, &policy);
        let link = self.estimator().estimate(&state);
        let device = self.device_state().profile.clone();
        Request { id, t0, state, policy, deadline_at, link, device, options, explore_cut: None }
    }

    /// Whether this request explores, and at which cut: counts the request, and applies the
    /// rules of [`super::ExplorationConfig`] to a local `plan` (`edge_usable`: online, not
    /// metered against the policy, the edge serves this model file).
    fn exploration_cut(&self, req: &Request, plan: &Plan, edge_usable: bool) -> Option<usize> {
        let cfg = &self.config.exploration;
        let mut st = self.exploration_state();
        st.requests_since = st.requests_since.saturating_add(1);
        if !cfg.enabled
            || plan.offloads()
            || !edge_usable
            || req.options.cut.is_some()
            || self.whole_only.is_some()
        {
            return None;
        }
        let edge = self.edge.as_ref()?;
        let s = &req.state;
        let battery_critical = s.low_power
            || (s.charging != Some(true) && s.battery_level.is_some_and(|b| b < cfg.min_battery_level));
        if !s.network.is_online() || s.metered || battery_critical {
            return None;
        }
        // Closed, or open with its back-off over: the exploration is then the half-open
        // trial (otherwise a breaker opened while the plan turned local would never close).
        if edge.lock().verification != Verification::Verified || !self.breaker().would_pass(Instant::now()) {
            return None;
        }
        if st.requests_since < cfg.every_requests.max(1)
            || st.last_at.is_some_and(|t| t.elapsed() < Duration::from_millis(cfg.min_interval_ms))
        {
            return None;
        }
        // The allowed offloading cut with the shortest predicted remote part (upload, round
        // trip, edge, download): the most likely to answer within the short timeout, and
        // typically a late cut that sends few bytes; ties go to the later cut (less work for
        // the phone to redo if it does not).
        let offloadable = edge.transport.capabilities().offloadable_cuts;
        let last = self.model.last_cut();
        let remote = |c: &crate::planner::CutCost| c.latency_ms - c.phone_ms;
        let cut = plan
            .table
            .iter()
            .filter(|c| c.allowed && c.cut < last && remote(c).is_finite())
            .filter(|c| offloadable.as_ref().is_none_or(|o| o.contains(&c.cut)))
            .min_by(|a, b| remote(a).total_cmp(&remote(b)).then(b.cut.cmp(&a.cut)))?
            .cut;
        st.requests_since = 0;
        st.last_at = Some(Instant::now());
        Some(cut)
    }

    /// The edge profile to plan with, or `None` (and why) when the edge cannot be used: the
    /// phone is offline, the network is metered against the policy, or the edge serves
    /// another model file. The profile still prices the edge's cuts in the first two cases.
    fn usable_edge_profile(&self, req: &Request, fallback: &mut Fallback) -> Option<EdgeProfile> {
        let edge = self.edge.as_ref()?;
        let verification = edge.lock().verification.clone();
        let profile = || Some(edge.planning_profile(self, &req.device));
        if !req.state.network.is_online() {
            *fallback = Some((FallbackReason::Offline, "the phone is offline".into()));
            profile()
        } else if req.state.metered && !req.policy.allow_metered {
            *fallback = Some((
                FallbackReason::MeteredForbidden,
                "the network is metered and the policy forbids metered data".into(),
            ));
            profile()
        } else if let Verification::Mismatch { served } = verification {
            *fallback = Some((FallbackReason::HashMismatch, self.mismatch_detail(&served)));
            None
        } else {
            profile()
        }
    }

    /// Lets an offloading plan through the circuit breaker and the edge's model check
    /// (waiting for it while finishing locally can still make the deadline), re-planning
    /// with the real profile once the check answers; falls back to a local plan otherwise.
    /// Returns the plan, the breaker's trial guard (`Some` when the plan may offload), and
    /// the breaker's phase.
    async fn gate<'a>(
        self: &'a Arc<Self>,
        req: &Request,
        mut plan: Plan,
        fallback: &mut Fallback,
    ) -> Result<(Plan, Option<TrialGuard<'a>>, BreakerPhase), SessionError> {
        let mut phase = self.breaker().state(Instant::now()).phase;
        let Some(edge) = self.edge.as_ref().filter(|_| plan.offloads()) else {
            return Ok((plan, None, phase));
        };
        let gate = self.breaker().gate(Instant::now());
        phase = self.breaker().state(Instant::now()).phase;
        if gate == Gate::Open {
            let retry = self.breaker().state(Instant::now()).retry_in_ms.unwrap_or(0);
            *fallback = Some((
                FallbackReason::BreakerOpen,
                format!("the edge failed repeatedly; the next trial is in {retry} ms"),
            ));
            return Ok((self.local_plan(req)?, None, phase));
        }
        let mut trial = TrialGuard { inner: self, trial: gate == Gate::Trial, resolved: false };
        if edge.lock().verification != Verification::Verified {
            let left_ms =
                req.deadline_at.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3);
            let local_ms = req.device.before_ms.last().copied().unwrap_or(0.0);
            let mut wait_ms = self.config.connect_wait_ms as f64;
            if let Some(left) = left_ms {
                wait_ms = wait_ms.min((left - local_ms * self.config.local_safety_factor).max(0.0));
            }
            match self.ensure_verified(Duration::from_secs_f64(wait_ms / 1e3), Some(trial.trial)).await {
                Ok(()) => {
                    // The model check answered for the breaker; plan with the real profile.
                    trial.resolved = true;
                    let profile = edge.planning_profile(self, &req.device);
                    plan = self.plan_or_local(req, Some(&profile), fallback)?;
                }
                Err(f) => *fallback = Some(f),
            }
        }
        if fallback.is_some() {
            plan = self.local_plan(req)?;
        }
        Ok((plan, Some(trial), phase))
    }

    /// Runs the whole plan on the phone.
    async fn run_local(
        &self,
        target: &Target,
        inputs: Vec<NamedTensor>,
        spent: &mut Spent,
    ) -> Result<Vec<NamedTensor>, SessionError> {
        let exec = self.exec.clone();
        let until = target.until;
        let t = Instant::now();
        let (outs, run_ms) = blocking(move || run_part(&exec, 0, until, &inputs)).await?;
        spent.phone_ms += ms_since(t);
        self.observe_phone(until, run_ms);
        Ok(outs)
    }

    /// Runs the part before the cut, sends the crossing tensors, and takes the edge's answer
    /// or finishes on the phone.
    #[allow(clippy::too_many_arguments)]
    async fn offload(
        self: &Arc<Self>,
        req: &Request,
        plan: &Plan,
        target: &Target,
        mut guard: TrialGuard<'_>,
        inputs: Vec<NamedTensor>,
        spent: &mut Spent,
        fallback: &mut Fallback,
    ) -> Result<Vec<NamedTensor>, SessionError> {
        let cut = plan.cut;
        let cloud = self.cloud_hop(req, plan, target);
        let t = Instant::now();
        let (crossing, outgoing, run_ms) = self.run_before_cut(req, plan, target, inputs, cloud).await?;
        spent.phone_ms += ms_since(t);
        self.observe_phone(cut, run_ms);
        let Outgoing { body, encoding, decisions } = outgoing;
        let body_bytes = body.body.len() as u64;
        let budget = self.budget(req, plan, target, run_ms);
        spent.edge_timeout_ms = budget.timeout_ms;
        spent.attempted = !budget.hopeless;

        let attempt = Instant::now();
        let outcome = self.send_within(req, plan, target, body, &budget).await;
        let attempt_ms = ms_since(attempt);
        if outcome.as_ref().map_or_else(|e| e.sent, |_| true) {
            spent.encoding_sent = Some(encoding);
            spent.decisions.extend(decisions);
        }
        match outcome {
            Ok(answer) => {
                guard.success();
                self.account(req, cut, &answer, body_bytes, attempt_ms, spent);
                Ok(answer.outputs)
            }
            Err(e) => {
                spent.upload_rtt_ms = attempt_ms;
                spent.bytes_up = if e.sent { body_bytes } else { 0 };
                let budget_limited = budget.timeout_ms.unwrap_or(0.0) < budget.remote_ms;
                self.edge_failed(&e, &mut guard, budget_limited, &req.state, body_bytes, attempt_ms);
                log::debug!("request {}: offload failed ({}): {}", req.id, e.reason.code(), e.detail);
                if let Some(reason) = &self.whole_only {
                    return Err(SessionError::EdgeRequired { reason: reason.clone(), detail: e.detail });
                }
                *fallback = Some((e.reason, e.detail));
                let exec = self.exec.clone();
                let until = target.until;
                let t = Instant::now();
                let (outs, _) = blocking(move || run_part(&exec, cut, until, &crossing)).await?;
                spent.phone_ms += ms_since(t);
                Ok(outs)
            }
        }
    }

    /// Runs the part before the plan's cut and encodes the crossing tensors for the edge's
    /// transport, on the blocking pool. Returns the crossing tensors (to finish locally),
    /// the request, and the part's run time.
    async fn run_before_cut(
        &self,
        req: &Request,
        plan: &Plan,
        target: &Target,
        inputs: Vec<NamedTensor>,
        cloud: Option<CloudHop>,
    ) -> Result<(Vec<NamedTensor>, Outgoing, f64), SessionError> {
        let edge = self.edge.as_ref().expect("a plan offloads only with an edge");
        let transport = edge.transport.clone();
        let exec = self.exec.clone();
        let (cut, encoding) = (plan.cut, plan.encoding);
        let id = req.id.to_string();
        let outputs: Vec<String> = target.exit_output.iter().cloned().collect();
        blocking(move || {
            let (crossing, run_ms) = run_part(&exec, 0, cut, &inputs)?;
            let outgoing = transport.encode(&id, &crossing, encoding, &outputs, cloud);
            Ok((crossing, outgoing, run_ms))
        })
        .await
    }

    /// The cloud hop of a three-tier plan: its cut, and how long the edge may wait for the
    /// cloud so that, if the cloud fails, the edge still finishes the rest (at 1.5x its
    /// profiled time) and the answer arrives within the phone's own edge timeout.
    fn cloud_hop(&self, req: &Request, plan: &Plan, target: &Target) -> Option<CloudHop> {
        let cut = plan.cloud_cut.filter(|_| plan.offloads())?;
        let predicted_before = req.device.before_ms.get(plan.cut).copied().unwrap_or(0.0);
        let edge_timeout_ms = self.budget(req, plan, target, predicted_before).timeout_ms;
        let edge = self.edge.as_ref()?;
        let profile = edge.planning_profile(self, &req.device);
        let after = |c: usize| profile.cuts.get(c).and_then(|p| p.after_ms).unwrap_or(0.0);
        let edge_rest_ms = (after(cut) - after(target.until)).max(0.0);
        let p = &plan.predicted;
        let timeout_ms = edge_timeout_ms.map(|t| {
            // the edge timeout is counted from after the part before the cut, still to run
            let others =
                predicted_before + p.upload_ms + p.rtt_ms + p.edge_ms + p.download_ms + 1.5 * edge_rest_ms;
            (t - others).max(1.0).round() as u64
        });
        Some(CloudHop { cut, timeout_ms })
    }

    /// The edge's time budget, from the deadline and how long finishing locally takes (the
    /// device estimate, scaled by how the part before the cut actually ran).
    fn budget(&self, req: &Request, plan: &Plan, target: &Target, run_ms: f64) -> Budget {
        let device = &req.device;
        let predicted_before = device.before_ms.get(plan.cut).copied().unwrap_or(0.0);
        let scale = if predicted_before >= 0.5 { (run_ms / predicted_before).clamp(0.25, 4.0) } else { 1.0 };
        let local_rest_ms =
            (device.before_ms.get(target.until).copied().unwrap_or(0.0) - predicted_before).max(0.0) * scale;
        let remote_ms = (plan.predicted.total_ms - plan.predicted.phone_ms).max(1.0);
        let timeout_ms = self.edge_timeout_ms(req.deadline_at, local_rest_ms, remote_ms);
        // A planned offload whose answer is predicted after the moment finishing locally
        // must start would only cost the upload and the wait: finish locally at once (the
        // deadline comes first). A forced cut still tries the edge.
        // An exploratory request is sent whatever the prediction (the prediction is what it
        // tests), with a short timeout: finishing the few layers after a late cut is cheap.
        let timeout_ms = match req.explore_cut {
            Some(_) => {
                let cfg = &self.config.exploration;
                let local_ms = device.before_ms.last().copied().unwrap_or(0.0);
                let cap = (cfg.timeout_fraction * local_ms).max(cfg.min_timeout_ms).max(1.0);
                timeout_ms.map(|t| t.min(cap))
            }
            None => timeout_ms,
        };
        let hopeless = req.options.cut.is_none()
            && req.explore_cut.is_none()
            && timeout_ms.is_some_and(|ms| ms < remote_ms)
            && self.local_meets_deadline(req.deadline_at, local_rest_ms);
        Budget { timeout_ms: if hopeless { None } else { timeout_ms }, hopeless, remote_ms }
    }

    /// Sends the request within the budget's timeout.
    async fn send_within(
        &self,
        req: &Request,
        plan: &Plan,
        target: &Target,
        request: tandem_protocol::wire::EncodedBody,
        budget: &Budget,
    ) -> Result<Answer, OffloadError> {
        let edge = self.edge.as_ref().expect("a plan offloads only with an edge");
        let ms = match budget.timeout_ms {
            Some(ms) => ms,
            None if budget.hopeless => {
                return Err(OffloadError::new(
                    FallbackReason::Timeout,
                    format!(
                        "the edge was predicted to answer in {:.0} ms, after finishing locally had to \
                         start to meet the deadline",
                        budget.remote_ms
                    ),
                    false,
                ))
            }
            None => {
                return Err(OffloadError::new(
                    FallbackReason::Timeout,
                    "no time left for the edge before the deadline",
                    false,
                ))
            }
        };
        let exchange = Exchange {
            cut: plan.cut,
            request,
            expected: &target.expected,
            link: &req.link,
            predicted_edge_ms: plan.predicted.edge_ms,
        };
        match tokio::time::timeout(Duration::from_secs_f64(ms / 1e3), edge.transport.send(exchange)).await {
            Ok(r) => r,
            Err(_) => Err(OffloadError::new(
                FallbackReason::Timeout,
                format!("the edge did not answer within {ms:.0} ms"),
                true,
            )),
        }
    }

    /// Accounts a successful exchange: the report's times and bytes, the estimator's sample,
    /// and the edge's load.
    fn account(
        self: &Arc<Self>,
        req: &Request,
        cut: usize,
        answer: &Answer,
        body_bytes: u64,
        attempt_ms: f64,
        spent: &mut Spent,
    ) {
        let server_ms = answer.server_ms();
        spent.offloaded = true;
        spent.edge_queue_ms = answer.queue_ms;
        spent.edge_compute_ms = server_ms - answer.queue_ms;
        spent.upload_rtt_ms = (answer.first_byte_ms - server_ms).max(0.0);
        spent.download_ms = answer.download_ms;
        spent.phone_ms += (attempt_ms - answer.first_byte_ms - answer.download_ms).max(0.0);
        spent.bytes_up = body_bytes;
        spent.bytes_down = answer.bytes_down;
        spent.cloud = answer.cloud.clone();
        self.estimator().record(
            &req.state,
            &TransferSample {
                bytes_up: body_bytes + HTTP_REQUEST_OVERHEAD_BYTES,
                upload_ms: answer.first_byte_ms,
                bytes_down: answer.bytes_down,
                download_ms: answer.download_ms,
                rtt_ms: None,
                server_ms,
            },
        );
        self.exploration_state().last_at = Some(Instant::now());
        let edge = self.edge.as_ref().expect("an answer comes from the edge");
        if edge.transport.observe(answer.edge_cut.unwrap_or(cut), answer) {
            self.start_refresh();
        }
    }

    /// The phone's modeled energy for what the request did, mJ.
    fn energy_mj(&self, req: &Request, spent: &Spent) -> f64 {
        let uplink_mbps = if spent.upload_rtt_ms > 0.0 && spent.bytes_up > 0 {
            spent.bytes_up as f64 * 8.0 / (spent.upload_rtt_ms * 1e3)
        } else {
            req.link.uplink_mbps
        };
        let downlink_mbps = if spent.download_ms > 0.0 && spent.bytes_down > 0 {
            spent.bytes_down as f64 * 8.0 / (spent.download_ms * 1e3)
        } else {
            req.link.downlink_mbps
        };
        let activity = Activity {
            compute_ms: spent.phone_ms,
            upload_ms: spent.upload_rtt_ms,
            uplink_mbps,
            wait_ms: spent.edge_queue_ms + spent.edge_compute_ms,
            download_ms: spent.download_ms,
            downlink_mbps,
            used_radio: spent.attempted && (spent.bytes_up > 0 || spent.offloaded),
        };
        self.energy.breakdown(&activity, req.state.network).total_mj()
    }

    /// The report of a finished request.
    fn report(
        &self,
        req: Request,
        plan: Plan,
        spent: Spent,
        fallback: Fallback,
        breaker: BreakerPhase,
    ) -> Report {
        let total_ms = ms_since(req.t0);
        let energy_mj = self.energy_mj(&req, &spent);
        let (fallback_reason, fallback_detail) = fallback.map_or((None, None), |(r, d)| (Some(r), Some(d)));
        Report {
            request_id: req.id,
            after_node: self.model.cuts().get(plan.cut).and_then(|c| c.after_node.clone()),
            forced_cut: req.options.cut.is_some(),
            exploration: req.explore_cut.is_some() && plan.offloads(),
            network: req.state.network,
            link: req.link,
            offloaded: spent.offloaded,
            fallback_reason,
            fallback_detail,
            phone_ms: spent.phone_ms,
            upload_rtt_ms: spent.upload_rtt_ms,
            edge_queue_ms: spent.edge_queue_ms,
            edge_compute_ms: spent.edge_compute_ms,
            download_ms: spent.download_ms,
            total_ms,
            bytes_up: spent.bytes_up,
            bytes_down: spent.bytes_down,
            energy_mj,
            deadline_ms: req.policy.deadline_ms,
            deadline_met: req.policy.deadline_ms.map(|d| total_ms <= d),
            edge_timeout_ms: spent.edge_timeout_ms,
            breaker,
            encoding_sent: spent.encoding_sent,
            decisions: spent.decisions,
            cloud_cut: spent.cloud.cut,
            cloud_ms: spent.cloud.round_trip_ms,
            cloud_compute_ms: spent.cloud.compute_ms,
            cloud_fallback_reason: spent.cloud.fallback_reason,
            plan,
        }
    }

    /// The edge timeout: without a deadline, a multiple of the edge's predicted time; with
    /// one, the latest moment at which finishing locally still meets it. `None`: no time
    /// left for the edge at all.
    pub(super) fn edge_timeout_ms(
        &self,
        deadline_at: Option<Instant>,
        local_rest_ms: f64,
        remote_ms: f64,
    ) -> Option<f64> {
        let c = &self.config;
        let max = c.max_edge_timeout_ms.max(1.0);
        let default = (remote_ms * c.edge_timeout_factor).clamp(c.min_edge_timeout_ms.min(max), max);
        let Some(deadline) = deadline_at else { return Some(default) };
        let now = Instant::now();
        let left_ms = if deadline > now {
            (deadline - now).as_secs_f64() * 1e3
        } else {
            -((now - deadline).as_secs_f64() * 1e3)
        };
        let give_up_ms = self.give_up_ms(left_ms, local_rest_ms);
        if give_up_ms >= 1.0 {
            Some(give_up_ms.min(max))
        } else if left_ms >= 1.0 {
            // Finishing locally cannot make it any more: the edge is the only chance.
            Some(left_ms.min(default))
        } else {
            None
        }
    }

    /// How long the edge may take before finishing locally (`local_rest_ms`, with the safety
    /// factor and margin) must start to meet a deadline `left_ms` away.
    fn give_up_ms(&self, left_ms: f64, local_rest_ms: f64) -> f64 {
        left_ms - local_rest_ms * self.config.local_safety_factor - self.config.deadline_margin_ms
    }

    /// Whether finishing locally from now still meets the deadline (none: always).
    fn local_meets_deadline(&self, deadline_at: Option<Instant>, local_rest_ms: f64) -> bool {
        let Some(deadline) = deadline_at else { return true };
        let left_ms = deadline.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3;
        self.give_up_ms(left_ms, local_rest_ms) >= 1.0
    }
}
