//! What the phone says about itself: network, battery, power mode and thermal state.
//!
//! The planner reads a [`PlatformState`] on every request through the [`PlatformSignals`]
//! trait. Android and iOS implement the trait in Kotlin and Swift (through the bindings);
//! [`LinuxSignals`] reads a desktop Linux machine's `/sys` and `/proc`; [`FixedSignals`]
//! returns whatever it was given, for tests and overrides.
//!
//! Absent or garbled platform data never fails: each field degrades to "unknown" (or `None`)
//! and the reason is logged once as a warning.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use tandem_planner::platform::*;

/// it must stay object-safe and cheap to call (the session calls it on every request).
pub trait PlatformSignals: Send + Sync {
    /// The current state. Never fails: what is unknown is reported as unknown.
    fn state(&self) -> PlatformState;
}

/// Signals that return a fixed state: for tests, and to override what the platform says.
#[derive(Debug, Default)]
pub struct FixedSignals {
    state: Mutex<PlatformState>,
}

impl FixedSignals {
    /// Signals that always report `state` (until [`FixedSignals::set`]).
    pub fn new(state: PlatformState) -> Self {
        FixedSignals { state: Mutex::new(state) }
    }

    /// Replaces the reported state.
    pub fn set(&self, state: PlatformState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}

impl PlatformSignals for FixedSignals {
    fn state(&self) -> PlatformState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Temperatures (degrees Celsius) from which [`LinuxSignals`] reports each thermal state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThermalThresholds {
    /// At or above: [`ThermalState::Fair`].
    pub fair_c: f64,
    /// At or above: [`ThermalState::Serious`].
    pub serious_c: f64,
    /// At or above: [`ThermalState::Critical`].
    pub critical_c: f64,
}

impl Default for ThermalThresholds {
    /// 60 / 75 / 90 °C, the hottest zone counts. Typical laptop CPUs throttle in the 90s.
    fn default() -> Self {
        ThermalThresholds { fair_c: 60.0, serious_c: 75.0, critical_c: 90.0 }
    }
}

/// Platform signals of a desktop Linux machine, read from sysfs and procfs.
///
/// - battery: `class/power_supply/*/{type,capacity,status,online}`;
/// - network: the default route's interface (`net/route` under the procfs root), classified by
///   `class/net/IF/{wireless,uevent,operstate}`: Wi-Fi if it has a `wireless` directory or
///   `DEVTYPE=wlan`, cellular if `DEVTYPE=wwan` (or a `wwan*` name), else ethernet; an
///   interface that is not up, or no default route, means offline. Cellular is assumed
///   metered, since Linux keeps that flag in NetworkManager, not in sysfs;
/// - low-power mode: `firmware/acpi/platform_profile` is `low-power`;
/// - thermal: the hottest `class/thermal/thermal_zone*/temp`, mapped by [`ThermalThresholds`].
#[derive(Debug)]
pub struct LinuxSignals {
    sysfs_root: PathBuf,
    procfs_root: PathBuf,
    thresholds: ThermalThresholds,
    warned: Mutex<HashSet<String>>,
}

impl Default for LinuxSignals {
    fn default() -> Self {
        LinuxSignals::new()
    }
}

impl LinuxSignals {
    /// Reads the real `/sys` and `/proc`.
    pub fn new() -> Self {
        LinuxSignals::with_roots("/sys", "/proc")
    }

