//! The slow phone: a cgroup CPU quota on the phone process (cgroup v1's CPU controller, or
//! cgroup v2's `cpu.max`), or, where cgroups are not writable, the calibrated-slowdown mode.
//!
//! **Which cgroup.** A writable cgroup v1 CPU controller (`cpu.cfs_quota_us` under
//! `/sys/fs/cgroup/cpu`) is used first; else cgroup v2 (a unified hierarchy at
//! `/sys/fs/cgroup` whose `cgroup.controllers` lists `cpu`): the benchmark enables the `cpu`
//! controller for the root's children (`+cpu` in `cgroup.subtree_control`), creates its
//! groups there and writes `cpu.max` (`quota period`) and `cpu.weight`. The results say
//! which one ran (`setup.throttle_kind`: `cgroup_v1`, `cgroup_v2` or `calibrated_sleep`).
//!
//! **cgroup mode.** The phone process gets `quota = 1 ms` of CPU time per
//! `period = slowdown x 1 ms` (the kernel's smallest quota is 1 ms, so the period grows
//! instead of the quota shrinking): a 4x slowdown is 1 ms every 4 ms, whatever the number of
//! threads. Model parts run on one thread (tract has no intra-op threads), so the phone runs
//! them `slowdown` times slower than the unthrottled edge process, and its networking code
//! is throttled too, as on a real slow phone.
//!
//! **Priority.** This machine is shared: other processes' load would slow the phone below
//! its quota and the edge below full speed at random moments. Both therefore get
//! `cpu.shares = 8192` (8x a normal process's weight): the phone still never gets more than
//! its quota, the edge (its own group, no quota) at most the CPU it asks for, but neither
//! waits behind a compiler while it works.
//!
//! **Calibrated-slowdown mode** (no writable cgroup, or `--throttle sleep`): the phone runs at
//! full speed; after each request it sleeps `(slowdown - 1)` times the compute it measured
//! and reports that time (and its compute energy) as part of the request. The device profile
//! given to the planner is scaled the same way. It models compute exactly, but not the
//! throttling of the phone's own network stack, and the sleep comes after the request
//! instead of inside it (the edge's and the link's timings are unaffected).

use std::path::{Path, PathBuf};

use crate::error::BenchError;

/// Where cgroup v1 CPU controllers are usually mounted.
const CPU_ROOTS: [&str; 2] = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"];
/// Where a cgroup v2 unified hierarchy is mounted (alone, or beside v1 as `unified`).
const V2_ROOTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// cgroup v2's `cpu.weight` for [`PRIORITY_SHARES`]: v1 shares of 1024 are weight 100.
const PRIORITY_WEIGHT: u64 = PRIORITY_SHARES * 100 / 1024;

/// The CFS period and quota for a slowdown: `(period_us, quota_us)`.
pub fn cfs_for(slowdown: f64) -> Result<(u64, u64), BenchError> {
    if !(slowdown.is_finite() && (1.0..=1000.0).contains(&slowdown)) {
        return Err(BenchError::Args(format!("--slowdown {slowdown}: expected 1 to 1000")));
    }
    Ok(((1000.0 * slowdown).round() as u64, 1000))
}

/// The CPU weight of the benchmark's groups (a normal process has 1024).
pub const PRIORITY_SHARES: u64 = 8192;

/// A cgroup holding the phone (with a quota) or the edge (without); removed on drop.
#[derive(Debug)]
pub struct CpuThrottle {
    root: PathBuf,
    dir: PathBuf,
    /// 1 or 2.
    version: u8,
    period_us: Option<u64>,
    quota_us: Option<u64>,
}

