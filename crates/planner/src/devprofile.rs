//! How long the phone takes to run the part before each cut: the device side of the
//! planner's cost table.
//!
//! A [`DeviceProfile`] comes from a short calibration on the device ([`DeviceProfile::calibrate`]:
//! a few cuts timed, the others interpolated by multiply-accumulates), or, before any
//! calibration, from one measured whole-model run spread over the cuts by their
//! multiply-accumulates ([`DeviceProfile::estimate`]). A [`ProfileStore`] keeps profiles on
//! disk, keyed by model hash, device and engine version, recalibrates when the thermal state
//! changes, and discards corrupt files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::ThermalState;
use crate::{EdgeCutProfile, EdgeLoad, EdgeProfile};
use tandem_model::check;
use tandem_model::Cut;
use tandem_model::NamedTensor;
use tandem_model::{Error, Result};
use tandem_model::{Executor, Side};

/// The inference engine and its version: a profile measured with another engine is stale.
/// A test checks it against `Cargo.lock`.
pub const ENGINE_VERSION: &str = "tract-onnx 0.23.9";

/// Per-cut time of the part before each cut on one device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceProfile {
    /// SHA-256 of the model file ([`tandem_model::Model::hash`]).
    pub model_hash: String,
    /// The device it was measured on ([`device_name`] or the platform's model name).
    pub device: String,
    /// The engine it was measured with ([`ENGINE_VERSION`]).
    pub engine_version: String,
    /// Time of the part before each cut, ms, indexed by cut id (cut 0: nothing to run).
    pub before_ms: Vec<f64>,
    /// Whether the times were measured per cut (true) or estimated from one whole run (false).
    pub measured: bool,
    /// The thermal state during the measurement: when it changes, the profile is refreshed.
    pub thermal_at_calibration: ThermalState,
    /// The cuts that were timed; the others were interpolated by multiply-accumulates.
    #[serde(default)]
    pub timed_cuts: Vec<usize>,
}

/// How a calibration runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalibrationOptions {
    /// Timed runs per part (after one warm-up); the median counts.
    pub runs: usize,
    /// Time at most this many cuts (spread evenly over the model's compute, always including
    /// the last), interpolate the rest. `None`: time every cut.
    pub max_cuts: Option<usize>,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        CalibrationOptions { runs: 3, max_cuts: Some(12) }
    }
}

impl DeviceProfile {
    /// An edge profile for a server `speedup` times faster than this phone:
    /// `after_ms(c) = (before_ms(last) - before_ms(c)) / speedup`, not measured, no load.
    /// For the CLI, the SDK and tests when no measured edge profile is at hand.
    pub fn scaled_edge_profile(&self, cuts: &[Cut], speedup: f64) -> EdgeProfile {
        let full = self.before_ms.last().copied().unwrap_or(0.0);
        EdgeProfile {
            model: String::new(),
            hash: self.model_hash.clone(),
            status: None,
            cuts: cuts
                .iter()
                .zip(&self.before_ms)
                .map(|(c, b)| EdgeCutProfile::of(c, Some(((full - b) / speedup).max(0.0)), false))
                .collect(),
            load: EdgeLoad { capacity: 1, ..Default::default() },
            cloud: None,
            engine: None,
        }
    }

    /// An estimate before calibration: the whole model's `full_run_ms` spread over the cuts
    /// in proportion to the multiply-accumulates before each (by position if the model has
    /// no multiply-accumulates).
    pub fn estimate(
        model_hash: &str,
        device: &str,
        cuts: &[Cut],
        full_run_ms: f64,
        thermal: ThermalState,
    ) -> Self {
        let last = cuts.len().saturating_sub(1);
        let total = cuts.last().map_or(0, |c| c.macs_before);
        let before_ms = cuts
            .iter()
            .map(|c| {
                let share = if total > 0 {
                    c.macs_before as f64 / total as f64
                } else {
                    c.id as f64 / last.max(1) as f64
                };
                full_run_ms.max(0.0) * share
            })
            .collect();
        DeviceProfile {
            model_hash: model_hash.into(),
            device: device.into(),
            engine_version: ENGINE_VERSION.into(),
            before_ms,
            measured: false,
            thermal_at_calibration: thermal,
            timed_cuts: vec![last],
        }
    }

