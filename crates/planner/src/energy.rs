//! The phone's energy for one request: compute power × compute time, plus the radio's energy
//! to upload, wait, download, and its tail.
//!
//! The radio model is Huang et al., "A Close Examination of Performance and Power
//! Characteristics of 4G LTE Networks", MobiSys 2012: while transferring at `t` Mbps the radio
//! draws `P = α·t + β` mW. After the last packet the radio stays in a high-power state for a
//! "tail" before going idle. Sources and assumptions of every default are in `docs/ENERGY.md`;
//! every parameter can be overridden (the model is serde).

use serde::{Deserialize, Serialize};

use crate::netest::LinkEstimate;
use crate::platform::{CellularGen, NetworkKind};

/// The power model of one radio technology.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RadioPower {
    /// α_u: extra power per Mbps of uplink throughput, mW/Mbps.
    pub uplink_mw_per_mbps: f64,
    /// α_d: extra power per Mbps of downlink throughput, mW/Mbps.
    pub downlink_mw_per_mbps: f64,
    /// β: power of the active radio regardless of throughput, mW.
    pub base_mw: f64,
    /// Power while connected but idle (waiting for the edge's answer), mW. Huang's model has
    /// no separate value for this short wait; the default is `base_mw` (continuous reception).
    pub wait_mw: f64,
    /// Power during the tail after the last transfer, mW.
    pub tail_mw: f64,
    /// Length of the tail, ms.
    pub tail_ms: f64,
}

impl RadioPower {
    /// A radio that costs nothing (wired networks, or "don't count the radio").
    pub const FREE: RadioPower = RadioPower {
        uplink_mw_per_mbps: 0.0,
        downlink_mw_per_mbps: 0.0,
        base_mw: 0.0,
        wait_mw: 0.0,
        tail_mw: 0.0,
        tail_ms: 0.0,
    };

    /// Full tail energy, mJ.
    pub fn tail_mj(&self) -> f64 {
        self.tail_mw * self.tail_ms / 1e3
    }
}

/// How much of the radio's tail one request is charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailCharge {
    /// The whole tail: a single request, the radio idle before and after.
    #[default]
    Full,
    /// Requests come every `interval_ms` (e.g. camera frames), so the radio never leaves the
    /// high-power state between them: each request is charged `min(interval, tail)` of it.
    Interval {
        /// Time between the starts of consecutive requests, ms.
        interval_ms: f64,
    },
    /// No tail at all (e.g. the radio is busy with other traffic anyway).
    None,
}

/// Everything the phone does for one request, in time and throughput.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Time the phone's CPU computes, ms.
    pub compute_ms: f64,
    /// Time spent uploading, ms.
    pub upload_ms: f64,
    /// Uplink throughput while uploading, Mbps.
    pub uplink_mbps: f64,
    /// Time the radio waits for the answer (round trip, edge queue and compute), ms.
    pub wait_ms: f64,
    /// Time spent downloading, ms.
    pub download_ms: f64,
    /// Downlink throughput while downloading, Mbps.
    pub downlink_mbps: f64,
    /// Whether the radio was used at all (false for a local-only run: no tail).
    pub used_radio: bool,
}

/// The phone's energy for one request, by where it went, in mJ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    /// CPU compute, mJ.
    pub compute_mj: f64,
    /// Radio while uploading, mJ.
    pub upload_mj: f64,
    /// Radio while waiting for the answer, mJ.
    pub wait_mj: f64,
    /// Radio while downloading, mJ.
    pub download_mj: f64,
    /// Radio tail after the request, as charged by the [`TailCharge`], mJ.
    pub tail_mj: f64,
}

impl EnergyBreakdown {
    /// Everything, mJ.
    pub fn total_mj(&self) -> f64 {
        self.total_without_tail_mj() + self.tail_mj
    }

    /// Everything but the tail, mJ.
    pub fn total_without_tail_mj(&self) -> f64 {
        self.compute_mj + self.upload_mj + self.wait_mj + self.download_mj
    }
}

/// The phone's energy model: compute power and one radio model per network technology.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnergyModel {
    /// Power of the CPU while running the model, mW (default 2000: one big core of a recent
    /// phone SoC at full load; see docs/ENERGY.md).
    pub compute_mw: f64,
    /// Wi-Fi (Huang et al. 2012).
    pub wifi: RadioPower,
    /// LTE, also used for LTE Cat-1 and cellular of unknown generation (Huang et al. 2012).
    pub lte: RadioPower,
    /// 3G, also used for 2G (Huang et al. 2012).
    pub g3: RadioPower,
    /// 5G NR: assumptions, see docs/ENERGY.md.
    pub g5: RadioPower,
    /// Wired: free by default (a desktop's NIC is not on a battery budget).
    pub ethernet: RadioPower,
    /// How much of the tail a request is charged.
    pub tail: TailCharge,
}

