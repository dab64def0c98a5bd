//! Dynamic bandwidth: a seeded Markov chain over the network levels, and the statistics of
//! a run over it.
//!
//! Every `segment_ms` the link stays at its level (probability 0.4) or moves to any other
//! level, each equally likely (0.6 shared among them): a phone walks from Wi-Fi to LTE or to
//! a weak CAT1 cell as readily as one step. Every level is reachable from every other in one
//! step, so the chain's stationary distribution is uniform (each network a quarter of the
//! time over four networks); a run's actual visits are counted in its results
//! (`trace.visits`). The levels are the emulated networks' rates and round trips; the phone
//! keeps reporting one network (it is not told that the link changed), so only its
//! estimator can notice.

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

/// The probability that the link stays at its level for another segment.
pub const STAY: f64 = 0.4;

/// How often a trace is at each level: segments per level.
pub fn visits(trace: &[TraceSegment], levels: usize) -> Vec<usize> {
    let mut v = vec![0; levels];
    for s in trace {
        if let Some(x) = v.get_mut(s.level) {
            *x += 1;
        }
    }
    v
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
        if levels > 1 && r >= STAY {
            // one of the other levels, uniformly
            let k = (((r - STAY) / (1.0 - STAY)) * (levels - 1) as f64) as usize;
            let k = k.min(levels - 2);
            level = if k >= level { k + 1 } else { k };
        }
        t += segment_ms;
    }
    out
}

/// The level in effect at `t_ms`.
pub fn level_at(trace: &[TraceSegment], t_ms: f64) -> usize {
    trace.iter().take_while(|s| s.start_ms <= t_ms).last().or(trace.first()).map_or(0, |s| s.level)
}

/// The segment a request started in (index into the trace).
fn segment_of(trace: &[TraceSegment], t_ms: f64) -> usize {
    trace.iter().take_while(|s| s.start_ms <= t_ms).count().saturating_sub(1)
}

/// Segments in which the oracle's requests offloaded successfully, and how many of those
/// saw a successful online offload too.
pub fn offload_segments(
    trace: &[TraceSegment],
    oracle: &[TraceRequest],
    online: &[TraceRequest],
) -> (usize, usize) {
    let s = segment_offloads(trace, oracle, online);
    (
        s.iter().filter(|x| x.oracle_offloaded).count(),
        s.iter().filter(|x| x.oracle_offloaded && x.online_offloaded).count(),
    )
}

/// One segment of a trace run: whether each session got an offload through in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentOffloads {
    /// Index into the trace.
    pub segment: usize,
    /// When it starts, ms from the start of the run.
    pub start_ms: f64,
    /// Its level (index into the levels).
    pub level: usize,
    /// Whether an oracle request that started in it offloaded and got the edge's answer.
    pub oracle_offloaded: bool,
    /// Whether an online request that started in it offloaded and got the edge's answer.
    pub online_offloaded: bool,
    /// Online requests that started in it.
    pub online_requests: usize,
    /// Of those, requests that offloaded successfully.
    pub online_offloads: usize,
    /// Of those, exploratory requests (successful or not).
    pub online_explorations: usize,
}

/// Per segment: whether the oracle and the online session got an offload through, and how
/// the online session's requests went.
pub fn segment_offloads(
    trace: &[TraceSegment],
    oracle: &[TraceRequest],
    online: &[TraceRequest],
) -> Vec<SegmentOffloads> {
    let mut out: Vec<SegmentOffloads> = trace
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentOffloads {
            segment: i,
            start_ms: s.start_ms,
            level: s.level,
            ..Default::default()
        })
        .collect();
    for r in oracle.iter().filter(|r| r.offloaded) {
        if let Some(x) = out.get_mut(segment_of(trace, r.t_start_ms)) {
            x.oracle_offloaded = true;
        }
    }
    for r in online {
        if let Some(x) = out.get_mut(segment_of(trace, r.t_start_ms)) {
            x.online_requests += 1;
            x.online_offloads += usize::from(r.offloaded);
            x.online_explorations += usize::from(r.exploration);
            x.online_offloaded |= r.offloaded;
        }
    }
    out
}

