//! The orchestrator: starts the edge, the link emulator and the phone, runs the static
//! sweep and the trace, and writes the outputs.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use tandem_linkemu::{LinkConfig, LinkEmulator};

use crate::edge::{CloudAdvert, EdgeProcess, ProfileState};
use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::{
    Command, MeasureRequest, OpenedModel, PhoneSetup, Response, RunRecord, TraceMode, TraceRequest, TraceRun,
};
use crate::results::{ModelResult, NetworkResult, Results, Setup, Summary, TraceResult, SCHEMA};
use crate::settings::{Settings, ThreeTierSettings};
use crate::shaper::KernelShaper;
use crate::speed_sweep::{self, PhoneSpeed, SpeedPoint, SpeedSweep};
use crate::sweep::measure_model;
use crate::three_tiers::{self, CloudSide, ThreeTiersResult, ThreeTiersSetup};
use crate::throttle::CpuThrottle;
use crate::trace::{markov_trace, summarize};
use crate::{markdown, plots, BenchArgs, ShaperChoice, ThrottleChoice};

/// The phone child process, driven over stdin/stdout.
pub(crate) struct PhoneProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PhoneProcess {
    fn spawn(exe: &Path, log: &Path) -> Result<PhoneProcess, BenchError> {
        let log_file = std::fs::File::create(log).map_err(|e| BenchError::io(log, e))?;
        let mut child = Process::new(exe)
            .args(["bench", "phone"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| BenchError::Process { role: "phone", reason: format!("starting: {e}") })?;
        let missing = || BenchError::Process { role: "phone", reason: "no stdin/stdout".into() };
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(missing)?);
        Ok(PhoneProcess { child, stdin, stdout })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command and reads its answer; a `Failed` answer is an error.
    pub(crate) fn call(&mut self, cmd: &Command) -> Result<Response, BenchError> {
        let line = serde_json::to_string(cmd)?;
        let broken =
            |e: std::io::Error| BenchError::Process { role: "phone", reason: format!("{e} (see phone.log)") };
        writeln!(self.stdin, "{line}").and_then(|_| self.stdin.flush()).map_err(broken)?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer).map_err(broken)? == 0 {
            return Err(BenchError::Process { role: "phone", reason: "exited (see phone.log)".into() });
        }
        match serde_json::from_str::<Response>(&answer)? {
            Response::Failed { message } => Err(BenchError::Phone(message)),
            r => Ok(r),
        }
    }

    /// Runs one measurement.
    pub(crate) fn measure(&mut self, req: MeasureRequest) -> Result<Vec<RunRecord>, BenchError> {
        match self.call(&Command::Measure(req))? {
            Response::Measured { runs } => Ok(runs),
            r => Err(unexpected(&r)),
        }
    }
}

