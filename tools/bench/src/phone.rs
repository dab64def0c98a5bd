//! The phone: `tandem bench phone`, a child process the orchestrator throttles (cgroup CPU
//! quota) and drives over stdin/stdout (see [`crate::protocol`]). It holds one offload
//! [`Session`] per model, exactly as an app would, and runs requests through it.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_model::preprocess;
use tandem_sdk::breaker::BreakerConfig;
use tandem_sdk::devprofile::CalibrationOptions;
use tandem_sdk::meta::ModelMeta;
use tandem_sdk::netest::ProbeConfig;
use tandem_sdk::planner::{self, PlanInput};
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    check, DeviceProfile, EdgeEndpoint, EdgeStatus, EnergyModel, InferOptions, NamedTensor, Policy, Report,
    Session, SessionConfig,
};

use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::{
    Command, CutInfo, CutPrediction, EstimatedLink, MeasureRequest, OpenedModel, PhoneSetup, PlanChoice,
    Response, RunRecord, TraceMode, TraceRequest, TraceRun,
};
use crate::trace::level_at;
use tandem_sdk::TensorSpec;

/// One model's session and what the phone knows about it.
struct PhoneModel {
    name: String,
    session: Session,
    signals: Arc<FixedSignals>,
    inputs: Vec<NamedTensor>,
    meta: Option<ModelMeta>,
    /// The calibrated profile (scaled by the slowdown in calibrated-slowdown mode).
    device: Option<DeviceProfile>,
    /// The outputs of the first local-only run: what every other run must give.
    reference: Option<Vec<NamedTensor>>,
    /// The online sessions behind `regret_estimated`, one per network (by name): each plans
    /// from its own estimator.
    online: Vec<(String, Session, Arc<FixedSignals>)>,
    /// The session of forced-encoding baselines (edge-only in float32 or JPEG): an app that
    /// has decided what to send, so its policy accepts any calibrated fidelity (the default
    /// policy never sends a codec below its bar, even when forced). Built on first use with
    /// the calibrated device profile, dropped when the phone calibrates again.
    baseline: Option<Session>,
}

/// The probe of the online sessions: cheap (1 KB and 32 KB each way, twice: about 130 KB, 2 s
/// on CAT1), as an app would probe an unmetered network.
fn cheap_probe() -> ProbeConfig {
    ProbeConfig { small_bytes: 1_000, large_bytes: 32_000, repeats: 2, timeout_ms: 20_000 }
}

/// In the trace, the online session's estimate counts as stale (a probe is due, and the next
/// sample replaces the window) after this long without a sample, ms.
const TRACE_FRESH_MS: f64 = 2_000.0;

/// In the trace, the online session probes at most this often, ms (an app's default is 10 s;
/// the trace's link changes every 4 s).
const TRACE_PROBE_INTERVAL_MS: u64 = 3_000;

/// In the trace, the online session explores (an offload at a late cut while the plan is
/// local) at most once in this many requests...
const TRACE_EXPLORE_EVERY_REQUESTS: u64 = 4;

/// ...and at most once in 1.5 s (an app's default is 10 requests and 5 s; the trace's link
/// changes every 4 s, about 12 requests), ms.
const TRACE_EXPLORE_INTERVAL_MS: u64 = 1_500;

/// The session tuning of the online sessions (regret with the estimator, the trace): an app's
/// defaults, with a cheap probe, and the calibration the benchmark did reused.
fn online_config() -> SessionConfig {
    SessionConfig { calibrate: false, probe: cheap_probe(), ..SessionConfig::default() }
}

/// The session of the trace-driven run.
struct TraceSession {
    model: usize,
    session: Session,
}

struct Phone {
    setup: Option<PhoneSetup>,
    models: Vec<PhoneModel>,
    trace: Option<TraceSession>,
    runtime: tokio::runtime::Runtime,
    energy: EnergyModel,
}