    /// Measures one whole-model run on `inputs` (one warm-up, median of `runs`) and returns
    /// [`DeviceProfile::estimate`] from it.
    pub fn estimate_by_running(
        exec: &Executor,
        inputs: &[NamedTensor],
        runs: usize,
        device: &str,
        thermal: ThermalState,
    ) -> Result<Self> {
        let model = exec.model();
        let full = check::time_part(exec, model.last_cut(), Side::Before, inputs, runs)?;
        Ok(DeviceProfile::estimate(model.hash(), device, model.cuts(), full.run_ms, thermal))
    }

    /// Calibrates: times the part before some cuts (see [`CalibrationOptions::max_cuts`]) and
    /// interpolates the others by multiply-accumulates. `on_cut` sees each timed cut (cut id,
    /// ms) for progress output.
    pub fn calibrate(
        exec: &Executor,
        inputs: &[NamedTensor],
        options: &CalibrationOptions,
        device: &str,
        thermal: ThermalState,
        mut on_cut: impl FnMut(usize, f64),
    ) -> Result<Self> {
        let model = exec.model();
        let cuts = model.cuts();
        let timed_cuts = pick_cuts(cuts, options.max_cuts);
        let mut timed = Vec::with_capacity(timed_cuts.len());
        for &id in &timed_cuts {
            let ms = if id == 0 {
                0.0
            } else {
                check::time_part(exec, id, Side::Before, inputs, options.runs)?.run_ms
            };
            on_cut(id, ms);
            timed.push((id, ms));
        }
        Ok(DeviceProfile {
            model_hash: model.hash().into(),
            device: device.into(),
            engine_version: ENGINE_VERSION.into(),
            before_ms: interpolate(cuts, &timed),
            measured: true,
            thermal_at_calibration: thermal,
            timed_cuts,
        })
    }

    /// A profile from `tandem profile`'s per-cut timings (every cut timed).
    pub fn from_timings(
        model_hash: &str,
        device: &str,
        timings: &[check::CutTiming],
        thermal: ThermalState,
    ) -> Self {
        DeviceProfile {
            model_hash: model_hash.into(),
            device: device.into(),
            engine_version: ENGINE_VERSION.into(),
            before_ms: timings.iter().map(|t| t.before_ms).collect(),
            measured: true,
            thermal_at_calibration: thermal,
            timed_cuts: timings.iter().map(|t| t.id).collect(),
        }
    }

    /// The same model, device and engine, and measured in the same thermal state.
    pub fn is_fresh_for(&self, model_hash: &str, device: &str, thermal: ThermalState) -> bool {
        self.model_hash == model_hash
            && self.device == device
            && self.engine_version == ENGINE_VERSION
            && self.thermal_at_calibration == thermal
    }

    /// Checks that the profile is usable for a model with `cuts` cuts: one finite,
    /// non-negative time per cut.
    pub fn validate(&self, cuts: usize) -> std::result::Result<(), String> {
        if self.before_ms.len() != cuts {
            return Err(format!("{} times for {cuts} cuts", self.before_ms.len()));
        }
        if let Some((id, t)) = self.before_ms.iter().enumerate().find(|(_, t)| !(t.is_finite() && **t >= 0.0))
        {
            return Err(format!("cut {id} has time {t}"));
        }
        Ok(())
    }

