//! The edge: `tandem edge` in a child process (unthrottled), optionally inside the kernel
//! shaper's network namespace.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::protocol::ModelSpec;

/// A running `tandem edge` process; killed on drop.
#[derive(Debug)]
pub struct EdgeProcess {
    child: Child,
    url: String,
}

/// What the edge's background profiler reached for one model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileState {
    /// The model.
    pub model: String,
    /// `done`, `partial` (budget ran out: some cuts interpolated) or `disabled`.
    pub status: String,
    /// Cuts measured by the edge.
    pub measured_cuts: usize,
    /// Cuts in the model.
    pub cuts: usize,
    /// The engine the edge serves it with, as its profile says (`onnxruntime (cpu)`,
    /// `tract`); `None` when the profile does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

impl EdgeProcess {
    /// Starts `exe edge` serving `models` on `listen`, in network namespace `netns` if given,
    /// with `profile_budget_s` seconds per model for its profiler and `extra` arguments
    /// (e.g. `--cloud URL`); its stderr goes to `log`. Returns once it listens (loading big
    /// models takes a while).
    pub fn spawn(
        exe: &Path,
        models: &[ModelSpec],
        listen: &str,
        profile_budget_s: f64,
        netns: Option<&str>,
        log: &Path,
        extra: &[String],
    ) -> Result<EdgeProcess, BenchError> {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.arg("edge").args(["--listen", listen, "--profile-budget-s", &profile_budget_s.to_string()]);
        for m in models {
            cmd.arg("--model").arg(&m.path);
            if let Some(shapes) = &m.input_shapes {
                let dims = |s: &Vec<usize>| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
                let shapes = shapes.iter().map(dims).collect::<Vec<_>>().join(",");
                cmd.arg("--input-shape").arg(format!("{}={shapes}", m.name));
            }
        }
        cmd.args(extra);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::Process { role: "edge", reason: format!("starting: {e}") })?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| BenchError::Process { role: "edge", reason: "no stderr".into() })?;
        let mut log_file = std::fs::File::create(log).map_err(|e| BenchError::io(log, e))?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log_file, "{line}");
                if let Some(url) =
                    line.strip_prefix("tandem edge: serving ").and_then(|l| l.rsplit(" on ").next())
                {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut edge = EdgeProcess { child, url: String::new() };
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(url) => {
                    edge.url = url;
                    return Ok(edge);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = edge.child.try_wait() {
                        return Err(BenchError::Process {
                            role: "edge",
                            reason: format!("exited with {status} before listening; see {}", log.display()),
                        });
                    }
                }
                Err(_) => {
                    return Err(BenchError::Process {
                        role: "edge",
                        reason: format!("did not start listening; see {}", log.display()),
                    })
                }
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The edge's base URL, as it printed it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `host:port` the edge listens on.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/')
    }

    /// Waits until the edge's profiler has finished (or run out of budget) for every model,
    /// so that it is idle during the measurements. Gives up after `timeout`.
    pub async fn wait_for_profiles(
        &self,
        models: &[ModelSpec],
        timeout: Duration,
    ) -> Result<Vec<ProfileState>, BenchError> {
        self.poll_profiles(models, timeout, "its profile was not ready", |name, b| {
            let status = b["status"].as_str().unwrap_or("").to_string();
            if status.is_empty() || status == "running" {
                return None;
            }
            let cuts = b["cuts"].as_array();
            let measured_cuts = cuts.map_or(0, |c| c.iter().filter(|c| c["measured"] == true).count());
            Some(ProfileState {
                model: name.to_string(),
                status,
                measured_cuts,
                cuts: cuts.map_or(0, Vec::len),
                engine: b["engine"]["name"].as_str().map(|name| {
                    match b["engine"]["execution_provider"].as_str() {
                        Some(ep) => format!("{name} ({ep})"),
                        None => name.to_string(),
                    }
                }),
            })
        })
        .await
    }

    /// Three tiers: waits until the edge's profile of every model describes the cloud behind
    /// it (its profile and the measured link). Gives up after `timeout`.
    pub async fn wait_for_cloud(
        &self,
        models: &[ModelSpec],
        timeout: Duration,
    ) -> Result<Vec<CloudAdvert>, BenchError> {
        self.poll_profiles(models, timeout, "the edge did not advertise a cloud (see edge.log)", |name, b| {
            let link = &b["cloud"]["link"];
            let (uplink_mbps, rtt_ms) = link["uplink_mbps"].as_f64().zip(link["rtt_ms"].as_f64())?;
            Some(CloudAdvert { model: name.to_string(), uplink_mbps, rtt_ms })
        })
        .await
    }

    /// Polls `GET /v2/models/{m}/profile` of every model until `pick` finds what it waits for
    /// in the body; `what` says what was missing after `timeout`.
    async fn poll_profiles<T>(
        &self,
        models: &[ModelSpec],
        timeout: Duration,
        what: &str,
        pick: impl Fn(&str, &serde_json::Value) -> Option<T>,
    ) -> Result<Vec<T>, BenchError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BenchError::Edge(format!("HTTP client: {e}")))?;
        let start = Instant::now();
        let mut found = vec![];
        for m in models {
            let url = format!("{}/v2/models/{}/profile", self.url.trim_end_matches('/'), m.name);
            loop {
                let body: Option<serde_json::Value> = match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.json().await.ok(),
                    _ => None,
                };
                if let Some(t) = body.as_ref().and_then(|b| pick(&m.name, b)) {
                    found.push(t);
                    break;
                }
                if start.elapsed() > timeout {
                    return Err(BenchError::Edge(format!("`{}`: {what} after {timeout:?}", m.name)));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(found)
    }
}

/// The cloud behind an edge as the edge's profile endpoint advertises it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CloudAdvert {
    /// The model.
    pub model: String,
    /// The edge-to-cloud rate the edge measured, Mbps.
    pub uplink_mbps: f64,
    /// The edge-to-cloud round trip the edge measured, ms.
    pub rtt_ms: f64,
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
