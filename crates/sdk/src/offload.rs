//! The phone's side of the wire: an HTTP client for the edge's Open Inference Protocol
//! endpoints with Tandem's extensions (`docs/PROTOCOL.md`), over reqwest and rustls.
//!
//! Requests carry the crossing tensors with the binary tensor data extension: a JSON header
//! (`Inference-Header-Content-Length` bytes) followed by the tensors' bytes, so float32 data
//! travels as is, without text encoding. Every failure is classified into a
//! [`FallbackReason`] the session records; nothing here retries or falls back by itself.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::encoding::{self, EncodedTensor, Encoding};
use crate::planner::EdgeProfile;
use crate::report::FallbackReason;
use crate::{DType, NamedTensor, TensorSpec};

/// The binary tensor data extension's header: the length of the JSON part of a body.
pub const HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Where the edge is and how to talk to it.
#[derive(Clone, Default)]
pub struct EdgeEndpoint {
    /// Base URL, `http://host:port` or `https://host:port` (a path prefix is kept).
    pub url: String,
    /// Bearer token the edge requires (`tandem edge --token-file`).
    pub token: Option<String>,
    /// Extra root certificates to trust, PEM (one or several): a private CA, or a test
    /// server's self-signed certificate. The public web roots are always trusted too.
    pub ca_pem: Option<Vec<u8>>,
    /// The name the edge serves the model under; by default the model file's stem
    /// (`face_embedder.onnx` is served as `face_embedder`).
    pub model_name: Option<String>,
}

// The token is a secret: never print it.
impl std::fmt::Debug for EdgeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeEndpoint")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(Vec::len))
            .field("model_name", &self.model_name)
            .finish()
    }
}

impl EdgeEndpoint {
    /// An endpoint at `url` without a token.
    pub fn new(url: impl Into<String>) -> Self {
        EdgeEndpoint { url: url.into(), ..Default::default() }
    }

    /// With a bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Also trusting these root certificates (PEM).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// With the name the edge serves the model under.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = Some(name.into());
        self
    }
}

/// Why an exchange with the edge failed.
#[derive(Clone, Debug)]
pub(crate) struct OffloadError {
    pub reason: FallbackReason,
    /// For people and logs; names no user data.
    pub detail: String,
    /// Whether request bytes may have left the phone.
    pub sent: bool,
}

impl OffloadError {
    pub(crate) fn new(reason: FallbackReason, detail: impl Into<String>, sent: bool) -> Self {
        OffloadError { reason, detail: detail.into(), sent }
    }
}

/// An inference request ready to send.
pub(crate) struct EncodedRequest {
    pub body: Vec<u8>,
    pub header_len: usize,
}

/// A successful inference exchange.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The requested outputs, in the order asked for.
    pub outputs: Vec<NamedTensor>,
    /// The edge's own times, ms.
    pub compute_ms: f64,
    pub queue_ms: f64,
    pub prepare_ms: f64,
    /// Send to first response byte, ms (upload, round trip and the edge's time).
    pub first_byte_ms: f64,
    /// First to last response byte, ms.
    pub download_ms: f64,
    /// Response body bytes.
    pub bytes_down: u64,
    /// The cut the edge says it ran after.
    pub edge_cut: Option<usize>,
}

impl Answer {
    /// Everything the edge says it spent, ms.
    pub(crate) fn server_ms(&self) -> f64 {
        self.compute_ms + self.queue_ms + self.prepare_ms
    }
}

/// A small JSON answer with its timing, for RTT samples.
pub(crate) struct JsonAnswer {
    pub value: Value,
    pub first_byte_ms: f64,
    pub download_ms: f64,
    pub bytes_down: u64,
}

/// The HTTP client of one session's edge.
pub(crate) struct EdgeClient {
    http: reqwest::Client,
    base: String,
    model: String,
    token: Option<String>,
}

/// Bytes of the request line and headers reqwest sends besides the body (measured: ~200);
/// for the estimator's samples, which count what goes on the wire.
pub(crate) const HTTP_REQUEST_OVERHEAD_BYTES: u64 = 250;

