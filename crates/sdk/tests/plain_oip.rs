//! The offload session against a plain Open Inference Protocol server: KServe's Python model
//! server with ONNX Runtime (`deploy/kserve/tandem_kserve.py`) serving a `tandem export`
//! repository. Outputs must equal local execution; only exported cuts are used; server
//! times are learned from round trips. And KServe as the cloud behind a Tandem edge (three
//! tiers, `tandem edge --cloud URL --cloud-repository DIR`).
//!
//! Needs a Python with `kserve` and `onnxruntime` (deploy/kserve/requirements.txt), named by
//! `TANDEM_KSERVE_PYTHON`; run by `scripts/test-scaleout.sh`:
//! `TANDEM_KSERVE_PYTHON=/tmp/tandem-ci-venv/bin/python cargo test -p tandem-core --test plain_oip -- --ignored`

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_export::{self as export, Manifest};
use tandem_model::npy;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    check, DeviceProfile, EdgeEndpoint, EdgeStatus, Executor, FallbackReason, InferOptions, LoadOptions,
    Model, NamedTensor, NetworkKind, PlainOip, PlatformState, Policy, Session, SessionConfig, ThermalState,
};

/// The KServe server process, killed when the test ends (pass or fail).
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port()
}

fn start_kserve(repository: &Path, log: PathBuf) -> Server {
    let python = std::env::var("TANDEM_KSERVE_PYTHON").expect(
        "TANDEM_KSERVE_PYTHON must name a Python with kserve and onnxruntime (scripts/test-scaleout.sh)",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kserve/tandem_kserve.py");
    let port = free_port();
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(python)
        .arg(script)
        .arg("--repository")
        .arg(repository)
        .arg("--http_port")
        .arg(port.to_string())
        .stdout(Stdio::from(out.try_clone().expect("log file")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("the KServe server starts");
    let server = Server { child, url: format!("http://127.0.0.1:{port}"), log };
    assert!(wait_ready(&server.url), "KServe did not become ready within 90 s:\n{}", server.log_tail());
    server
}

/// Polls `GET /v2/health/ready` until it answers 200 (up to 90 s).
fn wait_ready(url: &str) -> bool {
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(90);
    async {
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{url}/v2/health/ready")).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }
    .await_blocking()
}

fn wifi() -> Arc<FixedSignals> {
    Arc::new(FixedSignals::new(PlatformState {
        network: NetworkKind::Wifi,
        network_id: "loopback".into(),
        ..Default::default()
    }))
}

fn quiet() -> SessionConfig {
    SessionConfig { calibrate: false, auto_probe: false, ..Default::default() }
}

fn input(name: &str, model: &Model) -> Vec<NamedTensor> {
    let file = match name {
        "tiny_resnet" => "tiny_resnet_input.npy",
        "mobilenetv2" => "mobilenetv2_input.npy",
        "face_embedder" => "obama_crop.npy",
        _ => return check::seeded_inputs(model.inputs()),
    };
    let t = npy::read_npy(common::testdata(file), &model.inputs()[0].name).expect("test input");
    vec![t]
}

/// Outputs equal within float32 rounding of two engines (tract here, ONNX Runtime there).
fn assert_close(got: &[NamedTensor], want: &[NamedTensor], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g.name, g.dtype, &g.shape), (&w.name, w.dtype, &w.shape), "{what}");
        let (gv, wv) = (g.to_f32().expect("float"), w.to_f32().expect("float"));
        for (a, b) in gv.iter().zip(&wv) {
            let tol = 1e-4 + 1e-5 * b.abs();
            assert!((a - b).abs() <= tol, "{what}: `{}` differs: {a} vs {b}", g.name);
        }
    }
}

/// A phone so slow that offloading wins at any cut the planner may pick ("measured", so
/// local runs on this fast machine do not rescale it).
fn slow_phone(model: &Model) -> DeviceProfile {
    let estimate =
        DeviceProfile::estimate(model.hash(), "slow-phone", model.cuts(), 5_000.0, ThermalState::Unknown);
    DeviceProfile { measured: true, ..estimate }
}

#[test]
#[ignore = "needs KServe (TANDEM_KSERVE_PYTHON): scripts/test-scaleout.sh"]
fn sessions_offload_to_kserve_and_match_local_execution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    let plans: &[(&str, &[usize])] =
        &[("tiny_resnet", &[0, 3, 11, 22]), ("mobilenetv2", &[0, 40, 90]), ("face_embedder", &[30])];
    let mut models = vec![];
    for (name, cuts) in plans {
        let model = Arc::new(Model::load(common::model_path(name), &LoadOptions::default()).expect("loads"));
        export::export(&model, name, cuts, &repo).expect("exports");
        models.push((*name, model, *cuts));
    }
    let server = start_kserve(&repo, dir.path().join("kserve.log"));
    let manifest = Manifest::load(&repo).expect("manifest");

    for (name, model, cuts) in &models {
        let exec = Executor::new(model.clone());
        let inputs = input(name, model);
        let whole = exec.run_full(&inputs).expect("runs locally");
        for binary in [true, false] {
            let target =
                if binary { PlainOip::new(manifest.clone()) } else { PlainOip::new(manifest.clone()).json() };
            let session = Session::builder(common::model_path(name))
                .plain_edge(EdgeEndpoint::new(&server.url), target)
                .signals(wifi())
                .config(quiet())
                .device_profile(slow_phone(model))
                .build()
                .expect("session builds");
            assert_eq!(
                session.wait_for_edge(Duration::from_secs(30)).await_blocking(),
                EdgeStatus::Verified,
                "{}",
                server.log_tail()
            );
            // JSON bodies are several times larger: one (small) cut shows they work.
            let forced: Vec<usize> = if binary { cuts.to_vec() } else { cuts[cuts.len() - 1..].to_vec() };
            for &cut in &forced {
                let r = session
                    .infer_blocking_with(
                        inputs.clone(),
                        InferOptions { cut: Some(cut), ..Default::default() },
                    )
                    .expect("infers");
                let what = format!("{name} cut {cut} binary={binary}");
                assert!(
                    r.report.offloaded,
                    "{what}: not offloaded: {:?} {:?}\n{}",
                    r.report.fallback_reason,
                    r.report.fallback_detail,
                    server.log_tail()
                );
                assert_eq!(r.report.fallback_reason, None, "{what}");
                assert_eq!(r.report.plan.cut, cut, "{what}");
                assert!(
                    r.report.bytes_up >= model.cut(cut).unwrap().bytes,
                    "{what}: {} bytes up",
                    r.report.bytes_up
                );
                assert_close(&r.outputs, &whole, &what);
            }
            // The planner, left alone, offloads only at exported cuts.
            for _ in 0..3 {
                let r = session.infer_blocking(inputs.clone()).expect("infers");
                assert!(r.report.offloaded, "{name}: the planner ran locally: {}", r.report.plan.reason);
                assert!(
                    cuts.contains(&r.report.plan.cut),
                    "{name}: planned cut {} is not exported: {}",
                    r.report.plan.cut,
                    r.report.plan.reason
                );
                assert_close(&r.outputs, &whole, &format!("{name} planned cut {}", r.report.plan.cut));
            }
            // Server times were learned from the round trips of the cuts used.
            let profile = session.edge_profile().expect("an edge profile");
            for &cut in &forced {
                assert!(profile.cuts[cut].measured, "{name}: cut {cut} has no learned time");
                assert!(profile.cuts[cut].after_ms.is_some_and(|t| t.is_finite() && t >= 0.0));
            }
        }
    }

    three_tiers_with_kserve_as_the_cloud(&server.url, &repo, &models[0].1);

    // A cut that was not exported runs locally, with the reason.
    let (name, model, _) = &models[0];
    let session = Session::builder(common::model_path(name))
        .plain_edge(EdgeEndpoint::new(&server.url), PlainOip::new(manifest.clone()))
        .signals(wifi())
        .config(quiet())
        .policy(Policy::latency())
        .build()
        .expect("session builds");
    let inputs = input(name, model);
    let whole = Executor::new(model.clone()).run_full(&inputs).expect("runs");
    let r = session
        .infer_blocking_with(inputs.clone(), InferOptions { cut: Some(5), ..Default::default() })
        .expect("infers");
    assert!(!r.report.offloaded);
    assert_eq!(
        r.report.fallback_reason,
        Some(FallbackReason::ModelNotServed),
        "{:?}",
        r.report.fallback_detail
    );
    assert_close(&r.outputs, &whole, "cut 5 locally");

    // A repository exported from another model file is never used.
    let other = Session::builder(common::model_path("mobilenetv2"))
        .plain_edge(EdgeEndpoint::new(&server.url), PlainOip::new(manifest.clone()).with_name("tiny_resnet"))
        .signals(wifi())
        .config(quiet())
        .build()
        .expect("session builds");
    assert_eq!(other.wait_for_edge(Duration::from_secs(10)).await_blocking(), EdgeStatus::HashMismatch);
    let mobilenet = &models[1].1;
    let r = other
        .infer_blocking_with(
            input("mobilenetv2", mobilenet),
            InferOptions { cut: Some(0), ..Default::default() },
        )
        .expect("infers");
    assert!(!r.report.offloaded);
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::HashMismatch));
}