    /// Reads a sysfs tree rooted at `sysfs_root` and a procfs tree at `procfs_root` (fake
    /// trees in tests).
    pub fn with_roots(sysfs_root: impl Into<PathBuf>, procfs_root: impl Into<PathBuf>) -> Self {
        LinuxSignals {
            sysfs_root: sysfs_root.into(),
            procfs_root: procfs_root.into(),
            thresholds: ThermalThresholds::default(),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Uses other temperature thresholds.
    pub fn with_thresholds(mut self, thresholds: ThermalThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Logs `reason` as a warning the first time it is seen, so a machine without a battery
    /// does not log on every request. Reasons name files, never user data.
    fn warn(&self, reason: String) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.len() < 256 && warned.insert(reason.clone()) {
            log::warn!("platform signals: {reason}");
        }
    }

    fn battery(&self) -> (Option<f32>, Option<bool>) {
        let dir = self.sysfs_root.join("class/power_supply");
        let Some(entries) = self.list_dir(&dir) else {
            return (None, None);
        };
        let mut level = None;
        let mut charging = None;
        let mut mains_online = None;
        for supply in entries {
            let kind = read_trimmed(&supply.join("type"));
            match kind.as_deref() {
                Some("Battery") => {
                    match read_trimmed(&supply.join("capacity")).map(|s| s.parse::<f32>()) {
                        Some(Ok(c)) if (0.0..=100.0).contains(&c) => {
                            level = Some(level.map_or(c / 100.0, |l: f32| l.min(c / 100.0)))
                        }
                        Some(_) => {
                            self.warn(format!("{}: not a percentage", supply.join("capacity").display()))
                        }
                        None => {
                            self.warn(format!("{}: missing or unreadable", supply.join("capacity").display()))
                        }
                    }
                    match read_trimmed(&supply.join("status")).as_deref() {
                        Some("Charging") | Some("Full") => charging = Some(true),
                        Some("Discharging") | Some("Not charging") => charging = charging.or(Some(false)),
                        Some("Unknown") => {}
                        Some(_) => {
                            self.warn(format!("{}: unrecognised status", supply.join("status").display()))
                        }
                        None => {
                            self.warn(format!("{}: missing or unreadable", supply.join("status").display()))
                        }
                    }
                }
                Some("Mains") | Some("USB") | Some("USB_C") | Some("USB_PD") => {
                    match read_trimmed(&supply.join("online")).as_deref() {
                        Some("1") => mains_online = Some(true),
                        Some("0") => mains_online = mains_online.or(Some(false)),
                        _ => self.warn(format!("{}: missing or not 0/1", supply.join("online").display())),
                    }
                }
                Some(_) => {}
                None => self.warn(format!("{}: missing or unreadable", supply.join("type").display())),
            }
        }
        let charging = match (charging, mains_online) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), _) => Some(false),
            (None, Some(false)) if level.is_some() => Some(false),
            _ => None,
        };
        (level, charging)
    }

    /// The interface of the default route with the lowest metric, and its gateway (hex as in
    /// `/proc/net/route`). `Ok(None)`: the table parsed and has no default route.
    fn default_route(&self) -> Result<Option<(String, String)>, String> {
        let path = self.procfs_root.join("net/route");
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines = text.lines();
        let header = lines.next().ok_or_else(|| format!("{}: empty", path.display()))?;
        if !header.starts_with("Iface") {
            return Err(format!("{}: no header line", path.display()));
        }
        let mut best: Option<(u64, String, String)> = None;
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 7 {
                continue;
            }
            let (Ok(flags), Ok(metric)) = (u32::from_str_radix(f[3], 16), f[6].parse::<u64>()) else {
                continue;
            };
            const RTF_UP: u32 = 1;
            if f[1] == "00000000" && flags & RTF_UP != 0 && best.as_ref().is_none_or(|b| metric < b.0) {
                best = Some((metric, f[0].to_string(), f[2].to_string()));
            }
        }
        Ok(best.map(|(_, iface, gw)| (iface, gw)))
    }

    fn classify(&self, iface: &str) -> NetworkKind {
        let dir = self.sysfs_root.join("class/net").join(iface);
        if !dir.is_dir() {
            self.warn(format!("{}: no such interface directory", dir.display()));
            return NetworkKind::Unknown;
        }
        match read_trimmed(&dir.join("operstate")).as_deref() {
            Some("up") | Some("unknown") => {}
            Some("down") | Some("dormant") | Some("lowerlayerdown") | Some("notpresent") => {
                return NetworkKind::None
            }
            _ => self.warn(format!("{}: missing or unrecognised", dir.join("operstate").display())),
        }
        let devtype = read_trimmed(&dir.join("uevent"))
            .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVTYPE=").map(|v| v.trim().to_string())));
        if dir.join("wireless").is_dir() || devtype.as_deref() == Some("wlan") {
            NetworkKind::Wifi
        } else if devtype.as_deref() == Some("wwan") || iface.starts_with("wwan") {
            NetworkKind::Cellular(CellularGen::Unknown)
        } else {
            NetworkKind::Ethernet
        }
    }

    fn network(&self) -> (NetworkKind, String) {
        match self.default_route() {
            Ok(Some((iface, gateway))) => {
                let kind = self.classify(&iface);
                let id = if kind.is_online() {
                    format!("{}:{iface}:{gateway}", kind.name())
                } else {
                    String::new()
                };
                (kind, id)
            }
            Ok(None) => (NetworkKind::None, String::new()),
            Err(reason) => {
                self.warn(format!("no default route: {reason}"));
                (NetworkKind::Unknown, String::new())
            }
        }
    }

    fn low_power(&self) -> bool {
        read_trimmed(&self.sysfs_root.join("firmware/acpi/platform_profile")).as_deref() == Some("low-power")
    }

