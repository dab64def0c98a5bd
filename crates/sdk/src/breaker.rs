//! The circuit breaker that stops a session from offloading to a failing edge.
//!
//! ```text
//!            N consecutive failures                 back-off elapsed
//!  Closed ───────────────────────────► Open ─────────────────────────► HalfOpen
//!    ▲                                  ▲                                  │
//!    │        trial succeeds            │   trial fails (back-off doubles, │
//!    └──────────────────────────────────┼────── capped)                    │
//!    │                                  └──────────────────────────────────┤
//!    └─────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! - **Closed**: requests offload; each failure counts, a success resets the count. After
//!   [`BreakerConfig::failure_threshold`] failures in a row the breaker opens.
//! - **Open**: no request goes to the edge (they run locally, reason `breaker_open`) until
//!   the back-off has elapsed. The first back-off is [`BreakerConfig::base_backoff_ms`].
//! - **HalfOpen**: exactly one request (the *trial*) may use the edge; the others still run
//!   locally. A successful trial closes the breaker and resets the back-off; a failed one
//!   opens it again for twice the previous back-off, at most
//!   [`BreakerConfig::max_backoff_ms`]. A trial that ends without an outcome (the caller
//!   dropped the request, or the planner kept it local) lets the next request be the trial.
//!
//! Outcomes of requests that were let through before the breaker opened are ignored once it
//! is open: only the trial decides when to trust the edge again.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Tuning of the circuit breaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// The first open period, ms.
    pub base_backoff_ms: u64,
    /// The longest open period, ms: each failed trial doubles the period up to this.
    pub max_backoff_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 3, base_backoff_ms: 1_000, max_backoff_ms: 60_000 }
    }
}

/// Where the breaker is in its cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerPhase {
    /// The edge is trusted: requests offload.
    #[default]
    Closed,
    /// The edge failed repeatedly: requests run locally until the back-off has elapsed.
    Open,
    /// One trial request may use the edge; the others run locally.
    HalfOpen,
}

/// A snapshot of the breaker, for reports, logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakerState {
    /// The phase now.
    pub phase: BreakerPhase,
    /// Failures in a row counted while closed.
    pub consecutive_failures: u32,
    /// The current (or next) open period, ms.
    pub backoff_ms: u64,
    /// While open: time left before a trial is allowed, ms.
    pub retry_in_ms: Option<u64>,
    /// How many times the breaker has opened since the session started.
    pub times_opened: u64,
    /// How many times a trial has closed it again.
    pub times_closed: u64,
}

/// What the breaker lets a request do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Closed: use the edge.
    Pass,
    /// Half-open: this request is the trial; its outcome decides.
    Trial,
    /// Open (or a trial is already running): run locally.
    Open,
}

