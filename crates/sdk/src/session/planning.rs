//! Planning a request: the planner's decision with what the edge can take, a plan without
//! the edge when it cannot be used, and where the plan's outputs come from.

use super::pipeline::Request;
use super::{Inner, SessionError};
use crate::encoding::Encoding;
use crate::planner::{self, EdgeProfile, Plan, PlanError, PlanInput, Policy, Prediction, Tier};
use crate::report::FallbackReason;
use crate::transport::Capabilities;
use crate::Error;
use crate::{NamedTensor, TensorSpec};

/// How far the local part of a plan goes: the model outputs (the last cut) or an exit.
pub(super) struct Target {
    /// The cut where the needed outputs exist.
    pub until: usize,
    /// The output to keep (an exit's), or `None` for all model outputs.
    pub exit_output: Option<String>,
    /// What the edge must answer.
    pub expected: Vec<TensorSpec>,
}

impl Inner {
    /// Plans; with an unusable edge profile, or a forced cut the edge does not take, plans
    /// without the edge and says why.
    pub(super) fn plan_or_local(
        &self,
        req: &Request,
        edge: Option<&EdgeProfile>,
        fallback: &mut Option<(FallbackReason, String)>,
    ) -> Result<Plan, SessionError> {
        match self.plan_with(req, edge, true) {
            Ok(p) => {
                let caps = self.capabilities(edge.is_some());
                if let Some(caps) = caps.filter(|c| p.offloads() && !c.offloadable(p.cut)) {
                    // Only a forced cut gets here: plan_with keeps to the offloadable cuts.
                    let kind = self.edge.as_ref().map_or("edge", |e| e.transport.kind());
                    let detail = format!(
                        "cut {} is not served by the {kind}, or not ready there (offloadable: {:?})",
                        p.cut,
                        caps.offloadable_cuts.unwrap_or_default()
                    );
                    *fallback = Some((FallbackReason::ModelNotServed, detail));
                    return self.local_plan(req, "the cut is not served by the edge");
                }
                Ok(p)
            }
            Err(e) if edge.is_some() => {
                log::warn!("the edge profile is unusable ({e}): planning without the edge");
                if let Some(link) = &self.edge {
                    link.transport.forget_profile();
                }
                *fallback =
                    Some((FallbackReason::MalformedResponse, format!("the edge profile is unusable: {e}")));
                self.local_plan(req, "the edge profile is unusable")
            }
            Err(e) => Err(SessionError::Plan(e)),
        }
    }

    /// A plan without the edge, its reason naming why.
    pub(super) fn local_plan(&self, req: &Request, why: &str) -> Result<Plan, SessionError> {
        let mut plan = self.plan_with(req, None, false).map_err(SessionError::Plan)?;
        plan.reason = plan.reason.replacen("no edge", why, 1);
        Ok(plan)
    }

    /// What the edge can take, when the plan may use it.
    fn capabilities(&self, with_edge: bool) -> Option<Capabilities> {
        self.edge.as_ref().filter(|_| with_edge).map(|e| e.transport.capabilities())
    }

    /// The planner's plan with the edge's capabilities (its usable encodings, its
    /// offloadable cuts); `overrides`: with the request's forced cut and encoding.
    fn plan_with(
        &self,
        req: &Request,
        edge: Option<&EdgeProfile>,
        overrides: bool,
    ) -> Result<Plan, PlanError> {
        let caps = self.capabilities(edge.is_some());
        let policy = match &caps {
            Some(caps) => usable_policy(&req.policy, caps),
            None => req.policy.clone(),
        };
        let input = PlanInput {
            cuts: self.model.cuts(),
            device: &req.device,
            edge,
            cloud: None,
            link: &req.link,
            platform: &req.state,
            energy: &self.energy,
            policy: &policy,
            meta: self.meta.as_ref(),
        };
        let mut plan = planner::plan(&input)?;
        let forced_cut = req.options.cut.filter(|_| overrides);
        if let (Some(caps), None) = (&caps, forced_cut) {
            if plan.offloads() && !caps.offloadable(plan.cut) {
                let chosen = plan.cut;
                match crate::transport::best_offloadable(&plan, |c| caps.offloadable(c), policy.deadline_ms) {
                    Some(c) => {
                        force_cut(&mut plan, c, &policy);
                        plan.reason = format!(
                            "cut {c}: the best offloadable cut (the planner preferred cut {chosen}, which the edge does not serve)"
                        );
                    }
                    None => {
                        plan = self.plan_with(req, None, false)?;
                        plan.reason =
                            plan.reason.replacen("no edge", "no cut the edge serves beats running here", 1);
                    }
                }
            }
        }
        if let Some(cut) = forced_cut {
            force_cut(&mut plan, cut, &policy);
            if plan.offloads() && plan.predicted.bytes_down == 0 {
                plan.predicted.bytes_down = self.target(&plan).expected.iter().map(TensorSpec::bytes).sum();
            }
        }
        if let Some(encoding) = req.options.encoding.filter(|_| overrides && plan.offloads()) {
            plan.encoding = encoding;
        }
        Ok(plan)
    }

