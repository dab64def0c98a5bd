//! The benchmark's errors: one typed enum, each variant naming what failed.

use std::path::PathBuf;

/// Why a benchmark could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command line is unusable (unknown network, no model left to run...).
    #[error("invalid arguments: {0}")]
    Args(String),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A child process (edge server or phone) could not be started or talked to.
    #[error("{role} process: {reason}")]
    Process {
        /// `edge` or `phone`.
        role: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The edge server misbehaved (no URL, profile never ready, unexpected answer).
    #[error("the edge server: {0}")]
    Edge(String),
    /// The phone process reported a failure while running a command.
    #[error("the phone: {0}")]
    Phone(String),
    /// The CPU throttle (cgroup v1 or v2) could not be set up.
    #[error("the CPU throttle: {0}")]
    Throttle(String),
    /// The kernel shaper (`--shaper kernel`) could not be set up.
    #[error("the kernel shaper: {0}")]
    Shaper(String),
    /// The link emulator could not start.
    #[error("the link emulator: {0}")]
    Link(#[source] std::io::Error),
    /// A model could not be loaded or run by the phone's session.
    #[error("session: {0}")]
    Session(#[from] tandem_sdk::SessionError),
    /// The planner refused its inputs.
    #[error("planner: {0}")]
    Plan(#[from] tandem_sdk::PlanError),
    /// JSON could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A plot could not be drawn.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl BenchError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BenchError::Io { path: path.into(), source }
    }
}
