//! `tandem demo`: the FaceID-style demo, fully local on this machine.
//!
//! One process plays every part:
//! - the **edge**: an embedded `tandem-edge` server on loopback serving `face_embedder.onnx`;
//! - the **network**: the link emulator between the phone and the edge, switched between 3G,
//!   LTE, Wi-Fi (each at its [`LinkEstimate::prior`] rates and round trip: Neurosurgeon's
//!   measured uplinks) and offline (connections refused, platform says "no network");
//! - the **phone**: BlazeFace detection and alignment (always local: the detector is small),
//!   then the embedder through a Tandem [`Session`] that picks the cut per request, with the
//!   privacy floor: the raw face crop, and anything as revealing as it, never leaves the phone.
//!
//! The phone is emulated `--phone-slowdown` times slower than this machine, as in `tandem
//! bench`'s calibrated-slowdown mode: its calibrated profile is scaled, and each report's phone
//! compute, total latency and compute energy are scaled the same way; the edge runs at this
//! machine's speed. The default, 8, is a modest edge-to-phone ratio (a server GPU against a
//! phone CPU is often more). With 4 or less the planner keeps this small model (about 30 ms
//! here) on the phone on every network, because its crossing tensors are large for its
//! compute; with `--phone-slowdown 1` nothing is emulated.
//!
//! Every verification's match decision is checked against the photo's known identity; the
//! command fails unless all are right, no report crossed the privacy floor, and each bad photo
//! gave the expected error. It writes `OUT/report.html` (a chart of predicted and measured
//! latency per cut per network, and the decisions) and `OUT/report.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tandem_faceid::{Descriptor, Enrollment, FaceCrop, FaceError, FacePipeline};
use tandem_linkemu::{Fault, LinkConfig, LinkEmulator};
use tandem_sdk::devprofile::CalibrationOptions;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    CellularGen, DeviceProfile, EdgeEndpoint, EdgeStatus, EnergyModel, Executor, InferOptions, LinkEstimate,
    LoadOptions, Model, NamedTensor, NetworkKind, Objective, PlatformState, Policy, Report, Session,
    SessionConfig, SessionError, ThermalState,
};

/// `tandem demo`: enroll a face, then verify photos over emulated 3G, LTE, Wi-Fi and offline.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write report.html and report.json.
    #[arg(long, value_name = "DIR", default_value = "target/tandem-demo")]
    out: PathBuf,
    /// A short run for CI: two probe photos, two forced cuts per network, one run each.
    #[arg(long)]
    quick: bool,
    /// The bundled models and photos (default: ./models, else the source tree's models/).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// How many times slower than this machine the emulated phone computes (1: not emulated).
    #[arg(long, default_value_t = 8.0)]
    phone_slowdown: f64,
    /// What the planner optimises: latency, energy or balanced.
    #[arg(long, default_value = "latency")]
    objective: Objective,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

/// An emulated network.
#[derive(Clone, Copy, Debug)]
struct Network {
    /// As people write it.
    label: &'static str,
    /// For ids and file names.
    slug: &'static str,
    kind: NetworkKind,
}

const NETWORKS: [Network; 4] = [
    Network { label: "3G", slug: "3g", kind: NetworkKind::Cellular(CellularGen::G3) },
    Network { label: "LTE", slug: "lte", kind: NetworkKind::Cellular(CellularGen::Lte) },
    Network { label: "Wi-Fi", slug: "wifi", kind: NetworkKind::Wifi },
    Network { label: "offline", slug: "offline", kind: NetworkKind::None },
];

impl Network {
    /// The link the emulator applies: the estimator's prior for the kind, so the planner's
    /// first guess is right and what it learns confirms it.
    fn link(&self) -> LinkConfig {
        if !self.kind.is_online() {
            return LinkConfig { fault: Fault::Refuse, ..LinkConfig::unlimited() };
        }
        let p = LinkEstimate::prior(self.kind);
        LinkConfig::mbps(p.uplink_mbps, p.downlink_mbps, p.rtt_ms)
    }

    fn describe(&self) -> String {
        let l = self.link();
        if l.fault == Fault::Refuse {
            "no network; the edge refuses connections".into()
        } else {
            format!("{} Mbps up, {} Mbps down, {} ms round trip", l.uplink_mbps, l.downlink_mbps, l.rtt_ms)
        }
    }

