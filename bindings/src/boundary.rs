//! The one place where panics are stopped at the FFI boundary.
//!
//! Every export runs its body through [`guard`] (sync) or [`guarded`] (async): a panic becomes
//! [`TandemError::Internal`] instead of unwinding into Kotlin or Swift (UniFFI would also catch
//! it, but as an untyped internal exception). The session runs requests as tasks on its own
//! runtime and turns their panics into errors too; these guards cover the code that runs on
//! the caller's thread: argument conversion and request validation.
//!
//! No async runtime is chosen here: the session's futures only await its own tasks, so they
//! can be driven by any executor, Kotlin's and Swift's included.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::TandemError;

/// Runs a synchronous export body, turning a panic into [`TandemError::Internal`].
pub(crate) fn guard<T>(body: impl FnOnce() -> Result<T, TandemError>) -> Result<T, TandemError> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panicked(payload)))
}

/// Wraps an async export body so that a panic while polling it becomes
/// [`TandemError::Internal`]. After a panic the future is finished and never polled again.
pub(crate) fn guarded<T, F>(body: F) -> Guarded<F>
where
    F: Future<Output = Result<T, TandemError>>,
{
    Guarded { body: Some(Box::pin(body)) }
}

/// The future returned by [`guarded`].
pub(crate) struct Guarded<F> {
    body: Option<Pin<Box<F>>>,
}

impl<T, F> Future for Guarded<F>
where
    F: Future<Output = Result<T, TandemError>>,
{
    type Output = Result<T, TandemError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(Err(TandemError::Internal { reason: "polled after a panic".into() }));
        };
        // A body that panicked is dropped and never polled again, so its broken invariants
        // cannot be observed: asserting unwind safety is sound.
        match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => {
                self.body = None;
                Poll::Ready(out)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                self.body = None;
                Poll::Ready(Err(panicked(payload)))
            }
        }
    }
}

/// A panic is a bug in Tandem: log it (error level is for bugs) and describe it.
pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> TandemError {
    let what = tandem_sdk::util::panic_message(&*payload);
    log::error!("bug: Tandem panicked: {what}");
    TandemError::Internal { reason: format!("Tandem panicked: {what}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_in_sync_and_async_bodies_become_internal_errors() {
        let e = guard::<()>(|| panic!("boom {}", 1)).expect_err("a panic is an error");
        assert!(matches!(&e, TandemError::Internal { reason } if reason.contains("boom 1")), "{e:?}");

        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let e = rt
            .block_on(guarded::<(), _>(async {
                tokio::task::yield_now().await;
                panic!("async boom")
            }))
            .expect_err("a panic is an error");
        assert!(matches!(&e, TandemError::Internal { reason } if reason.contains("async boom")), "{e:?}");
        assert_eq!(rt.block_on(guarded(async { Ok(7) })).expect("no panic"), 7);
    }
}