    fn thermal(&self) -> ThermalState {
        let dir = self.sysfs_root.join("class/thermal");
        let Some(entries) = self.list_dir(&dir) else {
            return ThermalState::Unknown;
        };
        let mut hottest_c: Option<f64> = None;
        for zone in entries
            .iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("thermal_zone")))
        {
            let temp = zone.join("temp");
            match read_trimmed(&temp).map(|s| s.parse::<i64>()) {
                // millidegrees; a reading below -50 °C or above 200 °C is a broken sensor
                Some(Ok(m)) if (-50_000..=200_000).contains(&m) => {
                    let c = m as f64 / 1000.0;
                    hottest_c = Some(hottest_c.map_or(c, |h| h.max(c)));
                }
                Some(_) => self.warn(format!("{}: not a temperature in millidegrees", temp.display())),
                None => self.warn(format!("{}: missing or unreadable", temp.display())),
            }
        }
        let Some(c) = hottest_c else {
            self.warn(format!("{}: no readable thermal zone", dir.display()));
            return ThermalState::Unknown;
        };
        let t = &self.thresholds;
        if c >= t.critical_c {
            ThermalState::Critical
        } else if c >= t.serious_c {
            ThermalState::Serious
        } else if c >= t.fair_c {
            ThermalState::Fair
        } else {
            ThermalState::Nominal
        }
    }

    /// The entries of `dir`, sorted (deterministic), or `None` (with a warning) if unreadable.
    fn list_dir(&self, dir: &Path) -> Option<Vec<PathBuf>> {
        match fs::read_dir(dir) {
            Ok(rd) => {
                let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                Some(v)
            }
            Err(e) => {
                self.warn(format!("{}: {e}", dir.display()));
                None
            }
        }
    }
}

impl PlatformSignals for LinuxSignals {
    fn state(&self) -> PlatformState {
        let (network, network_id) = self.network();
        let (battery_level, charging) = self.battery();
        PlatformState {
            metered: matches!(network, NetworkKind::Cellular(_)),
            network,
            network_id,
            battery_level,
            charging,
            low_power: self.low_power(),
            thermal: self.thermal(),
        }
    }
}

