//! The wire format: Open Inference Protocol (KServe v2) REST inference requests and
//! responses, with the binary tensor data extension and Tandem's parameters.
//!
//! Everything here is a pure function of bytes and a [`ModelSpec`], so it can be fuzzed and
//! property-tested without a server. `docs/PROTOCOL.md` is the prose version.

use std::collections::HashSet;

pub use http::{HeaderMap, HeaderValue};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use tandem_model::encoding::{self, EncodedTensor, Encoding, Int8Params};
use tandem_model::{DType, Model, NamedTensor, TensorSpec};

pub use crate::error::WireError;

/// The binary tensor data extension's header: the length of the JSON part of the body.
pub const HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Names of the request, tensor and response parameters this server reads and writes.
pub mod param {
    /// Request: hex SHA-256 of the model file the request's tensors were cut from.
    pub const MODEL_HASH: &str = "tandem_model_hash";
    /// Request: run only up to this later cut and forward the rest upstream.
    pub const UPSTREAM_CUT: &str = "tandem_upstream_cut";
    /// Input tensor: `fp32` (default), `fp16` or `int8`.
    pub const ENCODING: &str = "tandem_encoding";
    /// Input tensor, int8 encoding: the quantization step.
    pub const SCALE: &str = "tandem_scale";
    /// Input tensor, int8 encoding: the quantized value of zero.
    pub const ZERO_POINT: &str = "tandem_zero_point";
    /// Response: milliseconds the server spent running its part of the model.
    pub const COMPUTE_MS: &str = "tandem_compute_ms";
    /// Response: milliseconds the request waited for a compute slot.
    pub const QUEUE_MS: &str = "tandem_queue_ms";
    /// Response: milliseconds spent getting the built part (0 when cached; a build otherwise).
    pub const PREPARE_MS: &str = "tandem_prepare_ms";
    /// Response: the cut whose part after it the server ran.
    pub const CUT: &str = "tandem_cut";
    /// Response: the cut where the server's part ended: the last cut, or earlier when every
    /// requested output (an early exit) exists there, or the upstream cut (three tiers).
    pub const END_CUT: &str = "tandem_end_cut";
    /// Response (three tiers): round trip to the upstream server, in milliseconds.
    pub const UPSTREAM_MS: &str = "tandem_upstream_ms";
    /// Response (three tiers): the upstream server's own compute time, in milliseconds.
    pub const UPSTREAM_COMPUTE_MS: &str = "tandem_upstream_compute_ms";
    /// Binary extension, input or output tensor: bytes of its data in the binary part.
    pub const BINARY_DATA_SIZE: &str = "binary_data_size";
    /// Binary extension, requested output: send it as binary.
    pub const BINARY_DATA: &str = "binary_data";
    /// Binary extension, request: send every output as binary unless it says otherwise.
    pub const BINARY_DATA_OUTPUT: &str = "binary_data_output";
}

/// What the decoder needs to know about a served model: its identity, its outputs, and the
/// tensors crossing each of its cuts (cut 0's are the model inputs).
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// The name the model is served under.
    pub name: String,
    /// Lowercase hex SHA-256 of the model file.
    pub hash: String,
    /// The model outputs.
    pub outputs: Vec<TensorSpec>,
    /// The tensors crossing each cut, by cut id.
    pub cuts: Vec<Vec<TensorSpec>>,
    known: HashSet<String>,
}

impl ModelSpec {
    /// A spec from its parts; `cuts` must not be empty.
    pub fn new(
        name: impl Into<String>,
        hash: impl Into<String>,
        outputs: Vec<TensorSpec>,
        cuts: Vec<Vec<TensorSpec>>,
    ) -> Self {
        let known = cuts.iter().flatten().map(|t| t.name.clone()).collect();
        ModelSpec { name: name.into(), hash: hash.into(), outputs, cuts, known }
    }

