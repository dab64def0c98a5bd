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
    /// The cut where the part ends: `cut` for a part before a cut, the last cut for a part
    /// after one, `to` for a part between two cuts ([`Executor::part_between`]).
    pub until: usize,
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

/// A cached part is keyed by the cuts it runs between: `(0, c)` before cut `c`, `(c, last)`
/// after it. The whole model is both "after cut 0" and "before the last cut": one entry.
struct Cache {
    entries: Vec<((usize, usize), Arc<Part>, u64)>,
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

    /// Runs the part between cut `from` and cut `to` on the tensors crossing `from`; returns
    /// the tensors crossing `to` (the model outputs when `to` is the last cut).
    pub fn run_between(&self, from: usize, to: usize, crossing: &[NamedTensor]) -> Result<Vec<NamedTensor>> {
        self.part_between(from, to)?.run(crossing)
    }

    /// The built part for `cut` and `side`, from the cache or built now.
    pub fn part(&self, cut: usize, side: Side) -> Result<Arc<Part>> {
        self.model.cut(cut)?;
        match side {
            Side::Before => self.part_between(0, cut),
            Side::After => self.part_between(cut, self.model.last_cut()),
        }
    }

    /// The built part between cut `from` and cut `to` (`from <= to`), from the cache or
    /// built now. `part_between(0, c)` is the part before cut `c`, `part_between(c, last)`
    /// the part after it.
    pub fn part_between(&self, from: usize, to: usize) -> Result<Arc<Part>> {
        self.model.between_specs(from, to)?;
        let key = (from, to);
        {
            let mut cache = self.cache.lock().expect("cache lock poisoned");
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(entry) = cache.entries.iter_mut().find(|e| e.0 == key) {
                entry.2 = tick;
                let part = entry.1.clone();
                cache.stats.hits += 1;
                return Ok(part);
            }
        }
        // Build outside the lock so other cuts keep running meanwhile.
        let part = Arc::new(self.build(from, to)?);
        let mut cache = self.cache.lock().expect("cache lock poisoned");
        cache.stats.builds += 1;
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.push((key, part.clone(), tick));
        cache.stats.weight_bytes += part.weight_bytes;
        while cache.stats.weight_bytes > cache.stats.budget_bytes && cache.entries.len() > 1 {
            let oldest = (0..cache.entries.len())
                .filter(|&i| !Arc::ptr_eq(&cache.entries[i].1, &part))
                .min_by_key(|&i| cache.entries[i].2)
                .expect("more than one entry");
            let (_, dropped, _) = cache.entries.remove(oldest);
            cache.stats.weight_bytes -= dropped.weight_bytes;
            cache.stats.evictions += 1;
        }
        Ok(part)
    }

    fn build(&self, from: usize, to: usize) -> Result<Part> {
        let start = Instant::now();
        let model = &self.model;
        let last = model.last_cut();
        // A part starting at cut 0 and ending before the last cut is a "before" part; any
        // other runs after its first cut (up to `until`).
        let (cut, side) = if from == 0 && to < last { (to, Side::Before) } else { (from, Side::After) };
        let (inputs, outputs) = model.between_specs(from, to)?;
        let proto = model.between_proto(from, to)?;
        let graph = proto.graph.as_ref().expect("extracted models have a graph");
        let empty = graph.node.is_empty();
        let weight_bytes = graph.initializer.iter().map(|t| prost::Message::encoded_len(t) as u64).sum();
        let plan = if empty { None } else { Some(optimize(proto, model.dir(), cut, side)?) };
        let build_ms = start.elapsed().as_secs_f64() * 1e3;
        log::debug!("built part {side:?} of cut {cut} in {build_ms:.1} ms");
        Ok(Part { cut, side, until: to, inputs, outputs, build_ms, weight_bytes, plan })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::seeded_inputs;

    fn tiny_resnet() -> Executor {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tiny_resnet.onnx");
        Executor::new(Arc::new(Model::load(path, &crate::LoadOptions::default()).expect("model loads")))
    }

    #[test]
    fn three_parts_equal_the_whole_model() {
        let exec = tiny_resnet();
        let input = seeded_inputs(exec.model().inputs());
        let whole = exec.run_full(&input).expect("runs");
        let last = exec.model().last_cut();
        // Single- and multi-tensor cuts (3, 11, 22 carry several tensors), and the ends.
        for (j, k) in [(0, 3), (3, 11), (2, 22), (11, last), (0, last), (5, 5)] {
            let at_j = exec.run_before(j, &input).expect("before j");
            let at_k = exec.run_between(j, k, &at_j).expect("between");
            let names: Vec<&str> = at_k.iter().map(|t| t.name.as_str()).collect();
            if k < last {
                assert_eq!(names, exec.model().cut(k).unwrap().tensor_names(), "({j}, {k})");
            }
            let outputs = exec.run_after(k, &at_k).expect("after k");
            assert_eq!(outputs.len(), whole.len());
            for (o, w) in outputs.iter().zip(&whole) {
                assert_eq!(o.name, w.name);
                assert!(o.max_abs_diff(w) <= 1e-5, "({j}, {k}): {}", o.max_abs_diff(w));
            }
        }
    }

    #[test]
    fn between_parts_share_the_cache_with_before_and_after() {
        let exec = tiny_resnet();
        let last = exec.model().last_cut();
        let whole = exec.part(0, Side::After).expect("whole");
        assert!(Arc::ptr_eq(&whole, &exec.part_between(0, last).expect("whole again")));
        assert!(Arc::ptr_eq(&whole, &exec.part(last, Side::Before).expect("whole again")));
        let before = exec.part(4, Side::Before).expect("before 4");
        assert!(Arc::ptr_eq(&before, &exec.part_between(0, 4).expect("before 4 again")));
        assert_eq!((before.cut, before.side, before.until), (4, Side::Before, 4));
        let between = exec.part_between(4, 9).expect("between");
        assert_eq!((between.cut, between.side, between.until), (4, Side::After, 9));
        assert_eq!(exec.cache_stats().builds, 3);
    }

    #[test]
    fn between_refuses_reversed_or_unknown_cuts() {
        let exec = tiny_resnet();
        assert!(exec.part_between(9, 4).is_err());
        assert!(matches!(exec.part_between(0, 999), Err(Error::UnknownCut { id: 999, .. })));
        assert!(exec.model().between_proto(3, 2).is_err());
    }
}
