//! Rust `log` records forwarded to a foreign [`LogSink`] (Logcat on Android, `os.Logger` on iOS).
//!
//! One forwarding logger is installed in the process on the first [`set_log_sink`]; later calls
//! replace the sink and the level. Tandem's logs never contain tensor data or images.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::TandemError;

/// Severity of a log record, most severe first: the `log` crate's [`log::Level`] (a remote type
/// for UniFFI: this definition only tells UniFFI its variants).
pub type LogLevel = log::Level;

#[uniffi::remote(Enum)]
pub enum LogLevel {
    /// A bug in Tandem.
    Error,
    /// Something degraded (e.g. the edge was skipped) but the request was served.
    Warn,
    /// Decisions worth knowing (plans, calibrations).
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// One log line from Tandem's Rust code.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// Where it comes from: the Rust module path (e.g. `tandem_sdk::session`).
    pub target: String,
    /// The message.
    pub message: String,
}

/// Receives Tandem's log records. Called from any thread, possibly concurrently; keep it quick.
/// Errors and exceptions thrown here are ignored.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// Handles one record.
    fn log(&self, record: LogRecord);
}

/// Sends Tandem's log records at `max_level` and more severe to `sink`, replacing any sink set
/// before. Fails only if another Rust logger was installed in this process first.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), TandemError> {
    let logger = LOGGER.get_or_init(|| ForwardingLogger { sink: RwLock::new(None) });
    *logger.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| log::set_logger(logger).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| TandemError::Config { reason: format!("another logger is installed: {e}") })?;
    log::set_max_level(max_level.to_level_filter());
    Ok(())
}

static LOGGER: OnceLock<ForwardingLogger> = OnceLock::new();

struct ForwardingLogger {
    sink: RwLock<Option<Arc<dyn LogSink>>>,
}

thread_local! {
    /// Set while a record is being forwarded on this thread: a sink that calls back into Tandem
    /// (which may log) must not recurse.
    static FORWARDING: Cell<bool> = const { Cell::new(false) };
}

impl log::Log for ForwardingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || FORWARDING.with(|f| f.replace(true)) {
            return;
        }
        let sink = self.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(sink) = sink {
            let record = LogRecord {
                level: record.level(),
                target: record.target().to_string(),
                message: record.args().to_string(),
            };
            // A sink is foreign code: whatever it does must not unwind through Rust callers.
            let _ = catch_unwind(AssertUnwindSafe(|| sink.log(record)));
        }
        FORWARDING.with(|f| f.set(false));
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<LogRecord>>);
    impl LogSink for Collect {
        fn log(&self, record: LogRecord) {
            if record.message.contains("panic please") {
                panic!("a sink that panics");
            }
            self.0.lock().expect("not poisoned").push(record);
        }
    }

    #[test]
    fn forwards_filters_replaces_and_survives_a_panicking_sink() {
        let first = Arc::new(Collect::default());
        set_log_sink(first.clone(), LogLevel::Info).expect("installs");
        log::info!(target: "tandem_test", "hello {}", 1);
        log::debug!(target: "tandem_test", "filtered out");
        log::info!(target: "tandem_test", "panic please");
        let got = first.0.lock().expect("not poisoned").clone();
        let mine: Vec<_> = got.iter().filter(|r| r.target == "tandem_test").collect();
        assert_eq!(mine.len(), 1, "{got:?}");
        assert_eq!(mine[0].message, "hello 1");
        assert_eq!(mine[0].level, LogLevel::Info);

        let second = Arc::new(Collect::default());
        set_log_sink(second.clone(), LogLevel::Debug).expect("replaces");
        log::debug!(target: "tandem_test", "now visible");
        assert!(second.0.lock().expect("not poisoned").iter().any(|r| r.message == "now visible"));
        assert!(!first.0.lock().expect("not poisoned").iter().any(|r| r.message == "now visible"));
    }
}