    /// The spec of a loaded model served as `name`.
    pub fn from_model(name: impl Into<String>, model: &Model) -> Self {
        let cuts = model
            .cuts()
            .iter()
            .map(|c| if c.id == 0 { model.inputs().to_vec() } else { c.tensors.clone() })
            .collect();
        ModelSpec::new(name, model.hash(), model.outputs().to_vec(), cuts)
    }

    /// The last cut's id (the whole model runs before it).
    pub fn last_cut(&self) -> usize {
        self.cuts.len().saturating_sub(1)
    }

    /// The first cut at or after `from` whose crossing tensors include every one of `outputs`:
    /// the part between `from` and it computes them (an early exit). The last cut when none
    /// does (the whole rest of the model).
    pub fn first_cut_producing(&self, from: usize, outputs: &[RequestedOutput]) -> usize {
        let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
        tandem_model::first_cut_with_outputs(self.cuts.iter().map(Vec::as_slice), from, &names)
            .unwrap_or(self.last_cut())
    }

    /// The cut whose crossing tensors are exactly `names` (the first, if several are).
    pub fn cut_by_names(&self, names: &[&str]) -> Option<usize> {
        let wanted: HashSet<&str> = names.iter().copied().collect();
        self.cuts.iter().position(|tensors| {
            tensors.len() == wanted.len() && tensors.iter().all(|t| wanted.contains(t.name.as_str()))
        })
    }
}

/// One output the client asked for, and whether it wants it as binary data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedOutput {
    /// The output tensor's name.
    pub name: String,
    /// Send its data in the binary part of the response.
    pub binary: bool,
}

/// A decoded, validated inference request.
#[derive(Debug)]
pub struct InferRequest {
    /// The client's request id, echoed in the response.
    pub id: Option<String>,
    /// The cut the inputs cross (0: the model's own inputs).
    pub cut: usize,
    /// The input tensors, decoded to the dtype the model expects, in the cut's order.
    pub inputs: Vec<NamedTensor>,
    /// How each input travelled, in the same order.
    pub encodings: Vec<Encoding>,
    /// The outputs to send back, in order.
    pub outputs: Vec<RequestedOutput>,
    /// Three tiers: run up to this cut and forward the rest upstream.
    pub upstream_cut: Option<usize>,
    /// The model hash the request named, if any.
    pub model_hash: Option<String>,
}

/// A body to send: JSON, optionally followed by binary tensor data.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBody {
    /// Length of the JSON part when binary data follows it (the value of the
    /// `Inference-Header-Content-Length` header); `None` for a pure JSON body.
    pub header_len: Option<usize>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Deserialize)]
struct RequestJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InputJson>,
    #[serde(default)]
    outputs: Option<Vec<OutputRequestJson>>,
}

