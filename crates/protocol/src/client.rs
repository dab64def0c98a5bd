//! The client half of the codec, for the phone: inference requests to a Tandem edge or to a
//! plain Open Inference Protocol server (binary or JSON tensor data, only the outputs asked
//! for), and the answers checked against the tensors the client expects.
//!
//! [`crate::wire::encode_infer_request`] is the request a Tandem server forwards (every
//! output, binary); [`encode_request`] adds what a phone needs besides: the outputs of an
//! exit only, and JSON data for servers without the binary extension.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tandem_model::encoding::{EncodedTensor, Encoding};
use tandem_model::{DType, NamedTensor, TensorSpec};

use crate::wire::{self, param, EncodedBody, RequestOptions, RequestedOutput, TensorOut};
use crate::WireError;

/// How the tensors of a request travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorData {
    /// The binary tensor data extension: a JSON header, then the tensors' bytes.
    Binary,
    /// JSON `data` arrays (for servers without the binary extension; non-finite floats,
    /// which JSON cannot carry, travel as `null`).
    Json,
}

#[derive(Serialize)]
struct OutputOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
    inputs: Vec<TensorOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outputs: Vec<OutputOut<'a>>,
}

/// The per-tensor parameters of an encoded tensor: its Tandem encoding, if not float32.
fn encoding_params(e: &EncodedTensor) -> Map<String, Value> {
    let mut p = Map::new();
    if e.encoding != Encoding::Fp32 {
        p.insert(param::ENCODING.into(), e.encoding.wire_name().into());
    }
    if let Some(q) = e.int8 {
        p.insert(param::SCALE.into(), f64::from(q.scale).into());
        p.insert(param::ZERO_POINT.into(), q.zero_point.into());
    }
    p
}

/// Encodes a client's inference request: `inputs` with their Tandem encodings (only float32
/// ones carry no parameter: what a plain server takes), the `options` parameters that are
/// set (`binary_data_output` only when true), and `outputs` (all the model's when empty).
pub fn encode_request(
    inputs: &[EncodedTensor],
    options: &RequestOptions,
    outputs: &[RequestedOutput],
    data: TensorData,
) -> EncodedBody {
    let mut parameters = wire::tandem_parameters(options);
    if options.binary_outputs {
        parameters.insert(param::BINARY_DATA_OUTPUT.into(), true.into());
    }
    let binary = data == TensorData::Binary;
    let tensors: Vec<(&NamedTensor, bool)> = inputs.iter().map(|e| (&e.tensor, binary)).collect();
    let per_tensor: Vec<Map<String, Value>> = inputs.iter().map(encoding_params).collect();
    let (inputs, binary_parts) = wire::encode_tensors(&tensors, &Map::new(), &per_tensor);
    let outputs = outputs
        .iter()
        .map(|o| {
            let mut parameters = Map::new();
            if o.binary {
                parameters.insert(param::BINARY_DATA.into(), true.into());
            }
            OutputOut { name: &o.name, parameters }
        })
        .collect();
    let request = RequestOut { id: options.id.as_deref(), parameters, inputs, outputs };
    let json =
        serde_json::to_vec(&request).expect("a request of names, numbers and strings always serializes");
    wire::join(json, &binary_parts)
}

/// What a Tandem edge says about its own work on a request (response parameters; 0 or
/// `None` when absent, as from a plain server).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeTimes {
    /// Milliseconds the edge spent running its part.
    pub compute_ms: f64,
    /// Milliseconds the request waited for a compute slot.
    pub queue_ms: f64,
    /// Milliseconds spent getting the built part (0 when cached).
    pub prepare_ms: f64,
    /// The cut the edge ran after.
    pub cut: Option<usize>,
    /// Three tiers: the cut where the cloud server took over (absent when it did not).
    pub cloud_cut: Option<usize>,
    /// Three tiers: the edge's round trip to the cloud server, ms.
    pub cloud_ms: Option<f64>,
    /// Three tiers: the cloud server's own compute time, ms.
    pub cloud_compute_ms: Option<f64>,
    /// Three tiers: why the edge finished the request itself instead of the cloud.
    pub cloud_fallback_reason: Option<String>,
}

