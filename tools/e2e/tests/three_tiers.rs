//! Three tiers end to end: phone → link emulator → edge → link emulator → cloud, with the
//! cloud another Tandem edge. The edge advertises the cloud (its profile and the measured
//! link) in its profile endpoint, the session plans with it and sends the cloud cut, the edge
//! forwards, and a fault at either hop loses nothing: the edge finishes when the cloud fails
//! (and says why), the phone finishes when the edge fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_e2e::*;
use tandem_linkemu::{Fault, LinkConfig};
use tandem_sdk::planner::Adjustment;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    BreakerConfig, EdgeEndpoint, EdgeStatus, InferOptions, NetworkKind, Report, Session, SessionConfig,
};

const MODEL: &str = "tiny_resnet";

fn tiny_edge() -> tandem_edge::EdgeServerBuilder {
    edge_builder().model_file(model_path(MODEL))
}

/// The cloud (a Tandem edge behind a 50 Mbps, 10 ms link) and the edge in front of it (behind
/// a 100 Mbps, 4 ms link to the phone), once the edge advertises the cloud.
async fn three_tiers() -> (Rig, Rig) {
    three_tiers_waiting(Duration::from_millis(800)).await
}

/// [`three_tiers`] with an edge that waits up to `cloud_timeout` for the cloud.
async fn three_tiers_waiting(cloud_timeout: Duration) -> (Rig, Rig) {
    let cloud = Rig::start(tiny_edge, LinkConfig::mbps(50.0, 50.0, 10.0)).await;
    let cloud_url = cloud.url();
    let edge = Rig::start(
        move || {
            tiny_edge()
                .cloud(cloud_url.clone())
                .cloud_refresh(Duration::from_millis(300))
                .cloud_timeout(cloud_timeout)
        },
        LinkConfig::mbps(100.0, 100.0, 4.0),
    )
    .await;
    wait_for_cloud_info(&edge.url()).await;
    (cloud, edge)
}

/// Waits until the edge's profile endpoint describes the cloud behind it.
async fn wait_for_cloud_info(edge_url: &str) -> serde_json::Value {
    let url = format!("{edge_url}/v2/models/{MODEL}/profile");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if let Ok(profile) = r.json::<serde_json::Value>().await {
                if profile["cloud"]["link"]["rtt_ms"].is_number() {
                    return profile;
                }
            }
        }
        assert!(Instant::now() < deadline, "the edge never advertised its cloud");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn session(url: &str, config: SessionConfig) -> Session {
    Session::builder(model_path(MODEL))
        .edge(EdgeEndpoint::new(url))
        .signals(Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi))))
        .config(config)
        .build()
        .expect("the session builds")
}