    fn state(&self) -> PlatformState {
        PlatformState {
            network: self.kind,
            network_id: format!("demo-{}", self.slug),
            metered: matches!(self.kind, NetworkKind::Cellular(_)),
            battery_level: Some(0.8),
            charging: Some(false),
            low_power: false,
            thermal: ThermalState::Nominal,
        }
    }
}

/// What a photo should give.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Expect {
    /// The enrolled person.
    Match,
    /// Someone else.
    NoMatch,
    NoFace,
    MultipleFaces(usize),
    Corrupt,
}

impl Expect {
    fn holds_for(self, err: &FaceError) -> bool {
        matches!(
            (self, err),
            (Expect::NoFace, FaceError::NoFace) | (Expect::Corrupt, FaceError::CorruptImage { .. })
        ) || matches!((self, err), (Expect::MultipleFaces(n), FaceError::MultipleFaces(m)) if n == *m)
    }
}

const ENROLL: [&str; 2] = ["obama.jpg", "obama2.jpg"];
const PROBES: [(&str, Expect); 5] = [
    ("obama3.jpg", Expect::Match),
    ("obama_partial_face.jpg", Expect::Match),
    ("obama_partial_face2.jpg", Expect::Match),
    ("biden.jpg", Expect::NoMatch),
    ("astronaut.jpg", Expect::NoMatch),
];
const QUICK_PROBES: [&str; 2] = ["obama3.jpg", "biden.jpg"];
/// Written into the output directory: a JPEG cut off after a third of its bytes.
const CORRUPT_PHOTO: &str = "corrupt.jpg";
const BAD: [(&str, Expect); 3] = [
    ("rocket_noface.jpg", Expect::NoFace),
    ("two_faces.jpg", Expect::MultipleFaces(2)),
    (CORRUPT_PHOTO, Expect::Corrupt),
];

/// One verification over one network.
#[derive(Clone, Debug, Serialize)]
struct Decision {
    network: String,
    photo: String,
    expected_match: bool,
    is_match: bool,
    distance: f64,
    correct: bool,
    cut: usize,
    after_node: Option<String>,
    reason: String,
    offloaded: bool,
    fallback: Option<String>,
    predicted_ms: f64,
    /// Measured end to end, with the phone's compute scaled by the slowdown.
    measured_ms: f64,
    phone_ms: f64,
    upload_ms: f64,
    edge_ms: f64,
    download_ms: f64,
    bytes_up: u64,
    bytes_down: u64,
    energy_mj: f64,
}

/// A photo that must be refused with a clear message.
#[derive(Clone, Debug, Serialize)]
struct BadInput {
    photo: String,
    expected: Expect,
    message: String,
    correct: bool,
}

/// One forced (or chosen) cut measured on one network.
#[derive(Clone, Debug, Serialize)]
struct CutPoint {
    network: String,
    cut: usize,
    forced: bool,
    offloaded: bool,
    predicted_ms: f64,
    measured_ms: f64,
    bytes_up: u64,
}

/// One network's predicted latency per cut (the plan's table), for the chart.
#[derive(Clone, Debug, Serialize)]
struct Curve {
    network: String,
    slug: String,
    points: Vec<(usize, f64)>,
}

/// Everything the demo found, as written to `report.json`.
#[derive(Debug, Serialize)]
struct DemoReport {
    quick: bool,
    phone_slowdown: f64,
    objective: Objective,
    privacy_floor_cut: usize,
    last_cut: usize,
    enrolled: Vec<String>,
    networks: Vec<String>,
    decisions: Vec<Decision>,
    bad_inputs: Vec<BadInput>,
    cuts: Vec<CutPoint>,
    curves: Vec<Curve>,
    not_enrolled_message: String,
    privacy_refusal: String,
    all_correct: bool,
    elapsed_s: f64,
}

/// Report numbers with the emulated phone's compute scaled.
#[derive(Clone, Copy, Debug)]
struct Emulated {
    phone_ms: f64,
    total_ms: f64,
    energy_mj: f64,
}

fn emulate(report: &Report, slowdown: f64, compute_mw: f64) -> Emulated {
    emulate_numbers(
        Emulated { phone_ms: report.phone_ms, total_ms: report.total_ms, energy_mj: report.energy_mj },
        slowdown,
        compute_mw,
    )
}

