//! Admission control in front of every sandbox: a bounded number of sandboxes run at
//! once, a bounded number of calls wait for one, for a bounded time; the rest are
//! refused at once with [`Overloaded`] (the HTTP API answers 503 with `Retry-After`).
//!
//! The number of sandboxes that may run at once is the smallest of
//! `limits.max_concurrent_runs`, `limits.memory_budget_bytes / limits.memory_bytes` (each
//! sandbox may grow to `memory_bytes`, so that many fit the budget even if every one of
//! them does) and `limits.max_instances` (the pooling allocator's slots). Waiting calls
//! are served first come, first served.

use crate::config::Limits;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a refused caller is told to wait before trying again. A second is about how long
/// a burst of typical actions (a few hundred milliseconds each) takes to drain from a
/// full host; longer would leave slots idle, shorter would bring the same burst back.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A call refused because the host is at capacity. Nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Overloaded {
    /// Why, with the limits involved.
    pub message: String,
    /// How long the caller should wait before retrying, in seconds.
    pub retry_after_secs: u64,
}

/// Counters of the admission control, for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Sandboxes that may run at once.
    pub slots: usize,
    /// Sandboxes running now.
    pub running: usize,
    /// Calls waiting for a slot now.
    pub waiting: usize,
    /// Calls admitted since start.
    pub admitted: u64,
    /// Calls refused because the queue was full.
    pub refused_queue_full: u64,
    /// Calls refused because no slot came free within the wait bound.
    pub refused_wait_exceeded: u64,
}

/// The admission control of one runtime.
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    slot_count: usize,
    /// Which limit sets `slot_count`, for the refusal message.
    bound_by: String,
    max_waiting: usize,
    max_wait: Duration,
    waiting: AtomicUsize,
    admitted: AtomicU64,
    refused_queue_full: AtomicU64,
    refused_wait_exceeded: AtomicU64,
}

/// A running sandbox's slot; the slot is free again when it is dropped.
pub(crate) struct Admitted {
    _permit: OwnedSemaphorePermit,
}

