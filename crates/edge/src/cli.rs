//! The edge server's command line, shared by the `tandem-edge` binary (the server image) and
//! `tandem edge`: the same flags, the same defaults.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Load model NAME for these input shapes, in its input order (`NAME=1x16,1x16`): for a
    /// model with symbolic dimensions other than the batch; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=SHAPES", value_parser = tandem_model::util::parse_input_shapes)]
    pub input_shapes: Vec<(String, Vec<Vec<usize>>)>,
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
    /// Three tiers: forward requests carrying `tandem_cloud_cut` to this Tandem server.
    #[arg(long, value_name = "URL", alias = "upstream")]
    pub cloud: Option<String>,
    /// File holding the bearer token to send to the cloud server.
    #[arg(long, value_name = "FILE", alias = "upstream-token-file")]
    pub cloud_token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for an https:// cloud server.
    #[arg(long, value_name = "FILE", alias = "upstream-ca")]
    pub cloud_ca: Option<PathBuf>,
    /// The cloud is a plain OIP server (KServe, Triton) serving this `tandem export`
    /// repository (its directory or manifest): requests go to the exported parts.
    #[arg(long, value_name = "DIR", requires = "cloud")]
    pub cloud_repository: Option<PathBuf>,
    /// With --cloud-repository: the edge-to-cloud rate each way, Mbps, advertised to phones
    /// (a plain server has no probe endpoint; the round trip is measured).
    #[arg(long, default_value_t = 100.0)]
    pub cloud_link_mbps: f64,
    /// The longest to wait for the cloud server before finishing a request here, ms.
    #[arg(long, default_value_t = 10_000)]
    pub cloud_timeout_ms: u64,
    /// How often to re-measure the link to the cloud and re-fetch its profiles, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub cloud_refresh_s: f64,
    /// Largest request body, in MiB (413 beyond).
    #[arg(long, default_value_t = 64)]
    pub body_limit_mb: u64,
    /// Largest JSON request (a body without Inference-Header-Content-Length, or the JSON part
    /// of one with it), in MiB; JSON bodies held at once total at most this much
    /// (default: 16, or the body limit if smaller).
    #[arg(long)]
    pub json_body_limit_mb: Option<u64>,
    /// Longest an inference request may take, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// Longest a connection may take to send a request's headers, in milliseconds, counted
    /// from the accept or the end of the previous response.
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest a connection may stay open with no request in progress, in milliseconds (at
    /// most --header-timeout-ms).
    #[arg(long, default_value_t = 5_000)]
    pub idle_timeout_ms: u64,
    /// Connections served at once; 16 more answer only the health checks (default: 4096,
    /// or less when the open-files limit is lower).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Model runs at once (default: the number of CPUs).
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// Requests that may wait for a slot before the server answers 503.
    #[arg(long, default_value_t = 256)]
    pub max_queued: usize,
    /// Seconds per model the background profiler may spend measuring cuts (0: off).
    #[arg(long, default_value_t = 30.0)]
    pub profile_budget_s: f64,
    /// Engine running the parts: auto (ONNX Runtime when its library is found and loads, on
    /// CUDA when there is an NVIDIA GPU, else tract; the reason is logged and in the profile
    /// endpoint), tract, or ort (ONNX Runtime or fail). Library search order: --ort-dylib,
    /// ORT_DYLIB_PATH, the onnxruntime wheel of $VIRTUAL_ENV, $TANDEM_VENV or
    /// /tmp/tandem-ci-venv, python3's onnxruntime, well-known site-packages, system libraries.
    #[arg(long, default_value = "auto")]
    pub engine: crate::EngineChoice,
    /// The libonnxruntime.so to load with --engine ort or auto (default: the search above).
    #[arg(long, value_name = "FILE")]
    pub ort_dylib: Option<PathBuf>,
    /// ONNX Runtime threads per run when ONNX Runtime serves.
    #[arg(long, default_value_t = 1)]
    pub ort_threads: usize,
}

