//! # tandem-sdk
//!
//! The phone side of Tandem: a [`Session`] runs the part of a model before the cut on the
//! device, sends the tensors crossing the cut to an edge over the Open Inference Protocol, and
//! always returns a result, with a [`Report`] of what was decided and what it cost. The model
//! and the planner live in their own crates (`tandem-model`, `tandem-planner`); this crate
//! re-exports what an app needs, so one dependency is enough.
//!
//! ```no_run
//! use tandem_sdk::{EdgeEndpoint, Policy, Session};
//!
//! let session = Session::builder("models/mobilenetv2.onnx")
//!     .edge(EdgeEndpoint::new("http://127.0.0.1:8080"))
//!     .policy(Policy::default())
//!     .build()?;
//! let input = tandem_sdk::check::seeded_inputs(session.model().inputs());
//! let result = session.infer_blocking(input)?;
//! println!("{}", result.report.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod breaker;
pub mod offload;
pub mod plain;
pub mod platform;
pub mod probe;
pub mod report;
pub mod session;
pub mod transport;

// UniFFI derives on the types the Kotlin and Swift bindings carry as they are (bindings/).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
uniffi::use_remote_type!(tandem_model::usize);

pub use tandem_model::{check, encoding, meta, util};
pub use tandem_model::{
    match_inputs, CacheStats, Cut, DType, Error, Executor, LoadOptions, Model, ModelMeta,
};
pub use tandem_model::{NamedTensor, Part, Result, Side, TensorSpec};
pub use tandem_planner as planner;
pub use tandem_planner::{devprofile, energy, netest};
pub use tandem_planner::{plan, EdgeProfile, Objective, Plan, PlanError, PlanInput, Policy};
pub use tandem_planner::{DeviceProfile, EnergyBreakdown, EnergyModel, ProfileStore};
pub use tandem_planner::{LinkEstimate, NetworkEstimator, TransferSample};

pub use breaker::{BreakerConfig, BreakerPhase, BreakerState};
pub use offload::{EdgeEndpoint, TandemClient};
pub use plain::{PlainClient, PlainOip};
pub use platform::{CellularGen, NetworkKind, PlatformSignals, PlatformState, ThermalState};
pub use report::{Decision, FallbackReason, InferResult, Report};
pub use session::{
    EdgeStatus, ExplorationConfig, InferOptions, Session, SessionBuilder, SessionConfig, SessionError,
};
pub use transport::Transport;
