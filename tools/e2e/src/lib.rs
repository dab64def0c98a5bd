//! # tandem-e2e
//!
//! Helpers for end-to-end tests of the offload session: the real edge server
//! ([`tandem_edge`]) on loopback, the link emulator ([`tandem_linkemu`]) in front of it, and
//! [`Chaos`], an HTTP-aware proxy that answers with server errors or malformed bodies on
//! demand. The chain is `session → link emulator → chaos proxy → edge`; the edge can be
//! killed and restarted on the same port.
//!
//! This crate exists so that `tandem-core` never depends on `tandem-edge`, not even for
//! tests (a dev-dependency would build a second copy of the core's types).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_edge::{EdgeServer, EdgeServerBuilder, RunningEdge};
use tandem_linkemu::{LinkConfig, LinkEmulator};
use tandem_sdk::{
    check, CellularGen, Executor, LoadOptions, Model, NamedTensor, NetworkKind, PlatformState, SessionConfig,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Serializes the tests of one test binary that measure time or throughput: on a 2-core
/// machine, tests running side by side would measure each other. Hold the guard for the
/// whole test.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A bundled model by file stem.
pub fn model_path(stem: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(format!("{stem}.onnx"))
}

/// A file of `models/testdata`.
pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/testdata").join(file)
}

/// The reference: the whole model run locally.
pub fn local_outputs(model: &Path, inputs: &[NamedTensor]) -> Vec<NamedTensor> {
    let model = Model::load(model, &LoadOptions::default()).expect("the model loads");
    Executor::new(Arc::new(model)).run_full(inputs).expect("the model runs")
}

/// A seeded input of the model's declared shape; `seed` varies the values.
pub fn seeded_input(model: &Model, seed: u64) -> Vec<NamedTensor> {
    model.inputs().iter().enumerate().map(|(i, s)| check::seeded_tensor(s, seed * 31 + i as u64)).collect()
}

/// The platform state of a phone on `kind`.
pub fn on_network(kind: NetworkKind) -> PlatformState {
    PlatformState { network: kind, network_id: format!("test-{}", kind.name()), ..Default::default() }
}

/// The three uplinks of the papers (Neurosurgeon): (label, network, uplink Mbps, downlink
/// Mbps, RTT ms). Round trips are shortened so that tests stay fast.
pub const NETWORKS: [(&str, NetworkKind, f64, f64, f64); 3] = [
    ("3G", NetworkKind::Cellular(CellularGen::G3), 1.1, 2.0, 60.0),
    ("LTE", NetworkKind::Cellular(CellularGen::Lte), 5.85, 13.0, 30.0),
    ("Wi-Fi", NetworkKind::Wifi, 18.88, 30.0, 10.0),
];

/// A session configuration for tests: no background calibration or probing, and no
/// exploratory offloads (they would add traffic and CPU load the tests do not expect;
/// `tests/exploration.rs` turns exploration on).
pub fn quiet_config() -> SessionConfig {
    SessionConfig {
        calibrate: false,
        auto_probe: false,
        exploration: tandem_sdk::ExplorationConfig { enabled: false, ..Default::default() },
        connect_wait_ms: 5_000,
        edge_refresh_ms: 600_000,
        ..Default::default()
    }
}

/// An edge builder for tests: short timeouts, background profiler off.
pub fn edge_builder() -> EdgeServerBuilder {
    EdgeServer::builder()
        .profile_budget(Duration::ZERO)
        .shutdown_timeout(Duration::from_millis(300))
        .request_timeout(Duration::from_secs(5))
}

/// Largest absolute difference between two lists of float tensors (infinite if they differ
/// in names, shapes or count).
pub fn max_diff(a: &[NamedTensor], b: &[NamedTensor]) -> f64 {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.name != y.name) {
        return f64::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| x.max_abs_diff(y)).fold(0.0, f64::max)
}

/// Largest absolute value of a list of float tensors.
pub fn max_abs(a: &[NamedTensor]) -> f64 {
    a.iter().filter_map(|t| t.to_f32()).flatten().map(|v| f64::from(v.abs())).fold(0.0, f64::max)
}

/// What the chaos proxy does with the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chaos {
    /// Forward to the edge.
    Pass,
    /// Answer with this HTTP status and a JSON error.
    Status(u16),
    /// Answer 200 with a body that is not an inference response.
    Garbage,
    /// Answer 200 announcing more body bytes than it sends, then close.
    Truncate,
}

/// An HTTP/1.1 proxy that forwards to the edge or injects server-side faults.
pub struct ChaosProxy {
    addr: SocketAddr,
    mode: Arc<Mutex<Chaos>>,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ChaosProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<ChaosProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(Mutex::new(Chaos::Pass));
        let requests = Arc::new(AtomicU64::new(0));
        let (m, r) = (mode.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, m.clone(), r.clone()));
            }
        });
        Ok(ChaosProxy { addr, mode, requests, task })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets what the next requests get.
    pub fn set(&self, chaos: Chaos) {
        *self.mode.lock().expect("chaos lock") = chaos;
    }

    /// Requests seen so far (complete request heads and bodies).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP message head and body (content-length framing only, which the edge uses).
