//! # tandem-bench
//!
//! `tandem bench`: the evaluation of Neurosurgeon (ASPLOS 2017) and Edgent (2018), measured
//! end to end on this machine: a slow "phone" process, emulated mobile links, and an edge
//! server process. It measures; it does not predict.
//!
//! ```text
//!  tandem bench (orchestrator)                                     tandem edge (child)
//!  ┌───────────────────────────────┐                              ┌──────────────────┐
//!  │ link emulator: rate, RTT,     │◄── HTTP (OIP) ── phone ───►  │ unthrottled;     │
//!  │ trace-driven set_config       │                  (child,     │ profiles every   │
//!  │ results, plots, progress      │── JSON lines ──► cgroup CPU  │ cut at startup   │
//!  └───────────────────────────────┘   (protocol)     quota)      └──────────────────┘
//! ```
//!
//! 1. The edge starts and profiles every cut (within `--edge-profile-s` per model); the
//!    benchmark waits until it is idle.
//! 2. The phone process opens one [`tandem_sdk::Session`] per model at full speed, is moved
//!    into a cgroup with a CPU quota (`--slowdown`, default 4x slower than the edge; see
//!    [`throttle`]), and calibrates its device profile there.
//! 3. Per model and network, the planner (the session's own `planner::plan`, with the link's
//!    known rates) picks a cut for each objective; then every cut the oracle needs (all, or
//!    the subset of [`subset`]) is run end to end through the session with the cut forced,
//!    and the strategies are read off the same measurements ([`results`]).
//! 4. A trace-driven run ([`trace`]) changes the bandwidth every few seconds; the session
//!    plans online from its estimator, and is compared with an oracle that knows the trace.
//!
//! 5. With `--three-tiers` ([`three_tiers`]), the edge is slowed down too and forwards to an
//!    unthrottled cloud behind a second emulated link; per model and network, forced
//!    three-tier splits and the planner's three-tier choice are measured alternately with
//!    the best two-tier plan.
//!
//! 6. With `--device-classes` or `--ratios` ([`speed_sweep`]), steps 2-3 run once per phone
//!    speed against the same edge (the phone's quota changes, the phone calibrates again), and
//!    per model and network edge-only is also forced with the raw float32 input and with a JPEG
//!    input; per model x network x speed the planner's choice is compared with local-only,
//!    edge-only and JPEG edge-only, all measured.
//!
//! Outputs: `results.json`, `results.md`, SVG plots, and the edge's and the phone's logs.

pub mod device_class;
pub mod edge;
mod error;
mod markdown;
pub mod networks;
pub mod phone;
mod plots;
pub mod protocol;
pub mod results;
mod run;
mod settings;
pub mod shaper;
pub mod speed_sweep;
pub mod stats;
pub mod subset;
mod sweep;
pub mod three_tiers;
pub mod throttle;
pub mod trace;

use std::path::PathBuf;

pub use error::BenchError;
pub use results::Results;

/// `tandem bench`: the measured evaluation. Without a subcommand it runs the benchmark.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchCli {
    /// Internal roles the benchmark starts itself.
    #[command(subcommand)]
    pub role: Option<BenchRole>,
    /// The benchmark's options.
    #[command(flatten)]
    pub args: BenchArgs,
}

/// The processes the benchmark starts by running its own executable again.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BenchRole {
    /// The phone process (driven over stdin/stdout by the benchmark; not for people).
    #[command(hide = true)]
    Phone,
}

/// How the CPU of the phone is slowed down.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleChoice {
    /// A cgroup CPU quota (v1, else v2's `cpu.max`) when writable, else the
    /// calibrated-slowdown mode.
    Auto,
    /// A cgroup CPU quota (v1 or v2); fail if neither is writable.
    Cgroup,
    /// The calibrated-slowdown mode (sleep after each request).
    Sleep,
}

/// Who enforces the link rates.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaperChoice {
    /// The link emulator (a loopback proxy) does rates and round trips.
    Linkemu,
    /// Token-bucket qdiscs on a veth pair into a network namespace (root); the emulator adds
    /// the round trip.
    Kernel,
}

/// Which cuts the oracle measures.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutsChoice {
    /// Every cut.
    All,
    /// The bytes staircase, the ends and the planner's choices (see the `subset` module).
    Subset,
}

