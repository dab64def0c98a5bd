//! Measurement and planning end to end: the active probe against the real edge server behind
//! the link emulator, the edge's profile endpoint feeding the planner, and `tandem profile
//! --save` feeding `tandem plan`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use tandem_edge::EdgeServer;
use tandem_linkemu::{LinkConfig, LinkEmulator};
use tandem_sdk::netest::ProbeConfig;
use tandem_sdk::probe::probe;
use tandem_sdk::{EdgeProfile, LoadOptions, Model};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path(stem: &str) -> PathBuf {
    repo().join("models").join(format!("{stem}.onnx"))
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).current_dir(repo()).output().expect("tandem runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_separates_rtt_and_throughput_against_the_real_edge() {
    let edge = EdgeServer::builder()
        .model_file(model_path("tiny_resnet"))
        .profile_budget(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .expect("the edge starts");
    let client = reqwest::Client::new();
    for (up, down, rtt) in [(4.0, 12.0, 80.0), (18.88, 30.0, 15.0)] {
        let link = LinkEmulator::start(edge.addr(), LinkConfig::mbps(up, down, rtt)).await.expect("link");
        let config =
            ProbeConfig { small_bytes: 1_000, large_bytes: 200_000, repeats: 3, ..Default::default() };
        let p = probe(&client, &format!("http://{}", link.local_addr()), None, &config).await.expect("probe");
        eprintln!(
            "shaped {up}/{down} Mbps {rtt} ms -> probed {:.2}/{:.2} Mbps {:.1} ms in {:.0} ms",
            p.uplink_mbps, p.downlink_mbps, p.rtt_ms, p.duration_ms
        );
        let close = |got: f64, want: f64, tol: f64| (got / want - 1.0).abs() <= tol;
        assert!(close(p.uplink_mbps, up, 0.2), "uplink {:.2} vs {up}: {p:?}", p.uplink_mbps);
        assert!(close(p.downlink_mbps, down, 0.2), "downlink {:.2} vs {down}: {p:?}", p.downlink_mbps);
        assert!(close(p.rtt_ms, rtt, 0.3), "rtt {:.1} vs {rtt}: {p:?}", p.rtt_ms);
        let (sent, _) = link.total_bytes();
        assert!(sent >= p.bytes_up, "the emulator saw the probe's bytes: {sent} >= {}", p.bytes_up);
    }
    edge.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_profile_endpoint_feeds_the_planner() {
    let edge = EdgeServer::builder()
        .model_file(model_path("tiny_resnet"))
        .profile_budget(Duration::from_secs(20))
        .bind("127.0.0.1:0")
        .await
        .expect("the edge starts");
    let client = reqwest::Client::new();
    let url = format!("{}/v2/models/tiny_resnet/profile", edge.url());
    let mut profile = None;
    for _ in 0..200 {
        let body = client.get(&url).send().await.expect("GET").text().await.expect("body");
        let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if value["status"] == "done" {
            profile = Some(serde_json::from_str::<EdgeProfile>(&body).expect("an EdgeProfile"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let edge_profile = profile.expect("the edge measured every cut within 20 s");
    let model = Model::load(model_path("tiny_resnet"), &LoadOptions::default()).expect("loads");
    assert_eq!(edge_profile.hash, model.hash());
    let device = tandem_sdk::DeviceProfile::estimate(
        model.hash(),
        "test",
        model.cuts(),
        5.0,
        tandem_sdk::ThermalState::Nominal,
    );
    let link = tandem_sdk::LinkEstimate::fixed(18.88, 30.0, 10.0);
    let platform = tandem_sdk::PlatformState { network: tandem_sdk::NetworkKind::Wifi, ..Default::default() };
    let energy = tandem_sdk::EnergyModel::default();
    let policy = tandem_sdk::Policy::latency();
    let plan = tandem_sdk::plan(&tandem_sdk::PlanInput {
        cuts: model.cuts(),
        device: &device,
        edge: Some(&edge_profile),
        cloud: None,
        link: &link,
        platform: &platform,
        energy: &energy,
        policy: &policy,
        meta: None,
        constraints: Default::default(),
    })
    .expect("the edge's own profile is consistent");
    assert!(plan.predicted.total_ms.is_finite());
    assert_eq!(plan.table.len(), model.cuts().len());
    edge.shutdown().await.expect("shutdown");
}

#[test]
fn profile_save_feeds_plan() {
    let dir = std::env::temp_dir().join(format!("tandem-plan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let dev = dir.join("device.json");
    let edge = dir.join("edge.json");
    let out = tandem(&[
        "profile",
        "models/tiny_resnet.onnx",
        "--runs",
        "1",
        "--save",
        dev.to_str().expect("utf8"),
        "--save-edge",
        edge.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&dev).expect("saved")).expect("JSON");
    assert_eq!(saved["measured"], true);
    assert_eq!(saved["before_ms"].as_array().map(Vec::len), Some(28));

    let out = tandem(&[
        "plan",
        "models/tiny_resnet.onnx",
        "--uplink-mbps",
        "5.85",
        "--rtt-ms",
        "50",
        "--network",
        "lte",
        "--battery",
        "0.3",
        "--objective",
        "energy",
        "--device-profile",
        dev.to_str().expect("utf8"),
        "--edge-profile",
        edge.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for field in ["cut", "exit", "encoding", "bytes_up", "latency_ms", "energy_mj", "reason", "table"] {
        assert!(plan.get(field).is_some(), "missing `{field}`: {plan}");
    }
    assert_eq!(plan["table"].as_array().map(Vec::len), Some(28));
    assert!(plan["device_profile"].as_str().is_some_and(|s| s.contains("measured")));
    // the energy-optimal plan for a model this small on LTE with the tail: local
    assert_eq!(plan["cut"], 27, "{}", plan["reason"]);

    // a profile for another model is refused
    let out = tandem(&[
        "plan",
        "models/branchynet_fmnist.onnx",
        "--uplink-mbps",
        "1",
        "--rtt-ms",
        "1",
        "--device-profile",
        dev.to_str().expect("utf8"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another model"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plan_prints_the_table_and_the_reason() {
    let out = tandem(&[
        "plan",
        "models/branchynet_fmnist.onnx",
        "--uplink-mbps",
        "0.13",
        "--rtt-ms",
        "150",
        "--network",
        "lte",
        "--deadline-ms",
        "1000",
        "--objective",
        "latency",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("latency_ms") && text.contains("plan: cut") && text.contains("why:"), "{text}");
    assert!(text.contains("exit exit3"), "a loose deadline keeps the final exit: {text}");
    let bad = tandem(&[
        "plan",
        "models/branchynet_fmnist.onnx",
        "--uplink-mbps",
        "1",
        "--rtt-ms",
        "1",
        "--network",
        "carrier-pigeon",
    ]);
    assert!(!bad.status.success());
}
