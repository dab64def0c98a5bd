//! Loading an ONNX model and analysing it: identity, shapes, and every cut.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use once_cell::sync::Lazy;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::fold;
use crate::graph::{self, Ordered};
use crate::tensor::{DType, TensorSpec};

/// The ONNX front-end, with its operator registry built once per process.
pub(crate) static ONNX: Lazy<tract_onnx::Onnx> = Lazy::new(tract_onnx::onnx);

/// The front-end for extracted parts: their declared output types are ours and exact, and
/// must be used, or a tensor that is both a part's input and its output loses its type.
pub(crate) static ONNX_PARTS: Lazy<tract_onnx::Onnx> =
    Lazy::new(|| tract_onnx::onnx().with_ignore_output_shapes(false));

/// How to load a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Concrete shapes for the model inputs, in the model's input order. Needed when the
    /// model has symbolic dimensions other than a leading batch dimension (which defaults
    /// to 1).
    pub input_shapes: Option<Vec<Vec<usize>>>,
}

/// A place where the model can be cut: run the part before it on the phone, send the
/// tensors crossing it, run the part after it on the edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// Position in the model's cut order: 0 sends the raw input, the last runs everything
    /// on the phone. Portable between machines together with the model hash.
    pub id: usize,
    /// The ONNX node just before the cut (`None` for cut 0).
    pub after_node: Option<String>,
    /// The tensors crossing the cut, in a stable order.
    pub tensors: Vec<TensorSpec>,
    /// Total bytes crossing the cut as float-as-stored (no encoding).
    pub bytes: u64,
    /// Bytes crossing per element type.
    pub bytes_by_dtype: BTreeMap<DType, u64>,
    /// Multiply-accumulate operations of the part before the cut (tract's cost model).
    pub macs_before: u64,
    /// Multiply-accumulate operations of the part after the cut.
    pub macs_after: u64,
    /// Whether a crossing tensor is the model input or an invertible pixel transform of it
    /// (cast, scale, shift, transpose, pad...): as revealing as the raw input. Computed from the
    /// graph; cut tables written before it existed read as `false` (see
    /// [`crate::privacy_floor`], which never goes below cut 1).
    #[serde(default)]
    pub reveals_input: bool,
}

impl Cut {
    /// The crossing tensor names.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }
}

/// The first cut at or after `from` whose crossing tensors (`cut_tensors`, by cut id) include
/// every one of `names`: the part up to it computes them, so a request for an early exit's
/// output stops there. `None` when no cut does. The one definition used by the phone's
/// planner and session and by the edge server (through `tandem_protocol::ModelSpec`).
pub fn first_cut_with_outputs<'a, S: AsRef<str>>(
    cut_tensors: impl IntoIterator<Item = &'a [TensorSpec]>,
    from: usize,
    names: &[S],
) -> Option<usize> {
    cut_tensors
        .into_iter()
        .enumerate()
        .skip(from)
        .find(|(_, tensors)| names.iter().all(|n| tensors.iter().any(|t| t.name == n.as_ref())))
        .map(|(id, _)| id)
}

/// A loaded, analysed ONNX model: its identity, its inputs and outputs, and its cut table.
pub struct Model {
    path: PathBuf,
    hash: String,
    file_bytes: u64,
    weight_bytes: u64,
    proto: pb::ModelProto,
    ordered: Ordered,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    cuts: Vec<Cut>,
    /// Loaded by [`Model::load_whole`]: cut 1 is the whole model.
    whole: bool,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("hash", &self.hash)
            .field("cuts", &self.cuts.len())
            .finish()
    }
}

