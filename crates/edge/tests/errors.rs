//! Bad input of every kind gets a 4xx with a clear `{"error": ...}`, and leaves the server
//! serving the next request correctly.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tandem_model::encoding::Encoding;
use tandem_protocol::wire::{self, RequestOptions, HEADER_CONTENT_LENGTH};

const TOKEN: &str = "edge-test-token";

struct Case {
    what: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: StatusCode,
    message: &'static str,
}

fn json_case(what: &'static str, body: Value, status: StatusCode, message: &'static str) -> Case {
    Case {
        what,
        path: "/v2/models/tiny_resnet/infer",
        headers: vec![],
        body: body.to_string().into_bytes(),
        status,
        message,
    }
}

fn input_json(data_len: usize) -> Value {
    json!({"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": vec![0.5f32; data_len]})
}

/// A valid binary request for the whole model, split into its JSON header and binary data.
fn binary_parts() -> (String, Vec<u8>) {
    let input = input("tiny_resnet");
    let body = wire::encode_infer_request(&encode_all(&input, Encoding::Fp32), &RequestOptions::default());
    let len = body.header_len.expect("binary");
    (String::from_utf8(body.body[..len].to_vec()).expect("utf-8"), body.body[len..].to_vec())
}

#[tokio::test]
async fn every_bad_request_is_a_clear_client_error() {
    let edge = start(builder(&["tiny_resnet"]).token(TOKEN).body_limit_bytes(256 * 1024)).await;
    let client = client();
    let local = local("tiny_resnet");
    let hash = local.model().hash().to_string();
    let crossing3 = local.run_before(3, &input("tiny_resnet")).expect("before");
    let (header, binary) = binary_parts();
    let with_binary = |header: &str, binary: &[u8]| [header.as_bytes(), binary].concat();
    let wrong_size = header.replace("\"binary_data_size\":12288", "\"binary_data_size\":12284");
    assert_ne!(wrong_size, header, "the header names the size");

    let cases = vec![
        Case {
            what: "unknown model",
            path: "/v2/models/nope/infer",
            headers: vec![],
            body: b"{}".to_vec(),
            status: StatusCode::NOT_FOUND,
            message: "unknown model `nope`",
        },
        json_case(
            "malformed JSON",
            json!("not an object"),
            StatusCode::BAD_REQUEST,
            "malformed inference request JSON",
        ),
        Case {
            what: "truncated JSON",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![],
            body: b"{\"inputs\": [".to_vec(),
            status: StatusCode::BAD_REQUEST,
            message: "malformed inference request JSON",
        },
        json_case("no inputs", json!({"inputs": []}), StatusCode::BAD_REQUEST, "no inputs"),
        json_case(
            "unknown tensor",
            json!({"inputs": [{"name": "foo", "shape": [1], "datatype": "FP32", "data": [1]}]}),
            StatusCode::BAD_REQUEST,
            "unknown tensor `foo`",
        ),
        json_case(
            "wrong dtype",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "INT64", "data": vec![0; 3072]}]}),
            StatusCode::BAD_REQUEST,
            "expected FP32",
        ),
        json_case(
            "unknown dtype",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "BYTES", "data": []}]}),
            StatusCode::BAD_REQUEST,
            "datatype `BYTES` is not supported",
        ),
        json_case(
            "wrong shape",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 31], "datatype": "FP32", "data": vec![0.0; 2976]}]}),
            StatusCode::BAD_REQUEST,
            "shape [1, 3, 32, 31]",
        ),
        json_case(
            "negative dimension",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, -32], "datatype": "FP32", "data": []}]}),
            StatusCode::BAD_REQUEST,
            "shape [1, 3, 32, -32]",
        ),
        json_case(
            "too little data",
            json!({"inputs": [input_json(3071)]}),
            StatusCode::BAD_REQUEST,
            "has 3071 elements, its shape needs 3072",
        ),
        json_case(
            "too much data",
            json!({"inputs": [input_json(3073)]}),
            StatusCode::BAD_REQUEST,
            "more than the 3072 elements",
        ),
        json_case(
            "duplicate input",
            json!({"inputs": [input_json(3072), input_json(3072)]}),
            StatusCode::BAD_REQUEST,
            "given twice",
        ),
        json_case(
            "unknown output",
            json!({"inputs": [input_json(3072)], "outputs": [{"name": "probs"}]}),
            StatusCode::BAD_REQUEST,
            "unknown tensor `probs`",
        ),
        json_case(
            "not a cut",
            json!({"parameters": {"tandem_model_hash": hash}, "inputs": [{"name": "res1_conv1", "shape": [1, 16, 32, 32], "datatype": "FP32", "data": []}]}),
            StatusCode::BAD_REQUEST,
            "not the tensors crossing any cut",
        ),
        json_case(
            "hash mismatch",
            json!({"parameters": {"tandem_model_hash": "00".repeat(32)}, "inputs": [input_json(3072)]}),
            StatusCode::CONFLICT,
            "model hash mismatch",
        ),
        json_case(
            "misspelt parameter",
            json!({"parameters": {"tandem_model_hsh": hash}, "inputs": [input_json(3072)]}),
            StatusCode::BAD_REQUEST,
            "unknown parameter `tandem_model_hsh`",
        ),
        json_case(
            "cut without hash",
            json!({"inputs": crossing3.iter().map(|t| json!({"name": t.name, "shape": t.shape, "datatype": "FP32", "data": []})).collect::<Vec<_>>()}),
            StatusCode::BAD_REQUEST,
            "`tandem_model_hash` is required",
        ),
        json_case(
            "int8 without scale",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "INT8", "data": vec![0; 3072], "parameters": {"tandem_encoding": "int8"}}]}),
            StatusCode::BAD_REQUEST,
            "needs numbers `tandem_scale`",
        ),
        json_case(
            "unknown encoding",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": vec![0; 3072], "parameters": {"tandem_encoding": "bf16"}}]}),
            StatusCode::BAD_REQUEST,
            "`tandem_encoding` must be",
        ),
        json_case(
            "bad int8 scale",
            json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "INT8", "data": vec![0; 3072], "parameters": {"tandem_encoding": "int8", "tandem_scale": -1.0, "tandem_zero_point": 0}}]}),
            StatusCode::BAD_REQUEST,
            "scale must be finite and positive",
        ),
        json_case(
            "cloud cut without a cloud server",
            json!({"parameters": {"tandem_cloud_cut": 5}, "inputs": [input_json(3072)]}),
            StatusCode::BAD_REQUEST,
            "needs a server started with a cloud server",
        ),
        json_case(
            "cloud cut under its old name without a cloud server",
            json!({"parameters": {"tandem_upstream_cut": 5}, "inputs": [input_json(3072)]}),
            StatusCode::BAD_REQUEST,
            "`tandem_cloud_cut` needs a server started with a cloud server",
        ),
        Case {
            what: "binary size disagrees with the shape",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![(HEADER_CONTENT_LENGTH, wrong_size.len().to_string())],
            body: with_binary(&wrong_size, &binary[..12284]),
            status: StatusCode::BAD_REQUEST,
            message: "binary_data_size is 12284 bytes, but FP32 [1, 3, 32, 32] needs 12288",
        },
        Case {
            what: "binary data cut short",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![(HEADER_CONTENT_LENGTH, header.len().to_string())],
            body: with_binary(&header, &binary[..100]),
            status: StatusCode::BAD_REQUEST,
            message: "only 100 bytes of binary data remain",
        },
        Case {
            what: "binary data too long",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![(HEADER_CONTENT_LENGTH, header.len().to_string())],
            body: with_binary(&header, &[binary.clone(), vec![0; 4]].concat()),
            status: StatusCode::BAD_REQUEST,
            message: "4 bytes of binary data after",
        },
        Case {
            what: "header length beyond the body",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![(HEADER_CONTENT_LENGTH, "999999".into())],
            body: with_binary(&header, &binary),
            status: StatusCode::BAD_REQUEST,
            message: "Inference-Header-Content-Length is 999999",
        },
        Case {
            what: "header length not a number",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![(HEADER_CONTENT_LENGTH, "12a".into())],
            body: with_binary(&header, &binary),
            status: StatusCode::BAD_REQUEST,
            message: "not a byte count",
        },
        Case {
            what: "binary without the header",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![],
            body: header.clone().into_bytes(),
            status: StatusCode::BAD_REQUEST,
            message: "needs the Inference-Header-Content-Length header",
        },
        Case {
            what: "oversized body",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![],
            body: vec![b' '; 300 * 1024],
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "limit of 262144 bytes",
        },
        Case {
            what: "compressed body",
            path: "/v2/models/tiny_resnet/infer",
            headers: vec![("content-encoding", "gzip".into())],
            body: b"{}".to_vec(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "Content-Encoding `gzip`",
        },
        Case {
            what: "unknown endpoint",
            path: "/v2/models/tiny_resnet/explain",
            headers: vec![],
            body: vec![],
            status: StatusCode::NOT_FOUND,
            message: "no endpoint POST /v2/models/tiny_resnet/explain",
        },
        Case {
            what: "wrong version",
            path: "/v2/models/tiny_resnet/versions/2/infer",
            headers: vec![],
            body: vec![],
            status: StatusCode::NOT_FOUND,
            message: "version 1 only",
        },
    ];
    for case in cases {
        let mut request =
            client.post(format!("{}{}", edge.url(), case.path)).bearer_auth(TOKEN).body(case.body);
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let reply = send(request).await;
        assert_eq!(reply.status, case.status, "{}: {}", case.what, String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.headers["content-type"], "application/json", "{}", case.what);
        let error = reply.error();
        assert!(error.contains(case.message), "{}: `{error}` does not say `{}`", case.what, case.message);
    }

    // A method the endpoint does not have.
    let reply =
        send(client.get(format!("{}/v2/models/tiny_resnet/infer", edge.url())).bearer_auth(TOKEN)).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.error().contains("GET is not allowed"));

    // None of it disturbed the server: a good request still gets the right answer.
    let input = input("tiny_resnet");
    let reply = infer_binary(
        &client,
        &edge,
        "tiny_resnet",
        &encode_all(&input, Encoding::Fp32),
        &RequestOptions::default(),
        Some(TOKEN),
    )
    .await;
    assert_exact(&reply.decode().outputs, &local.run_full(&input).expect("whole"), "after the bad requests");
    edge.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_token_guards_everything_but_health() {
    let edge = start(builder(&["tiny_resnet"]).token(TOKEN)).await;
    let client = client();
    for path in ["/v2/health/live", "/v2/health/ready"] {
        let reply = send(client.get(format!("{}{path}", edge.url()))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path} is open");
    }
    let guarded = [
        ("GET", "/v2"),
        ("GET", "/v2/models/tiny_resnet"),
        ("GET", "/v2/models/tiny_resnet/ready"),
        ("GET", "/v2/models/tiny_resnet/profile"),
        ("POST", "/v2/models/tiny_resnet/infer"),
        ("POST", "/v2/probe"),
        ("GET", "/v2/probe?bytes=10"),
        ("GET", "/metrics"),
    ];
    for (method, path) in guarded {
        let url = format!("{}{path}", edge.url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for auth in
            [None, Some("Bearer wrong"), Some("Bearer edge-test-toke"), Some("Basic ZWRnZQ=="), Some(TOKEN)]
        {
            let mut request = client.request(method.clone(), &url);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let reply = send(request).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path} with {auth:?}");
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
            assert!(reply.error().contains("bearer token"));
        }
        let reply = send(client.request(method.clone(), &url).bearer_auth(TOKEN)).await;
        assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path} with the token");
        // The scheme is case-insensitive.
        let reply =
            send(client.request(method.clone(), &url).header("authorization", format!("bearer {TOKEN}")))
                .await;
        assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path} with `bearer`");
    }
}
