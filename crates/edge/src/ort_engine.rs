//! The ONNX Runtime engine (cargo feature `ort`): the part after a cut built by ONNX Runtime
//! from the same extracted ONNX graph tract would run.
//!
//! ONNX Runtime is loaded at run time from its shared library (the `ort` crate's
//! `load-dynamic`: the PyPI `onnxruntime` wheel's `libonnxruntime.so.1.x` works), so the
//! binary builds and starts without it and only `--engine ort` needs it.
//!
//! A built ONNX Runtime session runs one request at a time through the `ort` API, so each
//! part keeps a small pool of sessions: a run takes an idle one or builds another. The number
//! of sessions of a part is bounded by the server's compute slots. Parts are cached under the
//! same weight-byte budget as tract's, least recently used first.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use prost::Message;
use tandem_model::{match_inputs, DType, Model, NamedTensor, TensorSpec};

use crate::engine::{Engine, OrtOptions, RunPart};
use crate::error::EdgeError;

/// The process's ONNX Runtime environment, created on first use (loading the library).
static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

pub(crate) fn environment(options: &OrtOptions) -> Result<Environment, EdgeError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = options
            .dylib
            .clone()
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(Into::into))
            .unwrap_or_else(|| "libonnxruntime.so".into());
        let builder = ort::init_from(&path).map_err(|e| {
            format!("loading ONNX Runtime from {} (set ORT_DYLIB_PATH or --ort-dylib): {e}", path.display())
        })?;
        let env =
            builder.with_name("tandem-edge").build().map_err(|e| format!("starting ONNX Runtime: {e}"))?;
        log::info!("onnxruntime library={} {}", path.display(), ort::info().lines().next().unwrap_or(""));
        Ok(env)
    });
    env.clone().map_err(EdgeError::Config)
}

/// Whether parts run on the CUDA execution provider, and why: only on a machine with an
/// NVIDIA GPU and a library built with CUDA (the `onnxruntime-gpu` wheel). Call after
/// [`environment`] loaded the library.
pub(crate) fn cuda_choice() -> (bool, String) {
    use ort::ep::ExecutionProvider;
    if !crate::ort_locate::nvidia_gpu_present() {
        return (false, "execution provider CPU (no NVIDIA GPU on this machine)".into());
    }
    match ort::ep::CUDA::is_available() {
        Ok(true) => (true, "execution provider CUDA (an NVIDIA GPU, and the library has CUDA)".into()),
        Ok(false) => (
            false,
            "execution provider CPU: an NVIDIA GPU is present but this library has no CUDA provider \
             (install the onnxruntime-gpu wheel)"
                .into(),
        ),
        Err(e) => (false, format!("execution provider CPU: asking for CUDA failed: {e}")),
    }
}

fn engine_error(context: impl Into<String>, e: impl std::fmt::Display) -> tandem_model::Error {
    tandem_model::Error::Engine { context: context.into(), reason: e.to_string().replace('\n', " ") }
}

/// Runs the parts of one model with ONNX Runtime.
pub(crate) struct OrtEngine {
    model: Arc<Model>,
    env: Environment,
    options: OrtOptions,
    /// Sessions run on the CUDA execution provider.
    cuda: bool,
    budget_bytes: u64,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// `(from, to)`, the part, its last use.
    entries: Vec<((usize, usize), Arc<OrtPart>, u64)>,
    tick: u64,
    weight_bytes: u64,
}

impl OrtEngine {
    /// An engine over `model` whose cache holds at most `budget_bytes` of weights (at least
    /// the part last used). Loads ONNX Runtime if this is the first engine of the process.
    pub(crate) fn new(
        model: Arc<Model>,
        budget_bytes: u64,
        options: &OrtOptions,
        cuda: bool,
    ) -> Result<Self, EdgeError> {
        if options.intra_threads == 0 {
            return Err(EdgeError::Config("ONNX Runtime needs at least one thread per run".into()));
        }
        let env = environment(options)?;
        Ok(OrtEngine {
            model,
            env,
            options: options.clone(),
            cuda,
            budget_bytes,
            cache: Mutex::new(Cache::default()),
        })
    }

