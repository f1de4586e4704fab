//! The priority of the store's background threads (the checkpointer, the
//! search indexer) beside the runtime thread that serves every connection.
//!
//! When the cores are full (the runtime thread, the kernel's network work,
//! whatever else runs on the machine), a background thread that wakes (its
//! disk read done, its next pass due) takes a core from the runtime thread,
//! and every message waits while it runs. At 20,000 messages/s the runtime
//! thread was pushed off its core about 400 times a second by the
//! checkpointer and for over a millisecond 28 times in 5 s by the indexer
//! (docs/benchmarks.md, round 26). A nice value of 10 weighs a thread at a
//! tenth of the runtime's: on a full core it still gets about 10 %, more
//! than either needs (the checkpointer 6–7 %, the indexer 3–5 % at that
//! rate), and on an idle one all it wants, but its wake-ups seldom preempt.
//! The price is on one busy core: the checkpointer's catch-up, which holds
//! the writer at the gate, gets less of it and takes longer.

/// The nice value of a background thread (0 is the default, 19 the lowest).
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`], unless it
/// is lower already (a server started with `nice -n 15` keeps its 15: raising
/// a priority needs a privilege). Linux sets a nice value per thread;
/// elsewhere it is the whole process's, so this does nothing there. A
/// sandbox that forbids it leaves the thread as it was, which only costs
/// latency: logged, not an error.
pub(super) fn background() {
    #[cfg(target_os = "linux")]
    {
        let lowered = match own_nice() {
            Ok(nice) if nice >= BACKGROUND_NICE => Ok(()),
            _ => rustix::process::setpriority_process(
                Some(rustix::thread::gettid()),
                BACKGROUND_NICE,
            ),
        };
        if let Err(e) = lowered {
            let thread = std::thread::current();
            tracing::debug!(error = %e, thread = thread.name(), "cannot lower a background thread's priority");
        }
    }
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn own_nice() -> rustix::io::Result<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid()))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Only the calling thread is lowered: the thread that spawned it keeps
    /// its priority.
    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = own_nice().unwrap();
        let lowered = std::thread::spawn(|| {
            background();
            own_nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, BACKGROUND_NICE.max(before));
        assert_eq!(own_nice().unwrap(), before);
    }
}
