//! How fast the link to the edge is, per network: uplink and downlink throughput and round
//! trip, estimated from every offload (passive) and from probes (active).
//!
//! Estimates are kept per network key ([`PlatformState::network_key`]): walking from Wi-Fi to
//! LTE switches to LTE's history at once, and back. Each quantity is a sliding-window median
//! with outlier rejection and change detection: a sample more than `outlier_ratio` away from
//! the median is held back; `change_samples` such samples in a row, in the same direction and
//! consistent with each other, mean the link changed, and they replace the window (a 4x step
//! is followed after 3 samples with the defaults). A network with no samples gets a prior for
//! its kind with confidence 0.
//!
//! Estimates decay with age, so that an old estimate (say, a pessimistic one made on a bad
//! cell) cannot pin the session to one decision forever:
//! - **Weight.** Each quantity's measured value keeps the weight `w = 0.5^(age / half_life_ms)`
//!   (`age`: time since that quantity's last sample); the rest, `1 - w`, goes to the network
//!   kind's prior, blended geometrically: `estimate = measured^w x prior^(1 - w)`. After one
//!   half-life (2 minutes by default) a 0.13 Mbps estimate on a network reported as LTE
//!   (prior 5.85 Mbps) reads 0.87 Mbps; after four, 4.6 Mbps. Confidence halves with the same
//!   half-life. `half_life_ms <= 0` turns the decay off (confidence then stays as measured).
//! - **Staleness.** A quantity whose last sample is older than `fresh_ms` is stale: its next
//!   sample replaces its window instead of joining it (the old samples no longer vote, and
//!   cannot hold the new one back as an outlier), as a probe's result always does.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tandem_model::util::median;

use crate::platform::{CellularGen, NetworkKind, PlatformState};

/// What one offload measured, for the estimator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferSample {
    /// Bytes sent (request body and headers).
    pub bytes_up: u64,
    /// Client-measured time from sending the first request byte to receiving the first
    /// response byte, ms. Includes one round trip and the server's time, which the estimator
    /// takes out.
    pub upload_ms: f64,
    /// Bytes received (response body).
    pub bytes_down: u64,
    /// Client-measured time from the first to the last response byte, ms.
    pub download_ms: f64,
    /// The round trip of this request if it was measured separately (e.g. connection setup),
    /// ms; otherwise the network's current estimate is used.
    pub rtt_ms: Option<f64>,
    /// The time the server says it spent (queue and compute), ms.
    pub server_ms: f64,
}

/// The estimated link to the edge on one network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkEstimate {
    /// Uplink (phone to edge) throughput, Mbps.
    pub uplink_mbps: f64,
    /// Downlink (edge to phone) throughput, Mbps.
    pub downlink_mbps: f64,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// How much to trust this estimate: 0 (a prior, no measurement) to 1.
    pub confidence: f64,
    /// Uplink samples the estimate rests on.
    pub samples: usize,
    /// Time since the last sample, ms (infinite without samples).
    pub age_ms: f64,
}

impl LinkEstimate {
    /// A known link (tests, the CLI, the benchmark): confidence 1.
    pub fn fixed(uplink_mbps: f64, downlink_mbps: f64, rtt_ms: f64) -> Self {
        LinkEstimate { uplink_mbps, downlink_mbps, rtt_ms, confidence: 1.0, samples: 0, age_ms: 0.0 }
    }

    /// Typical values for a network kind before any measurement, with confidence 0. Uplinks
    /// are Neurosurgeon's (ASPLOS 2017) measured averages for 3G, LTE and Wi-Fi; the others
    /// are rough assumptions (docs/ENERGY.md).
    pub fn prior(kind: NetworkKind) -> Self {
        let (up, down, rtt) = match kind {
            NetworkKind::Wifi => (18.88, 30.0, 15.0),
            NetworkKind::Ethernet => (100.0, 100.0, 2.0),
            NetworkKind::Cellular(CellularGen::G5) => (50.0, 200.0, 30.0),
            NetworkKind::Cellular(CellularGen::Lte) => (5.85, 13.0, 60.0),
            NetworkKind::Cellular(CellularGen::G3) => (1.1, 2.0, 120.0),
            NetworkKind::Cellular(CellularGen::G2) => (0.13, 0.2, 300.0),
            NetworkKind::Cellular(CellularGen::Unknown) | NetworkKind::Unknown => (1.1, 2.0, 120.0),
            NetworkKind::None => (0.0, 0.0, f64::INFINITY),
        };
        LinkEstimate {
            uplink_mbps: up,
            downlink_mbps: down,
            rtt_ms: rtt,
            confidence: 0.0,
            samples: 0,
            age_ms: f64::INFINITY,
        }
    }
}

