//! # tandem-bindings
//!
//! Tandem for Kotlin (Android) and Swift (iOS), generated with UniFFI from this crate. These
//! are thin wrappers over `tandem-core`: records the FFI can carry, one client object
//! ([`TandemClient`]), the foreign traits through which the platform supplies signals
//! ([`PlatformSignalsProvider`]) and receives logs ([`LogSink`]), and one error type
//! ([`TandemError`]). Decisions live in the core; the Android library (`android/`) and the
//! Swift package (`ios/`) add only platform idioms on top of what is generated from here.
//!
//! No panic crosses the boundary: see `boundary.rs`.

mod boundary;
mod client;
mod error;
mod logging;
mod platform;
mod policy;
mod report;
mod tensor;

pub use client::{ClientConfig, InferOptions, ModelInfo, ReportStream, TandemClient, TensorSpec};
pub use error::TandemError;
pub use logging::{set_log_sink, LogLevel, LogRecord, LogSink};
pub use platform::{
    unknown_platform_state, CellularGen, NetworkKind, PlatformSignalsProvider, PlatformState, ThermalState,
};
pub use policy::{default_policy, EdgeEndpoint, Encoding, Objective, Policy};
pub use report::{EdgeStatus, FallbackReason, InferResult, Plan, Report, Tier};
pub use tensor::{DType, Tensor};

uniffi::setup_scaffolding!();
