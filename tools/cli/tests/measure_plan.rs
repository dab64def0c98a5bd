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
        let close = |got: f64, want: f64, tol: f64| (got / want - 1.0).abs() <= tol;
        // A starved CPU (CI shares 2 cores with the edge, the emulator and the probe) only
        // ever makes a probe slower, never faster than the link: up to three probes, and no
        // probe may read more than the shaped rate.
        let mut p = None;
        for attempt in 1..=3 {
            let got =
                probe(&client, &format!("http://{}", link.local_addr()), None, &config).await.expect("probe");
            eprintln!(
                "shaped {up}/{down} Mbps {rtt} ms -> probe {attempt}: {:.2}/{:.2} Mbps {:.1} ms in {:.0} ms",
                got.uplink_mbps, got.downlink_mbps, got.rtt_ms, got.duration_ms
            );
            assert!(
                got.uplink_mbps <= up * 1.1 && got.downlink_mbps <= down * 1.1,
                "faster than the link: {got:?}"
            );
            let done = close(got.uplink_mbps, up, 0.2) && close(got.downlink_mbps, down, 0.2);
            p = Some(got);
            if done {
                break;
            }
        }
        let p = p.expect("a probe ran");
        assert!(close(p.uplink_mbps, up, 0.2), "uplink {:.2} vs {up}: {p:?}", p.uplink_mbps);
        assert!(close(p.downlink_mbps, down, 0.2), "downlink {:.2} vs {down}: {p:?}", p.downlink_mbps);
        assert!(close(p.rtt_ms, rtt, 0.3), "rtt {:.1} vs {rtt}: {p:?}", p.rtt_ms);
        let (sent, _) = link.total_bytes();
        assert!(sent >= p.bytes_up, "the emulator saw the probe's bytes: {sent} >= {}", p.bytes_up);
    }
    edge.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_profile_endpoint_feeds_the_planner_its_measured_costs() {
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
    let cuts = model.cuts().len();
    assert_eq!(plan.table.len(), cuts);
    // Every row is priced from the profiles: the phone's time before the cut, the edge's
    // measured time after it (less its time after the last cut, the empty tail) plus its
    // reported queue wait, the bytes over the link, one round trip.
    let load = &edge_profile.load;
    assert!(load.in_flight + load.queued < load.capacity.max(1), "an idle edge: {load:?}");
    let after_last = edge_profile.cuts[cuts - 1].after_ms.unwrap_or(0.0);
    for row in &plan.table {
        let c = row.cut;
        assert!((row.phone_ms - device.before_ms[c]).abs() < 1e-9, "cut {c}: {row:?}");
        if c + 1 < cuts {
            let after = edge_profile.cuts[c].after_ms.expect("the edge measured every cut");
            let want = (after - after_last).max(0.0) + load.queue_wait_ms;
            assert!(
                (row.edge_ms - want).abs() < 1e-6,
                "cut {c}: edge {} ms, measured {want} ms",
                row.edge_ms
            );
            let link_floor = row.bytes_up as f64 * 8.0 / (link.uplink_mbps * 1e3);
            assert!(row.upload_ms >= link_floor - 1e-9, "cut {c}: {row:?}");
        } else {
            assert_eq!((row.bytes_up, row.edge_ms), (0, 0.0), "local-only: {row:?}");
        }
        let round_trip = if c + 1 < cuts { link.rtt_ms } else { 0.0 };
        let parts = row.phone_ms + row.upload_ms + row.edge_ms + row.download_ms + round_trip;
        assert!((row.latency_ms - parts).abs() < 1e-6, "cut {c}: {row:?}");
    }
    // The latency objective takes the fastest row.
    let best = plan.table.iter().filter(|r| r.allowed).min_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
    let best = best.expect("an allowed row");
    assert_eq!(plan.cut, best.cut, "{}", plan.reason);
    assert!((plan.predicted.total_ms - best.latency_ms).abs() < 1e-9);
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

    // a forced cut: the planner's own costs for it, and an adjustment naming its own choice
    let out = tandem(&[
        "plan",
        "models/tiny_resnet.onnx",
        "--uplink-mbps",
        "5.85",
        "--rtt-ms",
        "50",
        "--device-profile",
        dev.to_str().expect("utf8"),
        "--edge-profile",
        edge.to_str().expect("utf8"),
        "--cut",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(plan["cut"], 5, "{}", plan["reason"]);
    let adjustment = &plan["plan"]["adjustments"][0];
    assert_eq!(adjustment["kind"], "forced_cut", "{plan}");
    assert_eq!(adjustment["cut"], 5);
    assert_eq!(plan["latency_ms"], plan["table"][5]["latency_ms"]);

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
