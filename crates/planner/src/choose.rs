//! The choice among the candidates: the objective's order, the deadline, and the
//! constraints (forced cuts and encoding, offloadable cuts, usable encodings), with an [`Adjustment`] for
//! every departure from the planner's own choice.

use std::cmp::Ordering;

use tandem_model::encoding::Encoding;

use crate::constraints::Adjustment;
use crate::cost::{Candidate, Prepared};
use crate::PlanInput;

/// What was chosen, and why it departs from the planner's own choice.
pub(crate) struct Decision {
    /// The candidate that runs.
    pub chosen: Candidate,
    /// Whether it meets the deadline (`None` without one).
    pub deadline_met: Option<bool>,
    /// Whether a forced cut (or cloud cut) was honoured.
    pub forced: bool,
    /// The departures and refused constraints.
    pub adjustments: Vec<Adjustment>,
}

/// Lower score, then fewer bytes sent, then the earlier cut: a total order, so the choice is
/// deterministic and lowering bandwidth never picks a larger upload.
pub(crate) fn better(a: &Candidate, b: &Candidate) -> Ordering {
    a.score
        .total_cmp(&b.score)
        .then(a.p.bytes_up.cmp(&b.p.bytes_up))
        .then(a.cut.cmp(&b.cut))
        .then(a.cloud_cut.cmp(&b.cloud_cut))
        .then(a.encoding.bytes_per_element().cmp(&b.encoding.bytes_per_element()).reverse())
}

/// The best candidate that `keep` admits, and whether it meets the deadline (`None` without
/// one): with a deadline, the most accurate that meets it, else the fastest.
fn choose(
    candidates: &[Candidate],
    deadline_ms: Option<f64>,
    keep: impl Fn(&Candidate) -> bool,
) -> Option<(Candidate, Option<bool>)> {
    let valid = |c: &&Candidate| {
        keep(c) && c.score.is_finite() && c.p.total_ms.is_finite() && c.p.energy_mj.is_finite()
    };
    let Some(deadline) = deadline_ms else {
        return candidates.iter().filter(valid).min_by(|a, b| better(a, b)).map(|c| (*c, None));
    };
    let feasible = candidates.iter().filter(valid).filter(|c| c.p.total_ms <= deadline);
    let most_accurate = feasible.max_by(|a, b| {
        a.accuracy.unwrap_or(0.0).total_cmp(&b.accuracy.unwrap_or(0.0)).then_with(|| better(a, b).reverse())
    });
    match most_accurate {
        Some(c) => Some((*c, Some(true))),
        None => candidates
            .iter()
            .filter(valid)
            .min_by(|a, b| a.p.total_ms.total_cmp(&b.p.total_ms).then_with(|| better(a, b)))
            .map(|c| (*c, Some(false))),
    }
}