/// Runs the phone until `quit` or the end of stdin.
pub fn phone_main() -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Phone(format!("starting a runtime: {e}")))?;
    let mut phone =
        Phone { setup: None, models: vec![], trace: None, runtime, energy: EnergyModel::default() };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| BenchError::io("<stdin>", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let (response, quit) = match serde_json::from_str::<Command>(&line) {
            Ok(Command::Quit) => (Response::Bye, true),
            Ok(cmd) => {
                (phone.handle(cmd).unwrap_or_else(|e| Response::Failed { message: e.to_string() }), false)
            }
            Err(e) => (Response::Failed { message: format!("unreadable command: {e}") }, false),
        };
        let text = serde_json::to_string(&response)?;
        writeln!(stdout, "{text}").and_then(|_| stdout.flush()).map_err(|e| BenchError::io("<stdout>", e))?;
        if quit {
            break;
        }
    }
    Ok(())
}

/// The session tuning of the static experiments: no background probes, exploration or
/// calibration (they would disturb the measurements), the edge profile fetched once, a breaker that
/// never opens (a capped measurement is not an edge failure), and no timeout but the cap.
fn static_config(setup: &PhoneSetup) -> SessionConfig {
    SessionConfig {
        connect_wait_ms: 30_000,
        min_edge_timeout_ms: 600_000.0,
        max_edge_timeout_ms: 600_000.0,
        edge_refresh_ms: 24 * 3_600_000,
        auto_probe: false,
        exploration: tandem_sdk::ExplorationConfig { enabled: false, ..Default::default() },
        calibrate: false,
        calibration: CalibrationOptions {
            runs: setup.calibration_runs.max(1),
            max_cuts: Some(setup.calibration_cuts.max(2)),
        },
        breaker: BreakerConfig { failure_threshold: u32::MAX, ..BreakerConfig::default() },
        ..SessionConfig::default()
    }
}

impl Phone {
    fn handle(&mut self, cmd: Command) -> Result<Response, BenchError> {
        match cmd {
            Command::Open(setup) => self.open(setup),
            Command::Calibrate { model } => self.calibrate(&model),
            Command::Plan { model, network } => self.plan(&model, &network),
            Command::PlanThreeTiers { model, network } => self.plan_three_tiers(&model, &network),
            Command::PlanEstimated { model, network, requests, deadline_ms } => {
                self.plan_estimated(&model, &network, requests, deadline_ms)
            }
            Command::Measure(req) => self.measure(&req),
            Command::SetSlowdown { slowdown } => {
                let setup =
                    self.setup.as_mut().ok_or_else(|| BenchError::Phone("`open` must come first".into()))?;
                if setup.sleep_slowdown.is_none() {
                    return Err(BenchError::Phone(
                        "set_slowdown is for the calibrated-slowdown mode; a cgroup's quota is the orchestrator's"
                            .into(),
                    ));
                }
                setup.sleep_slowdown = Some(slowdown);
                Ok(Response::SlowdownSet)
            }
            Command::TraceOpen { model, network, deadline_ms, oracle } => {
                self.trace_open(&model, &network, deadline_ms, oracle)
            }
            Command::Trace(run) => self.trace(&run),
            Command::Quit => Ok(Response::Bye),
        }
    }

    fn setup(&self) -> Result<&PhoneSetup, BenchError> {
        self.setup.as_ref().ok_or_else(|| BenchError::Phone("`open` must come first".into()))
    }

