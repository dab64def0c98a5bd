//! The offload session against the real edge server behind the link emulator: outputs equal
//! local inference, the report's bytes match the wire and its times match measurements of
//! their own (the caller's clock, the link's rates, the parts run here), and the edge's identity
//! (model hash, token, certificate) is checked.

use std::sync::Arc;
use std::time::Duration;

use tandem_e2e::*;
use tandem_linkemu::LinkConfig;
use tandem_model::npy;
use tandem_sdk::encoding::Encoding;
use tandem_sdk::energy::transfer_ms;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    DeviceProfile, EdgeEndpoint, EdgeStatus, Executor, FallbackReason, InferOptions, LoadOptions, Model,
    NamedTensor, NetworkKind, Session,
};

const WAIT: Duration = Duration::from_secs(10);

fn forced(cut: usize) -> InferOptions {
    InferOptions { cut: Some(cut), ..Default::default() }
}

fn session(stem: &str, url: &str, signals: &Arc<FixedSignals>) -> Session {
    Session::builder(model_path(stem))
        .edge(EdgeEndpoint::new(url))
        .signals(signals.clone())
        .config(quiet_config())
        .build()
        .expect("the session builds")
}

fn face_input(session: &Session) -> Vec<NamedTensor> {
    let crop = npy::read_npy(testdata("obama_crop.npy"), "").expect("test crop");
    vec![NamedTensor { name: session.model().inputs()[0].name.clone(), ..crop }]
}

/// The fastest and slowest of three timed runs of a model's parts around a cut, ms.
struct PartTimes {
    head_ms: (f64, f64),
    tail_ms: (f64, f64),
}

