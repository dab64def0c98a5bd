//! Helpers shared by the integration tests: real servers on loopback, real HTTP.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tandem_edge::{EdgeServer, EdgeServerBuilder, RunningEdge};
use tandem_model::encoding::{self, EncodedTensor, Encoding};
use tandem_model::{npy, Executor, LoadOptions, Model, NamedTensor};
use tandem_protocol::wire::{self, InferResponse, RequestOptions, HEADER_CONTENT_LENGTH};

pub fn model_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(format!("{name}.onnx"))
}

pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/testdata").join(file)
}

/// A builder serving `models`, with the background profiler off (tests that want it turn
/// it back on).
pub fn builder(models: &[&str]) -> EdgeServerBuilder {
    models
        .iter()
        .fold(EdgeServer::builder(), |b, m| b.model_file(model_path(m)))
        .profile_budget(Duration::ZERO)
}

pub async fn start(builder: EdgeServerBuilder) -> RunningEdge {
    builder.bind("127.0.0.1:0").await.expect("the server starts")
}

/// Local execution of a bundled model: the reference the server must match. Loaded once per
/// test binary.
pub fn local(name: &str) -> Arc<Executor> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Executor>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().expect("lock");
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            let model = Model::load(model_path(name), &LoadOptions::default()).expect("model loads");
            Arc::new(Executor::new(Arc::new(model)))
        })
        .clone()
}

/// The model's real test input when there is one, else a seeded one.
pub fn input(name: &str) -> Vec<NamedTensor> {
    let exec = local(name);
    let file = match name {
        "tiny_resnet" => Some("tiny_resnet_input.npy"),
        "mobilenetv2" => Some("mobilenetv2_input.npy"),
        "face_detector" => Some("face_detector_input.npy"),
        "face_embedder" => Some("obama_crop.npy"),
        _ => None,
    };
    match file {
        Some(f) => {
            let spec = &exec.model().inputs()[0];
            vec![npy::read_npy(testdata(f), &spec.name).expect("test input reads")]
        }
        None => tandem_model::check::seeded_inputs(exec.model().inputs()),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// The `error` message of an error reply.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {}", self.json()))
            .to_string()
    }

    pub fn decode(&self) -> InferResponse {
        assert_eq!(self.status, StatusCode::OK, "{}", String::from_utf8_lossy(&self.body));
        let header_len = self
            .headers
            .get(HEADER_CONTENT_LENGTH)
            .map(|v| v.to_str().expect("ascii").parse::<usize>().expect("a length"));
        wire::decode_infer_response(header_len, &self.body).expect("a valid response")
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("a body");
    Reply { status, headers, body }
}

/// POSTs an inference request whose inputs all travel as binary data.
pub async fn infer_binary(
    client: &reqwest::Client,
    edge: &RunningEdge,
    model: &str,
    inputs: &[EncodedTensor],
    options: &RequestOptions,
    token: Option<&str>,
) -> Reply {
    let body = wire::encode_infer_request(inputs, options);
    let mut request = client
        .post(format!("{}/v2/models/{model}/infer", edge.url()))
        .header("content-type", "application/octet-stream")
        .body(body.body);
    if let Some(len) = body.header_len {
        request = request.header(HEADER_CONTENT_LENGTH, len);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

/// Encodes every tensor with `encoding`.
pub fn encode_all(tensors: &[NamedTensor], encoding: Encoding) -> Vec<EncodedTensor> {
    tensors.iter().map(|t| encoding::encode(t, encoding).expect("encodable")).collect()
}

/// Options naming the model's hash, with binary outputs.
pub fn hashed(model: &str) -> RequestOptions {
    hashed_for(local(model).model())
}

/// Request options naming `model`'s hash, asking for binary outputs.
pub fn hashed_for(model: &Model) -> RequestOptions {
    RequestOptions { model_hash: Some(model.hash().to_string()), binary_outputs: true, ..Default::default() }
}

/// Asserts two output lists are bit-for-bit equal.
pub fn assert_exact(got: &[NamedTensor], want: &[NamedTensor], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.name, w.name, "{what}");
        assert_eq!((g.dtype, &g.shape), (w.dtype, &w.shape), "{what}: `{}`", g.name);
        assert!(g.data == w.data, "{what}: `{}` differs by {}", g.name, g.max_abs_diff(w));
    }
}

/// Asserts two output lists are within `tolerance` (absolute).
pub fn assert_close(got: &[NamedTensor], want: &[NamedTensor], tolerance: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.name, w.name, "{what}");
        let diff = g.max_abs_diff(w);
        assert!(diff <= tolerance, "{what}: `{}` differs by {diff} > {tolerance}", g.name);
    }
}

/// The model outputs in the model's output order.
pub fn sorted_like(outputs: Vec<NamedTensor>, model: &str) -> Vec<NamedTensor> {
    let exec = local(model);
    exec.model()
        .outputs()
        .iter()
        .map(|o| outputs.iter().find(|t| t.name == o.name).cloned().expect("output present"))
        .collect()
}