async fn read_message<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; content_length];
    r.read_exact(&mut body).await?;
    Ok(Some((head, body)))
}

async fn serve(client: TcpStream, upstream: SocketAddr, mode: Arc<Mutex<Chaos>>, requests: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let mut client = BufReader::new(client);
    let mut edge: Option<BufReader<TcpStream>> = None;
    loop {
        let Ok(Some((head, body))) = read_message(&mut client).await else { return };
        requests.fetch_add(1, Ordering::SeqCst);
        let chaos = *mode.lock().expect("chaos lock");
        let reply = match chaos {
            Chaos::Pass => {
                // A kept-alive connection to an edge that restarted is dead: like a reverse
                // proxy, retry once on a fresh one.
                let mut reply = None;
                for _ in 0..2 {
                    if edge.is_none() {
                        let Ok(s) = TcpStream::connect(upstream).await else { return };
                        let _ = s.set_nodelay(true);
                        edge = Some(BufReader::new(s));
                    }
                    let e = edge.as_mut().expect("connected above");
                    let exchange = async {
                        e.get_mut().write_all(&head).await?;
                        e.get_mut().write_all(&body).await?;
                        read_message(e).await
                    };
                    match exchange.await {
                        Ok(Some((h, b))) => {
                            reply = Some([h, b].concat());
                            break;
                        }
                        _ => edge = None,
                    }
                }
                // The edge went away: so does this connection.
                let Some(reply) = reply else { return };
                reply
            }
            Chaos::Status(status) => {
                let json = format!(r#"{{"error":"injected status {status}"}}"#);
                format!(
                    "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                    json.len()
                )
                .into_bytes()
            }
            Chaos::Garbage => {
                let body = "this is not an inference response";
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ninference-header-content-length: 4\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Chaos::Truncate => {
                let _ = client
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"model_name\"")
                    .await;
                return;
            }
        };
        if client.get_mut().write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The whole chain: `session → link emulator → chaos proxy → edge`, with an edge that can
/// be killed and restarted on the same port.
pub struct Rig {
    /// The link emulator the session talks to.
    pub link: LinkEmulator,
    /// The HTTP fault injector behind it.
    pub chaos: ChaosProxy,
    edge: Option<RunningEdge>,
    edge_addr: SocketAddr,
    make_edge: Box<dyn Fn() -> EdgeServerBuilder + Send + Sync>,
}

impl Rig {
    /// Starts an edge from `make_edge()` and the chain in front of it, with the link shaped
    /// by `link`.
    pub async fn start(
        make_edge: impl Fn() -> EdgeServerBuilder + Send + Sync + 'static,
        link: LinkConfig,
    ) -> Rig {
        let edge = make_edge().bind("127.0.0.1:0").await.expect("the edge starts");
        let edge_addr = edge.addr();
        let chaos = ChaosProxy::start(edge_addr).await.expect("the chaos proxy starts");
        let link = LinkEmulator::start(chaos.addr(), link).await.expect("the link emulator starts");
        Rig { link, chaos, edge: Some(edge), edge_addr, make_edge: Box::new(make_edge) }
    }

    /// The URL the session uses.
    pub fn url(&self) -> String {
        format!("http://{}", self.link.local_addr())
    }

    /// Stops the edge (in-flight requests get a short grace period).
    pub async fn kill_edge(&mut self) {
        if let Some(edge) = self.edge.take() {
            // A stalled request may outlive the grace period: that is fine here.
            let _ = edge.shutdown().await;
        }
    }

    /// Starts the edge again on the same port, with `make_edge()` or another builder.
    pub async fn restart_edge(&mut self, builder: Option<EdgeServerBuilder>) {
        self.kill_edge().await;
        let builder = builder.unwrap_or_else(|| (self.make_edge)());
        let addr = self.edge_addr.to_string();
        let mut last = None;
        for _ in 0..50 {
            match builder.clone().bind(&addr).await {
                Ok(edge) => {
                    self.edge = Some(edge);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!("the edge did not restart on {addr}: {last:?}");
    }

    /// Whether the edge is running.
    pub fn edge_running(&self) -> bool {
        self.edge.is_some()
    }
}

/// Writes an ONNX model with one `Relu` on a float32 input of `[1, elements]`: a model whose
/// cut 0 sends `4 · elements` bytes and whose compute is negligible, for measuring the
/// transport alone.
pub fn write_relu_model(path: &Path, elements: usize) -> std::io::Result<()> {
    use prost::Message;
    use tract_onnx::pb;
    let value_info = |name: &str| {
        use pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};
        let dim = |d: usize| Dimension { value: Some(Dim::DimValue(d as i64)), ..Default::default() };
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto { dim: vec![dim(1), dim(elements)] }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    let model = pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "tandem-e2e".into(),
        graph: Some(pb::GraphProto {
            name: "relu".into(),
            node: vec![pb::NodeProto {
                name: "relu".into(),
                op_type: "Relu".into(),
                input: vec!["x".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            input: vec![value_info("x")],
            output: vec![value_info("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec())
}
