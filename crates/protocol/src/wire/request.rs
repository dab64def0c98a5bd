//! Decoding an inference request: the JSON part's structure first, every check against the
//! model next, and only then the tensor data (see [`super::json`] for the memory bound).

use std::collections::HashSet;

use tandem_model::encoding::{self, EncodedTensor, Encoding, Int8Params};
use tandem_model::{DType, NamedTensor, TensorSpec};

use super::json::{self, OutputRequestJson, Params, RequestJson, TensorJson};
use super::{param, InferRequest, ModelSpec, RequestedOutput, HEADER_CONTENT_LENGTH};
use crate::error::WireError;
use http::HeaderMap;

/// The JSON part's length: the `Inference-Header-Content-Length` header, or `None` when the
/// body is JSON alone. The header must appear once and be a plain decimal byte count (no
/// sign, no spaces, at most 19 digits) no larger than the body.
pub fn header_len(headers: &HeaderMap, body_len: usize) -> Result<Option<usize>, WireError> {
    let mut values = headers.get_all(HEADER_CONTENT_LENGTH).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(WireError::bad("Inference-Header-Content-Length is given more than once"));
    }
    let len = parse_byte_count(value.as_bytes())
        .ok_or_else(|| WireError::bad("Inference-Header-Content-Length is not a byte count"))?;
    if len > body_len {
        return Err(WireError::bad(format!(
            "Inference-Header-Content-Length is {len} but the body has only {body_len} bytes"
        )));
    }
    Ok(Some(len))
}

/// A decimal byte count written plainly: ASCII digits only, 1 to 19 of them.
pub fn parse_byte_count(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Decodes and validates an inference request for `spec`: splits the JSON header from the
/// binary tensor data, picks the cut from the input names, checks the model hash, every
/// tensor's name, dtype, shape and length, and decodes Tandem encodings to the model's dtype.
///
/// Memory: the body plus, per input, a buffer of the size the model gives that tensor
/// (allocated only once its name, dtype and shape were checked), plus a few bytes per name,
/// dimension and parameter (each list capped). No JSON value tree is built.
pub fn decode_infer_request(
    headers: &HeaderMap,
    body: &[u8],
    spec: &ModelSpec,
) -> Result<InferRequest, WireError> {
    let json_len = header_len(headers, body.len())?;
    let (json, mut binary) = body.split_at(json_len.unwrap_or(body.len()));
    let request: RequestJson<'_> = serde_json::from_slice(json)
        .map_err(|e| WireError::bad(format!("malformed inference request JSON: {e}")))?;
    let params = request.parameters.unwrap_or_default();
    let known = [param::MODEL_HASH, param::CLOUD_CUT, param::UPSTREAM_CUT, param::CLOUD_TIMEOUT_MS];
    check_tandem_params(&params, "the request", &known)?;
    let model_hash = check_model_hash(&params, spec)?;

    let inputs_json = request.inputs.0;
    if inputs_json.is_empty() {
        return Err(WireError::bad("the request has no inputs"));
    }
    let cut = choose_cut(&inputs_json, spec)?;
    if cut != 0 && model_hash.is_none() {
        return Err(WireError::bad(format!(
            "parameter `tandem_model_hash` is required with the tensors of cut {cut}: they \
             only mean something for the model file they were cut from"
        )));
    }
    let cloud_cut = cloud_cut(&params, cut, spec)?;
    let cloud_timeout_ms = match params.get::<u64>(param::CLOUD_TIMEOUT_MS) {
        None => None,
        Some(Ok(ms)) if cloud_cut.is_some() => Some(ms),
        Some(Ok(_)) => {
            return Err(WireError::bad("parameter `tandem_cloud_timeout_ms` needs `tandem_cloud_cut`"))
        }
        Some(Err(_)) => {
            return Err(WireError::bad("parameter `tandem_cloud_timeout_ms` must be a whole number of ms"))
        }
    };

    let mut inputs = Vec::with_capacity(inputs_json.len());
    let mut encodings = Vec::with_capacity(inputs_json.len());
    for input in inputs_json {
        let expected = spec.cuts[cut]
            .iter()
            .find(|t| t.name == input.name)
            .ok_or_else(|| WireError::Internal(format!("cut {cut} lost input `{}`", input.name)))?;
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

    let outputs = requested_outputs(&params, request.outputs.map(|o| o.0), spec)?;
    Ok(InferRequest {
        id: request.id,
        cut,
        inputs,
        encodings,
        outputs,
        cloud_cut,
        cloud_timeout_ms,
        model_hash,
    })
}

/// The request's `tandem_model_hash`: hex, and the served model's (case aside).
fn check_model_hash(params: &Params<'_>, spec: &ModelSpec) -> Result<Option<String>, WireError> {
    let hash = match params.get::<String>(param::MODEL_HASH) {
        None => return Ok(None),
        Some(Ok(h)) => h,
        Some(Err(_)) => return Err(WireError::bad("parameter `tandem_model_hash` must be a string")),
    };
    if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::bad(format!(
            "parameter `tandem_model_hash` must be the hex SHA-256 of the model file, got \"{}\"",
            json::shorten(&hash)
        )));
    }
    if !hash.eq_ignore_ascii_case(&spec.hash) {
        return Err(WireError::HashMismatch {
            model: spec.name.clone(),
            served: spec.hash.clone(),
            got: hash,
        });
    }
    Ok(Some(hash))
}

