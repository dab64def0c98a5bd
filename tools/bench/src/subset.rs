//! Which cuts the oracle measures when it does not measure every cut (`--cuts subset`).
//!
//! **The rule.** A cut `c` is *dominated* when an earlier cut `c' < c` sends no more bytes:
//! `c'` runs less on the phone and sends no more over the link, and the extra work between
//! `c'` and `c` moves to the edge, which is `slowdown` times faster than the phone. When
//! phone and edge times scale alike (the same engine on both), `c'` is then at least as fast
//! and uses no more phone energy than `c` (only the radio's idle power while waiting for
//! the edge grows, by the edge's share of that work). So the only cuts that can win are the
//! *bytes staircase*: cut 0, then every cut sending fewer bytes than all cuts before it.
//! Steps smaller than `min_drop` (default 5%) are skipped: they change the upload by less
//! than the measurement noise. The oracle measures the staircase, the last cut
//! (local-only) and every cut the planner chose on any network; `--max-oracle-cuts` keeps
//! the planner's cuts, cut 0 and the last cut, and spreads the rest evenly over the
//! staircase.
//!
//! The rule is checked by the full run (`--cuts all`), which measures every cut:
//! [`coverage`] applies it to the full run's measurements and reports how often the subset's
//! fastest cut is the fastest cut of all, and by how much it is slower when not
//! (`results.json` `subset_coverage`).

use serde::{Deserialize, Serialize};

use crate::results::ModelResult;

/// The subset rule checked against a full run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubsetCoverage {
    /// Model x network cells compared.
    pub cells: usize,
    /// Cells where the subset's fastest cut is the fastest of all cuts.
    pub same_best: usize,
    /// `same_best / cells`.
    pub same_best_share: Option<f64>,
    /// The worst (largest) ratio of the subset's fastest latency to the fastest of all.
    pub worst_ratio: Option<f64>,
    /// Per cell.
    pub per_cell: Vec<CoverageCell>,
}

/// One cell of [`SubsetCoverage`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageCell {
    /// The model.
    pub model: String,
    /// The network.
    pub network: String,
    /// How many cuts the subset rule would have measured, of how many.
    pub subset_cuts: usize,
    /// The cuts of the model.
    pub cuts: usize,
    /// The fastest cut of the subset, and of all cuts.
    pub subset_best_cut: usize,
    /// See `subset_best_cut`.
    pub full_best_cut: usize,
    /// Subset's fastest latency over the fastest of all (>= 1).
    pub ratio: f64,
}

/// The subset rule (with `min_drop` and `max_cuts`, and the planner's cuts of every
/// network and objective, true and estimated link) applied to full runs: per model and
/// network, the subset's fastest measured cut against the fastest of all.
pub fn coverage(models: &[ModelResult], min_drop: f64, max_cuts: Option<usize>) -> SubsetCoverage {
    let mut per_cell = vec![];
    for m in models {
        let Some(first) = m.networks.first() else { continue };
        let mut bytes = vec![0u64; m.cuts];
        for c in &first.cuts {
            if let Some(b) = bytes.get_mut(c.cut) {
                *b = c.bytes;
            }
        }
        let chosen: Vec<usize> = m
            .networks
            .iter()
            .flat_map(|n| n.plans.iter().map(|p| p.cut).chain(n.estimated.iter().map(|e| e.plan.cut)))
            .collect();
        let subset = oracle_subset(&bytes, &chosen, min_drop, max_cuts);
        for n in &m.networks {
            let fastest = |keep: &dyn Fn(usize) -> bool| {
                n.cuts
                    .iter()
                    .filter(|c| keep(c.cut))
                    .filter_map(|c| c.latency_ms.map(|l| (c.cut, l)))
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            };
            let (Some(full), Some(sub)) = (fastest(&|_| true), fastest(&|c| subset.contains(&c))) else {
                continue;
            };
            per_cell.push(CoverageCell {
                model: m.model.clone(),
                network: n.network.clone(),
                subset_cuts: subset.len(),
                cuts: m.cuts,
                subset_best_cut: sub.0,
                full_best_cut: full.0,
                ratio: if full.1 > 0.0 { sub.1 / full.1 } else { 1.0 },
            });
        }
    }
    let cells = per_cell.len();
    let same_best = per_cell.iter().filter(|c| c.subset_best_cut == c.full_best_cut).count();
    SubsetCoverage {
        cells,
        same_best,
        same_best_share: (cells > 0).then(|| same_best as f64 / cells as f64),
        worst_ratio: per_cell.iter().map(|c| c.ratio).reduce(f64::max),
        per_cell,
    }
}

