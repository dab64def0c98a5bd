//! The offload session: split inference end to end, that always returns a result.
//!
//! A [`Session`] holds one model and one edge. Each [`Session::infer`] reads the platform
//! state, asks the planner where to cut, runs the part before the cut on the phone, sends the
//! crossing tensors to the edge, and returns the outputs with a [`Report`]. Whatever the
//! network does (refused connections, stalls, resets, 5xx, a different model on the edge),
//! the phone finishes the rest itself from the crossing tensors it already computed, within
//! the deadline when possible; the report says why. Errors are only for caller mistakes
//! (bad input tensors, bad options) and local engine failures. `docs/SESSION.md` describes
//! the request lifecycle, the timeouts and the circuit breaker.
//!
//! ```no_run
//! use tandem_sdk::{EdgeEndpoint, NamedTensor, Policy, Session};
//!
//! let session = Session::builder("models/face_embedder.onnx")
//!     .edge(EdgeEndpoint::new("http://127.0.0.1:8000").with_token("s3cret"))
//!     .policy(Policy { deadline_ms: Some(150.0), ..Policy::balanced() })
//!     .build()?;
//! let crop = NamedTensor::from_f32("", vec![1, 3, 150, 150], &vec![0.0; 3 * 150 * 150])?;
//! let result = session.infer_blocking(vec![crop])?;   // `infer(...).await` in async code
//! println!("{}", result.report.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{broadcast, watch};

use crate::breaker::{Breaker, BreakerConfig, BreakerState, Gate};
use crate::check;
use crate::devprofile::{device_name, CalibrationOptions, DeviceProfile, ProfileStore};
use crate::encoding::Encoding;
use crate::energy::{Activity, EnergyModel};
use crate::meta::ModelMeta;
use crate::netest::{EstimatorConfig, LinkEstimate, NetworkEstimator, ProbeConfig, TransferSample};
use crate::offload::{self, EdgeClient, EdgeEndpoint, OffloadError, HTTP_REQUEST_OVERHEAD_BYTES};
use crate::plain::{self, PlainCheckError, PlainLink, PlainOip};
use crate::planner::{self, EdgeProfile, Plan, PlanError, PlanInput, Policy, Prediction, Tier};
use crate::platform::{PlatformSignals, PlatformState, ThermalState};
use crate::report::{FallbackReason, InferResult, Report};
use crate::Error;
use crate::{match_inputs, Executor};
use crate::{LoadOptions, Model};
use crate::{NamedTensor, TensorSpec};

/// What can go wrong with a session: only caller mistakes and local failures. Network and
/// edge faults are never errors: the request finishes on the phone and the report says why.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The model file could not be loaded.
    #[error("loading the model: {0}")]
    Load(#[source] Error),
    /// The input tensors do not fit the model (names, types, shapes, byte lengths).
    #[error("invalid input: {0}")]
    InvalidInput(#[source] Error),
    /// The options of a request are unusable (unknown cut, cut below the privacy floor...).
    #[error("invalid request options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// Running the model on the phone failed.
    #[error("local inference failed: {0}")]
    Engine(#[source] Error),
    /// The session's configuration is unusable (edge URL, CA certificate, policy, model
    /// metadata, runtime).
    #[error("invalid session configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The planner refused the phone's own measurements (a bug or a corrupt device profile).
    #[error("planning failed: {0}")]
    Plan(#[source] PlanError),
    /// [`Session::close`] was called.
    #[error("the session is closed")]
    Closed,
    /// A bug: a task of the session was lost.
    #[error("internal error: {reason}")]
    Internal {
        /// What was lost.
        reason: String,
    },
}

/// Tuning of a session. Every field has a sensible default; the tests shorten timeouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// Longest wait for a TCP (and TLS) connection to the edge, ms.
    pub connect_timeout_ms: u64,
    /// Longest a request waits for the edge's model check to finish before running
    /// locally (the check starts when the session is built), ms.
    pub connect_wait_ms: u64,
    /// Without a deadline, the edge gets `edge_timeout_factor` times its predicted time,
    /// clamped to `[min_edge_timeout_ms, max_edge_timeout_ms]`.
    pub edge_timeout_factor: f64,
    /// The shortest edge timeout without a deadline, ms.
    pub min_edge_timeout_ms: f64,
    /// The longest edge timeout, with or without a deadline, ms.
    pub max_edge_timeout_ms: f64,
    /// With a deadline, the edge is given up on when finishing locally would take all the
    /// time left: the local estimate is multiplied by this safety factor...
    pub local_safety_factor: f64,
    /// ...and this margin is kept, ms.
    pub deadline_margin_ms: f64,
    /// How often the edge's profile and model hash are refreshed, ms.
    pub edge_refresh_ms: u64,
    /// Run an active bandwidth probe in the background when the network has no fresh
    /// estimate (never on a metered network unless the policy allows metered data).
    pub auto_probe: bool,
    /// How the probe runs.
    pub probe: ProbeConfig,
    /// Calibrate the device profile in the background the first time (and when the thermal
    /// state changes); until then, a multiply-accumulate estimate is used.
    pub calibrate: bool,
    /// How the calibration runs.
    pub calibration: CalibrationOptions,
    /// The phone's assumed speed before anything is measured, giga multiply-accumulates
    /// per second (the first local run replaces the assumption).
    pub assumed_device_gmacs: f64,
    /// The edge's assumed speed-up over the phone before its profile is fetched.
    pub assumed_edge_speedup: f64,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The network estimator.
    pub estimator: EstimatorConfig,
    /// Reports buffered per subscriber of [`Session::subscribe`].
    pub reports_capacity: usize,
    /// Worker threads of the session's own async runtime (ignored with
    /// [`SessionBuilder::runtime`]). Model parts run on its blocking pool.
    pub worker_threads: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            connect_timeout_ms: 3_000,
            connect_wait_ms: 1_000,
            edge_timeout_factor: 3.0,
            min_edge_timeout_ms: 1_000.0,
            max_edge_timeout_ms: 30_000.0,
            local_safety_factor: 1.25,
            deadline_margin_ms: 3.0,
            edge_refresh_ms: 30_000,
            auto_probe: true,
            probe: ProbeConfig::default(),
            calibrate: true,
            calibration: CalibrationOptions::default(),
            assumed_device_gmacs: 2.0,
            assumed_edge_speedup: 4.0,
            breaker: BreakerConfig::default(),
            estimator: EstimatorConfig::default(),
            reports_capacity: 64,
            worker_threads: 2,
        }
    }
}

/// Per-request overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct InferOptions {
    /// Force this cut instead of the planner's choice (for experts, tests and benchmarks).
    /// It must respect the policy's privacy floor. The edge may still be skipped (offline,
    /// breaker open...), and the report says why.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub cut: Option<usize>,
    /// Force this encoding of the crossing tensors when offloading.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub encoding: Option<Encoding>,
    /// This request's deadline, ms, instead of the policy's.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub deadline_ms: Option<f64>,
}

/// What the session knows about its edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EdgeStatus {
    /// The session has no edge: everything runs locally.
    NoEdge,
    /// The edge's model hash has not been checked yet (or it could not be reached).
    Unverified,
    /// The edge serves the same model file: offloading is allowed.
    Verified,
    /// The edge serves a different model file under this model's name: never offloaded.
    HashMismatch,
}

/// Builds a [`Session`]: `Session::builder(model_path).edge(...).policy(...).build()`.
pub struct SessionBuilder {
    model_path: PathBuf,
    load_options: LoadOptions,
    edge: Option<EdgeEndpoint>,
    policy: Policy,
    signals: Option<Arc<dyn PlatformSignals>>,
    energy: EnergyModel,
    store_dir: Option<PathBuf>,
    device_profile: Option<DeviceProfile>,
    device_name: Option<String>,
    meta: Option<ModelMeta>,
    config: SessionConfig,
    runtime: Option<Handle>,
    plain: Option<PlainOip>,
}

impl SessionBuilder {
    /// The edge to offload to. Without one, every request runs on the phone.
    pub fn edge(mut self, endpoint: EdgeEndpoint) -> Self {
        self.edge = Some(endpoint);
        self
    }

    /// What every plan must respect (objective, deadline, privacy floor, metered data...).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Where platform state comes from. Default: the desktop Linux implementation on Linux,
    /// an "unknown" state elsewhere; phones pass their platform's implementation.
    pub fn signals(mut self, signals: Arc<dyn PlatformSignals>) -> Self {
        self.signals = Some(signals);
        self
    }

    /// The phone's energy model (default: [`EnergyModel::default`]).
    pub fn energy_model(mut self, model: EnergyModel) -> Self {
        self.energy = model;
        self
    }

