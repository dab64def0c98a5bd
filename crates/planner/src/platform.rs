//! What the phone says about itself, as the planner sees it: network, battery, power mode and
//! thermal state. Where these values come from (the `PlatformSignals` trait, Android, iOS,
//! desktop Linux) is the SDK's business (`tandem_sdk::platform`).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Generation of a cellular radio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CellularGen {
    /// GSM/EDGE and similar.
    #[serde(rename = "2g")]
    G2,
    /// UMTS/HSPA.
    #[serde(rename = "3g")]
    G3,
    /// 4G LTE (including LTE Cat-1).
    Lte,
    /// 5G NR.
    #[serde(rename = "5g")]
    G5,
    /// A cellular radio of unknown generation.
    #[default]
    Unknown,
}

/// The kind of network the phone's traffic currently goes through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NetworkKind {
    /// Wi-Fi.
    Wifi,
    /// A cellular (mobile) network.
    Cellular(#[cfg_attr(feature = "uniffi", uniffi(name = "generation"))] CellularGen),
    /// A wired network.
    Ethernet,
    /// No network: offline.
    #[cfg_attr(feature = "uniffi", uniffi(name = "Offline"))]
    None,
    /// The platform could not tell.
    #[default]
    Unknown,
}

impl NetworkKind {
    /// Short lowercase name: `wifi`, `lte`, `3g`, `5g`, `2g`, `cellular`, `ethernet`, `none`,
    /// `unknown` (what [`FromStr`] parses).
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Wifi => "wifi",
            NetworkKind::Cellular(CellularGen::G2) => "2g",
            NetworkKind::Cellular(CellularGen::G3) => "3g",
            NetworkKind::Cellular(CellularGen::Lte) => "lte",
            NetworkKind::Cellular(CellularGen::G5) => "5g",
            NetworkKind::Cellular(CellularGen::Unknown) => "cellular",
            NetworkKind::Ethernet => "ethernet",
            NetworkKind::None => "none",
            NetworkKind::Unknown => "unknown",
        }
    }

    /// Whether traffic can flow at all (not [`NetworkKind::None`]).
    pub fn is_online(self) -> bool {
        self != NetworkKind::None
    }
}

impl std::fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A network kind name that [`NetworkKind::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network `{0}`: expected wifi, ethernet, lte (or 4g, cat1), 3g, 2g, 5g, cellular, none or unknown")]
pub struct UnknownNetworkName(pub String);

impl FromStr for NetworkKind {
    type Err = UnknownNetworkName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "wifi" | "wi-fi" | "wlan" => NetworkKind::Wifi,
            "ethernet" | "wired" => NetworkKind::Ethernet,
            "lte" | "4g" | "cat1" => NetworkKind::Cellular(CellularGen::Lte),
            "3g" => NetworkKind::Cellular(CellularGen::G3),
            "2g" => NetworkKind::Cellular(CellularGen::G2),
            "5g" => NetworkKind::Cellular(CellularGen::G5),
            "cellular" => NetworkKind::Cellular(CellularGen::Unknown),
            "none" | "offline" => NetworkKind::None,
            "unknown" => NetworkKind::Unknown,
            _ => return Err(UnknownNetworkName(s.to_string())),
        })
    }
}

/// How hot the device is, in the platforms' common four levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ThermalState {
    /// Normal.
    Nominal,
    /// Warm: the OS may start to limit performance.
    Fair,
    /// Hot: performance is limited; shed work.
    Serious,
    /// Critical: shed all work you can.
    Critical,
    /// The platform could not tell.
    #[default]
    Unknown,
}

/// A snapshot of what the planner needs to know about the phone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PlatformState {
    /// The network the traffic goes through.
    pub network: NetworkKind,
    /// An opaque identifier of that network (e.g. a hash of the Wi-Fi BSSID or the cellular
    /// operator): network estimates are kept per id. Empty when unknown.
    pub network_id: String,
    /// Whether data on this network is metered (costs the user money).
    pub metered: bool,
    /// Battery charge, 0.0 (empty) to 1.0 (full); `None` without a battery or when unknown.
    pub battery_level: Option<f32>,
    /// Whether the phone is plugged in; `None` when unknown.
    pub charging: Option<bool>,
    /// Whether the OS's low-power (battery saver) mode is on.
    pub low_power: bool,
    /// How hot the device is.
    pub thermal: ThermalState,
}

impl PlatformState {
    /// The key network estimates are kept under: the network id, or the kind's name when the
    /// platform gives no id.
    pub fn network_key(&self) -> String {
        if self.network_id.is_empty() {
            self.network.name().to_string()
        } else {
            self.network_id.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_serializes_in_snake_case() {
        let s = PlatformState {
            network: NetworkKind::Cellular(CellularGen::Lte),
            thermal: ThermalState::Nominal,
            ..Default::default()
        };
        let json = serde_json::to_string(&s).expect("serializes");
        assert!(json.contains(r#""network":{"cellular":"lte"}"#), "{json}");
        assert!(json.contains(r#""thermal":"nominal""#), "{json}");
        let back: PlatformState = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, s);
    }

    #[test]
    fn network_names_round_trip() {
        for k in [
            NetworkKind::Wifi,
            NetworkKind::Ethernet,
            NetworkKind::Cellular(CellularGen::G2),
            NetworkKind::Cellular(CellularGen::G3),
            NetworkKind::Cellular(CellularGen::Lte),
            NetworkKind::Cellular(CellularGen::G5),
            NetworkKind::Cellular(CellularGen::Unknown),
            NetworkKind::None,
            NetworkKind::Unknown,
        ] {
            assert_eq!(k.name().parse::<NetworkKind>(), Ok(k));
        }
        assert!("carrier-pigeon".parse::<NetworkKind>().is_err());
    }
}
