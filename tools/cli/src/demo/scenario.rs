//! What the demo runs: its networks, its photos and what each should give, and the cuts it
//! measures.

use tandem_faceid::FaceError;
use tandem_linkemu::presets::{self, LinkPreset};
use tandem_linkemu::{Fault, LinkConfig};
use tandem_sdk::{Model, NetworkKind, Objective, PlatformState, ThermalState};

use serde::Serialize;

/// An emulated network: one of the link presets, or offline.
#[derive(Clone, Copy, Debug)]
pub(super) struct Network {
    /// As people write it.
    pub(super) label: &'static str,
    /// For ids and file names.
    pub(super) slug: &'static str,
    /// The link's rates and round trip; `None`: offline.
    preset: Option<LinkPreset>,
}

impl Network {
    const fn online(preset: LinkPreset) -> Network {
        Network { label: preset.label, slug: preset.name, preset: Some(preset) }
    }
}

/// The networks, in the order they are run.
pub(super) const NETWORKS: [Network; 4] = [
    Network::online(presets::G3),
    Network::online(presets::LTE),
    Network::online(presets::WIFI),
    Network { label: "offline", slug: "offline", preset: None },
];

/// A fixed camera's fast Wi-Fi (802.11ac close to its access point): not one of the
/// benchmark's presets, which follow Neurosurgeon's measured phone uplinks.
pub(super) const FAST_WIFI: Network = Network::online(LinkPreset {
    name: "wifi-fast",
    label: "fast Wi-Fi",
    radio: "wifi",
    uplink_mbps: 100.0,
    downlink_mbps: 200.0,
    rtt_ms: 5.0,
});

/// The network enrollment runs on.
pub(super) const ENROLL_NETWORK: Network = NETWORKS[2];

impl Network {
    /// The network kind the phone reports.
    pub(super) fn kind(&self) -> NetworkKind {
        self.preset.map_or(NetworkKind::None, |p| p.radio.parse().unwrap_or(NetworkKind::Unknown))
    }

    /// The link the emulator applies: the preset's, or refused connections offline.
    pub(super) fn link(&self) -> LinkConfig {
        match self.preset {
            Some(p) => p.config(),
            None => LinkConfig { fault: Fault::Refuse, ..LinkConfig::unlimited() },
        }
    }

    pub(super) fn describe(&self) -> String {
        let l = self.link();
        if l.fault == Fault::Refuse {
            "no network; the edge refuses connections".into()
        } else {
            format!("{} Mbps up, {} Mbps down, {} ms round trip", l.uplink_mbps, l.downlink_mbps, l.rtt_ms)
        }
    }

    /// The phone's platform state on this network.
    pub(super) fn state(&self) -> PlatformState {
        PlatformState {
            network: self.kind(),
            network_id: format!("demo-{}", self.slug),
            metered: matches!(self.kind(), NetworkKind::Cellular(_)),
            battery_level: Some(0.8),
            charging: Some(false),
            low_power: false,
            thermal: ThermalState::Nominal,
        }
    }
}

/// One scenario: a device class on a network, in a battery and thermal state, with an
/// objective, and what the planner should do there and why.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scenario {
    /// For ids and file names.
    pub(super) slug: &'static str,
    /// As people say it.
    pub(super) label: &'static str,
    /// The device class (`tandem_bench::device_class`).
    pub(super) class: &'static str,
    pub(super) network: Network,
    pub(super) battery: f32,
    pub(super) low_power: bool,
    pub(super) thermal: ThermalState,
    pub(super) objective: Objective,
    /// What should happen, and why.
    pub(super) expect: &'static str,
    /// In the quick run too.
    pub(super) quick: bool,
    /// The app's policy keeps the raw crop (and anything as revealing) on the phone. Off in
    /// one scenario only: an app whose policy lets the crop go (a badge camera on a trusted
    /// network), where the edge may run everything.
    pub(super) privacy_floor: bool,
}

impl Scenario {
    /// The phone's platform state in this scenario.
    pub(super) fn state(&self) -> PlatformState {
        PlatformState {
            battery_level: Some(self.battery),
            low_power: self.low_power,
            thermal: self.thermal,
            network_id: format!("demo-{}", self.slug),
            ..self.network.state()
        }
    }
}

