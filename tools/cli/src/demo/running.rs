//! The run: the edge behind the link emulator, the phone's detection, the session, then
//! enrollment and verification over every network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tandem_edge::{EdgeServer, RunningEdge};
use tandem_faceid::{Descriptor, Enrollment, FaceCrop, FaceError, FacePipeline, Match};
use tandem_linkemu::LinkEmulator;
use tandem_sdk::devprofile::CalibrationOptions;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    DeviceProfile, EdgeEndpoint, EdgeStatus, EnergyModel, Executor, InferOptions, LoadOptions, Model,
    NamedTensor, Plan, Policy, Report, Session, SessionConfig, SessionError, ThermalState,
};

use super::report::{
    kb, mark, plan_label, short, BadInput, Curve, CutPoint, Decision, DemoReport, PhoneSpeed,
};
use super::scenario::{
    after, cuts_to_measure, privacy_floor, probes, Expect, Network, BAD, CORRUPT_PHOTO, CORRUPT_SOURCE,
    ENROLL, ENROLL_NETWORK, NETWORKS,
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

/// How much work the run has, in progress-bar steps.
fn step_count(photos: usize, probes: usize, forced: usize, runs_per_cut: usize) -> u64 {
    let online = NETWORKS.iter().filter(|n| n.kind().is_online()).count();
    (photos + BAD.len() + 2 + ENROLL.len()) as u64
        + (NETWORKS.len() * (probes + 1)) as u64
        + (online * forced * (runs_per_cut + 1) + 1 + runs_per_cut) as u64
}

/// Runs the demo and returns what it found (the caller writes it out and judges it).
pub(super) async fn demo(args: &DemoArgs, models: &Path) -> Result<DemoReport> {
    let started = Instant::now();
    let speed = PhoneSpeed { slowdown: args.phone_slowdown, compute_mw: EnergyModel::default().compute_mw };
    let embedder_path = models.join("face_embedder.onnx");
    let photos = models.join("photos");
    let corrupt_path = write_corrupt_photo(&photos, &args.out)?;
    let probes = probes(args.quick);

    println!("Tandem FaceID demo: a phone, an edge and the network between them, on this machine.");
    println!(
        "phone: {} slower than this machine (calibrated slowdown); edge: this machine; objective: {:?}",
        if speed.slowdown == 1.0 { "not".to_string() } else { format!("{}x", speed.slowdown) },
        args.objective
    );
    let token = demo_token();
    let (edge, link) = start_edge(&embedder_path, &token).await?;

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
    let runs_per_cut = if args.quick { 1 } else { 3 };
    let pb =
        progress(step_count(all_photos.len(), probes.len(), forced.len(), runs_per_cut), args.no_progress);
    let crops = detect_all(&pipeline, &photos, &all_photos, &pb)?;
    let bad_inputs = refuse_bad_photos(&pipeline, &photos, &corrupt_path, &pb);

    // --- the session, enrollment, then every network -----------------------------------------
    pb.set_message("calibrating the phone");
    let profile = calibrate(model.clone(), crops[0].1.to_tensor(), speed.slowdown).await?;
    pb.inc(1);
    let signals = Arc::new(FixedSignals::new(ENROLL_NETWORK.state()));
    let session = start_session(args, &embedder_path, &link, token, floor, profile, signals.clone()).await?;
    let mut phone = Phone { session, signals, link: &link, crops, pb, speed, found: Found::default() };
    say(
        &phone.pb,
        format!(
            "\n== session: {} cuts; privacy floor: cut {floor} (after {}) ==",
            last_cut + 1,
            after(&model, floor)
        ),
    );
    say(
        &phone.pb,
        "  cuts 1-2 only shift and scale the pixels, as revealing as the crop: they stay on the phone too",
    );
    let privacy_refusal = phone.refuse_raw_crop().await?;
    let (enrollment, not_enrolled_message) = phone.enroll().await?;
    for net in NETWORKS {
        phone.verify_on(net, &probes, &enrollment).await?;
        let measure: Vec<usize> = if net.kind().is_online() { forced.clone() } else { vec![last_cut] };
        phone.measure_cuts(net, &measure, runs_per_cut).await?;
    }
    phone.pb.finish_and_clear();

    let found = phone.found;
    let all_correct = summarize(&found, &bad_inputs, floor, &link, started)?;
    let _ = edge.shutdown().await;
    Ok(DemoReport {
        quick: args.quick,
        phone_slowdown: speed.slowdown,
        objective: args.objective,
        privacy_floor_cut: floor,
        last_cut,
        enrolled: ENROLL.iter().map(|s| s.to_string()).collect(),
        networks: NETWORKS.iter().map(|n| n.label.to_string()).collect(),
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
    let edge = EdgeServer::builder()
        .model_file(embedder_path)
        .token(token.to_string())
        .profile_budget(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .context("starting the embedded edge server")?;
    let link = LinkEmulator::start(edge.addr(), ENROLL_NETWORK.link())
        .await
        .context("starting the link emulator")?;
    println!(
        "edge: {} (models: {}), reached through the link emulator at {}",
        edge.url(),
        edge.models().join(", "),
        link.local_addr()
    );
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

/// The phone's session: through the link to the edge, with the privacy floor, once the
/// edge's model is verified.
async fn start_session(
    args: &DemoArgs,
    embedder_path: &Path,
    link: &LinkEmulator,
    token: String,
    floor: usize,
    profile: DeviceProfile,
    signals: Arc<FixedSignals>,
) -> Result<Session> {
    let policy = Policy {
        objective: args.objective,
        keep_raw_input_on_device: true,
        min_cut: floor,
        ..Policy::balanced()
    };
    let config = SessionConfig {
        calibrate: false,
        auto_probe: false,
        // The edge is this machine: as fast as the phone before the slowdown.
        assumed_edge_speedup: args.phone_slowdown,
        edge_refresh_ms: 600_000,
        ..SessionConfig::default()
    };
    let session = Session::builder(embedder_path)
        .edge(EdgeEndpoint::new(format!("http://{}", link.local_addr())).with_token(token))
        .policy(policy)
        .signals(signals)
        .device_profile(profile)
        .config(config)
        .runtime(tokio::runtime::Handle::current())
        .build()
        .context("building the session")?;
    let status = session.wait_for_edge(Duration::from_secs(10)).await;
    if status != EdgeStatus::Verified {
        bail!("the edge's model check failed: {status:?}");
    }
    Ok(session)
}

/// What the verifications found.
#[derive(Default)]
struct Found {
    /// Every report, for the privacy-floor check.
    reports: Vec<Report>,
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
}

impl Phone<'_> {
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
        for (name, crop) in self.crops.iter().filter(|(n, _)| ENROLL.contains(&n.as_str())) {
            self.pb.set_message(format!("enrolling {name}"));
            let (d, report) = descriptor(&self.session, crop, None).await?;
            enrollment.add(&d)?;
            say(&self.pb, format!("  enrolled {name:<17} {}", short(&report.plan.reason)));
            self.found.reports.push(report);
            self.pb.inc(1);
        }
        Ok((enrollment, not_enrolled_message))
    }

    /// Switches to `net`, then verifies every probe photo with the cut the planner picks,
    /// and keeps the first plan's predicted latency per cut as the network's curve.
    async fn verify_on(
        &mut self,
        net: Network,
        probes: &[(&str, Expect)],
        enrollment: &Enrollment,
    ) -> Result<()> {
        self.signals.set(net.state());
        self.link.set_config(net.link());
        say(&self.pb, format!("\n== {} ({}) ==", net.label, net.describe()));
        say(
            &self.pb,
            format!(
                "  {:<24} {:<30} {:>9} {:>8} {:>9}  decision",
                "photo", "plan", "latency", "up", "energy*"
            ),
        );
        say(&self.pb, "  (* the phone's energy is modeled from the measured times, not measured)");
        // One unreported request first: it builds the parts this network's plan needs on
        // the phone and the edge, as an app's first frame would.
        self.pb.set_message(format!("{}: warming up", net.label));
        let warmup = descriptor(&self.session, self.sample(), None).await?.1;
        self.found.reports.push(warmup);
        self.pb.inc(1);
        let mut first_plan = None;
        for &(name, expected) in probes {
            self.pb.set_message(format!("{}: verifying {name}", net.label));
            let (d, report) = descriptor(&self.session, self.crop(name), None).await?;
            let m = enrollment.verify(&d)?;
            first_plan.get_or_insert_with(|| report.plan.clone());
            self.record(net, name, expected == Expect::Match, &m, report);
            self.pb.inc(1);
        }
        if let Some(plan) = &first_plan {
            say(&self.pb, format!("  why: {}", plan.reason));
            self.found.curves.push(curve(net, plan));
        }
        Ok(())
    }

    /// Prints and keeps one verification.
    fn record(&mut self, net: Network, photo: &str, expected_match: bool, m: &Match, report: Report) {
        let e = self.speed.emulate(&report);
        let correct = m.is_match == expected_match;
        say(
            &self.pb,
            format!(
                "  {photo:<24} {:<30} {:>6.0} ms {:>8} {:>6.0} mJ  {} (distance {:.3}) {}",
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
            network: net.label.into(),
            photo: photo.to_string(),
            expected_match,
            is_match: m.is_match,
            distance: m.distance,
            correct,
            cut: report.plan.cut,
            after_node: report.after_node.clone(),
            reason: report.plan.reason.clone(),
            offloaded: report.offloaded,
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
        self.found.cut_points.push(CutPoint::of(net.label, &report, false, e.total_ms));
        self.found.reports.push(report);
    }

    /// Forced cuts: what each would cost on `net` (the median of `runs_per_cut` runs, after
    /// a warm-up when online).
    async fn measure_cuts(&mut self, net: Network, cuts: &[usize], runs_per_cut: usize) -> Result<()> {
        let mut line = String::from("  measured cuts (predicted -> measured):");
        let warmups = usize::from(net.kind().is_online());
        for &cut in cuts {
            self.pb.set_message(format!("{}: measuring cut {cut}", net.label));
            let mut samples = vec![];
            for i in 0..warmups + runs_per_cut {
                let (_, report) = descriptor(&self.session, self.sample(), Some(cut)).await?;
                if i >= warmups {
                    samples.push(report);
                }
                self.pb.inc(1);
            }
            samples.sort_by(|a, b| a.total_ms.total_cmp(&b.total_ms));
            let report = samples.swap_remove(samples.len() / 2);
            let e = self.speed.emulate(&report);
            let _ = write!(line, " {cut}: {:.0}->{:.0} ms", report.plan.predicted.total_ms, e.total_ms);
            let mut point = CutPoint::of(net.label, &report, true, e.total_ms);
            point.cut = cut;
            self.found.cut_points.push(point);
            self.found.reports.push(report);
        }
        say(&self.pb, line);
        Ok(())
    }
}

/// A network's curve: the plan's predicted latency at every cut the policy allows (the
/// chosen cut alone when none is).
fn curve(net: Network, plan: &Plan) -> Curve {
    let mut points: Vec<(usize, f64)> = plan
        .table
        .iter()
        .filter(|c| c.allowed && c.latency_ms.is_finite())
        .map(|c| (c.cut, c.latency_ms))
        .collect();
    if points.is_empty() {
        points.push((plan.cut, plan.predicted.total_ms));
    }
    Curve { network: net.label.into(), slug: net.slug.into(), points }
}

/// Checks the privacy floor and prints the summary; returns whether every decision and
/// refusal was right.
fn summarize(
    found: &Found,
    bad_inputs: &[BadInput],
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
        "decisions: {right}/{} correct over {} networks; bad photos: {bad_right}/{} refused as expected",
        found.decisions.len(),
        NETWORKS.len(),
        bad_inputs.len()
    );
    println!(
        "privacy floor held: {} reports, none below cut {floor}; the raw face crop never left the phone",
        found.reports.len()
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

/// The phone's profile: calibrated on this machine, scaled by the slowdown.
async fn calibrate(model: Arc<Model>, sample: NamedTensor, slowdown: f64) -> Result<DeviceProfile> {
    tokio::task::spawn_blocking(move || -> Result<DeviceProfile> {
        let exec = Executor::new(model);
        let options = CalibrationOptions { runs: 5, max_cuts: Some(12) };
        let mut p = DeviceProfile::calibrate(
            &exec,
            &[sample],
            &options,
            "demo-phone",
            ThermalState::Nominal,
            |_, _| {},
        )?;
        for t in &mut p.before_ms {
            *t *= slowdown;
        }
        p.device = format!("demo-phone ({slowdown}x slower than this machine)");
        Ok(p)
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
