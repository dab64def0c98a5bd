//! Unit and property tests of the codec.

use super::*;
use proptest::prelude::*;
use serde_json::{Map, Value};
use tandem_model::encoding::{self, Encoding};
use tandem_model::DType;

fn spec() -> ModelSpec {
    let t = |name: &str, shape: Vec<usize>| TensorSpec { name: name.into(), dtype: DType::Fp32, shape };
    ModelSpec::new(
        "m",
        "ab12",
        vec![t("out", vec![1, 2])],
        vec![vec![t("x", vec![1, 3])], vec![t("a", vec![2]), t("b", vec![1, 2])], vec![t("out", vec![1, 2])]],
    )
}

fn headers(len: Option<usize>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(len) = len {
        h.insert(HEADER_CONTENT_LENGTH, HeaderValue::from(len));
    }
    h
}

fn decode_json(v: Value) -> Result<InferRequest, WireError> {
    decode_infer_request(&headers(None), v.to_string().as_bytes(), &spec())
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn json_request_of_the_model_input() {
    let r = decode_json(serde_json::json!({
        "id": "7",
        "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [[1.5, -2, 3e-3]]}]
    }))
    .expect("valid");
    assert_eq!((r.cut, r.id.as_deref()), (0, Some("7")));
    assert_eq!(r.inputs[0].to_f32().unwrap(), [1.5, -2.0, 3e-3]);
    assert_eq!(r.outputs, [RequestedOutput { name: "out".into(), binary: false }]);
}

#[test]
fn binary_request_of_a_multi_tensor_cut_in_any_order() {
    let json = serde_json::json!({
            "parameters": {"tandem_model_hash": "AB12", "binary_data_output": true},
            "inputs": [
                {"name": "b", "shape": [1, 2], "datatype": "FP16", "parameters": {"binary_data_size": 4, "tandem_encoding": "fp16"}},
                {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
            ]
        })
        .to_string();
    let mut body = json.clone().into_bytes();
    body.extend(encoding::f32_to_f16_bytes("b", &[0.5, 2.0]).unwrap());
    body.extend(f32s(&[7.0, 8.0]));
    let r = decode_infer_request(&headers(Some(json.len())), &body, &spec()).expect("valid");
    assert_eq!(r.cut, 1);
    assert_eq!(r.inputs[0].name, "a");
    assert_eq!(r.inputs[0].to_f32().unwrap(), [7.0, 8.0]);
    assert_eq!(r.inputs[1].to_f32().unwrap(), [0.5, 2.0]);
    assert_eq!(r.encodings, [Encoding::Fp32, Encoding::Fp16]);
    assert!(r.outputs[0].binary);
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        (
            serde_json::json!({"inputs": [{"name": "y", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
            "unknown tensor `y`",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}),
            "shape [1, 4]",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "INT8", "data": [1, 2, 3]}]}),
            "expected FP32",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2]}]}),
            "has 2 elements",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, "a", 3]}]}),
            "is not a number",
        ),
        (serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32"}]}), "neither"),
        (
            serde_json::json!({"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}),
            "not the tensors crossing any cut",
        ),
        (serde_json::json!({"parameters": {"tandem_model_hash": "ff"}, "inputs": []}), "hash mismatch"),
        (
            serde_json::json!({"parameters": {"tandem_modelhash": "ab12"}, "inputs": []}),
            "unknown parameter `tandem_modelhash`",
        ),
        (
            serde_json::json!({"inputs": [
                {"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]},
                {"name": "b", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}),
            "required with the tensors of cut 1",
        ),
        (
            serde_json::json!({"parameters": {"tandem_upstream_cut": 99}, "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
            "must be a cut from the request's cut 0",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}], "outputs": [{"name": "nope"}]}),
            "unknown tensor `nope`",
        ),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3], "parameters": {"tandem_encoding": "int8"}}]}),
            "needs numbers `tandem_scale`",
        ),
        (serde_json::json!({"inputs": {}}), "malformed inference request JSON"),
    ];
    for (request, expected) in cases {
        let err = decode_json(request.clone()).expect_err("invalid");
        assert!(err.to_string().contains(expected), "{request}: `{err}` lacks `{expected}`");
        assert!(err.is_client_error(), "{request}: {err}");
    }
}

#[test]
fn binary_framing_errors() {
    let json =
        r#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}"#;
    let spec = spec();
    let decode = |len: Option<usize>, body: &[u8]| decode_infer_request(&headers(len), body, &spec);
    let mut body = json.as_bytes().to_vec();
    body.extend(f32s(&[1.0, 2.0, 3.0]));
    assert!(decode(Some(json.len()), &body).is_ok());
    let err = |r: Result<InferRequest, WireError>| r.expect_err("invalid").to_string();
    assert!(err(decode(None, &body)).contains("malformed"));
    assert!(err(decode(Some(body.len() + 1), &body)).contains("only"));
    assert!(err(decode(Some(json.len()), &body[..body.len() - 1])).contains("remain"));
    let mut longer = body.clone();
    longer.push(0);
    assert!(err(decode(Some(json.len()), &longer)).contains("after the last input"));
    let mut h = HeaderMap::new();
    h.insert(HEADER_CONTENT_LENGTH, HeaderValue::from_static("12x"));
    assert!(decode_infer_request(&h, &body, &spec).is_err());
}