const fn scenario(
    slug: &'static str,
    label: &'static str,
    class: &'static str,
    network: Network,
    objective: Objective,
    expect: &'static str,
    quick: bool,
) -> Scenario {
    Scenario {
        slug,
        label,
        class,
        network,
        battery: 0.8,
        low_power: false,
        thermal: ThermalState::Nominal,
        objective,
        expect,
        quick,
        privacy_floor: true,
    }
}

/// Every scenario, in the order they run.
pub(super) const SCENARIOS: [Scenario; 8] = [
    scenario(
        "flagship-3g",
        "flagship on 3G",
        "flagship",
        NETWORKS[0],
        Objective::Latency,
        "local: the phone computes the embedder about as fast as the edge, and any cut takes hundreds of ms to send at 1.1 Mbps",
        true,
    ),
    scenario(
        "midrange-lte",
        "mid-range on LTE",
        "mid-range",
        NETWORKS[1],
        Objective::Latency,
        "whichever is faster: the phone is 6x slower than this machine, LTE sends a cut in tens to hundreds of ms",
        false,
    ),
    scenario(
        "lowend-wifi",
        "low-end on Wi-Fi",
        "low-end",
        NETWORKS[2],
        Objective::Latency,
        "offload above the privacy floor: the phone is 38x slower than this machine, Wi-Fi is fast; the cut (and its encoding) that is cheapest to send after the phone's part",
        true,
    ),
    scenario(
        "lowend-wifi-balanced",
        "low-end on Wi-Fi, battery 80%, balanced",
        "low-end",
        NETWORKS[2],
        Objective::Balanced,
        "balanced latency and energy at a comfortable battery: the reference for the next scenario",
        false,
    ),
    Scenario {
        battery: 0.05,
        low_power: true,
        ..scenario(
            "lowend-wifi-battery",
            "low-end on Wi-Fi, battery 5% (low power)",
            "low-end",
            NETWORKS[2],
            Objective::Balanced,
            "energy weighs 7x more: the plan with the least phone energy for its latency; toward the edge when sending a cut costs the radio less than computing it, local when computing costs less (compare with the 80% scenario of the full run)",
            true,
        )
    },
    Scenario {
        thermal: ThermalState::Serious,
        ..scenario(
            "midrange-lte-thermal",
            "mid-range on LTE, thermal serious",
            "mid-range",
            NETWORKS[1],
            Objective::Balanced,
            "toward the edge: phone compute is penalised while the phone is hot, as long as LTE's radio costs less",
            false,
        )
    },
    Scenario {
        privacy_floor: false,
        ..scenario(
            "wearable-wifi-no-floor",
            "wearable camera on fast Wi-Fi, no privacy floor",
            "wearable",
            FAST_WIFI,
            Objective::Latency,
            "edge: the camera is 54x slower than this machine and its app lets the crop go; at 100 Mbps sending the 270 KB input beats computing any of it",
            true,
        )
    },
    scenario(
        "lowend-offline",
        "low-end, offline",
        "low-end",
        NETWORKS[3],
        Objective::Latency,
        "local: there is no network",
        true,
    ),
];

/// The scenarios of a run (five in a quick run).
pub(super) fn scenarios(quick: bool) -> Vec<Scenario> {
    SCENARIOS.iter().copied().filter(|s| !quick || s.quick).collect()
}

/// What a photo should give.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Expect {
    /// The enrolled person.
    Match,
    /// Someone else.
    NoMatch,
    NoFace,
    MultipleFaces(usize),
    Corrupt,
}

impl Expect {
    pub(super) fn holds_for(self, err: &FaceError) -> bool {
        matches!(
            (self, err),
            (Expect::NoFace, FaceError::NoFace) | (Expect::Corrupt, FaceError::CorruptImage { .. })
        ) || matches!((self, err), (Expect::MultipleFaces(n), FaceError::MultipleFaces(m)) if n == *m)
    }
}

pub(super) const ENROLL: [&str; 2] = ["obama.jpg", "obama2.jpg"];
const PROBES: [(&str, Expect); 5] = [
    ("obama3.jpg", Expect::Match),
    ("obama_partial_face.jpg", Expect::Match),
    ("obama_partial_face2.jpg", Expect::Match),
    ("biden.jpg", Expect::NoMatch),
    ("astronaut.jpg", Expect::NoMatch),
];
const QUICK_PROBES: [&str; 2] = ["obama3.jpg", "biden.jpg"];
/// Written into the output directory: a JPEG cut off after a third of its bytes.
pub(super) const CORRUPT_PHOTO: &str = "corrupt.jpg";
/// The photo the corrupt one is cut from.
pub(super) const CORRUPT_SOURCE: &str = "obama3.jpg";
pub(super) const BAD: [(&str, Expect); 3] = [
    ("rocket_noface.jpg", Expect::NoFace),
    ("two_faces.jpg", Expect::MultipleFaces(2)),
    (CORRUPT_PHOTO, Expect::Corrupt),
];