    /// Keep calibrated device profiles in this directory (reused across runs).
    pub fn profile_store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
        self
    }

    /// Use this device profile (no estimate; calibration only if it is not `measured`).
    pub fn device_profile(mut self, profile: DeviceProfile) -> Self {
        self.device_profile = Some(profile);
        self
    }

    /// The device's name for stored profiles (default: [`device_name`]).
    pub fn device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = Some(name.into());
        self
    }

    /// The model's metadata (exits, encoding costs); default: `NAME.tandem.json` beside
    /// the model, if present.
    pub fn metadata(mut self, meta: ModelMeta) -> Self {
        self.meta = Some(meta);
        self
    }

    /// How to load the model (concrete input shapes).
    pub fn load_options(mut self, options: LoadOptions) -> Self {
        self.load_options = options;
        self
    }

    /// Tuning (timeouts, breaker, probing, calibration).
    pub fn config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }

    /// The edge is a plain Open Inference Protocol server (KServe, Triton) serving a
    /// `tandem export` repository described by `target`: requests go to the served model of
    /// the planned cut, only exported cuts are planned, and server times are learned from
    /// round trips (see [`crate::plain`]).
    pub fn plain_edge(mut self, endpoint: EdgeEndpoint, target: PlainOip) -> Self {
        self.edge = Some(endpoint);
        self.plain = Some(target);
        self
    }

    /// Run on this tokio runtime instead of a small one of the session's own.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Loads the model and starts the session: the edge's model check and profile fetch
    /// begin in the background at once.
    pub fn build(self) -> Result<Session, SessionError> {
        let config = self.config;
        let model = Arc::new(Model::load(&self.model_path, &self.load_options).map_err(SessionError::Load)?);
        let meta = match self.meta {
            Some(m) => Some(m),
            None => ModelMeta::load_beside(&self.model_path)
                .map_err(|e| SessionError::Config { reason: e.to_string() })?,
        };
        if let Some(m) = &meta {
            m.validate()
                .map_err(|reason| SessionError::Config { reason: format!("model metadata: {reason}") })?;
        }
        let exec = Arc::new(Executor::new(model.clone()));
        let device_name = self.device_name.unwrap_or_else(device_name);
        let store = self.store_dir.map(ProfileStore::new);
        let signals = self.signals.unwrap_or_else(default_signals);

        let initial = match self.device_profile {
            Some(p) => {
                p.validate(model.cuts().len())
                    .map_err(|r| SessionError::Config { reason: format!("device profile: {r}") })?;
                p
            }
            None => store
                .as_ref()
                .and_then(|s| s.load(model.hash(), &device_name, model.cuts().len()))
                .unwrap_or_else(|| {
                    let full_ms = model.cuts().last().map_or(0, |c| c.macs_before) as f64
                        / (config.assumed_device_gmacs.max(1e-3) * 1e6);
                    DeviceProfile::estimate(
                        model.hash(),
                        &device_name,
                        model.cuts(),
                        full_ms,
                        ThermalState::Unknown,
                    )
                }),
        };

        // The policy is checked once here: a bad one is the caller's mistake, not a request's.
        check_policy(&self.policy)?;
        let dry = PlanInput {
            cuts: model.cuts(),
            device: &initial,
            edge: None,
            cloud: None,
            link: &LinkEstimate::prior(crate::platform::NetworkKind::Wifi),
            platform: &PlatformState::default(),
            energy: &self.energy,
            policy: &self.policy,
            meta: meta.as_ref(),
        };
        planner::plan(&dry)
            .map_err(|e| SessionError::Config { reason: format!("the policy or metadata: {e}") })?;

        let edge = match &self.edge {
            None => None,
            Some(endpoint) => {
                let name = match &endpoint.model_name {
                    Some(n) => n.clone(),
                    None => file_stem(&self.model_path)?,
                };
                let client =
                    EdgeClient::new(endpoint, &name, Duration::from_millis(config.connect_timeout_ms))
                        .map_err(|reason| SessionError::Config { reason })?;
                let (generation, _) = watch::channel(0u64);
                Some(EdgeLink {
                    client,
                    name,
                    state: Mutex::new(EdgeState::default()),
                    generation,
                    connecting: AtomicBool::new(false),
                    refreshing: AtomicBool::new(false),
                    plain: self.plain.clone().map(|t| PlainLink::new(t, &model)),
                })
            }
        };

        let (runtime, handle) = match self.runtime {
            Some(h) => (None, h),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(config.worker_threads.max(1))
                    .max_blocking_threads(16)
                    .thread_name("tandem-session")
                    .enable_all()
                    .build()
                    .map_err(|e| SessionError::Config {
                        reason: format!("starting the async runtime: {e}"),
                    })?;
                let handle = rt.handle().clone();
                (Some(Arc::new(OwnedRuntime(Some(rt)))), handle)
            }
        };
        let (reports, _) = broadcast::channel(config.reports_capacity.max(1));
        let inner = Arc::new(Inner {
            estimator: Mutex::new(NetworkEstimator::new(config.estimator.clone())),
            breaker: Mutex::new(Breaker::new(config.breaker.clone())),
            device: Mutex::new(DeviceState {
                profile: initial,
                calibrating: false,
                calibration_attempted: false,
                last_calibration: None,
                observed: false,
            }),
            model,
            exec,
            meta,
            policy: self.policy,
            signals,
            energy: self.energy,
            store,
            device_name,
            edge,
            reports,
            handle,
            closed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last_probe: Mutex::new(None),
            config,
        });
        if inner.edge.is_some() {
            inner.start_connect(false, false);
            let weak = Arc::downgrade(&inner);
            inner.handle.spawn(refresher(weak));
        }
        log::debug!(
            "session for model {} ({}): edge {}",
            inner.model.path().display(),
            &inner.model.hash()[..12],
            inner.edge.as_ref().map_or("none".to_string(), |e| e.client.base_url().to_string())
        );
        Ok(Session { inner, _runtime: runtime })
    }
}

fn check_policy(policy: &Policy) -> Result<(), SessionError> {
    if let Some(d) = policy.deadline_ms {
        if !(d.is_finite() && d > 0.0) {
            return Err(SessionError::Config { reason: format!("the policy's deadline is {d} ms") });
        }
    }
    Ok(())
}

fn file_stem(path: &Path) -> Result<String, SessionError> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_string).ok_or_else(|| SessionError::Config {
        reason: format!("{}: cannot name the model after this file", path.display()),
    })
}

fn default_signals() -> Arc<dyn PlatformSignals> {
    #[cfg(all(target_os = "linux", not(target_os = "android")))]
    {
        Arc::new(crate::platform::LinuxSignals::new())
    }
    #[cfg(not(all(target_os = "linux", not(target_os = "android"))))]
    {
        Arc::new(crate::platform::FixedSignals::default())
    }
}

/// The session's own runtime; shut down without blocking when the last handle goes, so a
/// session may be dropped anywhere, async code included.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One model, one edge: runs requests end to end and always returns a result.
///
/// Cheap to clone and share between threads (`Send + Sync`, an `Arc` inside); many requests
/// may be in flight at once. Dropping the last clone stops its background work.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    _runtime: Option<Arc<OwnedRuntime>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("model", &self.inner.model.path())
            .field("edge", &self.inner.edge.as_ref().map(|e| e.client.base_url()))
            .finish()
    }
}

