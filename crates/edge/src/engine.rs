//! The engine that runs the parts of a model on the edge: tract (the default, the same engine
//! as on the phone) or ONNX Runtime (`--engine ort`, cargo feature `ort`).
//!
//! Both build a part from the same extracted ONNX graph (`Model::between_proto`), so the cut
//! a request names means the same thing whichever engine runs it (ADR 0001).

use std::path::PathBuf;
use std::sync::Arc;

use tandem_model::{Executor, NamedTensor, Part};

use crate::error::EdgeError;

/// Which engine runs the parts on this server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// tract, in process: the default, and the only engine on the phone.
    #[default]
    Tract,
    /// ONNX Runtime, loaded at startup from its shared library (`ORT_DYLIB_PATH` or
    /// [`OrtOptions::dylib`]). Needs a build with the cargo feature `ort`.
    Ort,
}

impl std::str::FromStr for EngineChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tract" => Ok(EngineChoice::Tract),
            "ort" | "onnxruntime" => Ok(EngineChoice::Ort),
            other => Err(format!("unknown engine `{other}`: expected tract or ort")),
        }
    }
}

impl std::fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineChoice::Tract => "tract",
            EngineChoice::Ort => "ort",
        })
    }
}

/// How the ONNX Runtime engine runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrtOptions {
    /// The `libonnxruntime.so` to load; `None`: the `ORT_DYLIB_PATH` environment variable,
    /// else the system's `libonnxruntime.so`. The first engine of the process loads it; the
    /// library cannot change afterwards.
    pub dylib: Option<PathBuf>,
    /// Threads each run may use (ONNX Runtime's intra-op threads). Default 1: requests run
    /// in parallel on the compute slots, as with tract.
    pub intra_threads: usize,
}

impl Default for OrtOptions {
    fn default() -> Self {
        OrtOptions { dylib: None, intra_threads: 1 }
    }
}

/// A built part, ready to run from several threads.
pub(crate) trait RunPart: Send + Sync {
    /// Runs the part: inputs matched by name and checked; outputs in the part's order.
    fn run(&self, inputs: &[NamedTensor]) -> tandem_model::Result<Vec<NamedTensor>>;
}

/// Builds and caches the parts of one model.
pub(crate) trait Engine: Send + Sync {
    /// The part between cut `from` and cut `to`, from the cache or built now.
    fn prepare(&self, from: usize, to: usize) -> tandem_model::Result<Arc<dyn RunPart>>;

    /// The OIP `platform` of models this engine serves.
    fn platform(&self) -> &'static str;

    /// An engine of the same kind over the same model with a cache of its own holding one
    /// part: the background profiler measures with it without churning the serving cache.
    fn private(&self) -> Result<Arc<dyn Engine>, EdgeError>;
}

impl RunPart for Part {
    fn run(&self, inputs: &[NamedTensor]) -> tandem_model::Result<Vec<NamedTensor>> {
        Part::run(self, inputs)
    }
}

impl Engine for Executor {
    fn prepare(&self, from: usize, to: usize) -> tandem_model::Result<Arc<dyn RunPart>> {
        let part: Arc<dyn RunPart> = self.part_between(from, to)?;
        Ok(part)
    }

    fn platform(&self) -> &'static str {
        "tandem_tract"
    }

    fn private(&self) -> Result<Arc<dyn Engine>, EdgeError> {
        Ok(Arc::new(Executor::with_budget(self.model().clone(), 0)))
    }
}

/// The engine `choice` over `exec`'s model: `exec` itself for tract (sharing its cache), an
/// ONNX Runtime engine with the same cache budget otherwise.
pub(crate) fn build(
    choice: EngineChoice,
    exec: &Arc<Executor>,
    ort: &OrtOptions,
) -> Result<Arc<dyn Engine>, EdgeError> {
    match choice {
        EngineChoice::Tract => Ok(exec.clone()),
        #[cfg(feature = "ort")]
        EngineChoice::Ort => {
            let budget = exec.cache_stats().budget_bytes;
            Ok(Arc::new(crate::ort_engine::OrtEngine::new(exec.model().clone(), budget, ort)?))
        }
        #[cfg(not(feature = "ort"))]
        EngineChoice::Ort => {
            let _ = ort;
            Err(EdgeError::Config(
                "engine `ort` needs a build with ONNX Runtime support (cargo feature `ort`)".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        assert_eq!("tract".parse::<EngineChoice>(), Ok(EngineChoice::Tract));
        assert_eq!("ort".parse::<EngineChoice>(), Ok(EngineChoice::Ort));
        assert!("torch".parse::<EngineChoice>().unwrap_err().contains("tract or ort"));
        assert_eq!(EngineChoice::Ort.to_string(), "ort");
        assert_eq!(EngineChoice::default(), EngineChoice::Tract);
    }
}
