//! Admission control: a fixed number of compute slots, a bounded queue in front of them, and
//! the load numbers the profile endpoint reports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::EdgeError;

/// The server's current load, as reported by `GET /v2/models/{m}/profile`: the wire type
/// of `tandem_protocol::profile`, the one schema the phone's planner reads.
pub type LoadSnapshot = tandem_protocol::profile::EdgeLoad;

pub(crate) struct Load {
    slots: Arc<Semaphore>,
    capacity: usize,
    max_queued: usize,
    /// Requests queued or running.
    admitted: AtomicUsize,
    running: AtomicUsize,
    queue_wait_ms: Mutex<f64>,
}

/// A request admitted to the queue; leaving (done, failed, timed out) frees its place.
pub(crate) struct Ticket {
    load: Arc<Load>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.load.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A compute slot, held while a part of a model runs.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _ticket: Ticket,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self._ticket.load.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Load {
    pub(crate) fn new(capacity: usize, max_queued: usize) -> Arc<Load> {
        let capacity = capacity.max(1);
        Arc::new(Load {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            max_queued,
            admitted: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            queue_wait_ms: Mutex::new(0.0),
        })
    }

    /// Admits a request, or refuses it with 503 when every slot is busy and the queue full.
    pub(crate) fn try_admit(self: &Arc<Self>) -> Result<Ticket, EdgeError> {
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket { load: self.clone() };
        if before >= self.capacity + self.max_queued {
            drop(ticket);
            let snapshot = self.snapshot();
            // Roughly the time the queue needs to move; at least a second.
            let retry_after_s = (snapshot.queue_wait_ms / 1e3).ceil().max(1.0) as u64;
            return Err(EdgeError::Overloaded {
                in_flight: snapshot.in_flight,
                queued: snapshot.queued,
                retry_after_s,
            });
        }
        Ok(ticket)
    }

    /// Admits background work (the profiler) whatever the queue holds: it still waits for a
    /// slot like any request, so it never runs beyond the capacity.
    pub(crate) fn admit_background(self: &Arc<Self>) -> Ticket {
        self.admitted.fetch_add(1, Ordering::SeqCst);
        Ticket { load: self.clone() }
    }

    /// Waits for a compute slot; returns it with the time waited in milliseconds.
    pub(crate) async fn slot(&self, ticket: Ticket) -> (Slot, f64) {
        let start = Instant::now();
        let permit = self.slots.clone().acquire_owned().await.expect("the slot semaphore is never closed");
        self.running.fetch_add(1, Ordering::SeqCst);
        let waited_ms = start.elapsed().as_secs_f64() * 1e3;
        if let Ok(mut avg) = self.queue_wait_ms.lock() {
            *avg = 0.8 * *avg + 0.2 * waited_ms;
        }
        (Slot { _permit: permit, _ticket: ticket }, waited_ms)
    }

    pub(crate) fn snapshot(&self) -> LoadSnapshot {
        let running = self.running.load(Ordering::SeqCst);
        let admitted = self.admitted.load(Ordering::SeqCst);
        LoadSnapshot {
            in_flight: running,
            queued: admitted.saturating_sub(running),
            capacity: self.capacity,
            max_queued: self.max_queued,
            queue_wait_ms: self.queue_wait_ms.lock().map(|v| *v).unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_capacity_plus_queue_then_refuses() {
        let load = Load::new(1, 1);
        let a = load.try_admit().expect("first");
        let (slot, _) = load.slot(a).await;
        let b = load.try_admit().expect("queued");
        let err = load.try_admit().err().expect("full");
        assert!(matches!(err, EdgeError::Overloaded { in_flight: 1, queued: 1, retry_after_s: 1 }));
        assert_eq!(load.snapshot().queued, 1);
        drop(slot);
        let (_slot, _) = load.slot(b).await;
        assert_eq!((load.snapshot().in_flight, load.snapshot().queued), (1, 0));
        assert!(load.try_admit().is_ok());
    }
}
