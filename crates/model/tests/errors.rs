//! Bad input gives a typed error naming the file, node or tensor; never a panic.

mod common;

use std::sync::Arc;

use common::*;
use prost::Message;
use tandem_model::{npy, DType, Error, Executor, LoadOptions, Model, NamedTensor};
use tract_onnx::pb;

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = Model::load("no/such/model.onnx", &LoadOptions::default()).expect_err("missing");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/model.onnx"));
}

#[test]
fn truncated_and_non_onnx_files_are_rejected() {
    let bytes = std::fs::read(model_path("tiny_resnet")).expect("model");
    for (name, content) in [
        ("truncated.onnx", &bytes[..bytes.len() / 2]),
        ("text.onnx", &b"this is not a model at all, just text\n"[..]),
        ("empty.onnx", &b""[..]),
    ] {
        let p = tmp(name, content);
        let err = Model::load(&p, &LoadOptions::default()).expect_err(name);
        assert!(matches!(err, Error::NotOnnx { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn unsupported_operator_names_the_node() {
    let bytes = std::fs::read(model_path("tiny_resnet")).expect("model");
    let mut proto = pb::ModelProto::decode(&bytes[..]).expect("decodes");
    let node = &mut proto.graph.as_mut().expect("graph").node[3];
    node.op_type = "FrobnicateV7".into();
    let name = node.name.clone();
    let p = tmp("unsupported.onnx", &proto.encode_to_vec());
    let err = Model::load(&p, &LoadOptions::default()).expect_err("unsupported");
    match err {
        Error::UnsupportedOperator { node, op_type } => {
            assert_eq!(node, name);
            assert_eq!(op_type, "FrobnicateV7");
        }
        other => panic!("expected UnsupportedOperator, got {other:?}"),
    }
}

#[test]
fn wrong_input_shape_dtype_name_and_unknown_cut_are_typed() {
    let exec = Executor::new(Arc::new(
        Model::load(model_path("tiny_resnet"), &LoadOptions::default()).expect("loads"),
    ));
    let bad_shape =
        NamedTensor::from_f32("input", vec![1, 3, 16, 16], &vec![0.0; 3 * 16 * 16]).expect("tensor");
    assert!(matches!(exec.run_full(&[bad_shape]), Err(Error::Shape { ref tensor, .. }) if tensor == "input"));
    let bad_dtype = NamedTensor::new("input", DType::Int32, vec![1, 3, 32, 32], vec![0; 4 * 3 * 32 * 32])
        .expect("tensor");
    assert!(matches!(exec.run_full(&[bad_dtype]), Err(Error::DType { .. })));
    let bad_name =
        NamedTensor::from_f32("image", vec![1, 3, 32, 32], &vec![0.0; 3 * 32 * 32]).expect("tensor");
    assert!(
        matches!(exec.run_full(&[bad_name]), Err(Error::UnknownTensor { ref name, .. }) if name == "image")
    );
    assert!(matches!(exec.run_before(9999, &[]), Err(Error::UnknownCut { id: 9999, last: 27 })));
    assert!(NamedTensor::new("x", DType::Fp32, vec![2, 2], vec![0; 15]).is_err(), "length must match shape");
}

#[test]
fn malformed_npy_files_are_typed_errors() {
    let good = std::fs::read(testdata("tiny_resnet_input.npy")).expect("npy");
    for (name, content) in [
        ("garbage.npy", &b"\x93NUMPY garbage"[..]),
        ("truncated.npy", &good[..good.len() - 100]),
        ("notnpy.npy", &b"hello"[..]),
    ] {
        let err = npy::read_npy(tmp(name, content), "x").expect_err(name);
        assert!(matches!(err, Error::Npy { .. }), "{name}: {err:?}");
    }
    let t = NamedTensor::from_f32("x", vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("tensor");
    let p = tmp("roundtrip.npy", b"");
    npy::write_npy(&p, &t).expect("writes");
    assert_eq!(npy::read_npy(&p, "x").expect("reads"), t);
}
