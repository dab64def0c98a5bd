//! The engine that runs the parts of a model on the edge: tract (the same engine as on the
//! phone), ONNX Runtime (`--engine ort`, cargo feature `ort`, on by default), or the fastest
//! one available (`--engine auto`, the default of `tandem edge`): ONNX Runtime when its
//! library is found and loads (see [`crate::ort_locate`] for the search order), with its CUDA
//! execution provider when the machine has an NVIDIA GPU and the library was built with CUDA
//! (the `onnxruntime-gpu` wheel), tract otherwise. The choice and its reason are logged and
//! served in the profile endpoint's `engine` field.
//!
//! Both build a part from the same extracted ONNX graph (`Model::between_proto`), so the cut
//! a request names means the same thing whichever engine runs it (ADR 0001).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem_model::{Executor, NamedTensor, Part};
use tandem_protocol::profile::ServingEngine;

use crate::error::EdgeError;
use crate::ort_locate::Located;

/// Which engine runs the parts on this server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// tract, in process: the default, and the only engine on the phone.
    #[default]
    Tract,
    /// ONNX Runtime, loaded at startup from its shared library ([`OrtOptions::dylib`], else
    /// `ORT_DYLIB_PATH`, else the search of [`crate::ort_locate`]). Needs a build with the
    /// cargo feature `ort` (on by default). Fails to start when the library does not load.
    Ort,
    /// ONNX Runtime when its library is found and loads, else tract (the reason is logged).
    Auto,
}

impl std::str::FromStr for EngineChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tract" => Ok(EngineChoice::Tract),
            "ort" | "onnxruntime" => Ok(EngineChoice::Ort),
            "auto" => Ok(EngineChoice::Auto),
            other => Err(format!("unknown engine `{other}`: expected tract or ort, or auto")),
        }
    }
}

impl std::fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineChoice::Tract => "tract",
            EngineChoice::Ort => "ort",
            EngineChoice::Auto => "auto",
        })
    }
}

/// How the ONNX Runtime engine runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrtOptions {
    /// The `libonnxruntime.so` to load; `None`: the `ORT_DYLIB_PATH` environment variable,
    /// else the search of [`crate::ort_locate`]. The first engine of the process loads it;
    /// the library cannot change afterwards.
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

/// The engine the server runs, once `tract`, `ort` or `auto` is worked out.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// Tract or Ort, never Auto.
    pub(crate) choice: EngineChoice,
    /// With Ort: the library to load (found by the search when not given).
    pub(crate) ort: OrtOptions,
    /// With Ort: run on the CUDA execution provider.
    pub(crate) cuda: bool,
    /// What the profile endpoint says.
    pub(crate) info: ServingEngine,
}

fn tract(reason: String) -> Resolved {
    Resolved {
        choice: EngineChoice::Tract,
        ort: OrtOptions::default(),
        cuda: false,
        info: ServingEngine { name: "tract".into(), execution_provider: None, reason },
    }
}

/// Works out the engine `choice` names: loads ONNX Runtime for `ort` and `auto` (an error for
/// `ort` when it does not load; tract, with the reason logged, for `auto`).
pub(crate) fn resolve(choice: EngineChoice, ort: &OrtOptions) -> Result<Resolved, EdgeError> {
    if choice != EngineChoice::Tract && ort.intra_threads == 0 {
        return Err(EdgeError::Config(
            "ONNX Runtime needs at least one thread per run (--ort-threads)".into(),
        ));
    }
    let resolved = match choice {
        EngineChoice::Tract => tract("asked for: --engine tract".into()),
        EngineChoice::Ort => {
            let (path, how) = match (&ort.dylib, crate::ort_locate::locate(None)) {
                (Some(path), _) => (path.clone(), "--ort-dylib".to_string()),
                (None, Located::Found { path, how }) => (path, how),
                (None, Located::NotFound(why)) => {
                    return Err(EdgeError::Config(format!("engine `ort`: {why}")));
                }
            };
            load_ort(&path, &how, ort, "asked for: --engine ort")?
        }
        EngineChoice::Auto => match crate::ort_locate::locate(ort.dylib.as_deref()) {
            Located::Found { path, how } => {
                match load_ort(&path, &how, ort, "auto: the fastest engine found") {
                    Ok(resolved) => resolved,
                    Err(e) => {
                        log::warn!("engine auto: ONNX Runtime did not load ({e}); serving with tract");
                        tract(format!("auto: ONNX Runtime did not load ({e}); serving with tract"))
                    }
                }
            }
            Located::NotFound(why) => {
                log::warn!("engine auto: {why}; serving with tract");
                tract(format!("auto: {why}; serving with tract"))
            }
        },
    };
    log::info!(
        "engine name={} execution_provider={} reason=\"{}\"",
        resolved.info.name,
        resolved.info.execution_provider.as_deref().unwrap_or("-"),
        resolved.info.reason
    );
    Ok(resolved)
}

/// Loads ONNX Runtime from `path` (found `how`) and picks its execution provider.
#[cfg(feature = "ort")]
fn load_ort(path: &Path, how: &str, ort: &OrtOptions, why: &str) -> Result<Resolved, EdgeError> {
    let options = OrtOptions { dylib: Some(path.to_path_buf()), ..ort.clone() };
    crate::ort_engine::environment(&options)?;
    let (cuda, provider_note) = crate::ort_engine::cuda_choice();
    Ok(Resolved {
        choice: EngineChoice::Ort,
        ort: options,
        cuda,
        info: ServingEngine {
            name: "onnxruntime".into(),
            execution_provider: Some(if cuda { "cuda" } else { "cpu" }.into()),
            reason: format!("{why}; library {} (found by {how}); {provider_note}", path.display()),
        },
    })
}

#[cfg(not(feature = "ort"))]
fn load_ort(_path: &Path, _how: &str, _ort: &OrtOptions, _why: &str) -> Result<Resolved, EdgeError> {
    Err(EdgeError::Config(
        "engine `ort` needs a build with ONNX Runtime support (cargo feature `ort`)".into(),
    ))
}

/// The engine `resolved` names over `exec`'s model: `exec` itself for tract (sharing its
/// cache), an ONNX Runtime engine with the same cache budget otherwise.
pub(crate) fn build(resolved: &Resolved, exec: &Arc<Executor>) -> Result<Arc<dyn Engine>, EdgeError> {
    match resolved.choice {
        #[cfg(feature = "ort")]
        EngineChoice::Ort => {
            let budget = exec.cache_stats().budget_bytes;
            let engine = crate::ort_engine::OrtEngine::new(
                exec.model().clone(),
                budget,
                &resolved.ort,
                resolved.cuda,
            )?;
            Ok(Arc::new(engine))
        }
        _ => Ok(exec.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        assert_eq!("tract".parse::<EngineChoice>(), Ok(EngineChoice::Tract));
        assert_eq!("ort".parse::<EngineChoice>(), Ok(EngineChoice::Ort));
        assert_eq!("auto".parse::<EngineChoice>(), Ok(EngineChoice::Auto));
        assert!("torch".parse::<EngineChoice>().unwrap_err().contains("tract or ort"));
        assert_eq!(EngineChoice::Auto.to_string(), "auto");
        assert_eq!(EngineChoice::Ort.to_string(), "ort");
        assert_eq!(EngineChoice::default(), EngineChoice::Tract);
    }
}
