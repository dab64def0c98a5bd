//! The edge server's command line, shared by the `tandem-edge` binary (the server image) and
//! `tandem edge`: the same flags, the same defaults.

use std::path::PathBuf;

use clap::Args;

use crate::EdgeError;

/// `tandem edge`: see `docs/PROTOCOL.md` for the wire contract.
#[derive(Args, Debug)]
pub struct EdgeArgs {
    /// Serve every DIR/NAME.onnx as model NAME.
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Serve this model file (named after its file stem); repeatable.
    #[arg(long = "model", value_name = "FILE")]
    pub model_files: Vec<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// File holding the bearer token every endpoint but /v2/health/* requires.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Three tiers: forward requests carrying `tandem_upstream_cut` to this Tandem server.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// File holding the bearer token to send upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_token_file: Option<PathBuf>,
    /// Extra root certificate (PEM) to trust for an https:// upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Largest request body, in MiB (413 beyond).
    #[arg(long, default_value_t = 64)]
    pub body_limit_mb: usize,
    /// Longest an inference request may take, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// Model runs at once (default: the number of CPUs).
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// Requests that may wait for a slot before the server answers 503.
    #[arg(long, default_value_t = 256)]
    pub max_queued: usize,
    /// Seconds per model the background profiler may spend measuring cuts (0: off).
    #[arg(long, default_value_t = 30.0)]
    pub profile_budget_s: f64,
    /// Engine running the parts: tract, or ort (ONNX Runtime; needs a build with the `ort`
    /// feature, and ORT_DYLIB_PATH or --ort-dylib naming libonnxruntime.so).
    #[arg(long, default_value = "tract")]
    pub engine: crate::EngineChoice,
    /// The libonnxruntime.so to load with --engine ort (default: $ORT_DYLIB_PATH).
    #[arg(long, value_name = "FILE")]
    pub ort_dylib: Option<PathBuf>,
    /// ONNX Runtime threads per run with --engine ort.
    #[arg(long, default_value_t = 1)]
    pub ort_threads: usize,
}

/// Serves what `args` says until SIGINT/SIGTERM, then drains in-flight requests.
pub fn serve(args: EdgeArgs) -> Result<(), EdgeError> {
    let mut builder = crate::EdgeServer::builder()
        .body_limit_bytes(args.body_limit_mb << 20)
        .request_timeout(std::time::Duration::from_millis(args.timeout_ms))
        .max_queued(args.max_queued)
        .profile_budget(std::time::Duration::from_secs_f64(args.profile_budget_s.max(0.0)));
    if let Some(dir) = args.models {
        builder = builder.models_dir(dir);
    }
    for file in args.model_files {
        builder = builder.model_file(file);
    }
    if let Some(file) = args.token_file {
        builder = builder.token_file(file);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        builder = builder.tls_pem_files(cert, key);
    }
    if let Some(url) = args.upstream {
        builder = builder.upstream(url);
    }
    if let Some(file) = args.upstream_token_file {
        builder = builder.upstream_token_file(file);
    }
    if let Some(file) = args.upstream_ca {
        builder = builder.upstream_root_cert(file);
    }
    if let Some(n) = args.max_concurrent {
        builder = builder.max_concurrent(n);
    }
    builder = builder
        .engine(args.engine)
        .ort_options(crate::OrtOptions { dylib: args.ort_dylib, intra_threads: args.ort_threads });
    builder.serve_until_signal(&args.listen, |edge| {
        eprintln!("tandem edge: serving {:?} on {}", edge.models(), edge.url());
    })?;
    Ok(())
}