/// Tuning of the [`NetworkEstimator`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EstimatorConfig {
    /// Samples kept per quantity and network.
    pub window: usize,
    /// A sample further than this factor from the median is an outlier (or a change).
    pub outlier_ratio: f64,
    /// Outliers in a row, same direction, that mean the link changed.
    pub change_samples: usize,
    /// A transfer shorter than this (after taking out the round trip) says nothing about
    /// throughput, ms.
    pub min_transfer_ms: f64,
    /// A transfer smaller than this says nothing about throughput, bytes.
    pub min_transfer_bytes: u64,
    /// Samples older than this are fresh no more: a probe may run, ms.
    pub fresh_ms: f64,
    /// An estimate's weight (and its confidence) halves every this long without a sample;
    /// the weight it loses goes to the network kind's prior, ms. `0` turns the decay off.
    pub half_life_ms: f64,
    /// Below this confidence, a probe may run.
    pub min_confidence: f64,
    /// Networks remembered; the least recently used is forgotten first.
    pub max_networks: usize,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        EstimatorConfig {
            window: 24,
            outlier_ratio: 2.0,
            change_samples: 3,
            min_transfer_ms: 2.0,
            min_transfer_bytes: 8 * 1024,
            fresh_ms: 60_000.0,
            half_life_ms: 120_000.0,
            min_confidence: 0.3,
            max_networks: 32,
        }
    }
}

/// A robust running estimate of one positive quantity.
#[derive(Clone, Debug, Default)]
struct Series {
    window: VecDeque<f64>,
    pending: Vec<f64>,
    /// When the window last took a sample.
    last: Option<Instant>,
}

impl Series {
    fn median(&self) -> Option<f64> {
        median(self.window.iter().copied())
    }

    /// Median absolute deviation relative to the median (0 = no spread).
    fn relative_spread(&self) -> f64 {
        let Some(m) = self.median().filter(|m| *m > 0.0) else { return 1.0 };
        median(self.window.iter().map(|x| (x - m).abs())).map_or(1.0, |mad| mad / m)
    }

    /// Whether the window's last sample is older than `fresh_ms` at `at` (or it has none).
    fn stale(&self, at: Instant, fresh_ms: f64) -> bool {
        self.last.is_none_or(|t| at.saturating_duration_since(t).as_secs_f64() * 1e3 > fresh_ms)
    }

    /// Adds `x`, taken at `at`; returns whether it was taken (not held back as an outlier).
    /// A stale window is replaced by `x`.
    fn push_at(&mut self, x: f64, cfg: &EstimatorConfig, at: Instant) -> bool {
        if !(x.is_finite() && x > 0.0) {
            return false;
        }
        if !self.window.is_empty() && self.stale(at, cfg.fresh_ms) {
            self.reset(x, at);
            return true;
        }
        let taken = self.push(x, cfg);
        if taken {
            self.last = Some(at);
        }
        taken
    }

    /// Adds `x`; returns whether it was taken (not held back as an outlier).
    fn push(&mut self, x: f64, cfg: &EstimatorConfig) -> bool {
        if !(x.is_finite() && x > 0.0) {
            return false;
        }
        let r = cfg.outlier_ratio.max(1.0);
        match self.median() {
            Some(m) if self.window.len() >= 3 && (x > m * r || x < m / r) => {
                let up = x > m;
                if self.pending.first().is_some_and(|p| (*p > m) != up) {
                    self.pending.clear();
                }
                self.pending.push(x);
                let (lo, hi) =
                    self.pending.iter().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
                if hi > lo * r {
                    // not consistent with each other: noise, not a step; keep the latest
                    self.pending.drain(..self.pending.len() - 1);
                }
                if self.pending.len() >= cfg.change_samples.max(1) {
                    log::debug!("link estimate: change detected ({:.3} -> {:.3})", m, x);
                    self.window = self.pending.drain(..).collect();
                    return true;
                }
                false
            }
            _ => {
                self.pending.clear();
                self.window.push_back(x);
                while self.window.len() > cfg.window.max(1) {
                    self.window.pop_front();
                }
                true
            }
        }
    }

