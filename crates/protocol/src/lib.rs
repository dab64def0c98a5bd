//! # tandem-protocol
//!
//! The Open Inference Protocol (KServe v2) as Tandem speaks it, for both sides: typed requests
//! and responses in JSON and with the binary tensor data extension, the `tandem_*` parameter
//! names, the manifest of an exported repository, the edge's per-cut profile ([`profile`]),
//! and the model spec the decoder checks against. Pure functions of bytes: fuzzed (`crates/protocol/fuzz`) and property-tested
//! without a server. `docs/PROTOCOL.md` is the prose version.

pub mod client;
mod error;
pub mod manifest;
pub mod profile;
pub mod wire;

pub use error::WireError;
pub use wire::{param, ModelSpec, HEADER_CONTENT_LENGTH};
