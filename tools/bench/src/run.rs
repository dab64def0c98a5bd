//! The orchestrator: starts the edge, the link emulator and the phone, runs the static
//! sweep and the trace, and writes the outputs.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use tandem_linkemu::{LinkConfig, LinkEmulator};

use crate::edge::EdgeProcess;
use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::{
    Command, MeasureRequest, ModelSpec, OpenedModel, PhoneSetup, Response, RunRecord, TraceMode,
    TraceRequest, TraceRun,
};
use crate::results::{
    Calibration, CutResult, ModelResult, NetworkResult, Results, Setup, Skipped, Summary, TraceResult, SCHEMA,
};
use crate::shaper::KernelShaper;
use crate::subset::oracle_subset;
use crate::throttle::CpuThrottle;
use crate::trace::{markov_trace, summarize};
use crate::{markdown, plots, BenchArgs, CutsChoice, ShaperChoice, ThrottleChoice};

/// The standard models of the full run, in order.
const FULL_MODELS: [&str; 5] = ["face_embedder", "mobilenetv2", "resnet18", "alexnet", "vgg16"];
/// The committed models: the quick run.
const QUICK_MODELS: [&str; 2] = ["face_embedder", "mobilenetv2"];

/// The options with the quick/full defaults filled in.
#[derive(Clone, Debug)]
struct Settings {
    quick: bool,
    out: PathBuf,
    models: Vec<ModelSpec>,
    skipped: Vec<Skipped>,
    networks: Vec<Network>,
    slowdown: f64,
    throttle: ThrottleChoice,
    shaper: ShaperChoice,
    runs: usize,
    all_cuts: bool,
    max_oracle_cuts: Option<usize>,
    min_bytes_drop: f64,
    cap_factor: f64,
    cap_floor_ms: f64,
    edge_only_cap_ms: f64,
    edge_profile_s: f64,
    calibration_cuts: usize,
    trace_ms: f64,
    segment_ms: f64,
    period_ms: f64,
    deadline_ms: Option<f64>,
    trace_model: Option<String>,
    seed: u64,
    settle_requests: usize,
}

fn positive(name: &str, v: f64) -> Result<f64, BenchError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(BenchError::Args(format!("{name} must be a positive number, not {v}")))
    }
}

