//! Exploration (`ExplorationConfig`, ADR 0015) against the real edge behind the link
//! emulator: a session whose link estimate was made pessimistic by a slow link offloads
//! again within a bounded number of requests once the link recovers, by exploring; it never
//! explores on a metered network or when exploration is off; an exploration is the trial that
//! closes a breaker opened while the plan was local. No timing assertions: what is
//! checked is what the session decided and what the edge answered.

use std::sync::Arc;
use std::time::Duration;

use tandem_e2e::*;
use tandem_linkemu::LinkConfig;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    BreakerConfig, BreakerPhase, DeviceProfile, EdgeEndpoint, EdgeStatus, ExplorationConfig, FallbackReason,
    NetworkKind, PlatformState, Policy, Session, SessionConfig,
};

const WAIT: Duration = Duration::from_secs(10);
const MODEL: &str = "tiny_resnet";

/// Requests after the link recovered within which the session must have offloaded.
const RECOVERY_REQUESTS: usize = 12;

/// Exploration on every third request, without a time bound (the tests count requests, not
/// seconds), with a generous timeout (loopback; the edge builds a new part on first use).
fn exploring(enabled: bool) -> ExplorationConfig {
    ExplorationConfig {
        enabled,
        every_requests: 3,
        min_interval_ms: 0,
        min_timeout_ms: 5_000.0,
        ..ExplorationConfig::default()
    }
}

/// The test configuration: no probes (only exploration can sample the link), slow answers
/// waited for (a slow link must teach the estimator, not time out).
fn config(exploration: ExplorationConfig) -> SessionConfig {
    SessionConfig { min_edge_timeout_ms: 20_000.0, exploration, ..quiet_config() }
}

fn session(
    url: &str,
    signals: &Arc<FixedSignals>,
    device: Option<DeviceProfile>,
    cfg: SessionConfig,
) -> Session {
    let mut b = Session::builder(model_path(MODEL))
        .edge(EdgeEndpoint::new(url))
        .policy(Policy::latency())
        .signals(signals.clone())
        .config(cfg);
    if let Some(d) = device {
        b = b.device_profile(d);
    }
    b.build().expect("the session builds")
}