#[derive(Deserialize)]
struct InputJson {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct OutputRequestJson {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The JSON part's length: the `Inference-Header-Content-Length` header, or the whole body.
pub fn header_len(headers: &HeaderMap, body_len: usize) -> Result<Option<usize>, WireError> {
    let Some(value) = headers.get(HEADER_CONTENT_LENGTH) else { return Ok(None) };
    let len = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| WireError::bad("Inference-Header-Content-Length is not a byte count"))?;
    if len > body_len {
        return Err(WireError::bad(format!(
            "Inference-Header-Content-Length is {len} but the body has only {body_len} bytes"
        )));
    }
    Ok(Some(len))
}

/// Decodes and validates an inference request for `spec`: splits the JSON header from the
/// binary tensor data, picks the cut from the input names, checks the model hash, every
/// tensor's name, dtype, shape and length, and decodes Tandem encodings to the model's dtype.
pub fn decode_infer_request(
    headers: &HeaderMap,
    body: &[u8],
    spec: &ModelSpec,
) -> Result<InferRequest, WireError> {
    let json_len = header_len(headers, body.len())?;
    let (json, mut binary) = body.split_at(json_len.unwrap_or(body.len()));
    let request: RequestJson = serde_json::from_slice(json)
        .map_err(|e| WireError::bad(format!("malformed inference request JSON: {e}")))?;
    let params = request.parameters.unwrap_or_default();
    check_tandem_params(&params, "the request", &[param::MODEL_HASH, param::UPSTREAM_CUT])?;

    let model_hash = match params.get(param::MODEL_HASH) {
        None => None,
        Some(Value::String(h)) => Some(h.clone()),
        Some(_) => return Err(WireError::bad("parameter `tandem_model_hash` must be a string")),
    };
    if let Some(h) = &model_hash {
        if !h.eq_ignore_ascii_case(&spec.hash) {
            return Err(WireError::HashMismatch {
                model: spec.name.clone(),
                served: spec.hash.clone(),
                got: h.clone(),
            });
        }
    }

    if request.inputs.is_empty() {
        return Err(WireError::bad("the request has no inputs"));
    }
    let mut seen = HashSet::new();
    for input in &request.inputs {
        if !seen.insert(input.name.as_str()) {
            return Err(WireError::bad(format!("input `{}` is given twice", input.name)));
        }
        if !spec.known.contains(&input.name) {
            return Err(tandem_model::Error::UnknownTensor {
                name: input.name.clone(),
                reason: format!(
                    "model `{}` has no such input, and no cut carries a tensor of that name \
                     (its inputs are {:?})",
                    spec.name,
                    names(&spec.cuts[0])
                ),
            }
            .into());
        }
    }
    let given: Vec<&str> = request.inputs.iter().map(|i| i.name.as_str()).collect();
    let cut = spec.cut_by_names(&given).ok_or_else(|| {
        WireError::bad(format!(
            "the inputs {given:?} are not the tensors crossing any cut of model `{}`: send its \
             inputs {:?}, or exactly the tensors of one cut (see `tandem cuts`)",
            spec.name,
            names(&spec.cuts[0])
        ))
    })?;
    if cut != 0 && model_hash.is_none() {
        return Err(WireError::bad(format!(
            "parameter `tandem_model_hash` is required with the tensors of cut {cut}: they \
             only mean something for the model file they were cut from"
        )));
    }

    let upstream_cut = match params.get(param::UPSTREAM_CUT) {
        None => None,
        Some(v) => {
            let k = v
                .as_u64()
                .and_then(|k| usize::try_from(k).ok())
                .ok_or_else(|| WireError::bad("parameter `tandem_upstream_cut` must be a cut id"))?;
            if k <= cut || k > spec.last_cut() {
                return Err(WireError::bad(format!(
                    "parameter `tandem_upstream_cut` must be a cut after the request's cut {cut} \
                     and at most {}, got {k}",
                    spec.last_cut()
                )));
            }
            Some(k)
        }
    };

    let mut inputs = Vec::with_capacity(request.inputs.len());
    let mut encodings = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        let expected =
            spec.cuts[cut].iter().find(|t| t.name == input.name).expect("the cut was chosen by these names");
        let (tensor, encoding) = decode_input(input, expected, &mut binary, json_len.is_some())?;
        inputs.push(tensor);
        encodings.push(encoding);
    }
    if !binary.is_empty() {
        return Err(WireError::bad(format!(
            "the body carries {} bytes of binary data after the last input's binary_data_size",
            binary.len()
        )));
    }
    // The cut's order, so that equal requests decode equally whatever order they list.
    let order = &spec.cuts[cut];
    let mut paired: Vec<(NamedTensor, Encoding)> = inputs.into_iter().zip(encodings).collect();
    paired.sort_by_key(|(t, _)| order.iter().position(|o| o.name == t.name));
    let (inputs, encodings) = paired.into_iter().unzip();

    let outputs = requested_outputs(&params, request.outputs, spec)?;
    Ok(InferRequest { id: request.id, cut, inputs, encodings, outputs, upstream_cut, model_hash })
}

fn names(specs: &[TensorSpec]) -> Vec<&str> {
    specs.iter().map(|s| s.name.as_str()).collect()
}