impl Model {
    /// Loads and analyses the ONNX file at `path`.
    pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Model> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Model::from_bytes(path, &bytes, options)
    }

    /// Loads and analyses a model from its bytes; `path` names it in errors and locates
    /// external weight files.
    pub fn from_bytes(path: PathBuf, bytes: &[u8], options: &LoadOptions) -> Result<Model> {
        let hash = hex::encode(Sha256::digest(bytes));
        let not_onnx = |reason: String| Error::NotOnnx { path: path.clone(), reason };
        let (mut proto, inputs) = parse(&path, bytes, options, true)?;
        let model_dir = path.parent().and_then(|p| p.to_str()).map(str::to_owned);
        fold::fold_shapes(&mut proto, model_dir.as_deref())?;
        let graph = proto.graph.as_ref().expect("checked above");
        let ordered = graph::topological_order(graph).map_err(not_onnx)?;
        let crossing = graph::crossing_sets(graph, &ordered);
        let weight_bytes = graph.initializer.iter().map(|t| t.encoded_len() as u64).sum();
        let typed = analyse(&proto, &path, model_dir.as_deref())?;

        let lookup_spec = |name: &str| -> Result<TensorSpec> {
            if let Some(s) = inputs.iter().find(|s| s.name == name) {
                return Ok(s.clone());
            }
            let outlet = typed.find_outlet_label(name).ok_or_else(|| Error::UnknownTensor {
                name: name.into(),
                reason: "tract lost track of it while analysing the model".into(),
            })?;
            let fact = typed.outlet_fact(outlet).map_err(|e| Error::engine("reading facts", e))?;
            spec_from_fact(name, fact)
        };
        let outputs = graph.output.iter().map(|o| lookup_spec(&o.name)).collect::<Result<Vec<_>>>()?;
        let mut specs: HashMap<String, TensorSpec> = HashMap::new();
        for name in crossing.iter().flatten() {
            if !specs.contains_key(name) {
                specs.insert(name.clone(), lookup_spec(name)?);
            }
        }
        let macs = node_macs(&typed, graph, &ordered)?;
        let revealing = crate::privacy::revealing_cuts(graph, &ordered, &crossing);
        let cuts = cut_table(graph, &ordered, crossing, &specs, &macs, &revealing);
        log::debug!("loaded model {} ({hash}): {} nodes", path.display(), ordered.order.len());
        Ok(Model {
            path,
            hash,
            file_bytes: bytes.len() as u64,
            weight_bytes,
            proto,
            ordered,
            inputs,
            outputs,
            cuts,
            whole: false,
        })
    }

    /// Loads a model to be run whole by another engine, without analysing it with tract:
    /// for a model the phone's engine cannot run (an operator tract lacks) that an edge with
    /// ONNX Runtime can. It has two cuts: 0 (send the raw input) and 1 (run everything), no
    /// MAC counts, and its inputs and outputs come from the declared (or given) shapes. The
    /// opset, external data and shapes are checked as by [`Model::load`]; the operators are
    /// not. Its identity (the file hash) is the same as for [`Model::load`].
    pub fn load_whole(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Model> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let hash = hex::encode(Sha256::digest(&bytes));
        let (proto, inputs) = parse(&path, &bytes, options, false)?;
        let graph = proto.graph.as_ref().expect("parse checked it");
        let outputs = concrete_specs(&graph.output.iter().collect::<Vec<_>>(), None)?;
        let ordered = graph::topological_order(graph)
            .map_err(|reason| Error::NotOnnx { path: path.clone(), reason })?;
        let weight_bytes = graph.initializer.iter().map(|t| t.encoded_len() as u64).sum();
        let last_node = graph.node[*ordered.order.last().expect("the graph has nodes")].name.clone();
        let cut = |id: usize, after_node: Option<String>, tensors: &[TensorSpec]| {
            Cut {
                id,
                after_node,
                tensors: tensors.to_vec(),
                bytes: tensors.iter().map(TensorSpec::bytes).sum(),
                bytes_by_dtype: bytes_by_dtype(tensors),
                macs_before: 0,
                macs_after: 0,
                // cut 0 is the raw input; nothing is known of the graph in between
                reveals_input: id == 0,
            }
        };
        let cuts = vec![cut(0, None, &inputs), cut(1, Some(last_node), &outputs)];
        log::debug!("loaded model {} ({hash}) to run whole elsewhere", path.display());
        Ok(Model {
            path,
            hash,
            file_bytes: bytes.len() as u64,
            weight_bytes,
            proto,
            ordered,
            inputs,
            outputs,
            cuts,
            whole: true,
        })
    }

    /// Whether the model was loaded by [`Model::load_whole`] (cuts 0 and 1 only, and no
    /// tract analysis).
    pub fn is_whole_only(&self) -> bool {
        self.whole
    }

    /// How many nodes, in cut order, run before cut `id`.
    fn nodes_before(&self, id: usize) -> usize {
        if self.whole && id == self.last_cut() {
            self.ordered.order.len()
        } else {
            id
        }
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's identity: lowercase hex SHA-256 of the file's bytes.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Size of the model file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Size of the model's weights (initializers) in bytes.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// The model inputs with their concrete shapes.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The model outputs with their concrete shapes.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Every cut, in order: cut 0 sends the raw input, the last runs everything here.
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// The cut with this id.
    pub fn cut(&self, id: usize) -> Result<&Cut> {
        self.cuts.get(id).ok_or(Error::UnknownCut { id, last: self.cuts.len() - 1 })
    }

    /// The privacy floor computed from the graph: the first cut that sends neither the raw
    /// input nor an invertible pixel transform of it (see [`crate::privacy_floor`]). What
    /// `keep_raw_input_on_device` means.
    pub fn privacy_floor(&self) -> usize {
        crate::privacy::privacy_floor(&self.cuts)
    }

    /// The id of the last cut ("run everything here").
    pub fn last_cut(&self) -> usize {
        self.cuts.len() - 1
    }

    /// The first cut at or after `from` whose crossing tensors include every one of `names`:
    /// where an exit's outputs exist (see [`first_cut_with_outputs`]).
    pub fn first_cut_with_outputs<S: AsRef<str>>(&self, from: usize, names: &[S]) -> Option<usize> {
        first_cut_with_outputs(self.cuts.iter().map(|c| c.tensors.as_slice()), from, names)
    }

    /// Finds the cut whose crossing tensors are exactly `names` (in any order).
    pub fn cut_by_tensors<S: AsRef<str>>(&self, names: &[S]) -> Option<&Cut> {
        let wanted: HashSet<&str> = names.iter().map(|s| s.as_ref()).collect();
        self.cuts.iter().find(|c| {
            c.tensors.len() == wanted.len() && c.tensors.iter().all(|t| wanted.contains(t.name.as_str()))
        })
    }

    /// The ONNX model of the part before cut `id` (model inputs to crossing tensors).
    pub fn before_proto(&self, id: usize) -> Result<pb::ModelProto> {
        let cut = self.cut(id)?;
        let n = self.nodes_before(id);
        Ok(graph::extract(&self.proto, &self.ordered, &self.ordered.order[..n], &self.inputs, &cut.tensors))
    }

    /// The ONNX model of the part after cut `id` (crossing tensors to model outputs).
    pub fn after_proto(&self, id: usize) -> Result<pb::ModelProto> {
        let cut = self.cut(id)?;
        let n = self.nodes_before(id);
        Ok(graph::extract(&self.proto, &self.ordered, &self.ordered.order[n..], &cut.tensors, &self.outputs))
    }

    /// The ONNX model of the part between cut `from` and cut `to` (`from <= to`): it reads the
    /// tensors crossing `from` (the model inputs for cut 0) and produces the tensors crossing
    /// `to` (the model outputs, in the model's order, for the last cut). A three-tier edge runs
    /// it before forwarding the rest to a further server.
    pub fn between_proto(&self, from: usize, to: usize) -> Result<pb::ModelProto> {
        let (inputs, outputs) = self.between_specs(from, to)?;
        let nodes = &self.ordered.order[self.nodes_before(from)..self.nodes_before(to)];
        Ok(graph::extract(&self.proto, &self.ordered, nodes, &inputs, &outputs))
    }

    /// What the part between cut `from` and cut `to` reads and produces.
    pub(crate) fn between_specs(&self, from: usize, to: usize) -> Result<(Vec<TensorSpec>, Vec<TensorSpec>)> {
        let start = self.cut(from)?;
        let end = self.cut(to)?;
        if from > to {
            return Err(Error::engine(
                format!("extracting the part between cut {from} and cut {to}"),
                format!("cut {to} comes before cut {from}"),
            ));
        }
        let inputs = if from == 0 { self.inputs.clone() } else { start.tensors.clone() };
        let outputs = if to == self.last_cut() { self.outputs.clone() } else { end.tensors.clone() };
        Ok((inputs, outputs))
    }

    /// The directory external weight files are resolved against.
    pub(crate) fn dir(&self) -> Option<&str> {
        self.path.parent().and_then(|p| p.to_str())
    }
}