/// Chooses: the planner's own choice among the candidates the edge can take, then the forced
/// cuts where they can be honoured.
pub(crate) fn decide(input: &PlanInput, prep: &Prepared, candidates: &[Candidate]) -> Decision {
    let deadline = input.policy.deadline_ms;
    let constraints = &input.constraints;
    // the planner's own choices never use an encoding the policy rules out
    let allowed = |c: &Candidate| !(c.offloads && Some(c.encoding) == prep.forced_only);
    let (free, _) = choose(candidates, deadline, allowed).expect("the local plan is always valid");
    let (own, own_deadline_met) =
        choose(candidates, deadline, |c| c.fits && allowed(c)).expect("the local plan always fits");
    let mut adjustments = vec![];
    let (forced_cut, forced_cloud_cut) = admissible_forcing(input, prep, &mut adjustments);
    let forced_encoding = admissible_encoding(input, &mut adjustments);
    let mut decision =
        Decision { chosen: own, deadline_met: own_deadline_met, forced: false, adjustments: vec![] };
    if forced_cut.is_some() || forced_cloud_cut.is_some() || forced_encoding.is_some() {
        // a cut where nothing crossing is float32 only has float32 candidates
        let encoded = |c: &Candidate, e: Encoding| c.encoding == e || prep.float_bytes[c.cut] == 0;
        let matches = |c: &Candidate| {
            c.fits
                && forced_cut.is_none_or(|f| if c.offloads { c.cut == f } else { f >= c.cut })
                && forced_cloud_cut.is_none_or(|c2| c.cloud_cut == Some(c2))
                && forced_encoding.is_none_or(|e| !c.offloads || encoded(c, e))
                && (forced_encoding.is_some() || allowed(c))
        };
        match choose(candidates, deadline, matches) {
            Some((chosen, deadline_met)) => {
                decision = Decision { chosen, deadline_met, forced: true, adjustments: vec![] };
                if let Some(cut) = forced_cut {
                    adjustments.push(Adjustment::ForcedCut { cut, planner_choice: own.cut });
                }
                if let Some(cloud_cut) = forced_cloud_cut {
                    let planner_choice = own.cloud_cut.filter(|_| own.offloads);
                    adjustments.push(Adjustment::ForcedCloudCut { cloud_cut, planner_choice });
                }
                if let Some(encoding) = forced_encoding.filter(|e| chosen.offloads && chosen.encoding == *e) {
                    adjustments.push(Adjustment::ForcedEncoding { encoding, planner_choice: own.encoding });
                }
            }
            None => {
                let (cut, cloud) = match (forced_cut, forced_cloud_cut) {
                    (Some(f), _) => (f, false),
                    (None, Some(c2)) => (c2, true),
                    (None, None) => (own.cut, false),
                };
                let reason = "no usable option there (encodings, cloud link)".to_string();
                adjustments.push(Adjustment::ForcedCutRefused { cut, cloud, reason });
            }
        }
    }
    if !decision.forced && free.offloads && !free.fits {
        // (a refused forced cut at the same cut already says so)
        let said = adjustments
            .iter()
            .any(|a| matches!(a, Adjustment::CutNotOffloadable { cut, .. } if *cut == free.cut));
        if !constraints.offloadable(free.cut) && !said {
            adjustments.push(Adjustment::CutNotOffloadable { cut: free.cut, forced: false });
        }
        if let Some(reason) = constraints.unusable(free.encoding) {
            adjustments
                .push(Adjustment::EncodingUnusable { encoding: free.encoding, reason: reason.to_string() });
        }
    }
    decision.adjustments = adjustments;
    decision
}

/// The forced encoding, unless the edge or the transport cannot take it (then reported).
fn admissible_encoding(input: &PlanInput, adjustments: &mut Vec<Adjustment>) -> Option<Encoding> {
    let encoding = input.constraints.forced_encoding?;
    match input.constraints.unusable(encoding) {
        Some(reason) => {
            adjustments.push(Adjustment::ForcedEncodingRefused { encoding, reason: reason.to_string() });
            None
        }
        None => Some(encoding),
    }
}

/// The forced cut and cloud cut that may be honoured; each refused one is reported.
fn admissible_forcing(
    input: &PlanInput,
    prep: &Prepared,
    adjustments: &mut Vec<Adjustment>,
) -> (Option<usize>, Option<usize>) {
    let constraints = &input.constraints;
    let min_cut = prep.checked.min_cut;
    // a cut before every exit's output needs the edge
    let needs_edge = |cut: usize| prep.exits.iter().all(|e| cut < e.ready_cut);
    let forced_cut = match constraints.forced_cut {
        Some(f) if f < min_cut => {
            adjustments.push(Adjustment::PrivacyFloor { cut: f, min_cut });
            None
        }
        Some(f) if needs_edge(f) && !constraints.offloadable(f) => {
            adjustments.push(Adjustment::CutNotOffloadable { cut: f, forced: true });
            None
        }
        Some(f) if needs_edge(f) && prep.blocked.is_some() => {
            let reason = prep.blocked.clone().unwrap_or_default();
            adjustments.push(Adjustment::ForcedCutRefused { cut: f, cloud: false, reason });
            None
        }
        f => f,
    };
    let forced_cloud_cut = match constraints.forced_cloud_cut {
        Some(c2) if prep.checked.cloud.is_none() || prep.blocked.is_some() => {
            let reason = prep.blocked.clone().unwrap_or_else(|| "no cloud tier".into());
            adjustments.push(Adjustment::ForcedCutRefused { cut: c2, cloud: true, reason });
            None
        }
        Some(c2) if !constraints.cloud_takes(c2) => {
            let reason =
                format!("the cloud does not serve cut {c2} (it serves {:?})", constraints.cloud_cuts);
            adjustments.push(Adjustment::ForcedCutRefused { cut: c2, cloud: true, reason });
            None
        }
        c2 => c2,
    };
    (forced_cut, forced_cloud_cut)
}