    fn build(&self, from: usize, to: usize) -> tandem_model::Result<OrtPart> {
        let start = Instant::now();
        let last = self.model.last_cut();
        let (inputs, outputs) = between_specs(&self.model, from, to)?;
        let mut part = OrtPart {
            what: format!("the ONNX Runtime part between cut {from} and cut {to}"),
            env: self.env.clone(),
            threads: self.options.intra_threads,
            cuda: self.cuda,
            model: self.model.clone(),
            from,
            to,
            inputs,
            outputs,
            weight_bytes: 0,
            idle: Mutex::new(vec![]),
        };
        // Nothing runs between equal cuts: the part passes its inputs through, as tract's.
        // Otherwise build one session now: a broken graph fails here, with the build time
        // accounted.
        if !part.is_identity() {
            let proto = part.proto()?;
            part.weight_bytes = proto.len() as u64;
            let session = part.new_session(&proto)?;
            drop(proto);
            part.give_back(session);
        }
        log::debug!(
            "built onnxruntime part {from}..{to} (last {last}) in {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        Ok(part)
    }
}

/// What the part between two cuts reads and produces (the model's inputs and outputs at the
/// ends), as `Model::between_proto` extracts it.
fn between_specs(
    model: &Model,
    from: usize,
    to: usize,
) -> tandem_model::Result<(Vec<TensorSpec>, Vec<TensorSpec>)> {
    let start = model.cut(from)?;
    let end = model.cut(to)?;
    if from > to {
        return Err(engine_error(
            format!("preparing the part between cut {from} and cut {to}"),
            format!("cut {to} comes before cut {from}"),
        ));
    }
    let inputs = if from == 0 { model.inputs().to_vec() } else { start.tensors.clone() };
    let outputs = if to == model.last_cut() { model.outputs().to_vec() } else { end.tensors.clone() };
    Ok((inputs, outputs))
}

impl Engine for OrtEngine {
    fn prepare(&self, from: usize, to: usize) -> tandem_model::Result<Arc<dyn RunPart>> {
        let key = (from, to);
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(entry) = cache.entries.iter_mut().find(|e| e.0 == key) {
                entry.2 = tick;
                let part: Arc<dyn RunPart> = entry.1.clone();
                return Ok(part);
            }
        }
        // Built outside the lock so other parts keep running meanwhile.
        let part = Arc::new(self.build(from, to)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = cache.entries.iter().find(|e| e.0 == key) {
            // Another request built it meanwhile: use the cached one, drop ours.
            let part: Arc<dyn RunPart> = entry.1.clone();
            return Ok(part);
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.weight_bytes += part.weight_bytes;
        cache.entries.push((key, part.clone(), tick));
        while cache.weight_bytes > self.budget_bytes && cache.entries.len() > 1 {
            let oldest = (0..cache.entries.len())
                .filter(|&i| !Arc::ptr_eq(&cache.entries[i].1, &part))
                .min_by_key(|&i| cache.entries[i].2)
                .expect("more than one entry");
            let (_, dropped, _) = cache.entries.remove(oldest);
            cache.weight_bytes -= dropped.weight_bytes;
        }
        Ok(part)
    }

    fn platform(&self) -> &'static str {
        "tandem_onnxruntime"
    }

    fn private(&self) -> Result<Arc<dyn Engine>, EdgeError> {
        Ok(Arc::new(OrtEngine::new(self.model.clone(), 0, &self.options, self.cuda)?))
    }
}

/// One part built by ONNX Runtime.
struct OrtPart {
    /// For errors.
    what: String,
    env: Environment,
    threads: usize,
    cuda: bool,
    /// The model and cuts the part runs between, to extract its graph for more sessions
    /// (not kept: the sessions hold the weights already).
    model: Arc<Model>,
    from: usize,
    to: usize,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    weight_bytes: u64,
    idle: Mutex<Vec<Session>>,
}

impl OrtPart {
    /// An empty part (between equal cuts): it passes its inputs through.
    fn is_identity(&self) -> bool {
        self.from == self.to
    }

    /// The part's extracted ONNX graph, encoded.
    fn proto(&self) -> tandem_model::Result<Vec<u8>> {
        Ok(self.model.between_proto(self.from, self.to)?.encode_to_vec())
    }

    fn new_session(&self, proto: &[u8]) -> tandem_model::Result<Session> {
        let what = || format!("building {}", self.what);
        let mut builder = Session::builder(&self.env).map_err(|e| engine_error(what(), e))?;
        if self.cuda {
            // Fails the build rather than silently running on the CPU: the profile says CUDA.
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| engine_error(what(), e))?;
        }
        builder
            .with_intra_threads(self.threads)
            .map_err(|e| engine_error(what(), e))?
            .with_inter_threads(1)
            .map_err(|e| engine_error(what(), e))?
            .commit_from_memory(proto)
            .map_err(|e| engine_error(what(), e))
    }

    fn take(&self) -> tandem_model::Result<Session> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(s) => Ok(s),
            None => self.new_session(&self.proto()?),
        }
    }

    fn give_back(&self, session: Session) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(session);
    }
}

