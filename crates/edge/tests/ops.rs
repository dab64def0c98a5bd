//! Operations: metadata, TLS, saturation, timeouts, graceful shutdown, metrics, probes,
//! profile, and three tiers with two real servers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tandem_model::encoding::Encoding;
use tandem_protocol::wire::{self, param, RequestOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn server_and_model_metadata() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let client = client();
    let meta = send(client.get(format!("{}/v2", edge.url()))).await.json();
    let extensions: Vec<&str> =
        meta["extensions"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for ext in ["binary_tensor_data", "tandem_profile", "tandem_probe", "tandem_encoding"] {
        assert!(extensions.contains(&ext), "{ext} in {extensions:?}");
    }
    assert!(!extensions.contains(&"tandem_upstream"), "no upstream configured");
    let model = send(client.get(format!("{}/v2/models/tiny_resnet", edge.url()))).await.json();
    assert_eq!(model["name"], "tiny_resnet");
    assert_eq!(
        model["inputs"][0],
        serde_json::json!({"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32]})
    );
    assert_eq!(
        model["outputs"][0],
        serde_json::json!({"name": "logits", "datatype": "FP32", "shape": [1, 10]})
    );
    assert_eq!(model["parameters"][param::MODEL_HASH], local("tiny_resnet").model().hash());
    assert_eq!(
        send(client.get(format!("{}/v2/models/tiny_resnet/ready", edge.url()))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(client.get(format!("{}/v2/models/tiny_resnet/versions/1/ready", edge.url()))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(client.get(format!("{}/v2/models/other/ready", edge.url()))).await.status,
        StatusCode::NOT_FOUND
    );
    let index = send(client.post(format!("{}/v2/repository/index", edge.url()))).await.json();
    assert_eq!(index, serde_json::json!([{"name": "tiny_resnet", "version": "1", "state": "READY"}]));
}

#[tokio::test]
async fn models_dir_serves_every_onnx_file_by_stem() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(model_path("tiny_resnet"), dir.path().join("small.onnx")).expect("copy");
    std::fs::write(dir.path().join("notes.txt"), "not a model").expect("write");
    let edge =
        start(tandem_edge::EdgeServer::builder().models_dir(dir.path()).profile_budget(Duration::ZERO)).await;
    assert_eq!(edge.models(), ["small"]);
    // A directory without models, and a duplicate name, are configuration errors.
    let empty = tempfile::tempdir().expect("tempdir");
    let err =
        tandem_edge::EdgeServer::builder().models_dir(empty.path()).bind("127.0.0.1:0").await.unwrap_err();
    assert!(err.to_string().contains("no models"), "{err}");
    let err = builder(&["tiny_resnet", "tiny_resnet"]).bind("127.0.0.1:0").await.unwrap_err();
    assert!(err.to_string().contains("two models are named `tiny_resnet`"), "{err}");
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let edge = start(builder(&["tiny_resnet"]).tls_pem_files(&cert_path, &key_path).token("t")).await;
    assert!(edge.url().starts_with("https://"));
    let url = format!("https://localhost:{}", edge.addr().port());
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"))
        .build()
        .expect("client");
    assert_eq!(send(trusted.get(format!("{url}/v2/health/live"))).await.status, StatusCode::OK);
    let input = input("tiny_resnet");
    let body = wire::encode_infer_request(&encode_all(&input, Encoding::Fp32), &RequestOptions::default());
    let reply = send(
        trusted
            .post(format!("{url}/v2/models/tiny_resnet/infer"))
            .bearer_auth("t")
            .header(wire::HEADER_CONTENT_LENGTH, body.header_len.unwrap())
            .body(body.body),
    )
    .await;
    assert_exact(&reply.decode().outputs, &local("tiny_resnet").run_full(&input).unwrap(), "over TLS");
    // A client that does not trust the certificate, and plain HTTP, are both refused.
    assert!(client().get(format!("{url}/v2/health/live")).send().await.is_err());
    assert!(client()
        .get(format!("http://127.0.0.1:{}/v2/health/live", edge.addr().port()))
        .send()
        .await
        .is_err());
    // A key that does not match the certificate is a startup error.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    std::fs::write(&key_path, other.signing_key.serialize_pem()).expect("write key");
    let err =
        builder(&["tiny_resnet"]).tls_pem_files(&cert_path, &key_path).bind("127.0.0.1:0").await.unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    edge.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn saturation_answers_503_with_retry_after() {
    // One slot, no queue: while one request runs, the others are refused.
    let edge = start(builder(&["mobilenetv2"]).max_concurrent(1).max_queued(0)).await;
    let client = client();
    let input = input("mobilenetv2");
    let inputs = encode_all(&input, Encoding::Fp32);
    let options = RequestOptions { binary_outputs: true, ..Default::default() };
    let warm = infer_binary(&client, &edge, "mobilenetv2", &inputs, &options, None).await;
    let want = local("mobilenetv2").run_full(&input).expect("whole");
    assert_exact(&warm.decode().outputs, &want, "warm-up");
    let replies = futures_util::future::join_all(
        (0..8).map(|_| infer_binary(&client, &edge, "mobilenetv2", &inputs, &options, None)),
    )
    .await;
    let busy: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "8 concurrent requests on one slot: some must be refused");
    for r in &busy {
        assert!(r.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert!(r.error().contains("overloaded"));
    }
    for r in replies.iter().filter(|r| r.status != StatusCode::SERVICE_UNAVAILABLE) {
        assert_exact(&r.decode().outputs, &want, "a request that got the slot");
    }
    // Once the load is gone, requests are served again.
    let reply = infer_binary(&client, &edge, "mobilenetv2", &inputs, &options, None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// Writes an HTTP/1.1 inference request by hand, its body in slow pieces; returns the stream.
async fn slow_request(
    edge: &tandem_edge::RunningEdge,
    body: &[u8],
    header_len: usize,
    first_part: usize,
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(edge.addr()).await.expect("connect");
    let head = format!(
        "POST /v2/models/tiny_resnet/infer HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\ninference-header-content-length: {header_len}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body[..first_part]).await.expect("write part");
    stream
}

async fn read_reply(mut stream: tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut raw = vec![];
    let mut buf = [0u8; 8192];
    // Read until the whole response is in (the server closes after it, shutting down).
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                return (head, raw[end + 4..end + 4 + len].to_vec());
            }
        }
    }
    (String::from_utf8_lossy(&raw).to_string(), vec![])
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let addr = edge.addr();
    let input = input("tiny_resnet");
    let body = wire::encode_infer_request(&encode_all(&input, Encoding::Fp32), &RequestOptions::default());
    let header_len = body.header_len.unwrap();
    let mut stream = slow_request(&edge, &body.body, header_len, 1000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Shut down while the request is half uploaded.
    let shutdown = tokio::spawn(async move { edge.shutdown().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!shutdown.is_finished(), "shutdown waits for the in-flight request");
    // New connections are no longer accepted.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
    stream.write_all(&body.body[1000..]).await.expect("finish the upload");
    let (head, payload) = read_reply(stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let hl = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("inference-header-content-length: ")
            .map(|v| v.trim().parse().unwrap())
    });
    let reply = wire::decode_infer_response(hl, &payload).expect("response");
    assert_exact(
        &reply.outputs,
        &local("tiny_resnet").run_full(&input).unwrap(),
        "in-flight during shutdown",
    );
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown ends once the request is done")
        .expect("task")
        .expect("clean shutdown");
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_gets_408() {
    let edge = start(builder(&["tiny_resnet"]).request_timeout(Duration::from_millis(300))).await;
    let body = vec![b'{'; 5000];
    let stream = slow_request(&edge, &body, 10, 100).await;
    let start = Instant::now();
    let (head, payload) = read_reply(stream).await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(String::from_utf8_lossy(&payload).contains("within the server's timeout of 300 ms"));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let edge = start(builder(&["tiny_resnet"]).token("m")).await;
    let client = client();
    let input = encode_all(&input("tiny_resnet"), Encoding::Fp16);
    for _ in 0..3 {
        let reply =
            infer_binary(&client, &edge, "tiny_resnet", &input, &RequestOptions::default(), Some("m")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let bad =
        send(client.post(format!("{}/v2/models/tiny_resnet/infer", edge.url())).bearer_auth("m").body("{"))
            .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let reply = send(client.get(format!("{}/metrics", edge.url())).bearer_auth("m")).await;
    assert_eq!(reply.status, StatusCode::OK);
    // OpenMetrics text, which Prometheus scrapes natively.
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    for line in [
        "tandem_edge_infer_requests_total{model=\"tiny_resnet\",status=\"200\"} 3",
        "tandem_edge_infer_requests_total{model=\"tiny_resnet\",status=\"400\"} 1",
        "tandem_edge_http_requests_total{endpoint=\"/v2/models/{model}/infer\",status=\"200\"} 3",
        "tandem_edge_input_tensors_total{encoding=\"fp16\"} 3",
        "tandem_edge_compute_duration_seconds_count{model=\"tiny_resnet\"} 3",
        "tandem_edge_infer_duration_seconds_count{model=\"tiny_resnet\"} 4",
        "tandem_edge_part_cache_builds_total{model=\"tiny_resnet\"} 1",
        "tandem_edge_in_flight 0",
        "tandem_edge_panics_total 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert_eq!(send(client.get(format!("{}/metrics", edge.url()))).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn probes_measure_both_directions() {
    let edge = start(builder(&["tiny_resnet"]).token("p").body_limit_bytes(2 << 20)).await;
    let client = client();
    let reply =
        send(client.post(format!("{}/v2/probe", edge.url())).bearer_auth("p").body(vec![7u8; 1 << 20])).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["received_bytes"], 1 << 20);
    assert!(body["server_ms"].as_f64().unwrap() >= 0.0);
    let reply = send(client.get(format!("{}/v2/probe?bytes=100001", edge.url())).bearer_auth("p")).await;
    assert_eq!((reply.status, reply.body.len()), (StatusCode::OK, 100001));
    let reply = send(client.get(format!("{}/v2/probe?bytes=0", edge.url())).bearer_auth("p")).await;
    assert_eq!((reply.status, reply.body.len()), (StatusCode::OK, 0));
    let reply =
        send(client.post(format!("{}/v2/probe", edge.url())).bearer_auth("p").body(vec![0u8; 3 << 20])).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = send(client.get(format!("{}/v2/probe?bytes={}", edge.url(), 3 << 20)).bearer_auth("p")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = send(client.get(format!("{}/v2/probe?bytes=many", edge.url())).bearer_auth("p")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("?bytes=N"));
}

#[tokio::test]
async fn profile_measures_every_cut_in_the_background() {
    let edge = start(builder(&["tiny_resnet"]).profile_budget(Duration::from_secs(60))).await;
    let client = client();
    let url = format!("{}/v2/models/tiny_resnet/profile", edge.url());
    let deadline = Instant::now() + Duration::from_secs(60);
    let profile = loop {
        let profile = send(client.get(&url)).await.json();
        if profile["status"] == "done" || Instant::now() > deadline {
            break profile;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(profile["status"], "done", "{profile}");
    assert_eq!(profile["model"], "tiny_resnet");
    assert_eq!(profile["hash"], local("tiny_resnet").model().hash());
    let cuts = profile["cuts"].as_array().unwrap();
    assert_eq!(cuts.len(), local("tiny_resnet").model().cuts().len());
    for (i, cut) in cuts.iter().enumerate() {
        assert_eq!(cut["id"], i);
        assert_eq!(cut["measured"], true, "{cut}");
        assert!(cut["after_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(cut["bytes"], local("tiny_resnet").model().cuts()[i].bytes);
    }
    assert_eq!(cuts[11]["tensors"], serde_json::json!(["pool1", "inc_a_relu", "inc_b_conv1"]));
    // The whole model takes longer than its last layer.
    assert!(cuts[0]["after_ms"].as_f64().unwrap() > cuts[26]["after_ms"].as_f64().unwrap());
    let load = &profile["load"];
    assert_eq!(load["in_flight"], 0);
    assert!(load["capacity"].as_u64().unwrap() >= 1);
    assert!(load["queue_wait_ms"].as_f64().is_some());

    // With the profiler off, the profile says so and has no times.
    let quiet = start(builder(&["tiny_resnet"])).await;
    let profile = send(client.get(format!("{}/v2/models/tiny_resnet/profile", quiet.url()))).await.json();
    assert_eq!(profile["status"], "disabled");
    assert!(profile["cuts"][0]["after_ms"].is_null());
}

#[tokio::test]
async fn three_tiers_run_the_middle_here_and_the_rest_upstream() {
    let cloud = start(builder(&["tiny_resnet"]).token("cloud-token")).await;
    let edge = start(builder(&["tiny_resnet"]).cloud(cloud.url()).cloud_token("cloud-token")).await;
    let client = client();
    let local = local("tiny_resnet");
    let input = input("tiny_resnet");
    let meta = send(client.get(format!("{}/v2", edge.url()))).await.json();
    assert!(meta["extensions"].as_array().unwrap().iter().any(|e| e == "tandem_cloud"));
    assert!(
        meta["extensions"].as_array().unwrap().iter().any(|e| e == "tandem_upstream"),
        "the old name stays"
    );
    for (cut, upstream_cut) in [(0, 11), (3, 11), (11, 22), (3, local.model().last_cut())] {
        let crossing = local.run_before(cut, &input).expect("before");
        let want = local.run_after(cut, &crossing).expect("after");
        let options = RequestOptions { cloud_cut: Some(upstream_cut), ..hashed("tiny_resnet") };
        let reply = infer_binary(
            &client,
            &edge,
            "tiny_resnet",
            &encode_all(&crossing, Encoding::Fp32),
            &options,
            None,
        )
        .await;
        let got = reply.decode();
        assert_exact(&got.outputs, &want, &format!("{cut} -> {upstream_cut} -> cloud"));
        assert_eq!(got.parameters[param::CUT], cut);
        assert_eq!(got.parameters[param::CLOUD_CUT], upstream_cut);
        assert!(got.parameters[param::CLOUD_MS].as_f64().unwrap() > 0.0);
        // the old names, for scripts written before ADR 0006
        assert_eq!(got.parameters[param::UPSTREAM_MS], got.parameters[param::CLOUD_MS]);
        assert_eq!(got.parameters[param::UPSTREAM_CUT], got.parameters[param::CLOUD_CUT]);
        assert!(got.parameters[param::CLOUD_COMPUTE_MS].as_f64().is_some());
    }
    // The cloud really ran the rest: it counted four requests.
    let metrics = send(client.get(format!("{}/metrics", cloud.url())).bearer_auth("cloud-token")).await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.contains("tandem_edge_infer_requests_total{model=\"tiny_resnet\",status=\"200\"} 4"),
        "{text}"
    );

    // The cloud gone: the edge finishes the rest itself, and says why (naming the cloud).
    let cloud_url = cloud.url();
    cloud.shutdown().await.expect("cloud stops");
    let crossing = local.run_before(3, &input).expect("before");
    let want = local.run_after(3, &crossing).expect("after");
    let options = RequestOptions { cloud_cut: Some(11), ..hashed("tiny_resnet") };
    let reply =
        infer_binary(&client, &edge, "tiny_resnet", &encode_all(&crossing, Encoding::Fp32), &options, None)
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.error());
    let got = reply.decode();
    assert_exact(&got.outputs, &want, "the edge finished in the cloud's place");
    let reason = got.parameters[param::CLOUD_FALLBACK_REASON].as_str().expect("a reason");
    assert!(reason.contains(&cloud_url), "{reason}");
    assert!(got.parameters.get(param::CLOUD_MS).is_none(), "no cloud timings without the cloud");
    assert_eq!(got.parameters[param::END_CUT], local.model().last_cut());

    // A cloud with the wrong token: its 401 is the reason.
    let cloud = start(builder(&["tiny_resnet"]).token("other")).await;
    let edge = start(builder(&["tiny_resnet"]).cloud(cloud.url()).cloud_token("cloud-token")).await;
    let reply =
        infer_binary(&client, &edge, "tiny_resnet", &encode_all(&crossing, Encoding::Fp32), &options, None)
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.error());
    let got = reply.decode();
    assert_exact(&got.outputs, &want, "the edge finished in the cloud's place");
    assert!(got.parameters[param::CLOUD_FALLBACK_REASON].as_str().unwrap().contains("401"));
}