#[test]
fn response_round_trips_json_and_binary() {
    let out = NamedTensor::from_f32("out", vec![1, 2], &[0.1, f32::MAX]).unwrap();
    let mut params = Map::new();
    params.insert(param::CUT.into(), 3.into());
    for binary in [false, true] {
        let requested = [RequestedOutput { name: "out".into(), binary }];
        let enc =
            encode_infer_response("m", Some("id"), std::slice::from_ref(&out), &requested, &params).unwrap();
        assert_eq!(enc.header_len.is_some(), binary);
        let dec = decode_infer_response(enc.header_len, &enc.body).unwrap();
        assert_eq!(dec.outputs, std::slice::from_ref(&out));
        assert_eq!(dec.parameters[param::CUT], 3);
        assert_eq!(dec.id.as_deref(), Some("id"));
    }
}

#[test]
fn encoded_requests_decode_to_what_was_encoded() {
    let a = NamedTensor::from_f32("a", vec![2], &[1.0, -1.0]).unwrap();
    let b = NamedTensor::from_f32("b", vec![1, 2], &[0.25, 4.0]).unwrap();
    let inputs =
        [encoding::encode(&a, Encoding::Int8).unwrap(), encoding::encode(&b, Encoding::Fp16).unwrap()];
    let options =
        RequestOptions { model_hash: Some("ab12".into()), cloud_cut: Some(2), ..Default::default() };
    let enc = encode_infer_request(&inputs, &options);
    let r = decode_infer_request(&headers(enc.header_len), &enc.body, &spec()).unwrap();
    assert_eq!((r.cut, r.cloud_cut), (1, Some(2)));
    assert!(r.inputs[0].max_abs_diff(&a) <= 1.0 / 255.0);
    assert_eq!(r.inputs[1], b);
}

fn fp32_request(values: &[f32], binary: bool) -> (HeaderMap, Vec<u8>) {
    if binary {
        let t = NamedTensor::from_f32("x", vec![1, 3], values).unwrap();
        let enc = encode_infer_request(
            &[encoding::encode(&t, Encoding::Fp32).unwrap()],
            &RequestOptions::default(),
        );
        (headers(enc.header_len), enc.body)
    } else {
        let json = serde_json::json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": values}]});
        (headers(None), json.to_string().into_bytes())
    }
}

proptest! {
    #[test]
    fn json_and_binary_inputs_decode_exactly(values in prop::array::uniform3(-1e30f32..1e30), binary: bool) {
        let (h, body) = fp32_request(&values, binary);
        let r = decode_infer_request(&h, &body, &spec()).unwrap();
        prop_assert_eq!(r.inputs[0].to_f32().unwrap(), values.to_vec());
    }

    #[test]
    fn corrupted_requests_never_panic(
        values in prop::array::uniform3(-1.0f32..1.0),
        binary: bool,
        cut in 0usize..400,
        byte: u8,
        truncate in 0usize..400,
    ) {
        let (h, mut body) = fp32_request(&values, binary);
        if cut < body.len() {
            body[cut] = byte;
        }
        body.truncate(body.len().saturating_sub(truncate % 8));
        if let Err(e) = decode_infer_request(&h, &body, &spec()) {
            prop_assert!(e.is_client_error(), "{}", e);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256), len in prop::option::of(0usize..300)) {
        if let Err(e) = decode_infer_request(&headers(len), &body, &spec()) {
            prop_assert!(e.is_client_error(), "{}", e);
        }
    }
}

