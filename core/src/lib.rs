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

pub mod check;
mod error;
mod exec;
mod graph;
mod model;
pub mod npy;
mod tensor;

pub use error::{Error, Result};
pub use exec::{match_inputs, CacheStats, Executor, Part, Side};
pub use model::{Cut, LoadOptions, Model};
pub use tensor::{DType, NamedTensor, TensorSpec};