/// The newest standard ONNX operator set tract 0.23's operators are written against (its
/// operators check versions up to 21; opset 22 only widened types).
pub const MAX_OPSET: i64 = 22;

fn check_opset(proto: &pb::ModelProto, path: &Path) -> Result<()> {
    let version = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0);
    if version > MAX_OPSET {
        return Err(Error::Opset { path: path.to_path_buf(), version, max: MAX_OPSET });
    }
    Ok(())
}

/// Every node, in subgraphs too, must use an operator tract knows (tract looks operators up
/// by type whatever their domain).
fn check_operators(graph: &pb::GraphProto) -> Result<()> {
    for node in &graph.node {
        if !ONNX.op_register.0.contains_key(&node.op_type) {
            return Err(Error::UnsupportedOperator {
                node: node.name.clone(),
                op_type: if node.domain.is_empty() || node.domain == "ai.onnx" {
                    node.op_type.clone()
                } else {
                    format!("{}:{}", node.domain, node.op_type)
                },
            });
        }
        for attr in &node.attribute {
            for g in attr.g.iter().chain(&attr.graphs) {
                check_operators(g)?;
            }
        }
    }
    Ok(())
}

/// Every initializer stored as ONNX external data must name a readable file, long enough
/// for the bytes it claims.
fn check_external_data(graph: &pb::GraphProto, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let external = graph
        .initializer
        .iter()
        .filter(|t| t.data_location == Some(pb::tensor_proto::DataLocation::External as i32));
    for t in external {
        let entry = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.as_str());
        let bad = |file: PathBuf, reason: String| Error::ExternalData {
            path: path.to_path_buf(),
            tensor: t.name.clone(),
            file,
            reason,
        };
        let Some(location) = entry("location") else {
            return Err(bad(PathBuf::new(), "the model gives no location".into()));
        };
        let file = dir.join(location);
        let len = std::fs::metadata(&file).map_err(|e| bad(file.clone(), e.to_string()))?.len();
        let number = |key: &str| entry(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let end = number("offset") + number("length");
        if end > len {
            return Err(bad(file, format!("it holds {len} bytes, the model reads up to byte {end}")));
        }
    }
    Ok(())
}

