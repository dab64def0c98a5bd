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

mod background;
mod builder;
mod config;
mod edge;
mod pipeline;
mod planning;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::broadcast;

use crate::breaker::{Breaker, BreakerState};
use crate::devprofile::{DeviceProfile, ProfileStore};
use crate::energy::EnergyModel;
use crate::meta::ModelMeta;
use crate::netest::{LinkEstimate, NetworkEstimator};
use crate::planner::{EdgeProfile, Policy};
use crate::platform::PlatformSignals;
use crate::report::{InferResult, Report};
use crate::Error;
use crate::{match_inputs, Executor};
use crate::{LoadOptions, Model, NamedTensor};

pub use builder::SessionBuilder;
pub use config::{EdgeStatus, ExplorationConfig, InferOptions, SessionConfig, SessionError};
use edge::{EdgeLink, Verification};

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
            .field("edge", &self.inner.edge.as_ref().map(|e| e.transport.base_url()))
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

    /// The model's sidecar (`NAME.tandem.json`), if it has one.
    pub fn meta(&self) -> Option<&ModelMeta> {
        self.inner.meta.as_ref()
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

/// The exploration's bounded rate ([`ExplorationConfig`]).
#[derive(Default)]
struct ExplorationState {
    /// Requests begun since the last exploratory request (or since the session started).
    requests_since: u64,
    /// When the last exploratory request was made or the last offload succeeded.
    last_at: Option<Instant>,
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
    /// When the session last explored or offloaded, and the requests since it explored.
    exploration: Mutex<ExplorationState>,
    /// Why the model runs whole on the edge (the phone's engine cannot run it), if it does:
    /// every request is planned at cut 0, and a request the edge cannot take is an error.
    whole_only: Option<String>,
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

    fn exploration_state(&self) -> MutexGuard<'_, ExplorationState> {
        self.exploration.lock().unwrap_or_else(|e| e.into_inner())
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
            let floor = self.policy.floor_for(self.model.cuts());
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
}

// The session must be shareable between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
};