/// Refuses `tandem_*` parameters this server does not know: a typo must not silently turn
/// a check off.
fn check_tandem_params(params: &Map<String, Value>, what: &str, known: &[&str]) -> Result<(), WireError> {
    match params.keys().find(|k| k.starts_with("tandem_") && !known.contains(&k.as_str())) {
        Some(k) => Err(WireError::bad(format!("unknown parameter `{k}` in {what} (known: {known:?})"))),
        None => Ok(()),
    }
}

fn decode_input(
    input: InputJson,
    expected: &TensorSpec,
    binary: &mut &[u8],
    has_binary_part: bool,
) -> Result<(NamedTensor, Encoding), WireError> {
    let name = input.name;
    let what = format!("input `{name}`");
    let params = input.parameters.unwrap_or_default();
    check_tandem_params(&params, &what, &[param::ENCODING, param::SCALE, param::ZERO_POINT])?;

    let encoding = match params.get(param::ENCODING) {
        None => Encoding::Fp32,
        Some(v) => v.as_str().and_then(Encoding::from_wire_name).ok_or_else(|| {
            WireError::bad(format!(
                "{what}: `tandem_encoding` must be \"fp32\", \"fp16\" or \"int8\", got {v}"
            ))
        })?,
    };
    if encoding != Encoding::Fp32 && expected.dtype != DType::Fp32 {
        return Err(WireError::bad(format!(
            "{what}: the {encoding} encoding is for FP32 tensors, this one is {}",
            expected.dtype
        )));
    }
    let int8 = match encoding {
        Encoding::Int8 => {
            let scale = params.get(param::SCALE).and_then(Value::as_f64);
            let zero_point = params.get(param::ZERO_POINT).and_then(Value::as_i64);
            match (scale, zero_point) {
                (Some(scale), Some(zero_point)) => Some(Int8Params {
                    scale: scale as f32,
                    zero_point: i32::try_from(zero_point).unwrap_or(i32::MAX),
                }),
                _ => {
                    return Err(WireError::bad(format!(
                        "{what}: the int8 encoding needs numbers `tandem_scale` and `tandem_zero_point`"
                    )))
                }
            }
        }
        _ if params.contains_key(param::SCALE) || params.contains_key(param::ZERO_POINT) => {
            return Err(WireError::bad(format!(
                "{what}: `tandem_scale` and `tandem_zero_point` go with `tandem_encoding: \"int8\"` only"
            )))
        }
        _ => None,
    };

    let wire_dtype = if expected.dtype == DType::Fp32 { encoding.wire_dtype() } else { expected.dtype };
    let dtype = DType::from_wire_name(&input.datatype)
        .ok_or_else(|| WireError::bad(format!("{what}: datatype `{}` is not supported", input.datatype)))?;
    if dtype != wire_dtype {
        return Err(tandem_model::Error::DType {
            tensor: name,
            expected: format!("{wire_dtype} (the model's {} as {encoding})", expected.dtype),
            got: dtype.to_string(),
        }
        .into());
    }
    let shape_matches = input.shape.len() == expected.shape.len()
        && input.shape.iter().zip(&expected.shape).all(|(g, e)| usize::try_from(*g).ok() == Some(*e));
    if !shape_matches {
        return Err(WireError::bad(format!(
            "{what}: shape {:?} does not match the shape {:?} this cut carries",
            input.shape, expected.shape
        )));
    }
    let elements = expected.len();
    let wire_bytes = elements * dtype.size_bytes();

    let data = match (params.get(param::BINARY_DATA_SIZE), input.data) {
        (Some(_), Some(_)) => {
            return Err(WireError::bad(format!("{what}: has both `data` and `binary_data_size`")))
        }
        (None, None) => {
            return Err(WireError::bad(format!("{what}: has neither `data` nor `binary_data_size`")))
        }
        (Some(size), None) => {
            if !has_binary_part {
                return Err(WireError::bad(format!(
                    "{what}: `binary_data_size` needs the Inference-Header-Content-Length header"
                )));
            }
            let size = size
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| WireError::bad(format!("{what}: `binary_data_size` must be a byte count")))?;
            if size != wire_bytes {
                return Err(tandem_model::Error::BadTensor {
                    tensor: name,
                    reason: format!(
                        "binary_data_size is {size} bytes, but {dtype} {:?} needs {wire_bytes}",
                        expected.shape
                    ),
                }
                .into());
            }
            if size > binary.len() {
                return Err(WireError::bad(format!(
                    "{what}: binary_data_size is {size} bytes but only {} bytes of binary data remain",
                    binary.len()
                )));
            }
            let (mine, rest) = binary.split_at(size);
            *binary = rest;
            mine.to_vec()
        }
        (None, Some(data)) => json_to_bytes(&what, &data, dtype, elements)?,
    };
    let wire = NamedTensor::new(name, dtype, expected.shape.clone(), data)?;
    let tensor = encoding::decode(EncodedTensor { tensor: wire, encoding, int8 })?;
    Ok((tensor, encoding))
}

