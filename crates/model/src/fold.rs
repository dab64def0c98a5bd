//! Shape computations folded to constants once the input shapes are known.
//!
//! Exporters compute reshape targets, resize sizes, position ranges and initial recurrent
//! states from the shapes of activations: `Shape -> Gather -> Unsqueeze -> Concat ->
//! Reshape`. In tract these are `TDim` tensors, which cannot cross a cut nor be a part's
//! input. With concrete model inputs every such shape is known, so each `Shape` (and `Size`)
//! node is replaced by a `Constant` node holding its int64 value. Everything computed from
//! it then reads only constants, so [`crate::graph`] treats it as a constant node: replicated
//! into every part that needs it, folded by tract when the part is built, and never sent.

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::model::ONNX;
use crate::tensor::DType;

fn is_shape_op(node: &pb::NodeProto) -> bool {
    let standard = node.domain.is_empty() || node.domain == "ai.onnx";
    standard && (node.op_type == "Shape" || node.op_type == "Size")
}

/// Replaces every `Shape` and `Size` node whose input shape tract's analysis resolves with a
/// `Constant` node of the same name and output. Returns how many were folded. The graph's
/// inputs must already carry their concrete shapes.
pub(crate) fn fold_shapes(proto: &mut pb::ModelProto, dir: Option<&str>) -> Result<usize> {
    let graph = proto.graph.as_ref().expect("a loaded model always has a graph");
    if !graph.node.iter().any(is_shape_op) {
        return Ok(0);
    }
    let mut parsed = ONNX.parse(proto, dir).map_err(|e| Error::engine("parsing the model", e))?.model;
    parsed.analyse(false).map_err(|e| Error::engine("analysing the model's shape computations", e))?;
    let graph = proto.graph.as_mut().expect("checked above");
    let mut folded = 0;
    for node in graph.node.iter_mut().filter(|n| is_shape_op(n)) {
        let Some(input) = node.input.first() else { continue };
        let outlet = parsed
            .find_outlet_label(input)
            .or_else(|| parsed.node_by_name(input).ok().map(|n| OutletId::new(n.id, 0)));
        let Some(outlet) = outlet else {
            log::debug!("shape of `{input}` (read by `{}`) not found: not folded", node.name);
            continue;
        };
        let fact = parsed.outlet_fact(outlet).map_err(|e| Error::engine("reading facts", e))?;
        let Ok(Some(dims)) = fact.shape.as_concrete_finite() else {
            log::debug!("shape of `{input}` (read by `{}`) is not concrete: not folded", node.name);
            continue;
        };
        let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let value = if node.op_type == "Size" {
            int64_tensor(vec![], vec![dims.iter().product()])
        } else {
            let (start, end) = slice_bounds(node, dims.len());
            let kept = dims[start..end.max(start)].to_vec();
            int64_tensor(vec![kept.len() as i64], kept)
        };
        *node = pb::NodeProto {
            name: node.name.clone(),
            op_type: "Constant".into(),
            output: node.output.clone(),
            attribute: vec![pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(value),
                ..Default::default()
            }],
            ..Default::default()
        };
        folded += 1;
    }
    log::debug!("folded {folded} shape computation(s) to constants");
    Ok(folded)
}

/// `Shape`'s optional `start` and `end` attributes (opset 15), clamped to `[0, rank]`.
fn slice_bounds(node: &pb::NodeProto, rank: usize) -> (usize, usize) {
    let attr = |name: &str, default: i64| {
        node.attribute.iter().find(|a| a.name == name).map(|a| a.i).unwrap_or(default)
    };
    let clamp = |v: i64| {
        let v = if v < 0 { v + rank as i64 } else { v };
        v.clamp(0, rank as i64) as usize
    };
    (clamp(attr("start", 0)), clamp(attr("end", rank as i64)))
}

fn int64_tensor(dims: Vec<i64>, values: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto { dims, data_type: DType::Int64.onnx_code(), int64_data: values, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_bounds_follow_the_onnx_spec() {
        let node = |attrs: &[(&str, i64)]| pb::NodeProto {
            attribute: attrs
                .iter()
                .map(|(n, i)| pb::AttributeProto { name: n.to_string(), i: *i, ..Default::default() })
                .collect(),
            ..Default::default()
        };
        assert_eq!(slice_bounds(&node(&[]), 4), (0, 4));
        assert_eq!(slice_bounds(&node(&[("start", 2)]), 4), (2, 4));
        assert_eq!(slice_bounds(&node(&[("start", -2), ("end", -1)]), 4), (2, 3));
        assert_eq!(slice_bounds(&node(&[("start", -9), ("end", 99)]), 4), (0, 4));
    }
}