/// A spawned request, aborted if its caller stops waiting: cancelling `infer` cancels the
/// work at its next await point (a model part already running finishes on its thread).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Session {
    /// A builder for a session on the model at `model_path`.
    pub fn builder(model_path: impl Into<PathBuf>) -> SessionBuilder {
        SessionBuilder {
            model_path: model_path.into(),
            load_options: LoadOptions::default(),
            edge: None,
            policy: Policy::default(),
            signals: None,
            energy: EnergyModel::default(),
            store_dir: None,
            device_profile: None,
            device_name: None,
            meta: None,
            config: SessionConfig::default(),
            runtime: None,
            plain: None,
        }
    }

    /// Runs one request. `inputs` are the model inputs; a tensor with an empty name takes
    /// the name of the model input at its position. Never fails because of the network or
    /// the edge; fails only on bad inputs or a local engine failure.
    ///
    /// Works from any async executor. Dropping the future cancels the request and leaves
    /// the session usable.
    pub async fn infer(&self, inputs: Vec<NamedTensor>) -> Result<InferResult, SessionError> {
        self.infer_with(inputs, InferOptions::default()).await
    }

    /// [`Session::infer`] with per-request options (forced cut, encoding, deadline).
    pub async fn infer_with(
        &self,
        inputs: Vec<NamedTensor>,
        options: InferOptions,
    ) -> Result<InferResult, SessionError> {
        let t0 = Instant::now();
        let inputs = self.inner.prepare(inputs, &options)?;
        let inner = self.inner.clone();
        let mut task =
            AbortOnDrop(self.inner.handle.spawn(async move { inner.run(inputs, options, t0).await }));
        join(&mut task.0).await
    }

    /// [`Session::infer`] for callers without an async runtime: blocks the calling thread.
    /// Do not call it from async code (use `infer` there).
    pub fn infer_blocking(&self, inputs: Vec<NamedTensor>) -> Result<InferResult, SessionError> {
        self.infer_blocking_with(inputs, InferOptions::default())
    }

    /// [`Session::infer_with`] for callers without an async runtime.
    pub fn infer_blocking_with(
        &self,
        inputs: Vec<NamedTensor>,
        options: InferOptions,
    ) -> Result<InferResult, SessionError> {
        let t0 = Instant::now();
        let inputs = self.inner.prepare(inputs, &options)?;
        let inner = self.inner.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.handle.spawn(async move {
            let _ = tx.send(inner.run(inputs, options, t0).await);
        });
        rx.recv().map_err(|_| SessionError::Internal {
            reason: "the request was lost (a panic, or the session's runtime stopped)".into(),
        })?
    }

    /// A stream of the reports of every request, in completion order (for overlays, a
    /// Kotlin `Flow`, a Swift `AsyncSequence`). A slow subscriber loses the oldest reports.
    pub fn subscribe(&self) -> broadcast::Receiver<Report> {
        self.inner.reports.subscribe()
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.inner.model
    }

    /// The policy every plan respects.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// What the session knows about its edge now.
    pub fn edge_status(&self) -> EdgeStatus {
        match &self.inner.edge {
            None => EdgeStatus::NoEdge,
            Some(e) => match e.lock().verification {
                Verification::Unverified => EdgeStatus::Unverified,
                Verification::Verified => EdgeStatus::Verified,
                Verification::Mismatch { .. } => EdgeStatus::HashMismatch,
            },
        }
    }

    /// Waits (up to `timeout`) until the edge's model check has an answer, starting one if
    /// none is running; returns the status then. For tools and tests that want the edge
    /// ready before the first request.
    pub async fn wait_for_edge(&self, timeout: Duration) -> EdgeStatus {
        let inner = self.inner.clone();
        let mut task = AbortOnDrop(self.inner.handle.spawn(async move {
            let _ = inner.ensure_verified(timeout, None).await;
        }));
        let _ = (&mut task.0).await;
        self.edge_status()
    }

    /// The circuit breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker().state(Instant::now())
    }

    /// The link estimate for the network the phone is on now.
    pub fn link_estimate(&self) -> LinkEstimate {
        let state = self.inner.signals.state();
        self.inner.estimator().estimate(&state)
    }

    /// The device profile the planner uses now (an estimate until calibrated).
    pub fn device_profile(&self) -> DeviceProfile {
        self.inner.device_state().profile.clone()
    }

    /// The edge profile the planner uses now (fetched and adjusted by the observed load, or
    /// an estimate before the fetch); `None` without an edge.
    pub fn edge_profile(&self) -> Option<EdgeProfile> {
        let device = self.device_profile();
        self.inner.edge.as_ref().map(|e| e.planning_profile(&self.inner, &device))
    }

    /// Calibrates the device profile now (in the foreground) and uses it from now on.
    pub async fn calibrate(&self) -> Result<DeviceProfile, SessionError> {
        let inner = self.inner.clone();
        let thermal = inner.signals.state().thermal;
        let mut task = AbortOnDrop(self.inner.handle.spawn(async move { inner.calibrate(thermal).await }));
        join(&mut task.0).await
    }

    /// Stops background work; later requests fail with [`SessionError::Closed`]. Requests in
    /// flight finish.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
    }
}

async fn join<T>(handle: &mut tokio::task::JoinHandle<Result<T, SessionError>>) -> Result<T, SessionError> {
    match handle.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => {
            let what = e.into_panic();
            let what = tandem_model::util::panic_message(&*what);
            log::error!("a session task panicked: {what}");
            Err(SessionError::Internal { reason: format!("a session task panicked: {what}") })
        }
        Err(_) => Err(SessionError::Internal { reason: "the session's runtime stopped".into() }),
    }
}

// ------------------------------------------------------------------------------------
// Inside the session

struct DeviceState {
    profile: DeviceProfile,
    calibrating: bool,
    calibration_attempted: bool,
    last_calibration: Option<Instant>,
    /// Whether a local run has rescaled the estimate.
    observed: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
enum Verification {
    #[default]
    Unverified,
    Verified,
    Mismatch {
        served: String,
    },
}

#[derive(Default)]
struct EdgeState {
    verification: Verification,
    /// Why the last model check failed.
    last_error: Option<(FallbackReason, String)>,
    /// The fetched profile, checked against the model.
    profile: Option<EdgeProfile>,
    /// Queue wait observed in answers (moving average), ms.
    observed_queue_ms: Option<f64>,
    /// Observed compute time over the profile's (moving average): the edge's load.
    compute_ratio: Option<f64>,
    last_refresh: Option<Instant>,
}

struct EdgeLink {
    client: EdgeClient,
    name: String,
    state: Mutex<EdgeState>,
    /// Bumped after every model check, so waiting requests wake up.
    generation: watch::Sender<u64>,
    connecting: AtomicBool,
    refreshing: AtomicBool,
    /// Set when the edge is a plain OIP server serving an exported repository.
    plain: Option<PlainLink>,
}

impl EdgeLink {
    fn lock(&self) -> MutexGuard<'_, EdgeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The profile to plan with: the fetched one adjusted by the load seen in answers, or
    /// an estimate from the device profile before the fetch.
    fn planning_profile(&self, inner: &Inner, device: &DeviceProfile) -> EdgeProfile {
        if let Some(plain) = &self.plain {
            return plain.planning_profile(estimated_edge_profile(inner, device));
        }
        let state = self.lock();
        let mut p = match &state.profile {
            Some(p) => p.clone(),
            None => estimated_edge_profile(inner, device),
        };
        if let Some(ratio) = state.compute_ratio {
            for c in &mut p.cuts {
                c.after_ms = c.after_ms.map(|t| t * ratio);
            }
        }
        if let Some(q) = state.observed_queue_ms {
            // Answers are fresher than the profile's snapshot of the queue.
            p.load.queue_wait_ms = q;
            p.load.in_flight = 0;
            p.load.queued = 0;
        }
        p
    }

    /// Learns the edge's load from an answer.
    fn observe(&self, cut: usize, compute_ms: f64, queue_ms: f64) -> bool {
        let mut state = self.lock();
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| 0.7 * o + 0.3 * new));
        let before = state.observed_queue_ms.or(state.profile.as_ref().map(|p| p.load.queue_wait_ms));
        state.observed_queue_ms = ewma(state.observed_queue_ms, queue_ms.max(0.0));
        let profiled = state.profile.as_ref().and_then(|p| p.cuts.get(cut)).and_then(|c| c.after_ms);
        if let Some(t) = profiled.filter(|t| *t >= 0.5) {
            let ratio = (compute_ms / t).clamp(0.1, 10.0);
            state.compute_ratio = ewma(state.compute_ratio, ratio);
        }
        // A queue much longer than the profile said: the load changed, refresh it soon.
        before.is_some_and(|b| queue_ms > 2.0 * b + 20.0)
    }
}

fn estimated_edge_profile(inner: &Inner, device: &DeviceProfile) -> EdgeProfile {
    let mut p =
        EdgeProfile::scaled_from(device, inner.model.cuts(), inner.config.assumed_edge_speedup.max(1e-3));
    p.hash = inner.model.hash().to_string();
    p
}

/// Checks a fetched profile against the model; fills cuts the edge has not measured (nor
/// estimated) from `estimate`.
fn sanitize_profile(
    mut p: EdgeProfile,
    model: &Model,
    estimate: &EdgeProfile,
) -> Result<EdgeProfile, String> {
    if !p.hash.is_empty() && !p.hash.eq_ignore_ascii_case(model.hash()) {
        return Err(format!("the profile is for model {}", p.hash));
    }
    if p.cuts.len() != model.cuts().len() {
        return Err(format!("the profile has {} cuts, the model {}", p.cuts.len(), model.cuts().len()));
    }
    for (i, c) in p.cuts.iter_mut().enumerate() {
        if c.id != i {
            return Err(format!("the profile lists cut {} at position {i}", c.id));
        }
        match c.after_ms {
            Some(t) if !(t.is_finite() && t >= 0.0) => return Err(format!("cut {i} has time {t} ms")),
            Some(_) => {}
            None => c.after_ms = estimate.cuts[i].after_ms,
        }
    }
    if !(p.load.queue_wait_ms.is_finite() && p.load.queue_wait_ms >= 0.0) {
        p.load.queue_wait_ms = 0.0;
    }
    p.hash = model.hash().to_string();
    Ok(p)
}

struct Inner {
    model: Arc<Model>,
    exec: Arc<Executor>,
    meta: Option<ModelMeta>,
    policy: Policy,
    signals: Arc<dyn PlatformSignals>,
    energy: EnergyModel,
    config: SessionConfig,
    store: Option<ProfileStore>,
    device_name: String,
    estimator: Mutex<NetworkEstimator>,
    breaker: Mutex<Breaker>,
    device: Mutex<DeviceState>,
    edge: Option<EdgeLink>,
    reports: broadcast::Sender<Report>,
    handle: Handle,
    closed: AtomicBool,
    next_id: AtomicU64,
    probing: AtomicBool,
    last_probe: Mutex<Option<Instant>>,
}

/// The trial request of a half-open breaker: if it ends without an outcome (cancelled, or
/// the plan stayed local), the next request may be the trial.
struct TrialGuard<'a> {
    inner: &'a Inner,
    trial: bool,
    resolved: bool,
}

