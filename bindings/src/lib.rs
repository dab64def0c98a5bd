//! # tandem-bindings
//!
//! Tandem for Kotlin (Android) and Swift (iOS), generated with UniFFI from this crate. These
//! are thin wrappers over `tandem-core`: records the FFI can carry, one client object, the
//! foreign traits through which the platform supplies signals and receives logs, and one
//! error type. Decisions live in the core; the Android library (`android/`) and the Swift
//! package (`ios/`) add only platform idioms on top of what is generated from here.
//!
//! No panic crosses the boundary: async calls run as tasks whose panics become
//! [`TandemError::Internal`], sync calls are guarded the same way (see `runtime.rs`).

mod error;
mod logging;
mod platform;
mod policy;
mod runtime;
mod tensor;

pub use error::TandemError;
pub use logging::{set_log_sink, LogLevel, LogRecord, LogSink};
pub use platform::{CellularGen, NetworkKind, PlatformSignalsProvider, PlatformState, ThermalState};
pub use policy::{default_policy, EdgeEndpoint, Encoding, Objective, Policy};
pub use tensor::{DType, Tensor};

uniffi::setup_scaffolding!();