/// A small text file's content, trimmed; `None` if missing, unreadable, not UTF-8 or > 4 KiB.
fn read_trimmed(path: &Path) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    if bytes.len() > 4096 {
        return None;
    }
    String::from_utf8(bytes).ok().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            Tree { dir: tempfile::tempdir().expect("tempdir") }
        }
        fn write(&self, rel: &str, content: &[u8]) -> &Self {
            let p = self.dir.path().join(rel);
            fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
            fs::write(p, content).expect("write");
            self
        }
        fn mkdir(&self, rel: &str) -> &Self {
            fs::create_dir_all(self.dir.path().join(rel)).expect("mkdir");
            self
        }
        fn signals(&self) -> LinuxSignals {
            LinuxSignals::with_roots(self.dir.path().join("sys"), self.dir.path().join("proc"))
        }
    }

    const ROUTE_WLAN: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
        eth0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
        wlan0\t00000000\t0101A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0\n";

    fn laptop() -> Tree {
        let t = Tree::new();
        t.write("proc/net/route", ROUTE_WLAN.as_bytes())
            .write("sys/class/net/wlan0/operstate", b"up\n")
            .mkdir("sys/class/net/wlan0/wireless")
            .write("sys/class/net/eth0/operstate", b"up\n")
            .write("sys/class/power_supply/BAT0/type", b"Battery\n")
            .write("sys/class/power_supply/BAT0/capacity", b"42\n")
            .write("sys/class/power_supply/BAT0/status", b"Discharging\n")
            .write("sys/class/power_supply/AC/type", b"Mains\n")
            .write("sys/class/power_supply/AC/online", b"0\n")
            .write("sys/class/thermal/thermal_zone0/temp", b"45000\n")
            .write("sys/class/thermal/thermal_zone1/temp", b"77000\n");
        t
    }

    #[test]
    fn reads_a_laptop_on_wifi() {
        let s = laptop().signals().state();
        assert_eq!(s.network, NetworkKind::Wifi, "lowest-metric default route is wlan0");
        assert_eq!(s.network_id, "wifi:wlan0:0101A8C0");
        assert!(!s.metered);
        assert_eq!(s.battery_level, Some(0.42));
        assert_eq!(s.charging, Some(false));
        assert!(!s.low_power);
        assert_eq!(s.thermal, ThermalState::Serious, "the hottest zone (77 °C) counts");
    }

    #[test]
    fn charging_and_low_power() {
        let t = laptop();
        t.write("sys/class/power_supply/AC/online", b"1\n")
            .write("sys/firmware/acpi/platform_profile", b"low-power\n");
        let s = t.signals().state();
        assert_eq!(s.charging, Some(true));
        assert!(s.low_power);
        t.write("sys/class/power_supply/AC/online", b"0\n")
            .write("sys/class/power_supply/BAT0/status", b"Full\n");
        assert_eq!(t.signals().state().charging, Some(true));
    }

    #[test]
    fn uevent_devtypes_classify_interfaces() {
        let t = Tree::new();
        t.write("proc/net/route", b"Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nmlan0\t00000000\t01010101\t0003\t0\t0\t0\t00000000\n")
            .write("sys/class/net/mlan0/operstate", b"up")
            .write("sys/class/net/mlan0/uevent", b"INTERFACE=mlan0\nDEVTYPE=wlan\n");
        assert_eq!(t.signals().state().network, NetworkKind::Wifi);
        t.write("sys/class/net/mlan0/uevent", b"DEVTYPE=wwan\n");
        let s = t.signals().state();
        assert_eq!(s.network, NetworkKind::Cellular(CellularGen::Unknown));
        assert!(s.metered, "cellular is assumed metered");
        t.write("sys/class/net/mlan0/uevent", b"INTERFACE=mlan0\n");
        assert_eq!(t.signals().state().network, NetworkKind::Ethernet);
        t.write("sys/class/net/mlan0/operstate", b"down");
        let s = t.signals().state();
        assert_eq!(s.network, NetworkKind::None, "default route over a down interface is offline");
        assert_eq!(s.network_id, "");
    }

    #[test]
    fn no_default_route_is_offline() {
        let t = Tree::new();
        t.write("proc/net/route", b"Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n");
        assert_eq!(t.signals().state().network, NetworkKind::None);
    }

    #[test]
    fn empty_tree_is_all_unknown() {
        let t = Tree::new();
        let s = t.signals().state();
        assert_eq!(
            s,
            PlatformState {
                network: NetworkKind::Unknown,
                network_id: String::new(),
                metered: false,
                battery_level: None,
                charging: None,
                low_power: false,
                thermal: ThermalState::Unknown,
            }
        );
    }

    #[test]
    fn garbage_files_degrade_to_unknown() {
        let t = Tree::new();
        t.write("proc/net/route", b"\xff\xfe garbage")
            .write("sys/class/power_supply/BAT0/type", b"Battery")
            .write("sys/class/power_supply/BAT0/capacity", b"lots")
            .write("sys/class/power_supply/BAT0/status", b"\x00\x01")
            .write("sys/class/power_supply/AC/type", b"Mains")
            .write("sys/class/power_supply/AC/online", b"maybe")
            .write("sys/class/power_supply/BAT1/type", b"Battery")
            .write("sys/class/power_supply/BAT1/capacity", b"250")
            .write("sys/class/thermal/thermal_zone0/temp", b"hot")
            .write("sys/class/thermal/thermal_zone1/temp", b"999999999")
            .write("sys/firmware/acpi/platform_profile", &[0xff; 10_000]);
        let s = t.signals().state();
        assert_eq!(s.network, NetworkKind::Unknown);
        assert_eq!(s.battery_level, None);
        assert_eq!(s.charging, None);
        assert!(!s.low_power);
        assert_eq!(s.thermal, ThermalState::Unknown);

        // a route table with broken rows: the broken rows are skipped
        t.write(
            "proc/net/route",
            b"Iface Destination Gateway Flags RefCnt Use Metric\nwlan0 00000000 0101 zz 0 0 1\nshort\n",
        );
        assert_eq!(t.signals().state().network, NetworkKind::None);
        // a default route to an interface sysfs does not know
        t.write(
            "proc/net/route",
            b"Iface Destination Gateway Flags RefCnt Use Metric\nghost0 00000000 0101 0003 0 0 1\n",
        );
        assert_eq!(t.signals().state().network, NetworkKind::Unknown);
    }

    #[test]
    fn thermal_thresholds_map_states() {
        let t = Tree::new();
        let at = |m: &str| {
            t.write("sys/class/thermal/thermal_zone0/temp", m.as_bytes());
            t.signals().state().thermal
        };
        assert_eq!(at("30000"), ThermalState::Nominal);
        assert_eq!(at("60000"), ThermalState::Fair);
        assert_eq!(at("75000"), ThermalState::Serious);
        assert_eq!(at("95000"), ThermalState::Critical);
    }

    #[test]
    fn signals_are_object_safe() {
        let s: Box<dyn PlatformSignals> = Box::new(FixedSignals::new(PlatformState::default()));
        assert_eq!(s.state().network, NetworkKind::Unknown);
    }
}
