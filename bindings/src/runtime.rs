//! The one place that decides how async work and panics are handled at the boundary.
//!
//! Every async export runs its work as a task on the bindings' own multi-thread tokio runtime
//! and awaits the task's handle. The handle is runtime-agnostic, so the foreign side's
//! executor (Kotlin coroutines, Swift concurrency) drives nothing but a wake-up; the work
//! never runs on a foreign thread, and a panic in it ends the task, not the app: it comes
//! back as [`TandemError::Internal`]. Dropping the awaiting future (a cancelled coroutine or
//! Swift task) aborts the task. Sync exports go through [`guard`], which catches panics the
//! same way.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::TandemError;

/// Worker threads of the bindings' runtime. Inference is compute-bound and runs on the
/// core's own blocking threads; the workers only move bytes and wait for the edge.
const WORKER_THREADS: usize = 2;

/// The bindings' tokio runtime, started on first use and alive for the whole process.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("tandem-ffi")
            .enable_all()
            .build()
            .expect("the OS lets a process start threads; without that nothing in Tandem can run")
    })
}

/// Runs `work` as a task on the bindings' runtime and waits for it. A panic in `work` becomes
/// [`TandemError::Internal`]; dropping the returned future aborts the task.
pub(crate) async fn run<T, F>(work: F) -> Result<T, TandemError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, TandemError>> + Send + 'static,
{
    let mut task = AbortOnDrop(runtime().spawn(work));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(panicked(e.into_panic())),
        Err(_) => Err(TandemError::Internal { reason: "the task was cancelled".into() }),
    }
}

/// Runs a synchronous export body, turning a panic into [`TandemError::Internal`].
pub(crate) fn guard<T>(body: impl FnOnce() -> Result<T, TandemError>) -> Result<T, TandemError> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panicked(payload)))
}

/// Blocks the calling (foreign) thread on `work` run by the bindings' runtime, with panics
/// turned into errors. For sync exports; never call it from a runtime thread.
pub(crate) fn block_on<T, F>(work: F) -> Result<T, TandemError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, TandemError>> + Send + 'static,
{
    guard(|| runtime().block_on(run(work)))
}

/// A panic is a bug in Tandem: log it (error level is for bugs) and describe it.
fn panicked(payload: Box<dyn Any + Send>) -> TandemError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    log::error!("bug: Tandem panicked: {what}");
    TandemError::Internal { reason: format!("Tandem panicked: {what}") }
}

/// A task handle that aborts its task when dropped, so a cancelled call stops its work.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_in_sync_and_async_bodies_become_internal_errors() {
        let e = guard::<()>(|| panic!("boom {}", 1)).expect_err("a panic is an error");
        assert!(matches!(&e, TandemError::Internal { reason } if reason.contains("boom 1")), "{e:?}");
        let e = block_on::<(), _>(async { panic!("async boom") }).expect_err("a panic is an error");
        assert!(matches!(&e, TandemError::Internal { reason } if reason.contains("async boom")), "{e:?}");
        // the runtime survives a panicking task
        assert_eq!(block_on(async { Ok(7) }).expect("still works"), 7);
    }
}
