//! The HTTP endpoints: routing, authentication, request accounting and the handlers.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tandem_model::{Executor, Model, NamedTensor, TensorSpec};

use crate::cloud::Cloud;
use crate::error::EdgeError;
use crate::load::Load;
use crate::metrics::Metrics;
use crate::profile::Profile;
use tandem_protocol::wire::{self, param, InferRequest, ModelSpec, RequestedOutput, HEADER_CONTENT_LENGTH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One model this server serves.
pub(crate) struct ServedModel {
    pub name: String,
    pub model: Arc<Model>,
    pub exec: Arc<Executor>,
    /// Runs the parts: `exec` itself with tract, or ONNX Runtime (`--engine ort`).
    pub engine: Arc<dyn crate::engine::Engine>,
    pub spec: ModelSpec,
    pub profile: Arc<Profile>,
}

/// Everything the handlers share.
pub(crate) struct AppState {
    pub models: BTreeMap<String, Arc<ServedModel>>,
    pub load: Arc<Load>,
    pub metrics: Arc<Metrics>,
    /// SHA-256 of the bearer token: comparing digests in constant time leaks neither the
    /// token nor its length.
    pub token_sha256: Option<[u8; 32]>,
    pub body_limit_bytes: usize,
    /// Largest JSON body (or JSON part of a binary body).
    pub json_body_limit_bytes: usize,
    /// Bytes of JSON bodies held at once: a permit per byte, `json_body_limit_bytes` in all.
    pub json_budget: Arc<Semaphore>,
    pub request_timeout: Duration,
    pub cloud: Option<Arc<Cloud>>,
}

type Shared = Arc<AppState>;

impl AppState {
    fn model(&self, name: &str) -> Result<&Arc<ServedModel>, EdgeError> {
        self.models.get(name).ok_or_else(|| EdgeError::UnknownModel {
            name: name.into(),
            available: self.models.keys().cloned().collect(),
        })
    }
}

/// The health endpoints: open to all, no token.
fn health_routes() -> Router<Shared> {
    Router::new().route("/v2/health/live", get(live)).route("/v2/health/ready", get(ready))
}

/// The router of the connections beyond the cap (the health reserve): the health checks,
/// and 503 with `Retry-After` for anything else.
pub(crate) fn reserve_router(state: Shared) -> Router {
    health_routes()
        .route_layer(from_fn_with_state(state.clone(), count_requests))
        .fallback(|| async { EdgeError::ConnectionLimit })
        .with_state(state)
}

/// The router of every endpoint. Health endpoints are open; the others need the token, and
/// so do unknown paths (401 before 404: without the token, nothing about the routes leaks).
pub(crate) fn router(state: Shared) -> Router {
    let open = health_routes();
    let protected = Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/models/{model}", get(model_metadata))
        .route("/v2/models/{model}/ready", get(model_ready))
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}", get(model_metadata_versioned))
        .route("/v2/models/{model}/versions/{version}/ready", get(model_ready_versioned))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer_versioned))
        .route("/v2/models/{model}/profile", get(profile))
        .route("/v2/probe", get(probe_download).post(probe_upload))
        .route("/v2/repository/index", post(repository_index))
        .route("/metrics", get(metrics))
        .route_layer(from_fn_with_state(state.clone(), require_token));
    open.merge(protected)
        .route_layer(from_fn_with_state(state.clone(), count_requests))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Whether the request carries the server's bearer token (always, without a token).
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.token_sha256 else { return true };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| Sha256::digest(token.trim().as_bytes()));
    given.is_some_and(|digest| bool::from(digest.as_slice().ct_eq(expected)))
}

async fn require_token(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if !authorized(&state, request.headers()) {
        return EdgeError::Unauthorized.into_response();
    }
    next.run(request).await
}

async fn count_requests(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let response = next.run(request).await;
    state.metrics.http_request(&endpoint, response.status().as_u16());
    response
}

