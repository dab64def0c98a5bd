//! `tandem demo`: the FaceID-style demo, fully local on this machine.
//!
//! One process plays every part:
//! - the **edge**: an embedded `tandem-edge` server on loopback serving `face_embedder.onnx`;
//! - the **network**: the link emulator between the phone and the edge, switched between 3G,
//!   LTE, Wi-Fi (each at its [`tandem_linkemu::presets`] rates and round trip, the ones
//!   `tandem bench` uses: Neurosurgeon's measured uplinks) and offline (connections refused,
//!   platform says "no network");
//! - the **phone**: BlazeFace detection and alignment (always local: the detector is small),
//!   then the embedder through a Tandem session that picks the cut per request, with the
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
//!
//! The parts: `scenario` (networks, photos, cuts), `running` (the run itself), `report`
//! (`report.json`'s schema and the emulated phone's numbers), `html` (`report.html`).

mod html;
mod report;
mod running;
mod scenario;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tandem_sdk::Objective;

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
    /// How many times slower than this machine's tract the emulated phone computes, in every
    /// scenario (1: not emulated); overrides --device-class and the scenarios' classes.
    #[arg(long)]
    phone_slowdown: Option<f64>,
    /// The phone's device class in every scenario: flagship, mid-range, low-end or wearable
    /// (default: each scenario's own; see docs/PERFORMANCE.md for where the presets come from).
    #[arg(long, value_name = "NAME")]
    device_class: Option<String>,
    /// What the planner optimises in every scenario: latency, energy or balanced (default:
    /// each scenario's own).
    #[arg(long)]
    objective: Option<Objective>,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

/// Runs the demo; fails unless every decision is right.
pub fn run(args: DemoArgs) -> Result<()> {
    if let Some(x) = args.phone_slowdown {
        if !(x.is_finite() && (1.0..=100.0).contains(&x)) {
            bail!("--phone-slowdown {x}: expected 1 to 100");
        }
    }
    if let Some(name) = &args.device_class {
        tandem_bench::device_class::device_class(name).map_err(|e| anyhow::anyhow!("--device-class: {e}"))?;
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
    let report = runtime.block_on(running::demo(&args, &models))?;
    let html = html::render_html(&report)?;
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
    let over: Vec<String> = report
        .scenarios
        .iter()
        .filter(|r| !r.within_limit)
        .map(|r| format!("{} ({:.2}x)", r.label, r.ratio_to_best))
        .collect();
    if !over.is_empty() {
        bail!(
            "the chosen plan measured more than {}x the best measured way in: {}; see {}",
            running::LIMIT_RATIO,
            over.join(", "),
            html_path.display()
        );
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