/// Flattens (possibly nested) JSON `data` in row-major order into little-endian bytes.
fn json_to_bytes(what: &str, data: &Value, dtype: DType, elements: usize) -> Result<Vec<u8>, WireError> {
    // Capacity from the shape is capped: the shape may come from an untrusted peer.
    let mut out = Vec::with_capacity(elements.min(1 << 16) * dtype.size_bytes());
    let mut count = 0usize;
    let mut stack: Vec<std::slice::Iter<'_, Value>> = match data {
        Value::Array(items) => vec![items.iter()],
        _ => return Err(WireError::bad(format!("{what}: `data` must be an array"))),
    };
    while let Some(top) = stack.last_mut() {
        let Some(v) = top.next() else {
            stack.pop();
            continue;
        };
        if let Value::Array(items) = v {
            stack.push(items.iter());
            continue;
        }
        if count == elements {
            return Err(WireError::bad(format!(
                "{what}: `data` has more than the {elements} elements of its shape"
            )));
        }
        push_element(&mut out, v, dtype)
            .map_err(|reason| WireError::bad(format!("{what}: data element {count} ({v}) {reason}")))?;
        count += 1;
    }
    if count != elements {
        return Err(WireError::bad(format!(
            "{what}: `data` has {count} elements, its shape needs {elements}"
        )));
    }
    Ok(out)
}

fn push_element(out: &mut Vec<u8>, v: &Value, dtype: DType) -> Result<(), &'static str> {
    fn int<T: TryFrom<i64>>(v: &Value) -> Result<T, &'static str> {
        v.as_i64().and_then(|i| T::try_from(i).ok()).ok_or("is not an integer in the datatype's range")
    }
    let float = |v: &Value| -> Result<f64, &'static str> {
        match v {
            Value::Null => Ok(f64::NAN),
            _ => v.as_f64().ok_or("is not a number"),
        }
    };
    match dtype {
        DType::Fp32 => {
            let x = float(v)?;
            if x.is_finite() && (x as f32).is_infinite() {
                return Err("is outside the FP32 range");
            }
            out.extend((x as f32).to_le_bytes());
        }
        DType::Fp16 => {
            let x = float(v)? as f32;
            let bytes = encoding::f32_to_f16_bytes("", &[x]).map_err(|_| "is outside the FP16 range")?;
            out.extend(bytes);
        }
        DType::Fp64 => out.extend(float(v)?.to_le_bytes()),
        DType::Int8 => out.extend(int::<i8>(v)?.to_le_bytes()),
        DType::Uint8 => out.extend(int::<u8>(v)?.to_le_bytes()),
        DType::Int16 => out.extend(int::<i16>(v)?.to_le_bytes()),
        DType::Int32 => out.extend(int::<i32>(v)?.to_le_bytes()),
        DType::Int64 => out.extend(int::<i64>(v)?.to_le_bytes()),
        DType::Bool => out.push(u8::from(v.as_bool().ok_or("is not true or false")?)),
    }
    Ok(())
}

