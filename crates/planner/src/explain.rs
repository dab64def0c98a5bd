//! The plan from the decision: tiers, the per-cut cost table and the reason, for people.

use tandem_model::encoding::Encoding;

use crate::choose::{better, Decision};
use crate::cost::{encoded_bytes, Candidate, Prepared, Scorer};
use crate::policy::Objective;
use crate::{CutCost, Plan, PlanInput, Prediction, Tier};

/// The plan: `two_tier` are the first candidates (those of the table).
pub(crate) fn plan(
    input: &PlanInput,
    prep: &Prepared,
    scorer: &Scorer,
    candidates: &[Candidate],
    two_tier: usize,
    decision: Decision,
) -> Plan {
    let chosen = decision.chosen;
    let exit = &prep.exits[chosen.exit];
    let offloads = chosen.cut < exit.ready_cut;
    let tiers = match (offloads, chosen.cloud_cut) {
        (false, _) => vec![Tier::Device],
        (true, None) => vec![Tier::Device, Tier::Edge],
        (true, Some(_)) => vec![Tier::Device, Tier::Edge, Tier::Cloud],
    };
    Plan {
        cut: chosen.cut,
        cloud_cut: chosen.cloud_cut.filter(|_| offloads),
        exit: exit.name.map(str::to_string),
        encoding: if offloads { chosen.encoding } else { Encoding::Fp32 },
        tiers,
        predicted: chosen.p,
        accuracy: chosen.accuracy,
        reason: reason(input, prep, scorer, &candidates[..two_tier], candidates, &decision),
        deadline_met: decision.deadline_met,
        table: table(prep, scorer, &candidates[..two_tier], &chosen),
        adjustments: decision.adjustments,
        fidelity: offloads
            .then(|| crate::cost::codec_at(input, chosen.cut, chosen.encoding, 0.0).and_then(|c| c.fidelity))
            .flatten(),
        codec_table: codec_table(prep, scorer, &candidates[..two_tier], &chosen),
    }
}

/// The chosen exit's per-cut costs, one row per cut and codec the edge can take; a cut
/// without any gets the float32 row of [`table`], not allowed.
fn codec_table(prep: &Prepared, scorer: &Scorer, two_tier: &[Candidate], chosen: &Candidate) -> Vec<CutCost> {
    let exit = &prep.exits[chosen.exit];
    let shown = |x: &Candidate| prep.forced_only.is_none_or(|f| x.encoding != f || chosen.encoding == f);
    let best = table(prep, scorer, two_tier, chosen);
    let mut rows = vec![];
    for (c, fallback) in best.into_iter().enumerate().take(exit.ready_cut + 1) {
        let before = rows.len();
        for x in two_tier.iter().filter(|x| x.exit == chosen.exit && x.cut == c && x.fits && shown(x)) {
            rows.push(cost_row(x.cut, x.encoding, &x.p, x.score, true));
        }
        if rows.len() == before {
            rows.push(fallback);
        }
    }
    rows
}

fn cost_row(cut: usize, encoding: Encoding, p: &Prediction, score: f64, allowed: bool) -> CutCost {
    CutCost {
        cut,
        encoding,
        bytes_up: p.bytes_up,
        phone_ms: p.phone_ms,
        upload_ms: p.upload_ms,
        edge_ms: p.edge_ms,
        download_ms: p.download_ms,
        latency_ms: p.total_ms,
        energy_mj: p.energy_mj,
        score,
        allowed,
    }
}

/// The chosen exit's per-cut costs: the best candidate the edge can take at each cut, or,
/// where there is none (below the privacy floor, offloading blocked, a cut the edge does not
/// serve), the float32 cost, not allowed.
fn table(prep: &Prepared, scorer: &Scorer, two_tier: &[Candidate], chosen: &Candidate) -> Vec<CutCost> {
    let exit = &prep.exits[chosen.exit];
    let mut best_at: Vec<Option<&Candidate>> = vec![None; exit.ready_cut + 1];
    // an encoding only the caller's forcing admits appears only when it was chosen
    let shown = |x: &Candidate| prep.forced_only.is_none_or(|f| x.encoding != f || chosen.encoding == f);
    for x in two_tier.iter().filter(|x| x.exit == chosen.exit && x.fits && shown(x)) {
        let slot = &mut best_at[x.cut];
        if slot.is_none_or(|b| better(x, b).is_lt()) {
            *slot = Some(x);
        }
    }
    let edge_after_ms = &prep.checked.edge_after_ms;
    (0..=exit.ready_cut)
        .map(|c| {
            let (encoding, p, score, allowed) = match best_at[c] {
                Some(x) => (x.encoding, x.p, x.score, true),
                None => {
                    let phone_ms = prep.checked.before_ms[c];
                    let edge_ms = edge_after_ms
                        .get(c)
                        .map_or(f64::NAN, |t| t - edge_after_ms.get(exit.ready_cut).copied().unwrap_or(0.0));
                    let p = if edge_after_ms.is_empty() {
                        Prediction { phone_ms, total_ms: f64::NAN, energy_mj: f64::NAN, ..Default::default() }
                    } else {
                        let bytes_up =
                            encoded_bytes(prep.float_bytes[c], prep.other_bytes[c], Encoding::Fp32);
                        scorer.offload(phone_ms, bytes_up, exit.output_bytes, edge_ms.max(0.0), 0.0)
                    };
                    (Encoding::Fp32, p, scorer.score(&p), false)
                }
            };
            cost_row(c, encoding, &p, score, allowed)
        })
        .collect()
}