impl TrialGuard<'_> {
    fn success(&mut self) {
        self.resolved = true;
        self.inner.breaker().success(self.trial);
    }

    fn failure(&mut self) {
        self.resolved = true;
        self.inner.breaker().failure(self.trial, Instant::now());
    }
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if self.trial && !self.resolved {
            self.inner.breaker().abandon_trial();
        }
    }
}

/// How far the local part of a plan goes: the model outputs (the last cut) or an exit.
struct Target {
    /// The cut where the needed outputs exist.
    until: usize,
    /// The output to keep (an exit's), or `None` for all model outputs.
    exit_output: Option<String>,
    /// What the edge must answer.
    expected: Vec<TensorSpec>,
}

/// The part of a plan that ran on the phone, for the report.
#[derive(Default)]
struct Spent {
    phone_ms: f64,
    upload_ms: f64,
    edge_ms: f64,
    edge_queue_ms: f64,
    download_ms: f64,
    bytes_up: u64,
    bytes_down: u64,
    attempted: bool,
    edge_timeout_ms: Option<f64>,
}

use tandem_model::util::ms_since;

/// Runs model work on the blocking pool; a panic becomes an engine error.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, SessionError> {
    match tokio::task::spawn_blocking(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)))
        .await
    {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(SessionError::Engine(e)),
        Ok(Err(panic)) => {
            let what = tandem_model::util::panic_message(&*panic);
            log::error!("a model run panicked: {what}");
            Err(SessionError::Engine(Error::engine("running a model part", format!("panicked: {what}"))))
        }
        Err(e) => Err(SessionError::Internal { reason: format!("a model run was lost: {e}") }),
    }
}

/// Runs the part between two cuts; returns its outputs and the run time without building.
fn run_part(
    exec: &Executor,
    from: usize,
    to: usize,
    inputs: &[NamedTensor],
) -> crate::Result<(Vec<NamedTensor>, f64)> {
    let part = exec.part_between(from, to)?;
    let t = Instant::now();
    let outputs = part.run(inputs)?;
    Ok((outputs, ms_since(t)))
}

