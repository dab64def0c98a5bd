//! Device calibration on a real model: measured, persisted, refreshed on a thermal change,
//! recalibrated when the file is corrupt.

mod common;

use std::sync::Arc;

use tandem_model::{check, Executor, LoadOptions, Model};
use tandem_planner::devprofile::{CalibrationOptions, DeviceProfile, ProfileStore};
use tandem_planner::ThermalState;

fn tiny() -> Executor {
    let model = Model::load(common::model_path("tiny_resnet"), &LoadOptions::default()).expect("loads");
    Executor::new(Arc::new(model))
}

#[test]
fn calibration_times_some_cuts_and_interpolates_the_rest() {
    let exec = tiny();
    let inputs = check::seeded_inputs(exec.model().inputs());
    let options = CalibrationOptions { runs: 1, max_cuts: Some(5) };
    let mut seen = vec![];
    let p =
        DeviceProfile::calibrate(&exec, &inputs, &options, "test-device", ThermalState::Nominal, |id, ms| {
            seen.push((id, ms))
        })
        .expect("calibrates");
    let n = exec.model().cuts().len();
    assert!(p.measured);
    assert_eq!(p.before_ms.len(), n);
    assert!(p.validate(n).is_ok());
    assert_eq!(p.timed_cuts, seen.iter().map(|s| s.0).collect::<Vec<_>>());
    assert!(
        seen.len() <= 7 && seen.first().map(|s| s.0) == Some(0) && seen.last().map(|s| s.0) == Some(n - 1),
        "{seen:?}"
    );
    assert_eq!(p.before_ms[0], 0.0);
    assert!(p.before_ms[n - 1] > 0.0);
    for (id, ms) in &seen {
        assert_eq!(p.before_ms[*id], *ms, "timed cuts keep their measurement");
    }
    let est = DeviceProfile::estimate_by_running(&exec, &inputs, 1, "test-device", ThermalState::Nominal)
        .expect("runs");
    assert!(!est.measured);
    assert_eq!(est.before_ms.len(), n);
    let ratio = est.before_ms[n - 1] / p.before_ms[n - 1];
    assert!((0.1..10.0).contains(&ratio), "the whole run is the same work both ways: {ratio}");
}

#[test]
fn the_store_reuses_refreshes_and_recovers() {
    let exec = tiny();
    let inputs = check::seeded_inputs(exec.model().inputs());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ProfileStore::new(dir.path());
    let options = CalibrationOptions { runs: 1, max_cuts: Some(3) };
    let hash = exec.model().hash().to_string();
    let n = exec.model().cuts().len();

    let first =
        store.load_or_calibrate(&exec, &inputs, &options, "dev", ThermalState::Nominal).expect("calibrates");
    let path = store.path_for(&hash, "dev");
    assert!(path.exists(), "saved");
    let again =
        store.load_or_calibrate(&exec, &inputs, &options, "dev", ThermalState::Nominal).expect("loads");
    // reused from disk, not measured again (JSON keeps times to ~1e-15, not bit for bit)
    assert_eq!(
        (&again.timed_cuts, again.thermal_at_calibration),
        (&first.timed_cuts, first.thermal_at_calibration)
    );
    assert!(
        again.before_ms.iter().zip(&first.before_ms).all(|(a, b)| (a - b).abs() <= 1e-9 * b.abs().max(1.0)),
        "{again:?} vs {first:?}"
    );

    let hot = store
        .load_or_calibrate(&exec, &inputs, &options, "dev", ThermalState::Serious)
        .expect("recalibrates");
    assert_eq!(hot.thermal_at_calibration, ThermalState::Serious);
    assert_eq!(store.load(&hash, "dev", n).map(|p| p.thermal_at_calibration), Some(ThermalState::Serious));

    std::fs::write(&path, b"{\"model_hash\": 12").expect("corrupt it");
    let recovered =
        store.load_or_calibrate(&exec, &inputs, &options, "dev", ThermalState::Serious).expect("recovers");
    assert!(recovered.measured);
    assert!(DeviceProfile::load(&path).is_ok(), "a good profile replaced the corrupt file");
}
