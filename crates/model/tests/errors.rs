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

/// A model tract cannot run still loads to be run whole elsewhere (an edge with ONNX
/// Runtime): cut 0 sends the declared inputs, cut 1 is the whole graph, the hash is the file's.
#[test]
fn a_model_tract_cannot_run_loads_whole_for_another_engine() {
    let path = testdata("unsupported_det.onnx");
    assert!(matches!(Model::load(&path, &LoadOptions::default()), Err(Error::UnsupportedOperator { .. })));
    let model = Model::load_whole(&path, &LoadOptions::default()).expect("loads whole");
    assert!(model.is_whole_only());
    assert_eq!(model.cuts().len(), 2);
    assert_eq!(model.last_cut(), 1);
    let x = &model.cut(0).expect("cut 0").tensors;
    assert_eq!((x.len(), x[0].name.as_str(), x[0].shape.clone()), (1, "x", vec![1, 3, 3]));
    let d = &model.cut(1).expect("cut 1").tensors;
    assert_eq!((d[0].name.as_str(), d[0].shape.clone()), ("d", vec![1]));
    let nodes = |p: pb::ModelProto| p.graph.expect("graph").node.len();
    assert_eq!(nodes(model.between_proto(0, 1).expect("whole")), 2, "the whole graph runs on the edge");
    assert_eq!(nodes(model.before_proto(0).expect("before cut 0")), 0);
    assert_eq!(nodes(model.after_proto(1).expect("after the last cut")), 0);
    let hash = hex_sha256(&std::fs::read(&path).expect("file"));
    assert_eq!(model.hash(), hash);
    // Bad files are refused as by `Model::load`.
    let p = tmp("not-onnx-whole.onnx", b"definitely not protobuf");
    assert!(matches!(Model::load_whole(&p, &LoadOptions::default()), Err(Error::NotOnnx { .. })));
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
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
    let mask = NamedTensor::new("m", DType::Bool, vec![1, 3], vec![1, 0, 1]).expect("tensor");
    npy::write_npy(&p, &mask).expect("writes bool");
    assert_eq!(npy::read_npy(&p, "m").expect("reads bool"), mask);
}

fn tiny_resnet_proto() -> pb::ModelProto {
    let bytes = std::fs::read(model_path("tiny_resnet")).expect("model");
    pb::ModelProto::decode(&bytes[..]).expect("decodes")
}

#[test]
fn a_too_new_opset_is_refused_with_both_versions() {
    let mut proto = tiny_resnet_proto();
    proto.opset_import.iter_mut().for_each(|o| o.version = 99);
    let p = tmp("opset99.onnx", &proto.encode_to_vec());
    let err = Model::load(&p, &LoadOptions::default()).expect_err("opset 99");
    assert!(matches!(err, Error::Opset { version: 99, max: tandem_model::MAX_OPSET, .. }), "{err:?}");
    assert!(err.to_string().contains("opset99.onnx"), "{err}");
}

#[test]
fn missing_external_data_names_the_tensor_and_the_file() {
    let mut proto = tiny_resnet_proto();
    let init = &mut proto.graph.as_mut().expect("graph").initializer[0];
    let name = init.name.clone();
    init.raw_data.clear();
    init.float_data.clear();
    init.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
    init.external_data =
        vec![pb::StringStringEntryProto { key: "location".into(), value: "gone.bin".into() }];
    let p = tmp("external.onnx", &proto.encode_to_vec());
    let err = Model::load(&p, &LoadOptions::default()).expect_err("missing gone.bin");
    match &err {
        Error::ExternalData { tensor, file, .. } => {
            assert_eq!(tensor, &name);
            assert!(file.ends_with("gone.bin"), "{file:?}");
        }
        other => panic!("expected ExternalData, got {other:?}"),
    }
    // A file too short for the bytes the model claims is refused the same way.
    std::fs::write(p.with_file_name("gone.bin"), [0u8; 8]).expect("write");
    let init = &mut proto.graph.as_mut().expect("graph").initializer[0];
    init.external_data.push(pb::StringStringEntryProto { key: "length".into(), value: "4096".into() });
    let p = tmp("external_short.onnx", &proto.encode_to_vec());
    let err = Model::load(&p, &LoadOptions::default()).expect_err("short gone.bin");
    assert!(matches!(err, Error::ExternalData { .. }), "{err:?}");
}

#[test]
fn an_operator_of_another_domain_tract_lacks_is_named_with_its_domain() {
    let mut proto = tiny_resnet_proto();
    let node = &mut proto.graph.as_mut().expect("graph").node[5];
    node.domain = "com.example".into();
    node.op_type = "FusedFrob".into();
    let name = node.name.clone();
    let p = tmp("domain.onnx", &proto.encode_to_vec());
    match Model::load(&p, &LoadOptions::default()).expect_err("unsupported") {
        Error::UnsupportedOperator { node, op_type } => {
            assert_eq!(node, name);
            assert_eq!(op_type, "com.example:FusedFrob");
        }
        other => panic!("expected UnsupportedOperator, got {other:?}"),
    }
}

#[test]
fn a_symbolic_sequence_length_needs_a_shape_and_other_shapes_are_typed_errors() {
    // tiny_text_encoder declares input_ids [batch, sequence]: batch defaults to 1, the
    // sequence length must be given (by a declared shape or the first request).
    let err = Model::load(model_path("tiny_text_encoder"), &LoadOptions::default()).expect_err("symbolic");
    assert!(matches!(err, Error::SymbolicShape { ref tensor, .. } if tensor == "input_ids"), "{err:?}");
    let exec = Executor::new(Arc::new(
        Model::load(model_path("tiny_text_encoder"), &LoadOptions { input_shapes: Some(vec![vec![1, 20]]) })
            .expect("loads for length 20"),
    ));
    let twelve = NamedTensor::new("input_ids", DType::Int64, vec![1, 12], vec![0; 8 * 12]).expect("tensor");
    assert!(
        matches!(exec.run_full(&[twelve]), Err(Error::Shape { ref tensor, .. }) if tensor == "input_ids")
    );
    let floats = NamedTensor::from_f32("input_ids", vec![1, 20], &[0.0; 20]).expect("tensor");
    assert!(matches!(exec.run_full(&[floats]), Err(Error::DType { .. })));
    let twenty = NamedTensor::new("input_ids", DType::Int64, vec![1, 20], vec![0; 8 * 20]).expect("tensor");
    assert_eq!(exec.run_full(&[twenty]).expect("runs")[0].shape, vec![1, 4]);
}
