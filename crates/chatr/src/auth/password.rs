//! Argon2id password hashing, always off the async runtime: one hash costs
//! tens of milliseconds of CPU and would stall every socket on that worker.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// At most one hash per core at a time: each takes 19 MiB and a core for tens
/// of milliseconds, and a burst of logins must not exhaust memory or starve
/// the blocking pool.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

pub async fn hash(password: String) -> Result<String> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|_| Error::internal("hashing closed"))?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|_| Error::internal("hashing task failed"))?
}

/// Checks `password` against `stored`; with `None` it checks against a dummy
/// hash so that an unknown login takes as long as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|_| Error::internal("hashing closed"))?;
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed =
            PasswordHash::new(&stored).map_err(|_| Error::internal("malformed password hash"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known)
    })
    .await
    .map_err(|_| Error::internal("verification task failed"))?
}

/// Argon2id (default parameters) of a random password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$rXgcDLsYqEiCkgc1pZ6JD5HQXRMT5whBxB9F1fPYh9Y";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("Secret123".into()).await.ok();
        assert!(h.as_deref().is_some_and(|h| h.starts_with("$argon2id$")));
        assert_eq!(verify("Secret123".into(), h.clone()).await.ok(), Some(true));
        assert_eq!(verify("Secret124".into(), h).await.ok(), Some(false));
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert_eq!(verify("anything".into(), None).await.ok(), Some(false));
    }
}