impl Settings {
    fn resolve(a: &BenchArgs) -> Result<Settings, BenchError> {
        let q = a.quick;
        let names: Vec<String> = if a.models.is_empty() {
            (if q { &QUICK_MODELS[..] } else { &FULL_MODELS[..] }).iter().map(|s| s.to_string()).collect()
        } else {
            a.models.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        let mut models: Vec<ModelSpec> = vec![];
        let mut skipped = vec![];
        for name in names {
            let as_path = PathBuf::from(&name);
            let found = if name.ends_with(".onnx") || name.contains('/') {
                as_path.is_file().then_some(as_path.clone())
            } else {
                a.models_dirs.iter().map(|d| d.join(format!("{name}.onnx"))).find(|p| p.is_file())
            };
            let stem = as_path.file_stem().and_then(|s| s.to_str()).unwrap_or(&name).to_string();
            match found {
                Some(path) if !models.iter().any(|m| m.name == stem) => {
                    models.push(ModelSpec { name: stem, path })
                }
                Some(_) => {}
                None => skipped.push(Skipped {
                    model: stem,
                    reason: format!(
                        "no file: looked for {} (make it with models/scripts/export_torchvision.py)",
                        if name.ends_with(".onnx") || name.contains('/') {
                            name.clone()
                        } else {
                            a.models_dirs
                                .iter()
                                .map(|d| d.join(format!("{name}.onnx")).display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                }),
            }
        }
        if models.is_empty() {
            return Err(BenchError::Args(format!(
                "none of the models was found: {}",
                skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>().join("; ")
            )));
        }
        if let Some(t) = &a.trace_model {
            if !models.iter().any(|m| &m.name == t) {
                return Err(BenchError::Args(format!("--trace-model {t} is not among the models run")));
            }
        }
        let runs = a.runs;
        if runs == 0 {
            return Err(BenchError::Args("--runs must be at least 1".into()));
        }
        let trace_s = a.trace_s.unwrap_or(if q { 20.0 } else { 120.0 });
        if !(trace_s.is_finite() && trace_s >= 0.0) {
            return Err(BenchError::Args(format!("--trace-s {trace_s}")));
        }
        crate::throttle::cfs_for(a.slowdown)?;
        Ok(Settings {
            quick: q,
            out: a.out.clone(),
            models,
            skipped,
            networks: Network::parse_list(&a.networks)?,
            slowdown: a.slowdown,
            throttle: a.throttle,
            shaper: a.shaper,
            runs,
            all_cuts: a.cuts.unwrap_or(if q { CutsChoice::Subset } else { CutsChoice::All })
                == CutsChoice::All,
            max_oracle_cuts: a.max_oracle_cuts,
            min_bytes_drop: a.min_bytes_drop.clamp(0.0, 0.99),
            cap_factor: positive("--cap-factor", a.cap_factor)?,
            cap_floor_ms: a.cap_floor_ms.max(0.0),
            edge_only_cap_ms: positive(
                "--edge-only-cap-s",
                a.edge_only_cap_s.unwrap_or(if q { 5.0 } else { 60.0 }),
            )? * 1e3,
            edge_profile_s: a.edge_profile_s.unwrap_or(if q { 10.0 } else { 60.0 }).max(0.0),
            calibration_cuts: a.calibration_cuts.unwrap_or(if q { 16 } else { 24 }).max(2),
            trace_ms: trace_s * 1e3,
            segment_ms: positive("--segment-s", a.segment_s.unwrap_or(if q { 2.5 } else { 4.0 }))? * 1e3,
            period_ms: positive("--period-ms", a.period_ms)?,
            deadline_ms: a.deadline_ms.map(|d| positive("--deadline-ms", d)).transpose()?,
            trace_model: a.trace_model.clone(),
            seed: a.seed,
            settle_requests: a.settle_requests,
        })
    }
}

/// The phone child process, driven over stdin/stdout.
struct PhoneProcess {
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

    fn call(&mut self, cmd: &Command) -> Result<Response, BenchError> {
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

    fn measure(&mut self, req: MeasureRequest) -> Result<Vec<RunRecord>, BenchError> {
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

fn unexpected(r: &Response) -> BenchError {
    BenchError::Phone(format!("unexpected answer: {r:?}"))
}

/// The link between phone and edge: the emulator, and the kernel shaper if used.
#[derive(Clone)]
struct Link {
    emu: Arc<LinkEmulator>,
    shaper: Option<Arc<KernelShaper>>,
}

impl Link {
    fn set(&self, n: &Network) -> Result<(), BenchError> {
        match &self.shaper {
            Some(s) => {
                s.set_rates(n.uplink_mbps, n.downlink_mbps)?;
                self.emu.set_config(LinkConfig::mbps(0.0, 0.0, n.rtt_ms));
            }
            None => self.emu.set_config(LinkConfig::mbps(n.uplink_mbps, n.downlink_mbps, n.rtt_ms)),
        }
        Ok(())
    }

    fn unlimited(&self) -> Result<(), BenchError> {
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
    let started = Instant::now();
    let started_unix_s = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let load_start = load_average();
    let s = Settings::resolve(args)?;
    std::fs::create_dir_all(&s.out).map_err(|e| BenchError::io(&s.out, e))?;
    let exe = std::env::current_exe().map_err(|e| BenchError::io("<current executable>", e))?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
            BenchError::Process { role: "benchmark", reason: format!("starting a runtime: {e}") }
        })?;
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));

    // --- CPU groups -------------------------------------------------------------------
    let (throttle, throttle_detail) = match s.throttle {
        ThrottleChoice::Sleep => (Throttle::Sleep, "calibrated-slowdown mode (--throttle sleep)".to_string()),
        choice => {
            match CpuThrottle::create(&format!("tandem-bench-{}-phone", std::process::id()), Some(s.slowdown))
            {
                Ok(c) => {
                    let detail = format!(
                    "cgroup v1 {}: cpu.cfs_quota_us={} per cpu.cfs_period_us={}, cpu.shares={}; the edge in a group with \
                     cpu.shares={} and no quota",
                    c.dir().display(),
                    c.quota_us().unwrap_or(0),
                    c.period_us().unwrap_or(0),
                    crate::throttle::PRIORITY_SHARES,
                    crate::throttle::PRIORITY_SHARES,
                );
                    (Throttle::Cgroup(c), detail)
                }
                Err(e) if choice == ThrottleChoice::Auto => {
                    (Throttle::Sleep, format!("calibrated-slowdown mode: no writable cgroup ({e})"))
                }
                Err(e) => return Err(e),
            }
        }
    };
    // --- edge -------------------------------------------------------------------------
    let shaper = match s.shaper {
        ShaperChoice::Kernel => Some(Arc::new(KernelShaper::create(std::process::id())?)),
        ShaperChoice::Linkemu => None,
    };
    let listen = shaper.as_ref().map_or("127.0.0.1:0".to_string(), |k| k.edge_listen());
    progress.set_message(format!("edge: loading {} model(s) and profiling their cuts", s.models.len()));
    let edge = EdgeProcess::spawn(
        &exe,
        &s.models,
        &listen,
        s.edge_profile_s,
        shaper.as_ref().map(|k| k.netns()),
        &s.out.join("edge.log"),
    )?;
    let _edge_group = match &throttle {
        Throttle::Cgroup(_) => {
            let group = CpuThrottle::create(&format!("tandem-bench-{}-edge", std::process::id()), None)?;
            group.add(edge.pid())?;
            Some(group)
        }
        Throttle::Sleep => None,
    };
    let wait = Duration::from_secs_f64(s.edge_profile_s * s.models.len() as f64 + 300.0);
    let edge_profiles = runtime.block_on(edge.wait_for_profiles(&s.models, wait))?;
    let upstream: SocketAddr = edge
        .authority()
        .parse()
        .map_err(|e| BenchError::Edge(format!("address `{}`: {e}", edge.authority())))?;
    let emu = runtime
        .block_on(async { LinkEmulator::start(upstream, LinkConfig::unlimited()).await })
        .map_err(BenchError::Link)?;
    let link = Link { emu: Arc::new(emu), shaper: shaper.clone() };
    link.unlimited()?;

    // --- phone ------------------------------------------------------------------------
    let sleep_slowdown = matches!(throttle, Throttle::Sleep).then_some(s.slowdown);
    let mut phone = PhoneProcess::spawn(&exe, &s.out.join("phone.log"))?;
    let pid = phone.pid();
    if let Throttle::Cgroup(c) = &throttle {
        c.add(pid)?;
    }
    progress.set_message("phone: opening sessions");
    let setup = PhoneSetup {
        edge_url: format!("http://{}", link.emu.local_addr()),
        models: s.models.clone(),
        sleep_slowdown,
        calibration_cuts: s.calibration_cuts,
        calibration_runs: 3,
    };
    let opened = match throttle.unthrottled(pid, || phone.call(&Command::Open(setup)))? {
        Response::Opened { models } => models,
        r => return Err(unexpected(&r)),
    };

    // --- static sweep -----------------------------------------------------------------
    let mut models = vec![];
    for (spec, om) in s.models.iter().zip(&opened) {
        models.push(measure_model(&mut phone, &link, &s, spec, om, &progress)?);
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

    let cuts_rule = if s.all_cuts { "all" } else { "subset" };
    let results = Results {
        schema: SCHEMA.into(),
        setup: Setup {
            quick: s.quick,
            slowdown: s.slowdown,
            throttle: if sleep_slowdown.is_some() { "calibrated_sleep".into() } else { "cgroup".into() },
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
            load_average: [load_start, load_average()],
            duration_s: started.elapsed().as_secs_f64(),
            started_unix_s,
        },
        skipped_models: s.skipped.clone(),
        summary: Summary::of(&models),
        models,
        trace,
    };
    write_outputs(&s.out, &results)?;
    drop(edge);
    Ok(results)
}

fn write_outputs(out: &Path, results: &Results) -> Result<(), BenchError> {
    let json = serde_json::to_string_pretty(results)?;
    let path = out.join("results.json");
    std::fs::write(&path, json).map_err(|e| BenchError::io(&path, e))?;
    let path = out.join("results.md");
    std::fs::write(&path, markdown::render(results)).map_err(|e| BenchError::io(&path, e))?;
    plots::draw_all(out, results)
}

/// Calibrates, plans and sweeps one model on every network.
fn measure_model(
    phone: &mut PhoneProcess,
    link: &Link,
    s: &Settings,
    spec: &ModelSpec,
    om: &OpenedModel,
    progress: &ProgressBar,
) -> Result<ModelResult, BenchError> {
    let name = &spec.name;
    progress.set_message(format!("{name}: calibrating the phone"));
    let calibration = match phone.call(&Command::Calibrate { model: name.clone() })? {
        Response::Calibrated { timed_cuts, elapsed_ms, .. } => Calibration { timed_cuts, elapsed_ms },
        r => return Err(unexpected(&r)),
    };
    // Settle: a few offloads over the unshaped link before planning, as a session in use
    // would have made. The edge's recent queue wait then reflects serving, not its startup
    // profiling, and the session's observed edge-compute ratio corrects a profile measured
    // under different load (see `docs/PERFORMANCE.md`).
    let fastest_net = s.networks.iter().max_by(|a, b| a.uplink_mbps.total_cmp(&b.uplink_mbps)).cloned();
    if let (Some(net), true) = (fastest_net, s.settle_requests > 0) {
        progress.set_message(format!("{name}: settling the session ({} offloads)", s.settle_requests));
        link.unlimited()?;
        phone.measure(MeasureRequest {
            model: name.clone(),
            network: net,
            cut: 0,
            warmup: s.settle_requests,
            runs: 0,
            deadline_ms: None,
        })?;
    }
    let mut plans = vec![];
    let mut device_before_ms = vec![];
    let mut edge_after_ms = vec![];
    for n in &s.networks {
        match phone.call(&Command::Plan { model: name.clone(), network: n.clone() })? {
            Response::Planned {
                plans: p,
                table,
                edge_after_ms: e,
                device_before_ms: d,
                edge_profile_fetched,
            } => {
                if !edge_profile_fetched {
                    log::warn!("{name}: the session has no edge profile; it plans with an estimate");
                }
                plans.push((p, table));
                device_before_ms = d;
                edge_after_ms = e;
            }
            r => return Err(unexpected(&r)),
        }
    }
    let bytes: Vec<u64> = om.cuts.iter().map(|c| c.bytes).collect();
    let last = bytes.len().saturating_sub(1);
    let chosen: Vec<usize> = plans.iter().flat_map(|(p, _)| p.iter().map(|c| c.cut)).collect();
    let cuts = if s.all_cuts {
        (0..=last).collect()
    } else {
        oracle_subset(&bytes, &chosen, s.min_bytes_drop, s.max_oracle_cuts)
    };
    progress.inc_length((cuts.len() * s.networks.len()) as u64);

    // fastest network first: it warms the parts up on both sides
    let mut order: Vec<usize> = (0..s.networks.len()).collect();
    order.sort_by(|a, b| s.networks[*b].uplink_mbps.total_cmp(&s.networks[*a].uplink_mbps));
    let mut per_net: Vec<Vec<CutResult>> = vec![vec![]; s.networks.len()];

    // local-only uses no radio: measured once, the same on every network
    let fastest = &s.networks[order[0]];
    link.set(fastest)?;
    progress.set_message(format!("{name}: local-only"));
    let local = phone.measure(MeasureRequest {
        model: name.clone(),
        network: fastest.clone(),
        cut: last,
        warmup: 1,
        runs: s.runs,
        deadline_ms: None,
    })?;
    let local_cut = CutResult::from_runs(last, bytes[last], &local, last, 0.0);
    let local_ms = local_cut
        .latency_ms
        .ok_or_else(|| BenchError::Phone(format!("{name}: the local-only run gave no latency")))?;
    for v in &mut per_net {
        v.push(local_cut.clone());
    }
    progress.inc(s.networks.len() as u64);
    let normal_cap = (s.cap_factor * local_ms).max(local_ms + s.cap_floor_ms);

    for &c in cuts.iter().filter(|c| **c != last) {
        let mut warmed = false;
        for &ni in &order {
            let net = &s.networks[ni];
            let floor = net.transfer_floor_ms(bytes[c]);
            let cap = if c == 0 { normal_cap.max(s.edge_only_cap_ms) } else { normal_cap };
            progress.set_message(format!("{name}: cut {c}/{last} on {}", net.name));
            if floor > cap {
                per_net[ni].push(CutResult::not_measured(c, bytes[c], floor));
                progress.inc(1);
                continue;
            }
            let long = floor > normal_cap;
            let warmup = usize::from(!warmed && !long);
            warmed = true;
            link.set(net)?;
            let runs = phone.measure(MeasureRequest {
                model: name.clone(),
                network: net.clone(),
                cut: c,
                warmup,
                runs: if long { 1 } else { s.runs },
                deadline_ms: Some(cap),
            })?;
            per_net[ni].push(CutResult::from_runs(c, bytes[c], &runs, last, floor));
            progress.inc(1);
        }
    }
    link.unlimited()?;

    let mut networks: Vec<NetworkResult> = s
        .networks
        .iter()
        .zip(per_net)
        .zip(plans)
        .map(|((net, mut cuts), (plans, table))| {
            cuts.sort_by_key(|c| c.cut);
            for c in &mut cuts {
                if let Some(p) = table.iter().find(|p| p.cut == c.cut) {
                    c.predicted_latency_ms = Some(p.latency_ms).filter(|x| x.is_finite());
                    c.predicted_energy_mj = Some(p.energy_mj).filter(|x| x.is_finite());
                }
            }
            NetworkResult::derive(&net.name, cuts, plans)
        })
        .collect();

    // Confirmation: where the planner's cut is not the sweep's oracle, measure both again,
    // alternately, so that the load of the moment hits both alike (see `results`).
    for (net, result) in s.networks.iter().zip(&mut networks) {
        let Some((chosen, oracle)) = result.needs_confirmation() else { continue };
        progress.inc_length(1);
        progress.set_message(format!("{name}: confirming cut {chosen} against cut {oracle} on {}", net.name));
        link.set(net)?;
        let mut runs: [Vec<f64>; 2] = [vec![], vec![]];
        for round in 0..=s.runs {
            for (k, cut) in [chosen, oracle].into_iter().enumerate() {
                let cap = if cut == 0 { normal_cap.max(s.edge_only_cap_ms) } else { normal_cap };
                let warm = round == 0;
                let got = phone.measure(MeasureRequest {
                    model: name.clone(),
                    network: net.clone(),
                    cut,
                    warmup: usize::from(warm),
                    runs: usize::from(!warm),
                    deadline_ms: (cut != last).then_some(cap),
                })?;
                runs[k].extend(got.iter().map(|r| r.total_ms));
            }
        }
        let [chosen_runs, oracle_runs] = runs;
        result.confirm(chosen_runs, oracle_runs);
        progress.inc(1);
    }
    link.unlimited()?;

    Ok(ModelResult {
        model: name.clone(),
        path: spec.path.display().to_string(),
        hash: om.hash.clone(),
        cuts: bytes.len(),
        measured_cuts: cuts,
        calibration,
        device_before_ms,
        edge_after_ms,
        networks,
    })
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
        let open = Command::TraceOpen { model: pick.clone(), network: reported.clone(), deadline_ms };
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
        online_requests,
        oracle_requests,
    }))
}