/// The phone computes `slowdown` times longer: that much more latency and compute energy.
fn emulate_numbers(measured: Emulated, slowdown: f64, compute_mw: f64) -> Emulated {
    let extra_ms = (slowdown - 1.0) * measured.phone_ms;
    Emulated {
        phone_ms: measured.phone_ms + extra_ms,
        total_ms: measured.total_ms + extra_ms,
        energy_mj: measured.energy_mj + compute_mw * extra_ms / 1e3,
    }
}

/// Runs the demo; fails unless every decision is right.
pub fn run(args: DemoArgs) -> Result<()> {
    if !(args.phone_slowdown.is_finite() && (1.0..=100.0).contains(&args.phone_slowdown)) {
        bail!("--phone-slowdown {}: expected 1 to 100", args.phone_slowdown);
    }
    let models = match &args.models {
        Some(dir) => dir.clone(),
        None => default_models_dir(),
    };
    for file in ["face_detector.onnx", "face_embedder.onnx", "photos/obama.jpg"] {
        if !models.join(file).is_file() {
            bail!(
                "{}: missing; pass --models DIR (the repository's models/ folder)",
                models.join(file).display()
            );
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(demo(&args, &models))?;
    let html = render_html(&report)?;
    let html_path = args.out.join("report.html");
    std::fs::write(&html_path, html).with_context(|| format!("writing {}", html_path.display()))?;
    let json_path = args.out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("\nreport: {}", html_path.display());
    let wrong = report.decisions.iter().filter(|d| !d.correct).count()
        + report.bad_inputs.iter().filter(|b| !b.correct).count();
    if !report.all_correct {
        bail!("{wrong} wrong decision(s) or check(s); see {}", html_path.display());
    }
    Ok(())
}

/// `./models` when run from the repository, else the source tree's.
fn default_models_dir() -> PathBuf {
    let here = PathBuf::from("models");
    if here.join("face_embedder.onnx").is_file() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn short(reason: &str) -> &str {
    reason.split(';').next().unwrap_or(reason)
}

fn kb(bytes: u64) -> String {
    if bytes == 0 {
        "0 KB".into()
    } else if bytes < 10_000 {
        format!("{:.1} KB", bytes as f64 / 1e3)
    } else {
        format!("{:.0} KB", bytes as f64 / 1e3)
    }
}

/// The cut just after the embedder's first convolution: cuts 1 and 2 (mean subtraction and
/// scaling of the pixels) are as revealing as the crop itself, so the floor is above them.
fn privacy_floor(model: &Model) -> usize {
    model.cuts().iter().find(|c| c.after_node.as_deref() == Some("conv32_down")).map_or(1, |c| c.id)
}

/// Cuts to force on each network: the cheapest to send near a few points of the model's
/// compute, plus the last (local) cut.
fn cuts_to_measure(model: &Model, floor: usize, quick: bool) -> Vec<usize> {
    let cuts = model.cuts();
    let last = model.last_cut();
    let total = cuts.last().map_or(1, |c| c.macs_before).max(1) as f64;
    let targets: &[f64] = if quick { &[0.45, 0.9] } else { &[0.1, 0.3, 0.5, 0.7, 0.9] };
    let mut out: Vec<usize> = targets
        .iter()
        .filter_map(|t| {
            cuts.iter()
                .filter(|c| c.id >= floor && c.id < last)
                .filter(|c| (c.macs_before as f64 / total - t).abs() <= 0.1)
                .min_by_key(|c| (c.bytes, c.id))
                .map(|c| c.id)
        })
        .collect();
    out.push(last);
    out.sort_unstable();
    out.dedup();
    out
}

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

async fn demo(args: &DemoArgs, models: &Path) -> Result<DemoReport> {
    let started = Instant::now();
    let slowdown = args.phone_slowdown;
    let compute_mw = EnergyModel::default().compute_mw;
    let embedder_path = models.join("face_embedder.onnx");
    let photos = models.join("photos");

    // A corrupt photo, as a phone might find in its gallery.
    let source = std::fs::read(photos.join("obama3.jpg")).context("reading obama3.jpg")?;
    let corrupt_path = args.out.join(CORRUPT_PHOTO);
    std::fs::write(&corrupt_path, &source[..source.len() / 3]).context("writing the corrupt photo")?;

    let probes: Vec<(&str, Expect)> =
        PROBES.iter().copied().filter(|(p, _)| !args.quick || QUICK_PROBES.contains(p)).collect();

    println!("Tandem FaceID demo: a phone, an edge and the network between them, on this machine.");
    println!(
        "phone: {} slower than this machine (calibrated slowdown); edge: this machine; objective: {:?}",
        if slowdown == 1.0 { "not".to_string() } else { format!("{slowdown}x") },
        args.objective
    );

    // --- the edge, behind the emulated link ---------------------------------------------
    let token = demo_token();
    let edge = tandem_edge::EdgeServer::builder()
        .model_file(&embedder_path)
        .token(token.clone())
        .profile_budget(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .context("starting the embedded edge server")?;
    let link =
        LinkEmulator::start(edge.addr(), NETWORKS[2].link()).await.context("starting the link emulator")?;
    println!(
        "edge: {} (models: {}), reached through the link emulator at {}",
        edge.url(),
        edge.models().join(", "),
        link.local_addr()
    );

    // --- the phone -------------------------------------------------------------------------
    let model =
        Arc::new(Model::load(&embedder_path, &LoadOptions::default()).context("loading the embedder")?);
    let floor = privacy_floor(&model);
    let last_cut = model.last_cut();
    let pipeline =
        FacePipeline::load(models.join("face_detector.onnx")).context("loading the face detector")?;

    // Detect and align every photo once: detection never leaves the phone and does not
    // depend on the network.
    let all_photos: Vec<String> =
        ENROLL.iter().chain(probes.iter().map(|(p, _)| p)).map(|s| s.to_string()).collect();
    let forced = cuts_to_measure(&model, floor, args.quick);
    let runs_per_cut = if args.quick { 1 } else { 3 };
    let online = NETWORKS.iter().filter(|n| n.kind.is_online()).count();
    let steps = (all_photos.len() + BAD.len() + 2 + ENROLL.len()) as u64
        + (NETWORKS.len() * (probes.len() + 1)) as u64
        + (online * forced.len() * (runs_per_cut + 1) + 1 + runs_per_cut) as u64;
    let pb = progress(steps, args.no_progress);

    say(&pb, "\n== phone: detect (BlazeFace) and align (dlib face chip), on the phone ==");
    let mut crops: Vec<(String, FaceCrop)> = vec![];
    for name in &all_photos {
        pb.set_message(format!("detecting {name}"));
        let t = Instant::now();
        let crop =
            pipeline.crop_file(photos.join(name)).with_context(|| format!("{name}: a bundled photo"))?;
        say(
            &pb,
            format!("  {name:<26} 1 face, aligned to 150x150 in {:.0} ms", t.elapsed().as_secs_f64() * 1e3),
        );
        crops.push((name.clone(), crop));
        pb.inc(1);
    }
    let mut bad_inputs = vec![];
    for (name, expected) in BAD {
        let path = if name == CORRUPT_PHOTO { corrupt_path.clone() } else { photos.join(name) };
        let outcome = pipeline.crop_file(&path);
        let (message, correct) = match &outcome {
            Ok(_) => ("a face was found".to_string(), false),
            Err(e) => (e.to_string(), expected.holds_for(e)),
        };
        say(&pb, format!("  {name:<26} refused: {message} {}", mark(correct)));
        bad_inputs.push(BadInput { photo: name.to_string(), expected, message, correct });
        pb.inc(1);
    }

    // --- the session ------------------------------------------------------------------------
    pb.set_message("calibrating the phone");
    let sample = crops[0].1.to_tensor();
    let profile = calibrate(model.clone(), sample.clone(), slowdown).await?;
    pb.inc(1);
    let signals = Arc::new(FixedSignals::new(NETWORKS[2].state()));
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
        assumed_edge_speedup: slowdown,
        edge_refresh_ms: 600_000,
        ..SessionConfig::default()
    };
    let session = Session::builder(&embedder_path)
        .edge(EdgeEndpoint::new(format!("http://{}", link.local_addr())).with_token(token))
        .policy(policy)
        .signals(signals.clone())
        .device_profile(profile)
        .config(config)
        .runtime(tokio::runtime::Handle::current())
        .build()
        .context("building the session")?;
    let status = session.wait_for_edge(Duration::from_secs(10)).await;
    if status != EdgeStatus::Verified {
        bail!("the edge's model check failed: {status:?}");
    }
    say(
        &pb,
        format!(
            "\n== session: {} cuts; privacy floor: cut {floor} (after {}) ==",
            last_cut + 1,
            after(&model, floor)
        ),
    );
    say(
        &pb,
        "  cuts 1-2 only shift and scale the pixels, as revealing as the crop: they stay on the phone too",
    );
    let privacy_refusal = match session
        .infer_with(vec![sample.clone()], InferOptions { cut: Some(0), ..Default::default() })
        .await
    {
        Err(e @ SessionError::InvalidOptions { .. }) => e.to_string(),
        Err(e) => bail!("forcing cut 0 failed in an unexpected way: {e}"),
        Ok(r) => bail!("the session sent the raw face crop (cut {})", r.report.plan.cut),
    };
    say(&pb, format!("  forcing cut 0 (the raw crop) is refused: {privacy_refusal}"));
    pb.inc(1);

    // --- enrollment ---------------------------------------------------------------------------
    let mut enrollment = Enrollment::new();
    let not_enrolled_message = match enrollment.verify(&descriptor(&session, &crops[2].1, None).await?.0) {
        Err(e @ FaceError::NotEnrolled) => e.to_string(),
        other => bail!("verifying before enrolling should fail with NotEnrolled, got {other:?}"),
    };
    say(&pb, format!("\n== enroll (over Wi-Fi) ==\n  before enrolling: {not_enrolled_message}"));
    let mut reports: Vec<Report> = vec![];
    for (name, crop) in crops.iter().filter(|(n, _)| ENROLL.contains(&n.as_str())) {
        pb.set_message(format!("enrolling {name}"));
        let (d, report) = descriptor(&session, crop, None).await?;
        enrollment.add(&d)?;
        say(&pb, format!("  enrolled {name:<17} {}", short(&report.plan.reason)));
        reports.push(report);
        pb.inc(1);
    }

    // --- verify over every network ------------------------------------------------------------
    let mut decisions = vec![];
    let mut cut_points = vec![];
    let mut curves = vec![];
    for net in NETWORKS {
        signals.set(net.state());
        link.set_config(net.link());
        say(&pb, format!("\n== {} ({}) ==", net.label, net.describe()));
        say(
            &pb,
            format!(
                "  {:<24} {:<30} {:>9} {:>8} {:>9}  decision",
                "photo", "plan", "latency", "up", "energy"
            ),
        );
        // One unreported request first: it builds the parts this network's plan needs on
        // the phone and the edge, as an app's first frame would.
        pb.set_message(format!("{}: warming up", net.label));
        reports.push(descriptor(&session, &crops[0].1, None).await?.1);
        pb.inc(1);
        let mut first_plan = None;
        for (name, expected) in &probes {
            pb.set_message(format!("{}: verifying {name}", net.label));
            let crop = &crops.iter().find(|(n, _)| n == name).expect("every probe was cropped").1;
            let (d, report) = descriptor(&session, crop, None).await?;
            let m = enrollment.verify(&d)?;
            let expected_match = *expected == Expect::Match;
            let e = emulate(&report, slowdown, compute_mw);
            let correct = m.is_match == expected_match;
            let plan = plan_label(&report);
            say(
                &pb,
                format!(
                    "  {name:<24} {plan:<30} {:>6.0} ms {:>8} {:>6.0} mJ  {} (distance {:.3}) {}",
                    e.total_ms,
                    kb(report.bytes_up),
                    e.energy_mj,
                    if m.is_match { "MATCH   " } else { "NO MATCH" },
                    m.distance,
                    mark(correct)
                ),
            );
            if first_plan.is_none() {
                first_plan = Some(report.plan.clone());
            }
            decisions.push(Decision {
                network: net.label.into(),
                photo: name.to_string(),
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
            cut_points.push(CutPoint {
                network: net.label.into(),
                cut: report.plan.cut,
                forced: false,
                offloaded: report.offloaded,
                predicted_ms: report.plan.predicted.total_ms,
                measured_ms: e.total_ms,
                bytes_up: report.bytes_up,
            });
            reports.push(report);
            pb.inc(1);
        }
        if let Some(plan) = &first_plan {
            say(&pb, format!("  why: {}", plan.reason));
            let mut points: Vec<(usize, f64)> = plan
                .table
                .iter()
                .filter(|c| c.allowed && c.latency_ms.is_finite())
                .map(|c| (c.cut, c.latency_ms))
                .collect();
            if points.is_empty() {
                points.push((plan.cut, plan.predicted.total_ms));
            }
            curves.push(Curve { network: net.label.into(), slug: net.slug.into(), points });
        }

        // Forced cuts: what each would cost here (offline, only the local cut can run).
        let measure: Vec<usize> = if net.kind.is_online() { forced.clone() } else { vec![last_cut] };
        let mut line = String::from("  measured cuts (predicted -> measured):");
        for &cut in &measure {
            pb.set_message(format!("{}: measuring cut {cut}", net.label));
            let warmups = usize::from(net.kind.is_online());
            let mut samples = vec![];
            for i in 0..warmups + runs_per_cut {
                let (_, report) = descriptor(&session, &crops[0].1, Some(cut)).await?;
                if i >= warmups {
                    samples.push(report);
                }
                pb.inc(1);
            }
            samples.sort_by(|a, b| a.total_ms.total_cmp(&b.total_ms));
            let report = samples.swap_remove(samples.len() / 2);
            let e = emulate(&report, slowdown, compute_mw);
            let _ = write!(line, " {cut}: {:.0}->{:.0} ms", report.plan.predicted.total_ms, e.total_ms);
            cut_points.push(CutPoint {
                network: net.label.into(),
                cut,
                forced: true,
                offloaded: report.offloaded,
                predicted_ms: report.plan.predicted.total_ms,
                measured_ms: e.total_ms,
                bytes_up: report.bytes_up,
            });
            reports.push(report);
        }
        say(&pb, line);
    }
    pb.finish_and_clear();

    // --- checks ----------------------------------------------------------------------------
    let below_floor: Vec<&Report> = reports.iter().filter(|r| r.plan.cut < floor).collect();
    if !below_floor.is_empty() {
        bail!("privacy floor broken: {} report(s) below cut {floor}", below_floor.len());
    }
    let right = decisions.iter().filter(|d| d.correct).count();
    let bad_right = bad_inputs.iter().filter(|b| b.correct).count();
    let all_correct = right == decisions.len() && bad_right == bad_inputs.len();
    println!("\n== summary ==");
    println!(
        "decisions: {right}/{} correct over {} networks; bad photos: {bad_right}/{} refused as expected",
        decisions.len(),
        NETWORKS.len(),
        bad_inputs.len()
    );
    println!(
        "privacy floor held: {} reports, none below cut {floor}; the raw face crop never left the phone",
        reports.len()
    );
    let (up, down) = link.total_bytes();
    println!("bytes through the emulated link: {} up, {} down", kb(up), kb(down));
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    let _ = edge.shutdown().await;

    Ok(DemoReport {
        quick: args.quick,
        phone_slowdown: slowdown,
        objective: args.objective,
        privacy_floor_cut: floor,
        last_cut,
        enrolled: ENROLL.iter().map(|s| s.to_string()).collect(),
        networks: NETWORKS.iter().map(|n| n.label.to_string()).collect(),
        decisions,
        bad_inputs,
        cuts: cut_points,
        curves,
        not_enrolled_message,
        privacy_refusal,
        all_correct,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "[ok]"
    } else {
        "[WRONG]"
    }
}

fn after(model: &Model, cut: usize) -> String {
    model.cuts().get(cut).and_then(|c| c.after_node.clone()).unwrap_or_else(|| "the input".into())
}

fn plan_label(report: &Report) -> String {
    let node = report.after_node.as_deref().unwrap_or("the input");
    match (report.plan.offloads(), report.offloaded, report.fallback_reason) {
        (true, true, _) => format!("cut {} (after {node})", report.plan.cut),
        (true, false, Some(r)) => format!("cut {}, local ({r})", report.plan.cut),
        (_, _, Some(r)) => format!("local ({r})"),
        _ => "local".to_string(),
    }
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

// ------------------------------------------------------------------------------------------
// The HTML report

const COLORS: [(u8, u8, u8); 4] = [(214, 39, 40), (255, 127, 14), (31, 119, 180), (100, 100, 100)];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The chart: predicted (line) and measured (dots) latency per cut, one group per network.
/// Each network's elements are wrapped in `<g id="series-SLUG" class="series"
/// data-network="LABEL">` (plotters cannot tag elements, so invisible marker texts are drawn
/// around each series and replaced afterwards).
fn chart_svg(report: &DemoReport) -> Result<String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        let values = report
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .chain(report.cuts.iter().flat_map(|c| [c.predicted_ms, c.measured_ms]))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo / 1.5, hi * 1.5) };
        let mut chart = ChartBuilder::on(&root)
            .caption("Predicted (line) and measured (dots) latency per cut", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-1f64..report.last_cut as f64 + 1.0, (lo..hi).log_scale())
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("cut (0 = raw input on the edge; last = all on the phone)")
            .y_desc("latency (ms)")
            .light_line_style(RGBColor(238, 238, 238))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        let marker_at = (0.0, lo);
        for (i, net) in report.networks.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b);
            let slug = report
                .curves
                .iter()
                .find(|c| &c.network == net)
                .map_or_else(|| slugify(net), |c| c.slug.clone());
            let marker = |edge: &str| Text::new(format!("@@{edge}:{slug}@@"), marker_at, ("sans-serif", 1));
            chart.draw_series(std::iter::once(marker("begin"))).map_err(|e| anyhow::anyhow!("chart: {e}"))?;
            if let Some(curve) = report.curves.iter().find(|c| &c.network == net) {
                let line: Vec<(f64, f64)> = curve.points.iter().map(|(c, v)| (*c as f64, *v)).collect();
                if let [single] = line[..] {
                    // A one-point "line" (offline: only the local cut) is drawn as a ring.
                    chart
                        .draw_series(std::iter::once(Circle::new(single, 8, color.stroke_width(2))))
                        .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
                }
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))
                    .map_err(|e| anyhow::anyhow!("chart: {e}"))?
                    .label(net.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
            }
            let dots: Vec<(f64, f64)> = report
                .cuts
                .iter()
                .filter(|c| &c.network == net && c.measured_ms > 0.0)
                .map(|c| (c.cut as f64, c.measured_ms))
                .collect();
            chart
                .draw_series(dots.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
            chart.draw_series(std::iter::once(marker("end"))).map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("chart: {e}"))?;
    }
    let mut out = svg;
    for net in &report.networks {
        let slug =
            report.curves.iter().find(|c| &c.network == net).map_or_else(|| slugify(net), |c| c.slug.clone());
        out = replace_text_element(
            &out,
            &format!("@@begin:{slug}@@"),
            &format!("<g id=\"series-{slug}\" class=\"series\" data-network=\"{}\">", escape(net)),
        )?;
        out = replace_text_element(&out, &format!("@@end:{slug}@@"), "</g>")?;
    }
    Ok(out)
}

fn slugify(label: &str) -> String {
    label.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// Replaces the whole `<text ...>marker</text>` element holding `marker` with `with`.
fn replace_text_element(svg: &str, marker: &str, with: &str) -> Result<String> {
    let at = svg.find(marker).with_context(|| format!("chart: marker {marker} not drawn"))?;
    let start = svg[..at].rfind("<text").with_context(|| format!("chart: no <text> around {marker}"))?;
    let end = at
        + svg[at..].find("</text>").with_context(|| format!("chart: unclosed <text> around {marker}"))?
        + "</text>".len();
    Ok(format!("{}{}{}", &svg[..start], with, &svg[end..]))
}

fn render_html(report: &DemoReport) -> Result<String> {
    let svg = chart_svg(report)?;
    let mut setup = String::from("<table id=\"networks\"><tr><th>network</th><th>emulated link</th></tr>\n");
    for net in NETWORKS {
        let _ =
            writeln!(setup, "<tr><td>{}</td><td>{}</td></tr>", escape(net.label), escape(&net.describe()));
    }
    setup.push_str("</table>\n<p class=\"small\">Each network's first request is a warm-up (it builds the parts its plan needs) and is not in the tables. Phone times, latencies and compute energy include the emulated slowdown; radio energy follows the session's energy model.</p>\n");
    let mut h = String::new();
    let right = report.decisions.iter().filter(|d| d.correct).count();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem FaceID demo</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
td.num {{ text-align: right; }}
tr.wrong td {{ background: #fdd; }}
.small {{ color: #666; font-size: 12px; }}
</style></head><body>
<h1>Tandem FaceID demo</h1>
<p id="summary">{right}/{} match decisions correct over {} networks; enrolled from {}; privacy floor: cut {} (no report below it).
Phone emulated {}x slower than this machine; the edge is this machine. Objective: {:?}.{}</p>
<h2>Setup</h2>
{setup}
<h2>Latency per cut, per network</h2>
<figure id="latency-chart">{svg}</figure>
<p class="small">Lines: the planner's predicted end-to-end latency at every cut the policy allows. Dots: measured
(the cut the planner chose for each photo, and a few forced cuts). Offline only the last cut (all on the phone) can run.</p>
"#,
        report.decisions.len(),
        report.networks.len(),
        escape(&report.enrolled.join(", ")),
        report.privacy_floor_cut,
        report.phone_slowdown,
        report.objective,
        if report.quick { " Quick run." } else { "" },
    );
    h.push_str("<h2>Decisions</h2>\n<table id=\"decisions\"><tr><th>network</th><th>photo</th><th>plan</th><th>predicted</th><th>measured</th><th>bytes up</th><th>phone energy</th><th>distance</th><th>decision</th><th>correct</th><th>why</th></tr>\n");
    for d in &report.decisions {
        let plan = match (&d.after_node, d.offloaded, &d.fallback) {
            (Some(n), true, _) => format!("cut {} (after {n})", d.cut),
            (_, _, Some(f)) => format!("local ({f})"),
            _ => "local".into(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"{}\" data-network=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{}</td><td class=\"num\">{:.0} mJ</td><td class=\"num\">{:.3}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td></tr>",
            if d.correct { "ok" } else { "wrong" },
            escape(&d.network),
            escape(&d.network),
            escape(&d.photo),
            escape(&plan),
            d.predicted_ms,
            d.measured_ms,
            kb(d.bytes_up),
            d.energy_mj,
            d.distance,
            if d.is_match { "match" } else { "no match" },
            if d.correct { "yes" } else { "NO" },
            escape(&d.reason),
        );
    }
    h.push_str("</table>\n<h2>Photos refused</h2>\n<table id=\"bad-inputs\"><tr><th>photo</th><th>message</th><th>as expected</th></tr>\n");
    for b in &report.bad_inputs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.photo),
            escape(&b.message),
            if b.correct { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(
        h,
        "<tr><td>(verify before enrolling)</td><td>{}</td><td>yes</td></tr>\n<tr><td>(force cut 0)</td><td>{}</td><td>yes</td></tr>\n</table>",
        escape(&report.not_enrolled_message),
        escape(&report.privacy_refusal)
    );
    h.push_str("<h2>Measured cuts</h2>\n<table id=\"cuts\"><tr><th>network</th><th>cut</th><th>forced</th><th>offloaded</th><th>predicted</th><th>measured</th><th>bytes up</th></tr>\n");
    for c in &report.cuts {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{}</td></tr>",
            escape(&c.network),
            c.cut,
            if c.forced { "yes" } else { "no (chosen)" },
            if c.offloaded { "yes" } else { "no" },
            c.predicted_ms,
            c.measured_ms,
            kb(c.bytes_up)
        );
    }
    let _ = write!(
        h,
        "</table>\n<p class=\"small\">Made by <code>tandem demo{}</code> in {:.1} s.</p>\n</body></html>\n",
        if report.quick { " --quick" } else { "" },
        report.elapsed_s
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_elements_are_replaced_whole() {
        let svg = r#"<svg><text x="1" y="2">@@begin:3g@@</text><circle/><text x="1">@@end:3g@@</text></svg>"#;
        let s = replace_text_element(svg, "@@begin:3g@@", "<g id=\"series-3g\">").expect("found");
        let s = replace_text_element(&s, "@@end:3g@@", "</g>").expect("found");
        assert_eq!(s, r#"<svg><g id="series-3g"><circle/></g></svg>"#);
        assert!(replace_text_element(svg, "@@begin:lte@@", "").is_err());
    }

    #[test]
    fn emulation_scales_only_the_phone() {
        let e = emulate_numbers(Emulated { phone_ms: 10.0, total_ms: 50.0, energy_mj: 30.0 }, 4.0, 2000.0);
        assert_eq!((e.phone_ms, e.total_ms), (40.0, 80.0));
        assert!((e.energy_mj - 90.0).abs() < 1e-9);
        let same = emulate_numbers(Emulated { phone_ms: 10.0, total_ms: 50.0, energy_mj: 30.0 }, 1.0, 2000.0);
        assert_eq!((same.phone_ms, same.total_ms, same.energy_mj), (10.0, 50.0, 30.0));
    }

    #[test]
    fn networks_follow_the_priors_and_offline_refuses() {
        assert_eq!(NETWORKS[0].link().uplink_mbps, 1.1);
        assert_eq!(NETWORKS[1].link().uplink_mbps, 5.85);
        assert_eq!(NETWORKS[2].link().uplink_mbps, 18.88);
        assert_eq!(NETWORKS[3].link().fault, Fault::Refuse);
        assert!(!NETWORKS[3].state().network.is_online());
    }
}
