//! The run: the edge behind the link emulator, the phone's detection, the session, then
//! enrollment and verification over every network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tandem_edge::{EdgeServer, EngineChoice, RunningEdge};
use tandem_faceid::{Descriptor, Enrollment, FaceCrop, FaceError, FacePipeline, Match};
use tandem_linkemu::LinkEmulator;
use tandem_sdk::devprofile::CalibrationOptions;
use tandem_sdk::planner::{balanced_weights, ProfileStatus};
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    DeviceProfile, EdgeEndpoint, EdgeStatus, EnergyModel, Executor, InferOptions, LoadOptions, Model,
    NamedTensor, Objective, Plan, Policy, Report, Session, SessionConfig, SessionError, ThermalState,
};

use super::report::{
    kb, mark, plan_kind, plan_label, score, short, BadInput, Curve, CutPoint, Decision, DemoReport, Emulated,
    KindCounts, Measured, PhoneSpeed, Sample, ScenarioResult,
};
use super::scenario::{
    after, cuts_to_measure, privacy_floor, probes, scenarios, Expect, Scenario, BAD, CORRUPT_PHOTO,
    CORRUPT_SOURCE, ENROLL, ENROLL_NETWORK,
};
use super::DemoArgs;

/// A progress bar on stderr (hidden when it is not a terminal or when asked).
fn progress(len: u64, hidden: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if hidden { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Prints a line above the progress bar.
fn say(pb: &ProgressBar, line: impl AsRef<str>) {
    pb.suspend(|| println!("{}", line.as_ref()));
}

/// How much work the run has, in progress-bar steps (an estimate: steps are added as they
/// come).
fn step_count(photos: usize, scenarios: usize, probes: usize) -> u64 {
    (photos + BAD.len() + 2 + ENROLL.len() + scenarios * (probes + 1)) as u64
}

/// The most a scenario's chosen plan may measure over the best measured way.
pub(super) const LIMIT_RATIO: f64 = 1.2;
/// A way measured this many times slower and costlier in energy than the chosen plan is not
/// measured again (see `compare`).
const HOPELESS: f64 = 3.0;

/// Runs the demo and returns what it found (the caller writes it out and judges it).
pub(super) async fn demo(args: &DemoArgs, models: &Path) -> Result<DemoReport> {
    let started = Instant::now();
    let embedder_path = models.join("face_embedder.onnx");
    let photos = models.join("photos");
    let corrupt_path = write_corrupt_photo(&photos, &args.out)?;
    let probes = probes(args.quick);
    let scenarios = scenarios(args.quick);

    println!("Tandem FaceID demo: a phone, an edge and the network between them, on this machine.");
    println!(
        "phone: {} (calibrated slowdown of this machine's tract); edge: this machine, its fastest engine",
        match (args.phone_slowdown, &args.device_class) {
            (Some(x), _) => format!("{x}x slower in every scenario (--phone-slowdown)"),
            (None, Some(c)) => format!("the {c} class in every scenario (--device-class)"),
            (None, None) => "each scenario's device class".to_string(),
        }
    );
    let token = demo_token();
    let (edge, link) = start_edge(&embedder_path, &token).await?;
    let edge_engine = edge.engine().clone();

    // --- the phone -------------------------------------------------------------------------
    let model =
        Arc::new(Model::load(&embedder_path, &LoadOptions::default()).context("loading the embedder")?);
    let floor = privacy_floor(&model);
    let last_cut = model.last_cut();
    let pipeline =
        FacePipeline::load(models.join("face_detector.onnx")).context("loading the face detector")?;
    let all_photos: Vec<String> =
        ENROLL.iter().chain(probes.iter().map(|(p, _)| p)).map(|s| s.to_string()).collect();
    let forced = cuts_to_measure(&model, floor, args.quick);
    // The last cut with no multiply-accumulate before it (cuts 1-2 only shift and scale the
    // pixels): offloading there is edge-only in all but name.
    let nothing_before = model.cuts().iter().take_while(|c| c.macs_before == 0).last().map_or(0, |c| c.id);
    let rounds = if args.quick { 4 } else { 5 };
    let pb = progress(step_count(all_photos.len(), scenarios.len(), probes.len()), args.no_progress);
    let crops = detect_all(&pipeline, &photos, &all_photos, &pb)?;
    let bad_inputs = refuse_bad_photos(&pipeline, &photos, &corrupt_path, &pb);

    // --- the session, enrollment, then every scenario ----------------------------------------
    pb.set_message("calibrating the phone");
    let base = calibrate(model.clone(), crops[0].1.to_tensor()).await?;
    pb.inc(1);
    let signals = Arc::new(FixedSignals::new(ENROLL_NETWORK.state()));
    let sessions =
        Sessions { embedder_path: &embedder_path, link: &link, token, floor, base, signals: signals.clone() };
    let first = slowdown_of(args, &scenarios[0])?;
    pb.set_message("waiting for the edge's profile");
    let session = sessions.build(first, objective_of(args, &scenarios[0]), true).await?;
    pb.inc(1);
    let speed = PhoneSpeed { slowdown: first, compute_mw: EnergyModel::default().compute_mw };
    let mut phone = Phone {
        session,
        signals,
        link: &link,
        crops,
        pb,
        speed,
        found: Found::default(),
        kind_floor: floor,
        floor_applies: true,
        last_cut,
    };
    say(
        &phone.pb,
        format!(
            "\n== session: {} cuts; privacy floor: cut {floor} (after {}); edge engine: {} ==",
            last_cut + 1,
            after(&model, floor),
            edge_engine.name
        ),
    );
    say(
        &phone.pb,
        "  cuts 1-2 only shift and scale the pixels, as revealing as the crop: they stay on the phone too",
    );
    let privacy_refusal = phone.refuse_raw_crop().await?;
    let (enrollment, not_enrolled_message) = phone.enroll().await?;
    let mut results = vec![];
    for sc in &scenarios {
        let slowdown = slowdown_of(args, sc)?;
        phone.session.close();
        phone.signals.set(ENROLL_NETWORK.state());
        phone.link.set_config(ENROLL_NETWORK.link());
        phone.session = sessions.build(slowdown, objective_of(args, sc), sc.privacy_floor).await?;
        phone.speed.slowdown = slowdown;
        phone.kind_floor = if sc.privacy_floor { floor } else { nothing_before };
        phone.floor_applies = sc.privacy_floor;
        let plan = phone.verify_in(sc, &probes, &enrollment).await?;
        let result = phone.compare(sc, plan.as_ref(), &forced, rounds, objective_of(args, sc)).await?;
        results.push(result);
    }
    phone.pb.finish_and_clear();
    phone.session.close();

    let found = phone.found;
    let all_correct = summarize(&found, &bad_inputs, &results, floor, &link, started)?;
    let _ = edge.shutdown().await;
    Ok(DemoReport {
        quick: args.quick,
        phone_slowdown: args.phone_slowdown,
        device_class: args.device_class.clone(),
        objective: args.objective.unwrap_or(Objective::Latency),
        edge_engine,
        plans_by_kind: results.iter().map(|r| (r.slug.clone(), r.plans)).collect(),
        limit_ratio: LIMIT_RATIO,
        plans_within_limit: results.iter().all(|r| r.within_limit),
        scenarios: results,
        privacy_floor_cut: floor,
        last_cut,
        enrolled: ENROLL.iter().map(|s| s.to_string()).collect(),
        networks: scenarios.iter().map(|s| s.label.to_string()).collect(),
        decisions: found.decisions,
        bad_inputs,
        cuts: found.cut_points,
        curves: found.curves,
        not_enrolled_message,
        privacy_refusal,
        all_correct,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The phone's slowdown in a scenario: `--phone-slowdown`, else `--device-class`'s, else
/// the scenario's class's.
fn slowdown_of(args: &DemoArgs, sc: &Scenario) -> Result<f64> {
    if let Some(x) = args.phone_slowdown {
        return Ok(x);
    }
    let class = args.device_class.as_deref().unwrap_or(sc.class);
    Ok(tandem_bench::device_class::device_class(class).map_err(anyhow::Error::msg)?.slowdown)
}

/// The scenario's objective, unless `--objective` names one for all.
fn objective_of(args: &DemoArgs, sc: &Scenario) -> Objective {
    args.objective.unwrap_or(sc.objective)
}

/// A corrupt photo, as a phone might find in its gallery: a JPEG cut after a third of its
/// bytes, written into `out`.
fn write_corrupt_photo(photos: &Path, out: &Path) -> Result<PathBuf> {
    let source =
        std::fs::read(photos.join(CORRUPT_SOURCE)).with_context(|| format!("reading {CORRUPT_SOURCE}"))?;
    let corrupt_path = out.join(CORRUPT_PHOTO);
    std::fs::write(&corrupt_path, &source[..source.len() / 3]).context("writing the corrupt photo")?;
    Ok(corrupt_path)
}

/// The embedded edge server, serving the embedder, behind the link emulator (set to the
/// enrollment network).
async fn start_edge(embedder_path: &Path, token: &str) -> Result<(RunningEdge, LinkEmulator)> {
    // The fastest engine found (ONNX Runtime when its library is), profiling every cut in
    // the background: the phone plans with the edge's measured times.
    let edge = EdgeServer::builder()
        .model_file(embedder_path)
        .token(token.to_string())
        .engine(EngineChoice::Auto)
        .profile_budget(Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .await
        .context("starting the embedded edge server")?;
    let link = LinkEmulator::start(edge.addr(), ENROLL_NETWORK.link())
        .await
        .context("starting the link emulator")?;
    println!(
        "edge: {} (models: {}; engine: {}{}), reached through the link emulator at {}",
        edge.url(),
        edge.models().join(", "),
        edge.engine().name,
        edge.engine().execution_provider.as_deref().map(|p| format!(" on {p}")).unwrap_or_default(),
        link.local_addr()
    );
    println!("  why this engine: {}", edge.engine().reason);
    Ok((edge, link))
}

/// Detects and aligns every photo once, on the phone: detection never leaves the phone and
/// does not depend on the network.
fn detect_all(
    pipeline: &FacePipeline,
    photos: &Path,
    names: &[String],
    pb: &ProgressBar,
) -> Result<Vec<(String, FaceCrop)>> {
    say(pb, "\n== phone: detect (BlazeFace) and align (dlib face chip), on the phone ==");
    let mut crops = vec![];
    for name in names {
        pb.set_message(format!("detecting {name}"));
        let t = Instant::now();
        let crop =
            pipeline.crop_file(photos.join(name)).with_context(|| format!("{name}: a bundled photo"))?;
        say(
            pb,
            format!("  {name:<26} 1 face, aligned to 150x150 in {:.0} ms", t.elapsed().as_secs_f64() * 1e3),
        );
        crops.push((name.clone(), crop));
        pb.inc(1);
    }
    Ok(crops)
}

/// Runs the detector on the bad photos: each must be refused with the expected error.
fn refuse_bad_photos(
    pipeline: &FacePipeline,
    photos: &Path,
    corrupt_path: &Path,
    pb: &ProgressBar,
) -> Vec<BadInput> {
    let mut bad_inputs = vec![];
    for (name, expected) in BAD {
        let path = if name == CORRUPT_PHOTO { corrupt_path.to_path_buf() } else { photos.join(name) };
        let (message, correct) = match &pipeline.crop_file(&path) {
            Ok(_) => ("a face was found".to_string(), false),
            Err(e) => (e.to_string(), expected.holds_for(e)),
        };
        say(pb, format!("  {name:<26} refused: {message} {}", mark(correct)));
        bad_inputs.push(BadInput { photo: name.to_string(), expected, message, correct });
        pb.inc(1);
    }
    bad_inputs
}

/// Builds the phone's sessions: through the link to the edge, with the privacy floor, the
/// calibrated profile scaled to a device class, once the edge's model is verified and its
/// profile measured.
struct Sessions<'a> {
    embedder_path: &'a Path,
    link: &'a LinkEmulator,
    token: String,
    floor: usize,
    /// Calibrated on this machine, not scaled.
    base: DeviceProfile,
    signals: Arc<FixedSignals>,
}

impl Sessions<'_> {
    async fn build(&self, slowdown: f64, objective: Objective, privacy_floor: bool) -> Result<Session> {
        let policy = Policy {
            objective,
            keep_raw_input_on_device: privacy_floor,
            min_cut: if privacy_floor { self.floor } else { 0 },
            ..Policy::balanced()
        };
        let config = SessionConfig {
            calibrate: false,
            auto_probe: false,
            // Used only until the edge's measured profile arrives.
            assumed_edge_speedup: slowdown,
            edge_refresh_ms: 1_000,
            ..SessionConfig::default()
        };
        let mut profile = self.base.clone();
        for t in &mut profile.before_ms {
            *t *= slowdown;
        }
        profile.device = format!("demo-phone ({slowdown}x slower than this machine)");
        let session = Session::builder(self.embedder_path)
            .edge(
                EdgeEndpoint::new(format!("http://{}", self.link.local_addr()))
                    .with_token(self.token.clone()),
            )
            .policy(policy)
            .signals(self.signals.clone())
            .device_profile(profile)
            .config(config)
            .runtime(tokio::runtime::Handle::current())
            .build()
            .context("building the session")?;
        // (Built on the enrollment network: the caller switches to the scenario's after.)
        let status = session.wait_for_edge(Duration::from_secs(10)).await;
        if status != EdgeStatus::Verified {
            bail!("the edge's model check failed: {status:?}");
        }
        wait_for_edge_profile(&session).await;
        Ok(session)
    }
}

/// Waits (up to 90 s) until the session holds the edge's fully measured profile.
async fn wait_for_edge_profile(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let status = session.edge_profile().and_then(|p| p.status);
        if status == Some(ProfileStatus::Done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    log::warn!("the edge's profile is not complete after 90 s: planning with what it has");
}

/// What the verifications found.
#[derive(Default)]
struct Found {
    /// Every report under the privacy floor's policy, for its check.
    reports: Vec<Report>,
    /// Reports of the scenario whose policy has no privacy floor.
    reports_without_floor: usize,
    decisions: Vec<Decision>,
    cut_points: Vec<CutPoint>,
    curves: Vec<Curve>,
}

/// The phone once its session is up: the session, the network it is on, its face crops.
struct Phone<'a> {
    session: Session,
    signals: Arc<FixedSignals>,
    link: &'a LinkEmulator,
    /// Every photo's aligned face, enrollment photos first.
    crops: Vec<(String, FaceCrop)>,
    pb: ProgressBar,
    speed: PhoneSpeed,
    found: Found,
    /// The lowest cut the scenario's policy allows (what an `edge` plan offloads at).
    kind_floor: usize,
    /// The scenario's policy has the privacy floor.
    floor_applies: bool,
    last_cut: usize,
}

impl Phone<'_> {
    /// Keeps a report for the privacy-floor check (counted only without a floor).
    fn keep(&mut self, report: Report) {
        if self.floor_applies {
            self.found.reports.push(report);
        } else {
            self.found.reports_without_floor += 1;
        }
    }

    /// The face every warm-up and forced cut runs on.
    fn sample(&self) -> &FaceCrop {
        &self.crops[0].1
    }

    fn crop(&self, name: &str) -> &FaceCrop {
        &self.crops.iter().find(|(n, _)| n == name).expect("every photo was cropped").1
    }

    /// Forcing cut 0 (the raw crop to the edge) must be refused: returns the refusal.
    async fn refuse_raw_crop(&mut self) -> Result<String> {
        let options = InferOptions { cut: Some(0), ..Default::default() };
        let refusal = match self.session.infer_with(vec![self.sample().to_tensor()], options).await {
            Err(e @ SessionError::InvalidOptions { .. }) => e.to_string(),
            Err(e) => bail!("forcing cut 0 failed in an unexpected way: {e}"),
            Ok(r) => bail!("the session sent the raw face crop (cut {})", r.report.plan.cut),
        };
        say(&self.pb, format!("  forcing cut 0 (the raw crop) is refused: {refusal}"));
        self.pb.inc(1);
        Ok(refusal)
    }

    /// Enrolls the enrollment photos (after checking that verifying before is refused):
    /// returns the enrollment and the refusal's message.
    async fn enroll(&mut self) -> Result<(Enrollment, String)> {
        let mut enrollment = Enrollment::new();
        let probe = descriptor(&self.session, &self.crops[2].1, None).await?.0;
        let not_enrolled_message = match enrollment.verify(&probe) {
            Err(e @ FaceError::NotEnrolled) => e.to_string(),
            other => bail!("verifying before enrolling should fail with NotEnrolled, got {other:?}"),
        };
        say(
            &self.pb,
            format!(
                "\n== enroll (over {}) ==\n  before enrolling: {not_enrolled_message}",
                ENROLL_NETWORK.label
            ),
        );
        let enroll: Vec<(String, FaceCrop)> =
            self.crops.iter().filter(|(n, _)| ENROLL.contains(&n.as_str())).cloned().collect();
        for (name, crop) in &enroll {
            self.pb.set_message(format!("enrolling {name}"));
            let (d, report) = descriptor(&self.session, crop, None).await?;
            enrollment.add(&d)?;
            say(&self.pb, format!("  enrolled {name:<17} {}", short(&report.plan.reason)));
            self.keep(report);
            self.pb.inc(1);
        }
        Ok((enrollment, not_enrolled_message))
    }

    /// Switches to the scenario's network and state, then verifies every probe photo with
    /// the plan the planner picks; returns the first plan (its curve is kept for the chart).
    async fn verify_in(
        &mut self,
        sc: &Scenario,
        probes: &[(&str, Expect)],
        enrollment: &Enrollment,
    ) -> Result<Option<Plan>> {
        let net = sc.network;
        self.signals.set(sc.state());
        self.link.set_config(net.link());
        say(
            &self.pb,
            format!(
                "\n== {}: {} phone ({}x), {} ({}), battery {:.0}%{}, thermal {:?}, objective {:?} ==",
                sc.label,
                sc.class,
                self.speed.slowdown,
                net.label,
                net.describe(),
                sc.battery * 100.0,
                if sc.low_power { " low power" } else { "" },
                sc.thermal,
                self.session.policy().objective,
            ),
        );
        say(&self.pb, format!("  expected: {}", sc.expect));
        say(
            &self.pb,
            format!(
                "  {:<24} {:<30} {:>9} {:>8} {:>9}  decision",
                "photo", "plan", "latency", "up", "energy*"
            ),
        );
        say(&self.pb, "  (* the phone's energy is modeled from the measured times, not measured)");
        // One unreported request first: it builds the parts this scenario's plan needs on
        // the phone and the edge, as an app's first frame would.
        self.pb.set_message(format!("{}: warming up", sc.label));
        let warmup = descriptor(&self.session, self.sample(), None).await?.1;
        self.keep(warmup);
        self.pb.inc(1);
        let mut first_plan = None;
        for &(name, expected) in probes {
            self.pb.set_message(format!("{}: verifying {name}", sc.label));
            let (d, report) = descriptor(&self.session, self.crop(name), None).await?;
            let m = enrollment.verify(&d)?;
            first_plan.get_or_insert_with(|| report.plan.clone());
            self.record(sc, name, expected == Expect::Match, &m, report);
            self.pb.inc(1);
        }
        if let Some(plan) = &first_plan {
            say(&self.pb, format!("  why: {}", plan.reason));
            self.found.curves.push(curve(sc, plan));
        }
        Ok(first_plan)
    }

    /// Prints and keeps one verification.
    fn record(&mut self, sc: &Scenario, photo: &str, expected_match: bool, m: &Match, report: Report) {
        let e = self.speed.emulate(&report);
        let correct = m.is_match == expected_match;
        let kind = plan_kind(report.offloaded, report.plan.cut, self.kind_floor, self.last_cut);
        say(
            &self.pb,
            format!(
                "  {photo:<24} {:<30} {:>6.0} ms {:>8} {:>6.0} mJ  {} (distance {:.3}) {} [{kind}]",
                plan_label(&report),
                e.total_ms,
                kb(report.bytes_up),
                e.energy_mj,
                if m.is_match { "MATCH   " } else { "NO MATCH" },
                m.distance,
                mark(correct)
            ),
        );
        self.found.decisions.push(Decision {
            scenario: sc.slug.into(),
            network: sc.network.label.into(),
            photo: photo.to_string(),
            expected_match,
            is_match: m.is_match,
            distance: m.distance,
            correct,
            cut: report.plan.cut,
            after_node: report.after_node.clone(),
            reason: report.plan.reason.clone(),
            offloaded: report.offloaded,
            kind,
            encoding: report.plan.encoding.wire_name().to_string(),
            fallback: report.fallback_reason.map(|r| r.to_string()),
            predicted_ms: report.plan.predicted.total_ms,
            measured_ms: e.total_ms,
            phone_ms: e.phone_ms,
            upload_ms: report.upload_rtt_ms,
            edge_ms: report.edge_ms(),
            download_ms: report.download_ms,
            bytes_up: report.bytes_up,
            bytes_down: report.bytes_down,
            energy_mj: e.energy_mj,
        });
        self.found.cut_points.push(CutPoint::of(sc.label, &report, false, e.total_ms));
        self.keep(report);
    }

    /// Measures the chosen plan (forced: its cut and encoding) and the alternatives — all on
    /// the phone, and forced cuts — in interleaved rounds after a warm-up round, and scores
    /// each by the scenario's objective on its fastest run.
    async fn compare(
        &mut self,
        sc: &Scenario,
        plan: Option<&Plan>,
        forced: &[usize],
        rounds: usize,
        objective: Objective,
    ) -> Result<ScenarioResult> {
        let online = sc.network.kind().is_online();
        let local = InferOptions { cut: Some(self.last_cut), ..Default::default() };
        let chosen = match plan {
            Some(p) if p.offloads() => {
                InferOptions { cut: Some(p.cut), encoding: Some(p.encoding), ..Default::default() }
            }
            _ => local.clone(),
        };
        // The chosen plan, then every other way: the same request measured twice would only
        // compare the machine's noise with itself.
        let same = |a: &InferOptions, b: &InferOptions| {
            a.cut == b.cut && a.encoding.unwrap_or_default() == b.encoding.unwrap_or_default()
        };
        let mut ways: Vec<(String, InferOptions)> = vec![("chosen".into(), chosen)];
        let mut others = vec![("local".to_string(), local)];
        if online {
            let floor = if self.kind_floor > 0 { self.kind_floor } else { 0 };
            let mut cuts: Vec<usize> = std::iter::once(floor).chain(forced.iter().copied()).collect();
            cuts.sort_unstable();
            cuts.dedup();
            for cut in cuts.into_iter().filter(|&c| c != self.last_cut) {
                others.push((format!("cut {cut}"), InferOptions { cut: Some(cut), ..Default::default() }));
            }
        }
        for (label, options) in others {
            if !ways.iter().any(|(_, o)| same(o, &options)) {
                ways.push((label, options));
            }
        }
        self.pb.inc_length((ways.len() * (rounds + usize::from(online))) as u64);
        let mut runs: Vec<Vec<(Report, Emulated)>> = vec![vec![]; ways.len()];
        let first_counted = usize::from(online);
        for round in 0..rounds + first_counted {
            for (i, (label, options)) in ways.iter().enumerate() {
                // After one counted run, a way more than HOPELESS times slower and costlier
                // than the chosen plan is not run again: no noise makes it the best, and on
                // 3G one such run (the floor's cut, 600 KB) takes seconds.
                if round > first_counted && i > 0 && hopeless(&runs[i], &runs[0]) {
                    self.pb.inc(1);
                    continue;
                }
                self.pb.set_message(format!("{}: measuring {label}", sc.label));
                let result = self
                    .session
                    .infer_with(vec![self.sample().to_tensor()], options.clone())
                    .await
                    .context("running the embedder")?;
                let e = self.speed.emulate(&result.report);
                if round >= usize::from(online) {
                    runs[i].push((result.report.clone(), e));
                }
                self.keep(result.report);
                self.pb.inc(1);
            }
        }
        let measured: Vec<Measured> =
            ways.iter().zip(&runs).map(|((label, _), r)| self.summarize_way(label, r)).collect();
        Ok(self.judge(sc, plan, measured, objective))
    }

    /// One way's numbers (its fastest run, of however many it had), and its measured points
    /// for the chart.
    fn summarize_way(&self, label: &str, runs: &[(Report, Emulated)]) -> Measured {
        // The fastest run, and its numbers: load from the other programs of a shared machine
        // only ever adds time, so the fastest of a few interleaved runs is the steadiest
        // estimate of each way (a median still moved by 1.5x between runs here).
        let fastest = runs.iter().min_by(|a, b| a.1.total_ms.total_cmp(&b.1.total_ms)).map(|(_, e)| *e);
        let of = |f: &dyn Fn(&Emulated) -> f64| fastest.as_ref().map_or(f64::NAN, f);
        let first = &runs[0].0;
        let offloaded = runs.iter().filter(|(r, _)| r.offloaded).count() * 2 > runs.len();
        let kind = plan_kind(offloaded, first.plan.cut, self.kind_floor, self.last_cut);
        Measured {
            label: label.to_string(),
            cut: first.plan.cut,
            encoding: first.plan.encoding.wire_name().to_string(),
            kind,
            runs: runs.len(),
            measured_ms: of(&|e| e.total_ms),
            phone_ms: of(&|e| e.phone_ms),
            energy_mj: of(&|e| e.energy_mj),
            score: f64::NAN,
        }
    }

    /// Scores every way, compares the chosen plan with the best, and prints the comparison.
    fn judge(
        &mut self,
        sc: &Scenario,
        plan: Option<&Plan>,
        mut measured: Vec<Measured>,
        objective: Objective,
    ) -> ScenarioResult {
        let sample =
            |m: &Measured| Sample { total_ms: m.measured_ms, energy_mj: m.energy_mj, phone_ms: m.phone_ms };
        let local = measured.iter().find(|m| m.kind == "local").map(sample).unwrap_or(Sample {
            total_ms: 1.0,
            energy_mj: 1.0,
            phone_ms: 1.0,
        });
        let weights = balanced_weights(&sc.state());
        for m in &mut measured {
            m.score = score(objective, sample(m), local, weights);
        }
        let chosen = measured[0].clone();
        let best = measured.iter().map(|m| m.score).fold(f64::INFINITY, f64::min);
        let best_alternative = measured[1..].iter().min_by(|a, b| a.score.total_cmp(&b.score)).cloned();
        let ratio = if best > 0.0 && chosen.score.is_finite() { chosen.score / best } else { 1.0 };
        let within = ratio <= LIMIT_RATIO;
        let mut plans = KindCounts::default();
        for d in self.found.decisions.iter().filter(|d| d.scenario == sc.slug) {
            plans.add(d.kind);
        }
        let mut line = format!("  measured ({objective:?} score, fastest of {} runs):", measured[0].runs);
        for m in &measured {
            let _ = write!(
                line,
                " {} [cut {} {}]: {:.0} ms, {:.0} mJ, score {:.3}{};",
                m.label,
                m.cut,
                m.encoding,
                m.measured_ms,
                m.energy_mj,
                m.score,
                if m.runs < measured[0].runs {
                    format!(
                        " ({} run{}: over {HOPELESS}x the chosen)",
                        m.runs,
                        if m.runs == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            );
            let point = CutPoint {
                network: sc.label.into(),
                cut: m.cut,
                forced: true,
                offloaded: m.kind != "local",
                predicted_ms: f64::NAN,
                measured_ms: m.measured_ms,
                bytes_up: 0,
            };
            self.found.cut_points.push(point);
        }
        say(&self.pb, line);
        say(
            &self.pb,
            format!(
                "  plans: {} local, {} split, {} edge; chosen / best measured = {ratio:.2} {}",
                plans.local,
                plans.split,
                plans.edge,
                if within { "[ok]".to_string() } else { format!("[OVER {LIMIT_RATIO}x]") }
            ),
        );
        ScenarioResult {
            slug: sc.slug.into(),
            label: sc.label.into(),
            device_class: sc.class.into(),
            phone_slowdown: self.speed.slowdown,
            network: sc.network.label.into(),
            battery: sc.battery,
            low_power: sc.low_power,
            thermal: format!("{:?}", sc.thermal).to_lowercase(),
            objective,
            expect: sc.expect.into(),
            reason: plan.map(|p| p.reason.clone()).unwrap_or_default(),
            plans,
            chosen,
            measured,
            best_alternative,
            ratio_to_best: ratio,
            within_limit: within,
        }
    }
}

/// A scenario's curve: the plan's predicted latency at every cut the policy allows (the
/// chosen cut alone when none is).
fn curve(sc: &Scenario, plan: &Plan) -> Curve {
    let mut points: Vec<(usize, f64)> = plan
        .table
        .iter()
        .filter(|c| c.allowed && c.latency_ms.is_finite())
        .map(|c| (c.cut, c.latency_ms))
        .collect();
    if points.is_empty() {
        points.push((plan.cut, plan.predicted.total_ms));
    }
    Curve { network: sc.label.into(), slug: sc.slug.into(), points }
}

/// Checks the privacy floor and prints the summary; returns whether every decision and
/// refusal was right.
fn summarize(
    found: &Found,
    bad_inputs: &[BadInput],
    results: &[ScenarioResult],
    floor: usize,
    link: &LinkEmulator,
    started: Instant,
) -> Result<bool> {
    let below_floor = found.reports.iter().filter(|r| r.plan.cut < floor).count();
    if below_floor > 0 {
        bail!("privacy floor broken: {below_floor} report(s) below cut {floor}");
    }
    let right = found.decisions.iter().filter(|d| d.correct).count();
    let bad_right = bad_inputs.iter().filter(|b| b.correct).count();
    println!("\n== summary ==");
    println!(
        "decisions: {right}/{} correct over {} scenarios; bad photos: {bad_right}/{} refused as expected",
        found.decisions.len(),
        results.len(),
        bad_inputs.len()
    );
    println!("  {:<44} {:>5} {:>5} {:>5}  {:>14}", "scenario", "local", "split", "edge", "chosen / best");
    for r in results {
        println!(
            "  {:<44} {:>5} {:>5} {:>5}  {:>12.2}x {}",
            r.label,
            r.plans.local,
            r.plans.split,
            r.plans.edge,
            r.ratio_to_best,
            if r.within_limit { "[ok]" } else { "[OVER]" }
        );
    }
    println!(
        "privacy floor held: {} reports, none below cut {floor}; the raw face crop never left the phone{}",
        found.reports.len(),
        if found.reports_without_floor > 0 {
            format!(" (except in the scenario without a floor: {} reports)", found.reports_without_floor)
        } else {
            String::new()
        }
    );
    let (up, down) = link.total_bytes();
    println!("bytes through the emulated link: {} up, {} down", kb(up), kb(down));
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    Ok(right == found.decisions.len() && bad_right == bad_inputs.len())
}

/// The embedding of a crop through the session (optionally at a forced cut).
async fn descriptor(session: &Session, crop: &FaceCrop, cut: Option<usize>) -> Result<(Descriptor, Report)> {
    let options = InferOptions { cut, ..Default::default() };
    let result = session.infer_with(vec![crop.to_tensor()], options).await.context("running the embedder")?;
    Ok((Descriptor::from_outputs(&result.outputs)?, result.report))
}

/// The phone's profile calibrated on this machine, the fastest of three per cut (each session
/// scales it by its slowdown).
async fn calibrate(model: Arc<Model>, sample: NamedTensor) -> Result<DeviceProfile> {
    tokio::task::spawn_blocking(move || -> Result<DeviceProfile> {
        let exec = Executor::new(model);
        let options = CalibrationOptions { runs: 5, max_cuts: Some(12) };
        // Three calibrations, the fastest per cut: load from other programs only adds time,
        // and the scenarios score each way on its fastest run too.
        let mut best: Option<DeviceProfile> = None;
        for _ in 0..3 {
            let p = DeviceProfile::calibrate(
                &exec,
                std::slice::from_ref(&sample),
                &options,
                "demo-phone",
                ThermalState::Nominal,
                |_, _| {},
            )?;
            best = Some(match best {
                None => p,
                Some(mut b) => {
                    for (t, n) in b.before_ms.iter_mut().zip(&p.before_ms) {
                        *t = t.min(*n);
                    }
                    b
                }
            });
        }
        best.context("no calibration")
    })
    .await
    .context("the calibration task")?
}

/// A bearer token for this run only.
fn demo_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    format!("demo-{:016x}", h.finish())
}

/// Whether a way's runs so far are all over [`HOPELESS`] times the chosen plan's fastest, in
/// both time and energy. Such a way cannot score best under the latency or energy objective,
/// nor the balanced one while phone time weighs at most 1x (thermal serious or cooler, as in
/// every demo scenario): 3x the time and energy outweigh saving all of the phone's time.
fn hopeless(way: &[(Report, Emulated)], chosen: &[(Report, Emulated)]) -> bool {
    let fastest = |runs: &[(Report, Emulated)], f: fn(&Emulated) -> f64| {
        runs.iter().map(|(_, e)| f(e)).fold(f64::INFINITY, f64::min)
    };
    let (ms, mj) = (fastest(way, |e| e.total_ms), fastest(way, |e| e.energy_mj));
    let (chosen_ms, chosen_mj) = (fastest(chosen, |e| e.total_ms), fastest(chosen, |e| e.energy_mj));
    !way.is_empty() && chosen_ms.is_finite() && ms > HOPELESS * chosen_ms && mj > HOPELESS * chosen_mj
}