    fn model_index(&self, name: &str) -> Result<usize, BenchError> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| BenchError::Phone(format!("no model `{name}` is open")))
    }

    fn open(&mut self, setup: PhoneSetup) -> Result<Response, BenchError> {
        let config = static_config(&setup);
        let mut opened = vec![];
        for spec in &setup.models {
            let t = Instant::now();
            let signals = Arc::new(FixedSignals::new(Network::standard()[3].platform_state("setup")));
            let session = Session::builder(&spec.path)
                .load_options(spec.load_options())
                .edge(EdgeEndpoint::new(setup.edge_url.clone()).with_model_name(spec.name.clone()))
                .policy(Policy::latency())
                .signals(signals.clone())
                .config(config.clone())
                .build()?;
            self.wait_verified(&session, &format!("model `{}`", spec.name))?;
            let meta = ModelMeta::load_beside_checked(&spec.path, session.model().hash())
                .map_err(|e| BenchError::Phone(e.to_string()))?;
            let model = session.model().clone();
            opened.push(OpenedModel {
                name: spec.name.clone(),
                hash: model.hash().to_string(),
                cuts: model
                    .cuts()
                    .iter()
                    .map(|c| CutInfo { id: c.id, bytes: c.bytes, macs_before: c.macs_before })
                    .collect(),
                open_ms: t.elapsed().as_secs_f64() * 1e3,
                input: String::new(),
            });
            let (inputs, input) = phone_inputs(model.inputs(), meta.as_ref(), setup.input_image.as_deref())?;
            if let Some(o) = opened.last_mut() {
                o.input = input;
            }
            let mut online = vec![];
            for net in &setup.networks {
                let signals = Arc::new(FixedSignals::new(Network::standard()[3].platform_state("online")));
                let session = Session::builder(&spec.path)
                    .load_options(spec.load_options())
                    .edge(EdgeEndpoint::new(setup.edge_url.clone()).with_model_name(spec.name.clone()))
                    .policy(Policy::latency())
                    .signals(signals.clone())
                    .config(online_config())
                    .build()?;
                self.wait_verified(&session, &format!("model `{}` (online)", spec.name))?;
                online.push((net.clone(), session, signals));
            }
            self.models.push(PhoneModel {
                name: spec.name.clone(),
                session,
                signals,
                inputs,
                meta,
                device: None,
                reference: None,
                online,
                baseline: None,
            });
        }
        self.setup = Some(setup);
        Ok(Response::Opened { models: opened })
    }

    fn calibrate(&mut self, name: &str) -> Result<Response, BenchError> {
        let slowdown = self.setup()?.sleep_slowdown;
        let i = self.model_index(name)?;
        let t = Instant::now();
        let profile = self.runtime.block_on(self.models[i].session.calibrate())?;
        let elapsed_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut used = profile.clone();
        if let Some(n) = slowdown {
            for t in &mut used.before_ms {
                *t *= n;
            }
        }
        let before_ms = used.before_ms.clone();
        self.models[i].device = Some(used);
        self.models[i].baseline = None;
        Ok(Response::Calibrated { before_ms, timed_cuts: profile.timed_cuts, elapsed_ms })
    }

    fn plan(&mut self, name: &str, network: &Network) -> Result<Response, BenchError> {
        let pm = &self.models[self.model_index(name)?];
        let device = pm.device.clone().unwrap_or_else(|| pm.session.device_profile());
        let edge = pm.session.edge_profile();
        let link = network.link();
        let platform = network.platform_state(&network.name);
        let model = pm.session.model();
        let mut plans = vec![];
        let mut table = vec![];
        for (objective, policy) in
            [("latency", Policy::latency()), ("energy", Policy::energy()), ("balanced", Policy::balanced())]
        {
            let input = PlanInput {
                cuts: model.cuts(),
                device: &device,
                edge: edge.as_ref(),
                cloud: None,
                link: &link,
                platform: &platform,
                energy: &self.energy,
                policy: &policy,
                meta: pm.meta.as_ref(),
                constraints: Default::default(),
            };
            let plan = planner::plan(&input)?;
            if objective == "latency" {
                table = plan
                    .table
                    .iter()
                    .map(|c| CutPrediction {
                        cut: c.cut,
                        bytes_up: c.bytes_up,
                        latency_ms: c.latency_ms,
                        energy_mj: c.energy_mj,
                    })
                    .collect();
            }
            plans.push(PlanChoice {
                objective: objective.into(),
                cut: plan.cut,
                predicted_latency_ms: plan.predicted.total_ms,
                predicted_energy_mj: plan.predicted.energy_mj,
                reason: plan.reason,
            });
        }
        let edge_after_ms = edge
            .as_ref()
            .map(|e| e.cuts.iter().map(|c| c.after_ms.unwrap_or(f64::NAN)).collect())
            .unwrap_or_default();
        Ok(Response::Planned {
            plans,
            table,
            edge_after_ms,
            device_before_ms: device.before_ms.clone(),
            edge_profile_fetched: edge.is_some_and(|e| !e.model.is_empty()),
        })
    }

    /// The latency objective's plan from the online session's link estimate on `network`,
    /// after it made `requests` requests of its own there (the first starts its probe, which
    /// is waited for, up to 30 s) with the network kind as the OS reports it.
    fn plan_estimated(
        &mut self,
        name: &str,
        network: &Network,
        requests: usize,
        deadline_ms: f64,
    ) -> Result<Response, BenchError> {
        let slowdown = self.setup()?.sleep_slowdown;
        let pm = &self.models[self.model_index(name)?];
        let (_, online, signals) =
            pm.online.iter().find(|(n, _, _)| *n == network.name).ok_or_else(|| {
                BenchError::Phone(format!("no online session for network `{}`", network.name))
            })?;
        // A network the session has never seen: only the OS's hint (its kind) to start from.
        signals.set(network.platform_state(&format!("estimated-{}", network.name)));
        let mut offloads = 0;
        for k in 0..requests {
            let options = InferOptions { deadline_ms: Some(deadline_ms), ..Default::default() };
            let result = online.infer_blocking_with(pm.inputs.clone(), options)?;
            run_record(&result.report, slowdown, self.energy.compute_mw);
            offloads += usize::from(result.report.offloaded);
            if k == 0 {
                let t = Instant::now();
                while online.link_estimate().samples == 0 && t.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let estimate = online.link_estimate();
        let device = pm.device.clone().unwrap_or_else(|| pm.session.device_profile());
        let edge = pm.session.edge_profile();
        let platform = network.platform_state(&network.name);
        let policy = Policy::latency();
        let plan = planner::plan(&PlanInput {
            cuts: pm.session.model().cuts(),
            device: &device,
            edge: edge.as_ref(),
            cloud: None,
            link: &estimate,
            platform: &platform,
            energy: &self.energy,
            policy: &policy,
            meta: pm.meta.as_ref(),
            constraints: Default::default(),
        })?;
        Ok(Response::PlannedEstimated {
            plan: PlanChoice {
                objective: "latency".into(),
                cut: plan.cut,
                predicted_latency_ms: plan.predicted.total_ms,
                predicted_energy_mj: plan.predicted.energy_mj,
                reason: plan.reason,
            },
            link: EstimatedLink {
                uplink_mbps: estimate.uplink_mbps,
                downlink_mbps: estimate.downlink_mbps,
                rtt_ms: estimate.rtt_ms,
                samples: estimate.samples,
                confidence: estimate.confidence,
            },
            requests,
            offloads,
        })
    }

    /// The latency objective's plan with the cloud the edge advertises, on `network`'s
    /// known link, with the phone's calibrated profile (as [`Phone::plan`] for two tiers).
    fn plan_three_tiers(&mut self, name: &str, network: &Network) -> Result<Response, BenchError> {
        let pm = &self.models[self.model_index(name)?];
        let device = pm.device.clone().unwrap_or_else(|| pm.session.device_profile());
        let edge = pm.session.edge_profile();
        let cloud_info = edge.as_ref().and_then(|e| e.cloud.as_deref());
        let cloud_link = cloud_info
            .map(|c| planner::LinkEstimate::fixed(c.link.uplink_mbps, c.link.downlink_mbps, c.link.rtt_ms));
        let cloud = cloud_info
            .zip(cloud_link.as_ref())
            .map(|(c, link)| planner::CloudTier { profile: &c.profile, link });
        let (link, platform, policy) =
            (network.link(), network.platform_state(&network.name), Policy::latency());
        let plan = planner::plan(&PlanInput {
            cuts: pm.session.model().cuts(),
            device: &device,
            edge: edge.as_ref(),
            cloud,
            link: &link,
            platform: &platform,
            energy: &self.energy,
            policy: &policy,
            meta: pm.meta.as_ref(),
            constraints: Default::default(),
        })?;
        Ok(Response::PlannedThreeTiers {
            cut: plan.cut,
            cloud_cut: plan.cloud_cut,
            predicted_latency_ms: plan.predicted.total_ms,
            reason: plan.reason,
            cloud_known: cloud_info.is_some(),
        })
    }

    /// Waits up to a minute for the edge to verify `session`'s model; `what` names the session
    /// in the error.
    fn wait_verified(&self, session: &Session, what: &str) -> Result<(), BenchError> {
        let status = self.runtime.block_on(session.wait_for_edge(Duration::from_secs(60)));
        if status != EdgeStatus::Verified {
            return Err(BenchError::Phone(format!("{what}: the edge is {status:?}")));
        }
        Ok(())
    }

    /// The forced-encoding baselines' session of model `i` (see [`PhoneModel::baseline`]).
    fn baseline_session(&mut self, i: usize) -> Result<(), BenchError> {
        if self.models[i].baseline.is_some() {
            return Ok(());
        }
        let setup = self.setup()?.clone();
        let pm = &self.models[i];
        let device = pm.device.clone().unwrap_or_else(|| pm.session.device_profile());
        let session = Session::builder(pm.session.model().path().to_path_buf())
            .edge(EdgeEndpoint::new(setup.edge_url.clone()).with_model_name(pm.name.clone()))
            .policy(Policy { max_accuracy_drop: 1.0, ..Policy::latency() })
            .signals(pm.signals.clone())
            .device_profile(device)
            .config(static_config(&setup))
            .build()?;
        self.wait_verified(&session, &format!("model `{}` (baselines)", pm.name))?;
        self.models[i].baseline = Some(session);
        Ok(())
    }

    fn measure(&mut self, req: &MeasureRequest) -> Result<Response, BenchError> {
        let slowdown = self.setup()?.sleep_slowdown;
        let i = self.model_index(&req.model)?;
        if req.encoding.is_some() {
            self.baseline_session(i)?;
        }
        let pm = &self.models[i];
        let session = match (&pm.baseline, req.encoding) {
            (Some(b), Some(_)) => b,
            _ => &pm.session,
        };
        pm.signals.set(req.network.platform_state(&req.network.name));
        let last = pm.session.model().last_cut();
        let mut runs = vec![];
        let mut reference = pm.reference.clone();
        for i in 0..req.warmup + req.runs {
            let warm = i < req.warmup;
            let options = InferOptions {
                cut: Some(req.cut),
                encoding: req.encoding,
                deadline_ms: if warm { None } else { req.deadline_ms },
                cloud_cut: req.cloud_cut,
            };
            let result = session.infer_blocking_with(pm.inputs.clone(), options)?;
            let mut record = run_record(&result.report, slowdown, self.energy.compute_mw);
            if reference.is_none() && req.cut == last {
                reference = Some(result.outputs.clone());
            }
            record.max_abs_diff = reference.as_deref().map(|want| max_abs_diff(&result.outputs, want));
            if req.encoding.is_some() && record.encoding_sent != req.encoding {
                record.plan_reason = Some(match &result.report.fallback_detail {
                    Some(d) => format!("{} ({d})", result.report.plan.reason),
                    None => result.report.plan.reason.clone(),
                });
            }
            if warm {
                continue;
            }
            let capped = req.cut < last && !record.offloaded;
            runs.push(record);
            if capped {
                break;
            }
        }
        self.models[i].reference = reference;
        Ok(Response::Measured { runs })
    }

    fn trace_open(
        &mut self,
        name: &str,
        network: &Network,
        deadline_ms: f64,
        oracle: bool,
    ) -> Result<Response, BenchError> {
        let setup = self.setup()?.clone();
        let i = self.model_index(name)?;
        let pm = &self.models[i];
        let device = pm.device.clone().unwrap_or_else(|| pm.session.device_profile());
        let path = pm.session.model().path().to_path_buf();
        // Online: the session as an app would run it (online estimation with cheap probes,
        // periodic edge refresh, the default breaker; only the calibration is reused), which
        // explores: it probes again whenever its estimate is older than half a trace segment
        // (at most every 3 s), and offloads a request at a late cut now and then while its
        // plan is local (ExplorationConfig), so the estimator follows the link while the
        // session computes locally. The oracle: forced cuts, never given up on (its deadline
        // is only scored).
        let (config, deadline) = if oracle {
            (static_config(&setup), None)
        } else {
            let mut config = online_config();
            config.estimator.fresh_ms = TRACE_FRESH_MS;
            config.probe_interval_ms = TRACE_PROBE_INTERVAL_MS;
            config.exploration.every_requests = TRACE_EXPLORE_EVERY_REQUESTS;
            config.exploration.min_interval_ms = TRACE_EXPLORE_INTERVAL_MS;
            (config, Some(deadline_ms))
        };
        let load = setup.models.iter().find(|m| m.name == name).map(|m| m.load_options()).unwrap_or_default();
        let session = Session::builder(path)
            .load_options(load)
            .edge(EdgeEndpoint::new(setup.edge_url.clone()).with_model_name(name.to_string()))
            .policy(Policy { deadline_ms: deadline, ..Policy::latency() })
            .signals(Arc::new(FixedSignals::new(network.platform_state("trace"))))
            .device_profile(device)
            .config(config)
            .build()?;
        self.wait_verified(&session, "trace session")?;
        self.trace = Some(TraceSession { model: i, session });
        Ok(Response::TraceReady)
    }

    fn trace(&mut self, run: &TraceRun) -> Result<Response, BenchError> {
        let slowdown = self.setup()?.sleep_slowdown;
        let ts =
            self.trace.as_ref().ok_or_else(|| BenchError::Phone("`trace_open` must come first".into()))?;
        let inputs = &self.models[ts.model].inputs;
        let period_ms = run.period_ms.max(1.0);
        let t0 = Instant::now();
        let since = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        let mut next_slot_ms = 0.0;
        let mut requests = vec![];
        loop {
            let now = since(t0);
            if now < next_slot_ms {
                std::thread::sleep(Duration::from_secs_f64((next_slot_ms - now) / 1e3));
            }
            let start_ms = since(t0);
            if start_ms >= run.duration_ms {
                break;
            }
            let level = level_at(&run.trace, start_ms);
            let options = match &run.mode {
                TraceMode::Online => InferOptions::default(),
                TraceMode::Forced { cut_per_level } => {
                    InferOptions { cut: cut_per_level.get(level).copied(), ..Default::default() }
                }
            };
            let result = ts.session.infer_blocking_with(inputs.clone(), options)?;
            let r = run_record(&result.report, slowdown, self.energy.compute_mw);
            let deadline_met = result.report.deadline_ms.or(run.deadline_ms).map(|d| r.total_ms <= d);
            requests.push(TraceRequest {
                t_start_ms: start_ms,
                level,
                cut: r.cut,
                total_ms: r.total_ms,
                offloaded: r.offloaded,
                fallback: r.fallback,
                deadline_met,
                energy_mj: r.energy_mj,
                estimated_uplink_mbps: result.report.link.uplink_mbps,
                bytes_up: r.bytes_up,
                exploration: result.report.exploration,
            });
            next_slot_ms = ((start_ms / period_ms).floor() + 1.0) * period_ms;
        }
        Ok(Response::Traced { requests })
    }
}

/// A report as a run record. In calibrated-slowdown mode the phone ran `n` times too fast:
/// it sleeps `(n - 1)` times its compute now (so the wall clock advances as on the slow
/// phone) and charges that time and its compute energy to the request.
fn run_record(report: &Report, slowdown: Option<f64>, compute_mw: f64) -> RunRecord {
    let extra_ms = slowdown.map_or(0.0, |n| (n - 1.0).max(0.0) * report.phone_ms);
    if extra_ms > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(extra_ms / 1e3));
    }
    RunRecord {
        cut: report.plan.cut,
        total_ms: report.total_ms + extra_ms,
        phone_ms: report.phone_ms + extra_ms,
        upload_ms: report.upload_rtt_ms,
        edge_ms: report.edge_ms(),
        download_ms: report.download_ms,
        bytes_up: report.bytes_up,
        bytes_down: report.bytes_down,
        energy_mj: report.energy_mj + compute_mw * extra_ms / 1e3,
        offloaded: report.offloaded,
        fallback: report.fallback_reason.map(|r| r.code().to_string()),
        edge_timeout_ms: report.edge_timeout_ms,
        cloud_cut: report.cloud_cut,
        cloud_ms: report.cloud_ms,
        cloud_compute_ms: report.cloud_compute_ms,
        cloud_fallback: report.cloud_fallback_reason.clone(),
        max_abs_diff: None,
        encoding_sent: report.encoding_sent,
        plan_reason: None,
    }
}