/// The cuts to measure, given the bytes crossing each cut (`bytes[c]` for cut `c`): the
/// bytes staircase (steps of at least `min_drop`, a fraction), the last cut, and `must` (the
/// planner's choices); at most `max_cuts` of them when given (never dropping `must`, cut 0
/// or the last cut). Sorted, without duplicates.
pub fn oracle_subset(bytes: &[u64], must: &[usize], min_drop: f64, max_cuts: Option<usize>) -> Vec<usize> {
    let Some(last) = bytes.len().checked_sub(1) else { return vec![] };
    let mut staircase = vec![0];
    let mut best = bytes[0] as f64;
    for (id, b) in bytes.iter().enumerate().take(last).skip(1) {
        if (*b as f64) < best && (*b as f64) <= best * (1.0 - min_drop.clamp(0.0, 0.99)) {
            staircase.push(id);
            best = *b as f64;
        }
    }
    let mut fixed: Vec<usize> = must.iter().copied().filter(|c| *c <= last).chain([0, last]).collect();
    fixed.sort_unstable();
    fixed.dedup();
    let rest: Vec<usize> = staircase.into_iter().filter(|c| !fixed.contains(c)).collect();
    let room = match max_cuts {
        Some(m) => m.saturating_sub(fixed.len()).min(rest.len()),
        None => rest.len(),
    };
    let mut out = fixed;
    if room > 0 {
        // evenly spaced over the staircase, ends included
        for k in 0..room {
            let i = if room == 1 { rest.len() / 2 } else { k * (rest.len() - 1) / (room - 1) };
            out.push(rest[i]);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(bytes: &[u64]) -> Vec<u64> {
        bytes.to_vec()
    }

    #[test]
    fn keeps_the_bytes_staircase_the_ends_and_the_planners_cuts() {
        // cut:            0    1    2    3    4    5   6   7
        let c = cuts(&[1000, 2000, 990, 500, 500, 800, 50, 40]);
        // 2 is less than a 5% drop from 1000; 4 ties 3; 5 is larger; 7 is the last cut
        assert_eq!(oracle_subset(&c, &[], 0.05, None), vec![0, 3, 6, 7]);
        assert_eq!(oracle_subset(&c, &[5], 0.05, None), vec![0, 3, 5, 6, 7]);
        assert_eq!(oracle_subset(&c, &[], 0.0, None), vec![0, 2, 3, 6, 7]);
    }

    #[test]
    fn a_cap_never_drops_the_planners_cuts_or_the_ends() {
        let c = cuts(&[1000, 900, 800, 700, 600, 500, 400, 300, 200, 100]);
        let all = oracle_subset(&c, &[4], 0.05, None);
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let few = oracle_subset(&c, &[4], 0.05, Some(4));
        assert_eq!(few.len(), 4);
        assert!(few.contains(&0) && few.contains(&4) && few.contains(&9), "{few:?}");
        let tiny = oracle_subset(&c, &[4, 5, 6], 0.05, Some(2));
        assert_eq!(tiny, vec![0, 4, 5, 6, 9], "the fixed cuts stay even beyond the cap");
        assert!(oracle_subset(&[], &[1], 0.05, None).is_empty());
    }

    #[test]
    fn coverage_compares_the_subsets_best_with_the_full_best() {
        use crate::results::{CutResult, NetworkResult};
        let cut = |cut: usize, bytes: u64, ms: f64| CutResult {
            cut,
            bytes,
            measured: true,
            latency_ms: Some(ms),
            ..Default::default()
        };
        // bytes 1000, 1100 (not on the staircase), 500, 10: the subset is 0, 2, 3
        let net = |name: &str, lat: [f64; 4]| NetworkResult {
            network: name.into(),
            cuts: vec![cut(0, 1000, lat[0]), cut(1, 1100, lat[1]), cut(2, 500, lat[2]), cut(3, 10, lat[3])],
            ..Default::default()
        };
        let m = ModelResult {
            model: "m".into(),
            cuts: 4,
            networks: vec![net("wifi", [50.0, 60.0, 70.0, 100.0]), net("lte", [90.0, 80.0, 100.0, 120.0])],
            ..Default::default()
        };
        let c = coverage(&[m], 0.05, None);
        assert_eq!((c.cells, c.same_best), (2, 1));
        assert_eq!(c.same_best_share, Some(0.5));
        // on LTE the dominated cut 1 won (80 ms): the subset's best is cut 0 at 90 ms
        let lte = &c.per_cell[1];
        assert_eq!((lte.subset_best_cut, lte.full_best_cut, lte.subset_cuts), (0, 1, 3));
        assert_eq!(c.worst_ratio, Some(90.0 / 80.0));
    }
}
