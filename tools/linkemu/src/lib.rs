//! # tandem-linkemu
//!
//! A loopback TCP proxy that makes a connection behave like a mobile link: a rate limit per
//! direction, an added round trip, and faults (stall, reset mid-body, refuse). Tests, the
//! offload session's tests, the demo and the benchmark put it between a client and the edge;
//! [`presets`] names the mobile links the demo and the benchmark emulate.
//!
//! ```no_run
//! # async fn demo(edge: std::net::SocketAddr) -> std::io::Result<()> {
//! use tandem_linkemu::{Fault, LinkConfig, LinkEmulator};
//! let link = LinkEmulator::start(edge, LinkConfig::mbps(5.85, 13.0, 60.0)).await?;
//! let url = format!("http://{}", link.local_addr());   // talk to the edge through "LTE"
//! link.set_config(LinkConfig { fault: Fault::ResetMidBody { after_bytes: 10_000 }, ..link.config() });
//! # Ok(()) }
//! ```
//!
//! ## How the link is modelled
//! Each direction is a pipe: a reader takes chunks from the sending socket and gives each a
//! departure time on a serialised timeline (`rate`: a chunk of `n` bytes occupies the link for
//! `n·8/rate`), then a delivery time `rtt/2` later; a writer delivers chunks at their delivery
//! times. Serialisation and propagation overlap as on a real link: a 1 MB upload at 10 Mbps
//! over 100 ms of RTT takes 800 ms + 50 ms, not 800 ms + 50 ms per chunk. Chunks are at most
//! about 2 ms of link time (and at least 512 bytes), so pacing is smooth. The reader stops
//! reading while a chunk waits for its departure, so TCP back-pressure reaches the sender.
//!
//! Config changes apply to chunks read afterwards, on every open connection (for
//! dynamic-bandwidth traces).

pub mod presets;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A fault the link injects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// No fault.
    #[default]
    None,
    /// After `after_bytes` have gone up a connection, nothing more moves on it, in either
    /// direction; the connection stays open (the client must time out) until the fault is
    /// cleared, then it is closed.
    Stall {
        /// Bytes (client to server) forwarded before the stall.
        after_bytes: u64,
    },
    /// After `after_bytes` have gone up a connection, both ends are reset (RST).
    ResetMidBody {
        /// Bytes (client to server) forwarded before the reset.
        after_bytes: u64,
    },
    /// New connections are refused: the listening socket is closed, so connecting fails with
    /// "connection refused". It is reopened on the same port when the fault is cleared.
    Refuse,
}

/// How the emulated link behaves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Client-to-server rate, Mbps (`0` or less: unlimited).
    pub uplink_mbps: f64,
    /// Server-to-client rate, Mbps (`0` or less: unlimited).
    pub downlink_mbps: f64,
    /// Added round trip, ms: half is added in each direction.
    pub rtt_ms: f64,
    /// The fault to inject.
    pub fault: Fault,
}

impl LinkConfig {
    /// A link with these rates and round trip, no fault.
    pub fn mbps(uplink_mbps: f64, downlink_mbps: f64, rtt_ms: f64) -> Self {
        LinkConfig { uplink_mbps, downlink_mbps, rtt_ms, fault: Fault::None }
    }

    /// No shaping and no fault: a plain proxy.
    pub fn unlimited() -> Self {
        LinkConfig::mbps(0.0, 0.0, 0.0)
    }
}

/// Bytes moved on one proxied connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionStats {
    /// Order of acceptance, from 0.
    pub id: u64,
    /// Bytes forwarded client to server.
    pub bytes_up: u64,
    /// Bytes forwarded server to client.
    pub bytes_down: u64,
    /// Whether the connection is still open.
    pub open: bool,
}

#[derive(Debug, Default)]
struct Counters {
    id: u64,
    up: AtomicU64,
    down: AtomicU64,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Shared {
    connections: Mutex<Vec<Arc<Counters>>>,
    accepted: AtomicU64,
}

/// A running link emulator: a proxy listening on a loopback port. Dropping it stops the
/// proxy and closes every connection through it.
#[derive(Debug)]
pub struct LinkEmulator {
    local_addr: SocketAddr,
    config: watch::Sender<LinkConfig>,
    shared: Arc<Shared>,
    _tasks: JoinSet<()>,
}

impl LinkEmulator {
    /// Starts a proxy on `127.0.0.1` (a free port) forwarding to `upstream` through a link
    /// shaped by `config`. Needs a tokio runtime with the time and net drivers.
    pub async fn start(upstream: SocketAddr, config: LinkConfig) -> std::io::Result<LinkEmulator> {
        LinkEmulator::start_on("127.0.0.1:0".parse().expect("a valid address"), upstream, config).await
    }

