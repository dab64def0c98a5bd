//! The declarative privacy floor: which cuts send the raw input, or something as revealing as
//! it (the input after only invertible pixel transforms), computed from the graph.
//!
//! A tensor *reveals the input* when it is a model input, or the output of a node that is an
//! invertible, element-wise or layout-only transform of one revealing tensor, its other
//! operands being constants (initializers or constant nodes): `Cast`, `Mul`/`Div` by a
//! constant (scale), `Add`/`Sub` of a constant (shift, mean subtraction), `Transpose`, `Pad`,
//! `Reshape`/`Flatten`/`Squeeze`/`Unsqueeze`/`Identity`, and inference-mode
//! `BatchNormalization` (a per-channel scale and shift). Anyone holding such a tensor and the
//! public model holds the picture. The first convolution, pooling, activation or anything
//! else ends it.
//!
//! A cut reveals the input when any tensor crossing it does. The floor is the first cut that
//! does not ([`privacy_floor`]); for a chain that is the cut just after the first layer that
//! is not an invertible pixel transform. `Policy::keep_raw_input_on_device` means that floor.
//!
//! `Cast` to a narrower type, or a scale by zero, is not invertible in exact arithmetic;
//! counting them as revealing errs on the side of privacy (the floor only moves later).

use std::collections::HashSet;

use tract_onnx::pb;

use crate::graph::{node_reads, Ordered};

/// Operators that, applied to one revealing tensor and constants, give a revealing tensor.
const INVERTIBLE: &[&str] = &[
    "Cast",
    "Mul",
    "Div",
    "Add",
    "Sub",
    "Transpose",
    "Pad",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "BatchNormalization",
];

/// For each cut position `0..=order.len()` of `crossing`, whether a tensor crossing it reveals
/// the model input (see the module documentation).
pub(crate) fn revealing_cuts(
    graph: &pb::GraphProto,
    ordered: &Ordered,
    crossing: &[Vec<String>],
) -> Vec<bool> {
    let constants: HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(ordered.constants.iter().flat_map(|&c| graph.node[c].output.iter().map(|s| s.as_str())))
        .collect();
    let mut revealing: HashSet<String> =
        graph.input.iter().map(|i| i.name.clone()).filter(|n| !constants.contains(n.as_str())).collect();
    for &ix in &ordered.order {
        let node = &graph.node[ix];
        if !INVERTIBLE.contains(&node.op_type.as_str()) {
            continue;
        }
        let reads = node_reads(node);
        let from_input = reads.iter().filter(|r| revealing.contains(r.as_str())).count();
        let others_constant =
            reads.iter().all(|r| revealing.contains(r.as_str()) || constants.contains(r.as_str()));
        // one revealing operand, the rest constants: `x * x` or `x + y` are not pixel transforms
        if from_input == 1 && others_constant {
            revealing.extend(node.output.iter().filter(|o| !o.is_empty()).cloned());
        }
    }
    crossing.iter().map(|names| names.iter().any(|n| revealing.contains(n))).collect()
}

/// The privacy floor of a cut table: the first cut whose crossing tensors do not reveal the
/// model input (never below 1: cut 0 sends the input itself). When every cut up to the last
/// reveals it, the last cut (everything on the phone).
pub fn privacy_floor(cuts: &[crate::Cut]) -> usize {
    let last = cuts.len().saturating_sub(1);
    cuts.iter().position(|c| c.id > 0 && !c.reveals_input).unwrap_or(last)
}