impl Default for EnergyModel {
    fn default() -> Self {
        EnergyModel {
            compute_mw: 2000.0,
            wifi: RadioPower {
                uplink_mw_per_mbps: 283.17,
                downlink_mw_per_mbps: 137.01,
                base_mw: 132.86,
                wait_mw: 132.86,
                tail_mw: 119.3,
                tail_ms: 238.1,
            },
            lte: RadioPower {
                uplink_mw_per_mbps: 438.39,
                downlink_mw_per_mbps: 51.97,
                base_mw: 1288.04,
                wait_mw: 1288.04,
                tail_mw: 1060.0,
                tail_ms: 11_576.0,
            },
            g3: RadioPower {
                uplink_mw_per_mbps: 868.98,
                downlink_mw_per_mbps: 122.12,
                base_mw: 817.88,
                wait_mw: 817.88,
                tail_mw: 803.9,
                tail_ms: 8_088.2,
            },
            g5: RadioPower {
                uplink_mw_per_mbps: 300.0,
                downlink_mw_per_mbps: 30.0,
                base_mw: 1800.0,
                wait_mw: 1800.0,
                tail_mw: 1500.0,
                tail_ms: 10_000.0,
            },
            ethernet: RadioPower::FREE,
            tail: TailCharge::Full,
        }
    }
}

impl EnergyModel {
    /// The radio model used on `network`; `None` offline (no radio energy). Unknown networks
    /// use LTE's model: the most expensive common radio, so energy is not underestimated.
    pub fn radio(&self, network: NetworkKind) -> Option<&RadioPower> {
        Some(match network {
            NetworkKind::Wifi => &self.wifi,
            NetworkKind::Cellular(CellularGen::G2 | CellularGen::G3) => &self.g3,
            NetworkKind::Cellular(CellularGen::Lte | CellularGen::Unknown) => &self.lte,
            NetworkKind::Cellular(CellularGen::G5) => &self.g5,
            NetworkKind::Ethernet => &self.ethernet,
            NetworkKind::Unknown => &self.lte,
            NetworkKind::None => return None,
        })
    }

    /// The phone's energy for `activity` on `network`.
    pub fn breakdown(&self, activity: &Activity, network: NetworkKind) -> EnergyBreakdown {
        let compute_mj = self.compute_mw * activity.compute_ms.max(0.0) / 1e3;
        let Some(radio) = self.radio(network).filter(|_| activity.used_radio) else {
            return EnergyBreakdown { compute_mj, ..Default::default() };
        };
        let up_mw = radio.uplink_mw_per_mbps * activity.uplink_mbps.max(0.0) + radio.base_mw;
        let down_mw = radio.downlink_mw_per_mbps * activity.downlink_mbps.max(0.0) + radio.base_mw;
        let tail_ms = match self.tail {
            TailCharge::Full => radio.tail_ms,
            TailCharge::Interval { interval_ms } => radio.tail_ms.min(interval_ms.max(0.0)),
            TailCharge::None => 0.0,
        };
        EnergyBreakdown {
            compute_mj,
            upload_mj: up_mw * activity.upload_ms.max(0.0) / 1e3,
            wait_mj: radio.wait_mw * activity.wait_ms.max(0.0) / 1e3,
            download_mj: down_mw * activity.download_ms.max(0.0) / 1e3,
            tail_mj: radio.tail_mw * tail_ms / 1e3,
        }
    }

    /// The phone's energy for computing `compute_ms`, then sending `bytes_up` and receiving
    /// `bytes_down` over `link` on `network`, waiting one round trip in between. Nothing sent
    /// and nothing received means the radio was not used (no tail).
    pub fn phone_energy_mj(
        &self,
        compute_ms: f64,
        bytes_up: u64,
        bytes_down: u64,
        link: &LinkEstimate,
        network: NetworkKind,
    ) -> EnergyBreakdown {
        let used_radio = bytes_up > 0 || bytes_down > 0;
        let activity = Activity {
            compute_ms,
            upload_ms: transfer_ms(bytes_up, link.uplink_mbps),
            uplink_mbps: link.uplink_mbps,
            wait_ms: if used_radio { link.rtt_ms } else { 0.0 },
            download_ms: transfer_ms(bytes_down, link.downlink_mbps),
            downlink_mbps: link.downlink_mbps,
            used_radio,
        };
        self.breakdown(&activity, network)
    }
}

