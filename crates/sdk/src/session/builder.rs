//! Building a session: loading the model, checking the configuration, choosing the
//! transport of the edge, and starting the background work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::broadcast;

use super::edge::EdgeLink;
use super::{background, DeviceState, Inner, OwnedRuntime, Session, SessionConfig, SessionError};
use crate::breaker::Breaker;
use crate::devprofile::{device_name, DeviceProfile, ProfileStore};
use crate::energy::EnergyModel;
use crate::meta::ModelMeta;
use crate::netest::{LinkEstimate, NetworkEstimator};
use crate::offload::{EdgeEndpoint, TandemClient};
use crate::plain::{PlainClient, PlainOip};
use crate::planner::{self, PlanInput, Policy};
use crate::platform::{PlatformSignals, PlatformState, ThermalState};
use crate::transport::Transport;
use crate::{Error, Executor, LoadOptions, Model};

/// Builds a [`Session`]: `Session::builder(model_path).edge(...).policy(...).build()`.
pub struct SessionBuilder {
    pub(super) model_path: PathBuf,
    pub(super) load_options: LoadOptions,
    pub(super) edge: Option<EdgeEndpoint>,
    pub(super) policy: Policy,
    pub(super) signals: Option<Arc<dyn PlatformSignals>>,
    pub(super) energy: EnergyModel,
    pub(super) store_dir: Option<PathBuf>,
    pub(super) device_profile: Option<DeviceProfile>,
    pub(super) device_name: Option<String>,
    pub(super) meta: Option<ModelMeta>,
    pub(super) config: SessionConfig,
    pub(super) runtime: Option<Handle>,
    pub(super) plain: Option<PlainOip>,
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
        let (model, whole_only) = self.load_model()?;
        let config = self.config;
        let model = Arc::new(model);
        let meta = match self.meta {
            Some(m) => Some(m),
            None => ModelMeta::load_beside_checked(&self.model_path, model.hash())
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
            constraints: Default::default(),
        };
        planner::plan(&dry)
            .map_err(|e| SessionError::Config { reason: format!("the policy or metadata: {e}") })?;

        let timeout = Duration::from_millis(config.connect_timeout_ms);
        let edge = match &self.edge {
            None => None,
            Some(endpoint) => Some(edge_link(endpoint, self.plain.clone(), &model, timeout)?),
        };
        let (runtime, handle) = runtime(self.runtime, config.worker_threads)?;
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
            exploration: Mutex::new(super::ExplorationState::default()),
            whole_only,
            config,
        });
        if inner.edge.is_some() {
            inner.start_connect(false, false);
            let weak = Arc::downgrade(&inner);
            inner.handle.spawn(background::refresher(weak));
        }
        log::debug!(
            "session for model {} ({}): edge {}",
            inner.model.path().display(),
            &inner.model.hash()[..12],
            inner.edge.as_ref().map_or("none".to_string(), |e| e.transport.base_url().to_string())
        );
        Ok(Session { inner, _runtime: runtime })
    }
}

impl SessionBuilder {
    /// Loads the model for the phone. A model with an operator the phone's engine lacks is
    /// still usable when an edge is configured and the privacy floor lets the raw input leave
    /// (cut 0): it is then loaded to run whole on the edge, and the reason is returned.
    fn load_model(&self) -> Result<(Model, Option<String>), SessionError> {
        match Model::load(&self.model_path, &self.load_options) {
            Ok(model) => Ok((model, None)),
            Err(Error::UnsupportedOperator { node, op_type })
                if self.edge.is_some() && self.policy.effective_min_cut() == 0 =>
            {
                let reason = format!(
                    "the phone's engine cannot run operator {op_type} (node {node}): the whole request \
                     goes to the edge"
                );
                log::warn!("{reason}");
                let model =
                    Model::load_whole(&self.model_path, &self.load_options).map_err(SessionError::Load)?;
                Ok((model, Some(reason)))
            }
            Err(e) => Err(SessionError::Load(e)),
        }
    }
}

/// The link to the edge: the transport for a plain OIP server (`plain`) or a Tandem edge.
fn edge_link(
    endpoint: &EdgeEndpoint,
    plain: Option<PlainOip>,
    model: &Model,
    timeout: Duration,
) -> Result<EdgeLink, SessionError> {
    let transport: Arc<dyn Transport> = match plain {
        Some(target) => Arc::new(
            PlainClient::new(endpoint, target, model, timeout)
                .map_err(|reason| SessionError::Config { reason })?,
        ),
        None => Arc::new(
            TandemClient::new(endpoint, model, timeout).map_err(|reason| SessionError::Config { reason })?,
        ),
    };
    Ok(EdgeLink::new(transport))
}

/// The caller's runtime, or one the session owns with `worker_threads` workers.
fn runtime(
    given: Option<tokio::runtime::Handle>,
    worker_threads: usize,
) -> Result<(Option<Arc<OwnedRuntime>>, tokio::runtime::Handle), SessionError> {
    if let Some(handle) = given {
        return Ok((None, handle));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .max_blocking_threads(16)
        .thread_name("tandem-session")
        .enable_all()
        .build()
        .map_err(|e| SessionError::Config { reason: format!("starting the async runtime: {e}") })?;
    let handle = rt.handle().clone();
    Ok((Some(Arc::new(OwnedRuntime(Some(rt)))), handle))
}

fn check_policy(policy: &Policy) -> Result<(), SessionError> {
    if let Some(d) = policy.deadline_ms {
        if !(d.is_finite() && d > 0.0) {
            return Err(SessionError::Config { reason: format!("the policy's deadline is {d} ms") });
        }
    }
    Ok(())
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
