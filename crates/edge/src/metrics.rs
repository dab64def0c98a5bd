//! Prometheus metrics, kept and written (OpenMetrics text) by the `prometheus-client` crate.
//!
//! Names are those of the first, hand-written version: counters end in `_total`,
//! histograms give `_bucket`, `_sum` and `_count`.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tandem_model::CacheStats;

use crate::load::LoadSnapshot;

/// Upper bounds of the latency histograms' buckets, in seconds.
const BUCKETS_S: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The content type of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointStatus {
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelStatus {
    model: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabel {
    encoding: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS_S)
}

type Histograms = Family<ModelLabel, Histogram, fn() -> Histogram>;

/// The server's metrics. Every method is cheap and never fails.
pub(crate) struct Metrics {
    registry: Registry,
    http: Family<EndpointStatus, Counter>,
    infer: Family<ModelStatus, Counter>,
    infer_seconds: Histograms,
    compute_seconds: Histograms,
    queue_seconds: Histogram,
    inputs_by_encoding: Family<EncodingLabel, Counter>,
    cloud: Family<OutcomeLabel, Counter>,
    bytes_received: Counter,
    bytes_sent: Counter,
    probe_bytes_received: Counter,
    probe_bytes_sent: Counter,
    panics: Counter,
    connections: Family<OutcomeLabel, Counter>,
    connection_errors: Family<ReasonLabel, Counter>,
    connections_open: Gauge,
    in_flight: Gauge,
    queued: Gauge,
    capacity: Gauge,
    cache_parts: Family<ModelLabel, Gauge>,
    cache_builds: Family<ModelLabel, Counter<u64, AtomicU64>>,
    cache_evictions: Family<ModelLabel, Counter<u64, AtomicU64>>,
    /// Renders one at a time: the cache counters are brought up to date while rendering.
    render_lock: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let http = Family::default();
        r.register("tandem_edge_http_requests", "HTTP requests by endpoint and status.", http.clone());
        let infer = Family::default();
        r.register("tandem_edge_infer_requests", "Inference requests by model and status.", infer.clone());
        let infer_seconds: Histograms = Family::new_with_constructor(histogram);
        r.register(
            "tandem_edge_infer_duration_seconds",
            "Inference request time, body read to response.",
            infer_seconds.clone(),
        );
        let compute_seconds: Histograms = Family::new_with_constructor(histogram);
        r.register(
            "tandem_edge_compute_duration_seconds",
            "Time running the model part of a request.",
            compute_seconds.clone(),
        );
        let queue_seconds = histogram();
        r.register(
            "tandem_edge_queue_wait_seconds",
            "Time requests waited for a compute slot.",
            queue_seconds.clone(),
        );
        let inputs_by_encoding = Family::default();
        r.register(
            "tandem_edge_input_tensors",
            "Input tensors received, by wire encoding.",
            inputs_by_encoding.clone(),
        );
        // The name predates the rename of the third tier to "cloud"; dashboards read it.
        let cloud = Family::default();
        r.register(
            "tandem_edge_upstream_requests",
            "Requests forwarded to the cloud server (three tiers), by outcome.",
            cloud.clone(),
        );
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let bytes_received =
            counter(&mut r, "tandem_edge_infer_received_bytes", "Bytes of inference request bodies.");
        let bytes_sent =
            counter(&mut r, "tandem_edge_infer_sent_bytes", "Bytes of inference response bodies.");
        let probe_bytes_received =
            counter(&mut r, "tandem_edge_probe_received_bytes", "Bytes absorbed by POST /v2/probe.");
        let probe_bytes_sent =
            counter(&mut r, "tandem_edge_probe_sent_bytes", "Bytes sent by GET /v2/probe.");
        let panics =
            counter(&mut r, "tandem_edge_panics", "Model runs that panicked (bugs; the server survived).");
        let connections = Family::default();
        r.register(
            "tandem_edge_connections",
            "Connections accepted: served, served by the health reserve (cap reached), or refused.",
            connections.clone(),
        );
        let connection_errors = Family::default();
        r.register(
            "tandem_edge_connection_errors",
            "Connections ended by the HTTP layer: malformed (400), uri_too_long (414), \
             headers_too_large (431), header_timeout, idle (idle timeout), io.",
            connection_errors.clone(),
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let connections_open = gauge(&mut r, "tandem_edge_connections_open", "Connections open now.");
        let in_flight = gauge(&mut r, "tandem_edge_in_flight", "Requests running now.");
        let queued = gauge(&mut r, "tandem_edge_queued", "Requests waiting for a compute slot.");
        let capacity = gauge(&mut r, "tandem_edge_capacity", "Compute slots.");
        let cache_parts = Family::default();
        r.register("tandem_edge_part_cache_parts", "Built model parts held, by model.", cache_parts.clone());
        let cache_builds = Family::default();
        r.register("tandem_edge_part_cache_builds", "Model parts built, by model.", cache_builds.clone());
        let cache_evictions = Family::default();
        r.register(
            "tandem_edge_part_cache_evictions",
            "Model parts dropped from the cache, by model.",
            cache_evictions.clone(),
        );
        Metrics {
            registry: r,
            http,
            infer,
            infer_seconds,
            compute_seconds,
            queue_seconds,
            inputs_by_encoding,
            cloud,
            bytes_received,
            bytes_sent,
            probe_bytes_received,
            probe_bytes_sent,
            panics,
            connections,
            connection_errors,
            connections_open,
            in_flight,
            queued,
            capacity,
            cache_parts,
            cache_builds,
            cache_evictions,
            render_lock: Mutex::new(()),
        }
    }
}

/// Counts a connection as open until dropped.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn model(name: &str) -> ModelLabel {
    ModelLabel { model: name.to_string() }
}