async fn not_found(State(state): State<Shared>, method: Method, uri: Uri, headers: HeaderMap) -> EdgeError {
    if !authorized(&state, &headers) {
        return EdgeError::Unauthorized;
    }
    EdgeError::NotFound { method: method.to_string(), path: uri.path().to_string() }
}

async fn method_not_allowed(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> EdgeError {
    if !uri.path().starts_with("/v2/health/") && !authorized(&state, &headers) {
        return EdgeError::Unauthorized;
    }
    EdgeError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_string() }
}

/// The `{model}` path segment, with a JSON error when it cannot be read.
struct ModelName(String);

impl<S: Send + Sync> FromRequestParts<S> for ModelName {
    type Rejection = EdgeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(name) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| EdgeError::bad(format!("bad model name in the path: {e}")))?;
        Ok(ModelName(name))
    }
}

/// The `{model}` and `{version}` path segments; only version 1 exists.
struct ModelVersion(String);

impl<S: Send + Sync> FromRequestParts<S> for ModelVersion {
    type Rejection = EdgeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((name, version)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| EdgeError::bad(format!("bad model name or version in the path: {e}")))?;
        if version != "1" {
            return Err(EdgeError::NotFound {
                method: parts.method.to_string(),
                path: format!("model `{name}` version `{version}` (models have version 1 only)"),
            });
        }
        Ok(ModelVersion(name))
    }
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

async fn ready() -> Json<Value> {
    // Models are loaded before the server listens: once it answers, it is ready.
    Json(json!({ "ready": true }))
}

async fn server_metadata(State(state): State<Shared>) -> Json<Value> {
    let mut extensions = vec!["binary_tensor_data", "tandem_profile", "tandem_probe", "tandem_encoding"];
    if state.cloud.is_some() {
        // `tandem_upstream` is the old name of `tandem_cloud`, kept for older clients.
        extensions.extend(["tandem_cloud", "tandem_upstream"]);
    }
    Json(json!({
        "name": "tandem-edge",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": extensions,
    }))
}

fn tensor_metadata(specs: &[TensorSpec]) -> Vec<Value> {
    specs
        .iter()
        .map(|s| json!({ "name": s.name, "datatype": s.dtype.wire_name(), "shape": s.shape }))
        .collect()
}

fn model_metadata_of(state: &AppState, name: &str) -> Result<Json<Value>, EdgeError> {
    let served = state.model(name)?;
    Ok(Json(json!({
        "name": served.name,
        "versions": ["1"],
        "platform": served.engine.platform(),
        "inputs": tensor_metadata(served.model.inputs()),
        "outputs": tensor_metadata(served.model.outputs()),
        "parameters": {
            param::MODEL_HASH: served.spec.hash,
            "tandem_cuts": served.spec.cuts.len(),
        },
    })))
}

async fn model_metadata(
    State(state): State<Shared>,
    ModelName(name): ModelName,
) -> Result<Json<Value>, EdgeError> {
    model_metadata_of(&state, &name)
}

async fn model_metadata_versioned(
    State(state): State<Shared>,
    ModelVersion(name): ModelVersion,
) -> Result<Json<Value>, EdgeError> {
    model_metadata_of(&state, &name)
}

fn model_ready_of(state: &AppState, name: &str) -> Result<Json<Value>, EdgeError> {
    state.model(name)?;
    Ok(Json(json!({ "name": name, "ready": true })))
}

async fn model_ready(
    State(state): State<Shared>,
    ModelName(name): ModelName,
) -> Result<Json<Value>, EdgeError> {
    model_ready_of(&state, &name)
}

async fn model_ready_versioned(
    State(state): State<Shared>,
    ModelVersion(name): ModelVersion,
) -> Result<Json<Value>, EdgeError> {
    model_ready_of(&state, &name)
}

async fn repository_index(State(state): State<Shared>) -> Json<Value> {
    let models: Vec<Value> =
        state.models.keys().map(|name| json!({ "name": name, "version": "1", "state": "READY" })).collect();
    Json(Value::Array(models))
}