impl RunPart for OrtPart {
    fn run(&self, inputs: &[NamedTensor]) -> tandem_model::Result<Vec<NamedTensor>> {
        let ordered = match_inputs(&self.inputs, inputs)?;
        if self.is_identity() {
            return Ok(self
                .outputs
                .iter()
                .filter_map(|o| ordered.iter().find(|t| t.name == o.name).map(|t| (*t).clone()))
                .collect());
        }
        let values = ordered
            .iter()
            .map(|t| {
                Ok((
                    t.name.clone(),
                    to_ort(t)
                        .map_err(|e| engine_error(format!("passing `{}` to {}", t.name, self.what), e))?,
                ))
            })
            .collect::<tandem_model::Result<Vec<(String, DynValue)>>>()?;
        // The inputs are passed by reference and outlive the outputs: ONNX Runtime returns a
        // part's input that is also its output (a model output computed before the cut) as
        // the same buffer, which is ours.
        let feeds: Vec<(&str, &DynValue)> = values.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let mut session = self.take()?;
        let result = match session.run(feeds) {
            Ok(outputs) => self
                .outputs
                .iter()
                .map(|spec| match outputs.get(&spec.name) {
                    Some(v) => from_ort(spec, v)
                        .map_err(|e| engine_error(format!("reading `{}` from {}", spec.name, self.what), e)),
                    None => Err(engine_error(
                        format!("running {}", self.what),
                        format!("output `{}` is missing", spec.name),
                    )),
                })
                .collect(),
            Err(e) => Err(engine_error(format!("running {}", self.what), e)),
        };
        self.give_back(session);
        drop(values);
        result
    }
}

/// Little-endian bytes as values of `T` (`N` bytes each).
fn values<T, const N: usize>(data: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect()
}

fn to_ort(t: &NamedTensor) -> Result<DynValue, String> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let value = match t.dtype {
        DType::Fp32 => Tensor::from_array((shape, values(&t.data, f32::from_le_bytes))).map(|v| v.into_dyn()),
        DType::Fp64 => Tensor::from_array((shape, values(&t.data, f64::from_le_bytes))).map(|v| v.into_dyn()),
        DType::Int8 => Tensor::from_array((shape, values(&t.data, i8::from_le_bytes))).map(|v| v.into_dyn()),
        DType::Uint8 => Tensor::from_array((shape, t.data.clone())).map(|v| v.into_dyn()),
        DType::Int16 => {
            Tensor::from_array((shape, values(&t.data, i16::from_le_bytes))).map(|v| v.into_dyn())
        }
        DType::Int32 => {
            Tensor::from_array((shape, values(&t.data, i32::from_le_bytes))).map(|v| v.into_dyn())
        }
        DType::Int64 => {
            Tensor::from_array((shape, values(&t.data, i64::from_le_bytes))).map(|v| v.into_dyn())
        }
        DType::Bool => Tensor::from_array((shape, t.data.iter().map(|b| *b != 0).collect::<Vec<bool>>()))
            .map(|v| v.into_dyn()),
        DType::Fp16 => return Err("FP16 tensors are not supported by the ONNX Runtime engine".into()),
    };
    value.map_err(|e| e.to_string())
}

fn from_ort(spec: &TensorSpec, value: &DynValue) -> Result<NamedTensor, String> {
    fn bytes<T: ort::value::PrimitiveTensorElementType + Copy, const N: usize>(
        value: &DynValue,
        f: fn(T) -> [u8; N],
    ) -> Result<(Vec<usize>, Vec<u8>), String> {
        let (shape, data) = value.try_extract_tensor::<T>().map_err(|e| e.to_string())?;
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d}")))
            .collect::<Result<_, _>>()?;
        Ok((shape, data.iter().flat_map(|v| f(*v)).collect()))
    }
    let (shape, data) = match spec.dtype {
        DType::Fp32 => bytes::<f32, 4>(value, f32::to_le_bytes)?,
        DType::Fp64 => bytes::<f64, 8>(value, f64::to_le_bytes)?,
        DType::Int8 => bytes::<i8, 1>(value, i8::to_le_bytes)?,
        DType::Uint8 => bytes::<u8, 1>(value, u8::to_le_bytes)?,
        DType::Int16 => bytes::<i16, 2>(value, i16::to_le_bytes)?,
        DType::Int32 => bytes::<i32, 4>(value, i32::to_le_bytes)?,
        DType::Int64 => bytes::<i64, 8>(value, i64::to_le_bytes)?,
        DType::Bool => bytes::<bool, 1>(value, |b| [u8::from(b)])?,
        DType::Fp16 => return Err("FP16 tensors are not supported by the ONNX Runtime engine".into()),
    };
    if shape != spec.shape {
        return Err(format!("ONNX Runtime made shape {shape:?}, the cut table says {:?}", spec.shape));
    }
    NamedTensor::new(spec.name.clone(), spec.dtype, shape, data).map_err(|e| e.to_string())
}
