//! The link emulator against real loopback sockets: rate, added round trip, faults, counters.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_linkemu::{Fault, LinkConfig, LinkEmulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that, per connection, reads until EOF, then answers the 8-byte count it got.
async fn counting_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(_) => return,
                    }
                }
                let _ = s.write_all(&total.to_le_bytes()).await;
            });
        }
    });
    addr
}

/// A server that echoes every message of the form [len: u32][bytes] as [len][len bytes], or,
/// for a message "SEND n", sends n bytes and closes.
async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 1];
                while let Ok(1) = s.read(&mut buf).await {
                    match buf[0] {
                        b'p' => {
                            if s.write_all(b"P").await.is_err() {
                                return;
                            }
                        }
                        b'd' => {
                            let data = vec![7u8; 500_000];
                            let _ = s.write_all(&data).await;
                            return;
                        }
                        _ => return,
                    }
                }
            });
        }
    });
    addr
}

/// Uploads `bytes` through `link`, closes, and waits for the count; returns (count, elapsed).
async fn upload(link: SocketAddr, bytes: usize) -> (u64, Duration) {
    let mut c = TcpStream::connect(link).await.expect("connect");
    let t0 = Instant::now();
    c.write_all(&vec![1u8; bytes]).await.expect("write");
    c.shutdown().await.expect("shutdown");
    let mut count = [0u8; 8];
    c.read_exact(&mut count).await.expect("count");
    (u64::from_le_bytes(count), t0.elapsed())
}

