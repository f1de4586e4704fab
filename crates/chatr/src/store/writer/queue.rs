//! The queue in front of the inline SQLite writer. Callers push jobs from
//! whatever task they run in; the writer task takes everything queued at
//! once. Pushing and taking are a short mutex hold and, when the writer is
//! waiting, a wake-up of a task on the same runtime: no thread is woken
//! for a write, unlike a channel to a thread of its own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use super::{Job, MAX_BATCH, QUEUE};

pub(super) struct Queue {
    state: Mutex<State>,
    /// Jobs arrived (or the queue closed).
    ready: Notify,
    /// Room freed in a full queue.
    room: Notify,
}

struct State {
    jobs: Vec<Job>,
    open: bool,
    /// When the oldest job waiting was queued: one reading of the clock
    /// per batch, not per job.
    since: Option<Instant>,
}

impl State {
    fn add(&mut self, job: Job) {
        if self.jobs.is_empty() {
            self.since = Some(Instant::now());
        }
        self.jobs.push(job);
    }

    /// Notes in `oldest` when the jobs now taken began waiting.
    fn taken(&mut self, oldest: &mut Option<Instant>) {
        if oldest.is_none() {
            *oldest = self.since;
        }
        // Jobs left behind (a batch is full) keep the oldest's time: they
        // waited no longer than it, so their wait is over-stated, never
        // under-stated, and the clock is not read again.
        if self.jobs.is_empty() {
            self.since = None;
        }
    }
}

impl Queue {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                jobs: Vec::new(),
                open: true,
                since: None,
            }),
            ready: Notify::new(),
            room: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the Vec half-changed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job`, waiting while the queue is full; gives it back when
    /// the writer has stopped.
    pub(super) async fn push(&self, job: Job) -> Result<(), Job> {
        loop {
            // Created before the check, so a wake-up between the two is not lost.
            let room = self.room.notified();
            {
                let mut state = self.lock();
                if !state.open {
                    return Err(job);
                }
                if state.jobs.len() < QUEUE {
                    state.add(job);
                    drop(state);
                    self.ready.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// Queues `job` unless the queue is full or closed, and then gives it back.
    pub(super) fn try_push_or_return(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if !state.open || state.jobs.len() >= QUEUE {
            return Err(job);
        }
        state.add(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits for jobs and moves up to [`MAX_BATCH`] of them into `batch`,
    /// noting in `oldest` when the first of them was queued (unless it
    /// holds a time already); `false` once the queue is closed and empty.
    pub(super) async fn take(&self, batch: &mut Vec<Job>, oldest: &mut Option<Instant>) -> bool {
        loop {
            {
                let mut state = self.lock();
                if !state.jobs.is_empty() {
                    if state.jobs.len() <= MAX_BATCH && batch.is_empty() {
                        std::mem::swap(&mut state.jobs, batch);
                    } else {
                        let n = state.jobs.len().min(MAX_BATCH.saturating_sub(batch.len()));
                        batch.extend(state.jobs.drain(..n));
                        if !state.jobs.is_empty() {
                            // The rest goes into the next batch without waiting.
                            self.ready.notify_one();
                        }
                    }
                    state.taken(oldest);
                    drop(state);
                    self.room.notify_waiters();
                    return true;
                }
                if !state.open {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Adds to `batch`, up to [`MAX_BATCH`], what was queued meanwhile, without waiting.
    pub(super) fn take_ready(&self, batch: &mut Vec<Job>, oldest: &mut Option<Instant>) {
        let mut state = self.lock();
        let n = state.jobs.len().min(MAX_BATCH.saturating_sub(batch.len()));
        if n == 0 {
            return;
        }
        batch.extend(state.jobs.drain(..n));
        state.taken(oldest);
        drop(state);
        self.room.notify_waiters();
    }

    /// Returns a batch that could not run yet to the front of the queue,
    /// with `oldest`, when its first job was queued: it is now the oldest
    /// waiting, and the next `take` hands that time back.
    pub(super) fn put_back(&self, batch: &mut Vec<Job>, oldest: &mut Option<Instant>) {
        let mut state = self.lock();
        let later = std::mem::take(&mut state.jobs);
        state.jobs.append(batch);
        state.jobs.extend(later);
        if let Some(queued) = oldest.take() {
            state.since = Some(queued);
        }
    }

    /// Jobs waiting now.
    pub(super) fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub(super) fn is_open(&self) -> bool {
        self.lock().open
    }

    /// No more jobs are taken; the writer finishes what is queued and stops.
    pub(super) fn close(&self) {
        self.lock().open = false;
        self.ready.notify_one();
        self.room.notify_waiters();
    }
}

/// The callers' side of a queue: when the last handle goes, the queue closes.
pub(super) struct Producer(pub(super) Arc<Queue>);

impl Drop for Producer {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    fn ping() -> Job {
        Job::Ping(oneshot::channel().0)
    }

    /// A batch's wait is measured from its oldest job, and the clock is
    /// read again only once the queue has emptied.
    #[tokio::test]
    async fn a_batch_waited_since_its_oldest_job() {
        let queue = Queue::new();
        queue.try_push_or_return(ping()).map_err(drop).unwrap();
        let first = queue.lock().since.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        queue.try_push_or_return(ping()).map_err(drop).unwrap();
        assert_eq!(
            queue.lock().since,
            Some(first),
            "the second job is not the oldest"
        );

        let (mut batch, mut oldest) = (Vec::new(), None);
        assert!(queue.take(&mut batch, &mut oldest).await);
        assert_eq!((batch.len(), oldest), (2, Some(first)));
        assert_eq!(queue.lock().since, None, "nothing waits now");

        // Taken meanwhile, a later job does not make the batch younger.
        queue.try_push_or_return(ping()).map_err(drop).unwrap();
        queue.take_ready(&mut batch, &mut oldest);
        assert_eq!((batch.len(), oldest), (3, Some(first)));

        // A batch put back keeps its place, and the queue its time.
        queue.put_back(&mut batch, &mut oldest);
        assert!(queue.lock().since.is_some());
        assert_eq!(oldest, None, "the queue holds the time now");
        let mut again = None;
        assert!(queue.take(&mut batch, &mut again).await);
        assert_eq!(batch.len(), 3);
        assert!(again.is_some());
        assert_eq!(
            again,
            Some(first),
            "a retried batch waited since its first job"
        );
    }
}