impl Drop for PhoneProcess {
    fn drop(&mut self) {
        let _ = self.call(&Command::Quit);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The error of an answer that is not the one the command expects.
pub(crate) fn unexpected(r: &Response) -> BenchError {
    BenchError::Phone(format!("unexpected answer: {r:?}"))
}

/// The link between phone and edge: the emulator, and the kernel shaper if used.
#[derive(Clone)]
pub(crate) struct Link {
    emu: Arc<LinkEmulator>,
    shaper: Option<Arc<KernelShaper>>,
}

impl Link {
    /// Shapes the link as `n`.
    pub(crate) fn set(&self, n: &Network) -> Result<(), BenchError> {
        match &self.shaper {
            Some(s) => {
                s.set_rates(n.uplink_mbps, n.downlink_mbps)?;
                self.emu.set_config(LinkConfig::mbps(0.0, 0.0, n.rtt_ms));
            }
            None => self.emu.set_config(LinkConfig::mbps(n.uplink_mbps, n.downlink_mbps, n.rtt_ms)),
        }
        Ok(())
    }

    /// No shaping: setup traffic at full speed.
    pub(crate) fn unlimited(&self) -> Result<(), BenchError> {
        if let Some(s) = &self.shaper {
            s.set_rates(10_000.0, 10_000.0)?;
        }
        self.emu.set_config(LinkConfig::unlimited());
        Ok(())
    }
}

/// How the phone is slowed down.
enum Throttle {
    Cgroup(CpuThrottle),
    Sleep,
}

impl Throttle {
    /// Runs `f` with the phone at full speed (setup work: loading models, building
    /// sessions), then throttles it again.
    fn unthrottled<T>(&self, pid: u32, f: impl FnOnce() -> Result<T, BenchError>) -> Result<T, BenchError> {
        if let Throttle::Cgroup(c) = self {
            c.release(pid)?;
        }
        let out = f();
        if let Throttle::Cgroup(c) = self {
            c.add(pid)?;
        }
        out
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Runs the whole benchmark and writes its outputs.
pub(crate) fn run_bench(args: &BenchArgs) -> Result<Results, BenchError> {
    let clock = RunClock {
        started: Instant::now(),
        started_unix_s: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        load_start: load_average(),
    };
    let s = Settings::resolve(args)?;
    std::fs::create_dir_all(&s.out).map_err(|e| BenchError::io(&s.out, e))?;
    let exe = std::env::current_exe().map_err(|e| BenchError::io("<current executable>", e))?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
            BenchError::Process { role: "benchmark", reason: format!("starting a runtime: {e}") }
        })?;
    let progress = progress_bar();
    let (mut throttle, mut throttle_detail) = phone_throttle(&s)?;
    let throttle_kind = match &throttle {
        Throttle::Cgroup(c) => c.kind(),
        Throttle::Sleep => "calibrated_sleep",
    };
    let priority = matches!(throttle, Throttle::Cgroup(_));
    let cloud = s
        .three_tiers
        .as_ref()
        .map(|t| CloudSide::start(&s, t, &exe, priority, &runtime, &progress))
        .transpose()?;
    let edge = start_edge(&s, &exe, &throttle, cloud.as_ref(), &runtime, &progress)?;
    let advertised = match &cloud {
        Some(_) => {
            progress.set_message("edge: waiting until it advertises the cloud");
            runtime.block_on(edge.edge.wait_for_cloud(&s.models, Duration::from_secs(120)))?
        }
        None => vec![],
    };
    let link = edge.link.clone();

    // --- phone ------------------------------------------------------------------------
    let sleep_slowdown = matches!(throttle, Throttle::Sleep).then_some(s.slowdown);
    let (mut phone, opened) = open_phone(&s, &exe, &throttle, &link, sleep_slowdown, &progress)?;

    // --- static sweep (and, with three tiers, the three-tier rows; with a phone-speed
    // sweep, once per speed with the JPEG baselines) ----------------------------------
    let speeds: Vec<Option<PhoneSpeed>> =
        if s.speeds.is_empty() { vec![None] } else { s.speeds.iter().cloned().map(Some).collect() };
    let mut models = vec![];
    let mut cells = vec![];
    let mut points = vec![];
    let mut s = s;
    for (k, speed) in speeds.iter().enumerate() {
        if let Some(sp) = speed.as_ref().filter(|_| k > 0) {
            throttle_detail = set_phone_speed(&mut throttle, &mut phone, sp.slowdown)?;
            s.slowdown = sp.slowdown;
        }
        models = vec![];
        let (mut raw, mut jpeg) = (vec![], vec![]);
        for (spec, om) in s.models.iter().zip(&opened) {
            let m = measure_model(&mut phone, &link, &s, spec, om, &progress)?;
            if let Some(t) = &s.three_tiers {
                cells.extend(three_tiers::measure_model(&mut phone, &link, &s, t, &m, om, &progress)?);
            }
            if speed.is_some() {
                let (r, j) = speed_sweep::measure_edge_baselines(&mut phone, &link, &s, spec, &m, &progress)?;
                raw.push(r);
                jpeg.push(j);
            }
            models.push(m);
        }
        if let Some(sp) = speed {
            points.push(SpeedPoint {
                speed: sp.clone(),
                throttle_detail: throttle_detail.clone(),
                summary: Summary::of(&models),
                models: models.clone(),
                edge_raw: raw,
                edge_jpeg: jpeg,
            });
        }
    }

    // --- trace --------------------------------------------------------------------------
    let trace = if s.trace_ms > 0.0 {
        run_trace(&mut phone, &throttle, &link, &s, &models, &progress)?
    } else {
        None
    };
    progress.finish_and_clear();
    drop(phone);
    drop(throttle);

    let three_tiers = match (&s.three_tiers, &cloud, edge.throttle) {
        (Some(t), Some(c), Some((kind, detail))) => Some(ThreeTiersResult::new(
            three_tiers_setup(t, kind, detail, c.profiles.clone(), advertised),
            cells,
        )),
        _ => None,
    };
    let throttle_name = if sleep_slowdown.is_some() { "calibrated_sleep" } else { "cgroup" };
    let results = Results {
        schema: SCHEMA.into(),
        setup: Setup {
            throttle_kind: throttle_kind.into(),
            ..setup_of(&s, &clock, throttle_name, throttle_detail, edge.profiles)
        },
        skipped_models: s.skipped.clone(),
        summary: Summary::of(&models),
        subset_coverage: s
            .all_cuts
            .then(|| crate::subset::coverage(&models, s.min_bytes_drop, s.max_oracle_cuts)),
        models,
        trace,
        three_tiers,
        speed_sweep: (!points.is_empty()).then(|| SpeedSweep::new(points)),
    };
    write_outputs(&s.out, &results)?;
    drop(edge.edge);
    drop(cloud);
    Ok(results)
}

/// Moves the phone to `slowdown`: a new quota for its cgroup, or, in calibrated-slowdown
/// mode, a new factor for it to sleep by. Returns the throttle in words.
fn set_phone_speed(
    throttle: &mut Throttle,
    phone: &mut PhoneProcess,
    slowdown: f64,
) -> Result<String, BenchError> {
    match throttle {
        Throttle::Cgroup(c) => {
            c.set_slowdown(slowdown)?;
            Ok(format!(
                "{}; the edge in a group with cpu.shares={} and no quota",
                c.describe(),
                crate::throttle::PRIORITY_SHARES
            ))
        }
        Throttle::Sleep => match phone.call(&Command::SetSlowdown { slowdown })? {
            Response::SlowdownSet => Ok(format!("calibrated-slowdown mode at {slowdown}x")),
            r => Err(unexpected(&r)),
        },
    }
}

/// The three-tier setup as written in the results.
fn three_tiers_setup(
    t: &ThreeTierSettings,
    edge_throttle: String,
    edge_throttle_detail: String,
    cloud_profiles: Vec<ProfileState>,
    advertised: Vec<CloudAdvert>,
) -> ThreeTiersSetup {
    ThreeTiersSetup {
        edge_slowdown: t.edge_slowdown,
        edge_throttle,
        edge_throttle_detail,
        cloud_link_mbps: t.cloud_mbps,
        cloud_link_rtt_ms: t.cloud_rtt_ms,
        cloud_profiles,
        advertised,
        method: "Latencies are measured end to end through the phone's session (medians of the reported runs); \
                 after the sweep, per model and network, the best two-tier plan (the sweep's oracle cut: local-only \
                 or the best phone/edge split), the forced three-tier splits and the planner's three-tier choice run \
                 alternately, one run each per round after a warm-up round; a split wins when its median is below \
                 the best two-tier plan's median of the same rounds. Energy is modeled from the measured times."
            .into(),
    }
}

/// The progress bar on stderr.
fn progress_bar() -> ProgressBar {
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}

/// How the phone will be slowed down, and that said in words for the results.
fn phone_throttle(s: &Settings) -> Result<(Throttle, String), BenchError> {
    let choice = s.throttle;
    if choice == ThrottleChoice::Sleep {
        return Ok((Throttle::Sleep, "calibrated-slowdown mode (--throttle sleep)".to_string()));
    }
    match CpuThrottle::create(&format!("tandem-bench-{}-phone", std::process::id()), Some(s.slowdown)) {
        Ok(c) => {
            let edge = if s.three_tiers.is_some() {
                "the edge: see three_tiers.setup; the cloud in a group with cpu.shares={} and no quota"
            } else {
                "the edge in a group with cpu.shares={} and no quota"
            };
            let detail = format!(
                "{}; {}",
                c.describe(),
                edge.replace("{}", &crate::throttle::PRIORITY_SHARES.to_string()),
            );
            Ok((Throttle::Cgroup(c), detail))
        }
        Err(e) if choice == ThrottleChoice::Auto => {
            Ok((Throttle::Sleep, format!("calibrated-slowdown mode: no writable cgroup ({e})")))
        }
        Err(e) => Err(e),
    }
}

/// The edge process, its CPU group, what its profiler reached, and the link to it.
struct EdgeSide {
    edge: EdgeProcess,
    _group: Option<CpuThrottle>,
    profiles: Vec<ProfileState>,
    link: Link,
    /// Three tiers: `cgroup` or `none`, and the edge's throttle in words.
    throttle: Option<(String, String)>,
}

/// The edge process (in its own CPU group when the phone is in one; with three tiers, in a
/// group with the edge's quota, pointed at the cloud), once it has profiled its models, and
/// the link to it.
fn start_edge(
    s: &Settings,
    exe: &Path,
    throttle: &Throttle,
    cloud: Option<&CloudSide>,
    runtime: &tokio::runtime::Runtime,
    progress: &ProgressBar,
) -> Result<EdgeSide, BenchError> {
    let shaper = match s.shaper {
        ShaperChoice::Kernel => Some(Arc::new(KernelShaper::create(std::process::id())?)),
        ShaperChoice::Linkemu => None,
    };
    let listen = shaper.as_ref().map_or("127.0.0.1:0".to_string(), |k| k.edge_listen());
    progress.set_message(format!("edge: loading {} model(s) and profiling their cuts", s.models.len()));
    let edge = EdgeProcess::spawn(
        exe,
        &s.models,
        &listen,
        s.edge_profile_s,
        shaper.as_ref().map(|k| k.netns()),
        &s.out.join("edge.log"),
        &cloud.map(CloudSide::edge_args).unwrap_or_default(),
    )?;
    let (group, edge_throttle) = match (&s.three_tiers, throttle) {
        (Some(t), _) => {
            let (group, kind, detail) = three_tiers::throttle_edge(t, edge.pid());
            (group, Some((kind, detail)))
        }
        (None, Throttle::Cgroup(_)) => {
            let group = CpuThrottle::create(&format!("tandem-bench-{}-edge", std::process::id()), None)?;
            group.add(edge.pid())?;
            (Some(group), None)
        }
        (None, Throttle::Sleep) => (None, None),
    };
    let wait = Duration::from_secs_f64(s.edge_profile_s * s.models.len() as f64 + 300.0);
    let profiles = runtime.block_on(edge.wait_for_profiles(&s.models, wait))?;
    let upstream: SocketAddr = edge
        .authority()
        .parse()
        .map_err(|e| BenchError::Edge(format!("address `{}`: {e}", edge.authority())))?;
    let emu = runtime
        .block_on(async { LinkEmulator::start(upstream, LinkConfig::unlimited()).await })
        .map_err(BenchError::Link)?;
    let link = Link { emu: Arc::new(emu), shaper };
    link.unlimited()?;
    Ok(EdgeSide { edge, _group: group, profiles, link, throttle: edge_throttle })
}

/// The phone process, throttled, with a session open per model (opened at full speed).
fn open_phone(
    s: &Settings,
    exe: &Path,
    throttle: &Throttle,
    link: &Link,
    sleep_slowdown: Option<f64>,
    progress: &ProgressBar,
) -> Result<(PhoneProcess, Vec<OpenedModel>), BenchError> {
    let mut phone = PhoneProcess::spawn(exe, &s.out.join("phone.log"))?;
    let pid = phone.pid();
    if let Throttle::Cgroup(c) = throttle {
        c.add(pid)?;
    }
    progress.set_message("phone: opening sessions");
    let setup = PhoneSetup {
        edge_url: format!("http://{}", link.emu.local_addr()),
        models: s.models.clone(),
        sleep_slowdown,
        calibration_cuts: s.calibration_cuts,
        calibration_runs: 3,
        networks: s.networks.iter().map(|n| n.name.clone()).collect(),
        input_image: s.input_image.clone(),
    };
    match throttle.unthrottled(pid, || phone.call(&Command::Open(setup)))? {
        Response::Opened { models } => Ok((phone, models)),
        r => Err(unexpected(&r)),
    }
}

/// When the run started, for the results.
struct RunClock {
    started: Instant,
    started_unix_s: u64,
    /// The load average at the start.
    load_start: f64,
}

/// The run's setup as written in the results, at its end.
fn setup_of(
    s: &Settings,
    clock: &RunClock,
    throttle: &str,
    throttle_detail: String,
    edge_profiles: Vec<ProfileState>,
) -> Setup {
    let cuts_rule = if s.all_cuts { "all" } else { "subset" };
    Setup {
        quick: s.quick,
        slowdown: s.slowdown,
        throttle: throttle.into(),
        throttle_kind: String::new(), // run_bench fills it in: it knows the group
        throttle_detail,
        shaper: match s.shaper {
            ShaperChoice::Linkemu => "linkemu".into(),
            ShaperChoice::Kernel => "kernel".into(),
        },
        runs: s.runs,
        cuts: cuts_rule.into(),
        subset_rule: format!(
            "cut 0, then every cut sending at least {:.0}% fewer bytes than all earlier ones (the bytes staircase: \
             the other cuts are dominated when the phone is slower than the edge), the last cut, and every cut the \
             planner chose on any network{}",
            s.min_bytes_drop * 100.0,
            s.max_oracle_cuts.map_or(String::new(), |m| format!("; at most {m} cuts"))
        ),
        cap_rule: format!(
            "a run is capped at max({} x local-only, local-only + {} ms) ({} s for edge-only): the session gives up on \
             the edge when finishing locally would still meet the cap, so a capped cut is slower than local-only and \
             is reported by a lower bound; a cut whose link time alone exceeds the cap is not run",
            s.cap_factor,
            s.cap_floor_ms,
            s.edge_only_cap_ms / 1e3
        ),
        regret_definition: "the planner's cut's median latency / the oracle cut's (the measured cut with the \
                            lowest median in the sweep); when they differ, both are measured again alternately \
                            and regret is the ratio of those medians (below 1: the sweep's oracle won by noise); \
                            regret_sweep uses the sweep's medians (>= 1, biased up by noise)"
            .into(),
        networks: s.networks.clone(),
        edge_profiles,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average: [clock.load_start, load_average()],
        duration_s: clock.started.elapsed().as_secs_f64(),
        started_unix_s: clock.started_unix_s,
    }
}

fn write_outputs(out: &Path, results: &Results) -> Result<(), BenchError> {
    let json = serde_json::to_string_pretty(results)?;
    let path = out.join("results.json");
    std::fs::write(&path, json).map_err(|e| BenchError::io(&path, e))?;
    let path = out.join("results.md");
    std::fs::write(&path, markdown::render(results)).map_err(|e| BenchError::io(&path, e))?;
    plots::draw_all(out, results)
}

/// The model of the trace-driven run when none is given: the one whose oracle cut differs
/// across the most networks (where tracking the bandwidth matters), ties to mobilenetv2,
/// then to the first model.
fn trace_model_for(models: &[ModelResult]) -> String {
    let distinct = |m: &ModelResult| {
        let mut cuts: Vec<usize> = m.networks.iter().map(|n| n.strategies.oracle.cut).collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts.len()
    };
    models
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            distinct(a)
                .cmp(&distinct(b))
                .then((a.model == "mobilenetv2").cmp(&(b.model == "mobilenetv2")))
                .then(j.cmp(i))
        })
        .map(|(_, m)| m.model.clone())
        .unwrap_or_default()
}