/// Parses the (shape-folded) model and runs tract's type and shape analysis.
fn analyse(proto: &pb::ModelProto, path: &Path, dir: Option<&str>) -> Result<TypedModel> {
    let parsed =
        ONNX.parse(proto, dir).map_err(|e| Error::engine(format!("parsing {}", path.display()), e))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(Error::NotOnnx {
            path: path.to_path_buf(),
            reason: format!("nodes read tensors nothing defines: {:?}", parsed.unresolved_inputs),
        });
    }
    parsed.model.into_typed().map_err(|e| Error::engine(format!("analysing {}", path.display()), e))
}

/// The cut table: each cut's crossing tensors, their bytes by dtype, and the MACs before
/// and after it.
fn cut_table(
    graph: &pb::GraphProto,
    ordered: &Ordered,
    crossing: Vec<Vec<String>>,
    specs: &HashMap<String, TensorSpec>,
    macs: &[u64],
    revealing: &[bool],
) -> Vec<Cut> {
    let total_macs: u64 = macs.iter().sum();
    let mut before = 0u64;
    crossing
        .into_iter()
        .enumerate()
        .map(|(id, names)| {
            if id > 0 {
                before += macs[id - 1];
            }
            let tensors: Vec<TensorSpec> = names.iter().map(|n| specs[n].clone()).collect();
            Cut {
                id,
                after_node: id.checked_sub(1).map(|p| graph.node[ordered.order[p]].name.clone()),
                bytes: tensors.iter().map(TensorSpec::bytes).sum(),
                bytes_by_dtype: bytes_by_dtype(&tensors),
                tensors,
                macs_before: before,
                macs_after: total_macs - before,
                reveals_input: revealing[id],
            }
        })
        .collect()
}

/// Bytes crossing per element type.
fn bytes_by_dtype(tensors: &[TensorSpec]) -> BTreeMap<DType, u64> {
    let mut by = BTreeMap::new();
    for t in tensors {
        *by.entry(t.dtype).or_insert(0) += t.bytes();
    }
    by
}

/// Decodes and checks a model file (opset, graph, operators when `check_ops`, external data)
/// and fixes its input shapes: the part of loading that needs no engine.
fn parse(
    path: &Path,
    bytes: &[u8],
    options: &LoadOptions,
    check_ops: bool,
) -> Result<(pb::ModelProto, Vec<TensorSpec>)> {
    let not_onnx = |reason: String| Error::NotOnnx { path: path.to_path_buf(), reason };
    let mut proto = pb::ModelProto::decode(bytes).map_err(|e| not_onnx(e.to_string()))?;
    check_opset(&proto, path)?;
    let graph = proto.graph.as_mut().ok_or_else(|| not_onnx("it has no graph".into()))?;
    if graph.node.is_empty() || graph.output.is_empty() {
        return Err(not_onnx("its graph has no nodes or no outputs".into()));
    }
    graph::normalize(graph);
    if check_ops {
        check_operators(graph)?;
    }
    check_external_data(graph, path)?;
    let inputs = concrete_inputs(graph, options.input_shapes.as_deref())?;
    for (vi, spec) in
        graph.input.iter_mut().filter(|vi| inputs.iter().any(|s| s.name == vi.name)).zip(&inputs)
    {
        *vi = graph::value_info(spec);
    }
    Ok((proto, inputs))
}

/// The model inputs (graph inputs that are not initializers) with concrete shapes: given
/// ones checked against the declared shape, or declared ones with a symbolic leading batch
/// dimension set to 1.
fn concrete_inputs(graph: &pb::GraphProto, given: Option<&[Vec<usize>]>) -> Result<Vec<TensorSpec>> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let declared: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    concrete_specs(&declared, given)
}