/// The photos verified on every network (two in a quick run).
pub(super) fn probes(quick: bool) -> Vec<(&'static str, Expect)> {
    PROBES.iter().copied().filter(|(p, _)| !quick || QUICK_PROBES.contains(p)).collect()
}

/// The cut just after the embedder's first convolution: cuts 1 and 2 (mean subtraction and
/// scaling of the pixels) are as revealing as the crop itself, so the floor is above them.
pub(super) fn privacy_floor(model: &Model) -> usize {
    model.cuts().iter().find(|c| c.after_node.as_deref() == Some("conv32_down")).map_or(1, |c| c.id)
}

/// Cuts to force on each network: the cheapest to send near a few points of the model's
/// compute, plus the last (local) cut.
pub(super) fn cuts_to_measure(model: &Model, floor: usize, quick: bool) -> Vec<usize> {
    let cuts = model.cuts();
    let last = model.last_cut();
    let total = cuts.last().map_or(1, |c| c.macs_before).max(1) as f64;
    let targets: &[f64] = if quick { &[0.45, 0.9] } else { &[0.1, 0.3, 0.5, 0.7, 0.9] };
    let mut out: Vec<usize> = targets
        .iter()
        .filter_map(|t| {
            cuts.iter()
                .filter(|c| c.id >= floor && c.id < last)
                .filter(|c| (c.macs_before as f64 / total - t).abs() <= 0.1)
                .min_by_key(|c| (c.bytes, c.id))
                .map(|c| c.id)
        })
        .collect();
    out.push(last);
    out.sort_unstable();
    out.dedup();
    out
}

/// The node a cut comes after, as printed.
pub(super) fn after(model: &Model, cut: usize) -> String {
    model.cuts().get(cut).and_then(|c| c.after_node.clone()).unwrap_or_else(|| "the input".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::CellularGen;

    #[test]
    fn networks_follow_the_link_presets_and_offline_refuses() {
        assert_eq!(NETWORKS[0].link(), presets::G3.config());
        assert_eq!(NETWORKS[0].link().uplink_mbps, 1.1);
        assert_eq!(NETWORKS[1].link().uplink_mbps, 5.85);
        assert_eq!(NETWORKS[2].link().uplink_mbps, 18.88);
        assert_eq!(NETWORKS[3].link().fault, Fault::Refuse);
        let labels: Vec<&str> = NETWORKS.iter().map(|n| n.label).collect();
        assert_eq!(labels, ["3G", "LTE", "Wi-Fi", "offline"]);
        assert_eq!(NETWORKS[0].kind(), NetworkKind::Cellular(CellularGen::G3));
        assert_eq!(NETWORKS[1].kind(), NetworkKind::Cellular(CellularGen::Lte));
        assert_eq!(NETWORKS[2].kind(), NetworkKind::Wifi);
        assert!(NETWORKS[1].state().metered && !NETWORKS[2].state().metered);
        assert!(!NETWORKS[3].state().network.is_online());
    }

    #[test]
    fn scenarios_name_known_device_classes_and_quick_runs_keep_five() {
        for s in SCENARIOS {
            assert!(tandem_bench::device_class::device_class(s.class).is_ok(), "{}", s.slug);
        }
        let quick: Vec<&str> = scenarios(true).iter().map(|s| s.slug).collect();
        assert_eq!(
            quick,
            ["flagship-3g", "lowend-wifi", "lowend-wifi-battery", "wearable-wifi-no-floor", "lowend-offline"]
        );
        assert_eq!(scenarios(false).len(), 8);
        assert_eq!(SCENARIOS.iter().filter(|s| !s.privacy_floor).count(), 1);
        let battery = SCENARIOS[4].state();
        assert_eq!((battery.battery_level, battery.low_power), (Some(0.05), true));
        assert!(!SCENARIOS[7].state().network.is_online());
    }

    #[test]
    fn quick_runs_verify_two_probes() {
        assert_eq!(probes(false).len(), 5);
        let quick: Vec<&str> = probes(true).iter().map(|(p, _)| *p).collect();
        assert_eq!(quick, ["obama3.jpg", "biden.jpg"]);
    }
}
