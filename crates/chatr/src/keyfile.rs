//! Files in the data dir that hold a secret Chatr generated for itself (the
//! JWT secret, the VAPID key): created once, never overwritten (a second
//! node racing to create one fails instead of replacing it), readable by
//! the owner only, and on disk before they are used.

use std::path::Path;

#[cfg(unix)]
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