/// The declared tensors with concrete shapes: `given` ones checked against the declared
/// shapes, or declared ones with a symbolic leading (batch) dimension set to 1.
fn concrete_specs(declared: &[&pb::ValueInfoProto], given: Option<&[Vec<usize>]>) -> Result<Vec<TensorSpec>> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    if let Some(given) = given {
        if given.len() != declared.len() {
            return Err(Error::Shape {
                tensor: declared.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(","),
                expected: format!("{} input shape(s)", declared.len()),
                got: vec![given.len()],
            });
        }
    }
    declared
        .iter()
        .enumerate()
        .map(|(ix, vi)| {
            let Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(t)), .. }) = &vi.r#type
            else {
                return Err(Error::UnknownTensor {
                    name: vi.name.clone(),
                    reason: "the model declares no tensor type for it".into(),
                });
            };
            let dtype = DType::from_onnx_code(t.elem_type).ok_or_else(|| Error::DType {
                tensor: vi.name.clone(),
                expected: "a numeric type".into(),
                got: format!("ONNX type code {}", t.elem_type),
            })?;
            let dims: Vec<Option<usize>> = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Dim::DimValue(v)) if v > 0 => Some(v as usize),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let describe = || {
                let parts: Vec<String> = t
                    .shape
                    .iter()
                    .flat_map(|s| &s.dim)
                    .map(|d| match &d.value {
                        Some(Dim::DimValue(v)) => v.to_string(),
                        Some(Dim::DimParam(p)) => p.clone(),
                        None => "?".into(),
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            };
            let shape = match given.map(|g| &g[ix]) {
                Some(g) => {
                    let fits =
                        g.len() == dims.len() && g.iter().zip(&dims).all(|(g, d)| d.is_none_or(|d| d == *g));
                    if !fits || g.contains(&0) {
                        return Err(Error::Shape {
                            tensor: vi.name.clone(),
                            expected: describe(),
                            got: g.clone(),
                        });
                    }
                    g.clone()
                }
                None => dims
                    .iter()
                    .enumerate()
                    .map(|(axis, d)| match d {
                        Some(d) => Ok(*d),
                        None if axis == 0 => Ok(1),
                        None => Err(Error::SymbolicShape { tensor: vi.name.clone(), shape: describe() }),
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            Ok(TensorSpec { name: vi.name.clone(), dtype, shape })
        })
        .collect()
}

fn spec_from_fact(name: &str, fact: &TypedFact) -> Result<TensorSpec> {
    let dtype = DType::from_datum(fact.datum_type).ok_or_else(|| Error::DType {
        tensor: name.into(),
        expected: "a numeric type".into(),
        got: format!("{:?}", fact.datum_type),
    })?;
    let shape = fact
        .shape
        .as_concrete()
        .ok_or_else(|| Error::SymbolicShape { tensor: name.into(), shape: format!("{:?}", fact.shape) })?
        .to_vec();
    Ok(TensorSpec { name: name.into(), dtype, shape })
}

/// Multiply-accumulate count of each node in cut order, from tract's cost model on the typed
/// model. tract names the nodes it expands an ONNX node into `onnx_name.suffix`; their cost
/// is charged to that ONNX node.
fn node_macs(typed: &TypedModel, graph: &pb::GraphProto, ordered: &Ordered) -> Result<Vec<u64>> {
    let position: HashMap<&str, usize> =
        ordered.order.iter().enumerate().map(|(pos, &ix)| (graph.node[ix].name.as_str(), pos)).collect();
    let mut macs = vec![0u64; ordered.order.len()];
    for node in typed.nodes() {
        let facts = typed.node_input_facts(node.id).map_err(|e| Error::engine("reading facts", e))?;
        let cost =
            node.op.cost(&facts).map_err(|e| Error::engine(format!("costing node `{}`", node.name), e))?;
        let fma: u64 = cost
            .iter()
            .filter(|(c, _)| matches!(c, tract_onnx::tract_core::ops::Cost::FMA(_)))
            .map(|(_, n)| n.to_i64().unwrap_or(0).max(0) as u64)
            .sum();
        if fma == 0 {
            continue;
        }
        let mut name = node.name.as_str();
        loop {
            if let Some(&pos) = position.get(name) {
                macs[pos] += fma;
                break;
            }
            match name.rfind('.') {
                Some(dot) => name = &name[..dot],
                None => {
                    log::debug!("cost of tract node `{}` not attributed to an ONNX node", node.name);
                    break;
                }
            }
        }
    }
    Ok(macs)
}
