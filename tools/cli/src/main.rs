//! `tandem`: see a model's cuts, check and time split execution, run a model split at a cut.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tandem_model::npy;
use tandem_sdk::{check, Executor, LoadOptions, Model, NamedTensor};

mod calibrate;
mod demo;
mod export;
mod images;
mod infer;
mod plan;

#[derive(Parser)]
#[command(name = "tandem", version, about = "Split DNN inference between a phone and the edge")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve models over the Open Inference Protocol: the edge half of split inference.
    Edge(Box<tandem_edge::cli::EdgeArgs>),
    /// Measure the papers' evaluation on an emulated phone, links and edge (docs/PERFORMANCE.md).
    Bench(Box<tandem_bench::BenchCli>),
    /// List every place the model can be cut, with the tensors and bytes crossing it.
    Cuts {
        #[command(flatten)]
        model: ModelArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run every cut's two parts and compare with the whole model; fails on any mismatch.
    Verify {
        #[command(flatten)]
        model: ModelArgs,
        /// Largest accepted absolute difference between split and whole outputs.
        #[arg(long, default_value_t = 1e-4)]
        tolerance: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole model, or the two parts of one cut, on .npy input(s) (any numeric dtype).
    Run {
        #[command(flatten)]
        model: ModelArgs,
        /// Where to write the (first) output as .npy.
        #[arg(long)]
        output: PathBuf,
        /// Run split at this cut instead of whole.
        #[arg(long)]
        cut: Option<usize>,
    },
    /// Run one request through an offload session (phone, edge, fallback) and print its report.
    Infer(Box<infer::InferArgs>),
    /// The FaceID demo, fully local: enroll a face, verify photos over emulated 3G, LTE,
    /// Wi-Fi and offline, write report.html.
    Demo(Box<demo::DemoArgs>),
    /// Write the part after chosen cuts as a Triton/KServe model repository, with a manifest.
    Export(Box<export::ExportArgs>),
    /// Measure each cut's two parts on this machine (warm-up, then the median of runs).
    Profile {
        #[command(flatten)]
        model: ModelArgs,
        /// Timed runs per part.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Write the device profile (part before each cut) for `tandem plan --device-profile`.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Write an edge profile (part after each cut) for `tandem plan --edge-profile`.
        #[arg(long, value_name = "FILE")]
        save_edge: Option<PathBuf>,
    },
    /// Plan a request: where to cut, which exit and encoding, for a link and phone state.
    Plan(Box<plan::PlanArgs>),
    /// Measure every cut and codec on representative inputs (fidelity, encoded bytes,
    /// encode/decode time) and write the model's sidecar, MODEL.tandem.json.
    Calibrate(Box<calibrate::CalibrateArgs>),
}

#[derive(Args)]
struct ModelArgs {
    /// The ONNX model file.
    model: PathBuf,
    /// Input .npy file(s), one per model input in order; also fixes the input shape.
    /// Without it, a seeded random input of the model's declared shape is used.
    #[arg(long)]
    input: Vec<PathBuf>,
}

impl ModelArgs {
    fn load(&self) -> Result<(Arc<Model>, Option<Vec<NamedTensor>>)> {
        let given = if self.input.is_empty() {
            None
        } else {
            Some(self.input.iter().map(|p| npy::read_npy(p, "")).collect::<Result<Vec<_>, _>>()?)
        };
        let options = LoadOptions {
            input_shapes: given.as_ref().map(|ts| ts.iter().map(|t| t.shape.clone()).collect()),
        };
        let model = Model::load(&self.model, &options)?;
        let given = given.map(|ts| {
            ts.into_iter()
                .zip(model.inputs())
                .map(|(t, spec)| NamedTensor { name: spec.name.clone(), ..t })
                .collect()
        });
        Ok((Arc::new(model), given))
    }

    fn load_with_input(&self) -> Result<(Arc<Model>, Vec<NamedTensor>)> {
        let (model, given) = self.load()?;
        let inputs = given.unwrap_or_else(|| check::seeded_inputs(model.inputs()));
        Ok((model, inputs))
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Edge(args) => Ok(tandem_edge::cli::serve(*args)?),
        Command::Bench(args) => Ok(tandem_bench::main(*args)?),
        Command::Cuts { model, json } => cuts(&model, json),
        Command::Verify { model, tolerance, json } => verify(&model, tolerance, json),
        Command::Run { model, output, cut } => run_model(&model, &output, cut),
        Command::Profile { model, runs, json, save, save_edge } => {
            profile(&model, runs, json, save.as_deref(), save_edge.as_deref())
        }
        Command::Plan(args) => plan::run(*args),
        Command::Export(args) => export::run(*args),
        Command::Demo(args) => demo::run(*args),
        Command::Infer(args) => infer::run(*args),
        Command::Calibrate(args) => calibrate::run(*args),
    }
}

fn cuts(args: &ModelArgs, json: bool) -> Result<()> {
    let (model, _) = args.load()?;
    if json {
        println!("{}", serde_json::to_string_pretty(model.cuts())?);
        return Ok(());
    }
    println!("{} ({})", model.path().display(), &model.hash()[..16]);
    println!(
        "{:>4}  {:>12}  {:<11}  {:>14}  {:>14}  {:<28} tensors",
        "cut", "bytes", "dtype", "macs_before", "macs_after", "after node"
    );
    for c in model.cuts() {
        // The element types crossing, e.g. `FP32` or `UINT8` (after a QuantizeLinear) or `FP32+BOOL`.
        let dtypes: Vec<String> = c.bytes_by_dtype.keys().map(|d| d.to_string()).collect();
        println!(
            "{:>4}  {:>12}  {:<11}  {:>14}  {:>14}  {:<28} {}",
            c.id,
            c.bytes,
            dtypes.join("+"),
            c.macs_before,
            c.macs_after,
            c.after_node.as_deref().unwrap_or("(input)"),
            c.tensor_names().join(", ")
        );
    }
    let floor = model.privacy_floor();
    println!(
        "privacy floor (--keep-raw-input): cut {floor}, after {}: every cut before it sends the input \
         or the input after only casts, scales, shifts, transposes or pads",
        model.cuts()[floor].after_node.as_deref().unwrap_or("(input)")
    );
    Ok(())
}

fn verify(args: &ModelArgs, tolerance: f64, json: bool) -> Result<()> {
    let (model, inputs) = args.load_with_input()?;
    let exec = Executor::new(model.clone());
    let checks = check::verify(&exec, &inputs, |c| {
        if !json {
            eprintln!("cut {:>4}: {} tensor(s), max_abs_diff {:.3e}", c.id, c.tensors, c.max_abs_diff);
        }
    })?;
    let max = checks.iter().map(|c| c.max_abs_diff).fold(0.0, f64::max);
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    }
    let bad: Vec<usize> = checks
        .iter()
        .filter(|c| c.max_abs_diff.is_nan() || c.max_abs_diff > tolerance)
        .map(|c| c.id)
        .collect();
    if !bad.is_empty() {
        bail!("{} cut(s) differ from the whole model by more than {tolerance:e}: {bad:?}", bad.len());
    }
    println!("verified {} cuts, max_abs_diff {max:.3e}", checks.len());
    Ok(())
}

