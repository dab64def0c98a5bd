//! Prometheus metrics in the text exposition format, written by hand: a few counters and
//! histograms do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tandem_model::CacheStats;

use crate::load::LoadSnapshot;

/// Upper bounds of the latency histograms' buckets, in seconds.
const BUCKETS_S: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS_S.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS_S.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS_S.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The server's metrics. Every method is cheap and never fails.
#[derive(Default)]
pub(crate) struct Metrics {
    http: Mutex<BTreeMap<(String, u16), u64>>,
    infer: Mutex<BTreeMap<(String, u16), u64>>,
    infer_seconds: Mutex<BTreeMap<String, Histogram>>,
    compute_seconds: Mutex<BTreeMap<String, Histogram>>,
    queue_seconds: Mutex<Histogram>,
    inputs_by_encoding: Mutex<BTreeMap<&'static str, u64>>,
    upstream: Mutex<BTreeMap<String, u64>>,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    probe_bytes_received: AtomicU64,
    probe_bytes_sent: AtomicU64,
    panics: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

fn observe(map: &Mutex<BTreeMap<String, Histogram>>, key: &str, seconds: f64) {
    if let Ok(mut m) = map.lock() {
        m.entry(key.to_string()).or_default().observe(seconds);
    }
}

/// Escapes a label value (`\`, `"`, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub(crate) fn http_request(&self, endpoint: &str, status: u16) {
        bump(&self.http, (endpoint.to_string(), status));
    }

    pub(crate) fn infer_done(&self, model: &str, status: u16, seconds: f64) {
        bump(&self.infer, (model.to_string(), status));
        observe(&self.infer_seconds, model, seconds);
    }

    pub(crate) fn computed(&self, model: &str, compute_seconds: f64, queue_seconds: f64) {
        observe(&self.compute_seconds, model, compute_seconds);
        if let Ok(mut h) = self.queue_seconds.lock() {
            h.observe(queue_seconds);
        }
    }

    pub(crate) fn input_encoding(&self, encoding: &'static str) {
        bump(&self.inputs_by_encoding, encoding);
    }

    pub(crate) fn upstream(&self, outcome: &str) {
        bump(&self.upstream, outcome.to_string());
    }

    pub(crate) fn bytes(&self, received: usize, sent: usize) {
        self.bytes_received.fetch_add(received as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(sent as u64, Ordering::Relaxed);
    }

    pub(crate) fn probe_bytes(&self, received: usize, sent: usize) {
        self.probe_bytes_received.fetch_add(received as u64, Ordering::Relaxed);
        self.probe_bytes_sent.fetch_add(sent as u64, Ordering::Relaxed);
    }

    pub(crate) fn panic(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self, load: &LoadSnapshot, caches: &[(String, CacheStats)]) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "tandem_edge_http_requests_total",
            "counter",
            "HTTP requests by endpoint and status.",
        );
        if let Ok(m) = self.http.lock() {
            for ((endpoint, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "tandem_edge_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                    label(endpoint)
                );
            }
        }
        header(
            &mut out,
            "tandem_edge_infer_requests_total",
            "counter",
            "Inference requests by model and status.",
        );
        if let Ok(m) = self.infer.lock() {
            for ((model, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "tandem_edge_infer_requests_total{{model=\"{}\",status=\"{status}\"}} {n}",
                    label(model)
                );
            }
        }
        for (name, help, map) in [
            (
                "tandem_edge_infer_duration_seconds",
                "Inference request time, body read to response.",
                &self.infer_seconds,
            ),
            (
                "tandem_edge_compute_duration_seconds",
                "Time running the model part of a request.",
                &self.compute_seconds,
            ),
        ] {
            header(&mut out, name, "histogram", help);
            if let Ok(m) = map.lock() {
                for (model, h) in m.iter() {
                    h.render(&mut out, name, &format!("model=\"{}\"", label(model)));
                }
            }
        }
        header(
            &mut out,
            "tandem_edge_queue_wait_seconds",
            "histogram",
            "Time requests waited for a compute slot.",
        );
        if let Ok(h) = self.queue_seconds.lock() {
            h.render(&mut out, "tandem_edge_queue_wait_seconds", "");
        }
        header(
            &mut out,
            "tandem_edge_input_tensors_total",
            "counter",
            "Input tensors received, by wire encoding.",
        );
        if let Ok(m) = self.inputs_by_encoding.lock() {
            for (encoding, n) in m.iter() {
                let _ = writeln!(out, "tandem_edge_input_tensors_total{{encoding=\"{encoding}\"}} {n}");
            }
        }
        header(
            &mut out,
            "tandem_edge_upstream_requests_total",
            "counter",
            "Requests forwarded upstream, by outcome.",
        );
        if let Ok(m) = self.upstream.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "tandem_edge_upstream_requests_total{{outcome=\"{}\"}} {n}",
                    label(outcome)
                );
            }
        }
        for (name, help, value) in [
            (
                "tandem_edge_infer_received_bytes_total",
                "Bytes of inference request bodies.",
                &self.bytes_received,
            ),
            ("tandem_edge_infer_sent_bytes_total", "Bytes of inference response bodies.", &self.bytes_sent),
            (
                "tandem_edge_probe_received_bytes_total",
                "Bytes absorbed by POST /v2/probe.",
                &self.probe_bytes_received,
            ),
            ("tandem_edge_probe_sent_bytes_total", "Bytes sent by GET /v2/probe.", &self.probe_bytes_sent),
            (
                "tandem_edge_panics_total",
                "Model runs that panicked (bugs; the server survived).",
                &self.panics,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help, value) in [
            ("tandem_edge_in_flight", "Requests running now.", load.in_flight),
            ("tandem_edge_queued", "Requests waiting for a compute slot.", load.queued),
            ("tandem_edge_capacity", "Compute slots.", load.capacity),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(&mut out, "tandem_edge_part_cache_parts", "gauge", "Built model parts held, by model.");
        for (model, s) in caches {
            let _ = writeln!(out, "tandem_edge_part_cache_parts{{model=\"{}\"}} {}", label(model), s.parts);
        }
        header(&mut out, "tandem_edge_part_cache_builds_total", "counter", "Model parts built, by model.");
        for (model, s) in caches {
            let _ = writeln!(
                out,
                "tandem_edge_part_cache_builds_total{{model=\"{}\"}} {}",
                label(model),
                s.builds
            );
        }
        header(
            &mut out,
            "tandem_edge_part_cache_evictions_total",
            "counter",
            "Model parts dropped from the cache, by model.",
        );
        for (model, s) in caches {
            let _ = writeln!(
                out,
                "tandem_edge_part_cache_evictions_total{{model=\"{}\"}} {}",
                label(model),
                s.evictions
            );
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
        assert!(text.contains("tandem_edge_infer_duration_seconds_bucket{model=\"a\\\"b\",le=\"0.005\"} 1"));
        assert!(text.contains("tandem_edge_infer_duration_seconds_bucket{model=\"a\\\"b\",le=\"10\"} 1"));
        assert!(text.contains("tandem_edge_infer_duration_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"} 2"));
        assert!(text.contains("tandem_edge_queued 2"));
    }
}