impl CpuThrottle {
    /// Creates cgroup `name` under the first writable cgroup v1 CPU controller, else under
    /// a cgroup v2 hierarchy with the `cpu` controller, with the quota of `slowdown` (none:
    /// no quota) and [`PRIORITY_SHARES`] (v2: the same weight).
    pub fn create(name: &str, slowdown: Option<f64>) -> Result<CpuThrottle, BenchError> {
        let cfs = slowdown.map(cfs_for).transpose()?;
        let v1 = CPU_ROOTS.iter().map(PathBuf::from).find(|r| r.join("cpu.cfs_quota_us").exists());
        let v1_error = match v1 {
            Some(root) => match Self::create_in(root, 1, name, cfs) {
                Ok(t) => return Ok(t),
                Err(e) => e.to_string(),
            },
            None => "no cgroup v1 CPU controller (cpu.cfs_quota_us) is mounted".to_string(),
        };
        let v2 = V2_ROOTS.iter().map(PathBuf::from).find(|r| {
            std::fs::read_to_string(r.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == "cpu"))
        });
        let Some(root) = v2 else {
            return Err(BenchError::Throttle(format!(
                "{v1_error}; no cgroup v2 hierarchy with the cpu controller"
            )));
        };
        // The root's children get the cpu controller (a no-op when already enabled).
        let control = root.join("cgroup.subtree_control");
        let enabled =
            std::fs::read_to_string(&control).is_ok_and(|c| c.split_whitespace().any(|x| x == "cpu"));
        if !enabled {
            std::fs::write(&control, "+cpu").map_err(|e| {
                BenchError::Throttle(format!(
                    "{v1_error}; cgroup v2: writing +cpu to {}: {e}",
                    control.display()
                ))
            })?;
        }
        Self::create_in(root, 2, name, cfs)
            .map_err(|e| BenchError::Throttle(format!("{v1_error}; cgroup v2: {e}")))
    }

    fn create_in(
        root: PathBuf,
        version: u8,
        name: &str,
        cfs: Option<(u64, u64)>,
    ) -> Result<CpuThrottle, BenchError> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::Throttle(format!("creating {}: {e}", dir.display())))?;
        let throttle =
            CpuThrottle { root, dir, version, period_us: cfs.map(|c| c.0), quota_us: cfs.map(|c| c.1) };
        match (version, cfs) {
            (1, Some((period_us, quota_us))) => {
                throttle.write("cpu.cfs_period_us", &period_us.to_string())?;
                throttle.write("cpu.cfs_quota_us", &quota_us.to_string())?;
            }
            (_, Some((period_us, quota_us))) => {
                throttle.write("cpu.max", &format!("{quota_us} {period_us}"))?
            }
            _ => {}
        }
        if version == 1 {
            throttle.write("cpu.shares", &PRIORITY_SHARES.to_string())?;
        } else {
            throttle.write("cpu.weight", &PRIORITY_WEIGHT.to_string())?;
        }
        Ok(throttle)
    }

    /// Changes the group's quota to that of `slowdown` (a phone-speed sweep moves the same
    /// phone process from one speed to the next).
    pub fn set_slowdown(&mut self, slowdown: f64) -> Result<(), BenchError> {
        let (period_us, quota_us) = cfs_for(slowdown)?;
        if self.version == 1 {
            // v1 refuses a period below the quota already set, so the quota goes first.
            self.write("cpu.cfs_quota_us", &quota_us.to_string())?;
            self.write("cpu.cfs_period_us", &period_us.to_string())?;
        } else {
            self.write("cpu.max", &format!("{quota_us} {period_us}"))?;
        }
        self.period_us = Some(period_us);
        self.quota_us = Some(quota_us);
        Ok(())
    }

    /// The cgroup version in use: 1 or 2.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// `cgroup_v1` or `cgroup_v2`.
    pub fn kind(&self) -> &'static str {
        if self.version == 1 {
            "cgroup_v1"
        } else {
            "cgroup_v2"
        }
    }

    /// The group and its settings in words, e.g. `cgroup v1 /sys/fs/cgroup/cpu/x:
    /// cpu.cfs_quota_us=1000 per cpu.cfs_period_us=4000, cpu.shares=8192`.
    pub fn describe(&self) -> String {
        let (q, p) = (self.quota_us.unwrap_or(0), self.period_us.unwrap_or(0));
        match (self.version, self.quota_us.is_some()) {
            (1, true) => format!(
                "cgroup v1 {}: cpu.cfs_quota_us={q} per cpu.cfs_period_us={p}, cpu.shares={PRIORITY_SHARES}",
                self.dir.display()
            ),
            (1, false) => format!("cgroup v1 {}: no quota, cpu.shares={PRIORITY_SHARES}", self.dir.display()),
            (_, true) => {
                format!("cgroup v2 {}: cpu.max=\"{q} {p}\", cpu.weight={PRIORITY_WEIGHT}", self.dir.display())
            }
            (_, false) => {
                format!("cgroup v2 {}: cpu.max=max, cpu.weight={PRIORITY_WEIGHT}", self.dir.display())
            }
        }
    }

    /// Times the kernel throttled the group (`nr_throttled` of its `cpu.stat`, v1 and v2).
    pub fn times_throttled(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
        stat.lines().find_map(|l| l.strip_prefix("nr_throttled ")).and_then(|n| n.trim().parse().ok())
    }

    fn write(&self, file: &str, value: &str) -> Result<(), BenchError> {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .map_err(|e| BenchError::Throttle(format!("writing {value} to {}: {e}", path.display())))
    }

    /// Moves process `pid` (all its threads) into the cgroup.
    pub fn add(&self, pid: u32) -> Result<(), BenchError> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// Moves process `pid` back to the root group: full speed (for setup work).
    pub fn release(&self, pid: u32) -> Result<(), BenchError> {
        let path = self.root.join("cgroup.procs");
        std::fs::write(&path, pid.to_string())
            .map_err(|e| BenchError::Throttle(format!("writing {pid} to {}: {e}", path.display())))
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CFS period, µs (`None`: no quota).
    pub fn period_us(&self) -> Option<u64> {
        self.period_us
    }

    /// The CFS quota, µs (`None`: no quota).
    pub fn quota_us(&self) -> Option<u64> {
        self.quota_us
    }
}