/// Decrements the waiting count however the wait ends (admitted, refused, or the caller
/// gone).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// The admission control `limits` ask for.
    pub(crate) fn new(limits: &Limits) -> Self {
        let concurrency = usize::try_from(limits.max_concurrent_runs).unwrap_or(usize::MAX);
        let by_memory =
            usize::try_from(limits.memory_budget_bytes / limits.memory_bytes.max(1) as u64)
                .unwrap_or(usize::MAX);
        let instances = usize::try_from(limits.max_instances).unwrap_or(usize::MAX);
        let (slot_count, bound_by) = [
            (
                concurrency,
                format!(
                    "limits.max_concurrent_runs = {}",
                    limits.max_concurrent_runs
                ),
            ),
            (
                by_memory,
                format!(
                    "limits.memory_budget_bytes = {} at limits.memory_bytes = {} each",
                    limits.memory_budget_bytes, limits.memory_bytes
                ),
            ),
            (
                instances,
                format!("limits.max_instances = {}", limits.max_instances),
            ),
        ]
        .into_iter()
        .min_by_key(|(count, _)| *count)
        .unwrap_or((1, String::new()));
        // The configuration is validated to allow at least one sandbox; never zero slots.
        let slot_count = slot_count.clamp(1, Semaphore::MAX_PERMITS);
        Admission {
            slots: Arc::new(Semaphore::new(slot_count)),
            slot_count,
            bound_by,
            max_waiting: usize::try_from(limits.admission_queue).unwrap_or(usize::MAX),
            max_wait: Duration::from_millis(limits.admission_wait_ms),
            waiting: AtomicUsize::new(0),
            admitted: AtomicU64::new(0),
            refused_queue_full: AtomicU64::new(0),
            refused_wait_exceeded: AtomicU64::new(0),
        }
    }

    /// A slot: at once if one is free, else after waiting in line (if the line is not
    /// full) for at most `limits.admission_wait_ms`.
    pub(crate) async fn admit(&self) -> Result<Admitted, Overloaded> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(Admitted { _permit: permit });
        }
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            self.refused_queue_full.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                slots = self.slot_count,
                waiting = ahead,
                "call refused: queue full"
            );
            return Err(self.overloaded(format!(
                "the host is at capacity: all {} sandbox slots are busy ({}) and {} calls are \
                 already waiting (limits.admission_queue = {})",
                self.slot_count, self.bound_by, ahead, self.max_waiting
            )));
        }
        match tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(Admitted { _permit: permit })
            }
            // The semaphore is never closed; treat it like a wait that ran out.
            Ok(Err(_)) | Err(_) => {
                self.refused_wait_exceeded.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    slots = self.slot_count,
                    "call refused: no slot within the wait bound"
                );
                Err(self.overloaded(format!(
                    "the host is at capacity: no sandbox slot came free within {} ms \
                     (limits.admission_wait_ms); all {} slots are busy ({})",
                    self.max_wait.as_millis(),
                    self.slot_count,
                    self.bound_by
                )))
            }
        }
    }

    fn overloaded(&self, message: String) -> Overloaded {
        Overloaded {
            message,
            retry_after_secs: RETRY_AFTER.as_secs(),
        }
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            slots: self.slot_count,
            running: self.slot_count - self.slots.available_permits(),
            waiting: self.waiting.load(Ordering::Acquire),
            admitted: self.admitted.load(Ordering::Relaxed),
            refused_queue_full: self.refused_queue_full.load(Ordering::Relaxed),
            refused_wait_exceeded: self.refused_wait_exceeded.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: u32, budget_mib: u64, queue: u32, wait_ms: u64) -> Limits {
        Limits {
            max_concurrent_runs: concurrency,
            memory_bytes: 1 << 20,
            memory_budget_bytes: budget_mib << 20,
            admission_queue: queue,
            admission_wait_ms: wait_ms,
            ..Limits::default()
        }
    }

    #[test]
    fn slots_are_the_smallest_of_concurrency_memory_budget_and_pool() {
        assert_eq!(Admission::new(&limits(8, 100, 0, 0)).stats().slots, 8);
        let by_memory = Admission::new(&limits(8, 3, 0, 0));
        assert_eq!(by_memory.stats().slots, 3);
        assert!(by_memory.bound_by.contains("memory_budget_bytes"));
        let pool = Admission::new(&Limits {
            max_instances: 2,
            ..limits(8, 100, 0, 0)
        });
        assert_eq!(pool.stats().slots, 2);
        assert!(pool.bound_by.contains("max_instances"));
        // The defaults: 64 sandboxes at the 64 MiB cap fill the 4 GiB budget.
        assert_eq!(Admission::new(&Limits::default()).stats().slots, 64);
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_slots_are_reused() {
        let admission = Arc::new(Admission::new(&limits(2, 100, 1, 60_000)));
        let first = admission.admit().await.expect("free slot");
        let second = admission.admit().await.expect("free slot");
        // The third waits in line...
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(|_| ()) })
        };
        while admission.stats().waiting == 0 {
            tokio::task::yield_now().await;
        }
        // ...the fourth finds the line full and is refused without waiting.
        let started = std::time::Instant::now();
        let refused = admission.admit().await.err().expect("refused");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            refused.message.contains("1 calls are already waiting"),
            "{}",
            refused.message
        );
        assert!(
            refused.message.contains("limits.admission_queue"),
            "{}",
            refused.message
        );
        assert_eq!(refused.retry_after_secs, 1);
        // A slot freed goes to the one waiting.
        drop(first);
        waiter
            .await
            .expect("joined")
            .expect("admitted after waiting");
        drop(second);
        let stats = admission.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0));
        assert_eq!(stats.admitted, 3);
        assert_eq!(stats.refused_queue_full, 1);
    }

    #[tokio::test]
    async fn a_wait_longer_than_the_bound_is_refused() {
        let admission = Admission::new(&limits(1, 100, 10, 250));
        let _held = admission.admit().await.expect("free slot");
        let started = std::time::Instant::now();
        let refused = admission.admit().await.err().expect("refused");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(
            refused.message.contains("within 250 ms"),
            "{}",
            refused.message
        );
        let stats = admission.stats();
        assert_eq!(stats.refused_wait_exceeded, 1);
        assert_eq!(stats.waiting, 0, "a refused caller leaves the line");
    }

    #[tokio::test]
    async fn no_queue_means_busy_is_refused_at_once() {
        let admission = Admission::new(&limits(1, 100, 0, 60_000));
        let held = admission.admit().await.expect("free slot");
        assert!(admission.admit().await.is_err());
        drop(held);
        assert!(admission.admit().await.is_ok());
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_line() {
        let admission = Arc::new(Admission::new(&limits(1, 100, 1, 60_000)));
        let _held = admission.admit().await.expect("free slot");
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(|_| ()) })
        };
        while admission.stats().waiting == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(admission.stats().waiting, 0);
        // The line has room again: this one waits rather than being refused at once.
        let again = tokio::time::timeout(Duration::from_millis(50), admission.admit()).await;
        assert!(again.is_err(), "it waited in line");
    }
}