fn requested_outputs(
    params: &Map<String, Value>,
    requested: Option<Vec<OutputRequestJson>>,
    spec: &ModelSpec,
) -> Result<Vec<RequestedOutput>, WireError> {
    let binary_default = match params.get(param::BINARY_DATA_OUTPUT) {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| WireError::bad("parameter `binary_data_output` must be true or false"))?,
    };
    let Some(requested) = requested else {
        return Ok(spec
            .outputs
            .iter()
            .map(|o| RequestedOutput { name: o.name.clone(), binary: binary_default })
            .collect());
    };
    let mut seen = HashSet::new();
    requested
        .into_iter()
        .map(|o| {
            if !spec.outputs.iter().any(|s| s.name == o.name) {
                return Err(tandem_model::Error::UnknownTensor {
                    name: o.name,
                    reason: format!("model `{}` has the outputs {:?}", spec.name, names(&spec.outputs)),
                }
                .into());
            }
            if !seen.insert(o.name.clone()) {
                return Err(WireError::bad(format!("output `{}` is requested twice", o.name)));
            }
            let params = o.parameters.unwrap_or_default();
            if params.contains_key("classification") {
                return Err(WireError::bad(format!(
                    "output `{}`: the classification extension is not supported",
                    o.name
                )));
            }
            let binary = match params.get(param::BINARY_DATA) {
                None => binary_default,
                Some(v) => v.as_bool().ok_or_else(|| {
                    WireError::bad(format!("output `{}`: `binary_data` must be true or false", o.name))
                })?,
            };
            Ok(RequestedOutput { name: o.name, binary })
        })
        .collect()
}

/// A tensor's data as a flat JSON array, written without building `serde_json::Value`s.
/// Non-finite floats become `null` (JSON has no NaN); ask for binary data to keep them.
struct JsonData<'a>(&'a NamedTensor);

