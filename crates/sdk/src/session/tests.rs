//! The session's unit tests: local runs, caller mistakes, configuration, timeouts,
//! calibration and reports (the edge's end-to-end tests are in `tools/e2e`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::check;
use crate::devprofile::CalibrationOptions;
use crate::offload::EdgeEndpoint;
use crate::platform::{FixedSignals, NetworkKind, PlatformState};
use crate::report::FallbackReason;

fn tiny() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tiny_resnet.onnx"))
}

fn wifi() -> Arc<FixedSignals> {
    Arc::new(FixedSignals::new(PlatformState {
        network: NetworkKind::Wifi,
        network_id: "test".into(),
        ..Default::default()
    }))
}

fn quiet() -> SessionConfig {
    SessionConfig { calibrate: false, auto_probe: false, ..Default::default() }
}

#[test]
fn without_an_edge_everything_runs_locally() {
    let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
    let input = check::seeded_inputs(session.model().inputs());
    let want = Executor::new(session.model().clone()).run_full(&input).expect("runs");
    let unnamed: Vec<NamedTensor> =
        input.into_iter().map(|t| NamedTensor { name: String::new(), ..t }).collect();
    let r = session.infer_blocking(unnamed).expect("local");
    assert_eq!(r.outputs, want);
    assert!(!r.report.offloaded);
    assert_eq!(r.report.fallback_reason, None);
    assert_eq!(session.edge_status(), EdgeStatus::NoEdge);
    assert!(r.report.total_ms >= r.report.phone_ms);
    assert!(r.report.energy_mj > 0.0);
}

#[test]
fn caller_mistakes_are_errors() {
    let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
    let mut input = check::seeded_inputs(session.model().inputs());
    input[0].shape = vec![1, 2, 3];
    assert!(matches!(session.infer_blocking(input), Err(SessionError::InvalidInput(_))));
    let input = check::seeded_inputs(session.model().inputs());
    let options = InferOptions { cut: Some(999), ..Default::default() };
    assert!(matches!(
        session.infer_blocking_with(input.clone(), options),
        Err(SessionError::InvalidOptions { .. })
    ));
    let options = InferOptions { deadline_ms: Some(f64::NAN), ..Default::default() };
    assert!(matches!(
        session.infer_blocking_with(input.clone(), options),
        Err(SessionError::InvalidOptions { .. })
    ));
    let floor = Session::builder(tiny())
        .signals(wifi())
        .config(quiet())
        .policy(Policy { keep_raw_input_on_device: true, ..Policy::latency() })
        .build()
        .expect("builds");
    let options = InferOptions { cut: Some(0), ..Default::default() };
    assert!(matches!(
        floor.infer_blocking_with(input.clone(), options),
        Err(SessionError::InvalidOptions { .. })
    ));
    session.close();
    assert!(matches!(session.infer_blocking(input), Err(SessionError::Closed)));
}

#[test]
fn bad_configuration_is_refused_at_build() {
    let bad_url = Session::builder(tiny()).edge(EdgeEndpoint::new("ftp://x")).build();
    assert!(matches!(bad_url, Err(SessionError::Config { .. })));
    let bad_ca = Session::builder(tiny())
        .edge(EdgeEndpoint::new("https://x").with_ca_pem(b"not pem".to_vec()))
        .build();
    assert!(matches!(bad_ca, Err(SessionError::Config { .. })));
    let bad_deadline =
        Session::builder(tiny()).policy(Policy { deadline_ms: Some(-1.0), ..Policy::default() }).build();
    assert!(matches!(bad_deadline, Err(SessionError::Config { .. })));
    assert!(matches!(Session::builder("/nonexistent.onnx").build(), Err(SessionError::Load(_))));
}

#[test]
fn offline_requests_say_so() {
    let signals =
        Arc::new(FixedSignals::new(PlatformState { network: NetworkKind::None, ..Default::default() }));
    // Nothing listens on port 9: the session must not even try.
    let session = Session::builder(tiny())
        .edge(EdgeEndpoint::new("http://127.0.0.1:9"))
        .signals(signals)
        .config(quiet())
        .build()
        .expect("builds");
    let input = check::seeded_inputs(session.model().inputs());
    let r = session
        .infer_blocking_with(input, InferOptions { cut: Some(8), ..Default::default() })
        .expect("local");
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::Offline));
    assert!(!r.report.offloaded);
    assert!(r.report.plan.reason.contains("offline"), "{}", r.report.plan.reason);
}

#[test]
fn timeouts_respect_the_deadline() {
    let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
    let inner = &session.inner;
    let c = &inner.config;
    // No deadline: a multiple of the prediction, clamped.
    assert_eq!(inner.edge_timeout_ms(None, 10.0, 100.0), Some(300.0_f64.max(c.min_edge_timeout_ms)));
    assert_eq!(inner.edge_timeout_ms(None, 10.0, 1e9), Some(c.max_edge_timeout_ms));
    // 200 ms left, 40 ms to finish locally: give up 200 - 50 - 3 ms from now.
    let t = inner
        .edge_timeout_ms(Some(Instant::now() + Duration::from_millis(200)), 40.0, 50.0)
        .expect("time left");
    assert!((140.0..=147.5).contains(&t), "{t}");
    // Finishing locally cannot make it: wait for the edge until the deadline.
    let t = inner
        .edge_timeout_ms(Some(Instant::now() + Duration::from_millis(100)), 500.0, 50.0)
        .expect("time left");
    assert!((90.0..=100.0).contains(&t), "{t}");
    assert_eq!(inner.edge_timeout_ms(Some(Instant::now()), 5.0, 50.0), None);
}

#[test]
fn calibrates_in_the_background_and_stores_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SessionConfig {
        auto_probe: false,
        calibration: CalibrationOptions { runs: 1, max_cuts: Some(3) },
        ..Default::default()
    };
    let build = || {
        Session::builder(tiny())
            .signals(wifi())
            .config(config.clone())
            .profile_store(dir.path())
            .device_name("test-device")
            .build()
            .expect("builds")
    };
    let session = build();
    assert!(!session.device_profile().measured, "an estimate until calibrated");
    let input = check::seeded_inputs(session.model().inputs());
    session.infer_blocking(input).expect("local");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !session.device_profile().measured {
        assert!(Instant::now() < deadline, "the calibration never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let p = session.device_profile();
    assert_eq!((p.device.as_str(), p.before_ms.len()), ("test-device", session.model().cuts().len()));
    // The next session on this device starts from the stored profile.
    assert!(build().device_profile().measured);
}

#[test]
fn reports_are_broadcast() {
    let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
    let mut reports = session.subscribe();
    let input = check::seeded_inputs(session.model().inputs());
    let r = session.infer_blocking(input).expect("local");
    let got = reports.try_recv().expect("one report");
    // (Reports hold NaN costs for cuts a local plan could not use: compare fields.)
    assert_eq!((got.request_id, got.total_ms, got.summary()), (1, r.report.total_ms, r.report.summary()));
}