/// A phone on which the whole model takes `whole_ms` (the planner's belief; the model really
/// runs at this machine's speed).
fn phone_taking(whole_ms: f64) -> DeviceProfile {
    let model = tandem_sdk::Model::load(model_path(MODEL), &Default::default()).expect("loads");
    DeviceProfile::estimate(
        model.hash(),
        "test-phone",
        model.cuts(),
        whole_ms,
        tandem_sdk::ThermalState::Nominal,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pessimistic_estimate_offloads_again_within_a_bounded_number_of_requests_after_the_link_recovers() {
    let _serial = serial().await;
    // A slow link first: a 1.5 s round trip.
    let rig =
        Rig::start(|| edge_builder().model_file(model_path(MODEL)), LinkConfig::mbps(18.88, 30.0, 1_500.0))
            .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    // A phone on which the model takes 300 ms: on a fast link the planner offloads.
    let s = session(&rig.url(), &signals, Some(phone_taking(300.0)), config(exploring(true)));
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 3);
    let want = local_outputs(&model_path(MODEL), &input);

    // The Wi-Fi prior makes the first plans offload; the slow answers make the estimate
    // pessimistic until the plan is local.
    let mut local_after = None;
    for i in 0..8 {
        let r = s.infer(input.clone()).await.expect("never an error");
        assert!(max_diff(&r.outputs, &want) <= 1e-4, "request {i}: {:?}", r.report);
        eprintln!(
            "slow link, request {i}: {} (rtt estimate {:.0} ms)",
            r.report.summary(),
            r.report.link.rtt_ms
        );
        if !r.report.plan.offloads() && !r.report.exploration {
            local_after = Some(i);
            break;
        }
    }
    let pessimistic = s.infer(input.clone()).await.expect("never an error").report;
    assert!(
        local_after.is_some() && !pessimistic.plan.offloads(),
        "the slow link made the plan local: {pessimistic:?}"
    );
    assert!(pessimistic.link.rtt_ms > 200.0, "a pessimistic estimate: {:?}", pessimistic.link);

    // The link recovers: a 5 ms round trip. Without probes, only exploration can notice.
    rig.link.set_config(LinkConfig::mbps(18.88, 30.0, 5.0));
    let mut first_offload = None;
    for i in 0..RECOVERY_REQUESTS {
        let r = s.infer(input.clone()).await.expect("never an error");
        assert!(max_diff(&r.outputs, &want) <= 1e-4, "request {i}: {:?}", r.report);
        eprintln!("fast link, request {i}: {} (exploration {})", r.report.summary(), r.report.exploration);
        if r.report.offloaded {
            first_offload = Some(r.report);
            break;
        }
    }
    let report =
        first_offload.unwrap_or_else(|| panic!("no offload in {RECOVERY_REQUESTS} requests after recovery"));
    assert!(report.exploration, "the first offload after recovery is exploratory: {report:?}");
    assert!(!report.forced_cut && report.fallback_reason.is_none(), "{report:?}");
    assert!(report.plan.cut < s.model().last_cut(), "{report:?}");
    // It sampled the link: the round trip estimate of the next request is no longer 1.5 s.
    let next = s.infer(input.clone()).await.expect("never an error").report;
    assert!(next.link.rtt_ms < pessimistic.link.rtt_ms, "{:?} then {:?}", pessimistic.link, next.link);
}

/// Runs `n` requests with a plan that is local (a fast phone: the tiny model takes
/// milliseconds, every link's round trip is longer) and returns how many explored and how
/// many offloaded.
async fn explorations(state: PlatformState, exploration: ExplorationConfig, n: usize) -> (usize, usize) {
    let rig =
        Rig::start(|| edge_builder().model_file(model_path(MODEL)), LinkConfig::mbps(18.88, 30.0, 30.0))
            .await;
    let signals = Arc::new(FixedSignals::new(state));
    let s = session(&rig.url(), &signals, Some(phone_taking(2.0)), config(exploration));
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 5);
    let want = local_outputs(&model_path(MODEL), &input);
    let (mut explored, mut offloaded) = (0, 0);
    for i in 0..n {
        let r = s.infer(input.clone()).await.expect("never an error");
        assert!(max_diff(&r.outputs, &want) <= 1e-4, "request {i}: {:?}", r.report);
        assert!(
            !r.report.plan.offloads() || r.report.exploration,
            "the planner keeps it local: {:?}",
            r.report
        );
        explored += usize::from(r.report.exploration);
        offloaded += usize::from(r.report.offloaded);
    }
    (explored, offloaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explores_on_an_unmetered_network_but_never_on_a_metered_one_or_when_off() {
    let _serial = serial().await;
    let wifi = on_network(NetworkKind::Wifi);
    // The control: unmetered, on: every third request explores (requests 3, 6, 9).
    let (explored, offloaded) = explorations(wifi.clone(), exploring(true), 9).await;
    assert_eq!(explored, 3, "one in three requests explores");
    assert!(offloaded >= 1, "an exploratory request reached the edge");
    // Metered (the policy allows metered data, so the edge may be used): never.
    let metered = PlatformState { metered: true, ..wifi.clone() };
    assert_eq!(
        explorations(metered, exploring(true), 9).await,
        (0, 0),
        "no exploration on a metered network"
    );
    // Switched off: never.
    assert_eq!(explorations(wifi.clone(), exploring(false), 9).await, (0, 0), "no exploration when off");
    // A critical battery (not charging): never.
    let low = PlatformState { battery_level: Some(0.1), charging: Some(false), ..wifi };
    assert_eq!(explorations(low, exploring(true), 9).await, (0, 0), "no exploration on a critical battery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exploration_is_the_half_open_trial_that_closes_a_breaker_opened_while_the_plan_is_local() {
    let _serial = serial().await;
    let rig =
        Rig::start(|| edge_builder().model_file(model_path(MODEL)), LinkConfig::mbps(18.88, 30.0, 30.0))
            .await;
    let signals = Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi)));
    let mut cfg = config(ExplorationConfig { every_requests: 1, ..exploring(true) });
    cfg.breaker = BreakerConfig { base_backoff_ms: 1_000, ..BreakerConfig::default() };
    // A fast phone: the plan is always local, only explorations reach the edge.
    let s = session(&rig.url(), &signals, Some(phone_taking(2.0)), cfg);
    assert_eq!(s.wait_for_edge(WAIT).await, EdgeStatus::Verified);
    let input = seeded_input(s.model(), 7);
    let want = local_outputs(&model_path(MODEL), &input);

    // The edge fails: three failed explorations open the breaker.
    rig.chaos.set(Chaos::Status(500));
    for i in 0..3 {
        let r = s.infer(input.clone()).await.expect("never an error");
        assert!(max_diff(&r.outputs, &want) <= 1e-4);
        assert!(r.report.exploration && !r.report.offloaded, "request {i}: {:?}", r.report);
        assert!(
            matches!(r.report.fallback_reason, Some(FallbackReason::ServerError { .. })),
            "{:?}",
            r.report
        );
    }
    assert_eq!(s.breaker_state().phase, BreakerPhase::Open);
    // While the back-off runs, nothing explores.
    let r = s.infer(input.clone()).await.expect("never an error");
    assert!(!r.report.exploration && !r.report.offloaded, "{:?}", r.report);

    // The edge recovers; once the back-off is over, the next exploration is the trial, and
    // its success closes the breaker (the plan itself never offloads, so nothing else would).
    rig.chaos.set(Chaos::Pass);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let r = s.infer(input.clone()).await.expect("never an error");
    assert!(max_diff(&r.outputs, &want) <= 1e-4);
    assert!(r.report.exploration && r.report.offloaded, "{:?}", r.report);
    assert_eq!(r.report.breaker, BreakerPhase::HalfOpen, "{:?}", r.report);
    assert_eq!(s.breaker_state().phase, BreakerPhase::Closed);
}