/// The phone's inputs for a model, and what they are in words: the photo at `image` through
/// the sidecar's `preprocessing` for the input it names (the other inputs, or every input
/// without a photo or a `preprocessing`, seeded random values).
fn phone_inputs(
    specs: &[TensorSpec],
    meta: Option<&ModelMeta>,
    image: Option<&std::path::Path>,
) -> Result<(Vec<NamedTensor>, String), BenchError> {
    let mut inputs = check::seeded_inputs(specs);
    let seeded = "seeded random values (tandem_model::check::seeded_inputs)".to_string();
    let (Some(path), Some(p)) = (image, meta.and_then(|m| m.preprocessing.as_ref())) else {
        return Ok((inputs, seeded));
    };
    let Some(k) = specs.iter().position(|s| p.input.as_ref().is_none_or(|n| *n == s.name)) else {
        return Ok((inputs, seeded));
    };
    if specs[k].shape != p.shape() || specs[k].dtype != tandem_sdk::DType::Fp32 {
        return Ok((inputs, format!("{seeded}: the input's shape is not the preprocessing's")));
    }
    let photo = image::open(path)
        .map_err(|e| BenchError::Phone(format!("--input-image {}: {e}", path.display())))?
        .to_rgb8();
    let (w, h) = photo.dimensions();
    let values = preprocess::frame_to_tensor(w, h, None, p, |x, y| photo.get_pixel(x, y).0.map(f32::from))
        .ok_or_else(|| BenchError::Phone(format!("--input-image {}: an empty image", path.display())))?;
    inputs[k] = NamedTensor::from_f32(specs[k].name.clone(), specs[k].shape.clone(), &values)
        .map_err(|e| BenchError::Phone(e.to_string()))?;
    Ok((inputs, format!("{} ({w}x{h}) through the sidecar's preprocessing", path.display())))
}

/// The largest absolute difference between two output lists (infinite when they differ in
/// names or count).
fn max_abs_diff(got: &[NamedTensor], want: &[NamedTensor]) -> f64 {
    if got.len() != want.len() || got.iter().zip(want).any(|(a, b)| a.name != b.name) {
        return f64::INFINITY;
    }
    got.iter().zip(want).map(|(a, b)| a.max_abs_diff(b)).fold(0.0, f64::max)
}
