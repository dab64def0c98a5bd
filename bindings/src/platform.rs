//! Platform signals: what the phone says about its network, battery and heat, supplied by
//! Kotlin or Swift through [`PlatformSignalsProvider`] and read by the planner on every request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tandem_sdk as tc;

use crate::error::TandemError;

/// Generation of a cellular radio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CellularGen {
    /// GSM/EDGE and similar.
    G2,
    /// UMTS/HSPA.
    G3,
    /// 4G LTE.
    Lte,
    /// 5G NR.
    G5,
    /// The platform does not say (e.g. no permission to read it).
    Unknown,
}

/// The kind of network the phone's traffic currently goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum NetworkKind {
    /// Wi-Fi.
    Wifi,
    /// A cellular (mobile) network of the given generation.
    Cellular {
        /// The radio generation.
        generation: CellularGen,
    },
    /// A wired network.
    Ethernet,
    /// No network: offline. Nothing is offloaded.
    Offline,
    /// The platform could not tell.
    Unknown,
}

/// How hot the device is, in the platforms' common four levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ThermalState {
    /// Normal.
    Nominal,
    /// Warm: the OS may start to limit performance.
    Fair,
    /// Hot: performance is limited; Tandem sheds phone compute.
    Serious,
    /// Critical: Tandem sheds all phone compute it can.
    Critical,
    /// The platform could not tell.
    Unknown,
}

/// A snapshot of the phone's state, as the planner needs it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PlatformState {
    /// The network the traffic goes through.
    pub network: NetworkKind,
    /// An opaque id of that network (e.g. a hash of the Wi-Fi network or the operator):
    /// bandwidth estimates are kept per id. Empty when unknown. Never a raw SSID or BSSID.
    pub network_id: String,
    /// Whether data on this network costs the user money (metered).
    pub metered: bool,
    /// Battery charge from 0.0 (empty) to 1.0 (full); `None` when unknown.
    pub battery_level: Option<f32>,
    /// Whether the phone is plugged in; `None` when unknown.
    pub charging: Option<bool>,
    /// Whether the OS's battery saver (Android) or Low Power Mode (iOS) is on.
    pub low_power: bool,
    /// How hot the device is.
    pub thermal: ThermalState,
}

/// Supplies the phone's state. The Android and iOS libraries implement it from the platform's
/// network, battery and power APIs; tests implement it to force a state.
///
/// Called on every request, from a Tandem worker thread: return a cached snapshot that the
/// platform's callbacks keep up to date, never block. If it throws, the request goes on with
/// every field unknown (and a warning is logged once).
#[uniffi::export(with_foreign)]
pub trait PlatformSignalsProvider: Send + Sync {
    /// The phone's state now.
    fn current_state(&self) -> Result<PlatformState, TandemError>;
}

/// The state returned when nothing is known.
#[uniffi::export]
pub fn unknown_platform_state() -> PlatformState {
    tc::PlatformState::default().into()
}

impl From<CellularGen> for tc::CellularGen {
    fn from(g: CellularGen) -> Self {
        match g {
            CellularGen::G2 => tc::CellularGen::G2,
            CellularGen::G3 => tc::CellularGen::G3,
            CellularGen::Lte => tc::CellularGen::Lte,
            CellularGen::G5 => tc::CellularGen::G5,
            CellularGen::Unknown => tc::CellularGen::Unknown,
        }
    }
}

impl From<tc::CellularGen> for CellularGen {
    fn from(g: tc::CellularGen) -> Self {
        match g {
            tc::CellularGen::G2 => CellularGen::G2,
            tc::CellularGen::G3 => CellularGen::G3,
            tc::CellularGen::Lte => CellularGen::Lte,
            tc::CellularGen::G5 => CellularGen::G5,
            tc::CellularGen::Unknown => CellularGen::Unknown,
        }
    }
}

impl From<NetworkKind> for tc::NetworkKind {
    fn from(k: NetworkKind) -> Self {
        match k {
            NetworkKind::Wifi => tc::NetworkKind::Wifi,
            NetworkKind::Cellular { generation } => tc::NetworkKind::Cellular(generation.into()),
            NetworkKind::Ethernet => tc::NetworkKind::Ethernet,
            NetworkKind::Offline => tc::NetworkKind::None,
            NetworkKind::Unknown => tc::NetworkKind::Unknown,
        }
    }
}

