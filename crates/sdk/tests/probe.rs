//! The active probe separates round trip from throughput on a real loopback link shaped by
//! the link emulator. The server here is a minimal stand-in for the edge's probe endpoint
//! (`POST /v2/probe`, `GET /v2/probe?bytes=N`); `cli/tests/` runs the same probe against the
//! real edge server.

use std::net::SocketAddr;

use tandem_linkemu::{LinkConfig, LinkEmulator};
use tandem_sdk::netest::ProbeConfig;
use tandem_sdk::probe::probe;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// HTTP/1.1 keep-alive server for the two probe requests.
async fn probe_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                loop {
                    let mut request_line = String::new();
                    if s.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut content_length = 0usize;
                    loop {
                        let mut h = String::new();
                        if s.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            content_length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; content_length];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let response = if request_line.starts_with("POST /v2/probe") {
                        let json = format!(r#"{{"received_bytes":{content_length},"server_ms":0.05}}"#);
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            json.len()
                        )
                        .into_bytes();
                        r.extend(json.as_bytes());
                        r
                    } else if let Some(rest) = request_line.strip_prefix("GET /v2/probe?bytes=") {
                        let n: usize =
                            rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
                        let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {n}\r\n\r\n").into_bytes();
                        r.extend(std::iter::repeat_n(0u8, n));
                        r
                    } else {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
                    };
                    if s.get_mut().write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_separates_rtt_from_throughput_on_a_shaped_link() {
    let server = probe_server().await;
    let client = reqwest::Client::new();
    for (up, down, rtt) in [(8.0, 20.0, 60.0), (20.0, 8.0, 20.0)] {
        let link = LinkEmulator::start(server, LinkConfig::mbps(up, down, rtt)).await.expect("start");
        let url = format!("http://{}", link.local_addr());
        let config =
            ProbeConfig { small_bytes: 1_000, large_bytes: 150_000, repeats: 3, ..Default::default() };
        let p = probe(&client, &url, None, &config).await.expect("probe");
        let close = |got: f64, want: f64, tol: f64| (got / want - 1.0).abs() <= tol;
        assert!(close(p.uplink_mbps, up, 0.2), "uplink {:.2} Mbps, shaped {up}: {p:?}", p.uplink_mbps);
        assert!(
            close(p.downlink_mbps, down, 0.2),
            "downlink {:.2} Mbps, shaped {down}: {p:?}",
            p.downlink_mbps
        );
        assert!(close(p.rtt_ms, rtt, 0.3), "rtt {:.1} ms, shaped {rtt}: {p:?}", p.rtt_ms);
        assert_eq!(p.bytes_up, 3 * 151_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_a_dead_edge() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let client = reqwest::Client::new();
    let err =
        probe(&client, &format!("http://{addr}"), None, &ProbeConfig::default()).await.expect_err("refused");
    assert!(matches!(err, tandem_sdk::netest::ProbeError::Request { .. }), "{err}");
}
