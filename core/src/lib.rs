//! # tandem-core
//!
//! Split DNN inference between a phone and the edge. This crate is plain Rust and knows
//! nothing of FFI: it loads an ONNX model, finds every place it can be cut, and runs the part
//! before a cut and the part after it exactly.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tandem_core::{Executor, LoadOptions, Model};
//!
//! let model = Arc::new(Model::load("models/tiny_resnet.onnx", &LoadOptions::default())?);
//! for cut in model.cuts() {
//!     println!("cut {}: {} bytes cross", cut.id, cut.bytes);
//! }
//! let exec = Executor::new(model.clone());
//! let input = tandem_core::check::seeded_inputs(model.inputs());
//! let crossing = exec.run_before(3, &input)?;      // on the phone
//! let outputs = exec.run_after(3, &crossing)?;     // on the edge
//! # Ok::<(), tandem_core::Error>(())
//! ```

pub mod breaker;
pub mod check;
pub mod devprofile;
pub mod encoding;
pub mod energy;
mod error;
mod exec;
pub mod export;
mod graph;
pub mod meta;
mod model;
pub mod netest;
pub mod npy;
pub mod offload;
pub mod plain;
pub mod planner;
pub mod platform;
pub mod report;
pub mod session;
mod tensor;

pub use breaker::{BreakerConfig, BreakerPhase, BreakerState};
pub use devprofile::{DeviceProfile, ProfileStore};
pub use energy::{EnergyBreakdown, EnergyModel};
pub use error::{Error, Result};
pub use exec::{match_inputs, CacheStats, Executor, Part, Side};
pub use meta::ModelMeta;
pub use model::{Cut, LoadOptions, Model};
pub use netest::{LinkEstimate, NetworkEstimator, TransferSample};
pub use offload::EdgeEndpoint;
pub use plain::PlainOip;
pub use planner::{plan, EdgeProfile, Objective, Plan, PlanError, PlanInput, Policy};
pub use platform::{CellularGen, NetworkKind, PlatformSignals, PlatformState, ThermalState};
pub use report::{FallbackReason, InferResult, Report};
pub use session::{EdgeStatus, InferOptions, Session, SessionBuilder, SessionConfig, SessionError};
pub use tensor::{DType, NamedTensor, TensorSpec};