/// Applies the trace's levels to the link at their times until stopped.
fn spawn_schedule(
    link: Link,
    levels: Vec<Network>,
    trace: Vec<crate::trace::TraceSegment>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<(), BenchError>> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        for seg in &trace {
            loop {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let left_ms = seg.start_ms - t0.elapsed().as_secs_f64() * 1e3;
                if left_ms <= 0.0 {
                    break;
                }
                std::thread::sleep(Duration::from_secs_f64(left_ms.min(20.0) / 1e3));
            }
            link.set(&levels[seg.level])?;
        }
        Ok(())
    })
}

/// The trace-driven run: the online session, then the oracle, over the same trace.
fn run_trace(
    phone: &mut PhoneProcess,
    throttle: &Throttle,
    link: &Link,
    s: &Settings,
    models: &[ModelResult],
    progress: &ProgressBar,
) -> Result<Option<TraceResult>, BenchError> {
    let pick = s.trace_model.clone().unwrap_or_else(|| trace_model_for(models));
    let Some(m) = models.iter().find(|m| m.model == pick) else { return Ok(None) };
    // levels: the networks, slowest first, with the static oracle's cut at each
    let mut levels: Vec<(Network, &NetworkResult)> = s
        .networks
        .iter()
        .filter_map(|n| m.networks.iter().find(|r| r.network == n.name).map(|r| (n.clone(), r)))
        .collect();
    levels.sort_by(|a, b| a.0.uplink_mbps.total_cmp(&b.0.uplink_mbps));
    if levels.len() < 2 {
        log::warn!("the trace needs at least two networks: skipped");
        return Ok(None);
    }
    let local_ms = levels[0].1.strategies.local_only.latency_ms.unwrap_or(0.0);
    let deadline_ms = s.deadline_ms.unwrap_or((1.25 * local_ms).max(1.0));
    let oracle_cut_per_level: Vec<usize> = levels.iter().map(|(_, r)| r.strategies.oracle.cut).collect();
    let oracle_latency_per_level_ms = levels.iter().map(|(_, r)| r.strategies.oracle.latency_ms).collect();
    let nets: Vec<Network> = levels.iter().map(|(n, _)| n.clone()).collect();
    let trace = markov_trace(nets.len(), s.trace_ms, s.segment_ms, s.seed);
    // The phone says it is on LTE throughout: only its estimator can see the changes.
    let reported = Network { name: "trace".into(), ..Network::standard()[2].clone() };
    progress.inc_length(2);

    let mut runs: Vec<Vec<TraceRequest>> = vec![];
    for mode in [TraceMode::Online, TraceMode::Forced { cut_per_level: oracle_cut_per_level.clone() }] {
        let label = if mode == TraceMode::Online { "online" } else { "oracle" };
        progress.set_message(format!("{pick}: trace ({label}, {:.0} s)", s.trace_ms / 1e3));
        let first = trace.first().map_or(0, |t| t.level);
        link.set(&nets[first])?;
        let open = Command::TraceOpen {
            model: pick.clone(),
            network: reported.clone(),
            deadline_ms,
            oracle: mode != TraceMode::Online,
        };
        match throttle.unthrottled(phone.pid(), || phone.call(&open))? {
            Response::TraceReady => {}
            r => return Err(unexpected(&r)),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let schedule = spawn_schedule(link.clone(), nets.clone(), trace.clone(), stop.clone());
        let answer = phone.call(&Command::Trace(TraceRun {
            mode,
            trace: trace.clone(),
            duration_ms: s.trace_ms,
            period_ms: s.period_ms,
            deadline_ms: Some(deadline_ms),
        }));
        stop.store(true, Ordering::SeqCst);
        let applied =
            schedule.join().map_err(|_| BenchError::Shaper("the trace schedule panicked".into()))?;
        applied?;
        match answer? {
            Response::Traced { requests } => runs.push(requests),
            r => return Err(unexpected(&r)),
        }
        progress.inc(1);
    }
    link.unlimited()?;
    let oracle_requests = runs.pop().unwrap_or_default();
    let online_requests = runs.pop().unwrap_or_default();
    let oracle_cut = |level: usize| oracle_cut_per_level.get(level).copied();
    let uplink = |level: usize| nets.get(level).map_or(0.0, |n| n.uplink_mbps);
    let online = summarize(&online_requests, oracle_cut, uplink);
    let oracle = summarize(&oracle_requests, oracle_cut, uplink);
    let mean_latency_ratio =
        (oracle.mean_latency_ms > 0.0).then(|| online.mean_latency_ms / oracle.mean_latency_ms);
    let segments = crate::trace::offload_segments(&trace, &oracle_requests, &online_requests);
    let offload_segments = crate::trace::OffloadSegments::new(&trace, &oracle_requests, &online_requests);
    let visits = crate::trace::visits(&trace, nets.len());
    Ok(Some(TraceResult {
        model: pick,
        reported_network: reported.kind.clone(),
        levels: nets.iter().map(|n| n.name.clone()).collect(),
        trace,
        segment_ms: s.segment_ms,
        duration_ms: s.trace_ms,
        period_ms: s.period_ms,
        deadline_ms,
        seed: s.seed,
        oracle_cut_per_level,
        oracle_latency_per_level_ms,
        online,
        oracle,
        mean_latency_ratio,
        visits,
        oracle_offload_segments: segments.0,
        online_offloaded_in_oracle_offload_segments: segments.1,
        offload_segments,
        online_requests,
        oracle_requests,
    }))
}
