//! The active link probe: times two payload sizes each way against the edge's `/v2/probe`
//! endpoint and separates round trip from throughput. What the result means and when a probe
//! may run is the planner's ([`tandem_planner::netest`]); this module only does the I/O.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tandem_planner::netest::{separate_rtt, ProbeConfig, ProbeError, ProbeResult};

/// The edge's answer to an upload probe. Its `server_ms` is the time from the request's
/// arrival to the body's last byte (docs/PROTOCOL.md): part of the transfer, not server work,
/// so the probe does not take it out.
#[derive(Deserialize)]
struct ProbeAck {
    received_bytes: u64,
}

/// Measures the link to the edge at `base_url` (e.g. `http://127.0.0.1:8080`) with its probe
/// endpoint: `POST /v2/probe` uploads and
/// `GET /v2/probe?bytes=N` downloads, each with two payload sizes, so that the round trip is
/// separated from throughput. One warm-up request first opens the connection.
///
/// The caller checks [`tandem_planner::netest::probe_allowed`] first (metered networks).
pub async fn probe(
    client: &reqwest::Client,
    base_url: &str,
    token: Option<&str>,
    config: &ProbeConfig,
) -> Result<ProbeResult, ProbeError> {
    let start = Instant::now();
    let url = format!("{}/v2/probe", base_url.trim_end_matches('/'));
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    let auth = |rb: reqwest::RequestBuilder| match token {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    };
    let mut bytes_up = 0;
    let mut bytes_down = 0;
    let download = |n: u64| {
        let rb = auth(client.get(&url).query(&[("bytes", n)]));
        async move {
            let (body, ms) = timed_exchange(rb, timeout).await?;
            if body.len() as u64 != n {
                return Err(ProbeError::BadResponse {
                    reason: format!("asked for {n} bytes, got {}", body.len()),
                });
            }
            Ok(ms)
        }
    };
    let upload = |n: u64| {
        let rb = auth(client.post(&url).body(vec![0u8; n as usize]));
        async move {
            let (body, ms) = timed_exchange(rb, timeout).await?;
            let ack: ProbeAck = serde_json::from_slice(&body).map_err(|e| ProbeError::BadResponse {
                reason: format!("not a probe acknowledgement: {e}"),
            })?;
            if ack.received_bytes != n {
                return Err(ProbeError::BadResponse {
                    reason: format!("sent {n} bytes, the edge got {}", ack.received_bytes),
                });
            }
            Ok(ms)
        }
    };

    download(0).await?;
    let mut best = [f64::INFINITY; 4];
    let sizes = [config.small_bytes, config.large_bytes];
    for _ in 0..config.repeats.max(1) {
        for (i, &n) in sizes.iter().enumerate() {
            best[i] = best[i].min(upload(n).await?);
            bytes_up += n;
            best[2 + i] = best[2 + i].min(download(n).await?);
            bytes_down += n;
        }
    }
    let (uplink_mbps, rtt_up) = separate_rtt((sizes[0], best[0]), (sizes[1], best[1]))?;
    let (downlink_mbps, rtt_down) = separate_rtt((sizes[0], best[2]), (sizes[1], best[3]))?;
    Ok(ProbeResult {
        uplink_mbps,
        downlink_mbps,
        rtt_ms: rtt_up.min(rtt_down),
        bytes_up,
        bytes_down,
        duration_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// Sends one probe request and reads the whole answer; returns it with the elapsed ms.
async fn timed_exchange(
    rb: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<(bytes::Bytes, f64), ProbeError> {
    let request_err = |e: reqwest::Error| ProbeError::Request { reason: e.without_url().to_string() };
    let timed_out = || ProbeError::Request { reason: "timed out".into() };
    let t0 = Instant::now();
    let resp =
        tokio::time::timeout(timeout, rb.send()).await.map_err(|_| timed_out())?.map_err(request_err)?;
    if !resp.status().is_success() {
        return Err(ProbeError::Status { status: resp.status().as_u16() });
    }
    let body =
        tokio::time::timeout(timeout, resp.bytes()).await.map_err(|_| timed_out())?.map_err(request_err)?;
    Ok((body, t0.elapsed().as_secs_f64() * 1e3))
}
