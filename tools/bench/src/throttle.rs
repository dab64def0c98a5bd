//! The slow phone: a cgroup v1 CPU quota on the phone process, or, where cgroups are not
//! writable, the calibrated-slowdown mode.
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
    period_us: Option<u64>,
    quota_us: Option<u64>,
}

impl CpuThrottle {
    /// Creates cgroup `name` under the first writable cgroup v1 CPU controller, with the
    /// quota of `slowdown` (none: no quota) and [`PRIORITY_SHARES`].
    pub fn create(name: &str, slowdown: Option<f64>) -> Result<CpuThrottle, BenchError> {
        let cfs = slowdown.map(cfs_for).transpose()?;
        let root =
            CPU_ROOTS.iter().map(PathBuf::from).find(|r| r.join("cpu.cfs_quota_us").exists()).ok_or_else(
                || BenchError::Throttle("no cgroup v1 CPU controller (cpu.cfs_quota_us) is mounted".into()),
            )?;
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::Throttle(format!("creating {}: {e}", dir.display())))?;
        let throttle = CpuThrottle { root, dir, period_us: cfs.map(|c| c.0), quota_us: cfs.map(|c| c.1) };
        if let Some((period_us, quota_us)) = cfs {
            throttle.write("cpu.cfs_period_us", &period_us.to_string())?;
            throttle.write("cpu.cfs_quota_us", &quota_us.to_string())?;
        }
        throttle.write("cpu.shares", &PRIORITY_SHARES.to_string())?;
        Ok(throttle)
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
}
