//! Split execution: build the part before and the part after a cut, run them, and pass the
//! crossing tensors between them. Built parts are cached under a memory budget.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Model, ONNX_PARTS};
use crate::tensor::{NamedTensor, TensorSpec};

/// Which part of the model around a cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Model inputs to the crossing tensors (runs on the phone).
    Before,
    /// Crossing tensors to the model outputs (runs on the edge).
    After,
}

/// One built, optimized part of the model, ready to run from several threads.
pub struct Part {
    /// Which cut and side this part is.
    pub cut: usize,
    /// Which side of the cut.
    pub side: Side,
    /// What the part reads.
    pub inputs: Vec<TensorSpec>,
    /// What the part produces.
    pub outputs: Vec<TensorSpec>,
    /// Cold build time (parse, optimise, plan) in milliseconds.
    pub build_ms: f64,
    /// Bytes of weights the part holds.
    pub weight_bytes: u64,
    /// `None` for an empty part (before cut 0, after the last cut): identity.
    plan: Option<Arc<TypedRunnableModel>>,
}

impl Part {
    /// Runs the part: `inputs` are matched by name, checked for dtype and shape, and the
    /// outputs come back named, in the part's output order.
    pub fn run(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>> {
        let ordered = match_inputs(&self.inputs, inputs)?;
        let Some(plan) = &self.plan else {
            // An empty part passes its inputs through, in output order.
            return Ok(self
                .outputs
                .iter()
                .map(|o| {
                    ordered
                        .iter()
                        .find(|t| t.name == o.name)
                        .map(|t| (*t).clone())
                        .expect("identity part outputs are its inputs")
                })
                .collect());
        };
        let values: TVec<TValue> =
            ordered.iter().map(|t| t.to_tract().map(|t| t.into_tvalue())).collect::<Result<_>>()?;
        let outs = plan
            .run(values)
            .map_err(|e| Error::engine(format!("running the part {:?} cut {}", self.side, self.cut), e))?;
        self.outputs.iter().zip(outs.iter()).map(|(spec, v)| NamedTensor::from_tract(&spec.name, v)).collect()
    }
}

/// Checks `given` against `expected` by name, dtype and shape; returns them in `expected`'s order.
pub fn match_inputs<'a>(expected: &[TensorSpec], given: &'a [NamedTensor]) -> Result<Vec<&'a NamedTensor>> {
    if let Some(extra) = given.iter().find(|g| !expected.iter().any(|e| e.name == g.name)) {
        return Err(Error::UnknownTensor {
            name: extra.name.clone(),
            reason: format!(
                "expected the tensors {:?}",
                expected.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()
            ),
        });
    }
    expected
        .iter()
        .map(|e| {
            let g = given.iter().find(|g| g.name == e.name).ok_or_else(|| Error::UnknownTensor {
                name: e.name.clone(),
                reason: "this tensor is required but was not given".into(),
            })?;
            if g.dtype != e.dtype {
                return Err(Error::DType {
                    tensor: e.name.clone(),
                    expected: e.dtype.to_string(),
                    got: g.dtype.to_string(),
                });
            }
            if g.shape != e.shape {
                return Err(Error::Shape {
                    tensor: e.name.clone(),
                    expected: format!("{:?}", e.shape),
                    got: g.shape.clone(),
                });
            }
            Ok(g)
        })
        .collect()
}

/// Statistics of the part cache.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CacheStats {
    /// Parts held.
    pub parts: usize,
    /// Bytes of weights held by cached parts.
    pub weight_bytes: u64,
    /// The budget cached parts must fit in.
    pub budget_bytes: u64,
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that built a part.
    pub builds: u64,
    /// Parts dropped to stay within the budget.
    pub evictions: u64,
}

struct Cache {
    entries: Vec<(usize, Side, Arc<Part>, u64)>,
    tick: u64,
    stats: CacheStats,
}

/// Runs a model whole or split at any cut, caching built parts under a memory budget.
///
/// Built parts own their packed weights, so caching every cut would hold the model many
/// times over; the budget (in weight bytes) bounds that. Least-recently-used parts go first.
/// A part in use stays alive until its last user finishes, whatever the cache does.
pub struct Executor {
    model: Arc<Model>,
    cache: Mutex<Cache>,
}

impl Executor {
    /// An executor with the default budget: three times the model's weights (the whole
    /// model plus one cut's two parts, with room to spare).
    pub fn new(model: Arc<Model>) -> Self {
        let budget = model.weight_bytes().saturating_mul(3).max(1 << 20);
        Executor::with_budget(model, budget)
    }