impl EdgeTimes {
    /// The times among a response's parameters (negative or non-finite numbers read as 0).
    pub fn from_parameters(parameters: &Map<String, Value>) -> Self {
        let number = |key: &str| {
            parameters.get(key).and_then(Value::as_f64).filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(0.0)
        };
        EdgeTimes {
            compute_ms: number(param::COMPUTE_MS),
            queue_ms: number(param::QUEUE_MS),
            prepare_ms: number(param::PREPARE_MS),
            cut: parameters.get(param::CUT).and_then(Value::as_u64).and_then(|c| usize::try_from(c).ok()),
            cloud_cut: parameters
                .get(param::CLOUD_CUT)
                .and_then(Value::as_u64)
                .and_then(|c| usize::try_from(c).ok()),
            cloud_ms: parameters.get(param::CLOUD_MS).map(|_| number(param::CLOUD_MS)),
            cloud_compute_ms: parameters
                .get(param::CLOUD_COMPUTE_MS)
                .map(|_| number(param::CLOUD_COMPUTE_MS)),
            cloud_fallback_reason: parameters
                .get(param::CLOUD_FALLBACK_REASON)
                .and_then(Value::as_str)
                .map(|s| s.chars().take(500).collect()),
        }
    }
}

/// An answer checked against the outputs the client expects.
#[derive(Clone, Debug)]
pub struct CheckedAnswer {
    /// The outputs, in the expected order.
    pub outputs: Vec<NamedTensor>,
    /// What the edge said about its work.
    pub times: EdgeTimes,
    /// The answer's parameters as sent.
    pub parameters: Map<String, Value>,
}

#[derive(Deserialize)]
struct AnswerHeader {
    outputs: Vec<OutputHeader>,
}

#[derive(Deserialize)]
struct OutputHeader {
    name: String,
    datatype: String,
    shape: Vec<i64>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<IgnoredAny>,
}

/// Decodes an inference response and checks it against `expected` (names, dtypes, shapes and
/// byte counts, any order, each exactly once) before any tensor data is decoded; returns the
/// outputs in `expected`'s order. `header_len`: the response's
/// `Inference-Header-Content-Length`.
pub fn decode_answer(
    header_len: Option<usize>,
    body: &[u8],
    expected: &[TensorSpec],
) -> Result<CheckedAnswer, WireError> {
    let json_len = header_len.unwrap_or(body.len());
    if json_len > body.len() {
        return Err(WireError::bad(format!(
            "Inference-Header-Content-Length is {json_len} but the body has {} bytes",
            body.len()
        )));
    }
    let (json, binary) = body.split_at(json_len);
    let header: AnswerHeader =
        serde_json::from_slice(json).map_err(|e| WireError::bad(format!("the answer is not JSON: {e}")))?;
    check_outputs(&header.outputs, expected, binary.len())?;
    let response = wire::decode_infer_response(header_len, body)?;
    let mut found: Vec<Option<NamedTensor>> = vec![None; expected.len()];
    for t in response.outputs {
        let slot = expected.iter().position(|e| e.name == t.name).expect("checked against expected");
        found[slot] = Some(t);
    }
    let outputs = found.into_iter().map(|t| t.expect("checked: every expected output is there")).collect();
    let times = EdgeTimes::from_parameters(&response.parameters);
    Ok(CheckedAnswer { outputs, times, parameters: response.parameters })
}

