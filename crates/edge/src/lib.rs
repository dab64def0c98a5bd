//! # tandem-edge
//!
//! The edge half of Tandem: an Open Inference Protocol (KServe v2 / Triton HTTP) server
//! that runs the part of a model after any cut. A request's input tensors choose the cut:
//! the model's own inputs run the whole model, the tensors crossing a cut run the part after
//! it. Any OIP client works unchanged; Tandem's extensions (model hash check, tensor
//! encodings, per-cut profile, bandwidth probe, three tiers) ride in OIP `parameters` and
//! extra endpoints. The wire contract is `docs/PROTOCOL.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tandem_edge::EdgeError> {
//! let edge = tandem_edge::EdgeServer::builder()
//!     .models_dir("models")
//!     .token("s3cret")
//!     .bind("127.0.0.1:0")
//!     .await?;
//! println!("serving on {}", edge.url());
//! edge.shutdown().await?; // finishes in-flight requests first
//! # Ok(()) }
//! ```

pub mod cli;
mod cloud;
mod conn;
mod engine;
mod error;
mod load;
mod metrics;
#[cfg(feature = "ort")]
mod ort_engine;
pub mod ort_locate;
pub mod profile;
mod server;
mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tandem_model::{Executor, LoadOptions, Model};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use engine::{EngineChoice, OrtOptions};
pub use error::EdgeError;
pub use load::LoadSnapshot;
pub use tandem_protocol::profile::ServingEngine;

use crate::cloud::{Cloud, PlainCloud};
use crate::load::Load;
use crate::metrics::Metrics;
use crate::profile::Profile;
use crate::server::{AppState, ServedModel};
use tandem_protocol::manifest::Manifest;

/// Entry point: `EdgeServer::builder()`.
pub struct EdgeServer;

impl EdgeServer {
    /// A builder with the defaults of `tandem edge`.
    pub fn builder() -> EdgeServerBuilder {
        EdgeServerBuilder::default()
    }
}

/// How to run an edge server. Every setting has a default except the models.
#[derive(Clone, Debug)]
pub struct EdgeServerBuilder {
    models_dir: Option<PathBuf>,
    model_files: Vec<(Option<String>, PathBuf)>,
    input_shapes: BTreeMap<String, Vec<Vec<usize>>>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
    cloud: Option<String>,
    cloud_token: Option<String>,
    cloud_token_file: Option<PathBuf>,
    cloud_ca_file: Option<PathBuf>,
    cloud_timeout: Duration,
    cloud_refresh: Duration,
    cloud_repository: Option<PathBuf>,
    cloud_link_mbps: f64,
    body_limit_bytes: usize,
    json_body_limit_bytes: Option<usize>,
    request_timeout: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<usize>,
    max_concurrent: usize,
    max_queued: usize,
    profile_budget: Duration,
    part_cache_bytes: Option<u64>,
    shutdown_timeout: Duration,
    engine: EngineChoice,
    ort: OrtOptions,
}

impl Default for EdgeServerBuilder {
    fn default() -> Self {
        EdgeServerBuilder {
            models_dir: None,
            model_files: vec![],
            input_shapes: BTreeMap::new(),
            token: None,
            token_file: None,
            tls: None,
            cloud: None,
            cloud_token: None,
            cloud_token_file: None,
            cloud_ca_file: None,
            cloud_timeout: Duration::from_secs(10),
            cloud_refresh: Duration::from_secs(15),
            cloud_repository: None,
            cloud_link_mbps: 100.0,
            body_limit_bytes: 64 << 20,
            json_body_limit_bytes: None,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_connections: None,
            max_concurrent: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            max_queued: 256,
            profile_budget: Duration::from_secs(30),
            part_cache_bytes: None,
            shutdown_timeout: Duration::from_secs(30),
            engine: EngineChoice::default(),
            ort: OrtOptions::default(),
        }
    }
}

