//! Checks a [`PlanInput`] once per decision: the cut table, the profiles against it, the
//! link numbers, the policy and the constraints. Inconsistent inputs are [`PlanError`]s.

use tandem_model::Cut;

use crate::EdgeProfile;
use crate::{CloudTier, PlanError, PlanInput};

/// The checked times of one decision.
pub(crate) struct Checked<'a> {
    /// The last cut (local-only).
    pub last: usize,
    /// The privacy floor in force.
    pub min_cut: usize,
    /// Phone time before each cut, ms.
    pub before_ms: Vec<f64>,
    /// Edge time after each cut, ms (empty without an edge).
    pub edge_after_ms: Vec<f64>,
    /// The cloud tier and its time after each cut, ms.
    pub cloud: Option<(CloudTier<'a>, Vec<f64>)>,
}

/// Checks everything a decision reads.
pub(crate) fn check<'a>(input: &PlanInput<'a>) -> Result<Checked<'a>, PlanError> {
    let cuts = input.cuts;
    if cuts.is_empty() {
        return Err(PlanError::NoCuts);
    }
    if let Some((position, c)) = cuts.iter().enumerate().find(|(i, c)| c.id != *i) {
        return Err(PlanError::CutOrder { position, id: c.id });
    }
    let last = cuts.len() - 1;
    let hash = input.device.model_hash.as_str();
    if input.device.before_ms.len() != cuts.len() {
        return Err(PlanError::ProfileLength {
            profile: "device",
            expected: cuts.len(),
            got: input.device.before_ms.len(),
        });
    }
    let before_ms = input
        .device
        .before_ms
        .iter()
        .enumerate()
        .map(|(c, t)| check_time("device", c, Some(*t)))
        .collect::<Result<Vec<_>, _>>()?;
    let link = input.link;
    check_number("the uplink (Mbps)", link.uplink_mbps, true)?;
    check_number("the downlink (Mbps)", link.downlink_mbps, true)?;
    check_number("the round trip (ms)", link.rtt_ms, true)?;
    let min_cut = check_policy(input, last)?;
    check_constraints(input, last)?;
    let edge_after_ms = match input.edge {
        Some(e) => server_times("edge", e, cuts, hash)?,
        None => vec![],
    };
    let cloud = match input.cloud {
        Some(c) => {
            check_number("the cloud uplink (Mbps)", c.link.uplink_mbps, true)?;
            check_number("the cloud downlink (Mbps)", c.link.downlink_mbps, true)?;
            check_number("the cloud round trip (ms)", c.link.rtt_ms, true)?;
            Some((c, server_times("cloud", c.profile, cuts, hash)?))
        }
        None => None,
    };
    Ok(Checked { last, min_cut, before_ms, edge_after_ms, cloud })
}

/// Checks the policy; returns the privacy floor in force.
fn check_policy(input: &PlanInput, last: usize) -> Result<usize, PlanError> {
    let policy = input.policy;
    if let Some(d) = policy.deadline_ms {
        if !(d.is_finite() && d > 0.0) {
            return Err(PlanError::BadPolicy { reason: format!("deadline {d} ms") });
        }
    }
    if !(0.0..=1.0).contains(&policy.max_accuracy_drop) {
        return Err(PlanError::BadPolicy {
            reason: format!("max_accuracy_drop {}", policy.max_accuracy_drop),
        });
    }
    let min_cut = policy.floor_for(input.cuts);
    if min_cut > last {
        return Err(PlanError::BadPolicy {
            reason: format!("min_cut {min_cut} is beyond the last cut {last}"),
        });
    }
    Ok(min_cut)
}

fn check_constraints(input: &PlanInput, last: usize) -> Result<(), PlanError> {
    let constraints = &input.constraints;
    for (what, cut) in
        [("forced_cut", constraints.forced_cut), ("forced_cloud_cut", constraints.forced_cloud_cut)]
    {
        if let Some(c) = cut.filter(|c| *c > last) {
            return Err(PlanError::BadConstraints {
                reason: format!("{what} {c} is beyond the last cut {last}"),
            });
        }
    }
    if let (Some(c1), Some(c2)) = (constraints.forced_cut, constraints.forced_cloud_cut) {
        if c2 < c1 {
            return Err(PlanError::BadConstraints {
                reason: format!("forced_cloud_cut {c2} is before forced_cut {c1}"),
            });
        }
    }
    Ok(())
}

fn check_time(profile: &'static str, cut: usize, value: Option<f64>) -> Result<f64, PlanError> {
    match value {
        None => Err(PlanError::MissingTime { profile, cut }),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Some(value) => Err(PlanError::BadTime { profile, cut, value }),
    }
}

fn check_number(field: &'static str, value: f64, allow_infinite: bool) -> Result<(), PlanError> {
    if value.is_nan() || value < 0.0 || (!allow_infinite && value.is_infinite()) {
        return Err(PlanError::BadNumber { field, value });
    }
    Ok(())
}

/// A server's checked time after each cut.
fn server_times(
    profile: &'static str,
    p: &EdgeProfile,
    cuts: &[Cut],
    hash: &str,
) -> Result<Vec<f64>, PlanError> {
    if !hash.is_empty() && !p.hash.is_empty() && p.hash != hash {
        return Err(PlanError::HashMismatch { profile, expected: hash.into(), got: p.hash.clone() });
    }
    if p.cuts.len() != cuts.len() {
        return Err(PlanError::ProfileLength { profile, expected: cuts.len(), got: p.cuts.len() });
    }
    check_number("the server's queue_wait_ms", p.load.queue_wait_ms, false)?;
    p.cuts
        .iter()
        .enumerate()
        .map(|(position, c)| {
            if c.id != position {
                return Err(PlanError::UnknownCut { profile, id: c.id, position });
            }
            check_time(profile, c.id, c.after_ms)
        })
        .collect()
}
