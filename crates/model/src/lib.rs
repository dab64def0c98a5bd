//! # tandem-model
//!
//! What the phone and the edge share: an ONNX model, every place it can be cut, the parts
//! before and after a cut and their exact execution, tensors and their wire encodings, and the
//! model's sidecar. No network code: this crate is used by both sides.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tandem_model::{Executor, LoadOptions, Model};
//!
//! let model = Arc::new(Model::load("models/tiny_resnet.onnx", &LoadOptions::default())?);
//! for cut in model.cuts() {
//!     println!("cut {}: {} bytes cross", cut.id, cut.bytes);
//! }
//! let exec = Executor::new(model.clone());
//! let input = tandem_model::check::seeded_inputs(model.inputs());
//! let crossing = exec.run_before(3, &input)?;      // on the phone
//! let outputs = exec.run_after(3, &crossing)?;     // on the edge
//! # Ok::<(), tandem_model::Error>(())
//! ```

pub mod check;
pub mod codec;
pub mod encoding;
mod error;
mod exec;
#[cfg(feature = "uniffi")]
mod ffi;
mod fold;
mod graph;
pub mod meta;
mod model;
#[cfg(feature = "npy")]
pub mod npy;
pub mod preprocess;
mod privacy;
mod tensor;
pub mod util;

pub use error::{Error, Result};
pub use exec::{match_inputs, CacheStats, Executor, Part, Side};
pub use meta::ModelMeta;
pub use model::{first_cut_with_outputs, Cut, LoadOptions, Model, MAX_OPSET};
pub use preprocess::Preprocessing;
pub use privacy::privacy_floor;
pub use tensor::{DType, NamedTensor, TensorSpec};

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
