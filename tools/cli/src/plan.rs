//! `tandem plan`: what the planner would do for a model on a given link and phone state, with
//! the per-cut cost table; and `tandem profile --save`: the device profile it reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use tandem_sdk::devprofile::{self, DeviceProfile};
use tandem_sdk::encoding::Encoding;
use tandem_sdk::energy::{EnergyModel, TailCharge};
use tandem_sdk::planner::{self, Constraints, CutCost, Plan};
use tandem_sdk::{
    check, Cut, EdgeProfile, Executor, LinkEstimate, Model, ModelMeta, NamedTensor, NetworkKind, Objective,
    PlanInput, PlatformState, Policy, ThermalState,
};

/// `tandem plan`: see `docs/PLANNER.md`.
#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    model: crate::ModelArgs,
    /// Uplink (phone to edge) throughput, Mbps.
    #[arg(long)]
    uplink_mbps: f64,
    /// Downlink throughput, Mbps (default: the uplink's).
    #[arg(long)]
    downlink_mbps: Option<f64>,
    /// Round trip to the edge, ms.
    #[arg(long)]
    rtt_ms: f64,
    /// The network: wifi, lte (or cat1), 3g, 2g, 5g, ethernet, none. Selects the radio's power
    /// model.
    #[arg(long, default_value = "wifi")]
    network: NetworkKind,
    /// Battery level, 0..1.
    #[arg(long)]
    battery: Option<f32>,
    /// The phone is charging.
    #[arg(long)]
    charging: bool,
    /// Low-power (battery saver) mode is on.
    #[arg(long)]
    low_power: bool,
    /// Thermal state: nominal, fair, serious, critical.
    #[arg(long, default_value = "nominal", value_parser = parse_thermal)]
    thermal: ThermalState,
    /// The network is metered.
    #[arg(long)]
    metered: bool,
    /// The policy forbids offloading over metered networks.
    #[arg(long)]
    forbid_metered: bool,
    /// What to optimise: latency, energy or balanced.
    #[arg(long, default_value = "balanced")]
    objective: Objective,
    /// Deadline, ms: the most accurate exit and cut that meet it win.
    #[arg(long)]
    deadline_ms: Option<f64>,
    /// Privacy floor: never cut before this cut.
    #[arg(long, default_value_t = 0)]
    min_cut: usize,
    /// Never send the raw input, nor anything as revealing: raises the privacy floor (`--min-cut`)
    /// to the floor computed from the model's graph (after its first non-pixel-transform layer).
    #[arg(long)]
    keep_raw_input: bool,
    /// Force the cut (the planner's own costs for it; the plan's adjustments say what the
    /// planner would have chosen, or why the cut was refused).
    #[arg(long)]
    cut: Option<usize>,
    /// The cuts the edge can take a request at, comma-separated (a plain OIP edge serves only
    /// the exported cuts); default: any.
    #[arg(long, value_delimiter = ',')]
    offloadable_cuts: Option<Vec<usize>>,
    /// Encodings allowed for the crossing tensors (comma-separated). Packed codecs (int8_channel,
    /// int8_lz4, int8_zstd, int4_zstd) are used only at cuts the sidecar calibrated.
    #[arg(long, value_delimiter = ',', default_value = "fp32,fp16,int8,int8_channel,int8_lz4,int8_zstd,int4_zstd", value_parser = parse_encoding)]
    encodings: Vec<Encoding>,
    /// The edge's profile: the body of `GET /v2/models/{m}/profile`, or a file written by
    /// `tandem profile --save-edge`. Without it, the edge is taken to be `--edge-speedup`
    /// times faster than the device profile.
    #[arg(long)]
    edge_profile: Option<PathBuf>,
    /// How much faster than the phone the edge is, when there is no `--edge-profile`.
    #[arg(long, default_value_t = 4.0)]
    edge_speedup: f64,
    /// The phone's profile (from `tandem profile --save`). Without it, one whole run on this
    /// machine is measured and spread over the cuts by multiply-accumulates.
    #[arg(long)]
    device_profile: Option<PathBuf>,
    /// Energy model overrides (JSON, any subset of the fields of `EnergyModel`).
    #[arg(long)]
    energy_model: Option<PathBuf>,
    /// Charge each request only this many ms of the radio's tail (requests this far apart).
    #[arg(long)]
    tail_interval_ms: Option<f64>,
    /// Do not charge the radio's tail.
    #[arg(long, conflicts_with = "tail_interval_ms")]
    no_tail: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_thermal(s: &str) -> Result<ThermalState, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("unknown thermal state `{s}`: nominal, fair, serious or critical"))
}