    /// Where the plan's outputs come from.
    pub(super) fn target(&self, plan: &Plan) -> Target {
        let last = self.model.last_cut();
        let exit_output = plan
            .exit
            .as_ref()
            .and_then(|name| self.meta.as_ref()?.exits.iter().find(|e| &e.name == name))
            .map(|e| e.output.clone())
            .filter(|o| self.model.outputs().iter().any(|s| &s.name == o));
        match exit_output {
            Some(output) => {
                let until = self
                    .model
                    .cuts()
                    .iter()
                    .find(|c| c.tensors.iter().any(|t| t.name == output))
                    .map_or(last, |c| c.id);
                let expected = self.model.outputs().iter().filter(|s| s.name == output).cloned().collect();
                Target { until, exit_output: Some(output), expected }
            }
            None => Target { until: last, exit_output: None, expected: self.model.outputs().to_vec() },
        }
    }

    /// The outputs the caller gets: all model outputs, or the plan's exit.
    pub(super) fn select(
        &self,
        target: &Target,
        tensors: Vec<NamedTensor>,
    ) -> Result<Vec<NamedTensor>, SessionError> {
        let Some(name) = &target.exit_output else { return Ok(tensors) };
        let kept: Vec<NamedTensor> = tensors.into_iter().filter(|t| &t.name == name).collect();
        if kept.len() != 1 {
            return Err(SessionError::Engine(Error::UnknownTensor {
                name: name.clone(),
                reason: "the exit's output was not produced".into(),
            }));
        }
        Ok(kept)
    }
}

/// The policy without the encodings the edge cannot take (float32 stays: it always can).
fn usable_policy(policy: &Policy, caps: &Capabilities) -> Policy {
    let mut policy = policy.clone();
    policy.encodings.retain(|e| *e == Encoding::Fp32 || caps.unusable(*e).is_none());
    if policy.encodings.is_empty() {
        policy.encodings.push(Encoding::Fp32);
    }
    policy
}

/// Overrides the planner's cut with `cut`, using the planner's own costs for it.
fn force_cut(plan: &mut Plan, cut: usize, policy: &Policy) {
    if plan.cut == cut {
        return;
    }
    let Some(entry) = plan.table.iter().find(|e| e.cut == cut).cloned() else { return };
    if !entry.allowed {
        // Offloading is blocked (offline, no edge, metered): the local plan stands.
        return;
    }
    let ready = plan.table.last().map_or(cut, |e| e.cut);
    let offloads = cut < ready;
    let chosen = plan.cut;
    plan.cut = cut;
    plan.cloud_cut = None;
    plan.encoding = if offloads { entry.encoding } else { Encoding::Fp32 };
    plan.tiers = if offloads { vec![Tier::Device, Tier::Edge] } else { vec![Tier::Device] };
    plan.predicted = Prediction {
        phone_ms: entry.phone_ms,
        upload_ms: entry.upload_ms,
        rtt_ms: (entry.latency_ms - entry.phone_ms - entry.upload_ms - entry.edge_ms - entry.download_ms)
            .max(0.0),
        edge_ms: entry.edge_ms,
        cloud_ms: 0.0,
        download_ms: entry.download_ms,
        total_ms: entry.latency_ms,
        bytes_up: entry.bytes_up,
        bytes_down: if offloads { plan.predicted.bytes_down } else { 0 },
        energy_mj: entry.energy_mj,
        energy_without_tail_mj: entry.energy_mj,
    };
    plan.deadline_met = policy.deadline_ms.map(|d| entry.latency_ms <= d);
    plan.reason = format!("forced cut {cut} (the planner chose cut {chosen}: {})", plan.reason);
}