/// The options of `tandem bench`. Defaults marked quick/full depend on `--quick`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The short run: committed models only, a subset of cuts, 3 runs, a 20 s trace; under
    /// 3 minutes on a 2-core machine (release build).
    #[arg(long)]
    pub quick: bool,
    /// Where results.json, results.md, the plots and the logs go.
    #[arg(long, value_name = "DIR", default_value = "bench-results")]
    pub out: PathBuf,
    /// Models by name (looked up as NAME.onnx in the --models-dir directories) or path,
    /// comma separated [quick: face_embedder,mobilenetv2; full: also resnet18,alexnet,vgg16].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub models: Vec<String>,
    /// Directories to look models up in, in order; repeatable.
    #[arg(long = "models-dir", value_name = "DIR", default_value = "models")]
    pub models_dirs: Vec<PathBuf>,
    /// Load model NAME for these input shapes, in its input order (`NAME=1x16,1x16`), on the
    /// phone and the edge: needed for a model whose inputs have symbolic dimensions (as
    /// `tandem edge --input-shape`); repeatable.
    #[arg(long = "input-shape", value_name = "NAME=SHAPES", value_parser = tandem_sdk::util::parse_input_shapes)]
    pub input_shapes: Vec<(String, Vec<Vec<usize>>)>,
    /// Networks, comma separated, from cat1, 3g, lte, wifi.
    #[arg(long, value_name = "LIST", default_value = "cat1,3g,lte,wifi")]
    pub networks: String,
    /// How many times slower than this machine's tract the phone is (the edge runs at this
    /// machine's speed, with its fastest engine: ONNX Runtime when found, see `tandem edge
    /// --engine`).
    #[arg(long, default_value_t = 4.0)]
    pub slowdown: f64,
    /// The phone's speed from a device-class preset instead of --slowdown: flagship (1x),
    /// mid-range (6.1x), low-end (37.8x), wearable (54.3x); derived from published
    /// latencies, see docs/PERFORMANCE.md.
    #[arg(long, value_name = "NAME", conflicts_with = "slowdown")]
    pub device_class: Option<String>,
    /// Sweep the phone's speed over device classes, comma separated (e.g.
    /// `flagship,mid-range,low-end,wearable`): the static sweep runs once per class against
    /// the same edge, and per model x network x class the planner's choice is compared,
    /// measured, with local-only, edge-only and edge-only with a JPEG input (see
    /// `speed_sweep`). The top-level results, the trace and the plots per cut are the last
    /// class's.
    #[arg(long, value_delimiter = ',', value_name = "LIST", conflicts_with_all = ["slowdown", "device_class", "ratios"])]
    pub device_classes: Vec<String>,
    /// Sweep the phone's speed over phone/edge slowdown ratios, comma separated (e.g.
    /// `2,4,8,16,32`), as --device-classes does over classes.
    #[arg(long, value_delimiter = ',', value_name = "LIST", conflicts_with_all = ["slowdown", "device_class"])]
    pub ratios: Vec<f64>,
    /// The photo the phone's image inputs are made from (through the model sidecar's
    /// `preprocessing`; models without one get seeded random inputs) [default: with
    /// --device-classes or --ratios, models/photos/astronaut.jpg when it exists; else seeded
    /// random inputs]. A JPEG baseline on random noise would be unfairly large.
    #[arg(long, value_name = "FILE")]
    pub input_image: Option<PathBuf>,
    /// How the phone is slowed down.
    #[arg(long, value_enum, default_value_t = ThrottleChoice::Auto)]
    pub throttle: ThrottleChoice,
    /// Who enforces the link rates.
    #[arg(long, value_enum, default_value_t = ShaperChoice::Linkemu)]
    pub shaper: ShaperChoice,
    /// Reported runs per measured cut and network.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Which cuts the oracle measures [quick: subset, full: all].
    #[arg(long, value_enum)]
    pub cuts: Option<CutsChoice>,
    /// At most this many cuts per model in the subset (the planner's cuts always count).
    #[arg(long)]
    pub max_oracle_cuts: Option<usize>,
    /// The subset skips staircase steps that save less than this fraction of the bytes.
    #[arg(long, default_value_t = 0.05)]
    pub min_bytes_drop: f64,
    /// A measurement is capped at max(cap_factor x local-only, local-only + cap_floor_ms).
    #[arg(long, default_value_t = 2.5)]
    pub cap_factor: f64,
    /// See --cap-factor, ms.
    #[arg(long, default_value_t = 500.0)]
    pub cap_floor_ms: f64,
    /// Edge-only (cut 0) may take this long before it is capped, s [quick: 5, full: 60].
    #[arg(long)]
    pub edge_only_cap_s: Option<f64>,
    /// Seconds per model the edge may spend profiling its cuts before the run [quick: 10,
    /// full: 60].
    #[arg(long)]
    pub edge_profile_s: Option<f64>,
    /// Cuts the phone's calibration times (the rest interpolated) [quick: 16, full: 24].
    #[arg(long)]
    pub calibration_cuts: Option<usize>,
    /// Length of each trace-driven run, s; 0 skips the trace [quick: 20, full: 120].
    #[arg(long)]
    pub trace_s: Option<f64>,
    /// The trace's bandwidth changes every this many seconds [quick: 2.5, full: 4].
    #[arg(long)]
    pub segment_s: Option<f64>,
    /// In the trace, a request starts every this many ms (or when the previous one ends).
    #[arg(long, default_value_t = 250.0)]
    pub period_ms: f64,
    /// The trace's deadline, ms [default: 1.25 x the model's measured local-only latency].
    #[arg(long)]
    pub deadline_ms: Option<f64>,
    /// The model of the trace-driven run [default: mobilenetv2 if run, else the first].
    #[arg(long)]
    pub trace_model: Option<String>,
    /// Seed of the trace's Markov chain.
    #[arg(long, default_value_t = 9)]
    pub seed: u64,
    /// Offloads (cut 0, unshaped link) each session makes before the planner is asked, so
    /// its view of the edge's load and speed comes from serving; 0 plans from the edge's
    /// startup profile alone.
    #[arg(long, default_value_t = 5)]
    pub settle_requests: usize,
    /// Three tiers: also start a cloud (`tandem edge`, unthrottled) behind an emulated link,
    /// slow the edge down (--edge-slowdown) and point it at the cloud, and measure forced
    /// three-tier splits and the planner's three-tier choice against the two-tier plans.
    #[arg(long)]
    pub three_tiers: bool,
    /// With --three-tiers: how many times slower than the cloud the edge is (a cgroup CPU
    /// quota on the edge process; without a writable cgroup the edge runs at full speed,
    /// and the results say so). Give --slowdown above it: the phone is the slowest tier.
    #[arg(long, default_value_t = 4.0)]
    pub edge_slowdown: f64,
    /// With --three-tiers: the edge-to-cloud link's rate each way, Mbps.
    #[arg(long, default_value_t = 50.0)]
    pub cloud_mbps: f64,
    /// With --three-tiers: the edge-to-cloud link's round trip, ms.
    #[arg(long, default_value_t = 20.0)]
    pub cloud_rtt_ms: f64,
    /// With --three-tiers: the cloud cuts forced after cut 0, comma separated [default: 1,
    /// last/4, last/2].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub cloud_cuts: Vec<usize>,
}

