//! The queue in front of the inline SQLite writer. Callers push jobs from
//! whatever task they run in; the writer task takes everything queued at
//! once. Pushing and taking are a short mutex hold and, when the writer is
//! waiting, a wake-up of a task on the same runtime: no thread is woken
//! for a write, unlike a channel to a thread of its own.

use std::sync::{Arc, Mutex, MutexGuard};

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
}

impl Queue {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                jobs: Vec::new(),
                open: true,
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
                    state.jobs.push(job);
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
        state.jobs.push(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits for jobs and moves up to [`MAX_BATCH`] of them into `batch`;
    /// `false` once the queue is closed and empty.
    pub(super) async fn take(&self, batch: &mut Vec<Job>) -> bool {
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
    pub(super) fn take_ready(&self, batch: &mut Vec<Job>) {
        let mut state = self.lock();
        let n = state.jobs.len().min(MAX_BATCH.saturating_sub(batch.len()));
        if n == 0 {
            return;
        }
        batch.extend(state.jobs.drain(..n));
        drop(state);
        self.room.notify_waiters();
    }

    /// Returns a batch that could not run yet to the front of the queue.
    pub(super) fn put_back(&self, batch: &mut Vec<Job>) {
        let mut state = self.lock();
        let later = std::mem::take(&mut state.jobs);
        state.jobs.append(batch);
        state.jobs.extend(later);
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
