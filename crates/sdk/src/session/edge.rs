//! The session's link to its edge: whether the edge holds this model file (verification),
//! its profile fetch, and how exchanges count for the circuit breaker. What is said on the
//! wire is the [`Transport`]'s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Inner;
use crate::devprofile::DeviceProfile;
use crate::netest::TransferSample;
use crate::planner::EdgeProfile;
use crate::platform::PlatformState;
use crate::report::FallbackReason;
use crate::transport::{OffloadError, Transport, VerifyError};
use tandem_model::util::short_hash as short;

#[derive(Clone, Debug, PartialEq, Default)]
pub(super) enum Verification {
    #[default]
    Unverified,
    Verified,
    Mismatch {
        served: String,
    },
}

#[derive(Default)]
pub(super) struct EdgeState {
    pub verification: Verification,
    /// Why the last model check failed.
    pub last_error: Option<(FallbackReason, String)>,
    pub last_refresh: Option<Instant>,
}

pub(super) struct EdgeLink {
    pub transport: Arc<dyn Transport>,
    state: Mutex<EdgeState>,
    /// Bumped after every model check, so waiting requests wake up.
    pub generation: watch::Sender<u64>,
    pub connecting: AtomicBool,
    pub refreshing: AtomicBool,
}

impl EdgeLink {
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        let (generation, _) = watch::channel(0u64);
        EdgeLink {
            transport,
            state: Mutex::new(EdgeState::default()),
            generation,
            connecting: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, EdgeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The profile to plan with: what the transport fetched or learned (adjusted by the load
    /// seen in answers), or an estimate from the device profile.
    pub fn planning_profile(&self, inner: &Inner, device: &DeviceProfile) -> EdgeProfile {
        self.transport.planning_profile(estimated_edge_profile(inner, device))
    }
}

/// The edge profile assumed before anything is fetched: the device's, sped up.
pub(super) fn estimated_edge_profile(inner: &Inner, device: &DeviceProfile) -> EdgeProfile {
    let mut p = device.scaled_edge_profile(inner.model.cuts(), inner.config.assumed_edge_speedup.max(1e-3));
    p.hash = inner.model.hash().to_string();
    p
}

/// The trial request of a half-open breaker: if it ends without an outcome (cancelled, or
/// the plan stayed local), the next request may be the trial.
pub(super) struct TrialGuard<'a> {
    pub inner: &'a Inner,
    pub trial: bool,
    pub resolved: bool,
}

impl TrialGuard<'_> {
    pub fn success(&mut self) {
        self.resolved = true;
        self.inner.breaker().success(self.trial);
    }

    pub fn failure(&mut self) {
        self.resolved = true;
        self.inner.breaker().failure(self.trial, Instant::now());
    }
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if self.trial && !self.resolved {
            self.inner.breaker().abandon_trial();
        }
    }
}

impl Inner {
    /// Records a failed exchange: breaker, estimator, hash state.
    pub(super) fn edge_failed(
        &self,
        e: &OffloadError,
        guard: &mut TrialGuard,
        budget_limited: bool,
        state: &PlatformState,
        bytes: u64,
        attempt_ms: f64,
    ) {
        match e.reason {
            FallbackReason::HashMismatch => {
                if let Some(edge) = &self.edge {
                    self.set_mismatch(
                        edge,
                        "another model file (the edge refused the request's hash)".into(),
                    );
                }
            }
            FallbackReason::Timeout if budget_limited => {
                // The deadline left the edge less than its predicted time: our impatience,
                // not the edge's failure. The upload still took at least this long: when
                // that bound is below the current uplink estimate, the estimate was too
                // optimistic (the link got worse), and the bound is the best sample there is.
                let mut est = self.estimator();
                let min_bytes = est.config().min_transfer_bytes;
                let bound_mbps = bytes as f64 * 8.0 / (attempt_ms.max(1e-3) * 1e3);
                if e.sent && bytes >= min_bytes && bound_mbps < est.estimate(state).uplink_mbps {
                    est.record(
                        state,
                        &TransferSample { bytes_up: bytes, upload_ms: attempt_ms, ..Default::default() },
                    );
                }
            }
            FallbackReason::Timeout => {
                guard.failure();
                if e.sent && bytes > 0 {
                    // The upload took at least this long: an upper bound of the uplink.
                    self.estimator().record(
                        state,
                        &TransferSample { bytes_up: bytes, upload_ms: attempt_ms, ..Default::default() },
                    );
                }
            }
            r if r.is_edge_failure() => guard.failure(),
            _ => {}
        }
    }

    pub(super) fn mismatch_detail(&self, served: &str) -> String {
        let name = self.edge.as_ref().map_or("", |e| e.transport.model_name());
        format!(
            "the edge serves `{name}` from {served}, this phone has {}: use the same model file on both sides",
            short(self.model.hash())
        )
    }

    pub(super) fn set_mismatch(&self, edge: &EdgeLink, served: String) {
        let mut state = edge.lock();
        if !matches!(state.verification, Verification::Mismatch { .. }) {
            log::warn!(
                "model hash mismatch: the edge at {} serves `{}` from {served}, this phone has {}; \
                 running locally until the same model file is served",
                edge.transport.base_url(),
                edge.transport.model_name(),
                short(self.model.hash())
            );
        }
        state.verification = Verification::Mismatch { served };
        drop(state);
        edge.transport.forget_profile();
    }