    fn reset(&mut self, x: f64, at: Instant) {
        if x.is_finite() && x > 0.0 {
            self.window = VecDeque::from([x]);
            self.pending.clear();
            self.last = Some(at);
        }
    }

    /// The window's median, decayed toward `prior` with the age of its last sample (the
    /// module's rule); `prior` alone without samples.
    fn decayed(&self, prior: f64, now: Instant, half_life_ms: f64) -> f64 {
        let Some(m) = self.median() else { return prior };
        let Some(last) = self.last else { return m };
        let age_ms = now.saturating_duration_since(last).as_secs_f64() * 1e3;
        let w = decay_weight(age_ms, half_life_ms);
        if w >= 1.0 || !(prior.is_finite() && prior > 0.0) {
            return m;
        }
        m.powf(w) * prior.powf(1.0 - w)
    }
}

#[derive(Clone, Debug)]
struct History {
    kind: NetworkKind,
    uplink_mbps: Series,
    downlink_mbps: Series,
    rtt_ms: Series,
    last_sample: Option<Instant>,
    last_used: u64,
}

/// Link estimates for every network the phone has been on.
///
/// Not synchronised: the session keeps it behind a lock. Times are passed in (`*_at`
/// methods) so tests are deterministic; the plain methods use `Instant::now()`.
#[derive(Clone, Debug, Default)]
pub struct NetworkEstimator {
    config: EstimatorConfig,
    networks: HashMap<String, History>,
    tick: u64,
}

/// The result of an active probe: the link measured with two payload sizes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Uplink throughput, Mbps.
    pub uplink_mbps: f64,
    /// Downlink throughput, Mbps.
    pub downlink_mbps: f64,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Bytes the probe sent (bodies only).
    pub bytes_up: u64,
    /// Bytes the probe received (bodies only).
    pub bytes_down: u64,
    /// Wall time of the whole probe, ms.
    pub duration_ms: f64,
}

impl NetworkEstimator {
    /// An estimator with `config`.
    pub fn new(config: EstimatorConfig) -> Self {
        NetworkEstimator { config, networks: HashMap::new(), tick: 0 }
    }

    /// The configuration.
    pub fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    fn history(&mut self, network: &PlatformState) -> &mut History {
        self.tick += 1;
        let key = network.network_key();
        if !self.networks.contains_key(&key) && self.networks.len() >= self.config.max_networks.max(1) {
            if let Some(oldest) =
                self.networks.iter().min_by_key(|(_, h)| h.last_used).map(|(k, _)| k.clone())
            {
                self.networks.remove(&oldest);
            }
        }
        let tick = self.tick;
        let h = self.networks.entry(key).or_insert_with(|| History {
            kind: network.network,
            uplink_mbps: Series::default(),
            downlink_mbps: Series::default(),
            rtt_ms: Series::default(),
            last_sample: None,
            last_used: tick,
        });
        h.kind = network.network;
        h.last_used = tick;
        h
    }

    /// Records one offload's measurements on `network`, now.
    pub fn record(&mut self, network: &PlatformState, sample: &TransferSample) {
        self.record_at(network, sample, Instant::now());
    }

