//! Three tiers: forwarding the tensors crossing a later cut to another Tandem server (the
//! cloud tier) with the same protocol, and reading back its outputs.

use std::time::Instant;

use tandem_model::encoding::{self, Encoding};
use tandem_model::NamedTensor;

use crate::error::EdgeError;
use tandem_protocol::wire::{self, InferResponse, RequestOptions, HEADER_CONTENT_LENGTH};

/// The cloud server and the client that talks to it.
pub(crate) struct Cloud {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// What came back from the cloud server.
pub(crate) struct Forwarded {
    pub response: InferResponse,
    /// Round trip, in milliseconds.
    pub round_trip_ms: f64,
}

impl Cloud {
    /// A client for the server at `url` (`http://` or `https://`, no path), trusting the
    /// system's web PKI roots plus `root_cert_pem` if given.
    pub(crate) fn new(
        url: &str,
        token: Option<String>,
        root_cert_pem: Option<&[u8]>,
    ) -> Result<Cloud, EdgeError> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(EdgeError::Config(format!(
                "cloud server `{url}` must start with http:// or https://"
            )));
        }
        let mut builder = reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(60));
        if let Some(pem) = root_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| EdgeError::Config(format!("cloud CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| EdgeError::Config(format!("cloud client: {e}")))?;
        Ok(Cloud { url, token, client })
    }

    /// The cloud server's base URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Sends the tensors crossing `cut` of `model` (float32, binary) and returns the model
    /// outputs the cloud server computed.
    pub(crate) async fn forward(
        &self,
        model: &str,
        model_hash: &str,
        crossing: &[NamedTensor],
    ) -> Result<Forwarded, EdgeError> {
        let failed = |reason: String| EdgeError::Cloud { url: self.url.clone(), reason };
        let inputs =
            crossing.iter().map(|t| encoding::encode(t, Encoding::Fp32)).collect::<Result<Vec<_>, _>>()?;
        let options = RequestOptions {
            model_hash: Some(model_hash.into()),
            binary_outputs: true,
            ..Default::default()
        };
        let body = wire::encode_infer_request(&inputs, &options);
        let mut request = self
            .client
            .post(format!("{}/v2/models/{model}/infer", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body.body);
        if let Some(len) = body.header_len {
            request = request.header(HEADER_CONTENT_LENGTH, len);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let start = Instant::now();
        let response = request.send().await.map_err(|e| failed(format!("unreachable: {e}")))?;
        let status = response.status();
        let header_len = response
            .headers()
            .get(HEADER_CONTENT_LENGTH)
            .map(|v| wire::parse_byte_count(v.as_bytes()))
            .map(|len| len.ok_or_else(|| failed("bad Inference-Header-Content-Length".into())))
            .transpose()?;
        let bytes = response.bytes().await.map_err(|e| failed(format!("reading the response: {e}")))?;
        let round_trip_ms = start.elapsed().as_secs_f64() * 1e3;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned());
            return Err(failed(format!("answered {status}: {message}")));
        }
        let response = wire::decode_infer_response(header_len, &bytes)
            .map_err(|e| failed(format!("malformed response: {e}")))?;
        Ok(Forwarded { response, round_trip_ms })
    }
}