/// Time to move `bytes` at `mbps`, ms (infinite for a non-positive rate and bytes to move).
pub fn transfer_ms(bytes: u64, mbps: f64) -> f64 {
    if bytes == 0 {
        0.0
    } else if mbps > 0.0 {
        bytes as f64 * 8.0 / (mbps * 1e3)
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(up: f64, down: f64, rtt: f64) -> LinkEstimate {
        LinkEstimate {
            uplink_mbps: up,
            downlink_mbps: down,
            rtt_ms: rtt,
            confidence: 1.0,
            samples: 10,
            age_ms: 0.0,
        }
    }

    #[test]
    fn huang_lte_upload_power() {
        let m = EnergyModel::default();
        // 1 MB at 5.85 Mbps: 1367.5 ms at 438.39*5.85+1288.04 = 3852.6 mW
        let e = m.phone_energy_mj(
            0.0,
            1_000_000,
            0,
            &link(5.85, 10.0, 0.0),
            NetworkKind::Cellular(CellularGen::Lte),
        );
        let expected_ms = 8e6 / 5.85e3;
        let expected_mj = (438.39 * 5.85 + 1288.04) * expected_ms / 1e3;
        assert!((e.upload_mj - expected_mj).abs() < 1e-6, "{e:?}");
        assert!((e.tail_mj - 1060.0 * 11.576).abs() < 1e-6, "the LTE tail is ~12.3 J: {e:?}");
        assert!((e.total_mj() - e.total_without_tail_mj() - e.tail_mj).abs() < 1e-9);
    }

    #[test]
    fn local_only_has_no_radio_energy() {
        let m = EnergyModel::default();
        let e = m.phone_energy_mj(100.0, 0, 0, &link(5.0, 5.0, 50.0), NetworkKind::Wifi);
        assert_eq!(e, EnergyBreakdown { compute_mj: 200.0, ..Default::default() });
        let offline = m.phone_energy_mj(100.0, 10, 10, &link(5.0, 5.0, 50.0), NetworkKind::None);
        assert_eq!(offline.total_mj(), 200.0);
    }

    #[test]
    fn tail_charges() {
        let mut m = EnergyModel::default();
        let lte = NetworkKind::Cellular(CellularGen::Lte);
        let a = Activity { used_radio: true, ..Default::default() };
        assert!((m.breakdown(&a, lte).tail_mj - 12_270.56).abs() < 1e-6);
        m.tail = TailCharge::Interval { interval_ms: 100.0 };
        assert!((m.breakdown(&a, lte).tail_mj - 106.0).abs() < 1e-9);
        m.tail = TailCharge::None;
        assert_eq!(m.breakdown(&a, lte).tail_mj, 0.0);
    }

    #[test]
    fn wifi_is_cheaper_per_bit_than_lte_and_3g() {
        let m = EnergyModel::default();
        let per_mb = |n: NetworkKind, mbps: f64| {
            m.phone_energy_mj(0.0, 1_000_000, 0, &link(mbps, mbps, 0.0), n).upload_mj
        };
        let wifi = per_mb(NetworkKind::Wifi, 18.88);
        let lte = per_mb(NetworkKind::Cellular(CellularGen::Lte), 5.85);
        let g3 = per_mb(NetworkKind::Cellular(CellularGen::G3), 1.1);
        assert!(wifi < lte && lte < g3, "{wifi} {lte} {g3}");
    }

    #[test]
    fn overrides_from_partial_json() {
        let m: EnergyModel =
            serde_json::from_str(r#"{"compute_mw": 3500, "tail": {"interval": {"interval_ms": 33}}}"#)
                .expect("partial JSON fills in defaults");
        assert_eq!(m.compute_mw, 3500.0);
        assert_eq!(m.lte, EnergyModel::default().lte);
        assert_eq!(m.tail, TailCharge::Interval { interval_ms: 33.0 });
    }

    #[test]
    fn transfer_time() {
        assert_eq!(transfer_ms(0, 0.0), 0.0);
        assert_eq!(transfer_ms(1_000, 8.0), 1.0);
        assert!(transfer_ms(1, 0.0).is_infinite());
    }
}
