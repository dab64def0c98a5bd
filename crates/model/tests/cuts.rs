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

/// The privacy floor computed from the graph: the first cut after the first layer that is not
/// an invertible pixel transform. `face_embedder` subtracts the mean (`input_sub_mean`) and
/// divides by the spread (`input_div`) before its first convolution: both keep the face
/// recoverable, so the floor is after the convolution, not at cut 1.
#[test]
fn privacy_floor_is_after_the_first_non_invertible_layer() {
    let model = load("face_embedder");
    let floor = model.privacy_floor();
    let cuts = model.cuts();
    let after = |c: usize| cuts[c].after_node.clone().unwrap_or_default();
    let before_floor: Vec<String> = (1..floor).map(after).collect();
    assert!(
        before_floor.iter().any(|n| n == "input_sub_mean") && before_floor.iter().any(|n| n == "input_div"),
        "the normalisation is below the floor: {before_floor:?}, floor after `{}`",
        after(floor)
    );
    assert!(cuts[..floor].iter().all(|c| c.reveals_input), "every cut below the floor reveals the input");
    assert!(!cuts[floor].reveals_input);
    assert!(floor < model.last_cut(), "offloading stays possible above the floor");
    for stem in BUNDLED {
        let model = load(stem);
        let floor = model.privacy_floor();
        assert!(floor >= 1 && floor <= model.last_cut(), "{stem}: floor {floor}");
        assert!(model.cuts()[0].reveals_input, "{stem}: cut 0 is the input itself");
        assert_eq!(floor, tandem_model::privacy_floor(model.cuts()), "{stem}");
        println!(
            "{stem}: privacy floor cut {floor} (after `{}`)",
            model.cuts()[floor].after_node.clone().unwrap_or_default()
        );
    }
}

/// A cut table written before `reveals_input` existed reads as "does not reveal": the floor is
/// then cut 1, the old meaning of `keep_raw_input_on_device`.
#[test]
fn old_cut_tables_keep_the_old_floor() {
    let model = load("tiny_resnet");
    let mut json = serde_json::to_value(model.cuts()).expect("serialises");
    for c in json.as_array_mut().expect("array") {
        c.as_object_mut().expect("object").remove("reveals_input");
    }
    let old: Vec<tandem_model::Cut> = serde_json::from_value(json).expect("old tables still read");
    assert_eq!(tandem_model::privacy_floor(&old), 1);
}