impl EdgeClient {
    /// A client for `endpoint`, serving the model as `model`.
    pub(crate) fn new(
        endpoint: &EdgeEndpoint,
        model: &str,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let base = endpoint.url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("edge URL `{base}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("edge URL `{base}`: the scheme must be http or https"));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            // A phone talks to its edge directly; a desktop's proxy variables must not
            // reroute (or break) loopback and LAN edges.
            .no_proxy()
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &endpoint.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the CA certificate PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the CA certificate PEM holds no certificate".into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| format!("building the HTTP client: {}", error_chain(&e)))?;
        let token = endpoint.token.as_ref().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        Ok(EdgeClient { http, base, model: model.to_string(), token })
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn model_url(&self, suffix: &str) -> String {
        format!("{}/v2/models/{}{suffix}", self.base, self.model)
    }

    async fn get_json(&self, url: String) -> Result<JsonAnswer, OffloadError> {
        let t0 = Instant::now();
        let response = self.authorize(self.http.get(url)).send().await.map_err(|e| classify(&e, false))?;
        let first_byte_ms = ms_since(t0);
        let status = response.status();
        let t1 = Instant::now();
        let body = response.bytes().await.map_err(|e| classify(&e, true))?;
        let download_ms = ms_since(t1);
        if !status.is_success() {
            return Err(status_error(status.as_u16(), &body));
        }
        let value = serde_json::from_slice(&body).map_err(|e| {
            OffloadError::new(FallbackReason::MalformedResponse, format!("not JSON: {e}"), true)
        })?;
        Ok(JsonAnswer { value, first_byte_ms, download_ms, bytes_down: body.len() as u64 })
    }

    /// The model hash the edge serves under this model's name (`GET /v2/models/{m}`,
    /// parameter `tandem_model_hash`); `None` if the edge does not say (not a Tandem edge).
    pub(crate) async fn model_hash(&self) -> Result<Option<String>, OffloadError> {
        let answer = self.get_json(self.model_url("")).await?;
        match answer.value.get("parameters").and_then(|p| p.get("tandem_model_hash")) {
            None => Ok(None),
            Some(Value::String(h)) => Ok(Some(h.to_ascii_lowercase())),
            Some(_) => Err(OffloadError::new(
                FallbackReason::MalformedResponse,
                "the model metadata's tandem_model_hash is not a string",
                true,
            )),
        }
    }

    /// The edge's per-cut times and load (`GET /v2/models/{m}/profile`); `Ok(None)` when the
    /// edge has no profile endpoint.
    pub(crate) async fn profile(&self) -> Result<Option<(EdgeProfile, JsonAnswer)>, OffloadError> {
        match self.get_json(self.model_url("/profile")).await {
            Ok(answer) => {
                let profile = serde_json::from_value(answer.value.clone()).map_err(|e| {
                    OffloadError::new(
                        FallbackReason::MalformedResponse,
                        format!("the edge profile: {e}"),
                        true,
                    )
                })?;
                Ok(Some((profile, answer)))
            }
            Err(e) if e.reason == FallbackReason::ModelNotServed => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends an inference request and decodes the answer, checking that it holds exactly
    /// the `expected` outputs with the right types and shapes. No timeout here: the caller
    /// wraps the future in its own (dropping the future closes the connection).
    pub(crate) async fn infer(
        &self,
        request: EncodedRequest,
        expected: &[TensorSpec],
    ) -> Result<Answer, OffloadError> {
        let rb = self
            .http
            .post(self.model_url("/infer"))
            .header(HEADER_CONTENT_LENGTH, request.header_len)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(request.body);
        let t0 = Instant::now();
        let response = self.authorize(rb).send().await.map_err(|e| classify(&e, true))?;
        let first_byte_ms = ms_since(t0);
        let status = response.status();
        let header_len = header_len(response.headers());
        let t1 = Instant::now();
        let body = response.bytes().await.map_err(|e| classify(&e, true))?;
        let download_ms = ms_since(t1);
        if !status.is_success() {
            return Err(status_error(status.as_u16(), &body));
        }
        let decoded = decode_answer(header_len, &body, expected)?;
        Ok(Answer {
            outputs: decoded.outputs,
            compute_ms: decoded.compute_ms,
            queue_ms: decoded.queue_ms,
            prepare_ms: decoded.prepare_ms,
            first_byte_ms,
            download_ms,
            bytes_down: body.len() as u64,
            edge_cut: decoded.edge_cut,
        })
    }
}

use tandem_model::util::ms_since;

/// An error and its sources, joined: reqwest's own message alone says little
/// ("error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Classifies a transport error. `sent`: whether the request may have left.
pub(crate) fn classify(e: &reqwest::Error, sent: bool) -> OffloadError {
    let detail = error_chain(e);
    if e.is_connect() {
        OffloadError::new(FallbackReason::EdgeUnreachable, detail, false)
    } else if e.is_timeout() {
        OffloadError::new(FallbackReason::Timeout, detail, sent)
    } else {
        OffloadError::new(FallbackReason::LinkReset, detail, sent)
    }
}

/// The fallback reason of an HTTP error status, with the edge's `{"error": ...}` message.
pub(crate) fn status_error(status: u16, body: &[u8]) -> OffloadError {
    let reason = match status {
        401 | 403 => FallbackReason::Unauthorized,
        404 => FallbackReason::ModelNotServed,
        408 => FallbackReason::Timeout,
        409 => FallbackReason::HashMismatch,
        500..=599 => FallbackReason::ServerError { status },
        _ => FallbackReason::Rejected { status },
    };
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let message: String = message.chars().take(300).collect();
    let detail = if message.is_empty() {
        format!("the edge answered HTTP {status}")
    } else {
        format!("the edge answered HTTP {status}: {message}")
    };
    OffloadError::new(reason, detail, true)
}

/// Builds an inference request: every tensor as binary data, with its Tandem encoding.
/// `outputs`: the outputs to ask for (all the model's if `None`), as binary data.
pub(crate) fn encode_request(
    id: &str,
    model_hash: &str,
    tensors: &[EncodedTensor],
    outputs: Option<&[&str]>,
) -> EncodedRequest {
    let inputs: Vec<Value> = tensors
        .iter()
        .map(|e| {
            let mut p = Map::new();
            p.insert("binary_data_size".into(), e.tensor.data.len().into());
            if e.encoding != Encoding::Fp32 {
                p.insert("tandem_encoding".into(), e.encoding.wire_name().into());
            }
            if let Some(q) = e.int8 {
                p.insert("tandem_scale".into(), f64::from(q.scale).into());
                p.insert("tandem_zero_point".into(), q.zero_point.into());
            }
            json!({
                "name": e.tensor.name,
                "shape": e.tensor.shape,
                "datatype": e.tensor.dtype.wire_name(),
                "parameters": p,
            })
        })
        .collect();
    let mut request = json!({
        "id": id,
        "parameters": { "tandem_model_hash": model_hash, "binary_data_output": true },
        "inputs": inputs,
    });
    if let Some(outputs) = outputs {
        request["outputs"] =
            outputs.iter().map(|name| json!({"name": name, "parameters": {"binary_data": true}})).collect();
    }
    let header = serde_json::to_vec(&request).expect("names, numbers and strings always serialize");
    let data_bytes: usize = tensors.iter().map(|e| e.tensor.data.len()).sum();
    let mut body = Vec::with_capacity(header.len() + data_bytes);
    body.extend_from_slice(&header);
    for e in tensors {
        body.extend_from_slice(&e.tensor.data);
    }
    EncodedRequest { header_len: header.len(), body }
}

/// Encodes the crossing tensors for the wire: float32 tensors in `encoding`, others as they
/// are. A tensor the encoding cannot carry (float16 overflow, a NaN for int8) travels as
/// float32, so an encoding never turns into a failure.
pub(crate) fn encode_tensors(tensors: &[NamedTensor], encoding: Encoding) -> Vec<EncodedTensor> {
    tensors
        .iter()
        .map(|t| {
            let wanted = if t.dtype == DType::Fp32 { encoding } else { Encoding::Fp32 };
            encoding::encode(t, wanted).unwrap_or_else(|e| {
                log::debug!("tensor `{}` travels as fp32: {e}", t.name);
                EncodedTensor { tensor: t.clone(), encoding: Encoding::Fp32, int8: None }
            })
        })
        .collect()
}

/// A decoded inference response.
pub(crate) struct Decoded {
    pub outputs: Vec<NamedTensor>,
    pub compute_ms: f64,
    pub queue_ms: f64,
    pub prepare_ms: f64,
    pub edge_cut: Option<usize>,
}

/// The answer's `Inference-Header-Content-Length`: `None` when absent, `Some(None)` when it
/// is not a byte count.
pub(crate) fn header_len(headers: &reqwest::header::HeaderMap) -> Option<Option<usize>> {
    headers.get(HEADER_CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()))
}

/// [`decode_response`] of a successful answer whose header length came from [`header_len`];
/// anything malformed is a [`FallbackReason::MalformedResponse`].
pub(crate) fn decode_answer(
    header_len: Option<Option<usize>>,
    body: &[u8],
    expected: &[TensorSpec],
) -> Result<Decoded, OffloadError> {
    let malformed = |e: String| OffloadError::new(FallbackReason::MalformedResponse, e, true);
    let header_len = match header_len {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            return Err(malformed("the answer's Inference-Header-Content-Length is not a byte count".into()))
        }
    };
    decode_response(header_len, body, expected).map_err(malformed)
}

/// Decodes an inference response and checks it against `expected` (names, dtypes, shapes;
/// any order); returns the outputs in `expected`'s order.
pub(crate) fn decode_response(
    header_len: Option<usize>,
    body: &[u8],
    expected: &[TensorSpec],
) -> Result<Decoded, String> {
    let json_len = header_len.unwrap_or(body.len());
    if json_len > body.len() {
        return Err(format!(
            "Inference-Header-Content-Length is {json_len} but the body has {} bytes",
            body.len()
        ));
    }
    let (json, mut binary) = body.split_at(json_len);
    let value: Value = serde_json::from_slice(json).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let outputs =
        value.get("outputs").and_then(Value::as_array).ok_or("the answer has no `outputs` array")?;
    let mut found: Vec<Option<NamedTensor>> = vec![None; expected.len()];
    for o in outputs {
        let name = o.get("name").and_then(Value::as_str).ok_or("an output has no name")?;
        let slot = expected
            .iter()
            .position(|e| e.name == name)
            .ok_or_else(|| format!("unexpected output `{name}`"))?;
        if found[slot].is_some() {
            return Err(format!("output `{name}` is given twice"));
        }
        let spec = &expected[slot];
        let dtype = o
            .get("datatype")
            .and_then(Value::as_str)
            .and_then(DType::from_wire_name)
            .ok_or_else(|| format!("output `{name}`: missing or unknown datatype"))?;
        let shape: Option<Vec<usize>> = o
            .get("shape")
            .and_then(Value::as_array)
            .map(|dims| {
                dims.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or(None);
        let shape = shape.ok_or_else(|| format!("output `{name}`: missing or bad shape"))?;
        if dtype != spec.dtype || shape != spec.shape {
            return Err(format!(
                "output `{name}` is {dtype} {shape:?}, the model makes {} {:?}",
                spec.dtype, spec.shape
            ));
        }
        let wire_bytes = spec.bytes() as usize;
        let size = o.get("parameters").and_then(|p| p.get("binary_data_size"));
        let data = match (size, o.get("data")) {
            (Some(size), None) => {
                let size = size.as_u64().and_then(|s| usize::try_from(s).ok()).filter(|s| *s == wire_bytes);
                let size =
                    size.ok_or_else(|| format!("output `{name}`: binary_data_size is not {wire_bytes}"))?;
                if size > binary.len() {
                    return Err(format!("output `{name}`: {size} bytes announced, {} remain", binary.len()));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                mine.to_vec()
            }
            (None, Some(data)) => {
                json_data(data, dtype, spec.len()).map_err(|e| format!("output `{name}`: {e}"))?
            }
            _ => return Err(format!("output `{name}` needs exactly one of data and binary_data_size")),
        };
        found[slot] = Some(NamedTensor::new(name, dtype, shape, data).map_err(|e| e.to_string())?);
    }
    if !binary.is_empty() {
        return Err(format!("{} bytes of binary data left after the last output", binary.len()));
    }
    let outputs = found
        .into_iter()
        .zip(expected)
        .map(|(t, e)| t.ok_or_else(|| format!("output `{}` is missing", e.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let params = value.get("parameters");
    let number = |key: &str| {
        params
            .and_then(|p| p.get(key))
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(0.0)
    };
    Ok(Decoded {
        outputs,
        compute_ms: number("tandem_compute_ms"),
        queue_ms: number("tandem_queue_ms"),
        prepare_ms: number("tandem_prepare_ms"),
        edge_cut: params.and_then(|p| p.get("tandem_cut")).and_then(Value::as_u64).map(|c| c as usize),
    })
}

/// A JSON `data` array (possibly nested) as little-endian bytes of `dtype`.
fn json_data(data: &Value, dtype: DType, elements: usize) -> Result<Vec<u8>, String> {
    let mut flat = Vec::with_capacity(elements.min(1 << 16));
    let mut stack = vec![data];
    // depth-first, left to right: push children reversed
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => {
                if flat.len() == elements {
                    return Err(format!("data has more than {elements} elements"));
                }
                flat.push(other);
            }
        }
    }
    if flat.len() != elements {
        return Err(format!("data has {} elements, the shape needs {elements}", flat.len()));
    }
    let mut out = Vec::with_capacity(elements * dtype.size_bytes());
    for v in flat {
        let float = || match v {
            Value::Null => Some(f64::NAN),
            _ => v.as_f64(),
        };
        let int = || v.as_i64();
        let bad = || format!("element {v} is not a {dtype}");
        match dtype {
            DType::Fp32 => out.extend((float().ok_or_else(bad)? as f32).to_le_bytes()),
            DType::Fp64 => out.extend(float().ok_or_else(bad)?.to_le_bytes()),
            DType::Fp16 => out.extend(
                encoding::f32_to_f16_bytes("", &[float().ok_or_else(bad)? as f32])
                    .map_err(|e| e.to_string())?,
            ),
            DType::Int8 => {
                out.extend(int().and_then(|i| i8::try_from(i).ok()).ok_or_else(bad)?.to_le_bytes())
            }
            DType::Uint8 => {
                out.extend(int().and_then(|i| u8::try_from(i).ok()).ok_or_else(bad)?.to_le_bytes())
            }
            DType::Int16 => {
                out.extend(int().and_then(|i| i16::try_from(i).ok()).ok_or_else(bad)?.to_le_bytes())
            }
            DType::Int32 => {
                out.extend(int().and_then(|i| i32::try_from(i).ok()).ok_or_else(bad)?.to_le_bytes())
            }
            DType::Int64 => out.extend(int().ok_or_else(bad)?.to_le_bytes()),
            DType::Bool => out.push(u8::from(v.as_bool().ok_or_else(bad)?)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, shape: Vec<usize>) -> TensorSpec {
        TensorSpec { name: name.into(), dtype: DType::Fp32, shape }
    }

    fn body(json: Value, binary: &[u8]) -> (Option<usize>, Vec<u8>) {
        let mut b = serde_json::to_vec(&json).unwrap();
        let len = b.len();
        b.extend_from_slice(binary);
        (Some(len), b)
    }

    #[test]
    fn request_layout() {
        let t = NamedTensor::from_f32("a", vec![2], &[1.0, -2.0]).unwrap();
        let enc = encode_tensors(std::slice::from_ref(&t), Encoding::Fp16);
        let r = encode_request("7", "ab", &enc, Some(&["out"]));
        let header: Value = serde_json::from_slice(&r.body[..r.header_len]).unwrap();
        assert_eq!(header["parameters"]["tandem_model_hash"], "ab");
        assert_eq!(header["inputs"][0]["datatype"], "FP16");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 4);
        assert_eq!(header["inputs"][0]["parameters"]["tandem_encoding"], "fp16");
        assert_eq!(header["outputs"][0]["name"], "out");
        assert_eq!(r.body.len(), r.header_len + 4);
    }

    #[test]
    fn unencodable_tensors_travel_as_fp32() {
        let big = NamedTensor::from_f32("big", vec![1], &[1e6]).unwrap();
        let ints = NamedTensor::new("shape", DType::Int64, vec![1], 3i64.to_le_bytes().to_vec()).unwrap();
        let enc = encode_tensors(&[big.clone(), ints.clone()], Encoding::Fp16);
        assert_eq!((enc[0].encoding, &enc[0].tensor), (Encoding::Fp32, &big));
        assert_eq!((enc[1].encoding, &enc[1].tensor), (Encoding::Fp32, &ints));
    }

    #[test]
    fn decodes_binary_and_json_outputs_in_expected_order() {
        let expected = [spec("a", vec![2]), spec("b", vec![1])];
        let data: Vec<u8> = [3.0f32, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (len, b) = body(
            json!({"model_name": "m", "parameters": {"tandem_compute_ms": 2.5, "tandem_queue_ms": 1, "tandem_cut": 4},
                   "outputs": [{"name": "b", "datatype": "FP32", "shape": [1], "data": [[7.5]]},
                               {"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
            &data,
        );
        let d = decode_response(len, &b, &expected).expect("valid");
        assert_eq!(d.outputs[0].to_f32().unwrap(), [3.0, 4.0]);
        assert_eq!(d.outputs[1].to_f32().unwrap(), [7.5]);
        assert_eq!((d.compute_ms, d.queue_ms, d.edge_cut), (2.5, 1.0, Some(4)));
    }

    #[test]
    fn refuses_answers_that_do_not_fit() {
        let expected = [spec("a", vec![2])];
        let eight = [0u8; 8];
        let cases: Vec<(Option<usize>, Vec<u8>, &str)> = vec![
            {
                let (l, b) = body(
                    json!({"outputs": [{"name": "a", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 12}}]}),
                    &[0; 12],
                );
                (l, b, "the model makes")
            },
            {
                let (l, b) = body(
                    json!({"outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
                    &eight[..5],
                );
                (l, b, "5 remain")
            },
            {
                let (l, b) = body(
                    json!({"outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 4}}]}),
                    &eight[..4],
                );
                (l, b, "binary_data_size is not")
            },
            {
                let (l, b) = body(
                    json!({"outputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}),
                    &[],
                );
                (l, b, "unexpected output")
            },
            {
                let (l, b) = body(json!({"outputs": []}), &[]);
                (l, b, "missing")
            },
            {
                let (l, b) = body(
                    json!({"outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
                    &[0; 9],
                );
                (l, b, "left after")
            },
            (None, b"<html>oops</html>".to_vec(), "not JSON"),
            (Some(999), b"{}".to_vec(), "Inference-Header-Content-Length"),
        ];
        for (len, b, want) in cases {
            let err = decode_response(len, &b, &expected).err().expect("refused");
            assert!(err.contains(want), "`{err}` lacks `{want}`");
        }
    }

    #[test]
    fn statuses_map_to_reasons() {
        let reason = |s| status_error(s, br#"{"error":"nope"}"#).reason;
        assert_eq!(reason(401), FallbackReason::Unauthorized);
        assert_eq!(reason(409), FallbackReason::HashMismatch);
        assert_eq!(reason(503), FallbackReason::ServerError { status: 503 });
        assert_eq!(reason(413), FallbackReason::Rejected { status: 413 });
        assert!(status_error(500, br#"{"error":"boom"}"#).detail.contains("boom"));
    }

    #[test]
    fn endpoint_debug_hides_the_token() {
        let e = EdgeEndpoint::new("http://x").with_token("s3cret");
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