async fn profile(State(state): State<Shared>, ModelName(name): ModelName) -> Result<Response, EdgeError> {
    let served = state.model(&name)?;
    let mut report = served.profile.report(&served.name, &served.model, state.load.snapshot());
    report.cloud = state.cloud.as_ref().and_then(|c| c.info(&served.name)).map(Box::new);
    Ok(Json(report).into_response())
}

async fn metrics(State(state): State<Shared>) -> Response {
    let caches: Vec<_> = state.models.values().map(|m| (m.name.clone(), m.exec.cache_stats())).collect();
    let text = state.metrics.render(&state.load.snapshot(), &caches);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

/// Refuses compressed bodies: the server reads tensors as sent.
fn check_content_encoding(headers: &HeaderMap) -> Result<(), EdgeError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
        None | Some("") | Some("identity") => Ok(()),
        Some(other) => Err(EdgeError::UnsupportedContentEncoding(other.into())),
    }
}

/// The declared `Content-Length`, if the client gave one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
}

/// Reads the whole body, refusing more than `limit` bytes (early, from Content-Length, when
/// the client declares it).
async fn read_body(body: Body, declared: Option<u64>, limit: usize) -> Result<Bytes, EdgeError> {
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(EdgeError::PayloadTooLarge { limit_bytes: limit });
    }
    // One buffer of the declared size: no second copy to join the pieces, which matters
    // with many large requests queued. Untouched capacity costs no memory, so a client
    // declaring a large body and sending nothing reserves none.
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| EdgeError::bad(format!("reading the request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if buffer.len() + data.len() > limit {
                return Err(EdgeError::PayloadTooLarge { limit_bytes: limit });
            }
            buffer.extend_from_slice(data);
        }
    }
    Ok(buffer.freeze())
}

/// Reads an inference request's body: a binary one (with `Inference-Header-Content-Length`)
/// up to the body limit, a JSON one up to the JSON limit and only once the JSON budget has
/// room for it (its declared length, or the whole limit when undeclared), so that the JSON
/// bodies held at once never exceed the JSON limit. The permit returned holds that room
/// until the request is decoded.
async fn read_infer_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), EdgeError> {
    let declared = declared_length(headers);
    if headers.contains_key(HEADER_CONTENT_LENGTH) {
        return Ok((read_body(body, declared, state.body_limit_bytes).await?, None));
    }
    let limit = state.json_body_limit_bytes;
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(EdgeError::JsonTooLarge { limit_bytes: limit });
    }
    let room = declared.map_or(limit, |len| len as usize).max(1);
    let permit = state
        .json_budget
        .clone()
        .acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX))
        .await
        .map_err(|_| EdgeError::Internal("the JSON budget was closed".into()))?;
    let bytes = read_body(body, declared, limit).await.map_err(|e| match e {
        EdgeError::PayloadTooLarge { limit_bytes } => EdgeError::JsonTooLarge { limit_bytes },
        other => other,
    })?;
    Ok((bytes, Some(permit)))
}

use tandem_model::util::ms_since;

/// Runs CPU-bound work on the blocking pool; a panic becomes a 500, never a dead server.
async fn run_blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, EdgeError> + Send + 'static,
) -> Result<T, EdgeError> {
    match tokio::task::spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(work))).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            state.metrics.panic();
            let what = tandem_model::util::panic_message(&*panic);
            log::error!("model run panicked: {what}");
            Err(EdgeError::Internal(format!("the model run panicked: {what}")))
        }
        Err(e) => Err(EdgeError::Internal(format!("the model run was lost: {e}"))),
    }
}

async fn infer(
    State(state): State<Shared>,
    ModelName(name): ModelName,
    headers: HeaderMap,
    body: Body,
) -> Response {
    infer_and_account(state, name, headers, body).await
}

async fn infer_versioned(
    State(state): State<Shared>,
    ModelVersion(name): ModelVersion,
    headers: HeaderMap,
    body: Body,
) -> Response {
    infer_and_account(state, name, headers, body).await
}