impl From<tc::NetworkKind> for NetworkKind {
    fn from(k: tc::NetworkKind) -> Self {
        match k {
            tc::NetworkKind::Wifi => NetworkKind::Wifi,
            tc::NetworkKind::Cellular(g) => NetworkKind::Cellular { generation: g.into() },
            tc::NetworkKind::Ethernet => NetworkKind::Ethernet,
            tc::NetworkKind::None => NetworkKind::Offline,
            tc::NetworkKind::Unknown => NetworkKind::Unknown,
        }
    }
}

impl From<ThermalState> for tc::ThermalState {
    fn from(t: ThermalState) -> Self {
        match t {
            ThermalState::Nominal => tc::ThermalState::Nominal,
            ThermalState::Fair => tc::ThermalState::Fair,
            ThermalState::Serious => tc::ThermalState::Serious,
            ThermalState::Critical => tc::ThermalState::Critical,
            ThermalState::Unknown => tc::ThermalState::Unknown,
        }
    }
}

impl From<tc::ThermalState> for ThermalState {
    fn from(t: tc::ThermalState) -> Self {
        match t {
            tc::ThermalState::Nominal => ThermalState::Nominal,
            tc::ThermalState::Fair => ThermalState::Fair,
            tc::ThermalState::Serious => ThermalState::Serious,
            tc::ThermalState::Critical => ThermalState::Critical,
            tc::ThermalState::Unknown => ThermalState::Unknown,
        }
    }
}

impl From<PlatformState> for tc::PlatformState {
    fn from(s: PlatformState) -> Self {
        tc::PlatformState {
            network: s.network.into(),
            network_id: s.network_id,
            metered: s.metered,
            // a level outside 0..=1 (or NaN) from a buggy provider is unknown, not a guess
            battery_level: s.battery_level.filter(|l| (0.0..=1.0).contains(l)),
            charging: s.charging,
            low_power: s.low_power,
            thermal: s.thermal.into(),
        }
    }
}

impl From<tc::PlatformState> for PlatformState {
    fn from(s: tc::PlatformState) -> Self {
        PlatformState {
            network: s.network.into(),
            network_id: s.network_id,
            metered: s.metered,
            battery_level: s.battery_level,
            charging: s.charging,
            low_power: s.low_power,
            thermal: s.thermal.into(),
        }
    }
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
            Ok(state) => state.into(),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    log::warn!("platform signals failed, treating the state as unknown: {e}");
                }
                tc::PlatformState::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc::PlatformSignals;

    struct Failing;
    impl PlatformSignalsProvider for Failing {
        fn current_state(&self) -> Result<PlatformState, TandemError> {
            Err(TandemError::Callback { reason: "no permission".into() })
        }
    }

    #[test]
    fn a_failing_provider_means_unknown() {
        let s = ForeignSignals::new(Arc::new(Failing));
        assert_eq!(s.state(), tc::PlatformState::default());
        assert_eq!(s.state(), tc::PlatformState::default(), "and again, without a second warning");
    }

    #[test]
    fn states_round_trip_and_bad_levels_are_dropped() {
        let s = PlatformState {
            network: NetworkKind::Cellular { generation: CellularGen::Lte },
            network_id: "op:1".into(),
            metered: true,
            battery_level: Some(0.5),
            charging: Some(false),
            low_power: true,
            thermal: ThermalState::Serious,
        };
        let core: tc::PlatformState = s.clone().into();
        assert_eq!(core.network, tc::NetworkKind::Cellular(tc::CellularGen::Lte));
        assert_eq!(PlatformState::from(core), s);
        let core: tc::PlatformState = PlatformState { battery_level: Some(f32::NAN), ..s.clone() }.into();
        assert_eq!(core.battery_level, None);
        let core: tc::PlatformState = PlatformState { battery_level: Some(42.0), ..s }.into();
        assert_eq!(core.battery_level, None, "a percentage is not a fraction");
    }
}
