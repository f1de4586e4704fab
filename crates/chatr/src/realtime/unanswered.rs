//! A session's writes that are queued and not answered yet.
//!
//! A send or a receipt ends once its write is queued: the writer answers it
//! after the commit (see `dispatch`). Without a bound, a client that sends
//! faster than the writer commits would only be held back by the writer's
//! queue, shared by everyone. So past [`BOUND`] unanswered writes the next
//! event waits for one of them to be answered, and, waiting, stays in
//! flight, where the engine's own bound on events in flight
//! (`max_concurrent_events`) stops reading the connection. Below the bound,
//! which is every connection's usual case, nothing waits.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Unanswered writes a session may have before its next event waits; the
/// engine's default bound on events in flight.
pub(super) const BOUND: usize = 64;

#[derive(Default)]
pub(super) struct Unanswered {
    count: AtomicUsize,
    /// Signalled when the count falls back below the bound.
    room: Notify,
}

impl Unanswered {
    /// One more write is queued.
    pub(super) fn begin(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits, only past the bound, until a write is answered.
    pub(super) async fn room(&self) {
        loop {
            if self.count.load(Ordering::Acquire) < BOUND {
                return;
            }
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the count is read again, so an answer in
            // between is not missed.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) < BOUND {
                return;
            }
            notified.await;
        }
    }

    /// One of them was answered.
    pub(super) fn answered(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == BOUND {
            self.room.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn past_the_bound_an_event_waits_until_a_write_is_answered() {
        let writes = Arc::new(Unanswered::default());
        for _ in 0..BOUND - 1 {
            writes.begin();
        }
        // Below the bound nothing waits.
        writes.room().await;
        writes.begin();
        let short = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(short, writes.room()).await.is_err(),
            "at the bound the next event waits"
        );
        let waiting = tokio::spawn({
            let writes = writes.clone();
            async move { writes.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        writes.answered();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("an answer lets the waiting event go on")
            .expect("the waiting task ran to its end");
    }
}