    /// Records one offload's measurements on `network`, taken at `at`. Samples that say
    /// nothing (offline, NaN, transfers too short to time) are ignored.
    pub fn record_at(&mut self, network: &PlatformState, sample: &TransferSample, at: Instant) {
        if !network.network.is_online() {
            return;
        }
        let cfg = self.config.clone();
        let h = self.history(network);
        let mut used = false;
        if let Some(rtt) = sample.rtt_ms {
            used |= h.rtt_ms.push_at(rtt, &cfg, at);
        }
        let net_ms = sample.upload_ms - sample.server_ms.max(0.0);
        if net_ms.is_finite() && net_ms > 0.0 {
            let rtt = sample.rtt_ms.or_else(|| h.rtt_ms.median()).unwrap_or(0.0);
            let transfer_ms = net_ms - rtt;
            if sample.bytes_up >= cfg.min_transfer_bytes && transfer_ms >= cfg.min_transfer_ms {
                used |= h.uplink_mbps.push_at(mbps(sample.bytes_up, transfer_ms), &cfg, at);
            } else if sample.bytes_up < cfg.min_transfer_bytes && sample.rtt_ms.is_none() {
                // a small request is mostly round trip: that is what it measures
                let up = h
                    .uplink_mbps
                    .median()
                    .unwrap_or_else(|| LinkEstimate::prior(network.network).uplink_mbps);
                let rtt = net_ms - crate::energy::transfer_ms(sample.bytes_up, up);
                used |= h.rtt_ms.push_at(rtt, &cfg, at);
            }
        }
        if sample.bytes_down >= cfg.min_transfer_bytes && sample.download_ms >= cfg.min_transfer_ms {
            used |= h.downlink_mbps.push_at(mbps(sample.bytes_down, sample.download_ms), &cfg, at);
        }
        if used {
            h.last_sample = Some(at);
        }
    }

    /// Records a probe's result on `network`, taken at `at`: a probe runs when the history is
    /// stale, so it replaces it.
    pub fn record_probe_at(&mut self, network: &PlatformState, probe: &ProbeResult, at: Instant) {
        if !network.network.is_online() {
            return;
        }
        let h = self.history(network);
        h.uplink_mbps.reset(probe.uplink_mbps, at);
        h.downlink_mbps.reset(probe.downlink_mbps, at);
        h.rtt_ms.reset(probe.rtt_ms.max(0.001), at);
        h.last_sample = Some(at);
    }

    /// Records a probe's result on `network`, now.
    pub fn record_probe(&mut self, network: &PlatformState, probe: &ProbeResult) {
        self.record_probe_at(network, probe, Instant::now());
    }

    /// The current estimate for `network`.
    pub fn estimate(&self, network: &PlatformState) -> LinkEstimate {
        self.estimate_at(network, Instant::now())
    }

    /// The estimate for `network` as of `now`. Quantities never measured come from the
    /// network kind's prior; measured ones decay toward it with age (the module's rule).
    pub fn estimate_at(&self, network: &PlatformState, now: Instant) -> LinkEstimate {
        let prior = LinkEstimate::prior(network.network);
        let Some(h) = self.networks.get(&network.network_key()).filter(|_| network.network.is_online())
        else {
            return prior;
        };
        let age_ms =
            h.last_sample.map_or(f64::INFINITY, |t| now.saturating_duration_since(t).as_secs_f64() * 1e3);
        let samples = h.uplink_mbps.window.len();
        let count = (samples as f64 / 5.0).min(1.0);
        let spread = 1.0 / (1.0 + 2.0 * h.uplink_mbps.relative_spread());
        let half_life = self.config.half_life_ms;
        let fresh = decay_weight(age_ms, half_life);
        LinkEstimate {
            uplink_mbps: h.uplink_mbps.decayed(prior.uplink_mbps, now, half_life),
            downlink_mbps: h.downlink_mbps.decayed(prior.downlink_mbps, now, half_life),
            rtt_ms: h.rtt_ms.decayed(prior.rtt_ms, now, half_life),
            confidence: (count * spread * fresh).clamp(0.0, 1.0),
            samples,
            age_ms,
        }
    }

    /// Whether an active probe should run on `network` now: online, not metered (unless
    /// `metered_allowed`), and no fresh, trustworthy estimate.
    pub fn needs_probe(&self, network: &PlatformState, metered_allowed: bool) -> bool {
        self.needs_probe_at(network, metered_allowed, Instant::now())
    }

    /// [`NetworkEstimator::needs_probe`] as of `now`.
    pub fn needs_probe_at(&self, network: &PlatformState, metered_allowed: bool, now: Instant) -> bool {
        if !network.network.is_online() || (network.metered && !metered_allowed) {
            return false;
        }
        let e = self.estimate_at(network, now);
        e.samples == 0 || e.age_ms > self.config.fresh_ms || e.confidence < self.config.min_confidence
    }
}

