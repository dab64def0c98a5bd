//! Cut enumeration on real bundled models.

mod common;

use common::*;
use tandem_model::{DType, LoadOptions, Model};

fn load(stem: &str) -> Model {
    Model::load(model_path(stem), &LoadOptions::default()).expect("bundled model loads")
}

#[test]
fn cut_table_starts_with_the_input_and_ends_with_the_outputs() {
    for stem in BUNDLED {
        let model = load(stem);
        let cuts = model.cuts();
        let first = &cuts[0];
        assert_eq!(first.tensors, model.inputs(), "{stem}: cut 0 sends the raw input");
        assert_eq!(first.macs_before, 0, "{stem}");
        let last = cuts.last().expect("at least two cuts");
        let mut last_names = last.tensor_names();
        let mut outputs: Vec<&str> = model.outputs().iter().map(|o| o.name.as_str()).collect();
        last_names.sort();
        outputs.sort();
        assert_eq!(last_names, outputs, "{stem}: the last cut carries the outputs");
        assert_eq!(last.macs_after, 0, "{stem}");
        for (i, c) in cuts.iter().enumerate() {
            assert_eq!(c.id, i);
            assert_eq!(c.bytes, c.tensors.iter().map(|t| t.bytes()).sum::<u64>());
            assert_eq!(c.bytes, c.bytes_by_dtype.values().sum::<u64>());
            assert_eq!(c.macs_before + c.macs_after, first.macs_after, "{stem}: MACs are conserved");
        }
        assert!(cuts.windows(2).all(|w| w[0].macs_before <= w[1].macs_before), "{stem}: MACs accumulate");
    }
}

#[test]
fn residual_and_inception_blocks_give_multi_tensor_cuts() {
    let model = load("tiny_resnet");
    // Inside the inception block, the block input and two finished branches are all live.
    let three = model.cuts().iter().find(|c| c.tensors.len() == 3).expect("a three-tensor cut");
    assert!(three.tensor_names().contains(&"inc_a_relu"), "{:?}", three.tensor_names());
    // Inside a residual block, the skip connection crosses with the main path.
    let res =
        model.cuts().iter().find(|c| c.after_node.as_deref() == Some("res1_conv1")).expect("res1_conv1 cut");
    assert_eq!(res.tensor_names(), vec!["stem_relu", "res1_conv1"]);
    assert_eq!(res.bytes_by_dtype.get(&DType::Fp32), Some(&res.bytes));
}

#[test]
fn cuts_are_portable_by_tensor_names_and_model_hash() {
    let a = load("tiny_resnet");
    let b = Model::from_bytes(
        "elsewhere/tiny.onnx".into(),
        &std::fs::read(model_path("tiny_resnet")).expect("readable"),
        &LoadOptions::default(),
    )
    .expect("loads from bytes");
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.hash().len(), 64);
    for cut in a.cuts() {
        let same = b.cut_by_tensors(&cut.tensor_names()).expect("same cut on the other side");
        assert_eq!(same.id, cut.id);
    }
    assert!(a.cut_by_tensors(&["no_such_tensor"]).is_none());
}

#[test]
fn face_embedder_hash_matches_models_readme() {
    let model = load("face_embedder");
    let readme = std::fs::read_to_string(models_dir().join("README.md")).expect("models/README.md");
    assert!(readme.contains(model.hash()), "models/README.md must list sha256 {}", model.hash());
}

#[test]
fn given_input_shape_is_checked_against_the_declared_one() {
    let ok =
        Model::load(model_path("tiny_resnet"), &LoadOptions { input_shapes: Some(vec![vec![1, 3, 32, 32]]) });
    assert!(ok.is_ok());
    let err =
        Model::load(model_path("tiny_resnet"), &LoadOptions { input_shapes: Some(vec![vec![1, 3, 64, 64]]) })
            .expect_err("declared 32x32");
    assert!(err.to_string().contains("`input`"), "{err}");
}
