//! The session's background work: calibrating the device profile, probing the link, and
//! refreshing the edge's profile and model check.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::edge::Verification;
use super::{blocking, Inner, SessionError};
use crate::check;
use crate::devprofile::DeviceProfile;
use crate::planner::Policy;
use crate::platform::{PlatformState, ThermalState};

impl Inner {
    /// Rescales the device estimate from a local run of the part before `cut` (until the
    /// profile is calibrated).
    pub(super) fn observe_phone(&self, cut: usize, run_ms: f64) {
        let cuts = self.model.cuts();
        let total = cuts.last().map_or(0, |c| c.macs_before);
        let before = cuts.get(cut).map_or(0, |c| c.macs_before);
        if total == 0 || before * 20 < total || !(run_ms.is_finite() && run_ms > 0.0) {
            return;
        }
        let mut d = self.device_state();
        if d.profile.measured {
            return;
        }
        let full_ms = run_ms * total as f64 / before as f64;
        let old_full = d.profile.before_ms.last().copied().unwrap_or(full_ms);
        let full_ms = if d.observed { 0.7 * old_full + 0.3 * full_ms } else { full_ms };
        d.observed = true;
        let thermal = d.profile.thermal_at_calibration;
        d.profile = DeviceProfile::estimate(self.model.hash(), &self.device_name, cuts, full_ms, thermal);
    }

    /// Starts a background calibration the first time, and again when the thermal state
    /// has changed since the last one (at most once a minute).
    pub(super) fn maybe_calibrate(self: &Arc<Self>, thermal: ThermalState) {
        if !self.config.calibrate || self.whole_only.is_some() {
            return;
        }
        {
            let mut d = self.device_state();
            if d.calibrating {
                return;
            }
            let first = !d.profile.measured && !d.calibration_attempted;
            let thermal_changed = d.profile.measured
                && thermal != ThermalState::Unknown
                && d.profile.thermal_at_calibration != thermal
                && d.last_calibration.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
            if !(first || thermal_changed) {
                return;
            }
            d.calibrating = true;
            d.calibration_attempted = true;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            if let Err(e) = inner.calibrate(thermal).await {
                log::warn!("device calibration failed, keeping the estimate: {e}");
            }
        });
    }

    pub(super) async fn calibrate(
        self: Arc<Self>,
        thermal: ThermalState,
    ) -> Result<DeviceProfile, SessionError> {
        self.device_state().calibrating = true;
        let exec = self.exec.clone();
        let store = self.store.clone();
        let options = self.config.calibration.clone();
        let device = self.device_name.clone();
        let result = blocking(move || {
            let inputs = check::seeded_inputs(exec.model().inputs());
            match store {
                Some(s) => s.load_or_calibrate(&exec, &inputs, &options, &device, thermal),
                None => DeviceProfile::calibrate(&exec, &inputs, &options, &device, thermal, |_, _| {}),
            }
        })
        .await;
        let mut d = self.device_state();
        d.calibrating = false;
        d.last_calibration = Some(Instant::now());
        let profile = result?;
        log::debug!(
            "device profile calibrated: full model {:.1} ms",
            profile.before_ms.last().copied().unwrap_or(0.0)
        );
        d.profile = profile.clone();
        Ok(profile)
    }

    /// Starts a background bandwidth probe when the network has no fresh estimate.
    pub(super) fn maybe_probe(self: &Arc<Self>, state: &PlatformState, policy: &Policy) {
        let Some(edge) = &self.edge else { return };
        // Only a server with the probe endpoint is probed (a plain OIP server has none).
        if !self.config.auto_probe
            || edge.transport.probe_target().is_none()
            || edge.lock().verification != Verification::Verified
            || !self.breaker().would_pass(Instant::now())
            || !self.estimator().needs_probe(state, policy.allow_metered)
        {
            return;
        }
        {
            let mut last = self.last_probe.lock().unwrap_or_else(|e| e.into_inner());
            // A failed or inconclusive probe is not retried on every request.
            let interval = Duration::from_millis(self.config.probe_interval_ms);
            if last.is_some_and(|t| t.elapsed() < interval) {
                return;
            }
            if self.probing.swap(true, Ordering::SeqCst) {
                return;
            }
            *last = Some(Instant::now());
        }
        let inner = self.clone();
        let state = state.clone();
        self.handle.spawn(async move {
            let edge = inner.edge.as_ref().expect("checked above");
            let Some(target) = edge.transport.probe_target() else {
                inner.probing.store(false, Ordering::SeqCst);
                return;
            };
            let result =
                crate::probe::probe(target.http, target.base_url, target.token, &inner.config.probe).await;
            match result {
                Ok(p) => {
                    log::debug!(
                        "probe: {:.2} Mbps up, {:.2} Mbps down, {:.1} ms RTT",
                        p.uplink_mbps,
                        p.downlink_mbps,
                        p.rtt_ms
                    );
                    inner.estimator().record_probe(&state, &p);
                }
                Err(e) => log::debug!("probe failed: {e}"),
            }
            inner.probing.store(false, Ordering::SeqCst);
        });
    }

    /// Refreshes the edge's profile (and model hash) in the background, once at a time.
    pub(super) fn start_refresh(self: &Arc<Self>) {
        let Some(edge) = &self.edge else { return };
        if edge.lock().last_refresh.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        if edge.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            inner.refresh().await;
            if let Some(edge) = &inner.edge {
                edge.refreshing.store(false, Ordering::SeqCst);
            }
        });
    }

    pub(super) async fn refresh(&self) {
        let Some(edge) = &self.edge else { return };
        if self.breaker().state(Instant::now()).phase != crate::breaker::BreakerPhase::Closed {
            return;
        }
        // Quietly: background checks do not count for the breaker; requests do.
        if let Err((reason, detail)) = self.check_edge().await {
            log::debug!("edge refresh failed ({}): {detail}", reason.code());
        }
        edge.generation.send_modify(|g| *g += 1);
    }
}

/// Refreshes the edge's profile and model hash periodically while the session lives.
pub(super) async fn refresher(weak: Weak<Inner>) {
    loop {
        let period = match weak.upgrade() {
            Some(inner) => Duration::from_millis(inner.config.edge_refresh_ms.max(100)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let edge = inner.edge.as_ref().expect("the refresher runs only with an edge");
        if !edge.refreshing.swap(true, Ordering::SeqCst) {
            inner.refresh().await;
            edge.refreshing.store(false, Ordering::SeqCst);
        }
    }
}
