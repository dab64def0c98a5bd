//! Surgery on the ONNX protobuf: topological order, cut enumeration and extraction of the
//! part of a graph before or after a cut.
//!
//! Everything here works on ONNX names (tensor and node names), never on tract's optimized
//! node ids, so a cut means the same thing on the phone, the edge and any other runtime.

use std::collections::{BTreeSet, HashMap, HashSet};

use tract_onnx::pb;

use crate::tensor::TensorSpec;

/// A graph node that is not a `Constant`: the unit cut positions are counted in.
#[derive(Clone, Debug)]
pub(crate) struct Ordered {
    /// Index of the node in `graph.node`, in cut order.
    pub order: Vec<usize>,
    /// Indices of constant nodes (see [`constant_nodes`]), in topological order: replicated into
    /// every part that needs them, never sent.
    pub constants: Vec<usize>,
}

/// Names a node reads: its explicit inputs plus the outer-scope names its subgraphs
/// (If/Loop/Scan bodies) capture.
pub(crate) fn node_reads(node: &pb::NodeProto) -> Vec<String> {
    let mut reads: Vec<String> = node.input.iter().filter(|s| !s.is_empty()).cloned().collect();
    for attr in &node.attribute {
        for g in attr.g.iter().chain(attr.graphs.iter()) {
            reads.extend(captured_names(g));
        }
    }
    reads
}

fn captured_names(g: &pb::GraphProto) -> Vec<String> {
    let mut defined: HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    defined.extend(g.initializer.iter().map(|i| i.name.as_str()));
    for n in &g.node {
        defined.extend(n.output.iter().map(|s| s.as_str()));
    }
    g.node.iter().flat_map(node_reads).filter(|name| !defined.contains(name.as_str())).collect()
}

/// Nodes whose every read is an initializer or the output of another such node
/// (`Constant`, shape arithmetic on weights...): they are computed on both sides of any cut
/// and never sent. Returned in a topological order.
fn constant_nodes(graph: &pb::GraphProto) -> Vec<usize> {
    let mut free: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut constants = vec![];
    let mut found = HashSet::new();
    loop {
        let before = constants.len();
        for (ix, node) in graph.node.iter().enumerate() {
            if !found.contains(&ix) && node_reads(node).iter().all(|r| free.contains(r.as_str())) {
                found.insert(ix);
                constants.push(ix);
                free.extend(node.output.iter().map(|s| s.as_str()));
            }
        }
        if constants.len() == before {
            return constants;
        }
    }
}