/// The cut whose crossing tensors are exactly the inputs' names.
fn choose_cut(inputs: &[TensorJson<'_>], spec: &ModelSpec) -> Result<usize, WireError> {
    let mut seen = HashSet::new();
    for input in inputs {
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
    let given: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    spec.cut_by_names(&given).ok_or_else(|| {
        WireError::bad(format!(
            "the inputs {given:?} are not the tensors crossing any cut of model `{}`: send its \
             inputs {:?}, or exactly the tensors of one cut (see `tandem cuts`)",
            spec.name,
            names(&spec.cuts[0])
        ))
    })
}

/// `tandem_cloud_cut` (or its old name `tandem_upstream_cut`): the request's cut (the server
/// relays the tensors as they are) or a later one.
fn cloud_cut(params: &Params<'_>, cut: usize, spec: &ModelSpec) -> Result<Option<usize>, WireError> {
    let name = match (params.contains(param::CLOUD_CUT), params.contains(param::UPSTREAM_CUT)) {
        (false, false) => return Ok(None),
        (true, true) => {
            return Err(WireError::bad(
                "give `tandem_cloud_cut` or its old name `tandem_upstream_cut`, not both",
            ))
        }
        (true, false) => param::CLOUD_CUT,
        (false, true) => param::UPSTREAM_CUT,
    };
    let k = params
        .get::<u64>(name)
        .and_then(Result::ok)
        .and_then(|k| usize::try_from(k).ok())
        .ok_or_else(|| WireError::bad(format!("parameter `{name}` must be a cut id")))?;
    if k < cut || k > spec.last_cut() {
        return Err(WireError::bad(format!(
            "parameter `{name}` must be a cut from the request's cut {cut} to {}, got {k}",
            spec.last_cut()
        )));
    }
    Ok(Some(k))
}

pub(crate) fn names(specs: &[TensorSpec]) -> Vec<&str> {
    specs.iter().map(|s| s.name.as_str()).collect()
}

/// Refuses `tandem_*` parameters this server does not know: a typo must not silently turn
/// a check off.
fn check_tandem_params(params: &Params<'_>, what: &str, known: &[&str]) -> Result<(), WireError> {
    match params.keys().find(|k| k.starts_with("tandem_") && !known.contains(k)) {
        Some(k) => Err(WireError::bad(format!("unknown parameter `{k}` in {what} (known: {known:?})"))),
        None => Ok(()),
    }
}

/// The input's Tandem encoding and, for int8, its quantization.
fn input_encoding(
    params: &Params<'_>,
    what: &str,
    expected: &TensorSpec,
) -> Result<(Encoding, Option<Int8Params>), WireError> {
    check_tandem_params(params, what, &[param::ENCODING, param::SCALE, param::ZERO_POINT])?;
    let encoding = match params.get::<String>(param::ENCODING) {
        None => Encoding::Fp32,
        Some(v) => v.as_deref().ok().and_then(Encoding::from_wire_name).ok_or_else(|| {
            let got = match v {
                Ok(s) => format!("\"{}\"", json::shorten(&s)),
                Err(raw) => raw,
            };
            WireError::bad(format!(
                "{what}: `tandem_encoding` must be one of {:?}, got {got}",
                Encoding::ALL.map(Encoding::wire_name)
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
            let scale = params.get::<f64>(param::SCALE).and_then(Result::ok);
            let zero_point = params.get::<i64>(param::ZERO_POINT).and_then(Result::ok);
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
        _ if params.contains(param::SCALE) || params.contains(param::ZERO_POINT) => {
            return Err(WireError::bad(format!(
                "{what}: `tandem_scale` and `tandem_zero_point` go with `tandem_encoding: \"int8\"` only"
            )))
        }
        _ => None,
    };
    Ok((encoding, int8))
}

fn decode_input(
    input: TensorJson<'_>,
    expected: &TensorSpec,
    binary: &mut &[u8],
    has_binary_part: bool,
) -> Result<(NamedTensor, Encoding), WireError> {
    let name = input.name;
    let what = format!("input `{name}`");
    let params = input.parameters.unwrap_or_default();
    let (encoding, int8) = input_encoding(&params, &what, expected)?;

    let wire_dtype = if expected.dtype == DType::Fp32 { encoding.wire_dtype() } else { expected.dtype };
    let dtype = DType::from_wire_name(&input.datatype).ok_or_else(|| {
        WireError::bad(format!("{what}: datatype `{}` is not supported", json::shorten(&input.datatype)))
    })?;
    if dtype != wire_dtype {
        return Err(tandem_model::Error::DType {
            tensor: name,
            expected: format!("{wire_dtype} (the model's {} as {encoding})", expected.dtype),
            got: dtype.to_string(),
        }
        .into());
    }
    let shape = input.shape.0;
    let wire_shape = match packed_shape(&shape, encoding, expected) {
        Some(s) => s,
        None if encoding.is_packed() => {
            return Err(WireError::bad(format!(
                "{what}: a {encoding} payload is a UINT8 tensor of shape [n] with n at most {} for this cut, got {shape:?}",
                tandem_model::codec::max_payload_len(&expected.shape)
            )))
        }
        None => expected.shape.clone(),
    };
    let shape_matches = shape.len() == wire_shape.len()
        && shape.iter().zip(&wire_shape).all(|(g, e)| usize::try_from(*g).ok() == Some(*e));
    if !shape_matches {
        return Err(WireError::bad(format!(
            "{what}: shape {shape:?} does not match the shape {:?} this cut carries",
            expected.shape
        )));
    }
    let wire_bytes = wire_shape.iter().product::<usize>() * dtype.size_bytes();

    let data = match (params.contains(param::BINARY_DATA_SIZE), input.data) {
        (true, Some(_)) => {
            return Err(WireError::bad(format!("{what}: has both `data` and `binary_data_size`")))
        }
        (false, None) => {
            return Err(WireError::bad(format!("{what}: has neither `data` nor `binary_data_size`")))
        }
        (true, None) => {
            if !has_binary_part {
                return Err(WireError::bad(format!(
                    "{what}: `binary_data_size` needs the Inference-Header-Content-Length header"
                )));
            }
            let size = params
                .get::<u64>(param::BINARY_DATA_SIZE)
                .and_then(Result::ok)
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| WireError::bad(format!("{what}: `binary_data_size` must be a byte count")))?;
            if size != wire_bytes {
                return Err(tandem_model::Error::BadTensor {
                    tensor: name,
                    reason: format!(
                        "binary_data_size is {size} bytes, but {dtype} {wire_shape:?} needs {wire_bytes}"
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
        (false, Some(data)) => {
            json::parse_data(data, dtype, &wire_shape).map_err(|e| WireError::bad(format!("{what}: {e}")))?
        }
    };
    let wire = NamedTensor::new(name, dtype, wire_shape, data)?;
    let tensor = encoding::decode_as(EncodedTensor { tensor: wire, encoding, int8 }, &expected.shape)?;
    Ok((tensor, encoding))
}

/// A packed codec's wire shape, `[n]`, when the request's shape is one dimension no larger
/// than the cut's largest payload; `None` otherwise (and for the other encodings).
fn packed_shape(shape: &[i64], encoding: Encoding, expected: &TensorSpec) -> Option<Vec<usize>> {
    if !encoding.is_packed() {
        return None;
    }
    match shape {
        [n] => usize::try_from(*n)
            .ok()
            .filter(|n| *n <= tandem_model::codec::max_payload_len(&expected.shape))
            .map(|n| vec![n]),
        _ => None,
    }
}

fn requested_outputs(
    params: &Params<'_>,
    requested: Option<Vec<OutputRequestJson<'_>>>,
    spec: &ModelSpec,
) -> Result<Vec<RequestedOutput>, WireError> {
    let binary_default = match params.get::<bool>(param::BINARY_DATA_OUTPUT) {
        None => false,
        Some(v) => v.map_err(|_| WireError::bad("parameter `binary_data_output` must be true or false"))?,
    };
    let Some(requested) = requested else {
        return Ok(spec
            .outputs
            .iter()
            .map(|o| RequestedOutput { name: o.name.clone(), binary: binary_default })
            .collect());
    };
    if requested.is_empty() {
        return Err(WireError::bad(
            "`outputs` is empty: name at least one output, or leave `outputs` out to get them all",
        ));
    }
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
            if params.contains("classification") {
                return Err(WireError::bad(format!(
                    "output `{}`: the classification extension is not supported",
                    o.name
                )));
            }
            let binary = match params.get::<bool>(param::BINARY_DATA) {
                None => binary_default,
                Some(v) => v.map_err(|_| {
                    WireError::bad(format!("output `{}`: `binary_data` must be true or false", o.name))
                })?,
            };
            Ok(RequestedOutput { name: o.name, binary })
        })
        .collect()
}
