//! The adversarial suite (issue 21): the real `tandem-edge` binary on loopback, attacked from
//! every side with bounded loops. Each test asserts the statuses, that the server stays
//! alive, that its memory stays bounded, and that its answers are unchanged at the end.
//! Timings are printed (see docs/SECURITY.md), never asserted beyond generous bounds.
//!
//! `cargo test -p tandem-edge --test adversarial -- --nocapture` shows the measurements.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The attacks run one at a time: a flood of connections or memory from one test would make
/// another's connection counts and RSS bounds meaningless.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tandem_model::encoding::Encoding;
use tandem_model::NamedTensor;
use tandem_protocol::wire::{self, RequestOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "adversary-proof";

/// A `tandem-edge` process serving tiny_resnet with a token; killed when dropped.
struct Edge {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Edge {
    fn start(extra: &[&str]) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("token");
        std::fs::write(&token, TOKEN).expect("token file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem-edge"))
            .arg("--model")
            .arg(model_path("tiny_resnet"))
            .arg("--token-file")
            .arg(&token)
            .args(["--listen", "127.0.0.1:0", "--profile-budget-s", "0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("tandem-edge starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines.next().expect("tandem-edge says where it serves").expect("stderr reads");
            if let Some(url) = line.split(" on http://").nth(1) {
                break url.trim().parse().expect("an address");
            }
        };
        // Keep draining the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Edge { child, addr, _dir: dir }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
    fn memory_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Starts measuring the peak RSS afresh (`VmHWM`), when the kernel allows it.
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }

    async fn infer(&self, client: &reqwest::Client, input: &[NamedTensor]) -> Vec<NamedTensor> {
        let body = wire::encode_infer_request(&encode_all(input, Encoding::Fp32), &RequestOptions::default());
        let request = client
            .post(format!("{}/v2/models/tiny_resnet/infer", self.url()))
            .bearer_auth(TOKEN)
            .header(wire::HEADER_CONTENT_LENGTH, body.header_len.expect("binary"))
            .body(body.body);
        send(request).await.decode().outputs
    }

    async fn health(&self, client: &reqwest::Client) -> StatusCode {
        send(client.get(format!("{}/v2/health/ready", self.url()))).await.status
    }

    async fn metrics(&self, client: &reqwest::Client) -> String {
        let reply = send(client.get(format!("{}/metrics", self.url())).bearer_auth(TOKEN)).await;
        String::from_utf8(reply.body.to_vec()).expect("utf-8")
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes on a fresh connection and returns what comes back until the server
/// closes (at most 10 s).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP answer (0 when nothing came back).
fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Whether the server closed `s` within `within` (reads EOF or an error).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Raises this process's open-files limit (inherited by the server it starts) to `want`,
/// or as far as the hard limit allows; returns the limit in force.
fn raise_open_files(want: u64) -> u64 {
    rlimit::increase_nofile_limit(want).expect("the open-files limit can be read")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_1000_idle_connections_are_open() {
    let _serial = SERIAL.lock().await;
    let files = raise_open_files(4096);
    assert!(files >= 2200, "this test needs an open-files limit of at least 2200, got {files}");
    let edge = Edge::start(&[
        "--max-connections",
        "1500",
        "--header-timeout-ms",
        "60000",
        "--idle-timeout-ms",
        "60000",
    ]);
    let client = client();
    let input = input("tiny_resnet");
    let before = edge.infer(&client, &input).await;

    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(edge.addr).await.expect("an idle connection"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(edge.health(&client).await, StatusCode::OK);
        worst = worst.max(t.elapsed());
    }
    println!("health under 1000 idle connections: worst of 5 = {:.1} ms", worst.as_secs_f64() * 1e3);
    assert!(worst < Duration::from_secs(5), "health took {worst:?}");
    let metrics = edge.metrics(&client).await;
    let open: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tandem_edge_connections_open "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the open-connections gauge");
    assert!(open >= 1000, "{open} connections open");
    drop(idle);
    assert_exact(&edge.infer(&client, &input).await, &before, "after the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_timed_out() {
    let _serial = SERIAL.lock().await;
    // Timeouts long enough for the cap to be filled and checked before the held connections
    // idle out, even on a loaded machine.
    let edge =
        Edge::start(&["--max-connections", "8", "--header-timeout-ms", "6000", "--idle-timeout-ms", "5000"]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let input = input("tiny_resnet");
    let before = edge.infer(&client, &input).await;
    // The warm-up's connection must be gone from the server before the cap is filled: were it
    // freed later, a request beyond the cap would take its slot.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Fill the cap, then the reserve of 16: the reserve answers health, and 503 otherwise.
    let mut held = vec![];
    for _ in 0..8 {
        held.push(TcpStream::connect(edge.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status_of(&raw(edge.addr, b"GET /v2/health/ready HTTP/1.1\r\nhost: x\r\n\r\n").await), 200);
    let busy = raw(
        edge.addr,
        format!("GET /v2 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&busy), 503, "{busy}");
    assert!(busy.to_ascii_lowercase().contains("retry-after: 1"), "{busy}");
    for _ in 0..16 {
        held.push(TcpStream::connect(edge.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut refused = TcpStream::connect(edge.addr).await.unwrap();
    assert!(closed_within(&mut refused, Duration::from_secs(1)).await, "beyond the reserve: closed at once");

    // Idle connections, in the cap and in the reserve, are closed by the timeouts.
    let t = Instant::now();
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(8)).await, "an idle connection stays open");
    }
    println!("24 idle connections closed within {:.0} ms", t.elapsed().as_secs_f64() * 1e3);

    // A client trickling a header line every 200 ms is cut at the header-read timeout.
    let mut slow = TcpStream::connect(edge.addr).await.unwrap();
    slow.write_all(b"GET /v2/health/ready HTTP/1.1\r\n").await.unwrap();
    let t = Instant::now();
    let mut cut = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
            cut = true;
            break;
        }
    }
    assert!(cut || closed_within(&mut slow, Duration::from_secs(2)).await, "the trickle is never cut");
    println!("header trickle cut after {:.0} ms", t.elapsed().as_secs_f64() * 1e3);

    // A keep-alive connection idle after its request is closed at the idle timeout.
    let mut keep = TcpStream::connect(edge.addr).await.unwrap();
    keep.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = keep.read(&mut buf).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    assert!(
        closed_within(&mut keep, Duration::from_secs(8)).await,
        "an idle keep-alive connection stays open"
    );

    let metrics = edge.metrics(&client).await;
    for line in [
        "tandem_edge_connections_total{outcome=\"refused\"}",
        "tandem_edge_connections_total{outcome=\"reserve\"}",
        "tandem_edge_connection_errors_total{reason=\"idle\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert_exact(&edge.infer(&client, &input).await, &before, "after the connection attacks");
}

/// `data` of `target_bytes` of JSON text: ", 0.5" repeated, for the 3072-element input.
fn json_bomb(target_bytes: usize) -> Vec<u8> {
    let head = br#"{"inputs":[{"name":"input","shape":[1,3,32,32],"datatype":"FP32","data":[0.5"#;
    let tail = b"]}]}";
    let mut body = Vec::with_capacity(target_bytes);
    body.extend_from_slice(head);
    while body.len() + 5 + tail.len() <= target_bytes {
        body.extend_from_slice(b",0.5");
    }
    body.extend_from_slice(tail);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_cost_memory_bounded_by_the_json_limit() {
    let _serial = SERIAL.lock().await;
    // 8 MiB by default; TANDEM_ADVERSARIAL_JSON_MB=16 measures the server's default limit.
    let mib: usize =
        std::env::var("TANDEM_ADVERSARIAL_JSON_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let json_limit = mib << 20;
    let edge = Edge::start(&["--json-body-limit-mb", &mib.to_string(), "--max-concurrent", "2"]);
    let client = client();
    let input = input("tiny_resnet");
    let before = edge.infer(&client, &input).await;
    let bomb = bytes::Bytes::from(json_bomb(json_limit - 1024));
    let url = format!("{}/v2/models/tiny_resnet/infer", edge.url());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_kib = edge.memory_kib("VmRSS");
    let peak_reset = edge.reset_peak();
    let sampler = {
        let pid = edge.child.id();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { break };
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
                    .unwrap_or(0);
                peak = peak.max(rss);
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let t = Instant::now();
    let bombs = (0..4).map(|_| {
        let request = client.post(&url).bearer_auth(TOKEN).body(bomb.clone());
        async move { send(request).await }
    });
    for reply in futures_util::future::join_all(bombs).await {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.error().contains("more than the 3072 elements"), "{}", reply.error());
    }
    let elapsed = t.elapsed();
    let peak_kib = if peak_reset { edge.memory_kib("VmHWM") } else { 0 }.max(sampler.join().unwrap_or(0));
    let above_mib = peak_kib.saturating_sub(idle_kib) as f64 / 1024.0;
    println!(
        "4 concurrent {} MiB JSON bodies: idle RSS {:.1} MiB, peak {:.1} MiB, +{above_mib:.1} MiB (bound {} MiB), {:.0} ms",
        json_limit >> 20,
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        2 * (json_limit >> 20),
        elapsed.as_secs_f64() * 1e3
    );
    assert!(above_mib <= 2.0 * (json_limit >> 20) as f64, "peak RSS grew by {above_mib:.1} MiB");

    // Beyond the JSON limit: 413 from the declared length; a JSON part that large: 413.
    let declared = format!(
        "POST /v2/models/tiny_resnet/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        json_limit + 1
    );
    assert_eq!(status_of(&raw(edge.addr, declared.as_bytes()).await), 413);
    let mut with_binary = json_bomb(json_limit + 16);
    with_binary.extend([0u8; 16]);
    let len = with_binary.len() - 16;
    let big = client.post(&url).bearer_auth(TOKEN).header(wire::HEADER_CONTENT_LENGTH, len).body(with_binary);
    let reply = send(big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.error());

    // Nested data must follow the shape, not only add up to it.
    let mut data = vec![json!(vec![0.5f32; 3071])];
    data.push(json!([[[[0.5]]]]));
    let nested =
        json!({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": data}]});
    let reply = send(client.post(&url).bearer_auth(TOKEN).json(&nested)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("nesting of `data` does not match"), "{}", reply.error());

    assert_eq!(edge.health(&client).await, StatusCode::OK);
    assert_exact(&edge.infer(&client, &input).await, &before, "after the JSON bombs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smaller_findings_are_fixed() {
    let _serial = SERIAL.lock().await;
    let edge = Edge::start(&[]);
    let client = client();
    let input = input("tiny_resnet");
    let before = edge.infer(&client, &input).await;
    let infer = format!("{}/v2/models/tiny_resnet/infer", edge.url());
    let hash = local("tiny_resnet").model().hash().to_string();

    // 401 before 404: without the token, unknown paths reveal nothing.
    let reply = send(client.get(format!("{}/v2/nothing/here", edge.url()))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(client.get(format!("{}/v2/nothing/here", edge.url())).bearer_auth(TOKEN)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Inference-Header-Content-Length: digits only, once.
    let body = wire::encode_infer_request(&encode_all(&input, Encoding::Fp32), &RequestOptions::default());
    let len = body.header_len.unwrap();
    for bad in [format!("+{len}"), format!("0x{len}"), format!("{len}.0")] {
        let request = client
            .post(&infer)
            .bearer_auth(TOKEN)
            .header(wire::HEADER_CONTENT_LENGTH, &bad)
            .body(body.body.clone());
        assert_eq!(send(request).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let head = format!(
        "POST /v2/models/tiny_resnet/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         inference-header-content-length: {len}\r\ninference-header-content-length: {len}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.body.len()
    );
    let twice = raw(edge.addr, &[head.as_bytes(), &body.body].concat()).await;
    assert_eq!(status_of(&twice), 400, "{twice}");

    // A hash that is not hex is malformed (400), not a mismatch (409); a hex one is a mismatch.
    let x = json!({"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": vec![0.5f32; 3072]});
    let ask = |v: serde_json::Value| send(client.post(&infer).bearer_auth(TOKEN).json(&v));
    assert_eq!(
        ask(json!({"parameters": {"tandem_model_hash": "not hex!"}, "inputs": [x]})).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ask(json!({"parameters": {"tandem_model_hash": "00".repeat(32)}, "inputs": [x]})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        ask(json!({"parameters": {"tandem_model_hash": hash}, "inputs": [x]})).await.status,
        StatusCode::OK
    );
    // No outputs asked for.
    assert_eq!(ask(json!({"inputs": [x], "outputs": []})).await.status, StatusCode::BAD_REQUEST);

    // Requests hyper refuses itself: counted in the metrics.
    assert_eq!(status_of(&raw(edge.addr, b"BREW / HTCPCP/1.0\r\n\r\n").await), 400);
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    assert_eq!(status_of(&raw(edge.addr, long_uri.as_bytes()).await), 414);
    let huge_header =
        format!("GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "b".repeat(500_000));
    assert_eq!(status_of(&raw(edge.addr, huge_header.as_bytes()).await), 431);
    // Request smuggling: with both Content-Length and Transfer-Encoding, the body is read as
    // chunked alone and the connection is closed after the answer (RFC 9112 6.3), so the
    // request hidden after it is never served.
    let smuggle = "POST /v2/health/live HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let answers = raw(edge.addr, smuggle.as_bytes()).await;
    let statuses: Vec<u16> =
        answers.match_indices("HTTP/1.1 ").map(|(i, _)| status_of(&answers[i..])).collect();
    assert_eq!(statuses, [405], "{answers}");
    let metrics = edge.metrics(&client).await;
    for status in ["400", "414", "431"] {
        let line = format!("tandem_edge_http_requests_total{{endpoint=\"(unparsed)\",status=\"{status}\"}}");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    assert!(metrics.contains("tandem_edge_connections_open"));

    // A client that half-closes after sending still gets every answer.
    let request = b"POST /v2/models/tiny_resnet/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
    let mut answered = 0;
    for _ in 0..20 {
        let mut s = TcpStream::connect(edge.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        s.shutdown().await.unwrap();
        let mut out = vec![];
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        answered += usize::from(status_of(&String::from_utf8_lossy(&out)) == 401);
    }
    assert_eq!(answered, 20, "half-closed clients lost answers");

    assert_eq!(edge.health(&client).await, StatusCode::OK);
    assert_exact(&edge.infer(&client, &input).await, &before, "after the small attacks");
}

#[test]
fn unusable_limits_stop_the_server_at_startup() {
    let cases: [&[&str]; 6] = [
        &["--timeout-ms", "0"],
        &["--body-limit-mb", "17592186044416"],
        &["--body-limit-mb", "0"],
        &["--header-timeout-ms", "0"],
        &["--idle-timeout-ms", "20000", "--header-timeout-ms", "10000"],
        &["--json-body-limit-mb", "128"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_tandem-edge"))
            .arg("--model")
            .arg(model_path("tiny_resnet"))
            .args(["--listen", "127.0.0.1:0", "--profile-budget-s", "0"])
            .args(args)
            .output()
            .expect("tandem-edge runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains("invalid setting"), "{args:?}: {stderr}");
    }
}
