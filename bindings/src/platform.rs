//! Platform signals: what the phone says about its network, battery and heat, supplied by
//! Kotlin or Swift through [`PlatformSignalsProvider`] and read by the planner on every request.
//! The state itself is the planner's [`tc::PlatformState`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tandem_sdk as tc;

use crate::error::TandemError;

/// Supplies the phone's state. The Android and iOS libraries implement it from the platform's
/// network, battery and power APIs; tests implement it to force a state.
///
/// Called on every request, from a Tandem worker thread: return a cached snapshot that the
/// platform's callbacks keep up to date, never block. If it throws, the request goes on with
/// every field unknown (and a warning is logged once).
#[uniffi::export(with_foreign)]
pub trait PlatformSignalsProvider: Send + Sync {
    /// The phone's state now.
    fn current_state(&self) -> Result<tc::PlatformState, TandemError>;
}

/// The state returned when nothing is known.
#[uniffi::export]
pub fn unknown_platform_state() -> tc::PlatformState {
    tc::PlatformState::default()
}

/// A foreign [`PlatformSignalsProvider`] as the core's [`tc::PlatformSignals`].
pub(crate) struct ForeignSignals {
    provider: Arc<dyn PlatformSignalsProvider>,
    warned: AtomicBool,
}

impl ForeignSignals {
    pub(crate) fn new(provider: Arc<dyn PlatformSignalsProvider>) -> Self {
        ForeignSignals { provider, warned: AtomicBool::new(false) }
    }
}

impl tc::PlatformSignals for ForeignSignals {
    fn state(&self) -> tc::PlatformState {
        match self.provider.current_state() {
            Ok(state) => sanitized(state),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    log::warn!("platform signals failed, treating the state as unknown: {e}");
                }
                tc::PlatformState::default()
            }
        }
    }
}

/// A state from foreign code, with what the FFI types cannot rule out made unknown: a battery
/// level outside 0..=1 (or NaN) from a buggy provider is unknown, not a guess.
fn sanitized(mut state: tc::PlatformState) -> tc::PlatformState {
    state.battery_level = state.battery_level.filter(|l| (0.0..=1.0).contains(l));
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc::PlatformSignals;

    struct Failing;
    impl PlatformSignalsProvider for Failing {
        fn current_state(&self) -> Result<tc::PlatformState, TandemError> {
            Err(TandemError::Callback { reason: "no permission".into() })
        }
    }

    struct Fixed(tc::PlatformState);
    impl PlatformSignalsProvider for Fixed {
        fn current_state(&self) -> Result<tc::PlatformState, TandemError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn a_failing_provider_means_unknown() {
        let s = ForeignSignals::new(Arc::new(Failing));
        assert_eq!(s.state(), tc::PlatformState::default());
        assert_eq!(s.state(), tc::PlatformState::default(), "and again, without a second warning");
        assert_eq!(unknown_platform_state(), tc::PlatformState::default());
    }

    #[test]
    fn states_pass_through_and_bad_levels_are_dropped() {
        let s = tc::PlatformState {
            network: tc::NetworkKind::Cellular(tc::CellularGen::Lte),
            network_id: "op:1".into(),
            metered: true,
            battery_level: Some(0.5),
            charging: Some(false),
            low_power: true,
            thermal: tc::ThermalState::Serious,
        };
        assert_eq!(ForeignSignals::new(Arc::new(Fixed(s.clone()))).state(), s);
        let nan = tc::PlatformState { battery_level: Some(f32::NAN), ..s.clone() };
        assert_eq!(ForeignSignals::new(Arc::new(Fixed(nan))).state().battery_level, None);
        let percent = tc::PlatformState { battery_level: Some(42.0), ..s };
        assert_eq!(
            ForeignSignals::new(Arc::new(Fixed(percent))).state().battery_level,
            None,
            "a percentage is not a fraction"
        );
    }
}
