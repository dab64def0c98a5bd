//! Planning a request: the planner's decision with what the edge can take, a plan without
//! the edge when it cannot be used, and where the plan's outputs come from.

use super::pipeline::Request;
use super::{Inner, SessionError};
use crate::netest::LinkEstimate;
use crate::planner::{self, Adjustment, CloudTier, Constraints, EdgeProfile, Plan, PlanError, PlanInput};
use crate::report::FallbackReason;
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
                let refused = p.adjustments.iter().find_map(|a| match a {
                    Adjustment::CutNotOffloadable { cut, forced: true } => Some(*cut),
                    _ => None,
                });
                if let Some(cut) = refused {
                    let (kind, offloadable) = self.edge.as_ref().map_or(("edge", vec![]), |e| {
                        (e.transport.kind(), e.transport.capabilities().offloadable_cuts.unwrap_or_default())
                    });
                    let detail = format!(
                        "cut {cut} is not served by the {kind}, or not ready there (offloadable: {offloadable:?})"
                    );
                    *fallback = Some((FallbackReason::ModelNotServed, detail));
                    return self.local_plan(req);
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
                self.local_plan(req)
            }
            Err(e) => Err(SessionError::Plan(e)),
        }
    }

    /// A plan without the edge (the report's fallback reason says why).
    pub(super) fn local_plan(&self, req: &Request) -> Result<Plan, SessionError> {
        self.plan_with(req, None, false).map_err(SessionError::Plan)
    }

    /// The planner's plan under what the edge can take (its offloadable cuts and usable
    /// encodings) and, with `overrides`, the request's forced cut and encoding.
    fn plan_with(
        &self,
        req: &Request,
        edge: Option<&EdgeProfile>,
        overrides: bool,
    ) -> Result<Plan, PlanError> {
        let mut constraints = Constraints::none();
        if let Some(caps) = self.edge.as_ref().filter(|_| edge.is_some()).map(|e| e.transport.capabilities())
        {
            constraints.offloadable_cuts = caps.offloadable_cuts;
            constraints.unusable_encodings = caps.unusable_encodings;
        }
        constraints.forced_cut = req.options.cut.or(req.explore_cut).filter(|_| overrides);
        if self.whole_only.is_some() {
            // the phone cannot run any of it: everything goes from cut 0
            constraints.forced_cut = Some(0);
        }
        constraints.forced_encoding = req.options.encoding.filter(|_| overrides);
        constraints.forced_cloud_cut = req.options.cloud_cut.filter(|_| overrides);
        // Three tiers: the cloud behind the edge, as the edge's profile describes it.
        let cloud_info = edge.and_then(|e| e.cloud.as_deref());
        let cloud_link =
            cloud_info.map(|c| LinkEstimate::fixed(c.link.uplink_mbps, c.link.downlink_mbps, c.link.rtt_ms));
        let cloud =
            cloud_info.zip(cloud_link.as_ref()).map(|(c, link)| CloudTier { profile: &c.profile, link });
        constraints.cloud_cuts = cloud_info.and_then(|c| c.cuts.clone());
        let input = PlanInput {
            cuts: self.model.cuts(),
            device: &req.device,
            edge,
            cloud,
            link: &req.link,
            platform: &req.state,
            energy: &self.energy,
            policy: &req.policy,
            meta: self.meta.as_ref(),
            constraints,
        };
        planner::plan(&input)
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
                let until = self.model.first_cut_with_outputs(0, &[&output]).unwrap_or(last);
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