fn run_model(args: &ModelArgs, output: &Path, cut: Option<usize>) -> Result<()> {
    if args.input.is_empty() {
        bail!("`tandem run` needs --input IN.npy");
    }
    let (model, inputs) = args.load_with_input()?;
    let exec = Executor::new(model);
    let outputs = match cut {
        None => exec.run_full(&inputs)?,
        Some(cut) => {
            let crossing = exec.run_before(cut, &inputs)?;
            exec.run_after(cut, &crossing)?
        }
    };
    let first = outputs.first().context("the model produced no output")?;
    npy::write_npy(output, first)?;
    eprintln!("wrote `{}` {:?} to {}", first.name, first.shape, output.display());
    Ok(())
}

fn profile(
    args: &ModelArgs,
    runs: usize,
    json: bool,
    save: Option<&Path>,
    save_edge: Option<&Path>,
) -> Result<()> {
    let (model, inputs) = args.load_with_input()?;
    let exec = Executor::new(model.clone());
    let timings = check::profile(&exec, &inputs, runs, |t| {
        if !json {
            println!(
                "cut {:>4}: before {:>8.3} ms  after {:>8.3} ms  {:>10} bytes  (build {:.0} + {:.0} ms)",
                t.id, t.before_ms, t.after_ms, t.bytes, t.before_build_ms, t.after_build_ms
            );
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&timings)?);
    }
    plan::save_profiles(&model, &timings, save, save_edge)
}
