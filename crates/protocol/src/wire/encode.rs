//! Encoding requests and responses: JSON tensors written straight from their bytes, binary
//! tensor data appended after the JSON part.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use tandem_model::encoding::{self, EncodedTensor, Encoding};
use tandem_model::{DType, NamedTensor};

use super::{param, EncodedBody, RequestedOutput};
use crate::error::WireError;

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
    pub cloud_cut: Option<usize>,
    /// Three tiers: the longest the server may wait for the cloud, ms.
    pub cloud_timeout_ms: Option<u64>,
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

/// The request's Tandem parameters that `options` sets: the model hash, the cloud cut and
/// its timeout.
pub(crate) fn tandem_parameters(options: &RequestOptions) -> Map<String, Value> {
    let mut parameters = Map::new();
    if let Some(h) = &options.model_hash {
        parameters.insert(param::MODEL_HASH.into(), h.clone().into());
    }
    if let Some(k) = options.cloud_cut {
        parameters.insert(param::CLOUD_CUT.into(), k.into());
    }
    if let Some(ms) = options.cloud_timeout_ms.filter(|_| options.cloud_cut.is_some()) {
        parameters.insert(param::CLOUD_TIMEOUT_MS.into(), ms.into());
    }
    parameters
}

/// Encodes an inference request whose inputs all travel as binary data, with their Tandem
/// encodings: what the offload client and a three-tier edge send.
pub fn encode_infer_request(inputs: &[EncodedTensor], options: &RequestOptions) -> EncodedBody {
    let mut parameters = tandem_parameters(options);
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