impl Inner {
    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn estimator(&self) -> MutexGuard<'_, NetworkEstimator> {
        self.estimator.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn device_state(&self) -> MutexGuard<'_, DeviceState> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a request before it is spawned: caller mistakes are errors, at once.
    fn prepare(
        &self,
        mut inputs: Vec<NamedTensor>,
        options: &InferOptions,
    ) -> Result<Vec<NamedTensor>, SessionError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(SessionError::Closed);
        }
        let specs = self.model.inputs();
        for (t, spec) in inputs.iter_mut().zip(specs) {
            if t.name.is_empty() {
                t.name = spec.name.clone();
            }
        }
        let inputs = inputs
            .into_iter()
            .map(|t| NamedTensor::new(t.name, t.dtype, t.shape, t.data))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(SessionError::InvalidInput)?;
        match_inputs(specs, &inputs).map_err(SessionError::InvalidInput)?;
        if let Some(c) = options.cut {
            let last = self.model.last_cut();
            if c > last {
                return Err(SessionError::InvalidOptions {
                    reason: format!("cut {c}: this model has cuts 0..={last}"),
                });
            }
            let floor = self.policy.first_cut();
            if c < floor {
                return Err(SessionError::InvalidOptions {
                    reason: format!("cut {c} is below the policy's privacy floor (cut {floor})"),
                });
            }
        }
        if let Some(d) = options.deadline_ms {
            if !(d.is_finite() && d > 0.0) {
                return Err(SessionError::InvalidOptions { reason: format!("deadline {d} ms") });
            }
        }
        Ok(inputs)
    }

    /// One request, end to end.
    async fn run(
        self: Arc<Self>,
        inputs: Vec<NamedTensor>,
        options: InferOptions,
        t0: Instant,
    ) -> Result<InferResult, SessionError> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let state = self.signals.state();
        let mut policy = self.policy.clone();
        if options.deadline_ms.is_some() {
            policy.deadline_ms = options.deadline_ms;
        }
        let deadline_at = policy.deadline_ms.map(|d| t0 + Duration::from_secs_f64(d / 1e3));
        self.maybe_calibrate(state.thermal);
        self.maybe_probe(&state, &policy);
        let link = self.estimator().estimate(&state);
        let device = self.device_state().profile.clone();
        let mut breaker_phase = self.breaker().state(Instant::now()).phase;

        // --- plan ---------------------------------------------------------------------
        let mut fallback: Option<(FallbackReason, String)> = None;
        let mut edge_profile = None;
        if let Some(edge) = &self.edge {
            let verification = edge.lock().verification.clone();
            if !state.network.is_online() {
                fallback = Some((FallbackReason::Offline, "the phone is offline".into()));
                edge_profile = Some(edge.planning_profile(&self, &device));
            } else if state.metered && !policy.allow_metered {
                fallback = Some((
                    FallbackReason::MeteredForbidden,
                    "the network is metered and the policy forbids metered data".into(),
                ));
                edge_profile = Some(edge.planning_profile(&self, &device));
            } else if let Verification::Mismatch { served } = verification {
                fallback = Some((FallbackReason::HashMismatch, self.mismatch_detail(&served)));
            } else {
                edge_profile = Some(edge.planning_profile(&self, &device));
            }
        }
        let mut plan = self.plan_or_local(
            &state,
            &link,
            edge_profile.as_ref(),
            &policy,
            &device,
            &options,
            &mut fallback,
        )?;

        let mut trial: Option<TrialGuard> = None;
        if plan.offloads() {
            let edge = self.edge.as_ref().expect("a plan offloads only with an edge");
            let gate = self.breaker().gate(Instant::now());
            breaker_phase = self.breaker().state(Instant::now()).phase;
            match gate {
                Gate::Open => {
                    let retry = self.breaker().state(Instant::now()).retry_in_ms.unwrap_or(0);
                    fallback = Some((
                        FallbackReason::BreakerOpen,
                        format!("the edge failed repeatedly; the next trial is in {retry} ms"),
                    ));
                }
                gate => {
                    trial = Some(TrialGuard { inner: &self, trial: gate == Gate::Trial, resolved: false });
                    if edge.lock().verification != Verification::Verified {
                        let left_ms = deadline_at
                            .map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3);
                        let local_ms = device.before_ms.last().copied().unwrap_or(0.0);
                        let mut wait_ms = self.config.connect_wait_ms as f64;
                        if let Some(left) = left_ms {
                            wait_ms =
                                wait_ms.min((left - local_ms * self.config.local_safety_factor).max(0.0));
                        }
                        let gate_trial = trial.as_ref().is_some_and(|t| t.trial);
                        match self
                            .ensure_verified(Duration::from_secs_f64(wait_ms / 1e3), Some(gate_trial))
                            .await
                        {
                            Ok(()) => {
                                // The model check answered for the breaker; plan with the real profile.
                                if let Some(t) = trial.as_mut() {
                                    t.resolved = true;
                                }
                                let profile = edge.planning_profile(&self, &device);
                                plan = self.plan_or_local(
                                    &state,
                                    &link,
                                    Some(&profile),
                                    &policy,
                                    &device,
                                    &options,
                                    &mut fallback,
                                )?;
                            }
                            Err(f) => fallback = Some(f),
                        }
                    }
                }
            }
            if fallback.is_some() {
                let why = fallback.as_ref().map(|(r, _)| r.to_string()).unwrap_or_default();
                plan = self.local_plan(&state, &link, &policy, &device, &why)?;
            }
        }

        // --- run ----------------------------------------------------------------------
        let target = self.target(&plan);
        let mut spent = Spent::default();
        let mut offloaded = false;
        let outputs = if !plan.offloads() {
            drop(trial);
            let exec = self.exec.clone();
            let until = target.until;
            let t = Instant::now();
            let (outs, run_ms) = blocking(move || run_part(&exec, 0, until, &inputs)).await?;
            spent.phone_ms += ms_since(t);
            self.observe_phone(until, run_ms);
            outs
        } else {
            let edge = self.edge.as_ref().expect("a plan offloads only with an edge");
            let mut guard = trial.expect("an offloading plan passed the breaker");
            let cut = plan.cut;
            let exec = self.exec.clone();
            let encoding = plan.encoding;
            let id = request_id.to_string();
            let hash = self.model.hash().to_string();
            let ask_for: Option<Vec<String>> = target.exit_output.clone().map(|o| vec![o]);
            let plain_binary = edge.plain.as_ref().map(PlainLink::binary);
            let t = Instant::now();
            let (crossing, request, run_ms) = blocking(move || {
                let (crossing, run_ms) = run_part(&exec, 0, cut, &inputs)?;
                let encoded = offload::encode_tensors(&crossing, encoding);
                let names: Option<Vec<&str>> =
                    ask_for.as_ref().map(|v| v.iter().map(String::as_str).collect());
                let request = match plain_binary {
                    Some(binary) => plain::encode_request(&id, &crossing, names.as_deref(), binary),
                    None => offload::encode_request(&id, &hash, &encoded, names.as_deref()),
                };
                Ok((crossing, request, run_ms))
            })
            .await?;
            spent.phone_ms += ms_since(t);
            self.observe_phone(cut, run_ms);
            let body_bytes = request.body.len() as u64;

            // Give up on the edge when finishing locally would still make the deadline.
            let predicted_before = device.before_ms.get(cut).copied().unwrap_or(0.0);
            let scale =
                if predicted_before >= 0.5 { (run_ms / predicted_before).clamp(0.25, 4.0) } else { 1.0 };
            let local_rest_ms =
                (device.before_ms.get(target.until).copied().unwrap_or(0.0) - predicted_before).max(0.0)
                    * scale;
            let remote_ms = (plan.predicted.total_ms - plan.predicted.phone_ms).max(1.0);
            let mut timeout_ms = self.edge_timeout_ms(deadline_at, local_rest_ms, remote_ms);
            // A planned offload whose answer is predicted after the moment finishing locally
            // must start would only cost the upload and the wait: finish locally at once
            // (the deadline comes first). A forced cut still tries the edge.
            let hopeless = options.cut.is_none()
                && timeout_ms.is_some_and(|ms| ms < remote_ms)
                && self.local_meets_deadline(deadline_at, local_rest_ms);
            if hopeless {
                timeout_ms = None;
            }
            spent.edge_timeout_ms = timeout_ms;
            spent.attempted = !hopeless;
            let attempt = Instant::now();
            let outcome = match timeout_ms {
                None if hopeless => Err(OffloadError::new(
                    FallbackReason::Timeout,
                    format!(
                        "the edge was predicted to answer in {remote_ms:.0} ms, after finishing locally \
                         had to start to meet the deadline"
                    ),
                    false,
                )),
                None => Err(OffloadError::new(
                    FallbackReason::Timeout,
                    "no time left for the edge before the deadline",
                    false,
                )),
                Some(ms) => {
                    let exchange = async {
                        match &edge.plain {
                            Some(p) => {
                                p.infer(
                                    &edge.client,
                                    cut,
                                    request,
                                    &target.expected,
                                    &link,
                                    plan.predicted.edge_ms,
                                )
                                .await
                            }
                            None => edge.client.infer(request, &target.expected).await,
                        }
                    };
                    match tokio::time::timeout(Duration::from_secs_f64(ms / 1e3), exchange).await {
                        Ok(r) => r,
                        Err(_) => Err(OffloadError::new(
                            FallbackReason::Timeout,
                            format!("the edge did not answer within {ms:.0} ms"),
                            true,
                        )),
                    }
                }
            };
            let attempt_ms = ms_since(attempt);
            match outcome {
                Ok(answer) => {
                    guard.success();
                    offloaded = true;
                    let server_ms = answer.server_ms();
                    spent.edge_ms = server_ms;
                    spent.edge_queue_ms = answer.queue_ms;
                    spent.upload_ms = (answer.first_byte_ms - server_ms).max(0.0);
                    spent.download_ms = answer.download_ms;
                    spent.phone_ms += (attempt_ms - answer.first_byte_ms - answer.download_ms).max(0.0);
                    spent.bytes_up = body_bytes;
                    spent.bytes_down = answer.bytes_down;
                    self.estimator().record(
                        &state,
                        &TransferSample {
                            bytes_up: body_bytes + HTTP_REQUEST_OVERHEAD_BYTES,
                            upload_ms: answer.first_byte_ms,
                            bytes_down: answer.bytes_down,
                            download_ms: answer.download_ms,
                            rtt_ms: None,
                            server_ms,
                        },
                    );
                    if edge.observe(answer.edge_cut.unwrap_or(cut), answer.compute_ms, answer.queue_ms) {
                        self.start_refresh();
                    }
                    answer.outputs
                }
                Err(e) => {
                    spent.upload_ms = attempt_ms;
                    spent.bytes_up = if e.sent { body_bytes } else { 0 };
                    self.edge_failed(
                        &e,
                        &mut guard,
                        timeout_ms.unwrap_or(0.0) < remote_ms,
                        &state,
                        body_bytes,
                        attempt_ms,
                    );
                    log::debug!("request {request_id}: offload failed ({}): {}", e.reason.code(), e.detail);
                    fallback = Some((e.reason, e.detail));
                    let exec = self.exec.clone();
                    let until = target.until;
                    let t = Instant::now();
                    let (outs, _) = blocking(move || run_part(&exec, cut, until, &crossing)).await?;
                    spent.phone_ms += ms_since(t);
                    outs
                }
            }
        };
        let outputs = self.select(&target, outputs)?;

        // --- report -------------------------------------------------------------------
        let total_ms = ms_since(t0);
        let uplink_mbps = if spent.upload_ms > 0.0 && spent.bytes_up > 0 {
            spent.bytes_up as f64 * 8.0 / (spent.upload_ms * 1e3)
        } else {
            link.uplink_mbps
        };
        let downlink_mbps = if spent.download_ms > 0.0 && spent.bytes_down > 0 {
            spent.bytes_down as f64 * 8.0 / (spent.download_ms * 1e3)
        } else {
            link.downlink_mbps
        };
        let energy_mj = self
            .energy
            .breakdown(
                &Activity {
                    compute_ms: spent.phone_ms,
                    upload_ms: spent.upload_ms,
                    uplink_mbps,
                    wait_ms: spent.edge_ms,
                    download_ms: spent.download_ms,
                    downlink_mbps,
                    used_radio: spent.attempted && (spent.bytes_up > 0 || offloaded),
                },
                state.network,
            )
            .total_mj();
        let (fallback_reason, fallback_detail) = match fallback {
            Some((r, d)) => (Some(r), Some(d)),
            None => (None, None),
        };
        let report = Report {
            request_id,
            after_node: self.model.cuts().get(plan.cut).and_then(|c| c.after_node.clone()),
            forced_cut: options.cut.is_some(),
            network: state.network,
            link,
            offloaded,
            fallback_reason,
            fallback_detail,
            phone_ms: spent.phone_ms,
            upload_ms: spent.upload_ms,
            edge_ms: spent.edge_ms,
            edge_queue_ms: spent.edge_queue_ms,
            download_ms: spent.download_ms,
            total_ms,
            bytes_up: spent.bytes_up,
            bytes_down: spent.bytes_down,
            energy_mj,
            deadline_ms: policy.deadline_ms,
            deadline_met: policy.deadline_ms.map(|d| total_ms <= d),
            edge_timeout_ms: spent.edge_timeout_ms,
            breaker: breaker_phase,
            plan,
        };
        log::debug!("request {request_id}: {}", report.summary());
        let _ = self.reports.send(report.clone());
        Ok(InferResult { outputs, report })
    }

    /// Records a failed exchange: breaker, estimator, hash state.
    fn edge_failed(
        &self,
        e: &OffloadError,
        guard: &mut TrialGuard,
        budget_limited: bool,
        state: &PlatformState,
        bytes: u64,
        attempt_ms: f64,
    ) {
        match e.reason {
            FallbackReason::HashMismatch => {
                if let Some(edge) = &self.edge {
                    self.set_mismatch(
                        edge,
                        "another model file (the edge refused the request's hash)".into(),
                    );
                }
            }
            FallbackReason::Timeout if budget_limited => {
                // The deadline left the edge less than its predicted time: our impatience,
                // not the edge's failure.
            }
            FallbackReason::Timeout => {
                guard.failure();
                if e.sent && bytes > 0 {
                    // The upload took at least this long: an upper bound of the uplink.
                    self.estimator().record(
                        state,
                        &TransferSample { bytes_up: bytes, upload_ms: attempt_ms, ..Default::default() },
                    );
                }
            }
            r if r.is_edge_failure() => guard.failure(),
            _ => {}
        }
    }

    fn mismatch_detail(&self, served: &str) -> String {
        let name = self.edge.as_ref().map_or("", |e| e.name.as_str());
        format!(
            "the edge serves `{name}` from {served}, this phone has {}: use the same model file on both sides",
            short(self.model.hash())
        )
    }

    fn set_mismatch(&self, edge: &EdgeLink, served: String) {
        let mut state = edge.lock();
        if !matches!(state.verification, Verification::Mismatch { .. }) {
            log::warn!(
                "model hash mismatch: the edge at {} serves `{}` from {served}, this phone has {}; \
                 running locally until the same model file is served",
                edge.client.base_url(),
                edge.name,
                short(self.model.hash())
            );
        }
        state.verification = Verification::Mismatch { served };
        state.profile = None;
    }

    /// The edge timeout: without a deadline, a multiple of the edge's predicted time; with
    /// one, the latest moment at which finishing locally still meets it. `None`: no time
    /// left for the edge at all.
    fn edge_timeout_ms(
        &self,
        deadline_at: Option<Instant>,
        local_rest_ms: f64,
        remote_ms: f64,
    ) -> Option<f64> {
        let c = &self.config;
        let max = c.max_edge_timeout_ms.max(1.0);
        let default = (remote_ms * c.edge_timeout_factor).clamp(c.min_edge_timeout_ms.min(max), max);
        let Some(deadline) = deadline_at else { return Some(default) };
        let now = Instant::now();
        let left_ms = if deadline > now {
            (deadline - now).as_secs_f64() * 1e3
        } else {
            -((now - deadline).as_secs_f64() * 1e3)
        };
        let give_up_ms = self.give_up_ms(left_ms, local_rest_ms);
        if give_up_ms >= 1.0 {
            Some(give_up_ms.min(max))
        } else if left_ms >= 1.0 {
            // Finishing locally cannot make it any more: the edge is the only chance.
            Some(left_ms.min(default))
        } else {
            None
        }
    }

    /// How long the edge may take before finishing locally (`local_rest_ms`, with the safety
    /// factor and margin) must start to meet a deadline `left_ms` away.
    fn give_up_ms(&self, left_ms: f64, local_rest_ms: f64) -> f64 {
        left_ms - local_rest_ms * self.config.local_safety_factor - self.config.deadline_margin_ms
    }

    /// Whether finishing locally from now still meets the deadline (none: always).
    fn local_meets_deadline(&self, deadline_at: Option<Instant>, local_rest_ms: f64) -> bool {
        let Some(deadline) = deadline_at else { return true };
        let left_ms = deadline.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3;
        self.give_up_ms(left_ms, local_rest_ms) >= 1.0
    }

    /// Plans; with an unusable edge profile, plans without the edge and says why.
    #[allow(clippy::too_many_arguments)]
    fn plan_or_local(
        &self,
        state: &PlatformState,
        link: &LinkEstimate,
        edge: Option<&EdgeProfile>,
        policy: &Policy,
        device: &DeviceProfile,
        options: &InferOptions,
        fallback: &mut Option<(FallbackReason, String)>,
    ) -> Result<Plan, SessionError> {
        match self.plan_with(state, link, edge, policy, device, options) {
            Ok(p) => {
                if let Some(plain) = self.edge.as_ref().and_then(|e| e.plain.as_ref()) {
                    if p.offloads() && !plain.serves(p.cut) {
                        // Only a forced cut gets here: plan_with keeps to the exported cuts.
                        let detail = format!(
                            "cut {} is not exported to the plain server, or not ready there (exported: {:?})",
                            p.cut,
                            plain.exported()
                        );
                        *fallback = Some((FallbackReason::ModelNotServed, detail));
                        return self.local_plan(
                            state,
                            link,
                            policy,
                            device,
                            "the cut is not served by the plain server",
                        );
                    }
                }
                Ok(p)
            }
            Err(e) if edge.is_some() => {
                log::warn!("the edge profile is unusable ({e}): planning without the edge");
                if let Some(link) = &self.edge {
                    link.lock().profile = None;
                }
                *fallback =
                    Some((FallbackReason::MalformedResponse, format!("the edge profile is unusable: {e}")));
                self.local_plan(state, link, policy, device, "the edge profile is unusable")
            }
            Err(e) => Err(SessionError::Plan(e)),
        }
    }

    /// A plan without the edge, its reason naming why.
    fn local_plan(
        &self,
        state: &PlatformState,
        link: &LinkEstimate,
        policy: &Policy,
        device: &DeviceProfile,
        why: &str,
    ) -> Result<Plan, SessionError> {
        let mut plan = self
            .plan_with(state, link, None, policy, device, &InferOptions::default())
            .map_err(SessionError::Plan)?;
        plan.reason = plan.reason.replacen("no edge", why, 1);
        Ok(plan)
    }

    fn plan_with(
        &self,
        state: &PlatformState,
        link: &LinkEstimate,
        edge: Option<&EdgeProfile>,
        policy: &Policy,
        device: &DeviceProfile,
        options: &InferOptions,
    ) -> Result<Plan, PlanError> {
        // A plain OIP server takes the crossing tensors as they are: no Tandem encodings.
        let plain = self.edge.as_ref().and_then(|e| e.plain.as_ref()).filter(|_| edge.is_some());
        let fp32_only;
        let policy = match plain {
            Some(_) => {
                fp32_only = Policy { encodings: vec![Encoding::Fp32], ..policy.clone() };
                &fp32_only
            }
            None => policy,
        };
        let input = PlanInput {
            cuts: self.model.cuts(),
            device,
            edge,
            cloud: None,
            link,
            platform: state,
            energy: &self.energy,
            policy,
            meta: self.meta.as_ref(),
        };
        let mut plan = planner::plan(&input)?;
        if let (Some(plain), None) = (plain, options.cut) {
            if plan.offloads() && !plain.serves(plan.cut) {
                let chosen = plan.cut;
                match plain.best_exported(&plan, policy.deadline_ms) {
                    Some(c) => {
                        force_cut(&mut plan, c, policy);
                        plan.reason = format!(
                            "cut {c}: the best exported cut (the planner preferred cut {chosen}, which the plain server does not serve)"
                        );
                    }
                    None => {
                        plan = self.plan_with(state, link, None, policy, device, &InferOptions::default())?;
                        plan.reason = plan.reason.replacen(
                            "no edge",
                            "no cut the plain server serves beats running here",
                            1,
                        );
                    }
                }
            }
        }
        if let Some(cut) = options.cut {
            force_cut(&mut plan, cut, policy);
            if plan.offloads() && plan.predicted.bytes_down == 0 {
                plan.predicted.bytes_down = self.target(&plan).expected.iter().map(TensorSpec::bytes).sum();
            }
        }
        if let Some(encoding) = options.encoding.filter(|_| plan.offloads()) {
            plan.encoding = encoding;
        }
        Ok(plan)
    }

    /// Where the plan's outputs come from.
    fn target(&self, plan: &Plan) -> Target {
        let last = self.model.last_cut();
        let exit_output = plan
            .exit
            .as_ref()
            .and_then(|name| self.meta.as_ref()?.exits.iter().find(|e| &e.name == name))
            .map(|e| e.output.clone())
            .filter(|o| self.model.outputs().iter().any(|s| &s.name == o));
        match exit_output {
            Some(output) => {
                let until = self
                    .model
                    .cuts()
                    .iter()
                    .find(|c| c.tensors.iter().any(|t| t.name == output))
                    .map_or(last, |c| c.id);
                let expected = self.model.outputs().iter().filter(|s| s.name == output).cloned().collect();
                Target { until, exit_output: Some(output), expected }
            }
            None => Target { until: last, exit_output: None, expected: self.model.outputs().to_vec() },
        }
    }

    /// The outputs the caller gets: all model outputs, or the plan's exit.
    fn select(&self, target: &Target, tensors: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, SessionError> {
        let Some(name) = &target.exit_output else { return Ok(tensors) };
        let kept: Vec<NamedTensor> = tensors.into_iter().filter(|t| &t.name == name).collect();
        if kept.len() != 1 {
            return Err(SessionError::Engine(Error::UnknownTensor {
                name: name.clone(),
                reason: "the exit's output was not produced".into(),
            }));
        }
        Ok(kept)
    }

    /// Rescales the device estimate from a local run of the part before `cut` (until the
    /// profile is calibrated).
    fn observe_phone(&self, cut: usize, run_ms: f64) {
        let cuts = self.model.cuts();
        let total = cuts.last().map_or(0, |c| c.macs_before);
        let before = cuts.get(cut).map_or(0, |c| c.macs_before);
        if total == 0 || before * 20 < total || !(run_ms.is_finite() && run_ms > 0.0) {
            return;
        }
        let mut d = self.device_state();
        if d.profile.measured {
            return;
        }
        let full_ms = run_ms * total as f64 / before as f64;
        let old_full = d.profile.before_ms.last().copied().unwrap_or(full_ms);
        let full_ms = if d.observed { 0.7 * old_full + 0.3 * full_ms } else { full_ms };
        d.observed = true;
        let thermal = d.profile.thermal_at_calibration;
        d.profile = DeviceProfile::estimate(self.model.hash(), &self.device_name, cuts, full_ms, thermal);
    }

    /// Starts a background calibration the first time, and again when the thermal state
    /// has changed since the last one (at most once a minute).
    fn maybe_calibrate(self: &Arc<Self>, thermal: ThermalState) {
        if !self.config.calibrate {
            return;
        }
        {
            let mut d = self.device_state();
            if d.calibrating {
                return;
            }
            let first = !d.profile.measured && !d.calibration_attempted;
            let thermal_changed = d.profile.measured
                && thermal != ThermalState::Unknown
                && d.profile.thermal_at_calibration != thermal
                && d.last_calibration.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
            if !(first || thermal_changed) {
                return;
            }
            d.calibrating = true;
            d.calibration_attempted = true;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            if let Err(e) = inner.calibrate(thermal).await {
                log::warn!("device calibration failed, keeping the estimate: {e}");
            }
        });
    }

    async fn calibrate(self: Arc<Self>, thermal: ThermalState) -> Result<DeviceProfile, SessionError> {
        self.device_state().calibrating = true;
        let exec = self.exec.clone();
        let store = self.store.clone();
        let options = self.config.calibration.clone();
        let device = self.device_name.clone();
        let result = blocking(move || {
            let inputs = check::seeded_inputs(exec.model().inputs());
            match store {
                Some(s) => s.load_or_calibrate(&exec, &inputs, &options, &device, thermal),
                None => DeviceProfile::calibrate(&exec, &inputs, &options, &device, thermal, |_, _| {}),
            }
        })
        .await;
        let mut d = self.device_state();
        d.calibrating = false;
        d.last_calibration = Some(Instant::now());
        let profile = result?;
        log::debug!(
            "device profile calibrated: full model {:.1} ms",
            profile.before_ms.last().copied().unwrap_or(0.0)
        );
        d.profile = profile.clone();
        Ok(profile)
    }

    /// Starts a background bandwidth probe when the network has no fresh estimate.
    fn maybe_probe(self: &Arc<Self>, state: &PlatformState, policy: &Policy) {
        let Some(edge) = &self.edge else { return };
        // A plain OIP server has no probe endpoint.
        if !self.config.auto_probe
            || edge.plain.is_some()
            || edge.lock().verification != Verification::Verified
            || !self.breaker().would_pass(Instant::now())
            || !self.estimator().needs_probe(state, policy.allow_metered)
        {
            return;
        }
        {
            let mut last = self.last_probe.lock().unwrap_or_else(|e| e.into_inner());
            // A failed or inconclusive probe is not retried on every request.
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
                return;
            }
            if self.probing.swap(true, Ordering::SeqCst) {
                return;
            }
            *last = Some(Instant::now());
        }
        let inner = self.clone();
        let state = state.clone();
        self.handle.spawn(async move {
            let edge = inner.edge.as_ref().expect("checked above");
            let result = crate::probe::probe(
                edge.client.http(),
                edge.client.base_url(),
                edge.client.token(),
                &inner.config.probe,
            )
            .await;
            match result {
                Ok(p) => {
                    log::debug!(
                        "probe: {:.2} Mbps up, {:.2} Mbps down, {:.1} ms RTT",
                        p.uplink_mbps,
                        p.downlink_mbps,
                        p.rtt_ms
                    );
                    inner.estimator().record_probe(&state, &p);
                }
                Err(e) => log::debug!("probe failed: {e}"),
            }
            inner.probing.store(false, Ordering::SeqCst);
        });
    }

    /// Waits up to `wait` for the edge's model check (starting one if needed). `trial`:
    /// `Some(is_trial)` when a request that passed the breaker asks, so the check's outcome
    /// counts for the breaker; `None` for tools that just want the status.
    async fn ensure_verified(
        self: &Arc<Self>,
        wait: Duration,
        trial: Option<bool>,
    ) -> Result<(), (FallbackReason, String)> {
        let Some(edge) = &self.edge else {
            return Err((FallbackReason::EdgeUnreachable, "the session has no edge".into()));
        };
        let mut rx = edge.generation.subscribe();
        let start = *rx.borrow_and_update();
        if let Some(v) = self.verdict(edge, false) {
            return v;
        }
        self.start_connect(trial.unwrap_or(false), trial.is_some());
        let waited = tokio::time::timeout(wait, async {
            while *rx.borrow_and_update() == start {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        match self.verdict(edge, true) {
            Some(v) => v,
            None if waited.is_err() => Err((
                FallbackReason::Timeout,
                format!("the edge's model check did not finish within {} ms", wait.as_millis()),
            )),
            None => Err((FallbackReason::EdgeUnreachable, "the edge's model check failed".into())),
        }
    }

    /// The model check's verdict: `None` while unknown. `with_error`: report the last
    /// check's failure as the verdict.
    fn verdict(&self, edge: &EdgeLink, with_error: bool) -> Option<Result<(), (FallbackReason, String)>> {
        let state = edge.lock();
        match &state.verification {
            Verification::Verified => Some(Ok(())),
            Verification::Mismatch { served } => {
                let served = served.clone();
                drop(state);
                Some(Err((FallbackReason::HashMismatch, self.mismatch_detail(&served))))
            }
            Verification::Unverified if with_error => state.last_error.clone().map(Err),
            Verification::Unverified => None,
        }
    }

    /// Starts the model check (and profile fetch) unless one is running. `count`: its
    /// outcome counts for the breaker (`trial`: as the half-open trial).
    fn start_connect(self: &Arc<Self>, trial: bool, count: bool) {
        let Some(edge) = &self.edge else { return };
        if edge.connecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            let edge = inner.edge.as_ref().expect("checked above");
            let result = inner.check_edge().await;
            match &result {
                Ok(()) => {
                    if count {
                        inner.breaker().success(trial);
                    }
                }
                Err((reason, detail)) => {
                    log::debug!("edge model check failed ({}): {detail}", reason.code());
                    if count && reason.is_edge_failure() {
                        inner.breaker().failure(trial, Instant::now());
                    } else if count && trial {
                        inner.breaker().abandon_trial();
                    }
                }
            }
            edge.connecting.store(false, Ordering::SeqCst);
            edge.generation.send_modify(|g| *g += 1);
        });
    }

    /// Checks the model hash and fetches the profile; updates the edge state.
    async fn check_edge(&self) -> Result<(), (FallbackReason, String)> {
        let edge = self.edge.as_ref().expect("only called with an edge");
        if let Some(plain) = &edge.plain {
            return self.check_plain(edge, plain).await;
        }
        let fail = |e: OffloadError| {
            edge.lock().last_error = Some((e.reason, e.detail.clone()));
            (e.reason, e.detail)
        };
        let served = edge.client.model_hash().await.map_err(fail)?;
        match served {
            Some(h) if h != self.model.hash() => {
                let served = format!("a file with hash {}", short(&h));
                self.set_mismatch(edge, served.clone());
                return Err((FallbackReason::HashMismatch, self.mismatch_detail(&served)));
            }
            _ => {
                let mut state = edge.lock();
                if matches!(state.verification, Verification::Mismatch { .. }) {
                    log::info!("the edge now serves the same model file: offloading again");
                }
                state.verification = Verification::Verified;
                state.last_error = None;
            }
        }
        self.fetch_profile(edge).await;
        Ok(())
    }

    /// The model check of a plain OIP server: the manifest's model hash (checked locally) and
    /// which exported parts the server has ready. Its answer times are round-trip samples.
    async fn check_plain(&self, edge: &EdgeLink, plain: &PlainLink) -> Result<(), (FallbackReason, String)> {
        match plain.check(&edge.client).await {
            Ok(first_byte_ms) => {
                let state = self.signals.state();
                let sample = TransferSample {
                    bytes_up: HTTP_REQUEST_OVERHEAD_BYTES,
                    upload_ms: first_byte_ms,
                    ..Default::default()
                };
                self.estimator().record(&state, &sample);
                let mut s = edge.lock();
                s.verification = Verification::Verified;
                s.last_error = None;
                s.last_refresh = Some(Instant::now());
                Ok(())
            }
            Err(PlainCheckError::Mismatch(served)) => {
                self.set_mismatch(edge, served.clone());
                Err((FallbackReason::HashMismatch, self.mismatch_detail(&served)))
            }
            Err(PlainCheckError::Offload(e)) => {
                edge.lock().last_error = Some((e.reason, e.detail.clone()));
                Err((e.reason, e.detail))
            }
        }
    }

    /// Fetches the edge's profile; failures keep the previous one (or the estimate).
    async fn fetch_profile(&self, edge: &EdgeLink) {
        match edge.client.profile().await {
            Ok(Some((profile, answer))) => {
                let state = self.signals.state();
                self.estimator().record(
                    &state,
                    &TransferSample {
                        bytes_up: HTTP_REQUEST_OVERHEAD_BYTES,
                        upload_ms: answer.first_byte_ms,
                        bytes_down: answer.bytes_down,
                        download_ms: answer.download_ms,
                        rtt_ms: None,
                        server_ms: 0.0,
                    },
                );
                let device = self.device_state().profile.clone();
                let estimate = estimated_edge_profile(self, &device);
                match sanitize_profile(profile, &self.model, &estimate) {
                    Ok(p) => {
                        let mut s = edge.lock();
                        s.profile = Some(p);
                        s.last_refresh = Some(Instant::now());
                        // The fresh profile has the load now; observed answers start over.
                        s.observed_queue_ms = None;
                    }
                    Err(e) => log::warn!("the edge profile is unusable, using an estimate: {e}"),
                }
            }
            Ok(None) => log::debug!("the edge has no profile endpoint: using an estimate"),
            Err(e) => log::debug!("fetching the edge profile failed ({}): {}", e.reason.code(), e.detail),
        }
    }

    /// Refreshes the edge's profile (and model hash) in the background, once at a time.
    fn start_refresh(self: &Arc<Self>) {
        let Some(edge) = &self.edge else { return };
        if edge.lock().last_refresh.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        if edge.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.handle.spawn(async move {
            inner.refresh().await;
            if let Some(edge) = &inner.edge {
                edge.refreshing.store(false, Ordering::SeqCst);
            }
        });
    }

    async fn refresh(&self) {
        let Some(edge) = &self.edge else { return };
        if self.breaker().state(Instant::now()).phase != crate::breaker::BreakerPhase::Closed {
            return;
        }
        // Quietly: background checks do not count for the breaker; requests do.
        if let Err((reason, detail)) = self.check_edge().await {
            log::debug!("edge refresh failed ({}): {detail}", reason.code());
        }
        edge.generation.send_modify(|g| *g += 1);
    }
}

