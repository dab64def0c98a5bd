//! Three tiers: forwarding the tensors crossing a later cut to the cloud tier, and reading
//! back its outputs; and keeping what the phone needs to plan three tiers fresh in the
//! background. The cloud is either another Tandem server (same protocol; its profile of each
//! served model is fetched and the link measured with its probe endpoints), or a plain Open
//! Inference Protocol server (KServe, Triton) serving a `tandem export` repository: then the
//! request at cut K goes to the exported part `NAME_cutK` with no Tandem parameter, the cloud
//! takes over only at the exported cuts it has ready, its times are estimated by this
//! server's own, and the link's rates are the operator's declaration (the round trip is
//! measured).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tandem_protocol::client::{self, TensorData};
use tandem_protocol::manifest::Manifest;
use tandem_protocol::profile::{CloudInfo, CloudLink, EdgeProfile};
use tokio::sync::watch;

use tandem_model::encoding::{self, Encoding};
use tandem_model::{NamedTensor, TensorSpec};

use crate::error::EdgeError;
use tandem_protocol::wire::{self, RequestOptions, HEADER_CONTENT_LENGTH};

/// Bytes sent and asked for by each probe of the edge-to-cloud link.
const PROBE_BYTES: usize = 128 * 1024;

/// The cloud server and the client that talks to it.
pub(crate) struct Cloud {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The longest to wait for the cloud's answer before finishing a request here.
    timeout: Duration,
    /// A plain OIP cloud: what it serves and the declared link rate.
    plain: Option<PlainCloud>,
    known: Mutex<Known>,
}

/// A plain OIP cloud serving a `tandem export` repository.
pub(crate) struct PlainCloud {
    /// The repository's manifest: which parts are served under which names.
    pub manifest: Manifest,
    /// The edge-to-cloud rate each way, Mbps, as the operator declares it.
    pub link_mbps: f64,
}

/// This server's own profile of a served model (a plain cloud's times are estimated by it).
pub(crate) type OwnProfile = Box<dyn Fn(&str) -> Option<EdgeProfile> + Send + Sync>;

/// What the background refresh learned.
#[derive(Default)]
struct Known {
    /// The link and when it was measured.
    link: Option<(CloudLink, Instant)>,
    /// The cloud's profile of each served model (same model file only).
    profiles: HashMap<String, EdgeProfile>,
    /// A plain cloud: the cuts it takes over at, per served model.
    cuts: HashMap<String, Vec<usize>>,
}