/// Serves what `args` says until SIGINT/SIGTERM, then drains in-flight requests.
pub fn serve(args: EdgeArgs) -> Result<(), EdgeError> {
    return_large_buffers_to_the_os();
    let mut builder = crate::EdgeServer::builder()
        .body_limit_bytes(mib_to_bytes(args.body_limit_mb, "--body-limit-mb")?)
        .request_timeout(Duration::from_millis(args.timeout_ms))
        .header_read_timeout(Duration::from_millis(args.header_timeout_ms))
        .idle_timeout(Duration::from_millis(args.idle_timeout_ms))
        .max_queued(args.max_queued)
        .profile_budget(seconds(args.profile_budget_s, "--profile-budget-s")?);
    if let Some(mb) = args.json_body_limit_mb {
        builder = builder.json_body_limit_bytes(mib_to_bytes(mb, "--json-body-limit-mb")?);
    }
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(dir) = args.models {
        builder = builder.models_dir(dir);
    }
    for file in args.model_files {
        builder = builder.model_file(file);
    }
    for (name, shapes) in args.input_shapes {
        builder = builder.input_shapes(name, shapes);
    }
    if let Some(file) = args.token_file {
        builder = builder.token_file(file);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        builder = builder.tls_pem_files(cert, key);
    }
    if let Some(url) = args.cloud {
        builder = builder.cloud(url);
    }
    if let Some(file) = args.cloud_token_file {
        builder = builder.cloud_token_file(file);
    }
    if let Some(file) = args.cloud_ca {
        builder = builder.cloud_ca_file(file);
    }
    if let Some(path) = args.cloud_repository {
        builder = builder.cloud_repository(path);
    }
    builder = builder
        .cloud_link_mbps(args.cloud_link_mbps)
        .cloud_timeout(Duration::from_millis(args.cloud_timeout_ms))
        .cloud_refresh(seconds(args.cloud_refresh_s, "--cloud-refresh-s")?);
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

/// MiB to bytes, refusing what does not fit (no silent wrap-around).
fn mib_to_bytes(mib: u64, flag: &'static str) -> Result<usize, EdgeError> {
    mib.checked_mul(1 << 20).and_then(|bytes| usize::try_from(bytes).ok()).ok_or_else(|| {
        EdgeError::InvalidSetting { setting: flag, reason: format!("{mib} MiB does not fit in memory") }
    })
}

/// Seconds as a duration: finite and not negative.
fn seconds(s: f64, flag: &'static str) -> Result<Duration, EdgeError> {
    Duration::try_from_secs_f64(s).map_err(|_| EdgeError::InvalidSetting {
        setting: flag,
        reason: format!("{s} is not a number of seconds"),
    })
}

/// Makes glibc serve every allocation of 1 MiB or more (request bodies, tensors) with its own
/// mapping, given back to the OS when freed. Left to itself, glibc raises that threshold to
/// the size of the largest block freed so far (up to 32 MiB), after which freed bodies stay
/// in per-thread heaps: measured, four 8 MiB JSON bodies then took RSS up by 18 MiB instead
/// of 10 MiB (docs/SECURITY.md). A no-op with other C libraries.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; called before serving starts.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
        if ok != 1 {
            log::warn!("mallopt(M_MMAP_THRESHOLD) refused; large buffers may stay resident after use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_model::util::parse_input_shapes;

    #[test]
    fn sizes_in_mib_never_wrap() {
        assert_eq!(mib_to_bytes(64, "x").unwrap(), 64 << 20);
        for huge in [17_592_186_044_416u64, 17_592_186_044_417, u64::MAX] {
            let err = mib_to_bytes(huge, "--body-limit-mb").unwrap_err();
            assert!(matches!(err, EdgeError::InvalidSetting { setting: "--body-limit-mb", .. }), "{err}");
        }
        assert!(seconds(-1.0, "x").is_err());
        assert!(seconds(f64::NAN, "x").is_err());
        assert_eq!(seconds(0.0, "x").unwrap(), Duration::ZERO);
    }

    #[test]
    fn input_shapes_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_input_shapes("enc=1x16,1x16").unwrap(),
            ("enc".to_string(), vec![vec![1, 16], vec![1, 16]])
        );
        for bad in ["enc", "=1x16", "enc=1x", "enc=1x0", "enc=axb", "enc=1x16,"] {
            assert!(parse_input_shapes(bad).is_err(), "{bad}");
        }
    }
}