/// Serves one inference request and records it in the metrics and the log.
async fn infer_and_account(state: Shared, name: String, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let response = match infer_model(&state, &name, headers, body).await {
        Ok(response) => response,
        Err(e) => {
            log::debug!("infer model={name:?} status={} error=\"{e}\"", e.status().as_u16());
            e.into_response()
        }
    };
    // Only served names become label values: unknown ones would grow the metrics forever.
    if state.models.contains_key(&name) {
        state.metrics.infer_done(&name, response.status().as_u16(), start.elapsed().as_secs_f64());
    }
    response
}

struct Computed {
    request: InferRequest,
    outputs: Vec<NamedTensor>,
    until: usize,
    prepare_ms: f64,
    compute_ms: f64,
}

async fn infer_model(
    state: &Shared,
    name: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EdgeError> {
    let start = Instant::now();
    let served = state.model(name)?.clone();
    check_content_encoding(&headers)?;
    let timeout_ms = state.request_timeout.as_millis() as u64;
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let (body, json_permit) = tokio::time::timeout_at(deadline, read_infer_body(state, &headers, body))
        .await
        .map_err(|_| EdgeError::RequestTimeout { timeout_ms })??;
    let received = body.len();
    let received_body = Received { headers, body, json_permit };
    let (response, sent) =
        tokio::time::timeout_at(deadline, compute_and_respond(state, served, received_body, start))
            .await
            .map_err(|_| EdgeError::Timeout { timeout_ms })??;
    state.metrics.bytes(received, sent);
    Ok(response)
}

/// A request body read, with what decoding it needs.
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// Room in the JSON budget, held until the body is decoded (JSON bodies only).
    json_permit: Option<OwnedSemaphorePermit>,
}

/// Decodes a request within its compute slot: the JSON part no larger than the JSON limit,
/// the body and its room in the JSON budget given back as soon as the tensors are decoded.
fn decode(received: Received, spec: &ModelSpec, json_limit: usize) -> Result<InferRequest, EdgeError> {
    let Received { headers, body, json_permit } = received;
    if let Some(json_len) = wire::header_len(&headers, body.len())? {
        if json_len > json_limit {
            return Err(EdgeError::JsonTooLarge { limit_bytes: json_limit });
        }
    }
    let request = wire::decode_infer_request(&headers, &body, spec)?;
    drop(body);
    drop(json_permit);
    Ok(request)
}