    /// An executor whose cache holds at most `budget_bytes` of weights.
    pub fn with_budget(model: Arc<Model>, budget_bytes: u64) -> Self {
        let stats = CacheStats { budget_bytes, ..Default::default() };
        Executor { model, cache: Mutex::new(Cache { entries: vec![], tick: 0, stats }) }
    }

    /// The model this executor runs.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The cache's statistics.
    pub fn cache_stats(&self) -> CacheStats {
        let cache = self.cache.lock().expect("cache lock poisoned");
        CacheStats { parts: cache.entries.len(), ..cache.stats.clone() }
    }

    /// Runs the whole model.
    pub fn run_full(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>> {
        self.part(0, Side::After)?.run(inputs)
    }

    /// Runs the part before cut `cut` on the model inputs; returns the crossing tensors.
    pub fn run_before(&self, cut: usize, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>> {
        self.part(cut, Side::Before)?.run(inputs)
    }

    /// Runs the part after cut `cut` on its crossing tensors; returns the model outputs.
    pub fn run_after(&self, cut: usize, crossing: &[NamedTensor]) -> Result<Vec<NamedTensor>> {
        self.part(cut, Side::After)?.run(crossing)
    }

    /// The built part for `cut` and `side`, from the cache or built now.
    pub fn part(&self, cut: usize, side: Side) -> Result<Arc<Part>> {
        self.model.cut(cut)?;
        // The whole model is both "after cut 0" and "before the last cut": build it once.
        let (cut, side) = if side == Side::Before && cut == self.model.last_cut() && cut > 0 {
            (0, Side::After)
        } else {
            (cut, side)
        };
        {
            let mut cache = self.cache.lock().expect("cache lock poisoned");
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(entry) = cache.entries.iter_mut().find(|e| e.0 == cut && e.1 == side) {
                entry.3 = tick;
                let part = entry.2.clone();
                cache.stats.hits += 1;
                return Ok(part);
            }
        }
        // Build outside the lock so other cuts keep running meanwhile.
        let part = Arc::new(self.build(cut, side)?);
        let mut cache = self.cache.lock().expect("cache lock poisoned");
        cache.stats.builds += 1;
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.push((cut, side, part.clone(), tick));
        cache.stats.weight_bytes += part.weight_bytes;
        while cache.stats.weight_bytes > cache.stats.budget_bytes && cache.entries.len() > 1 {
            let oldest = (0..cache.entries.len())
                .filter(|&i| !Arc::ptr_eq(&cache.entries[i].2, &part))
                .min_by_key(|&i| cache.entries[i].3)
                .expect("more than one entry");
            let (_, _, dropped, _) = cache.entries.remove(oldest);
            cache.stats.weight_bytes -= dropped.weight_bytes;
            cache.stats.evictions += 1;
        }
        Ok(part)
    }

    fn build(&self, cut: usize, side: Side) -> Result<Part> {
        let start = Instant::now();
        let model = &self.model;
        let spec = model.cut(cut)?;
        let (inputs, outputs, proto) = match side {
            Side::Before => (model.inputs().to_vec(), spec.tensors.clone(), model.before_proto(cut)?),
            Side::After => (spec.tensors.clone(), model.outputs().to_vec(), model.after_proto(cut)?),
        };
        let graph = proto.graph.as_ref().expect("extracted models have a graph");
        let empty = graph.node.is_empty();
        let weight_bytes = graph.initializer.iter().map(|t| prost::Message::encoded_len(t) as u64).sum();
        let plan = if empty { None } else { Some(optimize(proto, model.dir(), cut, side)?) };
        let build_ms = start.elapsed().as_secs_f64() * 1e3;
        log::debug!("built part {side:?} of cut {cut} in {build_ms:.1} ms");
        Ok(Part { cut, side, inputs, outputs, build_ms, weight_bytes, plan })
    }
}

/// Parses and optimizes an extracted part. Takes the protobuf by value so its copy of the
/// weights is freed before tract packs its own: the peak stays near one extra copy.
fn optimize(
    proto: pb::ModelProto,
    dir: Option<&str>,
    cut: usize,
    side: Side,
) -> Result<Arc<TypedRunnableModel>> {
    let what = || format!("building the part {side:?} cut {cut}");
    let parsed = ONNX_PARTS.parse(&proto, dir).map_err(|e| Error::engine(what(), e))?;
    drop(proto);
    if !parsed.unresolved_inputs.is_empty() {
        // The cut missed a tensor the part reads: a bug in cut enumeration, never user error.
        return Err(Error::engine(what(), format!("incomplete cut, missing {:?}", parsed.unresolved_inputs)));
    }
    parsed.model.into_optimized().and_then(|m| m.into_runnable()).map_err(|e| Error::engine(what(), e))
}