/// A Tandem edge in front of KServe (the cloud, serving the exported cuts 0, 3, 11 and 22 of
/// tiny_resnet): the phone plans and forces three tiers at the exported cuts only, and the
/// outputs equal local execution.
fn three_tiers_with_kserve_as_the_cloud(kserve_url: &str, repo: &Path, model: &Arc<Model>) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let edge = runtime
        .block_on(
            tandem_edge::EdgeServer::builder()
                .model_file(common::model_path("tiny_resnet"))
                .profile_budget(Duration::ZERO)
                .cloud(kserve_url)
                .cloud_repository(repo)
                .cloud_refresh(Duration::from_millis(500))
                .bind("127.0.0.1:0"),
        )
        .expect("the edge starts");
    let profile_url = format!("{}/v2/models/tiny_resnet/profile", edge.url());
    let advertised = runtime.block_on(async {
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(&profile_url).await {
                let p: serde_json::Value = r.json().await.unwrap_or_default();
                if p["cloud"]["cuts"].is_array() {
                    return Some(p["cloud"]["cuts"].clone());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    });
    assert_eq!(advertised, Some(serde_json::json!([0, 3, 11, 22])), "the edge never advertised KServe");
    let session = Session::builder(common::model_path("tiny_resnet"))
        .edge(EdgeEndpoint::new(edge.url()))
        .signals(wifi())
        .config(quiet())
        .build()
        .expect("session builds");
    assert_eq!(session.wait_for_edge(Duration::from_secs(30)).await_blocking(), EdgeStatus::Verified);
    let inputs = input("tiny_resnet", model);
    let whole = Executor::new(model.clone()).run_full(&inputs).expect("runs");
    let options = InferOptions { cut: Some(3), cloud_cut: Some(11), ..Default::default() };
    let r = session.infer_blocking_with(inputs.clone(), options).expect("infers");
    assert_eq!(r.report.cloud_cut, Some(11), "{:?}", r.report);
    assert_eq!(r.report.cloud_fallback_reason, None, "{:?}", r.report);
    assert_close(&r.outputs, &whole, "phone 0..3, edge 3..11, KServe 11..");
    let options = InferOptions { cut: Some(3), cloud_cut: Some(5), ..Default::default() };
    let r = session.infer_blocking_with(inputs, options).expect("infers");
    assert_eq!((r.report.plan.cloud_cut, r.report.cloud_cut), (None, None), "not exported: {:?}", r.report);
    assert_close(&r.outputs, &whole, "cloud cut 5 refused: two tiers");
    drop(session);
    runtime.block_on(async { edge.shutdown().await.ok() });
}

/// Blocking on the session's async helpers from a plain test thread.
trait AwaitBlocking: std::future::Future + Sized {
    fn await_blocking(self) -> Self::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(self)
    }
}

impl<F: std::future::Future> AwaitBlocking for F {}
