//! The offload path's own overhead, measured: a 1 MiB float32 tensor goes through a real
//! session, the real edge and the link emulator shaped at several uplink rates.
//!
//! For each rate it prints the upload throughput the session achieved (bytes on the wire over
//! the report's `upload_ms`, which runs from sending the request to the first byte of the
//! answer, minus the edge's own time) against the shaped rate, and the bytes on the wire
//! against the raw tensor bytes.
//!
//! ```text
//! cargo run -p tandem-e2e --example offload_overhead
//! ```

use std::sync::Arc;
use std::time::Duration;

use tandem_e2e::{edge_builder, on_network, quiet_config, write_relu_model};
use tandem_linkemu::{LinkConfig, LinkEmulator};
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::{check, EdgeEndpoint, EdgeStatus, InferOptions, NetworkKind, Session, SessionConfig};

const ELEMENTS: usize = 256 * 1024; // 1 MiB of float32
const RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("relu_1mib.onnx");
    write_relu_model(&model, ELEMENTS).expect("model written");
    let edge = edge_builder().model_file(&model).bind("127.0.0.1:0").await.expect("edge starts");
    let raw_bytes = (ELEMENTS * 4) as u64;

    println!("| shaped uplink | achieved, median of {RUNS} (best) | median / shaped (best) | raw tensor | request body | on the wire | wire / raw |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for rate_mbps in [0.0, 5.85, 18.88, 50.0] {
        // Shaped uplink, unlimited downlink (the 1 MiB answer is not what is measured), no
        // added round trip: the upload time is the link's.
        let link =
            LinkEmulator::start(edge.addr(), LinkConfig::mbps(rate_mbps, 0.0, 0.0)).await.expect("link");
        let config =
            SessionConfig { min_edge_timeout_ms: 20_000.0, max_edge_timeout_ms: 60_000.0, ..quiet_config() };
        let session = Session::builder(&model)
            .edge(EdgeEndpoint::new(format!("http://{}", link.local_addr())))
            .signals(Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi))))
            .config(config)
            .build()
            .expect("session");
        assert_eq!(session.wait_for_edge(Duration::from_secs(10)).await, EdgeStatus::Verified);
        let input = check::seeded_inputs(session.model().inputs());
        let send = InferOptions { cut: Some(0), ..Default::default() };
        session.infer_with(input.clone(), send.clone()).await.expect("warm-up");
        let mut achieved = vec![];
        let mut wire = vec![];
        let mut body = 0;
        for _ in 0..RUNS {
            let (up0, _) = link.total_bytes();
            let r = session.infer_with(input.clone(), send.clone()).await.expect("never an error");
            let (up1, _) = link.total_bytes();
            assert!(r.report.offloaded, "{:?}", r.report);
            let on_wire = up1 - up0;
            achieved.push(on_wire as f64 * 8.0 / (r.report.upload_rtt_ms * 1e3));
            wire.push(on_wire as f64);
            body = r.report.bytes_up;
        }
        let best = achieved.iter().copied().fold(0.0, f64::max);
        let achieved = median(achieved);
        let wire = median(wire);
        if rate_mbps == 0.0 {
            // Unshaped loopback: what the path itself costs, for reference.
            println!(
                "| unshaped | {achieved:.0} Mbps ({:.1} ms for 1 MiB) | - | {raw_bytes} B | {body} B | {wire:.0} B | {:.3}% over |",
                wire * 8.0 / (achieved * 1e3),
                100.0 * (wire - raw_bytes as f64) / raw_bytes as f64
            );
            continue;
        }
        println!(
            "| {rate_mbps} Mbps | {achieved:.2} Mbps ({best:.2}) | {:.1}% ({:.1}%) | {raw_bytes} B | {body} B | {wire:.0} B | {:.3}% over |",
            100.0 * achieved / rate_mbps,
            100.0 * best / rate_mbps,
            100.0 * (wire - raw_bytes as f64) / raw_bytes as f64
        );
    }
    let _ = edge.shutdown().await;
}
