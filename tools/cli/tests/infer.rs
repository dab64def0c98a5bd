//! `tandem infer` against a real edge server on loopback: the JSON report, the output file,
//! and fallbacks that still succeed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tandem_model::npy;
use tandem_sdk::{Executor, LoadOptions, Model};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// Runs `tandem infer` with `args` on a blocking thread; returns (exit code, stdout JSON).
async fn infer(args: Vec<String>) -> (i32, Value, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_tandem")).arg("infer").args(&args).output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), json, stderr)
    })
    .await
    .expect("joined")
}

fn args(url: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        repo("models/tiny_resnet.onnx").display().to_string(),
        "--input".into(),
        repo("models/testdata/tiny_resnet_input.npy").display().to_string(),
        "--edge".into(),
        url.into(),
        "--network".into(),
        "wifi".into(),
        "--json".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infer_offloads_and_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("token");
    let edge = tandem_edge::EdgeServer::builder()
        .model_file(repo("models/tiny_resnet.onnx"))
        .token_file(&token)
        .profile_budget(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .expect("edge starts");
    let url = edge.url();
    let out = dir.path().join("out.npy");
    let token_arg = token.display().to_string();
    let out_arg = out.display().to_string();

    let (code, json, stderr) =
        infer(args(&url, &["--cut", "8", "--token-file", &token_arg, "--output", &out_arg])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["offloaded"], true, "{json}");
    assert_eq!(json["fallback_reason"], Value::Null);
    assert_eq!(json["plan"]["cut"], 8);
    for key in ["total_ms", "bytes_up", "bytes_down", "phone_ms", "upload_ms", "edge_ms", "energy_mj"] {
        assert!(json[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {json}");
    }
    assert!(json["summary"].as_str().is_some_and(|s| s.starts_with("cut 8")), "{json}");
    let got = npy::read_npy(&out, "logits").expect("output written");
    let input = npy::read_npy(repo("models/testdata/tiny_resnet_input.npy"), "").expect("input");
    let model =
        Arc::new(Model::load(repo("models/tiny_resnet.onnx"), &LoadOptions::default()).expect("loads"));
    let input = tandem_sdk::NamedTensor { name: model.inputs()[0].name.clone(), ..input };
    let want = Executor::new(model).run_full(&[input]).expect("runs");
    assert!(got.max_abs_diff(&tandem_sdk::NamedTensor { name: "logits".into(), ..want[0].clone() }) <= 1e-4);

    // A wrong token: the answer still comes, from the phone, with the reason.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope").expect("token");
    let (code, json, stderr) =
        infer(args(&url, &["--cut", "8", "--token-file", &wrong.display().to_string()])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (json["offloaded"].clone(), json["fallback_reason"]["code"].clone()),
        (Value::Bool(false), "unauthorized".into()),
        "{json}"
    );
    let _ = edge.shutdown().await;

    // Nothing listens any more: the edge is unreachable, the result is local.
    let (code, json, stderr) = infer(args(&url, &["--cut", "8", "--connect-wait-ms", "2000"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["offloaded"], false);
    assert_eq!(json["fallback_reason"]["code"], "edge_unreachable", "{json}");

    // Caller mistakes are errors: a cut the model does not have.
    let (code, _, stderr) = infer(args(&url, &["--cut", "999"])).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("cut 999"), "{stderr}");
}

/// Waits until the edge's profile describes the cloud behind it (the edge measures it in the
/// background after it starts).
async fn wait_for_cloud(edge_url: &str) {
    let url = format!("{edge_url}/v2/models/tiny_resnet/profile");
    for _ in 0..150 {
        let profile: Option<Value> = match reqwest::get(&url).await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        if profile.is_some_and(|p| p["cloud"]["link"].is_object()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the edge never advertised its cloud");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infer_with_a_cloud_cut_runs_three_tiers_and_reports_a_cloud_fallback() {
    let server = || {
        tandem_edge::EdgeServer::builder()
            .model_file(repo("models/tiny_resnet.onnx"))
            .profile_budget(Duration::ZERO)
    };
    let cloud = server().bind("127.0.0.1:0").await.expect("cloud starts");
    let edge = server()
        .cloud(cloud.url())
        // measured once at startup, then not again during the test
        .cloud_refresh(Duration::from_secs(600))
        .bind("127.0.0.1:0")
        .await
        .expect("edge starts");
    wait_for_cloud(&edge.url()).await;

    let (code, json, stderr) =
        infer(args(&edge.url(), &["--cut", "3", "--cloud-cut", "11", "--connect-wait-ms", "10000"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["offloaded"], true, "{json}");
    assert_eq!(
        (json["plan"]["cut"].clone(), json["plan"]["cloud_cut"].clone()),
        (3.into(), 11.into()),
        "{json}"
    );
    assert_eq!(json["cloud_cut"], 11, "{json}");
    assert!(json["cloud_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{json}");
    assert_eq!(json["cloud_fallback_reason"], Value::Null);

    // Two tiers: the cloud cut is null.
    let (code, json, stderr) = infer(args(&edge.url(), &["--cut", "3", "--connect-wait-ms", "10000"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((json["plan"]["cloud_cut"].clone(), json["cloud_cut"].clone()), (Value::Null, Value::Null));

    // The cloud gone while the edge still advertises it (its next refresh is minutes away):
    // the edge finishes the rest and the report says why.
    let cloud_url = cloud.url();
    let _ = cloud.shutdown().await;
    let (code, json, stderr) =
        infer(args(&edge.url(), &["--cut", "3", "--cloud-cut", "11", "--connect-wait-ms", "10000"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (json["offloaded"].clone(), json["plan"]["cloud_cut"].clone()),
        (true.into(), 11.into()),
        "{json}"
    );
    assert_eq!(json["cloud_cut"], Value::Null, "{json}");
    let reason = json["cloud_fallback_reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&cloud_url), "{json}");
    let _ = edge.shutdown().await;
}