impl Drop for CpuThrottle {
    fn drop(&mut self) {
        // Processes still inside go back to the root group, or the directory cannot go.
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            log::warn!("could not remove the cgroup {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_one_millisecond_per_slowdown_period() {
        assert_eq!(cfs_for(4.0).expect("valid"), (4000, 1000));
        assert_eq!(cfs_for(2.5).expect("valid"), (2500, 1000));
        assert_eq!(cfs_for(1.0).expect("valid"), (1000, 1000));
        assert!(cfs_for(0.5).is_err());
        assert!(cfs_for(f64::NAN).is_err());
    }

    /// Where this machine lets the benchmark create a CPU group (root, cgroup v1 or v2), a
    /// busy process in a 4x group is really throttled by the kernel; elsewhere the benchmark
    /// falls back to the calibrated-slowdown mode and this test says so.
    #[test]
    fn a_busy_process_in_a_quota_group_is_throttled_by_the_kernel() {
        let group = match CpuThrottle::create(&format!("tandem-bench-test-{}", std::process::id()), Some(4.0))
        {
            Ok(g) => g,
            Err(e) => {
                eprintln!("no writable cgroup here, nothing to check: {e}");
                return;
            }
        };
        assert!(group.describe().contains(if group.version() == 1 {
            "cfs_quota_us=1000"
        } else {
            "cpu.max=\"1000 4000\""
        }));
        let mut busy =
            std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh starts");
        group.add(busy.id()).expect("the process joins the group");
        let started = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let throttled = group.times_throttled();
        let _ = busy.kill();
        let _ = busy.wait();
        let n = throttled.expect("cpu.stat has nr_throttled");
        eprintln!("{}: throttled {n} times in {:?}", group.describe(), started.elapsed());
        assert!(n > 0, "a spinning process at 1 ms per 4 ms was never throttled");
    }
}