/// What came back from the cloud server.
pub(crate) struct Forwarded {
    /// The outputs, checked against the model's (names, dtypes, shapes), and the parameters.
    pub answer: client::CheckedAnswer,
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
        timeout: Duration,
        plain: Option<PlainCloud>,
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
        Ok(Cloud { url, token, client, timeout, plain, known: Mutex::default() })
    }

    /// The cloud server's base URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// How long to wait for the cloud: the server's limit, or less when the request asks.
    pub(crate) fn timeout(&self, requested_ms: Option<u64>) -> Duration {
        requested_ms.map_or(self.timeout, |ms| self.timeout.min(Duration::from_millis(ms)))
    }

    /// The cloud's profile of `model` and the link to it, once both were measured.
    pub(crate) fn info(&self, model: &str) -> Option<CloudInfo> {
        let known = self.known.lock().ok()?;
        let (link, at) = known.link.as_ref()?;
        let profile = known.profiles.get(model)?.clone();
        let age_ms = at.elapsed().as_secs_f64() * 1e3;
        let cuts = known.cuts.get(model).cloned();
        Some(CloudInfo { profile, link: CloudLink { age_ms, ..link.clone() }, cuts })
    }

    /// Measures the link and fetches the cloud's profile of each `(name, hash)` model; what
    /// fails is logged and forgotten (a stale profile must not outlive a changed cloud).
    pub(crate) async fn refresh(&self, models: &[(String, String)], own: &OwnProfile) {
        if let Some(plain) = &self.plain {
            return self.refresh_plain(plain, models, own).await;
        }
        let link = self.measure_link().await;
        let mut profiles = HashMap::new();
        for (name, hash) in models {
            match self.fetch_profile(name).await {
                Ok(p) if p.hash.eq_ignore_ascii_case(hash) => {
                    profiles.insert(name.clone(), p);
                }
                Ok(_) => log::warn!("cloud url={} model={name}: serves another model file", self.url),
                Err(e) => log::info!("cloud url={} model={name} profile error=\"{e}\"", self.url),
            }
        }
        if let Err(e) = &link {
            log::info!("cloud url={} link probe error=\"{e}\"", self.url);
        }
        if let Ok(mut known) = self.known.lock() {
            known.link = link.ok().map(|l| (l, Instant::now()));
            known.profiles = profiles;
        }
    }

    /// A plain cloud: the round trip (best of three `GET /v2/health/ready`), the declared
    /// rates, and per served model the exported parts that answer ready, with this server's
    /// own times as the estimate of the cloud's.
    async fn refresh_plain(&self, plain: &PlainCloud, models: &[(String, String)], own: &OwnProfile) {
        let mut rtt_ms = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            match self.request(reqwest::Method::GET, "/v2/health/ready").send().await {
                Ok(r) if r.status().is_success() => rtt_ms = rtt_ms.min(start.elapsed().as_secs_f64() * 1e3),
                Ok(r) => log::info!("cloud url={} health answered {}", self.url, r.status()),
                Err(e) => log::info!("cloud url={} health error=\"{e}\"", self.url),
            }
        }
        let mut profiles = HashMap::new();
        let mut cuts = HashMap::new();
        for (name, hash) in models {
            let Some(entry) = plain.manifest.by_hash(hash) else { continue };
            let mut ready = vec![];
            for c in &entry.cuts {
                let path = format!("/v2/models/{}/ready", c.served_name);
                if self
                    .request(reqwest::Method::GET, &path)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    ready.push(c.cut);
                }
            }
            if let (false, Some(mut profile)) = (ready.is_empty(), own(name)) {
                profile.cuts.iter_mut().for_each(|c| c.measured = false);
                profile.load = Default::default();
                profiles.insert(name.clone(), profile);
                cuts.insert(name.clone(), ready);
            }
        }
        let link = rtt_ms.is_finite().then_some(CloudLink {
            uplink_mbps: plain.link_mbps,
            downlink_mbps: plain.link_mbps,
            rtt_ms,
            age_ms: 0.0,
            rates_measured: false,
        });
        if let Ok(mut known) = self.known.lock() {
            known.link = link.map(|l| (l, Instant::now()));
            known.profiles = profiles;
            known.cuts = cuts;
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.url)).timeout(self.timeout);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn fetch_profile(&self, model: &str) -> Result<EdgeProfile, String> {
        let response = self
            .request(reqwest::Method::GET, &format!("/v2/models/{model}/profile"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        response.json::<EdgeProfile>().await.map_err(|e| format!("not a profile: {e}"))
    }

    /// Round trip (best of three small requests), then the time to send and to receive
    /// [`PROBE_BYTES`] through the cloud's probe endpoints, less the round trip.
    async fn measure_link(&self) -> Result<CloudLink, String> {
        let timed = |request: reqwest::RequestBuilder| async move {
            let start = Instant::now();
            let response = request.send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            response.bytes().await.map_err(|e| e.to_string())?;
            Ok::<f64, String>(start.elapsed().as_secs_f64() * 1e3)
        };
        let mut rtt_ms = f64::INFINITY;
        for _ in 0..3 {
            rtt_ms = rtt_ms.min(timed(self.request(reqwest::Method::GET, "/v2/health/live")).await?);
        }
        let up_ms =
            timed(self.request(reqwest::Method::POST, "/v2/probe").body(vec![0u8; PROBE_BYTES])).await?;
        let path = format!("/v2/probe?bytes={PROBE_BYTES}");
        let down_ms = timed(self.request(reqwest::Method::GET, &path)).await?;
        let mbps = |ms: f64| PROBE_BYTES as f64 * 8.0 / ((ms - rtt_ms).max(0.05) * 1e3);
        Ok(CloudLink {
            uplink_mbps: mbps(up_ms),
            downlink_mbps: mbps(down_ms),
            rtt_ms,
            age_ms: 0.0,
            rates_measured: true,
        })
    }

    /// Sends the tensors crossing `cut` of `model` (float32, binary) and returns the model
    /// outputs the cloud server computed, checked against `expected` (anything else is a
    /// failure, finished by the caller): to the same model on a Tandem cloud (with the
    /// model hash), to the exported part after `cut` on a plain one.
    pub(crate) async fn forward(
        &self,
        model: &str,
        model_hash: &str,
        cut: usize,
        crossing: &[NamedTensor],
        expected: &[TensorSpec],
    ) -> Result<Forwarded, EdgeError> {
        let failed = |reason: String| EdgeError::Cloud { url: self.url.clone(), reason };
        let inputs =
            crossing.iter().map(|t| encoding::encode(t, Encoding::Fp32)).collect::<Result<Vec<_>, _>>()?;
        let (served, body) = match &self.plain {
            None => {
                let options = RequestOptions {
                    model_hash: Some(model_hash.into()),
                    binary_outputs: true,
                    ..Default::default()
                };
                (model.to_string(), wire::encode_infer_request(&inputs, &options))
            }
            Some(plain) => {
                let part = plain.manifest.by_hash(model_hash).and_then(|e| e.cut(cut)).ok_or_else(|| {
                    failed(format!("its repository has no exported part after cut {cut} of this model"))
                })?;
                let options = RequestOptions { binary_outputs: true, ..Default::default() };
                (part.served_name.clone(), client::encode_request(&inputs, &options, &[], TensorData::Binary))
            }
        };
        let mut request = self
            .client
            .post(format!("{}/v2/models/{served}/infer", self.url))
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
        let answer = client::decode_answer(header_len, &bytes, expected)
            .map_err(|e| failed(format!("malformed response: {e}")))?;
        Ok(Forwarded { answer, round_trip_ms })
    }
}

/// Refreshes what the edge knows of the cloud every `every` until told to stop.
pub(crate) async fn refresher(
    cloud: std::sync::Arc<Cloud>,
    models: Vec<(String, String)>,
    own: OwnProfile,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = cloud.refresh(&models, &own) => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
