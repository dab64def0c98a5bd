//! The emulated networks: the link presets of [`tandem_linkemu::presets`] (the papers'
//! uplinks with round trips and downlinks we chose, tabled there and in
//! `docs/PERFORMANCE.md`), as the benchmark records and plans with them.

use serde::{Deserialize, Serialize};
use tandem_linkemu::presets::{LinkPreset, PRESETS};
use tandem_sdk::{LinkEstimate, NetworkKind, PlatformState};

use crate::error::BenchError;

/// One emulated network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Short name: `cat1`, `3g`, `lte`, `wifi`.
    pub name: String,
    /// The network kind the phone reports (`lte`, `3g`, `wifi`): picks the radio energy model.
    pub kind: String,
    /// Phone-to-edge rate, Mbps.
    pub uplink_mbps: f64,
    /// Edge-to-phone rate, Mbps.
    pub downlink_mbps: f64,
    /// Round trip added by the link, ms.
    pub rtt_ms: f64,
}

impl Network {
    /// The four standard networks (the link presets), slowest first.
    pub fn standard() -> Vec<Network> {
        PRESETS.iter().map(Network::from).collect()
    }

    /// The standard networks named in `list` (comma separated), in the order given.
    pub fn parse_list(list: &str) -> Result<Vec<Network>, BenchError> {
        let all = Network::standard();
        let mut out: Vec<Network> = vec![];
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let name = name.to_ascii_lowercase();
            let name = if name == "wi-fi" { "wifi".to_string() } else { name };
            let found = all.iter().find(|n| n.name == name).ok_or_else(|| {
                BenchError::Args(format!("unknown network `{name}`: expected cat1, 3g, lte or wifi"))
            })?;
            if !out.iter().any(|n| n.name == found.name) {
                out.push(found.clone());
            }
        }
        if out.is_empty() {
            return Err(BenchError::Args("no network given".into()));
        }
        Ok(out)
    }

    /// The network kind the phone reports.
    pub fn network_kind(&self) -> NetworkKind {
        self.kind.parse().unwrap_or(NetworkKind::Unknown)
    }

    /// The link as the planner sees it when the bandwidth is known (the static experiments).
    pub fn link(&self) -> LinkEstimate {
        LinkEstimate::fixed(self.uplink_mbps, self.downlink_mbps, self.rtt_ms)
    }

    /// The phone's platform state on this network: battery at 50%, not charging, nominal
    /// temperature, not metered (the balanced objective's energy weight is then 1.75).
    pub fn platform_state(&self, network_id: &str) -> PlatformState {
        PlatformState {
            network: self.network_kind(),
            network_id: network_id.into(),
            metered: false,
            battery_level: Some(0.5),
            charging: Some(false),
            low_power: false,
            thermal: tandem_sdk::ThermalState::Nominal,
        }
    }

    /// A lower bound of any offload's time on this link: sending `bytes` at the uplink rate
    /// plus one round trip, ms. No cut sending `bytes` can be faster than this.
    pub fn transfer_floor_ms(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / (self.uplink_mbps * 1e3) + self.rtt_ms
    }
}

impl From<&LinkPreset> for Network {
    fn from(p: &LinkPreset) -> Network {
        Network {
            name: p.name.into(),
            kind: p.radio.into(),
            uplink_mbps: p.uplink_mbps,
            downlink_mbps: p.downlink_mbps,
            rtt_ms: p.rtt_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_and_reject_unknown_names() {
        let nets = Network::parse_list("wifi, 3G,wifi").expect("valid");
        assert_eq!(nets.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["wifi", "3g"]);
        assert!(Network::parse_list("5g").is_err());
        assert!(Network::parse_list(" , ").is_err());
    }

    #[test]
    fn the_standard_networks_are_the_link_presets() {
        let names: Vec<String> = Network::standard().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["cat1", "3g", "lte", "wifi"]);
        let lte = &Network::standard()[2];
        assert_eq!((lte.uplink_mbps, lte.downlink_mbps, lte.rtt_ms), (5.85, 13.0, 50.0));
        assert_eq!(lte.kind, "lte");
    }

    #[test]
    fn kinds_and_floors() {
        let all = Network::standard();
        assert_eq!(all[0].network_kind(), "lte".parse::<NetworkKind>().expect("lte"));
        assert_eq!(all[3].network_kind(), NetworkKind::Wifi);
        // 1 MB at 18.88 Mbps is 423.7 ms, plus the 10 ms round trip
        let floor = all[3].transfer_floor_ms(1_000_000);
        assert!((floor - 433.7).abs() < 0.1, "{floor}");
    }
}