    /// Waits up to `wait` for the edge's model check (starting one if needed). `trial`:
    /// `Some(is_trial)` when a request that passed the breaker asks, so the check's outcome
    /// counts for the breaker; `None` for tools that just want the status.
    pub(super) async fn ensure_verified(
        self: &Arc<Self>,
        wait: Duration,
        trial: Option<bool>,
    ) -> Result<(), (FallbackReason, String)> {
        let Some(edge) = &self.edge else {
            return Err((FallbackReason::EdgeUnreachable, "the session has no edge".into()));
        };
        let mut rx = edge.generation.subscribe();
        let start = *rx.borrow_and_update();
        if let Some(v) = self.verdict(edge, false) {
            return v;
        }
        self.start_connect(trial.unwrap_or(false), trial.is_some());
        let waited = tokio::time::timeout(wait, async {
            while *rx.borrow_and_update() == start {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        match self.verdict(edge, true) {
            Some(v) => v,
            None if waited.is_err() => Err((
                FallbackReason::Timeout,
                format!("the edge's model check did not finish within {} ms", wait.as_millis()),
            )),
            None => Err((FallbackReason::EdgeUnreachable, "the edge's model check failed".into())),
        }
    }

    /// The model check's verdict: `None` while unknown. `with_error`: report the last
    /// check's failure as the verdict.
    pub(super) fn verdict(
        &self,
        edge: &EdgeLink,
        with_error: bool,
    ) -> Option<Result<(), (FallbackReason, String)>> {
        let state = edge.lock();
        match &state.verification {
            Verification::Verified => Some(Ok(())),
            Verification::Mismatch { served } => {
                let served = served.clone();
                drop(state);
                Some(Err((FallbackReason::HashMismatch, self.mismatch_detail(&served))))
            }
            Verification::Unverified if with_error => state.last_error.clone().map(Err),
            Verification::Unverified => None,
        }
    }

    /// Starts the model check (and profile fetch) unless one is running. `count`: its
    /// outcome counts for the breaker (`trial`: as the half-open trial).
    pub(super) fn start_connect(self: &Arc<Self>, trial: bool, count: bool) {
        let Some(edge) = &self.edge else { return };
        if edge.connecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            let edge = inner.edge.as_ref().expect("checked above");
            let result = inner.check_edge().await;
            match &result {
                Ok(()) => {
                    if count {
                        inner.breaker().success(trial);
                    }
                }
                Err((reason, detail)) => {
                    log::debug!("edge model check failed ({}): {detail}", reason.code());
                    if count && reason.is_edge_failure() {
                        inner.breaker().failure(trial, Instant::now());
                    } else if count && trial {
                        inner.breaker().abandon_trial();
                    }
                }
            }
            edge.connecting.store(false, Ordering::SeqCst);
            edge.generation.send_modify(|g| *g += 1);
        });
    }

    /// Checks that the edge holds this model file and fetches its profile, then updates the
    /// edge state. Round-trip samples of the checks teach the estimator.
    pub(super) async fn check_edge(&self) -> Result<(), (FallbackReason, String)> {
        let edge = self.edge.as_ref().expect("only called with an edge");
        match edge.transport.verify().await {
            Ok(sample) => {
                self.record_sample(sample);
                // The profile first (the edge's per-cut costs, its cloud tier), then the
                // verdict: a request that sees "verified" plans with what the edge offers, not
                // with the estimate (a forced cloud cut was refused in that window).
                self.fetch_profile(edge).await;
                let mut state = edge.lock();
                if matches!(state.verification, Verification::Mismatch { .. }) {
                    log::info!("the edge now serves the same model file: offloading again");
                }
                state.verification = Verification::Verified;
                state.last_error = None;
            }
            Err(VerifyError::Mismatch(served)) => {
                self.set_mismatch(edge, served.clone());
                return Err((FallbackReason::HashMismatch, self.mismatch_detail(&served)));
            }
            Err(VerifyError::Failed(e)) => {
                edge.lock().last_error = Some((e.reason, e.detail.clone()));
                return Err((e.reason, e.detail));
            }
        }
        Ok(())
    }

    /// Fetches the edge's profile; failures keep the previous one (or the estimate).
    async fn fetch_profile(&self, edge: &EdgeLink) {
        let device = self.device_state().profile.clone();
        let estimate = estimated_edge_profile(self, &device);
        match edge.transport.fetch_profile(&estimate).await {
            Ok(sample) => {
                self.record_sample(sample);
                edge.lock().last_refresh = Some(Instant::now());
            }
            Err(e) => log::debug!("fetching the edge profile failed ({}): {}", e.reason.code(), e.detail),
        }
    }

    fn record_sample(&self, sample: Option<TransferSample>) {
        if let Some(sample) = sample {
            let state = self.signals.state();
            self.estimator().record(&state, &sample);
        }
    }
}