/// The per-segment comparison of a trace run, summed up: `trace.offload_segments` in
/// `results.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OffloadSegments {
    /// Segments in which the oracle offloaded successfully.
    pub oracle: usize,
    /// Of those, segments in which the online session offloaded successfully too.
    pub online: usize,
    /// `online offloads in X of Y oracle-offload segments`.
    pub summary: String,
    /// Every segment.
    pub segments: Vec<SegmentOffloads>,
}

impl OffloadSegments {
    /// The comparison of a run's `oracle` and `online` requests over `trace`.
    pub fn new(trace: &[TraceSegment], oracle: &[TraceRequest], online: &[TraceRequest]) -> Self {
        let segments = segment_offloads(trace, oracle, online);
        let o = segments.iter().filter(|x| x.oracle_offloaded).count();
        let n = segments.iter().filter(|x| x.oracle_offloaded && x.online_offloaded).count();
        OffloadSegments {
            oracle: o,
            online: n,
            summary: format!("online offloads in {n} of {o} oracle-offload segments"),
            segments,
        }
    }
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
    /// Exploratory requests (`Report::exploration`), successful or not.
    #[serde(default)]
    pub explorations: usize,
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
        explorations: requests.iter().filter(|r| r.exploration).count(),
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
        assert!(a.windows(2).any(|w| w[0].level != w[1].level), "the bandwidth changes");
        assert!(markov_trace(1, 10_000.0, 1_000.0, 3).iter().all(|s| s.level == 0));
        assert!(markov_trace(0, 1000.0, 10.0, 1).is_empty());
    }

    #[test]
    fn the_chain_visits_every_level_about_equally_and_jumps_across() {
        let t = markov_trace(4, 4_000_000.0, 1_000.0, 9);
        let v = visits(&t, 4);
        assert_eq!(v.iter().sum::<usize>(), 4000);
        for (level, n) in v.iter().enumerate() {
            assert!((800..1200).contains(n), "level {level}: {n} of 4000 segments");
        }
        let stays = t.windows(2).filter(|w| w[0].level == w[1].level).count() as f64 / 3999.0;
        assert!((stays - STAY).abs() < 0.04, "stays {stays}");
        assert!(t.windows(2).any(|w| w[0].level.abs_diff(w[1].level) > 1), "jumps across levels");
        // the committed trace's seed and length: every network visited
        let committed = markov_trace(4, 120_000.0, 4_000.0, 9);
        assert!(visits(&committed, 4).iter().all(|n| *n > 0), "{:?}", visits(&committed, 4));
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
            exploration: level == 1,
        };
        let reqs = [r(0, 5, 100.0, true, 2.0), r(1, 0, 300.0, false, 1.0)];
        let s = summarize(&reqs, |l| Some(if l == 0 { 5 } else { 3 }), |_| 1.0);
        assert_eq!(s.requests, 2);
        assert_eq!(s.mean_latency_ms, 200.0);
        assert_eq!(s.deadline_miss_rate, 0.5);
        assert_eq!(s.oracle_cut_agreement, 0.5);
        assert_eq!(s.uplink_error_log2_median, Some(0.5));
        assert_eq!(summarize(&[], |_| None, |_| 1.0), TraceStats::default());
        // segments 0 (0-100 ms) and 1 (100 ms on): the oracle offloaded in both, online in 1
        let t = [TraceSegment { start_ms: 0.0, level: 0 }, TraceSegment { start_ms: 100.0, level: 1 }];
        let at = |t_start_ms: f64, offloaded: bool| TraceRequest { t_start_ms, offloaded, ..reqs[0].clone() };
        let oracle = [at(10.0, true), at(150.0, true)];
        let online = [at(20.0, false), at(120.0, true), at(160.0, false)];
        assert_eq!(offload_segments(&t, &oracle, &online), (2, 1));
        assert_eq!(s.explorations, 1);
        let per = OffloadSegments::new(&t, &oracle, &online);
        assert_eq!((per.oracle, per.online), (2, 1));
        assert_eq!(per.summary, "online offloads in 1 of 2 oracle-offload segments");
        let flags: Vec<(bool, bool, usize, usize)> = per
            .segments
            .iter()
            .map(|x| (x.oracle_offloaded, x.online_offloaded, x.online_requests, x.online_offloads))
            .collect();
        assert_eq!(flags, [(true, false, 1, 0), (true, true, 2, 1)]);
        assert_eq!(per.segments[1].level, 1);
    }
}