/// Checks the answer's outputs against `expected`, and their binary sizes against the
/// `binary_len` bytes that follow the JSON.
fn check_outputs(
    outputs: &[OutputHeader],
    expected: &[TensorSpec],
    binary_len: usize,
) -> Result<(), WireError> {
    let mut seen = vec![false; expected.len()];
    let mut remaining = binary_len;
    for o in outputs {
        let name = &o.name;
        let slot = expected
            .iter()
            .position(|e| &e.name == name)
            .ok_or_else(|| WireError::bad(format!("unexpected output `{name}`")))?;
        if std::mem::replace(&mut seen[slot], true) {
            return Err(WireError::bad(format!("output `{name}` is given twice")));
        }
        let spec = &expected[slot];
        let dtype = DType::from_wire_name(&o.datatype)
            .ok_or_else(|| WireError::bad(format!("output `{name}`: unknown datatype `{}`", o.datatype)))?;
        let shape_fits = o.shape.len() == spec.shape.len()
            && o.shape.iter().zip(&spec.shape).all(|(g, e)| usize::try_from(*g).ok() == Some(*e));
        if dtype != spec.dtype || !shape_fits {
            return Err(WireError::bad(format!(
                "output `{name}` is {dtype} {:?}, the model makes {} {:?}",
                o.shape, spec.dtype, spec.shape
            )));
        }
        let size = o.parameters.as_ref().and_then(|p| p.get(param::BINARY_DATA_SIZE));
        match (size, &o.data) {
            (Some(size), None) => {
                let wire_bytes = spec.bytes() as usize;
                let size = size.as_u64().and_then(|s| usize::try_from(s).ok()).filter(|s| *s == wire_bytes);
                let size = size.ok_or_else(|| {
                    WireError::bad(format!("output `{name}`: binary_data_size is not {wire_bytes}"))
                })?;
                if size > remaining {
                    return Err(WireError::bad(format!(
                        "output `{name}`: {size} bytes announced, {remaining} remain"
                    )));
                }
                remaining -= size;
            }
            (None, Some(_)) => {}
            _ => {
                return Err(WireError::bad(format!(
                    "output `{name}` needs exactly one of data and binary_data_size"
                )))
            }
        }
    }
    if remaining > 0 {
        return Err(WireError::bad(format!("{remaining} bytes of binary data left after the last output")));
    }
    match expected.iter().zip(&seen).find(|(_, seen)| !**seen) {
        Some((e, _)) => Err(WireError::bad(format!("output `{}` is missing", e.name))),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
struct ModelMetadata {
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The model hash a server's model metadata (`GET /v2/models/{m}`) names, lowercase;
/// `None` when it names none (not a Tandem server).
pub fn decode_model_hash(metadata: &[u8]) -> Result<Option<String>, WireError> {
    let metadata: ModelMetadata = serde_json::from_slice(metadata)
        .map_err(|e| WireError::bad(format!("the model metadata is not JSON: {e}")))?;
    match metadata.parameters.as_ref().and_then(|p| p.get(param::MODEL_HASH)) {
        None => Ok(None),
        Some(Value::String(h)) => Ok(Some(h.to_ascii_lowercase())),
        Some(_) => Err(WireError::bad(format!("the model metadata's {} is not a string", param::MODEL_HASH))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tandem_model::encoding;

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
        let enc = [encoding::encode(&t, Encoding::Fp16).unwrap()];
        let options = RequestOptions {
            id: Some("7".into()),
            model_hash: Some("ab".into()),
            binary_outputs: true,
            ..Default::default()
        };
        let out = [RequestedOutput { name: "out".into(), binary: true }];
        let r = encode_request(&enc, &options, &out, TensorData::Binary);
        let header_len = r.header_len.expect("binary");
        let header: Value = serde_json::from_slice(&r.body[..header_len]).unwrap();
        assert_eq!(header["parameters"][param::MODEL_HASH], "ab");
        assert_eq!(header["inputs"][0]["datatype"], "FP16");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 4);
        assert_eq!(header["inputs"][0]["parameters"][param::ENCODING], "fp16");
        assert_eq!(header["outputs"][0]["name"], "out");
        assert_eq!(r.body.len(), header_len + 4);
    }

    #[test]
    fn json_requests_carry_data_and_only_the_parameters_set() {
        let t = NamedTensor::from_f32("x", vec![3], &[0.1, f32::NAN, 7.0]).unwrap();
        let enc = [encoding::encode(&t, Encoding::Fp32).unwrap()];
        let r = encode_request(&enc, &RequestOptions::default(), &[], TensorData::Json);
        assert_eq!(r.header_len, None);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let data = &v["inputs"][0]["data"];
        // float32 values are written shortest (`0.1`) and read back exactly; NaN is null
        assert_eq!(
            (data[0].as_f64().map(|x| x as f32), &data[1], data[2].as_f64()),
            (Some(0.1f32), &Value::Null, Some(7.0))
        );
        assert!(v.get("parameters").is_none() && v.get("outputs").is_none() && v.get("id").is_none());
    }

    #[test]
    fn decodes_binary_and_json_outputs_in_expected_order() {
        let expected = [spec("a", vec![2]), spec("b", vec![1])];
        let data: Vec<u8> = [3.0f32, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (len, b) = body(
            json!({"model_name": "m", "parameters": {param::COMPUTE_MS: 2.5, param::QUEUE_MS: 1, param::CUT: 4},
                   "outputs": [{"name": "b", "datatype": "FP32", "shape": [1], "data": [7.5]},
                               {"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
            &data,
        );
        let d = decode_answer(len, &b, &expected).expect("valid");
        assert_eq!(d.outputs[0].to_f32().unwrap(), [3.0, 4.0]);
        assert_eq!(d.outputs[1].to_f32().unwrap(), [7.5]);
        assert_eq!((d.times.compute_ms, d.times.queue_ms, d.times.cut), (2.5, 1.0, Some(4)));
    }

    #[test]
    fn refuses_answers_that_do_not_fit() {
        let expected = [spec("a", vec![2])];
        let eight = [0u8; 8];
        let cases: Vec<(Option<usize>, Vec<u8>, &str)> = vec![
            {
                let (l, b) = body(
                    json!({"model_name": "m", "outputs": [{"name": "a", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 12}}]}),
                    &[0; 12],
                );
                (l, b, "the model makes")
            },
            {
                let (l, b) = body(
                    json!({"model_name": "m", "outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
                    &eight[..5],
                );
                (l, b, "5 remain")
            },
            {
                let (l, b) = body(
                    json!({"model_name": "m", "outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 4}}]}),
                    &eight[..4],
                );
                (l, b, "binary_data_size is not")
            },
            {
                let (l, b) = body(
                    json!({"model_name": "m", "outputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}),
                    &[],
                );
                (l, b, "unexpected output")
            },
            {
                let (l, b) = body(json!({"model_name": "m", "outputs": []}), &[]);
                (l, b, "missing")
            },
            {
                let (l, b) = body(
                    json!({"model_name": "m", "outputs": [{"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}),
                    &[0; 9],
                );
                (l, b, "left after")
            },
            (None, b"<html>oops</html>".to_vec(), "not JSON"),
            (Some(999), b"{}".to_vec(), "Inference-Header-Content-Length"),
        ];
        for (len, b, want) in cases {
            let err = decode_answer(len, &b, &expected).expect_err("refused").to_string();
            assert!(err.contains(want), "`{err}` lacks `{want}`");
        }
    }

    #[test]
    fn model_hashes_of_tandem_and_plain_servers() {
        let tandem = json!({"name": "m", "parameters": {param::MODEL_HASH: "AB12"}}).to_string();
        assert_eq!(decode_model_hash(tandem.as_bytes()).unwrap().as_deref(), Some("ab12"));
        assert_eq!(decode_model_hash(br#"{"name": "m"}"#).unwrap(), None);
        let bad = json!({"parameters": {param::MODEL_HASH: 7}}).to_string();
        assert!(decode_model_hash(bad.as_bytes()).is_err());
    }
}