/// Runs `tandem bench` (or, with the hidden `phone` role, the phone process).
pub fn main(cli: BenchCli) -> Result<(), BenchError> {
    match cli.role {
        Some(BenchRole::Phone) => phone::phone_main(),
        None => {
            let results = run::run_bench(&cli.args)?;
            let s = &results.summary;
            eprintln!(
                "tandem bench: {} model(s) x {} network(s) in {:.0} s; regret median {} worst {}; with the online \
                 estimator median {} worst {}; results in {}",
                results.models.len(),
                results.setup.networks.len(),
                results.setup.duration_s,
                s.regret_median.map_or("-".into(), |r| format!("{r:.3}")),
                s.regret_max.map_or("-".into(), |r| format!("{r:.3}")),
                s.regret_estimated_median.map_or("-".into(), |r| format!("{r:.3}")),
                s.regret_estimated_max.map_or("-".into(), |r| format!("{r:.3}")),
                cli.args.out.display()
            );
            if let Some(sw) = &results.speed_sweep {
                for p in &sw.summary {
                    eprintln!(
                        "phone {}: plans local/split/edge {}/{}/{}; speedup geomean vs local-only {}, vs edge-only {}, \
                         vs JPEG edge-only {}",
                        p.speed.label(),
                        p.local_plans,
                        p.split_plans,
                        p.edge_plans,
                        p.speedup_vs_local_geomean.map_or("-".into(), |r| format!("{r:.2}x")),
                        p.speedup_vs_edge_geomean.map_or("-".into(), |r| format!("{r:.2}x")),
                        p.speedup_vs_edge_jpeg_geomean.map_or("-".into(), |r| format!("{r:.2}x")),
                    );
                }
            }
            if let Some(t) = &results.three_tiers {
                eprintln!(
                    "three tiers: beat the best two-tier plan in {} of {} cell(s); edge throttle: {}",
                    t.summary.wins, t.summary.compared, t.setup.edge_throttle_detail
                );
            }
            Ok(())
        }
    }
}