/// Makes a graph safe to cut and to hand to tract, without changing what it computes:
/// every node gets a unique, non-empty name (cuts and reports need one), and
/// `ConstantOfShape` without a `value` gets the float32 zero the ONNX spec defaults to
/// (tract 0.23 would default to float64 and fail to unify types downstream).
/// Intermediate shape annotations (`value_info`) with symbolic dimensions lose their shape
/// (their type stays): once the inputs are concrete, tract infers the concrete shape, and
/// `[batch, sequence, 16]` written by an earlier tool (ONNX Runtime's quantizer) would not
/// unify with it.
pub(crate) fn normalize(graph: &mut pb::GraphProto) {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    for vi in &mut graph.value_info {
        if let Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(t)), .. }) = &mut vi.r#type
        {
            let symbolic = t
                .shape
                .as_ref()
                .is_some_and(|s| s.dim.iter().any(|d| !matches!(d.value, Some(Dim::DimValue(v)) if v >= 0)));
            if symbolic {
                t.shape = None;
            }
        }
    }
    for node in graph.node.iter_mut().filter(|n| n.op_type == "ConstantOfShape") {
        if !node.attribute.iter().any(|a| a.name == "value") {
            node.attribute.push(pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(pb::TensorProto {
                    dims: vec![1],
                    data_type: crate::tensor::DType::Fp32.onnx_code(),
                    float_data: vec![0.0],
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    let mut seen = HashSet::new();
    for (ix, node) in graph.node.iter_mut().enumerate() {
        if node.name.is_empty() || seen.contains(&node.name) {
            let base = if node.name.is_empty() { node.op_type.clone() } else { node.name.clone() };
            let mut candidate = format!("{base}_{ix}");
            while seen.contains(&candidate) {
                candidate.push('_');
            }
            node.name = candidate;
        }
        seen.insert(node.name.clone());
    }
}

/// A deterministic topological order (Kahn's algorithm, ties broken by file order, so a
/// graph already in topological order keeps its order). `Err` names a node on a cycle.
pub(crate) fn topological_order(graph: &pb::GraphProto) -> Result<Ordered, String> {
    let constants = constant_nodes(graph);
    let constant_set: HashSet<usize> = constants.iter().copied().collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (ix, node) in graph.node.iter().enumerate() {
        if constant_set.contains(&ix) {
            continue;
        }
        for out in node.output.iter().filter(|s| !s.is_empty()) {
            producer.insert(out, ix);
        }
    }
    let mut missing = vec![0usize; graph.node.len()];
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; graph.node.len()];
    for (ix, node) in graph.node.iter().enumerate() {
        if constant_set.contains(&ix) {
            continue;
        }
        let deps: BTreeSet<usize> =
            node_reads(node).iter().filter_map(|r| producer.get(r.as_str()).copied()).collect();
        for d in deps {
            if d != ix {
                missing[ix] += 1;
                dependents[d].push(ix);
            }
        }
    }
    let mut ready: BTreeSet<usize> =
        (0..graph.node.len()).filter(|i| !constant_set.contains(i) && missing[*i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(ix) = ready.pop_first() {
        order.push(ix);
        for &d in &dependents[ix] {
            missing[d] -= 1;
            if missing[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() + constants.len() != graph.node.len() {
        let stuck = (0..graph.node.len())
            .find(|i| !constant_set.contains(i) && missing[*i] > 0)
            .map(|i| graph.node[i].name.clone())
            .unwrap_or_default();
        return Err(format!("the graph has a cycle through node `{stuck}`"));
    }
    Ok(Ordered { order, constants })
}

/// The tensors crossing each cut position, as names in a stable order.
///
/// Position `p` (0..=order.len()) separates `order[..p]` (before) from `order[p..]` (after).
/// A tensor crosses when it is produced before (or is a model input) and is read after
/// (or is a model output). Initializers and `Constant` outputs never cross: both sides have
/// them. Position 0 carries every model input; the last position carries the model outputs.
pub(crate) fn crossing_sets(graph: &pb::GraphProto, ordered: &Ordered) -> Vec<Vec<String>> {
    let n = ordered.order.len();
    let free: HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(ordered.constants.iter().flat_map(|&c| graph.node[c].output.iter().map(|s| s.as_str())))
        .collect();
    let inputs: Vec<&str> =
        graph.input.iter().map(|i| i.name.as_str()).filter(|n| !free.contains(n)).collect();
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();

    // (name, produced at position, sequence for a stable order)
    let mut produced: Vec<(&str, usize)> = inputs.iter().map(|i| (*i, 0)).collect();
    for (pos, &ix) in ordered.order.iter().enumerate() {
        for out in graph.node[ix].output.iter().filter(|s| !s.is_empty()) {
            produced.push((out, pos + 1));
        }
    }
    let mut last_read: HashMap<&str, usize> = HashMap::new();
    for (pos, &ix) in ordered.order.iter().enumerate() {
        for r in node_reads(&graph.node[ix]) {
            if let Some((name, _)) = produced.iter().find(|(p, _)| *p == r) {
                last_read.insert(name, pos);
            }
        }
    }
    (0..=n)
        .map(|p| {
            produced
                .iter()
                .filter(|(name, at)| {
                    *at <= p
                        && (outputs.contains(name)
                            || last_read.get(name).is_some_and(|&last| last >= p)
                            || (p == 0 && inputs.contains(name)))
                })
                .map(|(name, _)| name.to_string())
                .collect()
        })
        .collect()
}

/// Builds a standalone model of `nodes` (indices into `graph.node`, in order) reading
/// `inputs` and producing `outputs`, with the initializers and constants they need.
///
/// The extracted graph keeps every ONNX name. tract refuses a graph that reads a name it
/// does not define, which guards against an incomplete cut.
pub(crate) fn extract(
    model: &pb::ModelProto,
    ordered: &Ordered,
    nodes: &[usize],
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> pb::ModelProto {
    let graph = model.graph.as_ref().expect("a loaded model always has a graph");
    let mut reads: HashSet<String> = HashSet::new();
    for &ix in nodes {
        reads.extend(node_reads(&graph.node[ix]));
    }
    for o in outputs {
        reads.insert(o.name.clone());
    }
    // Constants feeding other constants: walk them backwards from their last consumer.
    let mut needed = vec![false; ordered.constants.len()];
    for (k, &c) in ordered.constants.iter().enumerate().rev() {
        if graph.node[c].output.iter().any(|o| reads.contains(o)) {
            needed[k] = true;
            reads.extend(node_reads(&graph.node[c]));
        }
    }
    let constants = ordered
        .constants
        .iter()
        .zip(&needed)
        .filter(|(_, needed)| **needed)
        .map(|(&c, _)| graph.node[c].clone());
    let sub = pb::GraphProto {
        name: graph.name.clone(),
        node: constants.chain(nodes.iter().map(|&ix| graph.node[ix].clone())).collect(),
        initializer: graph.initializer.iter().filter(|t| reads.contains(&t.name)).cloned().collect(),
        sparse_initializer: graph
            .sparse_initializer
            .iter()
            .filter(|t| t.values.as_ref().is_some_and(|v| reads.contains(&v.name)))
            .cloned()
            .collect(),
        input: inputs.iter().map(value_info).collect(),
        output: outputs.iter().map(value_info).collect(),
        ..Default::default()
    };
    pb::ModelProto { graph: Some(sub), ..model.clone_without_graph() }
}

/// An ONNX `ValueInfoProto` for a tensor of concrete shape.
pub(crate) fn value_info(spec: &TensorSpec) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};
    pb::ValueInfoProto {
        name: spec.name.clone(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: spec.dtype.onnx_code(),
                shape: Some(pb::TensorShapeProto {
                    dim: spec
                        .shape
                        .iter()
                        .map(|&d| Dimension { value: Some(Dim::DimValue(d as i64)), ..Default::default() })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) trait CloneWithoutGraph {
    fn clone_without_graph(&self) -> Self;
}

impl CloneWithoutGraph for pb::ModelProto {
    fn clone_without_graph(&self) -> Self {
        pb::ModelProto {
            ir_version: self.ir_version,
            opset_import: self.opset_import.clone(),
            producer_name: self.producer_name.clone(),
            producer_version: self.producer_version.clone(),
            domain: self.domain.clone(),
            model_version: self.model_version,
            doc_string: String::new(),
            graph: None,
            metadata_props: self.metadata_props.clone(),
            training_info: vec![],
            functions: self.functions.clone(),
        }
    }
}