fn parse_encoding(s: &str) -> Result<Encoding, String> {
    Encoding::from_wire_name(s)
        .ok_or_else(|| format!("unknown encoding `{s}`: one of {:?}", Encoding::ALL.map(Encoding::wire_name)))
}

/// The JSON `tandem plan --json` prints.
#[derive(Serialize)]
struct PlanOutput<'a> {
    cut: usize,
    exit: Option<&'a str>,
    encoding: Encoding,
    bytes_up: u64,
    latency_ms: f64,
    energy_mj: f64,
    reason: &'a str,
    deadline_met: Option<bool>,
    table: &'a [CutCost],
    plan: &'a Plan,
    device_profile: &'a str,
    edge_profile: &'a str,
}

/// Runs `tandem plan`.
pub fn run(args: PlanArgs) -> Result<()> {
    let (model, inputs) = args.model.load_with_input()?;
    let cuts = model.cuts();
    let (device, device_source) = device_profile(&args, &model, &inputs)?;
    let (edge, edge_source) = edge_profile(&args, &device, cuts)?;
    let meta = ModelMeta::load_beside_checked(model.path(), model.hash())?;
    let energy = energy_model(&args)?;
    let link =
        LinkEstimate::fixed(args.uplink_mbps, args.downlink_mbps.unwrap_or(args.uplink_mbps), args.rtt_ms);
    let platform = PlatformState {
        network: args.network,
        network_id: args.network.name().into(),
        metered: args.metered,
        battery_level: args.battery,
        charging: Some(args.charging),
        low_power: args.low_power,
        thermal: args.thermal,
    };
    let policy = Policy {
        objective: args.objective,
        deadline_ms: args.deadline_ms,
        min_cut: args.min_cut,
        keep_raw_input_on_device: args.keep_raw_input,
        allow_metered: !args.forbid_metered,
        encodings: args.encodings.clone(),
        ..Policy::default()
    };
    let plan = planner::plan(&PlanInput {
        cuts,
        device: &device,
        edge: Some(&edge),
        cloud: None,
        link: &link,
        platform: &platform,
        energy: &energy,
        policy: &policy,
        meta: meta.as_ref(),
        constraints: Constraints {
            forced_cut: args.cut,
            offloadable_cuts: args.offloadable_cuts.clone(),
            ..Default::default()
        },
    })?;

    if args.json {
        let out = PlanOutput {
            cut: plan.cut,
            exit: plan.exit.as_deref(),
            encoding: plan.encoding,
            bytes_up: plan.predicted.bytes_up,
            latency_ms: plan.predicted.total_ms,
            energy_mj: plan.predicted.energy_mj,
            reason: &plan.reason,
            deadline_met: plan.deadline_met,
            table: &plan.codec_table,
            plan: &plan,
            device_profile: &device_source,
            edge_profile: &edge_source,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} ({})", model.path().display(), &model.hash()[..16]);
    println!("device profile: {device_source}");
    println!("edge profile:   {edge_source}");
    println!(
        "link: {} up {:.2} Mbps, down {:.2} Mbps, rtt {:.1} ms",
        args.network, link.uplink_mbps, link.downlink_mbps, link.rtt_ms
    );
    print_plan(&plan);
    Ok(())
}

/// The phone's profile, from `--device-profile` or estimated by running the model here, and
/// where it came from.
fn device_profile(
    args: &PlanArgs,
    model: &Arc<Model>,
    inputs: &[NamedTensor],
) -> Result<(DeviceProfile, String)> {
    let cuts = model.cuts();
    if let Some(path) = &args.device_profile {
        let p = DeviceProfile::load(path)?;
        if p.model_hash != model.hash() {
            bail!("{}: the device profile is for another model file", path.display());
        }
        p.validate(cuts.len()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let what = if p.measured { "measured" } else { "estimated" };
        return Ok((p, format!("{} ({what})", path.display())));
    }
    let exec = Executor::new(model.clone());
    let device_name = devprofile::device_name();
    let p = DeviceProfile::estimate_by_running(&exec, inputs, 3, &device_name, args.thermal)?;
    let full = p.before_ms.last().copied().unwrap_or(0.0);
    Ok((p, format!("estimated: one whole run on this machine ({full:.2} ms) spread by multiply-accumulates")))
}

/// The edge's profile, from `--edge-profile` or the phone's scaled by `--edge-speedup`, and
/// where it came from.
fn edge_profile(args: &PlanArgs, device: &DeviceProfile, cuts: &[Cut]) -> Result<(EdgeProfile, String)> {
    if let Some(path) = &args.edge_profile {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let e: EdgeProfile = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an edge profile", path.display()))?;
        return Ok((e, path.display().to_string()));
    }
    if !(args.edge_speedup.is_finite() && args.edge_speedup > 0.0) {
        bail!("--edge-speedup must be positive");
    }
    Ok((
        device.scaled_edge_profile(cuts, args.edge_speedup),
        format!("the device profile / {}", args.edge_speedup),
    ))
}

/// The energy model of `--energy-model` (or the default), with the tail flags applied.
fn energy_model(args: &PlanArgs) -> Result<EnergyModel> {
    let mut energy = match &args.energy_model {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{}: not an energy model", path.display()))?,
        None => EnergyModel::default(),
    };
    if args.no_tail {
        energy.tail = TailCharge::None;
    } else if let Some(interval_ms) = args.tail_interval_ms {
        energy.tail = TailCharge::Interval { interval_ms };
    }
    Ok(energy)
}

/// The per-cut table (`<` the chosen cut, `x` a cut the edge cannot take) and the plan.
fn print_plan(plan: &Plan) {
    println!();
    println!(
        "{:>4} {:>12} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "cut", "enc", "bytes_up", "phone_ms", "up_ms", "edge_ms", "down_ms", "latency_ms", "energy_mj"
    );
    for r in &plan.table {
        let mark = if r.cut == plan.cut {
            "<"
        } else if !r.allowed {
            "x"
        } else {
            ""
        };
        println!(
            "{:>4} {:>12} {:>11} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2} {:>10.1} {mark}",
            r.cut,
            r.encoding.wire_name(),
            r.bytes_up,
            r.phone_ms,
            r.upload_ms,
            r.edge_ms,
            r.download_ms,
            r.latency_ms,
            r.energy_mj
        );
    }
    println!();
    println!(
        "plan: cut {}{}, {}, {} bytes up, {:.2} ms, {:.1} mJ{}",
        plan.cut,
        plan.exit.as_deref().map(|e| format!(" exit {e}")).unwrap_or_default(),
        plan.encoding,
        plan.predicted.bytes_up,
        plan.predicted.total_ms,
        plan.predicted.energy_mj,
        plan.accuracy.map(|a| format!(", accuracy {:.2}%", a * 100.0)).unwrap_or_default()
            + &plan.fidelity.as_deref().map(|f| format!(", calibrated {f}")).unwrap_or_default()
    );
    println!("why:  {}", plan.reason);
}

/// `tandem profile --save/--save-edge`: writes the device profile (the part before each cut,
/// read by `tandem plan --device-profile` and the session) and the edge profile (the part
/// after each cut, for when this machine is the edge) from the timings just measured.
pub fn save_profiles(
    model: &tandem_sdk::Model,
    timings: &[check::CutTiming],
    save: Option<&Path>,
    save_edge: Option<&Path>,
) -> Result<()> {
    if let Some(path) = save {
        let thermal = {
            use tandem_sdk::PlatformSignals;
            tandem_sdk::platform::LinuxSignals::new().state().thermal
        };
        DeviceProfile::from_timings(model.hash(), &devprofile::device_name(), timings, thermal).save(path)?;
        eprintln!("wrote the device profile to {}", path.display());
    }
    if let Some(path) = save_edge {
        let name = model.path().file_stem().and_then(|s| s.to_str()).unwrap_or("model");
        let edge = EdgeProfile::from_timings(name, model.hash(), model.cuts(), timings);
        std::fs::write(path, serde_json::to_string_pretty(&edge)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the edge profile to {}", path.display());
    }
    Ok(())
}
