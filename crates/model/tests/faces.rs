//! Sanity check of the converted face embedder on real photos (not an accuracy claim):
//! same-person distances fall below dlib's 0.6 threshold, different people above it.

mod common;

use std::sync::Arc;

use common::*;
use tandem_model::{npy, Executor, LoadOptions, Model, NamedTensor};

fn descriptor(exec: &Executor, crop: &str) -> Vec<f32> {
    let image = NamedTensor { name: "image".into(), ..npy::read_npy(testdata(crop), "").expect("crop") };
    let out = exec.run_full(&[image]).expect("runs");
    out[0].to_f32().expect("f32 descriptor")
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

#[test]
fn same_person_is_close_and_different_people_are_far() {
    let exec = Executor::new(Arc::new(
        Model::load(model_path("face_embedder"), &LoadOptions::default()).expect("loads"),
    ));
    let obama = descriptor(&exec, "obama_crop.npy");
    let obama2 = descriptor(&exec, "obama2_crop.npy");
    let biden = descriptor(&exec, "biden_crop.npy");
    let astronaut = descriptor(&exec, "astronaut_crop.npy");
    assert_eq!(obama.len(), 128);
    assert!(distance(&obama, &obama2) < 0.6, "same person: {}", distance(&obama, &obama2));
    for (name, other) in [("biden", &biden), ("astronaut", &astronaut)] {
        assert!(distance(&obama, other) > 0.6, "obama vs {name}: {}", distance(&obama, other));
    }
    assert!(distance(&biden, &astronaut) > 0.6);
}

#[test]
fn tract_matches_onnxruntime_descriptors_and_split_matches_whole() {
    let exec = Executor::new(Arc::new(
        Model::load(model_path("face_embedder"), &LoadOptions::default()).expect("loads"),
    ));
    let ours = descriptor(&exec, "obama_crop.npy");
    let reference = npy::read_npy(testdata("obama_descriptor.npy"), "descriptor").expect("reference");
    let theirs = reference.to_f32().expect("f32");
    let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 1e-4, "tract vs onnxruntime: {diff}");

    // Split at a dozen cuts spread over the model (both ends included): the part before,
    // then the part after from the crossing tensors, gives the whole model's descriptor
    // (the same engine: equal up to float rounding).
    let image =
        NamedTensor { name: "image".into(), ..npy::read_npy(testdata("obama_crop.npy"), "").expect("crop") };
    let cuts = exec.model().cuts().len();
    assert!(cuts > 2, "the face embedder has inner cuts: {cuts}");
    let step = (cuts / 12).max(1);
    for cut in (0..cuts).step_by(step).chain([cuts - 1]) {
        let crossing = exec.run_before(cut, std::slice::from_ref(&image)).expect("the part before runs");
        let split = exec.run_after(cut, &crossing).expect("the part after runs");
        let split = split[0].to_f32().expect("f32 descriptor");
        assert_eq!(split.len(), ours.len(), "cut {cut}");
        let diff = ours.iter().zip(&split).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff <= 1e-5, "split at cut {cut} vs whole: {diff}");
    }
}
