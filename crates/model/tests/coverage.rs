//! The architectures exporters write beyond classic CNNs (issue 15): shape subgraphs,
//! attention, recurrences, integer inputs, resize to the input size, quantized graphs and
//! every dtype a cut may carry. Models and ONNX Runtime references are made by
//! `models/scripts/make_coverage_models.py` and committed.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use tandem_model::{check, npy, DType, Executor, LoadOptions, Model, NamedTensor};

/// A generated model and how closely tract must agree with ONNX Runtime on it.
struct Case {
    stem: &'static str,
    /// Float outputs: largest absolute difference (float models) or relative to the output's
    /// largest magnitude (quantized models, which must also keep the same top-1).
    tolerance: f64,
    quantized: bool,
}

const CASES: &[Case] = &[
    Case { stem: "shufflenet_block", tolerance: 1e-4, quantized: false },
    Case { stem: "tiny_vit", tolerance: 1e-4, quantized: false },
    Case { stem: "tiny_text_encoder", tolerance: 1e-4, quantized: false },
    Case { stem: "tiny_text_encoder_dynq", tolerance: 5e-2, quantized: true },
    Case { stem: "tiny_gru", tolerance: 1e-4, quantized: false },
    Case { stem: "tiny_lstm", tolerance: 1e-4, quantized: false },
    Case { stem: "lraspp_head", tolerance: 1e-4, quantized: false },
    Case { stem: "mixed_dtypes", tolerance: 1e-4, quantized: true },
    Case { stem: "qdq_cnn", tolerance: 5e-2, quantized: true },
];

/// Loads a generated model with its input shapes fixed by the first request, here the
/// committed reference inputs (the text encoders declare a symbolic sequence length).
fn load(stem: &str) -> Arc<Model> {
    let shapes = (0..)
        .map(|k| testdata(&format!("{stem}_in_{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| npy::read_npy(p, "").expect("input npy").shape)
        .collect();
    let options = LoadOptions { input_shapes: Some(shapes) };
    Arc::new(Model::load(model_path(stem), &options).unwrap_or_else(|e| panic!("{stem}: {e}")))
}

/// The committed reference inputs, named after the model's inputs.
fn reference_inputs(model: &Model, stem: &str) -> Vec<NamedTensor> {
    model
        .inputs()
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            npy::read_npy(testdata(&format!("{stem}_in_{k}.npy")), &spec.name).expect("input npy")
        })
        .collect()
}

fn top1(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

#[test]
fn every_generated_model_loads_and_never_cuts_through_a_shape_computation() {
    for case in CASES {
        let model = load(case.stem);
        assert!(model.cuts().len() >= 3, "{}: {} cuts", case.stem, model.cuts().len());
        for cut in model.cuts() {
            for t in &cut.tensors {
                assert!(
                    !t.name.contains("Shape") && !t.name.contains("Constant"),
                    "{}: cut {} carries shape-only tensor {}",
                    case.stem,
                    cut.id,
                    t.name
                );
            }
        }
    }
}

/// Split and whole runs are the same computation; they may differ by a float32 rounding where
/// tract fuses operators differently in a part than in the whole model (tiny_vit: 1 ulp).
const SPLIT_TOLERANCE: f64 = 1e-6;

#[test]
fn every_cut_of_every_generated_model_matches_the_whole_model_to_the_ulp() {
    for case in CASES {
        let exec = Executor::new(load(case.stem));
        let inputs = reference_inputs(exec.model(), case.stem);
        let checks = check::verify(&exec, &inputs, |_| {}).unwrap_or_else(|e| panic!("{}: {e}", case.stem));
        assert_eq!(checks.len(), exec.model().cuts().len());
        for c in &checks {
            assert!(
                c.max_abs_diff <= SPLIT_TOLERANCE,
                "{}: cut {} differs from the whole model by {}",
                case.stem,
                c.id,
                c.max_abs_diff
            );
        }
    }
}

#[test]
fn whole_models_match_onnxruntime_reference_outputs() {
    for case in CASES {
        let exec = Executor::new(load(case.stem));
        let inputs = reference_inputs(exec.model(), case.stem);
        let outputs = exec.run_full(&inputs).unwrap_or_else(|e| panic!("{}: {e}", case.stem));
        for (k, out) in outputs.iter().enumerate() {
            let path = testdata(&format!("{}_out_{k}.npy", case.stem));
            let expected = npy::read_npy(path, &out.name).expect("reference npy");
            assert_eq!(out.shape, expected.shape, "{} output {k}", case.stem);
            let (Some(got), Some(want)) = (out.to_f32(), expected.to_f32()) else {
                // Integer outputs (labels) must be identical... except where ONNX Runtime and
                // tract resolve an exact tie differently: none in these models.
                assert_eq!(out, &expected, "{} output {k} ({})", case.stem, out.dtype);
                continue;
            };
            let diff = out.max_abs_diff(&expected);
            if case.quantized {
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6) as f64;
                assert!(
                    diff / scale <= case.tolerance,
                    "{} output {k}: relative {}",
                    case.stem,
                    diff / scale
                );
                assert_eq!(top1(&got), top1(&want), "{} output {k}: top-1", case.stem);
            } else {
                assert!(diff <= case.tolerance, "{} output {k}: max_abs_diff {diff}", case.stem);
            }
        }
    }
}

#[test]
fn cuts_carry_every_dtype_and_a_qdq_cut_after_quantize_linear_is_4x_smaller() {
    let mixed = load("mixed_dtypes");
    let carried: BTreeSet<DType> =
        mixed.cuts().iter().flat_map(|c| c.tensors.iter().map(|t| t.dtype)).collect();
    for dtype in
        [DType::Fp32, DType::Fp16, DType::Int64, DType::Int32, DType::Bool, DType::Uint8, DType::Int8]
    {
        assert!(carried.contains(&dtype), "mixed_dtypes: no cut carries {dtype}: {carried:?}");
    }
    let qdq = load("qdq_cnn");
    let quantized = qdq
        .cuts()
        .iter()
        .find(|c| c.tensors.len() == 1 && c.tensors[0].dtype == DType::Uint8)
        .expect("a cut after a QuantizeLinear");
    let float_before = &qdq.cuts()[quantized.id - 1];
    assert_eq!(float_before.tensors[0].dtype, DType::Fp32);
    assert_eq!(float_before.bytes, 4 * quantized.bytes, "{float_before:?} vs {quantized:?}");
    let text = load("tiny_text_encoder");
    assert_eq!(text.inputs()[0].dtype, DType::Int64);
    assert!(text.cuts().iter().any(|c| c.tensors.iter().any(|t| t.dtype == DType::Bool)));
}

#[test]
fn recurrences_are_never_cut_inside() {
    for stem in ["tiny_gru", "tiny_lstm"] {
        let model = load(stem);
        let rnn = if stem == "tiny_gru" { "/gru/GRU" } else { "/lstm/LSTM" };
        // The recurrence is one node: one cut right after it, none that names its internals.
        assert_eq!(model.cuts().iter().filter(|c| c.after_node.as_deref() == Some(rnn)).count(), 1, "{stem}");
        for cut in model.cuts() {
            assert!(cut.tensors.iter().all(|t| !t.name.contains("scan")), "{stem}: {:?}", cut.tensors);
        }
    }
}