impl EdgeServerBuilder {
    /// Serves every `DIR/NAME.onnx` as model `NAME`.
    pub fn models_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.models_dir = Some(dir.into());
        self
    }

    /// Serves one model file, named after its file stem (`models/a.onnx` is `a`).
    pub fn model_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.model_files.push((None, path.into()));
        self
    }

    /// Serves one model file under `name`.
    pub fn model(mut self, name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.model_files.push((Some(name.into()), path.into()));
        self
    }

    /// Loads model `name` for these input shapes (in the model's input order): needed to
    /// serve a model with symbolic dimensions other than a leading batch (a text encoder's
    /// sequence length). The phone must load it for the same shapes; a request of another
    /// shape gets a typed 400.
    pub fn input_shapes(mut self, name: impl Into<String>, shapes: Vec<Vec<usize>>) -> Self {
        self.input_shapes.insert(name.into(), shapes);
        self
    }

    /// Requires `Authorization: Bearer <token>` on every endpoint but the health checks.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Like [`token`](Self::token), read from a file (surrounding whitespace ignored).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Serves HTTPS with this certificate chain and private key (PEM files).
    pub fn tls_pem_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Three tiers: requests with `tandem_cloud_cut` run here up to that cut and the rest
    /// runs on the Tandem server at `url` (which must serve the same model file, same name).
    pub fn cloud(mut self, url: impl Into<String>) -> Self {
        self.cloud = Some(url.into());
        self
    }

    /// The bearer token to send to the cloud server.
    pub fn cloud_token(mut self, token: impl Into<String>) -> Self {
        self.cloud_token = Some(token.into());
        self
    }

    /// Like [`cloud_token`](Self::cloud_token), read from a file.
    pub fn cloud_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cloud_token_file = Some(path.into());
        self
    }

    /// An extra CA certificate (PEM file) to trust for an `https://` cloud server.
    pub fn cloud_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cloud_ca_file = Some(path.into());
        self
    }

    /// The longest to wait for the cloud server's answer before finishing a request here
    /// (default 10 s); a request may ask for less (`tandem_cloud_timeout_ms`).
    pub fn cloud_timeout(mut self, timeout: Duration) -> Self {
        self.cloud_timeout = timeout;
        self
    }

    /// How often to re-measure the link to the cloud and re-fetch its profiles, which the
    /// profile endpoint publishes for phones planning three tiers (default 15 s).
    pub fn cloud_refresh(mut self, every: Duration) -> Self {
        self.cloud_refresh = every;
        self
    }

    /// The cloud is a plain Open Inference Protocol server (KServe, Triton) serving the
    /// `tandem export` repository whose manifest is at `path` (the directory or the file):
    /// requests go to the exported part after the cloud cut, only exported cuts that answer
    /// ready are offered to phones, and the cloud's times are estimated by this server's.
    pub fn cloud_repository(mut self, path: impl Into<PathBuf>) -> Self {
        self.cloud_repository = Some(path.into());
        self
    }

    /// A plain OIP cloud has no probe endpoint: the edge-to-cloud rate, each way, that this
    /// server advertises for it (default 100 Mbps; the round trip is measured).
    pub fn cloud_link_mbps(mut self, mbps: f64) -> Self {
        self.cloud_link_mbps = mbps;
        self
    }

    /// Old name of [`cloud`](Self::cloud).
    #[deprecated(note = "use `cloud`")]
    pub fn upstream(self, url: impl Into<String>) -> Self {
        self.cloud(url)
    }

    /// Old name of [`cloud_token`](Self::cloud_token).
    #[deprecated(note = "use `cloud_token`")]
    pub fn upstream_token(self, token: impl Into<String>) -> Self {
        self.cloud_token(token)
    }

    /// Old name of [`cloud_token_file`](Self::cloud_token_file).
    #[deprecated(note = "use `cloud_token_file`")]
    pub fn upstream_token_file(self, path: impl Into<PathBuf>) -> Self {
        self.cloud_token_file(path)
    }

    /// Old name of [`cloud_ca_file`](Self::cloud_ca_file).
    #[deprecated(note = "use `cloud_ca_file`")]
    pub fn upstream_root_cert(self, path: impl Into<PathBuf>) -> Self {
        self.cloud_ca_file(path)
    }

    /// Largest request body accepted, in bytes (413 beyond); also the largest download probe.
    /// At least 1 KiB. Default 64 MiB.
    pub fn body_limit_bytes(mut self, bytes: usize) -> Self {
        self.body_limit_bytes = bytes;
        self
    }

    /// Largest JSON accepted, in bytes: a body without `Inference-Header-Content-Length`,
    /// or the JSON part of one with it (413 beyond). JSON text costs far more to parse than
    /// binary tensor data, so it has its own, smaller limit; the JSON bodies the server holds
    /// at once also total at most this many bytes (others wait for room, within the request
    /// timeout). From 1 KiB to the body limit and 1 GiB. Default: 16 MiB, or the body limit
    /// if smaller.
    pub fn json_body_limit_bytes(mut self, bytes: usize) -> Self {
        self.json_body_limit_bytes = Some(bytes);
        self
    }

    /// Longest an inference request may take, body upload included (408 while uploading,
    /// 504 after). Not zero. Default 60 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest a connection may take to send a request's headers, counted from the moment
    /// the server waits for them (the accept, or the end of the previous response); the
    /// connection is closed beyond. Not zero. Default 10 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Longest a connection may stay open with no request in progress (before its first
    /// request or between keep-alive requests). Not zero, and at most the header-read
    /// timeout (which also runs while a connection waits). Default 5 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Connections served at once. Beyond, a reserve of 16 more answers only the health
    /// checks, and further ones are closed at once. Must leave room under the open-files
    /// limit (`ulimit -n`) for the reserve and 64 other files. Default: 4096, or less when
    /// that limit is lower.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = Some(connections);
        self
    }

    /// Model runs at once (compute slots). Default: the number of CPUs.
    pub fn max_concurrent(mut self, slots: usize) -> Self {
        self.max_concurrent = slots;
        self
    }

    /// Requests that may wait for a compute slot; beyond, the server answers 503 with
    /// `Retry-After`. Default 256.
    pub fn max_queued(mut self, requests: usize) -> Self {
        self.max_queued = requests;
        self
    }

    /// Time per model the background profiler may spend measuring cuts after startup
    /// (zero disables it). Default 30 s.
    pub fn profile_budget(mut self, budget: Duration) -> Self {
        self.profile_budget = budget;
        self
    }

    /// Weight bytes of built parts each model may keep cached. Default: the larger of
    /// 256 MiB and three times the model's weights.
    pub fn part_cache_bytes(mut self, bytes: u64) -> Self {
        self.part_cache_bytes = Some(bytes);
        self
    }

    /// Longest [`RunningEdge::shutdown`] waits for in-flight requests. Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The engine that runs the parts (default: tract).
    pub fn engine(mut self, engine: EngineChoice) -> Self {
        self.engine = engine;
        self
    }

    /// How the ONNX Runtime engine runs (with [`EngineChoice::Ort`]).
    pub fn ort_options(mut self, options: OrtOptions) -> Self {
        self.ort = options;
        self
    }

    /// Loads the models, then listens on `addr` (`host:port`; port 0 picks a free one) and
    /// serves in the background of the current tokio runtime until
    /// [`RunningEdge::shutdown`].
    pub async fn bind(self, addr: &str) -> Result<RunningEdge, EdgeError> {
        let config = self;
        let limits = config.validate()?;
        let files = config.model_list()?;
        let token = read_secret(config.token.clone(), config.token_file.as_deref(), "token")?;
        let cloud = config.cloud_client()?;
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };

        let cache_bytes = config.part_cache_bytes;
        let (engine, ort) = (config.engine, config.ort.clone());
        let resolved = tokio::task::spawn_blocking(move || engine::resolve(engine, &ort))
            .await
            .map_err(|e| EdgeError::Internal(format!("choosing the engine: {e}")))??;
        let serving = resolved.info.clone();
        let shapes = config.input_shapes.clone();
        let loaded = tokio::task::spawn_blocking(move || load_models(files, &shapes, cache_bytes, &resolved))
            .await
            .map_err(|e| EdgeError::Internal(format!("loading models: {e}")))??;
        let profiling = !config.profile_budget.is_zero();
        let models: BTreeMap<String, Arc<ServedModel>> = loaded
            .into_iter()
            .map(|(name, model, exec, engine)| {
                let spec = tandem_protocol::ModelSpec::from_model(name.clone(), &model);
                let profile = Arc::new(Profile::new(model.cuts().len(), profiling, serving.clone()));
                (name.clone(), Arc::new(ServedModel { name, model, exec, engine, spec, profile }))
            })
            .collect();
        let load = Load::new(config.max_concurrent, config.max_queued);
        let metrics = Arc::new(Metrics::default());
        let state = Arc::new(AppState {
            models,
            load: load.clone(),
            metrics: metrics.clone(),
            token_sha256: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            body_limit_bytes: config.body_limit_bytes,
            json_body_limit_bytes: limits.json_body_limit_bytes,
            json_budget: Arc::new(tokio::sync::Semaphore::new(limits.json_body_limit_bytes)),
            request_timeout: config.request_timeout,
            cloud,
        });

        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| EdgeError::Bind { addr: addr.into(), source: e })?;
        let local = listener.local_addr().map_err(|e| EdgeError::Bind { addr: addr.into(), source: e })?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = server::router(state.clone());
        let reserve_app = server::reserve_router(state.clone());
        let conn_limits = limits.connections;
        let task = match &tls {
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config.clone())
                    .map_err(|e| EdgeError::Bind { addr: addr.into(), source: e })?;
                tokio::spawn(conn::serve(listener, app, reserve_app, conn_limits, metrics, stop_rx))
            }
            None => tokio::spawn(conn::serve(listener, app, reserve_app, conn_limits, metrics, stop_rx)),
        };

        let (profilers_stop, profilers_rx) = watch::channel(false);
        if let Some(cloud) = &state.cloud {
            let models =
                state.models.values().map(|m| (m.name.clone(), m.model.hash().to_string())).collect();
            let own_state = state.clone();
            let own: cloud::OwnProfile = Box::new(move |name: &str| {
                let served = own_state.models.get(name)?;
                Some(served.profile.report(&served.name, &served.model, own_state.load.snapshot()))
            });
            let every = config.cloud_refresh;
            tokio::spawn(cloud::refresher(cloud.clone(), models, own, every, profilers_rx.clone()));
        }
        if profiling {
            spawn_profilers(&state, &load, config.profile_budget, profilers_rx);
        }
        let names: Vec<String> = state.models.keys().cloned().collect();
        log::info!(
            "listening addr={local} tls={} auth={} models={names:?} engine={} ({}) max_concurrent={} max_queued={} max_connections={} cloud={:?}",
            tls.is_some(),
            state.token_sha256.is_some(),
            serving.name,
            config.engine,
            config.max_concurrent,
            config.max_queued,
            conn_limits.max_connections,
            state.cloud.as_ref().map(|u| u.url().to_string()),
        );
        Ok(RunningEdge {
            addr: local,
            tls: tls.is_some(),
            models: names,
            engine: serving,
            stop: Some(stop_tx),
            task: Some(task),
            profilers_stop,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// Checks every limit and timeout, and works out those with computed defaults.
    fn validate(&self) -> Result<Limits, EdgeError> {
        let invalid =
            |setting: &'static str, reason: String| Err(EdgeError::InvalidSetting { setting, reason });
        const KIB: usize = 1024;
        const JSON_MAX: usize = 1 << 30;
        if self.body_limit_bytes < KIB {
            return invalid(
                "body_limit_bytes (--body-limit-mb)",
                format!("{} bytes is below 1 KiB", self.body_limit_bytes),
            );
        }
        let json_body_limit_bytes = match self.json_body_limit_bytes {
            None => (16 * KIB * KIB).min(self.body_limit_bytes),
            Some(n) if n < KIB || n > self.body_limit_bytes.min(JSON_MAX) => {
                return invalid(
                    "json_body_limit_bytes (--json-body-limit-mb)",
                    format!(
                        "{n} bytes is outside 1 KiB ..= {} (the body limit, at most 1 GiB)",
                        self.body_limit_bytes.min(JSON_MAX)
                    ),
                )
            }
            Some(n) => n,
        };
        for (setting, timeout) in [
            ("request_timeout (--timeout-ms)", self.request_timeout),
            ("header_read_timeout (--header-timeout-ms)", self.header_read_timeout),
            ("idle_timeout (--idle-timeout-ms)", self.idle_timeout),
            ("cloud_timeout (--cloud-timeout-ms)", self.cloud_timeout),
            ("cloud_refresh (--cloud-refresh-s)", self.cloud_refresh),
        ] {
            if timeout < Duration::from_millis(1) {
                return invalid(setting, "must be at least 1 ms: with zero every request would fail".into());
            }
        }
        if self.idle_timeout > self.header_read_timeout {
            return invalid(
                "idle_timeout (--idle-timeout-ms)",
                format!(
                    "{} ms is longer than the header-read timeout of {} ms, which also runs while a connection waits",
                    self.idle_timeout.as_millis(),
                    self.header_read_timeout.as_millis()
                ),
            );
        }
        if self.max_concurrent == 0 {
            return invalid("max_concurrent (--max-concurrent)", "must be at least 1".into());
        }
        let max_connections =
            self.max_connections.unwrap_or_else(|| conn::default_max_connections(RESERVED_CONNECTIONS));
        let needed = max_connections as u64 + RESERVED_CONNECTIONS as u64 + conn::FILES_RESERVED;
        match conn::open_files_limit() {
            _ if max_connections == 0 => return invalid("max_connections (--max-connections)", "must be at least 1".into()),
            Some(files) if needed > files => {
                return invalid(
                    "max_connections (--max-connections)",
                    format!(
                        "{max_connections} connections need {needed} open files with the reserve and the server's own, \
                         but the open-files limit is {files}: raise it (ulimit -n) or lower the cap"
                    ),
                )
            }
            _ => {}
        }
        let connections = conn::ConnLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections,
            reserved_connections: RESERVED_CONNECTIONS,
        };
        Ok(Limits { json_body_limit_bytes, connections })
    }

    /// The client of the cloud server (three tiers), if one is configured.
    fn cloud_client(&self) -> Result<Option<Arc<Cloud>>, EdgeError> {
        let Some(url) = &self.cloud else { return Ok(None) };
        let token = read_secret(self.cloud_token.clone(), self.cloud_token_file.as_deref(), "cloud token")?;
        let ca = match &self.cloud_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| io_error(path, e))?),
            None => None,
        };
        let plain = match &self.cloud_repository {
            Some(path) => {
                let manifest = Manifest::load(path).map_err(|e| {
                    EdgeError::Config(format!("the cloud's repository {}: {e}", path.display()))
                })?;
                if !(self.cloud_link_mbps.is_finite() && self.cloud_link_mbps > 0.0) {
                    return Err(EdgeError::InvalidSetting {
                        setting: "cloud_link_mbps (--cloud-link-mbps)",
                        reason: format!("{} is not a positive rate", self.cloud_link_mbps),
                    });
                }
                Some(PlainCloud { manifest, link_mbps: self.cloud_link_mbps })
            }
            None => None,
        };
        Ok(Some(Arc::new(Cloud::new(url, token, ca.as_deref(), self.cloud_timeout, plain)?)))
    }

    /// Runs the server on a runtime of its own until SIGINT or SIGTERM, then shuts down
    /// gracefully: what `tandem edge` does. `on_ready` sees the server once it listens.
    pub fn serve_until_signal(
        self,
        addr: &str,
        on_ready: impl FnOnce(&RunningEdge),
    ) -> Result<(), EdgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| EdgeError::Config(format!("starting the async runtime: {e}")))?;
        runtime.block_on(async move {
            let running = self.bind(addr).await?;
            on_ready(&running);
            wait_for_signal().await;
            log::info!("shutting down: finishing in-flight requests");
            running.shutdown().await
        })
    }

    /// The (name, file) of every model to serve; names must be unique.
    fn model_list(&self) -> Result<Vec<(String, PathBuf)>, EdgeError> {
        let mut files: Vec<(String, PathBuf)> = vec![];
        if let Some(dir) = &self.models_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "onnx") && p.is_file())
                .collect();
            found.sort();
            for path in found {
                files.push((stem(&path)?, path));
            }
        }
        for (name, path) in &self.model_files {
            let name = match name {
                Some(n) => n.clone(),
                None => stem(path)?,
            };
            files.push((name, path.clone()));
        }
        if files.is_empty() {
            return Err(EdgeError::Config(
                "no models to serve: give a models directory or model files".into(),
            ));
        }
        if let Some(name) = self.input_shapes.keys().find(|n| !files.iter().any(|(f, _)| f == *n)) {
            return Err(EdgeError::Config(format!(
                "input shapes are given for `{name}`, which is not served"
            )));
        }
        let mut names = std::collections::HashSet::new();
        for (name, path) in &files {
            if !names.insert(name) {
                return Err(EdgeError::Config(format!(
                    "two models are named `{name}` (one is {})",
                    path.display()
                )));
            }
            if name.is_empty() || name.contains('/') {
                return Err(EdgeError::Config(format!("`{name}` is not a usable model name")));
            }
        }
        Ok(files)
    }
}

