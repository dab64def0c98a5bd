//! Decoding an inference response (the phone's side, and a three-tier edge reading the
//! cloud's answer).

use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_model::{DType, NamedTensor};

use super::json::{self, Bounded, TensorJson, MAX_TENSORS};
use super::param;
use crate::error::WireError;

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
struct ResponseJson<'a> {
    model_name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    outputs: Bounded<TensorJson<'a>, MAX_TENSORS>,
}

/// Decodes an inference response (JSON or binary outputs); `header_len` is the response's
/// `Inference-Header-Content-Length`. Parameters under their old names
/// (`tandem_upstream_ms`, ...) are also given under the new ones (`tandem_cloud_ms`, ...).
pub fn decode_infer_response(header_len: Option<usize>, body: &[u8]) -> Result<InferResponse, WireError> {
    let json_len = header_len.unwrap_or(body.len());
    if json_len > body.len() {
        return Err(WireError::bad(format!(
            "Inference-Header-Content-Length is {json_len} but the body has only {} bytes",
            body.len()
        )));
    }
    let (json, mut binary) = body.split_at(json_len);
    let response: ResponseJson<'_> = serde_json::from_slice(json)
        .map_err(|e| WireError::bad(format!("malformed inference response JSON: {e}")))?;
    let outputs = response
        .outputs
        .0
        .into_iter()
        .map(|o| decode_output(o, &mut binary))
        .collect::<Result<Vec<_>, WireError>>()?;
    if !binary.is_empty() {
        return Err(WireError::bad("binary data left over after the last output"));
    }
    let mut parameters = response.parameters.unwrap_or_default();
    for (old, new) in param::RENAMED {
        if !parameters.contains_key(new) {
            if let Some(v) = parameters.get(old).cloned() {
                parameters.insert(new.into(), v);
            }
        }
    }
    Ok(InferResponse { model_name: response.model_name, id: response.id, outputs, parameters })
}

fn decode_output(o: TensorJson<'_>, binary: &mut &[u8]) -> Result<NamedTensor, WireError> {
    let what = format!("output `{}`", o.name);
    let dtype = DType::from_wire_name(&o.datatype).ok_or_else(|| {
        WireError::bad(format!("{what}: datatype `{}` is not supported", json::shorten(&o.datatype)))
    })?;
    let shape = o
        .shape
        .0
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| WireError::bad(format!("{what}: negative dimension"))))
        .collect::<Result<Vec<_>, _>>()?;
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| WireError::bad(format!("{what}: shape overflows")))?;
    let params = o.parameters.unwrap_or_default();
    let data = match (params.contains(param::BINARY_DATA_SIZE), o.data) {
        (true, None) => {
            let size = params
                .get::<u64>(param::BINARY_DATA_SIZE)
                .and_then(Result::ok)
                .and_then(|s| usize::try_from(s).ok())
                .filter(|s| *s <= binary.len())
                .ok_or_else(|| WireError::bad(format!("{what}: bad binary_data_size")))?;
            let (mine, rest) = binary.split_at(size);
            *binary = rest;
            mine.to_vec()
        }
        (false, Some(data)) => {
            json::parse_data(data, dtype, &shape).map_err(|e| WireError::bad(format!("{what}: {e}")))?
        }
        _ => return Err(WireError::bad(format!("{what}: needs exactly one of data and binary_data_size"))),
    };
    Ok(NamedTensor::new(o.name, dtype, shape, data)?)
}
