//! What the demo runs: its networks, its photos and what each should give, and the cuts it
//! measures.

use tandem_faceid::FaceError;
use tandem_linkemu::presets::{self, LinkPreset};
use tandem_linkemu::{Fault, LinkConfig};
use tandem_sdk::{Model, NetworkKind, PlatformState, ThermalState};

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
    fn quick_runs_verify_two_probes() {
        assert_eq!(probes(false).len(), 5);
        let quick: Vec<&str> = probes(true).iter().map(|(p, _)| *p).collect();
        assert_eq!(quick, ["obama3.jpg", "biden.jpg"]);
    }
}
