//! The named links the benchmark and the demo emulate: one list for both.
//!
//! Uplinks are the published ones (CAT1 0.13 Mbps, and Neurosurgeon's measured 3G 1.1, LTE
//! 5.85 and Wi-Fi 18.88 Mbps). Round trips and downlinks are not in the papers' tables; ours
//! are typical values, stated here and in `docs/PERFORMANCE.md`:
//!
//! | network | uplink Mbps | downlink Mbps | RTT ms | radio (energy model) |
//! |---|---|---|---|---|
//! | `cat1` | 0.13 | 0.5 | 150 | LTE (Cat-1 is an LTE category) |
//! | `3g` | 1.1 | 2.0 | 100 | 3G |
//! | `lte` | 5.85 | 13.0 | 50 | LTE |
//! | `wifi` | 18.88 | 30.0 | 10 | Wi-Fi |

use crate::LinkConfig;

/// A named mobile link: the rates and round trip the emulator applies for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkPreset {
    /// Short name, for command lines, ids and file names: `cat1`, `3g`, `lte`, `wifi`.
    pub name: &'static str,
    /// As people write it: `Cat-1`, `3G`, `LTE`, `Wi-Fi`.
    pub label: &'static str,
    /// The network kind a phone on this link reports (`lte`, `3g`, `wifi`): it picks the
    /// radio's energy model.
    pub radio: &'static str,
    /// Phone-to-edge rate, Mbps.
    pub uplink_mbps: f64,
    /// Edge-to-phone rate, Mbps.
    pub downlink_mbps: f64,
    /// Round trip added by the link, ms.
    pub rtt_ms: f64,
}

/// LTE Cat-1 (an IoT category): 0.13 Mbps up.
pub const CAT1: LinkPreset = LinkPreset {
    name: "cat1",
    label: "Cat-1",
    radio: "lte",
    uplink_mbps: 0.13,
    downlink_mbps: 0.5,
    rtt_ms: 150.0,
};
/// 3G: 1.1 Mbps up.
pub const G3: LinkPreset =
    LinkPreset { name: "3g", label: "3G", radio: "3g", uplink_mbps: 1.1, downlink_mbps: 2.0, rtt_ms: 100.0 };
/// LTE: 5.85 Mbps up.
pub const LTE: LinkPreset = LinkPreset {
    name: "lte",
    label: "LTE",
    radio: "lte",
    uplink_mbps: 5.85,
    downlink_mbps: 13.0,
    rtt_ms: 50.0,
};
/// Wi-Fi: 18.88 Mbps up.
pub const WIFI: LinkPreset = LinkPreset {
    name: "wifi",
    label: "Wi-Fi",
    radio: "wifi",
    uplink_mbps: 18.88,
    downlink_mbps: 30.0,
    rtt_ms: 10.0,
};

/// Every preset, slowest first.
pub const PRESETS: [LinkPreset; 4] = [CAT1, G3, LTE, WIFI];

impl LinkPreset {
    /// The preset with this name or label (any case; `wi-fi` and `cat-1` are accepted).
    pub fn named(name: &str) -> Option<LinkPreset> {
        let name = name.trim();
        PRESETS.into_iter().find(|p| p.name.eq_ignore_ascii_case(name) || p.label.eq_ignore_ascii_case(name))
    }

    /// The emulator's configuration for this link: its rates and round trip, no fault.
    pub fn config(&self) -> LinkConfig {
        LinkConfig::mbps(self.uplink_mbps, self.downlink_mbps, self.rtt_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_found_by_name_or_label() {
        assert_eq!(LinkPreset::named("Wi-Fi"), Some(WIFI));
        assert_eq!(LinkPreset::named("WIFI"), Some(WIFI));
        assert_eq!(LinkPreset::named(" 3G "), Some(G3));
        assert_eq!(LinkPreset::named("cat-1"), Some(CAT1));
        assert_eq!(LinkPreset::named("5g"), None);
    }

    #[test]
    fn presets_are_slowest_first_and_configure_the_link() {
        assert!(PRESETS.windows(2).all(|w| w[0].uplink_mbps < w[1].uplink_mbps));
        let c = LTE.config();
        assert_eq!((c.uplink_mbps, c.downlink_mbps, c.rtt_ms), (5.85, 13.0, 50.0));
        assert_eq!(c.fault, crate::Fault::None);
    }
}
