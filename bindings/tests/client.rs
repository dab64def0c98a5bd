//! The exported API, called from Rust as Kotlin and Swift call it: the same records, objects
//! and foreign traits, against a real edge server on loopback. (The core's records and enums
//! are the FFI's: `NetworkKind::None` is `NetworkKind.Offline` in Kotlin and Swift, and
//! `NetworkKind::Cellular(g)` is `Cellular(generation = g)`.)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_ffi::{
    default_policy, CellularGen, ClientConfig, DType, EdgeEndpoint, EdgeStatus, FallbackReason, InferOptions,
    NetworkKind, Objective, PlatformSignalsProvider, PlatformState, TandemClient, TandemError, Tensor,
    ThermalState, Tier,
};

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tiny_resnet.onnx")
}

/// tiny_resnet's input `[1,3,32,32]` float32: a deterministic ramp.
fn input() -> Tensor {
    let values: Vec<f32> = (0..3 * 32 * 32).map(|i| ((i % 97) as f32 - 48.0) / 48.0).collect();
    Tensor {
        name: String::new(),
        dtype: DType::Fp32,
        shape: vec![1, 3, 32, 32],
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// A shape as `infer_frame` takes it (u64 dimensions, as Kotlin and Swift pass them).
fn dims(t: &Tensor) -> Vec<u64> {
    t.shape.iter().map(|&d| d as u64).collect()
}

/// Platform signals a test can change, as the Kotlin and Swift tests do.
struct Signals(Mutex<PlatformState>);

impl Signals {
    fn new(network: NetworkKind) -> Arc<Signals> {
        Arc::new(Signals(Mutex::new(PlatformState {
            network,
            network_id: "test-net".into(),
            metered: false,
            battery_level: Some(0.8),
            charging: Some(true),
            low_power: false,
            thermal: ThermalState::Nominal,
        })))
    }
    fn set_network(&self, network: NetworkKind) {
        self.0.lock().expect("not poisoned").network = network;
    }
}

impl PlatformSignalsProvider for Signals {
    fn current_state(&self) -> Result<PlatformState, TandemError> {
        Ok(self.0.lock().expect("not poisoned").clone())
    }
}

/// A provider with a bug: it panics (foreign code can only throw; this stands for a bug in
/// Tandem's own code on the request path).
struct Panicking;

impl PlatformSignalsProvider for Panicking {
    fn current_state(&self) -> Result<PlatformState, TandemError> {
        panic!("signals bug")
    }
}

fn config(edge: Option<EdgeEndpoint>) -> ClientConfig {
    ClientConfig {
        model_path: model_path().to_string_lossy().into_owned(),
        edge,
        policy: default_policy(Objective::Latency),
        cache_dir: None,
        device_name: Some("bindings-test".into()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn local_inference_and_reports() {
    let client = TandemClient::new(config(None), Some(Signals::new(NetworkKind::Wifi))).expect("loads");
    let info = client.model_info();
    assert_eq!(info.inputs[0].shape, vec![1, 3, 32, 32]);
    assert_eq!(info.outputs[0].name, "logits");
    assert_eq!(client.edge_status(), EdgeStatus::NoEdge);

    let rt = runtime();
    let stream = client.subscribe_reports();
    let result = rt.block_on(client.infer(vec![input()])).expect("runs");
    assert_eq!(result.outputs.len(), 1);
    assert_eq!(result.outputs[0].name, "logits");
    assert_eq!(result.outputs[0].shape, vec![1, 10]);
    assert!(floats(&result.outputs[0]).iter().all(|v| v.is_finite()));
    assert!(!result.report.offloaded);
    assert_eq!(result.report.plan.tiers, vec![Tier::Device]);
    assert!(!result.report.summary.is_empty());

    let streamed = rt.block_on(stream.next()).expect("the report is streamed");
    assert_eq!(streamed.request_id, result.report.request_id);

    // the frame path gives the same answer
    let frame = input();
    let same = client.infer_frame("input".into(), DType::Fp32, dims(&frame), &frame.data).expect("runs");
    assert_eq!(same.outputs, result.outputs);

    // shutting the client down ends the stream and refuses new requests
    client.shutdown();
    assert_eq!(rt.block_on(stream.next()), None);
    let e = rt.block_on(client.infer(vec![input()])).expect_err("closed");
    assert!(matches!(e, TandemError::Closed), "{e:?}");
}

#[test]
fn bad_inputs_and_files_are_typed_errors() {
    let e = TandemClient::new(
        ClientConfig { model_path: "/nonexistent/model.onnx".into(), ..config(None) },
        None,
    )
    .expect_err("no such file");
    assert!(
        matches!(&e, TandemError::Model { reason } if reason.contains("/nonexistent/model.onnx")),
        "{e:?}"
    );

    let client = TandemClient::new(config(None), None).expect("loads");
    let rt = runtime();
    let short = Tensor { data: vec![0; 12], ..input() };
    let e = rt.block_on(client.infer(vec![short])).expect_err("too few bytes");
    assert!(matches!(e, TandemError::InvalidInput { .. }), "{e:?}");
    let e =
        client.infer_frame("input".into(), DType::Fp32, vec![1, 3, 32, 32], &[1, 2, 3]).expect_err("short");
    assert!(matches!(e, TandemError::InvalidInput { .. }), "{e:?}");
    let e = rt
        .block_on(client.infer_with(vec![input()], InferOptions { cut: Some(10_000), ..Default::default() }))
        .expect_err("no such cut");
    assert!(matches!(e, TandemError::InvalidInput { .. }), "{e:?}");
}

#[test]
fn a_panic_becomes_an_internal_error_and_the_client_survives() {
    let client = TandemClient::new(config(None), Some(Arc::new(Panicking))).expect("loads");
    let rt = runtime();
    let e = rt.block_on(client.infer(vec![input()])).expect_err("the provider panics");
    assert!(matches!(&e, TandemError::Internal { reason } if reason.contains("panicked")), "{e:?}");
    let frame = input();
    let e = client.infer_frame("input".into(), DType::Fp32, dims(&frame), &frame.data).expect_err("panics");
    assert!(matches!(e, TandemError::Internal { .. }), "{e:?}");
    // the same client still answers: the panic was contained to its request
    assert_eq!(client.model_info().outputs[0].name, "logits");
}

#[test]
fn offloads_to_a_real_edge_and_the_signals_change_the_plan() {
    let rt = runtime();
    let models = tempfile::tempdir().expect("tempdir");
    std::fs::copy(model_path(), models.path().join("tiny_resnet.onnx")).expect("copy model");
    let edge = rt
        .block_on(
            tandem_edge::EdgeServer::builder().models_dir(models.path()).token("t0ken").bind("127.0.0.1:0"),
        )
        .expect("edge starts");
    let endpoint = EdgeEndpoint {
        url: edge.url().to_string(),
        token: Some("t0ken".into()),
        ca_pem: None,
        model_name: None,
    };

    let signals = Signals::new(NetworkKind::Wifi);
    let client = TandemClient::new(config(Some(endpoint)), Some(signals.clone())).expect("loads");
    assert_eq!(rt.block_on(client.wait_for_edge(30_000)), EdgeStatus::Verified);

    let local = TandemClient::new(config(None), None).expect("loads");
    let expected = rt.block_on(local.infer(vec![input()])).expect("local run");

    // a cut in the middle: the phone runs the start, the edge the rest
    let mid = client.model_info().cut_count / 2;
    let options = InferOptions { cut: Some(mid), ..Default::default() };
    let offloaded = rt.block_on(client.infer_with(vec![input()], options.clone())).expect("runs");
    assert!(offloaded.report.offloaded, "{:?}", offloaded.report);
    assert_eq!(offloaded.report.fallback_reason, None);
    assert_eq!(offloaded.report.plan.tiers, vec![Tier::Device, Tier::Edge]);
    assert!(offloaded.report.bytes_up > 0 && offloaded.report.bytes_down > 0);
    let diff = floats(&offloaded.outputs[0])
        .iter()
        .zip(floats(&expected.outputs[0]))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-2, "edge and phone disagree by {diff}");

    // offline: the same request runs on the phone, and the report says why
    signals.set_network(NetworkKind::None);
    let offline = rt.block_on(client.infer_with(vec![input()], options)).expect("runs");
    assert!(!offline.report.offloaded);
    assert_eq!(offline.report.fallback_reason, Some(FallbackReason::Offline));
    assert_eq!(offline.report.network, NetworkKind::None);
    assert_eq!(offline.outputs, expected.outputs);

    // the planner's own choice offline is a local plan
    let planned = rt.block_on(client.infer(vec![input()])).expect("runs");
    assert!(!planned.report.plan.offloads, "{:?}", planned.report.plan);
    assert_eq!(planned.report.plan.cut + 1, client.model_info().cut_count, "the last cut is local-only");

    signals.set_network(NetworkKind::Cellular(CellularGen::Lte));
    let back = rt.block_on(client.infer(vec![input()])).expect("runs");
    assert_eq!(back.report.network, NetworkKind::Cellular(CellularGen::Lte));

    rt.block_on(edge.shutdown()).expect("edge stops");
    // the edge is gone: requests still succeed, on the phone
    let after = rt
        .block_on(client.infer_with(
            vec![input()],
            InferOptions { cut: Some(mid), deadline_ms: None, encoding: None, cloud_cut: None },
        ))
        .expect("runs locally");
    assert!(!after.report.offloaded);
    assert!(after.report.fallback_reason.is_some(), "{:?}", after.report);
    assert_eq!(after.outputs, expected.outputs);
    let _ = Duration::ZERO;
}

/// `keep_raw_input_on_device` means the floor computed from the graph, reported by
/// `model_info`: on face_embedder (mean subtraction and a division before the first
/// convolution) a forced cut just below it is refused, the floor itself is accepted.
#[test]
fn keep_raw_input_means_the_models_privacy_floor() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/face_embedder.onnx");
    let mut policy = default_policy(Objective::Latency);
    policy.keep_raw_input_on_device = true;
    let cfg = ClientConfig { model_path: path.to_string_lossy().into_owned(), policy, ..config(None) };
    let client = TandemClient::new(cfg, None).expect("loads");
    let info = client.model_info();
    assert!(
        info.privacy_floor > 2,
        "mean subtraction and division are below the floor: {}",
        info.privacy_floor
    );
    assert!(info.privacy_floor < info.cut_count - 1);
    let pre = info.preprocessing.clone().expect("face_embedder's sidecar says how to fill its input");
    assert_eq!(pre.shape(), info.inputs[0].shape, "the sidecar fits the model's input");
    let spec = &info.inputs[0];
    let elements: usize = spec.shape.iter().product();
    let frame = Tensor {
        name: spec.name.clone(),
        dtype: DType::Fp32,
        shape: spec.shape.clone(),
        data: (0..elements).flat_map(|i| ((i % 251) as f32 / 251.0).to_le_bytes()).collect(),
    };
    let rt = runtime();
    let below = InferOptions { cut: Some(info.privacy_floor - 1), ..Default::default() };
    let e = rt.block_on(client.infer_with(vec![frame.clone()], below)).expect_err("below the floor");
    assert!(matches!(&e, TandemError::InvalidInput { reason } if reason.contains("privacy floor")), "{e:?}");
    let at = InferOptions { cut: Some(info.privacy_floor), ..Default::default() };
    rt.block_on(client.infer_with(vec![frame], at)).expect("the floor itself is allowed");
}