impl Serialize for JsonData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let n = t.data.len() / t.dtype.size_bytes().max(1);
        let mut seq = s.serialize_seq(Some(n))?;
        macro_rules! each {
            ($ty:ty, $size:expr, $conv:expr) => {
                for c in t.data.chunks_exact($size) {
                    let v =
                        <$ty>::from_le_bytes(c.try_into().expect("chunks_exact yields chunks of this size"));
                    seq.serialize_element(&$conv(v))?;
                }
            };
        }
        match t.dtype {
            DType::Fp32 => each!(f32, 4, |v| v),
            DType::Fp16 => {
                for v in encoding::f16_bytes_to_f32(&t.data) {
                    seq.serialize_element(&v)?;
                }
            }
            DType::Fp64 => each!(f64, 8, |v| v),
            DType::Int8 => each!(i8, 1, |v| v),
            DType::Uint8 => each!(u8, 1, |v| v),
            DType::Int16 => each!(i16, 2, |v| v),
            DType::Int32 => each!(i32, 4, |v| v),
            DType::Int64 => each!(i64, 8, |v| v),
            DType::Bool => {
                for b in &t.data {
                    seq.serialize_element(&(*b != 0))?;
                }
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
pub(crate) struct TensorOut<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<JsonData<'a>>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    model_name: &'a str,
    model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    parameters: &'a Map<String, Value>,
    outputs: Vec<TensorOut<'a>>,
}

/// Writes JSON `tensors`, with the data of those marked binary appended after the JSON.
pub(crate) fn encode_tensors<'a>(
    tensors: &[(&'a NamedTensor, bool)],
    extra: &Map<String, Value>,
    per_tensor: &[Map<String, Value>],
) -> (Vec<TensorOut<'a>>, Vec<&'a [u8]>) {
    let mut binary = vec![];
    let out = tensors
        .iter()
        .zip(per_tensor)
        .map(|((t, is_binary), params)| {
            let mut parameters = params.clone();
            parameters.extend(extra.clone());
            if *is_binary {
                parameters.insert(param::BINARY_DATA_SIZE.into(), t.data.len().into());
                binary.push(t.data.as_slice());
            }
            TensorOut {
                name: &t.name,
                datatype: t.dtype.wire_name(),
                shape: &t.shape,
                parameters,
                data: (!is_binary).then_some(JsonData(t)),
            }
        })
        .collect();
    (out, binary)
}

pub(crate) fn join(json: Vec<u8>, binary: &[&[u8]]) -> EncodedBody {
    if binary.is_empty() {
        return EncodedBody { header_len: None, body: json };
    }
    let header_len = json.len();
    let mut body = json;
    body.reserve(binary.iter().map(|b| b.len()).sum());
    for b in binary {
        body.extend_from_slice(b);
    }
    EncodedBody { header_len: Some(header_len), body }
}

/// Encodes an inference response: the `requested` outputs (taken from `outputs` by name),
/// as JSON data or binary data, with the response `parameters`.
pub fn encode_infer_response(
    model_name: &str,
    id: Option<&str>,
    outputs: &[NamedTensor],
    requested: &[RequestedOutput],
    parameters: &Map<String, Value>,
) -> Result<EncodedBody, WireError> {
    let tensors =
        requested
            .iter()
            .map(|r| {
                outputs.iter().find(|o| o.name == r.name).map(|o| (o, r.binary)).ok_or_else(|| {
                    WireError::Internal(format!("the model did not produce output `{}`", r.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
    let empty = vec![Map::new(); tensors.len()];
    let (outputs, binary) = encode_tensors(&tensors, &Map::new(), &empty);
    let json = serde_json::to_vec(&ResponseOut { model_name, model_version: "1", id, parameters, outputs })
        .map_err(|e| WireError::Internal(format!("encoding the response: {e}")))?;
    Ok(join(json, &binary))
}

/// Options of a request made by [`encode_infer_request`].
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// A request id, echoed by the server.
    pub id: Option<String>,
    /// The model hash (`tandem_model_hash`); required for cuts other than 0.
    pub model_hash: Option<String>,
    /// Three tiers: the cut up to which the server runs before forwarding upstream.
    pub upstream_cut: Option<usize>,
    /// Ask for every output as binary data (`binary_data_output`).
    pub binary_outputs: bool,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    parameters: Map<String, Value>,
    inputs: Vec<TensorOut<'a>>,
}

/// Encodes an inference request whose inputs all travel as binary data, with their Tandem
/// encodings: what the offload client and a three-tier edge send.
pub fn encode_infer_request(inputs: &[EncodedTensor], options: &RequestOptions) -> EncodedBody {
    let mut parameters = Map::new();
    if let Some(h) = &options.model_hash {
        parameters.insert(param::MODEL_HASH.into(), h.clone().into());
    }
    if let Some(k) = options.upstream_cut {
        parameters.insert(param::UPSTREAM_CUT.into(), k.into());
    }
    parameters.insert(param::BINARY_DATA_OUTPUT.into(), options.binary_outputs.into());
    let tensors: Vec<(&NamedTensor, bool)> = inputs.iter().map(|e| (&e.tensor, true)).collect();
    let per_tensor: Vec<Map<String, Value>> = inputs
        .iter()
        .map(|e| {
            let mut p = Map::new();
            if e.encoding != Encoding::Fp32 {
                p.insert(param::ENCODING.into(), e.encoding.wire_name().into());
            }
            if let Some(q) = e.int8 {
                p.insert(param::SCALE.into(), f64::from(q.scale).into());
                p.insert(param::ZERO_POINT.into(), q.zero_point.into());
            }
            p
        })
        .collect();
    let (inputs, binary) = encode_tensors(&tensors, &Map::new(), &per_tensor);
    let json = serde_json::to_vec(&RequestOut { id: options.id.as_deref(), parameters, inputs })
        .expect("a request of names, numbers and strings always serializes");
    join(json, &binary)
}

/// A decoded inference response.
#[derive(Clone, Debug)]
pub struct InferResponse {
    /// The model that answered.
    pub model_name: String,
    /// The request id, if the request had one.
    pub id: Option<String>,
    /// The output tensors, in the response's order.
    pub outputs: Vec<NamedTensor>,
    /// The response parameters (`tandem_compute_ms`, ...).
    pub parameters: Map<String, Value>,
}

#[derive(Deserialize)]
struct ResponseJson {
    model_name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    outputs: Vec<InputJson>,
}

/// Decodes an inference response (JSON or binary outputs); `header_len` is the response's
/// `Inference-Header-Content-Length`.
pub fn decode_infer_response(header_len: Option<usize>, body: &[u8]) -> Result<InferResponse, WireError> {
    let json_len = header_len.unwrap_or(body.len());
    if json_len > body.len() {
        return Err(WireError::bad(format!(
            "Inference-Header-Content-Length is {json_len} but the body has only {} bytes",
            body.len()
        )));
    }
    let (json, mut binary) = body.split_at(json_len);
    let response: ResponseJson = serde_json::from_slice(json)
        .map_err(|e| WireError::bad(format!("malformed inference response JSON: {e}")))?;
    let outputs = response
        .outputs
        .into_iter()
        .map(|o| {
            let what = format!("output `{}`", o.name);
            let dtype = DType::from_wire_name(&o.datatype).ok_or_else(|| {
                WireError::bad(format!("{what}: datatype `{}` is not supported", o.datatype))
            })?;
            let shape = o
                .shape
                .iter()
                .map(|&d| {
                    usize::try_from(d).map_err(|_| WireError::bad(format!("{what}: negative dimension")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let elements = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| WireError::bad(format!("{what}: shape overflows")))?;
            let size = o.parameters.as_ref().and_then(|p| p.get(param::BINARY_DATA_SIZE));
            let data = match (size, o.data) {
                (Some(size), None) => {
                    let size = size
                        .as_u64()
                        .and_then(|s| usize::try_from(s).ok())
                        .filter(|s| *s <= binary.len())
                        .ok_or_else(|| WireError::bad(format!("{what}: bad binary_data_size")))?;
                    let (mine, rest) = binary.split_at(size);
                    binary = rest;
                    mine.to_vec()
                }
                (None, Some(data)) => json_to_bytes(&what, &data, dtype, elements)?,
                _ => {
                    return Err(WireError::bad(format!(
                        "{what}: needs exactly one of data and binary_data_size"
                    )))
                }
            };
            Ok(NamedTensor::new(o.name, dtype, shape, data)?)
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    if !binary.is_empty() {
        return Err(WireError::bad("binary data left over after the last output"));
    }
    Ok(InferResponse {
        model_name: response.model_name,
        id: response.id,
        outputs,
        parameters: response.parameters.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec() -> ModelSpec {
        let t = |name: &str, shape: Vec<usize>| TensorSpec { name: name.into(), dtype: DType::Fp32, shape };
        ModelSpec::new(
            "m",
            "ab12",
            vec![t("out", vec![1, 2])],
            vec![
                vec![t("x", vec![1, 3])],
                vec![t("a", vec![2]), t("b", vec![1, 2])],
                vec![t("out", vec![1, 2])],
            ],
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
                serde_json::json!({"parameters": {"tandem_upstream_cut": 0}, "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
                "must be a cut after",
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
        let json = r#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}"#;
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
            let enc = encode_infer_response("m", Some("id"), std::slice::from_ref(&out), &requested, &params)
                .unwrap();
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
            RequestOptions { model_hash: Some("ab12".into()), upstream_cut: Some(2), ..Default::default() };
        let enc = encode_infer_request(&inputs, &options);
        let r = decode_infer_request(&headers(enc.header_len), &enc.body, &spec()).unwrap();
        assert_eq!((r.cut, r.upstream_cut), (1, Some(2)));
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
}