/// The weight a measurement keeps after `age_ms` without a sample: it halves every
/// `half_life_ms` (1 when `half_life_ms <= 0`: no decay; 0 for an infinite age).
pub fn decay_weight(age_ms: f64, half_life_ms: f64) -> f64 {
    if !age_ms.is_finite() {
        0.0
    } else if !(half_life_ms.is_finite() && half_life_ms > 0.0) {
        1.0
    } else {
        0.5f64.powf(age_ms.max(0.0) / half_life_ms)
    }
}

fn mbps(bytes: u64, ms: f64) -> f64 {
    bytes as f64 * 8.0 / (ms * 1e3)
}

/// How an active probe runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeConfig {
    /// The small payload, bytes: its time is mostly the round trip.
    pub small_bytes: u64,
    /// The large payload, bytes: its time is mostly throughput. Make it large enough to take
    /// several round trips on the fastest expected link.
    pub large_bytes: u64,
    /// Each size is timed this many times; the fastest counts (queueing only adds time).
    pub repeats: usize,
    /// Give up after this long per request, ms.
    pub timeout_ms: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig { small_bytes: 1_000, large_bytes: 200_000, repeats: 3, timeout_ms: 20_000 }
    }
}

/// Why a probe did not produce an estimate.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The phone is offline.
    #[error("offline: nothing to probe")]
    Offline,
    /// The network is metered and the policy does not allow spending data on it.
    #[error("metered network: probing is not allowed")]
    Metered,
    /// The request failed (connection, timeout, TLS...).
    #[error("probe request failed: {reason}")]
    Request {
        /// What failed.
        reason: String,
    },
    /// The edge answered with an error status.
    #[error("the edge answered the probe with HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The edge's answer is not what the probe endpoint returns.
    #[error("malformed probe response: {reason}")]
    BadResponse {
        /// What is wrong with it.
        reason: String,
    },
    /// The two payload sizes took the same time: the link is too fast for them.
    #[error("cannot separate round trip from throughput: {reason}; use a larger payload")]
    Degenerate {
        /// The measured times.
        reason: String,
    },
}

/// Whether a probe may run on `network` under the policy's metered setting.
pub fn probe_allowed(network: &PlatformState, metered_allowed: bool) -> Result<(), ProbeError> {
    if !network.network.is_online() {
        Err(ProbeError::Offline)
    } else if network.metered && !metered_allowed {
        Err(ProbeError::Metered)
    } else {
        Ok(())
    }
}

