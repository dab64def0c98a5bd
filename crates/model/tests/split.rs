//! Split execution equals whole execution, on every cut of every bundled model.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tandem_model::{check, npy, Executor, LoadOptions, Model, NamedTensor};

fn executor(stem: &str) -> Executor {
    Executor::new(Arc::new(Model::load(model_path(stem), &LoadOptions::default()).expect("loads")))
}

#[test]
fn every_cut_of_every_bundled_model_matches_the_whole_model() {
    for stem in BUNDLED {
        let exec = executor(stem);
        let inputs = check::seeded_inputs(exec.model().inputs());
        let checks = check::verify(&exec, &inputs, |_| {}).expect("verify runs");
        assert_eq!(checks.len(), exec.model().cuts().len());
        let worst = checks.iter().map(|c| c.max_abs_diff).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{stem}: max_abs_diff {worst}");
        assert!(checks.iter().any(|c| c.tensors > 1), "{stem}: has multi-tensor cuts");
    }
}

#[test]
fn whole_model_matches_onnxruntime_reference_outputs() {
    for (stem, input, expected) in [
        ("tiny_resnet", "tiny_resnet_input.npy", "tiny_resnet_expected_logits.npy"),
        ("mobilenetv2", "mobilenetv2_input.npy", "mobilenetv2_expected_logits.npy"),
    ] {
        let exec = executor(stem);
        let spec = &exec.model().inputs()[0];
        let input =
            NamedTensor { name: spec.name.clone(), ..npy::read_npy(testdata(input), "").expect("npy") };
        let out = exec.run_full(&[input]).expect("runs");
        let expected = npy::read_npy(testdata(expected), &out[0].name).expect("npy");
        let diff = out[0].max_abs_diff(&expected);
        assert!(diff < 1e-4, "{stem}: tract vs onnxruntime max_abs_diff {diff}");
    }
}

#[test]
fn the_part_after_a_cut_computes_from_the_crossing_tensors() {
    let exec = executor("tiny_resnet");
    let inputs = check::seeded_inputs(exec.model().inputs());
    let cut = exec.model().cuts().iter().find(|c| c.tensors.len() == 3).expect("multi-tensor cut").id;
    let mut crossing = exec.run_before(cut, &inputs).expect("before");
    let honest = exec.run_after(cut, &crossing).expect("after");
    // Change one of the three crossing tensors: the result must change.
    let t = &mut crossing[1];
    let mut v = t.to_f32().expect("f32");
    v.iter_mut().for_each(|x| *x += 1.0);
    *t = NamedTensor::from_f32(t.name.clone(), t.shape.clone(), &v).expect("same shape");
    let tampered = exec.run_after(cut, &crossing).expect("after");
    assert!(honest[0].max_abs_diff(&tampered[0]) > 1e-3);
}

#[test]
fn a_small_cache_budget_evicts_parts_and_stays_correct() {
    let model = Arc::new(Model::load(model_path("tiny_resnet"), &LoadOptions::default()).expect("loads"));
    let exec = Executor::with_budget(model.clone(), model.weight_bytes());
    let inputs = check::seeded_inputs(model.inputs());
    let whole = exec.run_full(&inputs).expect("whole");
    for cut in [3, 11, 15, 20, 3] {
        let out = exec.run_after(cut, &exec.run_before(cut, &inputs).expect("before")).expect("after");
        assert_eq!(out, whole);
    }
    let stats = exec.cache_stats();
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.weight_bytes <= stats.budget_bytes || stats.parts == 1, "{stats:?}");
}

#[test]
fn parts_run_concurrently_from_several_threads() {
    let exec = Arc::new(executor("tiny_resnet"));
    let inputs = check::seeded_inputs(exec.model().inputs());
    let whole = exec.run_full(&inputs).expect("whole");
    std::thread::scope(|s| {
        for cut in [2, 9, 17, 25] {
            let (exec, inputs, whole) = (exec.clone(), inputs.clone(), whole.clone());
            s.spawn(move || {
                for _ in 0..3 {
                    let out =
                        exec.run_after(cut, &exec.run_before(cut, &inputs).expect("before")).expect("after");
                    assert_eq!(out, whole);
                }
            });
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Any cut, any input: before + after equals whole.
    #[test]
    fn split_equals_whole_for_random_inputs_and_cuts(seed in any::<u64>(), cut_pick in any::<prop::sample::Index>()) {
        static EXEC: std::sync::OnceLock<Executor> = std::sync::OnceLock::new();
        let exec = EXEC.get_or_init(|| executor("tiny_resnet"));
        let spec = &exec.model().inputs()[0];
        let input = vec![check::seeded_tensor(spec, seed)];
        let cut = cut_pick.index(exec.model().cuts().len());
        let whole = exec.run_full(&input).expect("whole");
        let split = exec.run_after(cut, &exec.run_before(cut, &input).expect("before")).expect("after");
        prop_assert!(whole[0].max_abs_diff(&split[0]) < 1e-5);
    }
}
