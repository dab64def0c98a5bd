//! Serving connections: HTTP/1.1 with hyper, driven here rather than by `axum::serve` so that
//! every connection is bounded in time and in number.
//!
//! - **Header-read timeout**: a request's headers must arrive within it, counted from the
//!   moment the server waits for them (the accept, or the end of the previous response).
//! - **Idle timeout**: a connection with no request in progress is closed after it.
//! - **Connection cap**: at most `max_connections` connections are served at once. Beyond
//!   it, a small reserve of connections answers only the health checks (with a short header
//!   timeout and no keep-alive; any other path gets 503 with `Retry-After`), so that probes
//!   still answer under a connection flood; beyond the reserve, connections are closed at
//!   once. The cap is checked against the open-files limit at startup.
//! - **Half-close**: a client that shuts its write side after sending still gets its answer.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, watch, Semaphore};
use tower_service::Service;

use crate::metrics::Metrics;

/// Longest a connection of the health reserve may take to send its request's headers.
const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest request head (start line and headers) a connection may send; a larger one gets 431.
/// Above hyper's own 64 KiB URI limit, so a too-long URI still gets 414. Without it, hyper's
/// read-buffer cap (about 400 KiB) applies only to heads that arrive in pieces.
const MAX_HEADER_BYTES: usize = 96 * 1024;

/// Limits on the connections one listener serves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub reserved_connections: usize,
}

/// Accepts connections from `listener` and serves `app` on them (`reserve_app`, the health
/// checks alone, on those of the reserve) until `stop` fires, then
/// lets every open connection finish its request in progress and returns once all closed.
pub(crate) async fn serve<L>(
    mut listener: L,
    app: Router,
    reserve_app: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
{
    let main = Arc::new(Semaphore::new(limits.max_connections));
    let reserve = Arc::new(Semaphore::new(limits.reserved_connections));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    loop {
        let (io, _peer) = tokio::select! {
            conn = listener.accept() => conn,
            _ = &mut stop => break,
        };
        let (app, permit, reserved) = if let Ok(permit) = main.clone().try_acquire_owned() {
            (app.clone(), permit, false)
        } else if let Ok(permit) = reserve.clone().try_acquire_owned() {
            (reserve_app.clone(), permit, true)
        } else {
            metrics.connection("refused");
            drop(io);
            continue;
        };
        metrics.connection(if reserved { "reserve" } else { "served" });
        let conn = Connection { limits, reserved, metrics: metrics.clone(), shutdown: shutdown_rx.clone() };
        tokio::spawn(async move {
            conn.run(io, app).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Every connection holds a permit until it closes.
    let all = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let _ = main.acquire_many(all(limits.max_connections)).await;
    let _ = reserve.acquire_many(all(limits.reserved_connections)).await;
    Ok(())
}

/// One connection being served.
struct Connection {
    limits: ConnLimits,
    reserved: bool,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

/// Whether a request is in progress on a connection, and since when it is idle.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `start` to the end of the last response.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.start.elapsed().saturating_sub(since))
    }

    fn done(&self) {
        let now_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(now_ms, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that marks the request done once hyper has written (or dropped) it.
struct Tracked {
    inner: Body,
    activity: Arc<Activity>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.done();
    }
}

impl HttpBody for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Connection {
    async fn run<I>(mut self, io: I, app: Router)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let _open = self.metrics.connection_opened();
        let activity = Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        });
        let tracker = activity.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut app = app.clone();
            let activity = tracker.clone();
            activity.in_flight.fetch_add(1, Ordering::SeqCst);
            async move {
                let response = match app.call(request.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|inner| Tracked { inner, activity }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).half_close(true).max_header_size(MAX_HEADER_BYTES);
        if self.reserved {
            builder
                .keep_alive(false)
                .header_read_timeout(RESERVE_HEADER_TIMEOUT.min(self.limits.header_read_timeout));
        } else {
            builder.header_read_timeout(self.limits.header_read_timeout);
        }
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let idle_timeout = self.limits.idle_timeout;
        let check_every = (idle_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut closing = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        self.metrics.connection_error(&e);
                    }
                    break;
                }
                _ = self.shutdown.changed(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tokio::time::sleep(check_every), if !closing => {
                    if activity.idle_for().is_some_and(|idle| idle >= idle_timeout) {
                        self.metrics.connection_timeout("idle");
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// What a hyper connection error means for the metrics: the status hyper answered with
/// (400, 414, 431), a header-read timeout, or something else (I/O, a reset).
pub(crate) fn classify(e: &hyper::Error) -> (&'static str, Option<StatusCode>) {
    if e.is_timeout() {
        ("header_timeout", None)
    } else if e.is_parse_too_large() {
        if e.to_string().contains("URI too long") {
            ("uri_too_long", Some(StatusCode::URI_TOO_LONG))
        } else {
            ("headers_too_large", Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        }
    } else if e.is_parse() {
        ("malformed", Some(StatusCode::BAD_REQUEST))
    } else {
        ("io", None)
    }
}

/// The open-files limit (soft) of this process, if it can be read.
pub(crate) fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _hard)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Files the server needs besides its connections (models, listeners, logs, the runtime).
pub(crate) const FILES_RESERVED: u64 = 64;

/// The default connection cap: 4096, or less when the open-files limit leaves less room.
pub(crate) fn default_max_connections(reserved_connections: usize) -> usize {
    let room = open_files_limit()
        .map(|limit| limit.saturating_sub(FILES_RESERVED + reserved_connections as u64))
        .unwrap_or(4096);
    usize::try_from(room).unwrap_or(usize::MAX).clamp(1, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_stays_below_the_open_files_limit() {
        let cap = default_max_connections(16) as u64;
        assert!((1..=4096).contains(&cap));
        if let Some(limit) = open_files_limit().filter(|l| *l > 16 + FILES_RESERVED) {
            assert!(cap + 16 + FILES_RESERVED <= limit, "{cap} vs {limit}");
        }
    }
}
