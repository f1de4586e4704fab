//! Attachments: where files live, what they really are (by content, never by
//! the client's word), and what the server derives from them (image previews
//! without metadata, avatars, audio duration and waveform). Everything CPU-
//! heavy here runs on the blocking pool.

pub mod audio;
pub mod images;
pub mod sniff;
pub mod storage;

pub use storage::Storage;

/// Runs CPU-heavy media work (decoding, resizing, analysing audio) on the
/// blocking pool, a few at a time: each can take a core and up to a few
/// hundred MiB, and the pool would otherwise run up to 512 at once.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    use crate::error::Error;
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores.clamp(1, 4))
    });
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| Error::internal("media work closed"))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::internal("media task failed"))?
}