/// Why this plan, for people: what runs where, the objective, the predicted costs against
/// local-only and edge-only, the privacy floor, the deadline and the adjustments.
fn reason(
    input: &PlanInput,
    prep: &Prepared,
    scorer: &Scorer,
    two_tier: &[Candidate],
    candidates: &[Candidate],
    decision: &Decision,
) -> String {
    let policy = input.policy;
    let chosen = &decision.chosen;
    let exit = &prep.exits[chosen.exit];
    let offloads = chosen.cut < exit.ready_cut;
    let what = match policy.objective {
        _ if decision.forced => "forced by the caller",
        Objective::Latency => "minimum latency",
        Objective::Energy => "minimum phone energy",
        Objective::Balanced => "best balance of latency and energy",
    };
    let mut reason = if !offloads {
        match &prep.blocked {
            Some(why) => format!("local: {why}"),
            None => format!("local ({what})"),
        }
    } else {
        let via = match chosen.cloud_cut {
            Some(c2) => format!("the edge, then the cloud from cut {c2},"),
            None => "the edge".into(),
        };
        let cut_desc = match chosen.cut {
            0 => "the raw input".to_string(),
            c => format!("cut {c} (after {})", input.cuts[c].after_node.as_deref().unwrap_or("the input")),
        };
        let fidelity = crate::cost::codec_at(input, chosen.cut, chosen.encoding, 0.0)
            .and_then(|c| c.fidelity)
            .map_or(String::new(), |f| format!(" (calibrated {f})"));
        format!(
            "{cut_desc} as {}{fidelity} to {via} over {}: {what}",
            chosen.encoding, input.platform.network
        )
    };
    if policy.objective == Objective::Balanced {
        reason.push_str(&format!(" (energy weight {:.2}", scorer.w_energy));
        if scorer.w_thermal > 0.0 {
            reason.push_str(&format!(", thermal {:?}", input.platform.thermal).to_lowercase());
        }
        reason.push(')');
    }
    reason.push_str(&format!("; {:.1} ms, {:.1} mJ predicted", chosen.p.total_ms, chosen.p.energy_mj));
    if offloads || prep.blocked.is_none() {
        let local = candidates
            .iter()
            .find(|c| c.exit == chosen.exit && c.cut == exit.ready_cut && c.cloud_cut.is_none())
            .expect("every exit has a local candidate");
        reason.push_str(&format!("; local-only {:.1} ms, {:.1} mJ", local.p.total_ms, local.p.energy_mj));
        let edge_only = two_tier
            .iter()
            .filter(|c| c.exit == chosen.exit && c.cut == 0 && c.fits)
            .min_by(|a, b| better(a, b));
        if let Some(e) = edge_only {
            reason.push_str(&format!("; edge-only {:.1} ms, {:.1} mJ", e.p.total_ms, e.p.energy_mj));
        }
    }
    let min_cut = prep.checked.min_cut;
    if min_cut > 0 && offloads {
        reason.push_str(&format!("; privacy floor: cut >= {min_cut}"));
    }
    if let Some(deadline) = policy.deadline_ms {
        let name = exit.name.unwrap_or("the model");
        if decision.deadline_met == Some(true) {
            reason.push_str(&format!(
                "; {name} is the most accurate exit that meets the {deadline} ms deadline"
            ));
        } else {
            reason.push_str(&format!("; no option meets the {deadline} ms deadline: the fastest is taken"));
        }
    }
    for a in &decision.adjustments {
        reason.push_str(&format!("; {a}"));
    }
    reason
}