/// The breaker's state machine. Time is passed in so that tests are deterministic.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    phase: BreakerPhase,
    failures: u32,
    backoff: Duration,
    open_until: Option<Instant>,
    trial_in_flight: bool,
    times_opened: u64,
    times_closed: u64,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        let backoff = Duration::from_millis(config.base_backoff_ms);
        Breaker {
            config,
            phase: BreakerPhase::Closed,
            failures: 0,
            backoff,
            open_until: None,
            trial_in_flight: false,
            times_opened: 0,
            times_closed: 0,
        }
    }

    /// Asks to use the edge now. A [`Gate::Trial`] must be followed by [`Breaker::success`],
    /// [`Breaker::failure`] (with `trial: true`) or [`Breaker::abandon_trial`].
    pub(crate) fn gate(&mut self, now: Instant) -> Gate {
        match self.phase {
            BreakerPhase::Closed => Gate::Pass,
            BreakerPhase::Open => {
                if self.open_until.is_some_and(|t| now >= t) {
                    self.phase = BreakerPhase::HalfOpen;
                    self.trial_in_flight = true;
                    log::info!("circuit breaker half-open: one trial request may use the edge");
                    Gate::Trial
                } else {
                    Gate::Open
                }
            }
            BreakerPhase::HalfOpen if !self.trial_in_flight => {
                self.trial_in_flight = true;
                Gate::Trial
            }
            BreakerPhase::HalfOpen => Gate::Open,
        }
    }

    /// Whether a request would be let through now, without claiming the trial.
    pub(crate) fn would_pass(&self, now: Instant) -> bool {
        match self.phase {
            BreakerPhase::Closed => true,
            BreakerPhase::Open => self.open_until.is_some_and(|t| now >= t),
            BreakerPhase::HalfOpen => !self.trial_in_flight,
        }
    }

    /// The edge answered correctly.
    pub(crate) fn success(&mut self, trial: bool) {
        match self.phase {
            BreakerPhase::Closed => self.failures = 0,
            BreakerPhase::HalfOpen if trial => {
                self.phase = BreakerPhase::Closed;
                self.failures = 0;
                self.trial_in_flight = false;
                self.open_until = None;
                self.backoff = Duration::from_millis(self.config.base_backoff_ms);
                self.times_closed += 1;
                log::info!("circuit breaker closed: the trial request succeeded");
            }
            BreakerPhase::HalfOpen | BreakerPhase::Open => {}
        }
    }

    /// The edge failed (unreachable, timed out, reset, 5xx, malformed answer...).
    pub(crate) fn failure(&mut self, trial: bool, now: Instant) {
        match self.phase {
            BreakerPhase::Closed => {
                self.failures += 1;
                if self.failures >= self.config.failure_threshold.max(1) {
                    self.open(now, "consecutive failures");
                }
            }
            BreakerPhase::HalfOpen if trial => {
                let max = Duration::from_millis(self.config.max_backoff_ms.max(self.config.base_backoff_ms));
                self.backoff = (self.backoff * 2).min(max);
                self.trial_in_flight = false;
                self.open(now, "the trial request failed");
            }
            BreakerPhase::HalfOpen | BreakerPhase::Open => {}
        }
    }

    /// The trial ended without an outcome: the next request may be the trial.
    pub(crate) fn abandon_trial(&mut self) {
        if self.phase == BreakerPhase::HalfOpen {
            self.trial_in_flight = false;
        }
    }

    fn open(&mut self, now: Instant, why: &str) {
        self.phase = BreakerPhase::Open;
        self.open_until = Some(now + self.backoff);
        self.times_opened += 1;
        log::info!("circuit breaker open for {} ms ({why}): requests run locally", self.backoff.as_millis());
    }

    /// A snapshot as of `now`.
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        BreakerState {
            phase: self.phase,
            consecutive_failures: self.failures,
            backoff_ms: self.backoff.as_millis() as u64,
            retry_in_ms: match (self.phase, self.open_until) {
                (BreakerPhase::Open, Some(t)) => Some(t.saturating_duration_since(now).as_millis() as u64),
                _ => None,
            },
            times_opened: self.times_opened,
            times_closed: self.times_closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig { failure_threshold: 3, base_backoff_ms: 100, max_backoff_ms: 350 })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.failure(false, t0);
        b.failure(false, t0);
        b.success(false);
        b.failure(false, t0);
        b.failure(false, t0);
        assert_eq!(b.gate(t0), Gate::Pass, "a success in between resets the count");
        b.failure(false, t0);
        assert_eq!(b.state(t0).phase, BreakerPhase::Open);
        assert_eq!(b.gate(t0 + Duration::from_millis(99)), Gate::Open);
        assert_eq!(b.state(t0).retry_in_ms, Some(100));
    }

    #[test]
    fn one_trial_at_a_time_and_back_off_doubles_with_a_cap() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.failure(false, t0);
        }
        let mut now = t0 + Duration::from_millis(100);
        let mut expected_backoff = [200, 350, 350].into_iter();
        for _ in 0..3 {
            assert_eq!(b.gate(now), Gate::Trial);
            assert_eq!(b.gate(now), Gate::Open, "only one trial");
            b.failure(false, now);
            assert_eq!(b.state(now).phase, BreakerPhase::HalfOpen, "non-trial outcomes are ignored");
            b.failure(true, now);
            let backoff = expected_backoff.next().expect("three rounds");
            assert_eq!(b.state(now).backoff_ms, backoff);
            assert_eq!(b.gate(now + Duration::from_millis(backoff - 1)), Gate::Open);
            now += Duration::from_millis(backoff);
        }
        assert_eq!(b.gate(now), Gate::Trial);
        b.success(true);
        let s = b.state(now);
        assert_eq!(
            (s.phase, s.backoff_ms, s.times_opened, s.times_closed),
            (BreakerPhase::Closed, 100, 4, 1)
        );
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_request_try() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.failure(false, t0);
        }
        let later = t0 + Duration::from_millis(150);
        assert!(b.would_pass(later));
        assert_eq!(b.gate(later), Gate::Trial);
        assert!(!b.would_pass(later));
        b.abandon_trial();
        assert_eq!(b.gate(later), Gate::Trial);
        b.success(true);
        assert_eq!(b.gate(later), Gate::Pass);
    }

    #[test]
    fn late_outcomes_while_open_are_ignored() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.failure(false, t0);
        }
        b.success(false);
        b.failure(false, t0);
        let s = b.state(t0);
        assert_eq!((s.phase, s.times_opened), (BreakerPhase::Open, 1));
    }
}