#[test]
fn the_cloud_cut_has_a_new_name_and_keeps_its_old_one() {
    let x = serde_json::json!({"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]});
    for name in [param::CLOUD_CUT, param::UPSTREAM_CUT] {
        let r = decode_json(serde_json::json!({"parameters": {name: 2}, "inputs": [x.clone()]})).unwrap();
        assert_eq!(r.cloud_cut, Some(2), "{name}");
    }
    let both =
        serde_json::json!({"parameters": {"tandem_cloud_cut": 2, "tandem_upstream_cut": 2}, "inputs": [x]});
    assert!(decode_json(both).unwrap_err().to_string().contains("not both"));
}

#[test]
fn responses_with_the_old_parameter_names_read_under_the_new_ones() {
    let out = NamedTensor::from_f32("out", vec![1, 2], &[0.5, 1.0]).unwrap();
    let mut params = Map::new();
    params.insert(param::UPSTREAM_MS.into(), 3.5.into());
    params.insert(param::UPSTREAM_COMPUTE_MS.into(), 1.5.into());
    let requested = [RequestedOutput { name: "out".into(), binary: true }];
    let enc = encode_infer_response("m", None, std::slice::from_ref(&out), &requested, &params).unwrap();
    let dec = decode_infer_response(enc.header_len, &enc.body).unwrap();
    assert_eq!(dec.parameters[param::CLOUD_MS], 3.5);
    assert_eq!(dec.parameters[param::CLOUD_COMPUTE_MS], 1.5);
    assert_eq!(dec.parameters[param::UPSTREAM_MS], 3.5, "the old names stay");
}

#[test]
fn hardening_findings_are_client_errors() {
    let x = |data: Value| serde_json::json!({"name": "x", "shape": [1, 3], "datatype": "FP32", "data": data});
    let cases = [
        (
            serde_json::json!({"parameters": {"tandem_model_hash": "zz12"}, "inputs": [x(serde_json::json!([1, 2, 3]))]}),
            "must be the hex SHA-256",
        ),
        (
            serde_json::json!({"inputs": [x(serde_json::json!([1, 2, 3]))], "outputs": []}),
            "`outputs` is empty",
        ),
        (
            serde_json::json!({"inputs": [x(serde_json::json!([[1, 2], [[[3]]]]))]}),
            "nesting of `data` does not match",
        ),
        (serde_json::json!({"inputs": [x(serde_json::json!([[1, 2, 3], [4]]))]}), "more than the 3 elements"),
        (
            serde_json::json!({"inputs": [{"name": "x", "shape": vec![1; 40], "datatype": "FP32", "data": []}]}),
            "more than 32 entries",
        ),
    ];
    for (request, expected) in cases {
        let err = decode_json(request.clone()).expect_err("invalid");
        assert!(err.to_string().contains(expected), "{request}: `{err}` lacks `{expected}`");
        assert!(err.is_client_error(), "{err}");
        assert!(!matches!(err, WireError::HashMismatch { .. }), "{err}");
    }
}

#[test]
fn inference_header_content_length_is_strict() {
    let json =
        r#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}"#;
    let mut body = json.as_bytes().to_vec();
    body.extend(f32s(&[1.0, 2.0, 3.0]));
    let len = json.len().to_string();
    for bad in [
        format!("+{len}"),
        format!(" {len}"),
        format!("{len} "),
        format!("0x{len}"),
        "-1".into(),
        "".into(),
        "1".repeat(20),
    ] {
        let mut h = HeaderMap::new();
        h.insert(HEADER_CONTENT_LENGTH, HeaderValue::from_str(&bad).unwrap());
        let err = decode_infer_request(&h, &body, &spec()).expect_err(&bad);
        assert!(err.to_string().contains("not a byte count"), "{bad:?}: {err}");
    }
    let mut twice = HeaderMap::new();
    twice.append(HEADER_CONTENT_LENGTH, HeaderValue::from_str(&len).unwrap());
    twice.append(HEADER_CONTENT_LENGTH, HeaderValue::from_str(&len).unwrap());
    assert!(decode_infer_request(&twice, &body, &spec()).unwrap_err().to_string().contains("more than once"));
    assert!(decode_infer_request(&headers(Some(json.len())), &body, &spec()).is_ok());
}

#[test]
fn a_packed_tensor_travels_as_its_payload_plus_a_small_json_header() {
    // a 64x32x32 activation, mostly zeros as after a ReLU
    let shape = vec![1, 64, 32, 32];
    let values: Vec<f32> =
        (0..64 * 32 * 32).map(|i| if i % 5 == 0 { (i % 17) as f32 * 0.1 } else { 0.0 }).collect();
    let t = NamedTensor::from_f32("act", shape.clone(), &values).unwrap();
    let encoded = encoding::encode(&t, Encoding::Int8Zstd).unwrap();
    let payload = encoded.tensor.data.len();
    let options =
        RequestOptions { model_hash: Some("ab".repeat(32)), binary_outputs: true, ..Default::default() };
    let body = encode_infer_request(std::slice::from_ref(&encoded), &options);
    let json = body.header_len.expect("binary");
    assert_eq!(body.body.len() - json, payload, "the binary part is exactly the payload");
    assert!(json < 400, "JSON header {json} bytes");
    // and it decodes back at the edge, within half a step of each channel's grid
    let spec = ModelSpec::new(
        "m",
        "ab".repeat(32),
        vec![TensorSpec { name: "out".into(), dtype: DType::Fp32, shape: vec![1] }],
        vec![
            vec![TensorSpec { name: "x".into(), dtype: DType::Fp32, shape: vec![1] }],
            vec![TensorSpec { name: "act".into(), dtype: DType::Fp32, shape }],
            vec![TensorSpec { name: "out".into(), dtype: DType::Fp32, shape: vec![1] }],
        ],
    );
    let r = decode_infer_request(&headers(Some(json)), &body.body, &spec).expect("decodes");
    assert_eq!((r.cut, r.encodings[0]), (1, Encoding::Int8Zstd));
    let got = r.inputs[0].to_f32().unwrap();
    let max_err = values.iter().zip(&got).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(max_err <= 1.6 / 255.0, "{max_err}");
}