impl Metrics {
    pub(crate) fn http_request(&self, endpoint: &str, status: u16) {
        self.http.get_or_create(&EndpointStatus { endpoint: endpoint.to_string(), status }).inc();
    }

    pub(crate) fn infer_done(&self, model_name: &str, status: u16, seconds: f64) {
        self.infer.get_or_create(&ModelStatus { model: model_name.to_string(), status }).inc();
        self.infer_seconds.get_or_create(&model(model_name)).observe(seconds);
    }

    pub(crate) fn computed(&self, model_name: &str, compute_seconds: f64, queue_seconds: f64) {
        self.compute_seconds.get_or_create(&model(model_name)).observe(compute_seconds);
        self.queue_seconds.observe(queue_seconds);
    }

    pub(crate) fn input_encoding(&self, encoding: &'static str) {
        self.inputs_by_encoding.get_or_create(&EncodingLabel { encoding: encoding.into() }).inc();
    }

    pub(crate) fn cloud(&self, outcome: &str) {
        self.cloud.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    pub(crate) fn bytes(&self, received: usize, sent: usize) {
        self.bytes_received.inc_by(received as u64);
        self.bytes_sent.inc_by(sent as u64);
    }

    pub(crate) fn probe_bytes(&self, received: usize, sent: usize) {
        self.probe_bytes_received.inc_by(received as u64);
        self.probe_bytes_sent.inc_by(sent as u64);
    }

    pub(crate) fn panic(&self) {
        self.panics.inc();
    }

    /// A connection accepted: `served`, `reserve` (health only) or `refused`.
    pub(crate) fn connection(&self, outcome: &str) {
        self.connections.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// Counts a connection as open until the returned guard drops.
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.connections_open.inc();
        OpenConnection(self.connections_open.clone())
    }

    /// A connection the HTTP layer ended with an error. Requests hyper refused itself
    /// (400, 414, 431) are also counted in `tandem_edge_http_requests_total` under the
    /// endpoint `(unparsed)`.
    pub(crate) fn connection_error(&self, e: &hyper::Error) {
        let (reason, status) = crate::conn::classify(e);
        self.connection_timeout(reason);
        if let Some(status) = status {
            self.http_request("(unparsed)", status.as_u16());
        }
    }

    /// A connection closed for `reason` (`idle`, `header_timeout`, ...).
    pub(crate) fn connection_timeout(&self, reason: &str) {
        self.connection_errors.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self, load: &LoadSnapshot, caches: &[(String, CacheStats)]) -> String {
        let _one_at_a_time = self.render_lock.lock();
        let as_gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.set(as_gauge(load.in_flight));
        self.queued.set(as_gauge(load.queued));
        self.capacity.set(as_gauge(load.capacity));
        for (name, stats) in caches {
            self.cache_parts.get_or_create(&model(name)).set(as_gauge(stats.parts));
            let catch_up = |counter: &Counter<u64, AtomicU64>, total: u64| {
                counter.inc_by(total.saturating_sub(counter.get()));
            };
            catch_up(&self.cache_builds.get_or_create(&model(name)), stats.builds);
            catch_up(&self.cache_evictions.get_or_create(&model(name)), stats.evictions);
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::error!("metrics encoding failed: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.infer_done("a\"b", 200, 0.003);
        m.infer_done("a\"b", 200, 20.0);
        m.http_request("/v2/models/{model}/infer", 200);
        let load = LoadSnapshot { in_flight: 1, queued: 2, capacity: 2, max_queued: 8, queue_wait_ms: 0.0 };
        let text = m.render(&load, &[]);
        assert!(
            text.contains("tandem_edge_infer_requests_total{model=\"a\\\"b\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tandem_edge_infer_duration_seconds_bucket{le=\"0.005\",model=\"a\\\"b\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tandem_edge_infer_duration_seconds_bucket{le=\"10.0\",model=\"a\\\"b\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tandem_edge_infer_duration_seconds_bucket{le=\"+Inf\",model=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(text.contains("tandem_edge_queued 2"));
        assert!(text.contains("tandem_edge_connections_open 0"));
    }
}
