//! `tandem infer`: one request through an offload session (plan, phone part, edge, fallback),
//! printed with its report.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use tandem_model::npy;
use tandem_sdk::encoding::Encoding;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{
    check, DeviceProfile, EdgeEndpoint, InferOptions, LoadOptions, NamedTensor, NetworkKind, Objective,
    PlatformState, Policy, Session, SessionConfig,
};

/// `tandem infer`: see `docs/SESSION.md`.
#[derive(Args)]
pub struct InferArgs {
    #[command(flatten)]
    model: crate::ModelArgs,
    /// The edge's base URL: http://HOST:PORT or https://HOST:PORT.
    #[arg(long)]
    edge: String,
    /// Where to write the (first) output as .npy.
    #[arg(long)]
    output: Option<PathBuf>,
    /// File holding the edge's bearer token.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Extra root certificate (PEM) to trust for an https:// edge.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// The name the edge serves the model under (default: the model file's stem).
    #[arg(long)]
    model_name: Option<String>,
    /// What to optimise: latency, energy or balanced.
    #[arg(long, default_value = "balanced")]
    objective: Objective,
    /// Deadline, ms: the edge is given up on when finishing locally would still meet it.
    #[arg(long)]
    deadline_ms: Option<f64>,
    /// Force this cut instead of the planner's choice (experts and tests).
    #[arg(long)]
    cut: Option<usize>,
    /// Three tiers: force this cloud cut (after --cut): the edge runs up to it and the cloud
    /// server behind it (`tandem edge --cloud URL`) the rest.
    #[arg(long)]
    cloud_cut: Option<usize>,
    /// Force the encoding of the crossing tensors: fp32, fp16, int8, or a packed codec
    /// (int8_channel, int8_lz4, int8_zstd, int4_zstd, jpeg at an image cut).
    #[arg(long, value_parser = parse_encoding)]
    encoding: Option<Encoding>,
    /// Never send the raw input, nor anything as revealing (the privacy floor computed from the
    /// model's graph: after the first layer that is not a cast, scale, shift, transpose or pad).
    #[arg(long)]
    keep_raw_input: bool,
    /// Plan as if on this network (wifi, lte, 3g, 5g, ethernet, none); default: what this
    /// machine's /sys says.
    #[arg(long)]
    network: Option<NetworkKind>,
    /// The phone's profile (from `tandem profile --save`); default: an estimate from
    /// multiply-accumulates.
    #[arg(long, value_name = "FILE")]
    device_profile: Option<PathBuf>,
    /// How long to wait for the edge's model check before running locally, ms.
    #[arg(long, default_value_t = 5_000)]
    connect_wait_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_encoding(s: &str) -> Result<Encoding, String> {
    Encoding::from_wire_name(s).ok_or_else(|| {
        format!("unknown encoding `{s}`: expected one of {:?}", Encoding::ALL.map(Encoding::wire_name))
    })
}

/// Runs `tandem infer`.
pub fn run(args: InferArgs) -> Result<()> {
    let given: Vec<NamedTensor> = args
        .model
        .input
        .iter()
        .map(|p| npy::read_npy(p, ""))
        .collect::<Result<_, _>>()
        .context("reading --input")?;
    let load_options = LoadOptions {
        input_shapes: (!given.is_empty()).then(|| given.iter().map(|t| t.shape.clone()).collect()),
    };
    let mut endpoint = EdgeEndpoint::new(&args.edge);
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if token.trim().is_empty() {
            bail!("{}: the token file is empty", path.display());
        }
        endpoint = endpoint.with_token(token.trim());
    }
    if let Some(path) = &args.ca_cert {
        endpoint =
            endpoint.with_ca_pem(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    if let Some(name) = &args.model_name {
        endpoint = endpoint.with_model_name(name);
    }
    let policy = Policy {
        objective: args.objective,
        deadline_ms: args.deadline_ms,
        keep_raw_input_on_device: args.keep_raw_input,
        ..Policy::default()
    };
    // One request: no background calibration or probing to compete with it.
    let config = SessionConfig {
        calibrate: false,
        auto_probe: false,
        connect_wait_ms: args.connect_wait_ms,
        ..Default::default()
    };
    let mut builder = Session::builder(&args.model.model)
        .edge(endpoint)
        .policy(policy)
        .config(config)
        .load_options(load_options);
    if let Some(kind) = args.network {
        let state = PlatformState {
            network: kind,
            network_id: format!("cli-{}", kind.name()),
            metered: matches!(kind, NetworkKind::Cellular(_)),
            ..Default::default()
        };
        builder = builder.signals(Arc::new(FixedSignals::new(state)));
    }
    if let Some(path) = &args.device_profile {
        builder = builder.device_profile(DeviceProfile::load(path)?);
    }
    let session = builder.build()?;
    let inputs = if given.is_empty() { check::seeded_inputs(session.model().inputs()) } else { given };
    let options =
        InferOptions { cut: args.cut, encoding: args.encoding, deadline_ms: None, cloud_cut: args.cloud_cut };
    let result = session.infer_blocking_with(inputs, options)?;
    let report = &result.report;

    if let Some(path) = &args.output {
        let first = result.outputs.first().context("the model produced no output")?;
        npy::write_npy(path, first)?;
        if !args.json {
            eprintln!("wrote `{}` {:?} to {}", first.name, first.shape, path.display());
        }
    }
    if args.json {
        let mut json = serde_json::to_value(report)?;
        json["summary"] = report.summary().into();
        json["outputs"] = result
            .outputs
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "datatype": t.dtype.wire_name(), "shape": t.shape}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("{}", report.summary());
    println!("plan: {}", report.plan.reason);
    if let Some(detail) = &report.fallback_detail {
        println!("fallback: {detail}");
    }
    if let (Some(cut), Some(ms)) = (report.cloud_cut, report.cloud_ms) {
        println!("cloud: from cut {cut}, {ms:.1} ms round trip from the edge");
    }
    if let Some(reason) = &report.cloud_fallback_reason {
        println!("cloud fallback (the edge finished): {reason}");
    }
    println!(
        "phone {:.1} ms + upload {:.1} ms + edge {:.1} ms + download {:.1} ms = {:.1} ms; {} B up, {} B down; {:.1} mJ",
        report.phone_ms,
        report.upload_rtt_ms,
        report.edge_ms(),
        report.download_ms,
        report.total_ms,
        report.bytes_up,
        report.bytes_down,
        report.energy_mj
    );
    println!(
        "predicted: {:.1} ms, {} B up, {:.1} mJ on {} ({} Mbps up, {:.0} ms RTT, confidence {:.2})",
        report.plan.predicted.total_ms,
        report.plan.predicted.bytes_up,
        report.plan.predicted.energy_mj,
        report.network,
        report.link.uplink_mbps,
        report.link.rtt_ms,
        report.link.confidence
    );
    Ok(())
}
