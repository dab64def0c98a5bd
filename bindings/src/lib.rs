//! # tandem-bindings
//!
//! Tandem for Kotlin (Android) and Swift (iOS), generated with UniFFI from this crate. These
//! are thin wrappers over the core crates: one client object ([`TandemClient`]), the foreign
//! traits through which the platform supplies signals ([`PlatformSignalsProvider`]) and
//! receives logs ([`LogSink`]), one error type ([`TandemError`]), and the few records whose FFI
//! shape differs from the core's. Decisions live in the core; the Android library (`android/`)
//! and the Swift package (`ios/`) add only platform idioms on top of what is generated here.
//!
//! The core's own records and enums (policy, platform state, tensors, fallback reasons...)
//! cross the FFI as they are: `tandem-model`, `tandem-planner` and `tandem-sdk` derive their
//! UniFFI traits behind their `uniffi` feature, and the generated code has one file per crate
//! (Kotlin packages `dev.tandem.model`, `dev.tandem.planner`, `dev.tandem.sdk` beside
//! `dev.tandem`; one Swift module). They are re-exported here under their FFI names.
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

pub use client::{ClientConfig, ModelInfo, ReportStream, TandemClient};
pub use error::TandemError;
pub use logging::{set_log_sink, LogLevel, LogRecord, LogSink};
pub use platform::{unknown_platform_state, PlatformSignalsProvider};
pub use policy::{default_policy, EdgeEndpoint};
pub use report::{InferResult, Plan, Report};
pub use tandem_model::preprocess::{ChannelOrder, Preprocessing, ResizeMode, TensorLayout};
pub use tandem_sdk::encoding::Encoding;
pub use tandem_sdk::planner::Tier;
/// A named tensor, `Tensor` in Kotlin and Swift.
pub use tandem_sdk::NamedTensor as Tensor;
pub use tandem_sdk::{
    CellularGen, DType, EdgeStatus, FallbackReason, InferOptions, NetworkKind, Objective, PlatformState,
    Policy, TensorSpec, ThermalState,
};

uniffi::setup_scaffolding!();
uniffi::use_remote_type!(tandem_model::usize);