async fn compute_and_respond(
    state: &Shared,
    served: Arc<ServedModel>,
    received: Received,
    start: Instant,
) -> Result<(Response, usize), EdgeError> {
    let ticket = state.load.try_admit()?;
    let (slot, queue_ms) = state.load.slot(ticket).await;
    let has_cloud = state.cloud.is_some();
    let json_limit = state.json_body_limit_bytes;
    let job_model = served.clone();
    // Decoding (JSON parsing included) and the model run hold the compute slot. A request
    // that times out (504) keeps its slot until the run ends: a run cannot be interrupted,
    // and the slot stands for a CPU that is still busy with it.
    let computed = run_blocking(state, move || {
        let _slot = slot;
        let mut request = decode(received, &job_model.spec, json_limit)?;
        if request.cloud_cut.is_some() && !has_cloud {
            return Err(EdgeError::bad(
                "parameter `tandem_cloud_cut` needs a server started with a cloud server (--cloud URL)",
            ));
        }
        // Three tiers: up to the cloud cut. Otherwise up to the first cut where every
        // requested output exists: a request for an early exit stops there.
        let until = match request.cloud_cut {
            Some(k) => k,
            None => job_model.spec.first_cut_producing(request.cut, &request.outputs),
        };
        if until == request.cut {
            // Three tiers with this server as a relay: the tensors go on to the cloud as they are.
            let outputs = std::mem::take(&mut request.inputs);
            return Ok(Computed { request, outputs, until, prepare_ms: 0.0, compute_ms: 0.0 });
        }
        let t = Instant::now();
        let part = job_model.engine.prepare(request.cut, until)?;
        let prepare_ms = ms_since(t);
        let t = Instant::now();
        let outputs = part.run(&request.inputs)?;
        Ok(Computed { request, outputs, until, prepare_ms, compute_ms: ms_since(t) })
    })
    .await?;
    let Computed { request, outputs, until, prepare_ms, compute_ms } = computed;
    state.metrics.computed(&served.name, compute_ms / 1e3, queue_ms / 1e3);
    for e in &request.encodings {
        state.metrics.input_encoding(e.wire_name());
    }

    let mut parameters = Map::new();
    parameters.insert(param::CUT.into(), request.cut.into());
    parameters.insert(param::END_CUT.into(), until.into());
    parameters.insert(param::COMPUTE_MS.into(), compute_ms.into());
    parameters.insert(param::QUEUE_MS.into(), queue_ms.into());
    parameters.insert(param::PREPARE_MS.into(), prepare_ms.into());
    let outputs = match (request.cloud_cut, &state.cloud) {
        (Some(k), Some(cloud)) => {
            let hop = CloudHop { cloud, cut: k, timeout: cloud.timeout(request.cloud_timeout_ms) };
            cloud_or_here(state, &served, hop, &request.outputs, outputs, &mut parameters, compute_ms).await?
        }
        _ => outputs,
    };
    let encoded = wire::encode_infer_response(
        &served.name,
        request.id.as_deref(),
        &outputs,
        &request.outputs,
        &parameters,
    )?;
    log::debug!(
        "infer model={} cut={} status=200 queue_ms={queue_ms:.2} compute_ms={compute_ms:.2} total_ms={:.2} bytes_out={}",
        served.name,
        request.cut,
        ms_since(start),
        encoded.body.len()
    );
    let sent = encoded.body.len();
    let mut response = Response::new(Body::from(encoded.body));
    let headers = response.headers_mut();
    match encoded.header_len {
        Some(len) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert(HEADER_CONTENT_LENGTH, HeaderValue::from(len));
        }
        None => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    Ok((response, sent))
}

/// The cloud hop of a three-tier request.
struct CloudHop<'a> {
    cloud: &'a Cloud,
    /// Where the cloud takes over.
    cut: usize,
    /// How long to wait for its answer.
    timeout: Duration,
}

/// Forwards the tensors crossing the cloud cut and returns the cloud's outputs, with its
/// timings among `parameters`; if the cloud fails, finishes the rest here and says why
/// (`compute_ms`: this server's time so far).
async fn cloud_or_here(
    state: &Shared,
    served: &Arc<ServedModel>,
    hop: CloudHop<'_>,
    requested: &[RequestedOutput],
    crossing: Vec<NamedTensor>,
    parameters: &mut Map<String, Value>,
    compute_ms: f64,
) -> Result<Vec<NamedTensor>, EdgeError> {
    let CloudHop { cloud, cut: k, timeout } = hop;
    let expected = served.model.outputs();
    let forward = cloud.forward(&served.name, &served.spec.hash, k, &crossing, expected);
    let forwarded = tokio::time::timeout(timeout, forward).await.unwrap_or_else(|_| {
        Err(EdgeError::Cloud {
            url: cloud.url().to_string(),
            reason: format!("no answer within {} ms", timeout.as_millis()),
        })
    });
    match forwarded {
        Ok(forwarded) => {
            state.metrics.cloud("ok");
            parameters.insert(param::CLOUD_CUT.into(), k.into());
            parameters.insert(param::CLOUD_MS.into(), forwarded.round_trip_ms.into());
            if let Some(ms) = forwarded.answer.parameters.get(param::COMPUTE_MS) {
                parameters.insert(param::CLOUD_COMPUTE_MS.into(), ms.clone());
            }
            // The old `tandem_upstream_*` names too, for scripts that read them (ADR 0006).
            for (old, new) in param::RENAMED {
                if let Some(value) = parameters.get(new).cloned() {
                    parameters.insert(old.into(), value);
                }
            }
            log::debug!(
                "cloud url={} model={} cut={k} ms={:.2}",
                cloud.url(),
                served.name,
                forwarded.round_trip_ms
            );
            Ok(forwarded.answer.outputs)
        }
        Err(e) => {
            state.metrics.cloud("fallback");
            log::info!("cloud url={} model={} cut={k} fallback: {e}", cloud.url(), served.name);
            let (rest, end, ms) = finish_here(state, served, k, requested, crossing).await?;
            parameters.insert(param::CLOUD_FALLBACK_REASON.into(), e.to_string().into());
            parameters.insert(param::END_CUT.into(), end.into());
            parameters.insert(param::COMPUTE_MS.into(), (compute_ms + ms).into());
            Ok(rest)
        }
    }
}

