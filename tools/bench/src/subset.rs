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
//! The rule is checked by the full run (`--cuts all`), which measures every cut.

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
}