fn part_times(session: &Session, input: &[NamedTensor], cut: usize) -> PartTimes {
    let exec = Executor::new(Arc::new(
        Model::load(session.model().path(), &LoadOptions::default()).expect("the model loads"),
    ));
    let crossing = exec.run_before(cut, input).expect("warm-up before the cut");
    exec.run_after(cut, &crossing).expect("warm-up after the cut");
    let (mut head, mut tail) = (vec![], vec![]);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let crossing = exec.run_before(cut, input).expect("the part before the cut");
        head.push(t.elapsed().as_secs_f64() * 1e3);
        let t = std::time::Instant::now();
        exec.run_after(cut, &crossing).expect("the part after the cut");
        tail.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let span =
        |v: &[f64]| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max));
    PartTimes { head_ms: span(&head), tail_ms: span(&tail) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_and_numbers_are_consistent_at_3g_lte_and_wifi() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")).model_file(model_path("face_embedder")),
        LinkConfig::unlimited(),
    )
    .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let tiny = session("tiny_resnet", &rig.url(), &signals);
    let face = session("face_embedder", &rig.url(), &signals);
    assert_eq!(tiny.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    assert_eq!(face.wait_for_edge(WAIT).await, EdgeStatus::Verified);

    let tiny_in = seeded_input(tiny.model(), 1);
    let face_in = face_input(&face);
    let cases = [
        (&tiny, tiny_in.clone(), local_outputs(&model_path("tiny_resnet"), &tiny_in), 8),
        (&face, face_in.clone(), local_outputs(&model_path("face_embedder"), &face_in), 67),
    ];
    // Independent measurements of the two parts: each model's part before and after the
    // cut, run here directly (same engine as the phone and the edge), fastest and slowest
    // of three runs after a warm-up.
    let parts: Vec<PartTimes> = cases.iter().map(|(s, input, _, cut)| part_times(s, input, *cut)).collect();
    for (label, kind, up_mbps, down_mbps, rtt_ms) in NETWORKS {
        rig.link.set_config(LinkConfig::mbps(up_mbps, down_mbps, rtt_ms));
        signals.set(on_network(kind));
        for ((session, input, want, cut), part) in cases.iter().zip(&parts) {
            let what = format!("{} cut {cut} on {label}", session.model().path().display());
            // Warm-up: builds the parts on both sides and opens the connection.
            session.infer_with(input.clone(), forced(*cut)).await.expect("warm-up");
            let (up0, down0) = rig.link.total_bytes();
            let called = std::time::Instant::now();
            let r = session.infer_with(input.clone(), forced(*cut)).await.expect("never an error");
            let wall_ms = called.elapsed().as_secs_f64() * 1e3;
            let (up1, down1) = rig.link.total_bytes();
            let report = &r.report;
            eprintln!(
                "{what}: {} | phone {:.1} + up {:.1} + edge {:.1} + down {:.1} = {:.1} ms (total {:.1}); wire {}/{} B, report {}/{} B",
                report.summary(),
                report.phone_ms,
                report.upload_rtt_ms,
                report.edge_ms(),
                report.download_ms,
                report.phone_ms + report.upload_rtt_ms + report.edge_ms() + report.download_ms,
                report.total_ms,
                up1 - up0,
                down1 - down0,
                report.bytes_up,
                report.bytes_down
            );
            assert!(report.offloaded, "{what}: {report:?}");
            assert_eq!((report.plan.cut, report.fallback_reason), (*cut, None), "{what}");
            assert!(max_diff(&r.outputs, want) <= 1e-4, "{what}: differs by {}", max_diff(&r.outputs, want));

            // Bytes: the report counts bodies; the wire adds only the HTTP headers.
            let (wire_up, wire_down) = (up1 - up0, down1 - down0);
            assert!(
                wire_up >= report.bytes_up && wire_up - report.bytes_up < 512,
                "{what}: {wire_up} on the wire, {} reported",
                report.bytes_up
            );
            assert!(
                wire_down >= report.bytes_down && wire_down - report.bytes_down < 512,
                "{what}: {wire_down} on the wire, {} reported",
                report.bytes_down
            );
            // Times, each against a measurement of its own (the report's parts add up to its
            // total by construction: the phone's part takes what the others leave, so the sum
            // proves nothing). Wide bounds: they catch a part that swallowed another (an
            // upload of hundreds of ms counted as phone time), not noise.
            assert!(
                report.total_ms <= wall_ms + 1.0 && report.total_ms >= 0.9 * wall_ms - 10.0,
                "{what}: total {:.1} ms, the caller's clock {wall_ms:.1} ms",
                report.total_ms
            );
            let (head, tail) = (part.head_ms, part.tail_ms);
            assert!(
                report.phone_ms >= 0.3 * head.0 - 1.0 && report.phone_ms <= 3.0 * head.1 + 30.0,
                "{what}: phone {:.1} ms, the part before the cut run here {:.1}-{:.1} ms",
                report.phone_ms,
                head.0,
                head.1
            );
            assert!(
                report.edge_compute_ms >= 0.3 * tail.0 - 1.0 && report.edge_ms() <= 3.0 * tail.1 + 30.0,
                "{what}: edge {:.1} ms (compute {:.1}), the part after the cut run here {:.1}-{:.1} ms",
                report.edge_ms(),
                report.edge_compute_ms,
                tail.0,
                tail.1
            );
            let down_link_ms = transfer_ms(wire_down, down_mbps);
            assert!(
                report.download_ms <= down_link_ms + 50.0,
                "{what}: download {:.1} ms for {down_link_ms:.1} ms of link time",
                report.download_ms
            );
            // The upload cannot beat the shaped link, and takes about its time plus a round trip.
            let shaped_ms = transfer_ms(wire_up, up_mbps);
            assert!(
                report.upload_rtt_ms >= 0.95 * shaped_ms,
                "{what}: upload {:.1} ms, the link needs {shaped_ms:.1}",
                report.upload_rtt_ms
            );
            assert!(
                report.upload_rtt_ms <= shaped_ms + rtt_ms + 150.0,
                "{what}: upload {:.1} ms for {shaped_ms:.1} ms of link time",
                report.upload_rtt_ms
            );
            assert!(report.energy_mj > 0.0 && report.edge_ms() > 0.0, "{what}: {report:?}");
            assert!(report.summary().contains(label), "{what}: {}", report.summary());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smaller_encodings_stay_within_their_tolerance() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")),
        LinkConfig::mbps(18.88, 30.0, 5.0),
    )
    .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let s = session("tiny_resnet", &rig.url(), &signals);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 2);
    let want = local_outputs(&model_path("tiny_resnet"), &input);
    let scale = max_abs(&want).max(1.0);
    let mut bytes = vec![];
    // cut 3 carries two tensors; cut 8 one.
    for cut in [3, 8] {
        for (encoding, tolerance) in [(Encoding::Fp32, 1e-5), (Encoding::Fp16, 1e-2), (Encoding::Int8, 6e-2)]
        {
            let options = InferOptions { cut: Some(cut), encoding: Some(encoding), ..Default::default() };
            let r = s.infer_with(input.clone(), options).await.expect("never an error");
            assert!(r.report.offloaded, "{cut} {encoding}: {:?}", r.report);
            assert_eq!(r.report.plan.encoding, encoding);
            let diff = max_diff(&r.outputs, &want);
            assert!(diff <= tolerance * scale, "cut {cut} {encoding}: differs by {diff}");
            bytes.push((cut, encoding, r.report.bytes_up));
        }
    }
    for cut in [3, 8] {
        let b = |e| bytes.iter().find(|x| x.0 == cut && x.1 == e).expect("measured").2 as f64;
        let data = tandem_sdk::Model::load(model_path("tiny_resnet"), &Default::default())
            .unwrap()
            .cut(cut)
            .unwrap()
            .bytes as f64;
        // The JSON header is a few hundred bytes; the data shrinks 2x and 4x.
        assert!((b(Encoding::Fp32) - data) < 600.0, "cut {cut}: {} for {data}", b(Encoding::Fp32));
        assert!((b(Encoding::Fp16) - data / 2.0) < 700.0, "cut {cut}: {}", b(Encoding::Fp16));
        assert!((b(Encoding::Int8) - data / 4.0) < 900.0, "cut {cut}: {}", b(Encoding::Int8));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offload_teaches_the_estimator() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")),
        LinkConfig::mbps(5.85, 13.0, 30.0),
    )
    .await;
    let signals =
        Arc::new(FixedSignals::new(on_network(NetworkKind::Cellular(tandem_sdk::CellularGen::Lte))));
    let s = session("tiny_resnet", &rig.url(), &signals);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    assert_eq!(s.link_estimate().samples, 0, "no throughput sample before any offload");
    let input = seeded_input(s.model(), 3);
    for _ in 0..6 {
        // cut 1 sends 64 KiB: about 90 ms at 5.85 Mbps
        let r = s.infer_with(input.clone(), forced(1)).await.expect("never an error");
        assert!(r.report.offloaded, "{:?}", r.report);
    }
    let e = s.link_estimate();
    assert!(e.samples >= 5, "{e:?}");
    assert!(
        (e.uplink_mbps / 5.85 - 1.0).abs() < 0.25,
        "uplink estimated at {:.2} Mbps, shaped 5.85: {e:?}",
        e.uplink_mbps
    );
    assert!(e.rtt_ms > 20.0 && e.rtt_ms < 60.0, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_phone_offloads_by_itself_and_reports_stream() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")).profile_budget(Duration::from_secs(5)),
        LinkConfig::mbps(18.88, 30.0, 5.0),
    )
    .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let model = tandem_sdk::Model::load(model_path("tiny_resnet"), &Default::default()).expect("loads");
    // A phone 1000x slower than the MAC estimate: 6.5 MMAC take seconds.
    let slow = DeviceProfile::estimate(
        model.hash(),
        "slow-phone",
        model.cuts(),
        3_000.0,
        tandem_sdk::ThermalState::Nominal,
    );
    let s = Session::builder(model_path("tiny_resnet"))
        .edge(EdgeEndpoint::new(rig.url()))
        .signals(signals.clone())
        .device_profile(slow)
        .config(quiet_config())
        .build()
        .expect("builds");
    let mut reports = s.subscribe();
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 4);
    let r = s.infer(input.clone()).await.expect("never an error");
    assert!(r.report.plan.offloads() && r.report.offloaded, "{:?}", r.report);
    assert!(!r.report.forced_cut);
    assert!(max_diff(&r.outputs, &local_outputs(&model_path("tiny_resnet"), &input)) <= 1e-4);
    let streamed = tokio::time::timeout(WAIT, reports.recv()).await.expect("a report").expect("not lagged");
    assert_eq!(
        (streamed.request_id, streamed.total_ms, streamed.summary()),
        (r.report.request_id, r.report.total_ms, r.report.summary())
    );
    // Offline now: local, with the reason.
    signals.set(on_network(NetworkKind::None));
    let r = s.infer(input).await.expect("never an error");
    assert_eq!((r.report.offloaded, r.report.fallback_reason), (false, Some(FallbackReason::Offline)));
}

