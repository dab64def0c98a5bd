//! A model the phone's engine cannot run (`Det`, which tract lacks) is still usable: the
//! session loads it to run whole on the edge, whose ONNX Runtime engine runs it, and says why
//! in the report. When the edge cannot take a request the caller gets a typed error (there
//! is nothing the phone could run instead), and a privacy floor above cut 0 keeps the model
//! refused at load.
//!
//! Needs ONNX Runtime's library (found as `tandem edge --engine auto` finds it): without it
//! the tests say so and pass, unless `TANDEM_REQUIRE_ORT=1` (CI sets it).
#![cfg(feature = "ort")]

use std::path::PathBuf;
use std::sync::Arc;

use tandem_e2e::*;
use tandem_edge::ort_locate::{locate, Located};
use tandem_edge::{EngineChoice, OrtOptions};
use tandem_linkemu::LinkConfig;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::report::Decision;
use tandem_sdk::{EdgeEndpoint, Error, NamedTensor, NetworkKind, Policy, Session, SessionError};

fn det_model() -> PathBuf {
    testdata("unsupported_det.onnx")
}

/// Whether ONNX Runtime's library is found; fails when it must be (`TANDEM_REQUIRE_ORT=1`).
fn onnxruntime_found() -> bool {
    match locate(None) {
        Located::Found { .. } => true,
        Located::NotFound(why) => {
            assert!(std::env::var_os("TANDEM_REQUIRE_ORT").is_none(), "TANDEM_REQUIRE_ORT is set: {why}");
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn ort_edge() -> tandem_edge::EdgeServerBuilder {
    edge_builder().model_file(det_model()).engine(EngineChoice::Ort).ort_options(OrtOptions::default())
}

fn session(url: &str, policy: Policy) -> Result<Session, SessionError> {
    Session::builder(det_model())
        .edge(EdgeEndpoint::new(url))
        .policy(policy)
        .signals(Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi))))
        .config(quiet_config())
        .build()
}

/// The model's input: a 3x3 matrix (batch 1) and its determinant after the model's `Relu`.
fn matrix_and_det() -> (Vec<NamedTensor>, f32) {
    let m = [2.0f32, -1.0, 0.5, 1.0, 3.0, 0.0, 0.25, 2.0, 1.5];
    let r: Vec<f64> = m.iter().map(|&v| f64::from(v.max(0.0))).collect();
    let det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6])
        + r[2] * (r[3] * r[7] - r[4] * r[6]);
    (vec![NamedTensor::from_f32("x", vec![1, 3, 3], &m).expect("tensor")], det as f32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_phone_cannot_run_runs_whole_on_the_edge_and_the_report_says_why() {
    if !onnxruntime_found() {
        return;
    }
    let _serial = serial().await;
    let rig = Rig::start(ort_edge, LinkConfig::mbps(100.0, 100.0, 2.0)).await;
    let session =
        session(&rig.url(), Policy::default()).expect("the session loads the model to run on the edge");
    let (input, det) = matrix_and_det();
    let result = session.infer(input).await.expect("the edge runs the model");
    let report = &result.report;
    assert!(report.offloaded, "{}", report.summary());
    assert_eq!(report.plan.cut, 0);
    let got = result.outputs[0].to_f32().expect("float output");
    assert_eq!(result.outputs[0].name, "d");
    assert!((got[0] - det).abs() <= 1e-5 * det.abs().max(1.0), "det {} != {det}", got[0]);
    let reason = report
        .decisions
        .iter()
        .find_map(|d| match d {
            Decision::WholeOnEdge { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("the report says why the whole request went to the edge");
    assert!(reason.contains("Det") && reason.contains("/head/Det"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_edge_a_request_gets_a_typed_error_and_the_session_stays_usable() {
    if !onnxruntime_found() {
        return;
    }
    let _serial = serial().await;
    let mut rig = Rig::start(ort_edge, LinkConfig::mbps(100.0, 100.0, 2.0)).await;
    let session = session(&rig.url(), Policy::default()).expect("session");
    let (input, _) = matrix_and_det();
    session.infer(input.clone()).await.expect("first request through the edge");
    rig.kill_edge().await;
    match session.infer(input.clone()).await {
        Err(SessionError::EdgeRequired { reason, detail }) => {
            assert!(reason.contains("Det"), "{reason}");
            assert!(!detail.is_empty());
        }
        other => panic!("expected EdgeRequired, got {other:?}"),
    }
    rig.restart_edge(None).await;
    // The breaker may hold the edge off for a while after the failure; within a few tries
    // the session uses it again.
    let mut last = None;
    for _ in 0..50 {
        match session.infer(input.clone()).await {
            Ok(r) => {
                assert!(r.report.offloaded);
                return;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the session never used the restarted edge: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privacy_floor_above_cut_0_or_no_edge_keeps_the_model_refused_at_load() {
    let _serial = serial().await;
    let kept = Policy { keep_raw_input_on_device: true, ..Policy::default() };
    let Err(err) = session("http://127.0.0.1:9", kept) else {
        panic!("a floor above cut 0 must refuse the model")
    };
    assert!(
        matches!(&err, SessionError::Load(Error::UnsupportedOperator { op_type, .. }) if op_type == "Det"),
        "{err:?}"
    );
    let Err(err) = Session::builder(det_model()).build() else { panic!("refused without an edge") };
    assert!(matches!(err, SessionError::Load(Error::UnsupportedOperator { .. })), "{err:?}");
}
