//! Attachments: where files live, what they really are (by content, never by
//! the client's word), and what the server derives from them (image previews
//! without metadata, avatars, audio duration and waveform). Everything CPU-
//! heavy here runs on the blocking pool.

pub mod audio;
pub mod images;
pub mod sniff;
pub mod storage;

pub use storage::Storage;