/// Solves `t = rtt + bytes·8/bw` from two (bytes, ms) points: returns (bw Mbps, rtt ms).
pub fn separate_rtt(small: (u64, f64), large: (u64, f64)) -> Result<(f64, f64), ProbeError> {
    let (s, ts) = small;
    let (l, tl) = large;
    if l <= s || !ts.is_finite() || !tl.is_finite() || tl <= ts {
        return Err(ProbeError::Degenerate { reason: format!("{s} B in {ts:.2} ms, {l} B in {tl:.2} ms") });
    }
    let bw = mbps(l - s, tl - ts);
    let rtt = (ts - crate::energy::transfer_ms(s, bw)).max(0.0);
    Ok((bw, rtt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A deterministic noise source (splitmix64), uniform in [-1, 1).
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    fn net(id: &str, kind: NetworkKind) -> PlatformState {
        PlatformState { network: kind, network_id: id.into(), ..Default::default() }
    }

    /// A sample of `bytes` uploaded at `mbps` over `rtt_ms`, with the server taking 7 ms.
    fn sample(bytes: u64, mbps: f64, rtt_ms: f64) -> TransferSample {
        TransferSample {
            bytes_up: bytes,
            upload_ms: rtt_ms + bytes as f64 * 8.0 / (mbps * 1e3) + 7.0,
            bytes_down: 4_000,
            download_ms: 0.5,
            rtt_ms: Some(rtt_ms),
            server_ms: 7.0,
        }
    }

    #[test]
    fn converges_within_10_percent_with_noise() {
        let wifi = net("wifi-home", NetworkKind::Wifi);
        let t0 = Instant::now();
        let mut noise = Noise(7);
        for (truth_mbps, truth_rtt) in [(18.88, 12.0), (5.85, 60.0), (1.1, 110.0), (0.13, 300.0)] {
            let mut est = NetworkEstimator::default();
            for i in 0..30 {
                // ±25% uniform noise on throughput and round trip, and one wild outlier in ten
                let mut mbps = truth_mbps * (1.0 + 0.25 * noise.next());
                if i % 10 == 9 {
                    mbps *= 8.0;
                }
                let rtt = truth_rtt * (1.0 + 0.25 * noise.next());
                est.record_at(&wifi, &sample(400_000, mbps, rtt), t0);
            }
            let e = est.estimate_at(&wifi, t0);
            assert!((e.uplink_mbps / truth_mbps - 1.0).abs() < 0.10, "{truth_mbps}: {e:?}");
            assert!((e.rtt_ms / truth_rtt - 1.0).abs() < 0.10, "{truth_rtt}: {e:?}");
            assert!(e.confidence > 0.5, "{e:?}");
        }
    }

    #[test]
    fn follows_a_4x_step_within_5_samples() {
        for (before, after) in [(20.0, 5.0), (5.0, 20.0), (1.1, 4.4)] {
            let lte = net("lte-1", NetworkKind::Cellular(CellularGen::Lte));
            let t0 = Instant::now();
            let mut est = NetworkEstimator::default();
            let mut noise = Noise(3);
            for _ in 0..20 {
                est.record_at(&lte, &sample(300_000, before * (1.0 + 0.1 * noise.next()), 40.0), t0);
            }
            let mut followed_after = None;
            for i in 1..=5 {
                est.record_at(&lte, &sample(300_000, after * (1.0 + 0.1 * noise.next()), 40.0), t0);
                let e = est.estimate_at(&lte, t0);
                if followed_after.is_none() && (e.uplink_mbps / after - 1.0).abs() < 0.15 {
                    followed_after = Some(i);
                }
            }
            let n = followed_after
                .unwrap_or_else(|| panic!("{before} -> {after} Mbps not followed in 5 samples"));
            assert!(n <= 5, "{n}");
        }
    }

    #[test]
    fn single_outliers_do_not_move_the_estimate() {
        let s = net("w", NetworkKind::Wifi);
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for i in 0..40 {
            let mbps = if i % 3 == 2 { 80.0 } else { 10.0 };
            est.record_at(&s, &sample(300_000, mbps, 10.0), t0);
        }
        let e = est.estimate_at(&s, t0);
        assert!((e.uplink_mbps - 10.0).abs() < 0.5, "{e:?}");
    }

    #[test]
    fn per_network_histories_stay_separate() {
        let wifi = net("wifi:home", NetworkKind::Wifi);
        let lte = net("lte:operator", NetworkKind::Cellular(CellularGen::Lte));
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for _ in 0..10 {
            est.record_at(&wifi, &sample(500_000, 18.88, 10.0), t0);
        }
        // walking out of the house: the LTE estimate starts from LTE's prior, not Wi-Fi's
        let e = est.estimate_at(&lte, t0);
        assert_eq!(e.uplink_mbps, LinkEstimate::prior(lte.network).uplink_mbps);
        assert_eq!(e.confidence, 0.0);
        for _ in 0..10 {
            est.record_at(&lte, &sample(500_000, 5.85, 50.0), t0);
        }
        // and back: Wi-Fi's history is intact
        let w = est.estimate_at(&wifi, t0);
        let l = est.estimate_at(&lte, t0);
        assert!((w.uplink_mbps - 18.88).abs() < 0.1 && (w.rtt_ms - 10.0).abs() < 0.1, "{w:?}");
        assert!((l.uplink_mbps - 5.85).abs() < 0.1 && (l.rtt_ms - 50.0).abs() < 0.1, "{l:?}");
    }

    #[test]
    fn server_time_is_taken_out() {
        let s = net("w", NetworkKind::Wifi);
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for _ in 0..5 {
            // 1 MB at 8 Mbps = 1000 ms; the server took 500 ms of the 1520
            est.record_at(
                &s,
                &TransferSample {
                    bytes_up: 1_000_000,
                    upload_ms: 1520.0,
                    server_ms: 500.0,
                    rtt_ms: Some(20.0),
                    ..Default::default()
                },
                t0,
            );
        }
        assert!((est.estimate_at(&s, t0).uplink_mbps - 8.0).abs() < 1e-9);
    }

    #[test]
    fn small_requests_measure_the_round_trip() {
        let s = net("w", NetworkKind::Wifi);
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for _ in 0..5 {
            est.record_at(
                &s,
                &TransferSample {
                    bytes_up: 200,
                    upload_ms: 45.0,
                    server_ms: 5.0,
                    rtt_ms: None,
                    ..Default::default()
                },
                t0,
            );
        }
        let e = est.estimate_at(&s, t0);
        assert!((e.rtt_ms - 40.0).abs() < 0.2, "{e:?}");
        assert_eq!(e.samples, 0, "no throughput sample from a tiny request");
    }

    #[test]
    fn garbage_samples_are_ignored() {
        let s = net("w", NetworkKind::Wifi);
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for bad in [
            TransferSample { bytes_up: 1 << 20, upload_ms: f64::NAN, ..Default::default() },
            TransferSample { bytes_up: 1 << 20, upload_ms: -5.0, ..Default::default() },
            TransferSample { bytes_up: 1 << 20, upload_ms: 10.0, server_ms: 50.0, ..Default::default() },
            TransferSample { bytes_down: 1 << 20, download_ms: f64::INFINITY, ..Default::default() },
            TransferSample { rtt_ms: Some(-1.0), ..Default::default() },
        ] {
            est.record_at(&s, &bad, t0);
        }
        let e = est.estimate_at(&s, t0);
        assert_eq!((e.samples, e.confidence), (0, 0.0));
        assert!(e.uplink_mbps.is_finite() && e.rtt_ms.is_finite());
    }

    #[test]
    fn probing_rules() {
        let t0 = Instant::now();
        let wifi = net("w", NetworkKind::Wifi);
        let metered = PlatformState { metered: true, ..net("l", NetworkKind::Cellular(CellularGen::Lte)) };
        let offline = net("", NetworkKind::None);
        let mut est = NetworkEstimator::default();
        assert!(est.needs_probe_at(&wifi, false, t0), "nothing known yet");
        assert!(!est.needs_probe_at(&metered, false, t0), "metered, not allowed");
        assert!(est.needs_probe_at(&metered, true, t0), "metered, allowed");
        assert!(!est.needs_probe_at(&offline, true, t0), "offline");
        assert!(matches!(probe_allowed(&metered, false), Err(ProbeError::Metered)));
        assert!(matches!(probe_allowed(&offline, true), Err(ProbeError::Offline)));
        for _ in 0..8 {
            est.record_at(&wifi, &sample(300_000, 10.0, 10.0), t0);
        }
        assert!(!est.needs_probe_at(&wifi, false, t0), "fresh passive samples");
        let later = t0 + Duration::from_secs(120);
        assert!(est.needs_probe_at(&wifi, false, later), "stale after fresh_ms");
        let p = ProbeResult {
            uplink_mbps: 3.0,
            downlink_mbps: 9.0,
            rtt_ms: 70.0,
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0.0,
        };
        est.record_probe_at(&wifi, &p, later);
        let e = est.estimate_at(&wifi, later);
        assert_eq!(
            (e.uplink_mbps, e.downlink_mbps, e.rtt_ms),
            (3.0, 9.0, 70.0),
            "a probe replaces stale history"
        );
    }

    #[test]
    fn estimates_decay_toward_the_prior_with_age() {
        let lte = net("lte", NetworkKind::Cellular(CellularGen::Lte));
        let prior = LinkEstimate::prior(lte.network);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut est = NetworkEstimator::default();
        assert_eq!(est.config().half_life_ms, 120_000.0);
        for _ in 0..8 {
            est.record_at(&lte, &sample(300_000, 0.13, 150.0), t0);
        }
        let now = est.estimate_at(&lte, t0);
        assert!((now.uplink_mbps / 0.13 - 1.0).abs() < 1e-9, "{now:?}");
        // one half-life: the measurement keeps half the weight (geometric blend with the prior)
        let one = est.estimate_at(&lte, at(120));
        let want = (0.13f64 * prior.uplink_mbps).sqrt();
        assert!((one.uplink_mbps / want - 1.0).abs() < 1e-9, "{one:?} vs {want}");
        let want_rtt = (150.0f64 * prior.rtt_ms).sqrt();
        assert!((one.rtt_ms / want_rtt - 1.0).abs() < 1e-6, "{one:?} vs {want_rtt}");
        assert!((one.confidence / now.confidence - 0.5).abs() < 1e-9, "{one:?} {now:?}");
        // four half-lives: mostly the prior; monotone on the way
        let four = est.estimate_at(&lte, at(480));
        assert!(four.uplink_mbps > 4.5 && four.uplink_mbps < prior.uplink_mbps, "{four:?}");
        assert!(now.uplink_mbps < one.uplink_mbps && one.uplink_mbps < four.uplink_mbps);
        // decay off: the estimate stays as measured
        let mut off = NetworkEstimator::new(EstimatorConfig { half_life_ms: 0.0, ..Default::default() });
        for _ in 0..8 {
            off.record_at(&lte, &sample(300_000, 0.13, 150.0), t0);
        }
        let e = off.estimate_at(&lte, at(3_600));
        assert!((e.uplink_mbps / 0.13 - 1.0).abs() < 1e-9, "{e:?}");
        assert_eq!(decay_weight(f64::INFINITY, 1.0), 0.0);
        assert_eq!(decay_weight(5.0, 0.0), 1.0);
    }

    #[test]
    fn a_stale_window_is_replaced_by_its_next_sample() {
        let lte = net("lte", NetworkKind::Cellular(CellularGen::Lte));
        let t0 = Instant::now();
        let mut est = NetworkEstimator::default();
        for _ in 0..8 {
            est.record_at(&lte, &sample(300_000, 0.13, 150.0), t0);
        }
        // while fresh, one fast sample is an outlier: held back
        let soon = t0 + Duration::from_secs(10);
        est.record_at(&lte, &sample(300_000, 18.88, 10.0), soon);
        let held = est.estimate_at(&lte, soon);
        assert!(held.uplink_mbps < 0.5 && held.samples == 8, "{held:?}");
        // after fresh_ms without a sample, the next one replaces the window
        let later = soon + Duration::from_millis(est.config().fresh_ms as u64 + 1);
        est.record_at(&lte, &sample(300_000, 18.88, 10.0), later);
        let e = est.estimate_at(&lte, later);
        assert!((e.uplink_mbps / 18.88 - 1.0).abs() < 1e-6, "{e:?}");
        assert!((e.rtt_ms / 10.0 - 1.0).abs() < 1e-6, "{e:?}");
        assert_eq!(e.samples, 1);
    }

    #[test]
    fn forgets_the_least_recently_used_network() {
        let t0 = Instant::now();
        let mut est = NetworkEstimator::new(EstimatorConfig { max_networks: 2, ..Default::default() });
        for id in ["a", "b", "c"] {
            est.record_at(&net(id, NetworkKind::Wifi), &sample(300_000, 10.0, 10.0), t0);
        }
        assert_eq!(est.estimate_at(&net("a", NetworkKind::Wifi), t0).samples, 0);
        assert_eq!(est.estimate_at(&net("c", NetworkKind::Wifi), t0).samples, 1);
    }

    #[test]
    fn two_sizes_separate_rtt_from_throughput() {
        // 1 kB and 201 kB over 10 Mbps with 50 ms RTT
        let t = |b: u64| 50.0 + b as f64 * 8.0 / 1e4;
        let (bw, rtt) = separate_rtt((1_000, t(1_000)), (201_000, t(201_000))).expect("solvable");
        assert!((bw - 10.0).abs() < 1e-9 && (rtt - 50.0).abs() < 1e-9, "{bw} {rtt}");
        assert!(matches!(separate_rtt((1_000, 5.0), (2_000, 5.0)), Err(ProbeError::Degenerate { .. })));
        assert!(matches!(separate_rtt((1_000, f64::NAN), (2_000, 5.0)), Err(ProbeError::Degenerate { .. })));
    }
}