/// Refreshes the edge's profile and model hash periodically while the session lives.
async fn refresher(weak: Weak<Inner>) {
    loop {
        let period = match weak.upgrade() {
            Some(inner) => Duration::from_millis(inner.config.edge_refresh_ms.max(100)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let edge = inner.edge.as_ref().expect("the refresher runs only with an edge");
        if !edge.refreshing.swap(true, Ordering::SeqCst) {
            inner.refresh().await;
            edge.refreshing.store(false, Ordering::SeqCst);
        }
    }
}

/// Overrides the planner's cut with `cut`, using the planner's own costs for it.
fn force_cut(plan: &mut Plan, cut: usize, policy: &Policy) {
    if plan.cut == cut {
        return;
    }
    let Some(entry) = plan.table.iter().find(|e| e.cut == cut).cloned() else { return };
    if !entry.allowed {
        // Offloading is blocked (offline, no edge, metered): the local plan stands.
        return;
    }
    let ready = plan.table.last().map_or(cut, |e| e.cut);
    let offloads = cut < ready;
    let chosen = plan.cut;
    plan.cut = cut;
    plan.cloud_cut = None;
    plan.encoding = if offloads { entry.encoding } else { Encoding::Fp32 };
    plan.tiers = if offloads { vec![Tier::Device, Tier::Edge] } else { vec![Tier::Device] };
    plan.predicted = Prediction {
        phone_ms: entry.phone_ms,
        upload_ms: entry.upload_ms,
        rtt_ms: (entry.latency_ms - entry.phone_ms - entry.upload_ms - entry.edge_ms - entry.download_ms)
            .max(0.0),
        edge_ms: entry.edge_ms,
        cloud_ms: 0.0,
        download_ms: entry.download_ms,
        total_ms: entry.latency_ms,
        bytes_up: entry.bytes_up,
        bytes_down: if offloads { plan.predicted.bytes_down } else { 0 },
        energy_mj: entry.energy_mj,
        energy_without_tail_mj: entry.energy_mj,
    };
    plan.deadline_met = policy.deadline_ms.map(|d| entry.latency_ms <= d);
    plan.reason = format!("forced cut {cut} (the planner chose cut {chosen}: {})", plan.reason);
}

use tandem_model::util::short_hash as short;

// The session must be shareable between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{FixedSignals, NetworkKind};

    fn tiny() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tiny_resnet.onnx"))
    }

    fn wifi() -> Arc<FixedSignals> {
        Arc::new(FixedSignals::new(PlatformState {
            network: NetworkKind::Wifi,
            network_id: "test".into(),
            ..Default::default()
        }))
    }

    fn quiet() -> SessionConfig {
        SessionConfig { calibrate: false, auto_probe: false, ..Default::default() }
    }

    #[test]
    fn without_an_edge_everything_runs_locally() {
        let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
        let input = check::seeded_inputs(session.model().inputs());
        let want = Executor::new(session.model().clone()).run_full(&input).expect("runs");
        let unnamed: Vec<NamedTensor> =
            input.into_iter().map(|t| NamedTensor { name: String::new(), ..t }).collect();
        let r = session.infer_blocking(unnamed).expect("local");
        assert_eq!(r.outputs, want);
        assert!(!r.report.offloaded);
        assert_eq!(r.report.fallback_reason, None);
        assert_eq!(session.edge_status(), EdgeStatus::NoEdge);
        assert!(r.report.total_ms >= r.report.phone_ms);
        assert!(r.report.energy_mj > 0.0);
    }

    #[test]
    fn caller_mistakes_are_errors() {
        let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
        let mut input = check::seeded_inputs(session.model().inputs());
        input[0].shape = vec![1, 2, 3];
        assert!(matches!(session.infer_blocking(input), Err(SessionError::InvalidInput(_))));
        let input = check::seeded_inputs(session.model().inputs());
        let options = InferOptions { cut: Some(999), ..Default::default() };
        assert!(matches!(
            session.infer_blocking_with(input.clone(), options),
            Err(SessionError::InvalidOptions { .. })
        ));
        let options = InferOptions { deadline_ms: Some(f64::NAN), ..Default::default() };
        assert!(matches!(
            session.infer_blocking_with(input.clone(), options),
            Err(SessionError::InvalidOptions { .. })
        ));
        let floor = Session::builder(tiny())
            .signals(wifi())
            .config(quiet())
            .policy(Policy { keep_raw_input_on_device: true, ..Policy::latency() })
            .build()
            .expect("builds");
        let options = InferOptions { cut: Some(0), ..Default::default() };
        assert!(matches!(
            floor.infer_blocking_with(input.clone(), options),
            Err(SessionError::InvalidOptions { .. })
        ));
        session.close();
        assert!(matches!(session.infer_blocking(input), Err(SessionError::Closed)));
    }

    #[test]
    fn bad_configuration_is_refused_at_build() {
        let bad_url = Session::builder(tiny()).edge(EdgeEndpoint::new("ftp://x")).build();
        assert!(matches!(bad_url, Err(SessionError::Config { .. })));
        let bad_ca = Session::builder(tiny())
            .edge(EdgeEndpoint::new("https://x").with_ca_pem(b"not pem".to_vec()))
            .build();
        assert!(matches!(bad_ca, Err(SessionError::Config { .. })));
        let bad_deadline =
            Session::builder(tiny()).policy(Policy { deadline_ms: Some(-1.0), ..Policy::default() }).build();
        assert!(matches!(bad_deadline, Err(SessionError::Config { .. })));
        assert!(matches!(Session::builder("/nonexistent.onnx").build(), Err(SessionError::Load(_))));
    }

    #[test]
    fn offline_requests_say_so() {
        let signals =
            Arc::new(FixedSignals::new(PlatformState { network: NetworkKind::None, ..Default::default() }));
        // Nothing listens on port 9: the session must not even try.
        let session = Session::builder(tiny())
            .edge(EdgeEndpoint::new("http://127.0.0.1:9"))
            .signals(signals)
            .config(quiet())
            .build()
            .expect("builds");
        let input = check::seeded_inputs(session.model().inputs());
        let r = session
            .infer_blocking_with(input, InferOptions { cut: Some(8), ..Default::default() })
            .expect("local");
        assert_eq!(r.report.fallback_reason, Some(FallbackReason::Offline));
        assert!(!r.report.offloaded);
        assert!(r.report.plan.reason.contains("offline"), "{}", r.report.plan.reason);
    }

    #[test]
    fn timeouts_respect_the_deadline() {
        let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
        let inner = &session.inner;
        let c = &inner.config;
        // No deadline: a multiple of the prediction, clamped.
        assert_eq!(inner.edge_timeout_ms(None, 10.0, 100.0), Some(300.0_f64.max(c.min_edge_timeout_ms)));
        assert_eq!(inner.edge_timeout_ms(None, 10.0, 1e9), Some(c.max_edge_timeout_ms));
        // 200 ms left, 40 ms to finish locally: give up 200 - 50 - 3 ms from now.
        let t = inner
            .edge_timeout_ms(Some(Instant::now() + Duration::from_millis(200)), 40.0, 50.0)
            .expect("time left");
        assert!((140.0..=147.5).contains(&t), "{t}");
        // Finishing locally cannot make it: wait for the edge until the deadline.
        let t = inner
            .edge_timeout_ms(Some(Instant::now() + Duration::from_millis(100)), 500.0, 50.0)
            .expect("time left");
        assert!((90.0..=100.0).contains(&t), "{t}");
        assert_eq!(inner.edge_timeout_ms(Some(Instant::now()), 5.0, 50.0), None);
    }

    #[test]
    fn calibrates_in_the_background_and_stores_the_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SessionConfig {
            auto_probe: false,
            calibration: CalibrationOptions { runs: 1, max_cuts: Some(3) },
            ..Default::default()
        };
        let build = || {
            Session::builder(tiny())
                .signals(wifi())
                .config(config.clone())
                .profile_store(dir.path())
                .device_name("test-device")
                .build()
                .expect("builds")
        };
        let session = build();
        assert!(!session.device_profile().measured, "an estimate until calibrated");
        let input = check::seeded_inputs(session.model().inputs());
        session.infer_blocking(input).expect("local");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !session.device_profile().measured {
            assert!(Instant::now() < deadline, "the calibration never finished");
            std::thread::sleep(Duration::from_millis(20));
        }
        let p = session.device_profile();
        assert_eq!((p.device.as_str(), p.before_ms.len()), ("test-device", session.model().cuts().len()));
        // The next session on this device starts from the stored profile.
        assert!(build().device_profile().measured);
    }

    #[test]
    fn reports_are_broadcast() {
        let session = Session::builder(tiny()).signals(wifi()).config(quiet()).build().expect("builds");
        let mut reports = session.subscribe();
        let input = check::seeded_inputs(session.model().inputs());
        let r = session.infer_blocking(input).expect("local");
        let got = reports.try_recv().expect("one report");
        // (Reports hold NaN costs for cuts a local plan could not use: compare fields.)
        assert_eq!((got.request_id, got.total_ms, got.summary()), (1, r.report.total_ms, r.report.summary()));
    }
}