/// With a deadline that finishing locally meets only if it starts before the edge is
/// predicted to answer, the session does not upload at all: it finishes locally at once and
/// says why. With room for the edge, the same request offloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_offload_that_cannot_beat_the_local_fallback_is_not_sent() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")).profile_budget(Duration::from_secs(5)),
        LinkConfig::mbps(18.88, 30.0, 40.0),
    )
    .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let model = tandem_sdk::Model::load(model_path("tiny_resnet"), &Default::default()).expect("loads");
    let whole_ms = 3_000.0;
    let slow = DeviceProfile::estimate(
        model.hash(),
        "slow-phone",
        model.cuts(),
        whole_ms,
        tandem_sdk::ThermalState::Nominal,
    );
    let s = Session::builder(model_path("tiny_resnet"))
        .edge(EdgeEndpoint::new(rig.url()))
        .signals(signals)
        .device_profile(slow)
        .config(quiet_config())
        .build()
        .expect("builds");
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 5);
    let want = local_outputs(&model_path("tiny_resnet"), &input);
    let r = s.infer(input.clone()).await.expect("never an error");
    assert!(r.report.offloaded && r.report.plan.cut == 0, "the slow phone sends its input: {:?}", r.report);
    let remote_ms = r.report.plan.predicted.total_ms - r.report.plan.predicted.phone_ms;
    assert!(remote_ms > 20.0, "a 40 ms round trip: {remote_ms}");

    // Finishing locally (predicted 3 s, x1.25 safety, +3 ms) must start half the edge's
    // predicted time from now: the upload would be wasted.
    let config = tandem_sdk::SessionConfig::default();
    let local_ms = whole_ms * config.local_safety_factor + config.deadline_margin_ms;
    let tight = InferOptions { deadline_ms: Some(local_ms + remote_ms / 2.0), ..Default::default() };
    let r = s.infer_with(input.clone(), tight).await.expect("never an error");
    let report = &r.report;
    assert!(report.plan.offloads(), "the plan still prefers the edge: {report:?}");
    assert!(!report.offloaded && report.bytes_up == 0 && report.edge_timeout_ms.is_none(), "{report:?}");
    assert_eq!(report.fallback_reason, Some(FallbackReason::Timeout));
    assert!(report.fallback_detail.as_deref().unwrap_or("").contains("predicted"), "{report:?}");
    assert!(max_diff(&r.outputs, &want) <= 1e-4);

    // With room for the edge before the local fallback must start, it offloads.
    let roomy = InferOptions { deadline_ms: Some(local_ms + 4.0 * remote_ms), ..Default::default() };
    let r = s.infer_with(input, roomy).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
    assert!(max_diff(&r.outputs, &want) <= 1e-4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let _serial = serial().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let edge = edge_builder()
        .model_file(model_path("tiny_resnet"))
        .tls_pem_files(&cert_path, &key_path)
        .bind("127.0.0.1:0")
        .await
        .expect("starts");
    let url = format!("https://localhost:{}", edge.addr().port());
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let build = |endpoint: EdgeEndpoint| {
        Session::builder(model_path("tiny_resnet"))
            .edge(endpoint)
            .signals(signals.clone())
            .config(quiet_config())
            .build()
            .expect("builds")
    };
    let input =
        seeded_input(&tandem_sdk::Model::load(model_path("tiny_resnet"), &Default::default()).unwrap(), 5);
    let want = local_outputs(&model_path("tiny_resnet"), &input);

    let trusted = build(EdgeEndpoint::new(&url).with_ca_pem(cert.cert.pem().into_bytes()));
    assert_eq!(trusted.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let r = trusted.infer_with(input.clone(), forced(8)).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
    assert!(max_diff(&r.outputs, &want) <= 1e-4);

    let untrusted = build(EdgeEndpoint::new(&url));
    let r = untrusted.infer_with(input, forced(8)).await.expect("never an error");
    assert!(!r.report.offloaded);
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::EdgeUnreachable), "{:?}", r.report);
    let detail = r.report.fallback_detail.clone().unwrap_or_default();
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
    assert!(max_diff(&r.outputs, &want) <= 1e-4);
    let _ = edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_falls_back_with_a_clear_reason() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")).token("right"),
        LinkConfig::unlimited(),
    )
    .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let build = |token: &str| {
        Session::builder(model_path("tiny_resnet"))
            .edge(EdgeEndpoint::new(rig.url()).with_token(token))
            .signals(signals.clone())
            .config(quiet_config())
            .build()
            .expect("builds")
    };
    let wrong = build("wrong");
    let input = seeded_input(wrong.model(), 6);
    let want = local_outputs(&model_path("tiny_resnet"), &input);
    let r = wrong.infer_with(input.clone(), forced(8)).await.expect("never an error");
    assert!(!r.report.offloaded);
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::Unauthorized), "{:?}", r.report);
    assert!(
        r.report.fallback_detail.as_deref().unwrap_or("").contains("401"),
        "{:?}",
        r.report.fallback_detail
    );
    assert!(r.report.summary().contains("unauthorized"), "{}", r.report.summary());
    assert!(max_diff(&r.outputs, &want) <= 1e-4);

    let right = build("right");
    let r = right.infer_with(input, forced(8)).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_model_on_the_edge_is_never_used() {
    let _serial = serial().await;
    // The edge serves another file under the name `tiny_resnet`.
    let other = || edge_builder().model("tiny_resnet", model_path("branchynet_fmnist"));
    let mut rig = Rig::start(other, LinkConfig::unlimited()).await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let s = session("tiny_resnet", &rig.url(), &signals);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::HashMismatch);
    let input = seeded_input(s.model(), 7);
    let want = local_outputs(&model_path("tiny_resnet"), &input);
    let before = rig.chaos.requests();
    for _ in 0..3 {
        let r = s.infer_with(input.clone(), forced(8)).await.expect("never an error");
        assert!(!r.report.offloaded);
        assert_eq!(r.report.fallback_reason, Some(FallbackReason::HashMismatch), "{:?}", r.report);
        assert!(r.report.fallback_detail.as_deref().unwrap_or("").contains("same model file"));
        assert!(max_diff(&r.outputs, &want) <= 1e-4);
    }
    assert_eq!(rig.chaos.requests(), before, "a known mismatch sends nothing");

    // Checked and trusted first, then the edge restarts with the other file: the request's
    // own hash is refused (409), the phone finishes locally, and stops offloading.
    let mut rig2 =
        Rig::start(|| edge_builder().model_file(model_path("tiny_resnet")), LinkConfig::unlimited()).await;
    let s = session("tiny_resnet", &rig2.url(), &signals);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    assert!(s.infer_with(input.clone(), forced(8)).await.expect("ok").report.offloaded);
    rig2.restart_edge(Some(edge_builder().model("tiny_resnet", model_path("branchynet_fmnist")))).await;
    let r = s.infer_with(input.clone(), forced(8)).await.expect("never an error");
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::HashMismatch), "{:?}", r.report);
    assert!(max_diff(&r.outputs, &want) <= 1e-4);
    assert_eq!(s.edge_status(), EdgeStatus::HashMismatch);
    let before = rig2.chaos.requests();
    let r = s.infer_with(input, forced(8)).await.expect("never an error");
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::HashMismatch));
    assert_eq!(rig2.chaos.requests(), before);
    rig.kill_edge().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_only_when_needed_and_allowed() {
    let _serial = serial().await;
    let rig = Rig::start(
        || edge_builder().model_file(model_path("tiny_resnet")),
        LinkConfig::mbps(5.85, 13.0, 30.0),
    )
    .await;
    let lte = on_network(NetworkKind::Cellular(tandem_sdk::CellularGen::Lte));
    let signals = Arc::new(FixedSignals::new(tandem_sdk::PlatformState { metered: true, ..lte.clone() }));
    let config = tandem_sdk::SessionConfig {
        auto_probe: true,
        probe: tandem_sdk::netest::ProbeConfig {
            small_bytes: 1_000,
            large_bytes: 100_000,
            repeats: 2,
            timeout_ms: 10_000,
        },
        ..quiet_config()
    };
    let s = Session::builder(model_path("tiny_resnet"))
        .edge(EdgeEndpoint::new(rig.url()))
        .signals(signals.clone())
        .policy(tandem_sdk::Policy { allow_metered: false, ..tandem_sdk::Policy::latency() })
        .config(config)
        .build()
        .expect("builds");
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 8);

    // Metered and not allowed: no probe, no offload.
    let (up0, _) = rig.link.total_bytes();
    let r = s.infer(input.clone()).await.expect("never an error");
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::MeteredForbidden));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.link.total_bytes().0, up0, "nothing is sent on a forbidden metered network");

    // Unmetered, nothing known about this network: a probe runs in the background.
    signals.set(lte);
    s.infer(input).await.expect("never an error");
    let mut e = s.link_estimate();
    for _ in 0..100 {
        if e.samples > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        e = s.link_estimate();
    }
    assert!(e.samples > 0, "the probe ran: {e:?}");
    // A sanity check that the probe measured this link; its accuracy is core/tests/probe.rs's.
    assert!((e.uplink_mbps / 5.85 - 1.0).abs() < 0.3, "probed {:.2} Mbps, shaped 5.85: {e:?}", e.uplink_mbps);
    assert!(
        (e.downlink_mbps / 13.0 - 1.0).abs() < 0.3,
        "probed {:.2} Mbps down, shaped 13: {e:?}",
        e.downlink_mbps
    );
    assert!(e.rtt_ms > 15.0 && e.rtt_ms < 60.0, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_exit_model_returns_the_exit_it_planned() {
    let _serial = serial().await;
    let rig =
        Rig::start(|| edge_builder().model_file(model_path("branchynet_fmnist")), LinkConfig::unlimited())
            .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let s = session("branchynet_fmnist", &rig.url(), &signals);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = vec![npy::read_npy(testdata("branchynet_fmnist_input.npy"), "").expect("input")];
    let named = vec![NamedTensor { name: s.model().inputs()[0].name.clone(), ..input[0].clone() }];
    let all = local_outputs(&model_path("branchynet_fmnist"), &named);
    let exit = |name: &str| vec![all.iter().find(|t| t.name == name).expect("an exit output").clone()];

    // No deadline: the most accurate exit, computed by the edge after cut 9 (float32, to
    // compare exactly: the metadata would allow int8 here).
    let exact = InferOptions { cut: Some(9), encoding: Some(Encoding::Fp32), ..Default::default() };
    let r = s.infer_with(input.clone(), exact).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
    assert_eq!(r.report.plan.exit.as_deref(), Some("exit3"));
    assert!(
        max_diff(&r.outputs, &exit("exit3")) <= 1e-4,
        "{:?} vs {:?}: {:?}",
        r.outputs[0].to_f32(),
        exit("exit3")[0].to_f32(),
        r.report
    );

    // A deadline nothing can meet: the fastest plan, the first exit, on the phone.
    let tight = InferOptions { deadline_ms: Some(0.001), ..Default::default() };
    let r = s.infer_with(input.clone(), tight).await.expect("never an error");
    assert_eq!((r.report.plan.exit.as_deref(), r.report.plan.deadline_met), (Some("exit1"), Some(false)));
    assert!(max_diff(&r.outputs, &exit("exit1")) <= 1e-4, "{:?}", r.outputs);

    // Forced to offload before the first exit with no time left: finished locally up to the
    // exit, not the whole model.
    let forced_tight = InferOptions { cut: Some(3), deadline_ms: Some(0.001), ..Default::default() };
    let r = s.infer_with(input, forced_tight).await.expect("never an error");
    assert_eq!(r.report.fallback_reason, Some(FallbackReason::Timeout), "{:?}", r.report);
    assert_eq!(r.report.plan.exit.as_deref(), Some("exit1"));
    assert!(max_diff(&r.outputs, &exit("exit1")) <= 1e-4, "{:?}", r.outputs);
}