fn forced(cut: usize, cloud_cut: usize) -> InferOptions {
    InferOptions { cut: Some(cut), cloud_cut: Some(cloud_cut), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_advertises_the_cloud_profile_and_the_measured_link() {
    let _serial = serial().await;
    let (_cloud, edge) = three_tiers().await;
    let profile = wait_for_cloud_info(&edge.url()).await;
    let cloud = &profile["cloud"];
    let cuts = profile["cuts"].as_array().expect("cuts").len();
    assert_eq!(cloud["profile"]["cuts"].as_array().expect("cloud cuts").len(), cuts);
    assert_eq!(cloud["profile"]["hash"], profile["hash"], "the cloud serves the same model file");
    let link = &cloud["link"];
    // The emulated link adds about 10 ms of round trip and carries 50 Mbps each way.
    let rtt = link["rtt_ms"].as_f64().unwrap();
    assert!((5.0..200.0).contains(&rtt), "{link}");
    for key in ["uplink_mbps", "downlink_mbps"] {
        let mbps = link[key].as_f64().unwrap();
        assert!(mbps > 5.0 && mbps < 80.0, "{key}: {link}");
    }
    assert!(link["age_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tier_requests_match_the_whole_model_and_report_the_cloud() {
    let _serial = serial().await;
    let (cloud, edge) = three_tiers().await;
    let s = session(&edge.url(), quiet_config());
    assert_eq!(s.wait_for_edge(Duration::from_secs(10)).await, EdgeStatus::Verified);
    let last = s.model().last_cut();
    let input = seeded_input(s.model(), 3);
    let want = local_outputs(&model_path(MODEL), &input);
    // (3, 3): the edge relays the phone's tensors to the cloud as they are.
    for (cut, cloud_cut) in [(0, 11), (3, 11), (11, 22), (3, last - 1), (3, 3), (0, 0)] {
        let before = cloud.chaos.requests();
        let r = s.infer_with(input.clone(), forced(cut, cloud_cut)).await.expect("never an error");
        let report = &r.report;
        assert_eq!(max_diff(&r.outputs, &want), 0.0, "{cut} -> {cloud_cut}: {report:?}");
        assert!(report.offloaded, "{report:?}");
        assert_eq!((report.plan.cut, report.plan.cloud_cut), (cut, Some(cloud_cut)), "{report:?}");
        assert_eq!(report.cloud_cut, Some(cloud_cut), "{report:?}");
        assert!(report.cloud_ms.is_some_and(|ms| ms > 0.0), "{report:?}");
        assert_eq!(report.cloud_fallback_reason, None);
        assert!(cloud.chaos.requests() > before, "the cloud computed it");
        let json = serde_json::to_value(report).expect("serializes");
        assert_eq!(json["plan"]["cloud_cut"], cloud_cut);
        assert!(json["cloud_fallback_reason"].is_null());
    }
    // With two tiers the report says so.
    let r = s.infer_with(input.clone(), InferOptions { cut: Some(3), ..Default::default() }).await.unwrap();
    assert_eq!((r.report.plan.cloud_cut, r.report.cloud_cut), (None, None), "{:?}", r.report);
    assert_eq!(max_diff(&r.outputs, &want), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_cloud_still_meets_the_deadline_through_the_edge() {
    let _serial = serial().await;
    // The edge would wait 30 s for the cloud: only the phone's `tandem_cloud_timeout_ms`,
    // derived from the deadline, makes it give up in time.
    let (cloud, edge) = three_tiers_waiting(Duration::from_secs(30)).await;
    let s = session(&edge.url(), quiet_config());
    assert_eq!(s.wait_for_edge(Duration::from_secs(10)).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 9);
    let want = local_outputs(&model_path(MODEL), &input);
    cloud.link.set_config(LinkConfig { fault: Fault::Stall { after_bytes: 2_000 }, ..cloud.link.config() });
    let options = InferOptions { deadline_ms: Some(1_500.0), ..forced(3, 11) };
    let r = s.infer_with(input, options).await.expect("never an error");
    cloud.link.set_config(LinkConfig { fault: Fault::None, ..cloud.link.config() });
    let report = r.report;
    assert_eq!(max_diff(&r.outputs, &want), 0.0, "{report:?}");
    assert_eq!(report.deadline_met, Some(true), "{report:?}");
    assert!(report.offloaded, "the edge answered, not the phone: {report:?}");
    let reason = report.cloud_fallback_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("no answer within"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_oip_cloud_takes_over_at_its_exported_cuts_only() {
    let _serial = serial().await;
    let model = tandem_sdk::Model::load(model_path(MODEL), &Default::default()).expect("loads");
    let repo = tempfile::tempdir().expect("tempdir");
    tandem_export::export(&model, MODEL, &[11, 16], repo.path()).expect("exports");
    // The cloud: each exported part served as a model of its own, as KServe or Triton would
    // serve the repository (a Tandem edge answers plain OIP requests too).
    let repo_path = repo.path().to_path_buf();
    let parts = repo_path.clone();
    let cloud = Rig::start(
        move || {
            ["tiny_resnet_cut11", "tiny_resnet_cut16"].iter().fold(edge_builder(), |b, served| {
                b.model(*served, parts.join(served).join("1").join("model.onnx"))
            })
        },
        LinkConfig::mbps(50.0, 50.0, 10.0),
    )
    .await;
    let cloud_url = cloud.url();
    let edge = Rig::start(
        move || {
            tiny_edge()
                .cloud(cloud_url.clone())
                .cloud_repository(repo_path.clone())
                .cloud_link_mbps(40.0)
                .cloud_refresh(Duration::from_millis(300))
                .cloud_timeout(Duration::from_millis(800))
        },
        LinkConfig::mbps(100.0, 100.0, 4.0),
    )
    .await;
    let profile = wait_for_cloud_info(&edge.url()).await;
    assert_eq!(profile["cloud"]["cuts"], serde_json::json!([11, 16]), "{profile}");
    let link = &profile["cloud"]["link"];
    assert_eq!((link["uplink_mbps"].as_f64(), link["rates_measured"].as_bool()), (Some(40.0), Some(false)));

    let s = session(&edge.url(), quiet_config());
    assert_eq!(s.wait_for_edge(Duration::from_secs(10)).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 4);
    let want = local_outputs(&model_path(MODEL), &input);
    for cloud_cut in [11, 16] {
        let r = s.infer_with(input.clone(), forced(3, cloud_cut)).await.expect("never an error");
        assert_eq!(max_diff(&r.outputs, &want), 0.0, "{:?}", r.report);
        assert_eq!(r.report.cloud_cut, Some(cloud_cut), "{:?}", r.report);
        assert_eq!(r.report.cloud_fallback_reason, None);
    }
    // A cloud cut the repository does not have: refused by the planner, two tiers instead.
    let r = s.infer_with(input.clone(), forced(3, 12)).await.expect("never an error");
    assert_eq!(max_diff(&r.outputs, &want), 0.0);
    assert_eq!((r.report.plan.cloud_cut, r.report.cloud_cut), (None, None), "{:?}", r.report);
    let refused = r.report.plan.adjustments.iter().any(|a| {
        matches!(a, Adjustment::ForcedCutRefused { cut: 12, cloud: true, reason } if reason.contains("does not serve"))
    });
    assert!(refused, "{:?}", r.report.plan.adjustments);
}

/// One fault, at one hop.
#[derive(Clone, Copy, Debug)]
enum Injected {
    None,
    CloudLink(Fault),
    CloudChaos(Chaos),
    CloudKilled,
    EdgeLink(Fault),
    EdgeChaos(Chaos),
    EdgeKilled,
}

const FAULTS: [Injected; 16] = [
    Injected::None,
    Injected::None,
    Injected::CloudLink(Fault::Stall { after_bytes: 2_000 }),
    Injected::CloudLink(Fault::ResetMidBody { after_bytes: 2_000 }),
    Injected::CloudLink(Fault::Refuse),
    Injected::CloudChaos(Chaos::Status(500)),
    Injected::CloudChaos(Chaos::Status(503)),
    Injected::CloudChaos(Chaos::Garbage),
    Injected::CloudChaos(Chaos::Truncate),
    Injected::CloudKilled,
    Injected::EdgeLink(Fault::Stall { after_bytes: 2_000 }),
    Injected::EdgeLink(Fault::ResetMidBody { after_bytes: 2_000 }),
    Injected::EdgeLink(Fault::Refuse),
    Injected::EdgeChaos(Chaos::Status(500)),
    Injected::EdgeChaos(Chaos::Garbage),
    Injected::EdgeKilled,
];

/// A deterministic random source (xorshift64*), seeded from `TANDEM_FAULT_SEED` (default 7).
fn rng() -> impl FnMut(u64) -> u64 {
    let seed: u64 = std::env::var("TANDEM_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    eprintln!("fault injection seed: TANDEM_FAULT_SEED={seed}");
    let mut x = seed.max(1);
    move |n| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Whether the report says why the request did not run as planned with three tiers.
fn explained(r: &Report) -> bool {
    let cloud_refused =
        r.plan.adjustments.iter().any(|a| matches!(a, Adjustment::ForcedCutRefused { cloud: true, .. }));
    if !r.offloaded {
        r.fallback_reason.is_some()
    } else if r.cloud_cut.is_none() {
        r.cloud_fallback_reason.as_deref().is_some_and(|s| !s.is_empty()) || cloud_refused
    } else {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_either_hop_lose_nothing_and_every_degradation_has_a_reason() {
    let _serial = serial().await;
    let (mut cloud, mut edge) = three_tiers().await;
    let config = SessionConfig {
        // Never open: every request tries the edge, so every fault is met.
        breaker: BreakerConfig { failure_threshold: 1_000_000, base_backoff_ms: 1, max_backoff_ms: 1 },
        // Long enough for the edge to wait for a stalled cloud (800 ms) and finish itself;
        // a stalled edge costs this much.
        min_edge_timeout_ms: 1_500.0,
        max_edge_timeout_ms: 1_500.0,
        ..quiet_config()
    };
    let s = session(&edge.url(), config);
    assert_eq!(s.wait_for_edge(Duration::from_secs(10)).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 5);
    let want = local_outputs(&model_path(MODEL), &input);
    let mut below = rng();
    let mut counts = std::collections::BTreeMap::<String, [u32; 4]>::new();
    for i in 0..300 {
        let fault = FAULTS[below(FAULTS.len() as u64) as usize];
        match fault {
            Injected::None => {}
            Injected::CloudLink(f) => cloud.link.set_config(LinkConfig { fault: f, ..cloud.link.config() }),
            Injected::CloudChaos(c) => cloud.chaos.set(c),
            Injected::CloudKilled => cloud.kill_edge().await,
            Injected::EdgeLink(f) => edge.link.set_config(LinkConfig { fault: f, ..edge.link.config() }),
            Injected::EdgeChaos(c) => edge.chaos.set(c),
            Injected::EdgeKilled => edge.kill_edge().await,
        }
        let r = s.infer_with(input.clone(), forced(3, 11)).await.expect("never an error");
        let report = r.report;
        assert_eq!(max_diff(&r.outputs, &want), 0.0, "request {i} with {fault:?}: wrong outputs {report:?}");
        assert!(explained(&report), "request {i} with {fault:?}: a degradation without a reason: {report:?}");
        let key = format!("{fault:?}");
        let row = counts.entry(key).or_default();
        row[0] += 1;
        row[1] += u32::from(report.offloaded && report.cloud_cut.is_some());
        row[2] += u32::from(report.offloaded && report.cloud_cut.is_none());
        row[3] += u32::from(!report.offloaded);
        // Clear the fault for the next request.
        match fault {
            Injected::CloudLink(_) => {
                cloud.link.set_config(LinkConfig { fault: Fault::None, ..cloud.link.config() })
            }
            Injected::CloudChaos(_) => cloud.chaos.set(Chaos::Pass),
            Injected::CloudKilled => cloud.restart_edge(None).await,
            Injected::EdgeLink(_) => {
                edge.link.set_config(LinkConfig { fault: Fault::None, ..edge.link.config() })
            }
            Injected::EdgeChaos(_) => edge.chaos.set(Chaos::Pass),
            Injected::EdgeKilled => edge.restart_edge(None).await,
            Injected::None => {}
        }
    }
    eprintln!("fault -> [requests, cloud finished, edge finished, phone finished]");
    for (fault, row) in &counts {
        eprintln!("{fault}: {row:?}");
    }
    let total: u32 = counts.values().map(|r| r[0]).sum();
    assert_eq!(total, 300);
    // Cloud faults are absorbed by the edge at least once each: the phone still offloaded.
    for (fault, row) in counts.iter().filter(|(f, _)| f.starts_with("Cloud")) {
        assert!(row[2] > 0, "{fault}: the edge never finished in the cloud's place: {row:?}");
    }
    // Without a fault, the cloud computed.
    assert!(counts.get("None").is_some_and(|row| row[1] > 0), "{counts:?}");
}