    /// Reads a profile written by [`DeviceProfile::save`] (or `tandem profile --save`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// Writes the profile as JSON (atomically: a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a profile always serializes");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

/// Up to `max` cuts spread evenly over the model's compute: always the last, never
/// duplicates; cut 0 (nothing to run) is free and always included.
fn pick_cuts(cuts: &[Cut], max: Option<usize>) -> Vec<usize> {
    let last = cuts.len().saturating_sub(1);
    let Some(max) = max.filter(|m| m + 1 < cuts.len()) else {
        return (0..cuts.len()).collect();
    };
    let total = cuts[last].macs_before.max(1) as f64;
    let mut picked = vec![0];
    for k in 1..=max.max(1) {
        let target = total * k as f64 / max.max(1) as f64;
        // the first cut with at least `target` MACs before it
        let id = cuts.iter().position(|c| c.macs_before as f64 >= target).unwrap_or(last);
        if picked.last() != Some(&id) {
            picked.push(id);
        }
    }
    if picked.last() != Some(&last) {
        picked.push(last);
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

/// Per-cut times from timed cuts (sorted by id, first is 0): linear in multiply-accumulates
/// between neighbours (in position when they have the same count).
fn interpolate(cuts: &[Cut], timed: &[(usize, f64)]) -> Vec<f64> {
    cuts.iter()
        .map(|c| {
            let upper = timed.iter().position(|(id, _)| *id >= c.id).unwrap_or(timed.len() - 1);
            let (b, tb) = timed[upper];
            if b == c.id || upper == 0 {
                return tb;
            }
            let (a, ta) = timed[upper - 1];
            let (ma, mb, mc) = (cuts[a].macs_before, cuts[b].macs_before, c.macs_before);
            let f = if mb > ma {
                (mc.saturating_sub(ma)) as f64 / (mb - ma) as f64
            } else {
                (c.id - a) as f64 / (b - a) as f64
            };
            ta + f.clamp(0.0, 1.0) * (tb - ta)
        })
        .collect()
}

/// A name for this machine: architecture, OS and CPU model (from `/proc/cpuinfo` where it
/// exists). Phones pass their own (e.g. `Build.MODEL`).
pub fn device_name() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Hardware"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-cpu".into());
    format!("{}-{}-{}", std::env::consts::ARCH, std::env::consts::OS, cpu)
}

/// Device profiles on disk, one JSON file per (model hash, device, engine version).
#[derive(Clone, Debug)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ProfileStore { dir: dir.into() }
    }

    /// The file of a profile: readable prefix, and a hash of the whole key so that any device
    /// name is a safe file name.
    pub fn path_for(&self, model_hash: &str, device: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let key = hex::encode(Sha256::digest(format!("{model_hash}\n{device}\n{ENGINE_VERSION}").as_bytes()));
        let short_model: String = model_hash.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        self.dir.join(format!("{short_model}-{}.json", &key[..16]))
    }

    /// The stored profile for this model and device, if there is one that parses, matches the
    /// key and fits `cuts` cuts. A corrupt or mismatched file is deleted with a warning.
    pub fn load(&self, model_hash: &str, device: &str, cuts: usize) -> Option<DeviceProfile> {
        let path = self.path_for(model_hash, device);
        if !path.exists() {
            return None;
        }
        let problem = match DeviceProfile::load(&path) {
            Ok(p)
                if p.model_hash != model_hash || p.device != device || p.engine_version != ENGINE_VERSION =>
            {
                "it is for another model, device or engine".to_string()
            }
            Ok(p) => match p.validate(cuts) {
                Ok(()) => return Some(p),
                Err(e) => e,
            },
            Err(e) => e.to_string(),
        };
        log::warn!("discarding the device profile {}: {problem}; it will be recalibrated", path.display());
        let _ = std::fs::remove_file(&path);
        None
    }

    /// The stored profile if it is fresh for `thermal`, else a new calibration, saved.
    /// A failure to save is logged, not returned: the calibration is still good.
    pub fn load_or_calibrate(
        &self,
        exec: &Executor,
        inputs: &[NamedTensor],
        options: &CalibrationOptions,
        device: &str,
        thermal: ThermalState,
    ) -> Result<DeviceProfile> {
        let model = exec.model();
        if let Some(p) = self.load(model.hash(), device, model.cuts().len()) {
            if p.is_fresh_for(model.hash(), device, thermal) {
                return Ok(p);
            }
            log::info!("recalibrating: thermal state {:?} -> {:?}", p.thermal_at_calibration, thermal);
        }
        let profile = DeviceProfile::calibrate(exec, inputs, options, device, thermal, |_, _| {})?;
        if let Err(e) = profile.save(&self.path_for(model.hash(), device)) {
            log::warn!("could not save the device profile: {e}");
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cut(id: usize, macs_before: u64) -> Cut {
        Cut {
            id,
            after_node: None,
            tensors: vec![],
            bytes: 0,
            bytes_by_dtype: BTreeMap::new(),
            macs_before,
            macs_after: 0,
            reveals_input: id == 0,
        }
    }

    #[test]
    fn estimate_spreads_by_macs() {
        let cuts = [cut(0, 0), cut(1, 10), cut(2, 10), cut(3, 40)];
        let p = DeviceProfile::estimate("h", "d", &cuts, 80.0, ThermalState::Nominal);
        assert_eq!(p.before_ms, vec![0.0, 20.0, 20.0, 80.0]);
        assert!(!p.measured);
        let no_macs = [cut(0, 0), cut(1, 0), cut(2, 0)];
        assert_eq!(
            DeviceProfile::estimate("h", "d", &no_macs, 10.0, ThermalState::Nominal).before_ms,
            vec![0.0, 5.0, 10.0]
        );
    }

    #[test]
    fn picks_and_interpolates() {
        let cuts: Vec<Cut> = (0..11).map(|i| cut(i, (i * i) as u64)).collect();
        let picked = pick_cuts(&cuts, Some(3));
        assert_eq!(picked.first(), Some(&0));
        assert_eq!(picked.last(), Some(&10));
        assert!(picked.len() <= 5, "{picked:?}");
        assert_eq!(pick_cuts(&cuts, None), (0..11).collect::<Vec<_>>());
        // time proportional to MACs: interpolation is exact
        let timed: Vec<(usize, f64)> =
            picked.iter().map(|&i| (i, cuts[i].macs_before as f64 * 0.5)).collect();
        let all = interpolate(&cuts, &timed);
        for c in &cuts {
            assert!((all[c.id] - c.macs_before as f64 * 0.5).abs() < 1e-9, "{all:?}");
        }
    }

    #[test]
    fn engine_version_matches_the_lockfile() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
            .expect("Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"tract-onnx\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"').to_string())
            .expect("tract-onnx in Cargo.lock");
        assert_eq!(ENGINE_VERSION, format!("tract-onnx {version}"));
    }

    fn profile(hash: &str, device: &str, n: usize) -> DeviceProfile {
        DeviceProfile {
            model_hash: hash.into(),
            device: device.into(),
            engine_version: ENGINE_VERSION.into(),
            before_ms: (0..n).map(|i| i as f64).collect(),
            measured: true,
            thermal_at_calibration: ThermalState::Nominal,
            timed_cuts: vec![],
        }
    }

    #[test]
    fn store_round_trips_and_discards_corrupt_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::new(dir.path().join("profiles"));
        let device = "Pixel 7 / \"weird\" name";
        let p = profile("abc123", device, 4);
        let path = store.path_for("abc123", device);
        p.save(&path).expect("save");
        assert_eq!(store.load("abc123", device, 4), Some(p.clone()));
        assert_eq!(store.load("other", device, 4), None, "another model: another file");
        assert!(path.exists());

        // wrong cut count: discarded
        assert_eq!(store.load("abc123", device, 5), None);
        assert!(!path.exists(), "a profile that does not fit is deleted");

        for garbage in [&b"{ not json"[..], b"", b"\xff\xfe", br#"{"model_hash":"abc123"}"#] {
            std::fs::write(&path, garbage).expect("write");
            assert_eq!(store.load("abc123", device, 4), None);
            assert!(!path.exists());
        }
        let mut nan = profile("abc123", device, 4);
        nan.before_ms[2] = -1.0;
        nan.save(&path).expect("save");
        assert_eq!(store.load("abc123", device, 4), None, "negative time");
    }

    #[test]
    fn freshness() {
        let p = profile("h", "d", 3);
        assert!(p.is_fresh_for("h", "d", ThermalState::Nominal));
        assert!(!p.is_fresh_for("h", "d", ThermalState::Serious), "thermal change: recalibrate");
        assert!(!p.is_fresh_for("h2", "d", ThermalState::Nominal));
    }
}