/// Runs the part from cut `from` to the first cut producing `requested` here, in a compute
/// slot: a three-tier request whose cloud failed. Returns the outputs, that end cut, and the
/// compute time in ms.
async fn finish_here(
    state: &Shared,
    served: &Arc<ServedModel>,
    from: usize,
    requested: &[RequestedOutput],
    crossing: Vec<NamedTensor>,
) -> Result<(Vec<NamedTensor>, usize, f64), EdgeError> {
    let ticket = state.load.try_admit()?;
    let (slot, _) = state.load.slot(ticket).await;
    let job_model = served.clone();
    let end = served.spec.first_cut_producing(from, requested);
    run_blocking(state, move || {
        let _slot = slot;
        let t = Instant::now();
        let part = job_model.engine.prepare(from, end)?;
        let outputs = part.run(&crossing)?;
        Ok((outputs, end, ms_since(t)))
    })
    .await
}

async fn probe_upload(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, EdgeError> {
    let start = Instant::now();
    let limit = state.body_limit_bytes;
    let declared = declared_length(&headers);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(EdgeError::PayloadTooLarge { limit_bytes: limit });
    }
    // Count the bytes as they come, without keeping them.
    let mut body = body;
    let mut received = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| EdgeError::bad(format!("reading the probe body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                received += data.len();
                if received > limit {
                    return Err(EdgeError::PayloadTooLarge { limit_bytes: limit });
                }
            }
        }
        Ok(())
    };
    let timeout_ms = state.request_timeout.as_millis() as u64;
    tokio::time::timeout(state.request_timeout, read)
        .await
        .map_err(|_| EdgeError::RequestTimeout { timeout_ms })??;
    state.metrics.probe_bytes(received, 0);
    Ok(Json(json!({ "received_bytes": received, "server_ms": ms_since(start) })))
}

#[derive(Deserialize)]
struct ProbeQuery {
    bytes: u64,
}

/// A buffer of zeros the download probe sends in pieces.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

async fn probe_download(
    State(state): State<Shared>,
    query: Result<Query<ProbeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, EdgeError> {
    let Query(ProbeQuery { bytes }) =
        query.map_err(|e| EdgeError::bad(format!("GET /v2/probe needs ?bytes=N: {e}")))?;
    let limit = state.body_limit_bytes as u64;
    if bytes > limit {
        return Err(EdgeError::bad(format!(
            "probe of {bytes} bytes asked; this server sends at most {limit}"
        )));
    }
    state.metrics.probe_bytes(0, bytes as usize);
    let chunks = (0..bytes.div_ceil(ZEROS.len() as u64)).map(move |i| {
        let len = (bytes - i * ZEROS.len() as u64).min(ZEROS.len() as u64) as usize;
        Ok::<_, std::convert::Infallible>(Bytes::from_static(&ZEROS[..len]))
    });
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn content_encoding_is_refused_unless_identity() {
        let mut h = HeaderMap::new();
        assert!(check_content_encoding(&h).is_ok());
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert!(check_content_encoding(&h).is_ok());
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(check_content_encoding(&h).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