/// Connections beyond the cap that still answer the health checks.
const RESERVED_CONNECTIONS: usize = 16;

/// The limits [`EdgeServerBuilder::validate`] worked out.
struct Limits {
    json_body_limit_bytes: usize,
    connections: conn::ConnLimits,
}

/// Starts the background profiler of every model whose engine allows it.
fn spawn_profilers(state: &AppState, load: &Arc<Load>, budget: Duration, stop: watch::Receiver<bool>) {
    for served in state.models.values() {
        let engine = match served.engine.private() {
            Ok(engine) => engine,
            Err(e) => {
                log::warn!("profile model={} status=disabled error=\"{e}\"", served.name);
                continue;
            }
        };
        tokio::spawn(profile::run(
            served.name.clone(),
            served.model.clone(),
            engine,
            served.profile.clone(),
            load.clone(),
            budget,
            stop.clone(),
        ));
    }
}

fn stem(path: &Path) -> Result<String, EdgeError> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .ok_or_else(|| EdgeError::Config(format!("{}: cannot name a model after this file", path.display())))
}

fn io_error(path: &Path, source: std::io::Error) -> EdgeError {
    EdgeError::Io { path: path.to_path_buf(), source }
}

fn read_secret(value: Option<String>, file: Option<&Path>, what: &str) -> Result<Option<String>, EdgeError> {
    let secret = match (value, file) {
        (Some(v), _) => v,
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| io_error(path, e))?,
        (None, None) => return Ok(None),
    };
    let secret = secret.trim().to_string();
    if secret.is_empty() {
        return Err(EdgeError::Config(format!("the {what} is empty")));
    }
    Ok(Some(secret))
}

