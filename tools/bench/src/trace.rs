//! Dynamic bandwidth: a seeded Markov chain over the network levels, and the statistics of
//! a run over it.
//!
//! Every `segment_ms` the link moves one level down (probability 0.35), one level up (0.35)
//! or stays (0.3); at the slowest or fastest level the move that would leave the range
//! becomes a move the other way. The levels are the emulated networks' rates and round
//! trips; the phone keeps reporting one network (it is not told that the link changed), so
//! only its estimator can notice.

use serde::{Deserialize, Serialize};

use crate::protocol::TraceRequest;
use crate::stats;

/// One stretch of constant bandwidth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSegment {
    /// When it starts, ms from the start of the run.
    pub start_ms: f64,
    /// Index into the levels (the networks, slowest first).
    pub level: usize,
}

/// A deterministic pseudo-random generator (SplitMix64): the same seed, the same trace.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A Markov-chain trace over `levels` levels: `duration_ms` long, one segment per
/// `segment_ms`, starting at a random level. Deterministic in `seed`.
pub fn markov_trace(levels: usize, duration_ms: f64, segment_ms: f64, seed: u64) -> Vec<TraceSegment> {
    if levels == 0 || duration_ms.is_nan() || duration_ms <= 0.0 || segment_ms.is_nan() || segment_ms <= 0.0 {
        return vec![];
    }
    let mut rng = SplitMix64::new(seed);
    let mut level = (rng.next_u64() % levels as u64) as usize;
    let mut out = vec![];
    let mut t = 0.0;
    while t < duration_ms {
        out.push(TraceSegment { start_ms: t, level });
        let r = rng.next_f64();
        let step: i64 = if r < 0.35 {
            -1
        } else if r < 0.70 {
            1
        } else {
            0
        };
        let next = level as i64 + step;
        level = if next < 0 || next >= levels as i64 {
            (level as i64 - step).clamp(0, levels as i64 - 1) as usize
        } else {
            next as usize
        };
        t += segment_ms;
    }
    out
}

/// The level in effect at `t_ms`.
pub fn level_at(trace: &[TraceSegment], t_ms: f64) -> usize {
    trace.iter().take_while(|s| s.start_ms <= t_ms).last().or(trace.first()).map_or(0, |s| s.level)
}

/// What a trace run achieved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceStats {
    /// Requests completed.
    pub requests: usize,
    /// Mean end-to-end latency, ms.
    pub mean_latency_ms: f64,
    /// Median latency, ms.
    pub p50_latency_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_latency_ms: f64,
    /// Share of requests over the deadline (0..=1).
    pub deadline_miss_rate: f64,
    /// Share of requests that offloaded and got the edge's answer.
    pub offloaded_rate: f64,
    /// Requests that fell back to the phone (any reason).
    pub fallbacks: usize,
    /// Mean modeled phone energy per request, mJ.
    pub mean_energy_mj: f64,
    /// Share of requests whose cut was the oracle's cut for the level in effect.
    pub oracle_cut_agreement: f64,
    /// Median of |log2(estimated uplink / true uplink)| over requests: 0 is perfect, 1 is a
    /// factor of two off.
    pub uplink_error_log2_median: Option<f64>,
}

/// Summarises a run's requests. `oracle_cut(level)` is the oracle's cut at a level and
/// `uplink_mbps(level)` the level's true uplink.
pub fn summarize(
    requests: &[TraceRequest],
    oracle_cut: impl Fn(usize) -> Option<usize>,
    uplink_mbps: impl Fn(usize) -> f64,
) -> TraceStats {
    let n = requests.len();
    if n == 0 {
        return TraceStats::default();
    }
    let lat: Vec<f64> = requests.iter().map(|r| r.total_ms).collect();
    let share = |count: usize| count as f64 / n as f64;
    let errors: Vec<f64> = requests
        .iter()
        .filter(|r| r.estimated_uplink_mbps > 0.0 && uplink_mbps(r.level) > 0.0)
        .map(|r| (r.estimated_uplink_mbps / uplink_mbps(r.level)).log2().abs())
        .collect();
    TraceStats {
        requests: n,
        mean_latency_ms: stats::mean(&lat).unwrap_or(0.0),
        p50_latency_ms: stats::median(&lat).unwrap_or(0.0),
        p95_latency_ms: stats::percentile(&lat, 0.95).unwrap_or(0.0),
        deadline_miss_rate: share(requests.iter().filter(|r| r.deadline_met == Some(false)).count()),
        offloaded_rate: share(requests.iter().filter(|r| r.offloaded).count()),
        fallbacks: requests.iter().filter(|r| r.fallback.is_some()).count(),
        mean_energy_mj: stats::mean(&requests.iter().map(|r| r.energy_mj).collect::<Vec<_>>()).unwrap_or(0.0),
        oracle_cut_agreement: share(requests.iter().filter(|r| oracle_cut(r.level) == Some(r.cut)).count()),
        uplink_error_log2_median: stats::median(&errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_deterministic_in_the_seed_and_stay_in_range() {
        let a = markov_trace(4, 60_000.0, 3_000.0, 7);
        let b = markov_trace(4, 60_000.0, 3_000.0, 7);
        let c = markov_trace(4, 60_000.0, 3_000.0, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 20);
        assert!(a.iter().all(|s| s.level < 4));
        assert!(
            a.windows(2).all(|w| (w[0].level as i64 - w[1].level as i64).abs() <= 1),
            "one level per step"
        );
        assert!(a.windows(2).any(|w| w[0].level != w[1].level), "the bandwidth changes");
        assert!(markov_trace(0, 1000.0, 10.0, 1).is_empty());
    }

    #[test]
    fn level_lookup() {
        let t = [TraceSegment { start_ms: 0.0, level: 2 }, TraceSegment { start_ms: 100.0, level: 1 }];
        assert_eq!(level_at(&t, 0.0), 2);
        assert_eq!(level_at(&t, 99.9), 2);
        assert_eq!(level_at(&t, 100.0), 1);
        assert_eq!(level_at(&t, 1e9), 1);
    }

    #[test]
    fn summaries_count_misses_agreement_and_estimate_error() {
        let r = |level, cut, total_ms, met, est| TraceRequest {
            t_start_ms: 0.0,
            level,
            cut,
            total_ms,
            offloaded: cut == 0,
            fallback: None,
            deadline_met: Some(met),
            energy_mj: 1.0,
            estimated_uplink_mbps: est,
            bytes_up: 0,
        };
        let reqs = [r(0, 5, 100.0, true, 2.0), r(1, 0, 300.0, false, 1.0)];
        let s = summarize(&reqs, |l| Some(if l == 0 { 5 } else { 3 }), |_| 1.0);
        assert_eq!(s.requests, 2);
        assert_eq!(s.mean_latency_ms, 200.0);
        assert_eq!(s.deadline_miss_rate, 0.5);
        assert_eq!(s.oracle_cut_agreement, 0.5);
        assert_eq!(s.uplink_error_log2_median, Some(0.5));
        assert_eq!(summarize(&[], |_| None, |_| 1.0), TraceStats::default());
    }
}