    /// Starts a proxy listening on `listen` (port 0: any free port).
    pub async fn start_on(
        listen: SocketAddr,
        upstream: SocketAddr,
        config: LinkConfig,
    ) -> std::io::Result<LinkEmulator> {
        let listener = bind(listen)?;
        let local_addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(config);
        let shared = Arc::new(Shared::default());
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, local_addr, upstream, rx, shared.clone()));
        log::debug!("link emulator on {local_addr} -> {upstream}: {config:?}");
        Ok(LinkEmulator { local_addr, config: tx, shared, _tasks: tasks })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The current configuration.
    pub fn config(&self) -> LinkConfig {
        *self.config.borrow()
    }

    /// Changes the link now: rates, round trip and fault apply to data read from here on, on
    /// every open connection.
    pub fn set_config(&self, config: LinkConfig) {
        self.config.send_replace(config);
    }

    /// Bytes moved on every connection so far, in order of acceptance.
    pub fn connections(&self) -> Vec<ConnectionStats> {
        let conns = self.shared.connections.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .iter()
            .map(|c| ConnectionStats {
                id: c.id,
                bytes_up: c.up.load(Ordering::Relaxed),
                bytes_down: c.down.load(Ordering::Relaxed),
                open: !c.closed.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Total bytes forwarded (up, down) over all connections.
    pub fn total_bytes(&self) -> (u64, u64) {
        self.connections().iter().fold((0, 0), |(u, d), c| (u + c.bytes_up, d + c.bytes_down))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(
    listener: TcpListener,
    local_addr: SocketAddr,
    upstream: SocketAddr,
    mut config: watch::Receiver<LinkConfig>,
    shared: Arc<Shared>,
) {
    let mut conns = JoinSet::new();
    let mut listener = Some(listener);
    loop {
        let refuse = config.borrow_and_update().fault == Fault::Refuse;
        if refuse {
            listener = None;
            if config.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match bind(local_addr) {
                Ok(l) => l,
                Err(e) => {
                    log::warn!("link emulator: cannot reopen {local_addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => {
                listener = Some(l);
                let Ok((client, _)) = accepted else { continue };
                let id = shared.accepted.fetch_add(1, Ordering::Relaxed);
                let counters = Arc::new(Counters { id, ..Default::default() });
                shared.connections.lock().unwrap_or_else(|e| e.into_inner()).push(counters.clone());
                conns.spawn(proxy(client, upstream, config.clone(), counters));
            }
            changed = config.changed() => {
                listener = Some(l);
                if changed.is_err() {
                    return;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {
                listener = Some(l);
            }
        }
    }
}

/// What a direction's pipe ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The sender closed its side and everything was delivered.
    Eof,
    /// Reset both ends.
    Reset,
    /// Stop moving data, keep the sockets open.
    Stall,
    /// A socket error (a peer went away).
    Error,
}

async fn proxy(
    client: TcpStream,
    upstream: SocketAddr,
    mut config: watch::Receiver<LinkConfig>,
    counters: Arc<Counters>,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            log::debug!("link emulator: upstream connect failed: {e}");
            let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
            counters.closed.store(true, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let client = Arc::new(client);
    let server = Arc::new(server);
    let up = pipe(client.clone(), server.clone(), Direction::Up, config.clone(), counters.clone());
    let down = pipe(server.clone(), client.clone(), Direction::Down, config.clone(), counters.clone());
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let end = loop {
        let end = tokio::select! {
            e = &mut up, if !up_done => { up_done = true; e }
            e = &mut down, if !down_done => { down_done = true; e }
            else => break End::Eof,
        };
        if end != End::Eof {
            break end;
        }
    };
    match end {
        End::Reset => {
            let _ = socket2::SockRef::from(&*client).set_linger(Some(Duration::ZERO));
            let _ = socket2::SockRef::from(&*server).set_linger(Some(Duration::ZERO));
        }
        End::Stall => {
            // A black hole: swallow whatever the client still sends. A client that closed
            // its side cannot be told from one that gave up, so the connection stays open
            // until the stall is cleared (or 10 minutes pass, or the emulator stops).
            let mut buf = vec![0u8; 16 * 1024];
            let swallow = async {
                while let Ok(n) = read_some(&client, &mut buf).await {
                    if n == 0 {
                        std::future::pending::<()>().await;
                    }
                }
            };
            let cleared = async {
                while matches!(config.borrow_and_update().fault, Fault::Stall { .. }) {
                    if config.changed().await.is_err() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = swallow => {}
                _ = cleared => {}
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
        }
        End::Eof | End::Error => {}
    }
    counters.closed.store(true, Ordering::Relaxed);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

async fn read_some(s: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves bytes from `src` to `dst` through the emulated link in one direction.
async fn pipe(
    src: Arc<TcpStream>,
    dst: Arc<TcpStream>,
    dir: Direction,
    mut config: watch::Receiver<LinkConfig>,
    counters: Arc<Counters>,
) -> End {
    // (delivery time, bytes); `None` marks the end of the stream
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
    let writer = async {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let Some(chunk) = chunk else {
                let _ = socket2::SockRef::from(&*dst).shutdown(std::net::Shutdown::Write);
                return End::Eof;
            };
            if write_all(&dst, &chunk).await.is_err() {
                return End::Error;
            }
        }
        End::Error
    };
    let reader = async {
        let mut link_free_at = Instant::now();
        let mut last_delivery = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let cfg = *config.borrow_and_update();
            let rate_mbps = match dir {
                Direction::Up => cfg.uplink_mbps,
                Direction::Down => cfg.downlink_mbps,
            };
            let bytes_per_ms = if rate_mbps > 0.0 { rate_mbps * 1e3 / 8.0 } else { f64::INFINITY };
            let mut limit = (bytes_per_ms * 2.0).clamp(512.0, buf.len() as f64) as usize;
            if dir == Direction::Up {
                let sent = counters.up.load(Ordering::Relaxed);
                match cfg.fault {
                    Fault::Stall { after_bytes } if sent >= after_bytes => return End::Stall,
                    Fault::ResetMidBody { after_bytes } if sent >= after_bytes => return End::Reset,
                    Fault::Stall { after_bytes } | Fault::ResetMidBody { after_bytes } => {
                        limit = limit.min((after_bytes - sent) as usize);
                    }
                    Fault::None | Fault::Refuse => {}
                }
            }
            let n = tokio::select! {
                n = read_some(&src, &mut buf[..limit]) => n,
                // a config change (e.g. a fault) must act even while no data flows
                _ = config.changed() => continue,
            };
            let n = match n {
                Ok(0) => {
                    let _ = tx.send((last_delivery, None));
                    // wait for the writer to deliver everything
                    std::future::pending::<()>().await;
                    unreachable!("pending never completes")
                }
                Ok(n) => n,
                Err(_) => return End::Error,
            };
            let now = Instant::now();
            // An idle link starts now; a busy one continues its timeline, catching up at most
            // 2 ms of timer lateness so that sleep granularity does not lower the rate.
            let slack = Duration::from_millis(2);
            let earliest = now.checked_sub(slack).unwrap_or(now);
            link_free_at = link_free_at.max(earliest);
            let depart = if bytes_per_ms.is_finite() {
                link_free_at + Duration::from_secs_f64(n as f64 / bytes_per_ms / 1e3)
            } else {
                now
            };
            link_free_at = depart;
            let delivery = (depart + Duration::from_secs_f64(cfg.rtt_ms.max(0.0) / 2e3)).max(last_delivery);
            last_delivery = delivery;
            let counter = if dir == Direction::Up { &counters.up } else { &counters.down };
            counter.fetch_add(n as u64, Ordering::Relaxed);
            if tx.send((delivery, Some(buf[..n].to_vec()))).is_err() {
                return End::Error;
            }
            // the link is busy until `depart`: read nothing more before (back-pressure)
            tokio::time::sleep_until(depart).await;
        }
    };
    tokio::select! {
        end = reader => end,
        end = writer => end,
    }
}