/// Whether `got` is `want` within `tolerance` below and three times that above: the emulator
/// must never be faster than its rate, and a loaded machine only adds time.
fn within(got: f64, want: f64, tolerance: f64) -> bool {
    let ratio = got / want;
    ratio >= 1.0 - tolerance && ratio <= 1.0 + 3.0 * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_throughput_and_rtt_compose() {
    let server = counting_server().await;
    let link = LinkEmulator::start(server, LinkConfig::mbps(20.0, 0.0, 40.0)).await.expect("start");
    let (count, elapsed) = upload(link.local_addr(), 1_000_000).await;
    assert_eq!(count, 1_000_000);
    // 1 MB at 20 Mbps is 400 ms, plus 20 ms up and 20 ms down of added delay
    let want_ms = 400.0 + 40.0;
    let got_ms = elapsed.as_secs_f64() * 1e3;
    assert!(within(got_ms, want_ms, 0.10), "took {got_ms:.1} ms, want {want_ms} ms -10%/+30%");
    let throughput_mbps = 8e6 / ((got_ms - 40.0) * 1e3);
    eprintln!("1 MB up at 20 Mbps + 40 ms RTT: {got_ms:.1} ms, {throughput_mbps:.2} Mbps achieved");
    assert!(throughput_mbps >= 18.0, "achieved {throughput_mbps:.2} Mbps of 20 (>= 90%)");
    let conns = link.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!((conns[0].bytes_up, conns[0].bytes_down), (1_000_000, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_throughput() {
    let server = echo_server().await;
    let link = LinkEmulator::start(server, LinkConfig::mbps(0.0, 16.0, 0.0)).await.expect("start");
    let mut c = TcpStream::connect(link.local_addr()).await.expect("connect");
    let t0 = Instant::now();
    c.write_all(b"d").await.expect("ask");
    let mut got = vec![];
    c.read_to_end(&mut got).await.expect("read");
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(got.len(), 500_000);
    eprintln!("500 kB down at 16 Mbps: {ms:.1} ms, {:.2} Mbps achieved", 4e6 / (ms * 1e3));
    // 500 kB at 16 Mbps = 250 ms
    assert!(within(ms, 250.0, 0.10), "took {ms:.1} ms, want 250 ms -10%/+30%");
    assert_eq!(link.total_bytes(), (1, 500_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_is_added() {
    let server = echo_server().await;
    let link = LinkEmulator::start(server, LinkConfig::mbps(0.0, 0.0, 50.0)).await.expect("start");
    let mut c = TcpStream::connect(link.local_addr()).await.expect("connect");
    let mut rtts = vec![];
    for _ in 0..5 {
        let t0 = Instant::now();
        c.write_all(b"p").await.expect("ping");
        let mut pong = [0u8; 1];
        c.read_exact(&mut pong).await.expect("pong");
        rtts.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    rtts.sort_by(f64::total_cmp);
    assert!(rtts[0] >= 50.0, "{rtts:?}");
    assert!(rtts[2] < 60.0, "{rtts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_changes_at_runtime() {
    let server = counting_server().await;
    let link = LinkEmulator::start(server, LinkConfig::mbps(40.0, 0.0, 0.0)).await.expect("start");
    let (_, fast) = upload(link.local_addr(), 500_000).await;
    link.set_config(LinkConfig::mbps(10.0, 0.0, 0.0));
    let (_, slow) = upload(link.local_addr(), 500_000).await;
    // Never faster than the rate (a loaded machine only adds time), and the new rate takes
    // effect: four times slower, within what scheduling noise adds.
    let (fast_ms, slow_ms) = (fast.as_secs_f64() * 1e3, slow.as_secs_f64() * 1e3);
    assert!(fast_ms >= 85.0 && slow_ms >= 360.0, "{fast:?} {slow:?}");
    assert!((2.5..6.0).contains(&(slow_ms / fast_ms)), "{fast:?} {slow:?}");
    assert_eq!(link.accepted(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_stops_everything_but_keeps_the_connection() {
    let server = counting_server().await;
    let link = LinkEmulator::start(
        server,
        LinkConfig { fault: Fault::Stall { after_bytes: 10_000 }, ..LinkConfig::unlimited() },
    )
    .await
    .expect("start");
    let mut c = TcpStream::connect(link.local_addr()).await.expect("connect");
    c.write_all(&vec![1u8; 100_000]).await.expect("the kernel buffers take it");
    c.shutdown().await.expect("shutdown");
    let mut count = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_millis(300), c.read_exact(&mut count)).await;
    assert!(read.is_err(), "a stalled link answers nothing: {read:?}");
    let conns = link.connections();
    assert_eq!(conns[0].bytes_up, 10_000);
    assert!(conns[0].open, "stalled, not closed");
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(link.connections()[0].open, "still stalled");
    link.set_config(LinkConfig::unlimited());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!link.connections()[0].open, "closed once the stall is cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body() {
    let server = counting_server().await;
    let link = LinkEmulator::start(
        server,
        LinkConfig { fault: Fault::ResetMidBody { after_bytes: 10_000 }, ..LinkConfig::mbps(50.0, 0.0, 0.0) },
    )
    .await
    .expect("start");
    let mut c = TcpStream::connect(link.local_addr()).await.expect("connect");
    let write = c.write_all(&vec![1u8; 2_000_000]).await;
    let mut rest = vec![];
    let read = c.read_to_end(&mut rest).await;
    let reset = |e: &std::io::Error| {
        matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
    };
    assert!(
        write.as_ref().err().is_some_and(reset) || read.as_ref().err().is_some_and(reset),
        "write {write:?}, read {read:?}"
    );
    assert_eq!(link.connections()[0].bytes_up, 10_000);
    // a fault cleared: the next connection works
    link.set_config(LinkConfig::unlimited());
    assert_eq!(upload(link.local_addr(), 50_000).await.0, 50_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_then_accept_again() {
    let server = counting_server().await;
    let link = LinkEmulator::start(server, LinkConfig::unlimited()).await.expect("start");
    let addr = link.local_addr();
    link.set_config(LinkConfig { fault: Fault::Refuse, ..LinkConfig::unlimited() });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = TcpStream::connect(addr).await.expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    link.set_config(LinkConfig::unlimited());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(upload(addr, 1000).await.0, 1000, "same port, open again");
}