type Loaded = Vec<(String, Arc<Model>, Arc<Executor>, Arc<dyn engine::Engine>)>;

fn load_models(
    files: Vec<(String, PathBuf)>,
    shapes: &BTreeMap<String, Vec<Vec<usize>>>,
    cache_bytes: Option<u64>,
    resolved: &engine::Resolved,
) -> Result<Loaded, EdgeError> {
    files
        .into_iter()
        .map(|(name, path)| {
            let options = LoadOptions { input_shapes: shapes.get(&name).cloned() };
            let model = Arc::new(load_model(&path, &options, resolved.choice)?);
            let budget =
                cache_bytes.unwrap_or_else(|| (256u64 << 20).max(model.weight_bytes().saturating_mul(3)));
            log::info!(
                "model name={name} path={} hash={} cuts={}",
                path.display(),
                model.hash(),
                model.cuts().len()
            );
            let exec = Arc::new(Executor::with_budget(model.clone(), budget));
            let engine = engine::build(resolved, &exec)?;
            Ok((name, model, exec, engine))
        })
        .collect()
}

/// Loads a model for serving. A model with an operator tract lacks is still served whole
/// (cut 0 only) by the ONNX Runtime engine; the tract engine refuses it at startup.
fn load_model(path: &Path, options: &LoadOptions, choice: EngineChoice) -> Result<Model, EdgeError> {
    match Model::load(path, options) {
        Err(tandem_model::Error::UnsupportedOperator { node, op_type }) if choice == EngineChoice::Ort => {
            log::warn!(
                "model {}: tract lacks operator {op_type} (node {node}): served whole (cut 0) by ONNX Runtime",
                path.display()
            );
            Ok(Model::load_whole(path, options)?)
        }
        other => Ok(other?),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A server listening in the background. Dropping it starts a graceful shutdown without
/// waiting for it; [`shutdown`](Self::shutdown) waits.
pub struct RunningEdge {
    addr: SocketAddr,
    tls: bool,
    models: Vec<String>,
    engine: ServingEngine,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    profilers_stop: watch::Sender<bool>,
    shutdown_timeout: Duration,
}

impl RunningEdge {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://` or `https://` and the address).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The names of the models served.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// The engine that runs the parts, and why (also in every profile's `engine` field).
    pub fn engine(&self) -> &ServingEngine {
        &self.engine
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the shutdown
    /// timeout), and returns once the server has stopped.
    pub async fn shutdown(mut self) -> Result<(), EdgeError> {
        let _ = self.profilers_stop.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else { return Ok(()) };
        match tokio::time::timeout(self.shutdown_timeout, &mut task).await {
            Ok(Ok(Ok(()))) => {
                log::info!("stopped addr={}", self.addr);
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(EdgeError::Internal(format!("the server failed: {e}"))),
            Ok(Err(e)) => Err(EdgeError::Internal(format!("the server task was lost: {e}"))),
            Err(_) => {
                task.abort();
                Err(EdgeError::Internal(format!(
                    "in-flight requests did not finish within {} ms; they were dropped",
                    self.shutdown_timeout.as_millis()
                )))
            }
        }
    }
}

impl Drop for RunningEdge {
    fn drop(&mut self) {
        let _ = self.profilers_stop.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl std::fmt::Debug for RunningEdge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEdge").field("url", &self.url()).field("models", &self.models).finish()
    }
}
