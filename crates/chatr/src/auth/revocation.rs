//! Which tokens no longer work: single tokens revoked at logout (until they
//! would have expired anyway), and per user a moment before which every
//! token was revoked (logout everywhere, a password change, a deleted
//! account). Every node keeps both in memory, so checking a token costs no
//! database round trip; changes are written to the database (a node that
//! starts, or missed a relay, reloads them) and relayed to the other nodes.

use foldhash::HashMap;
use std::sync::RwLock;

use uuid::Uuid;

use super::token::{TokenError, Verified};
use crate::error::Result;
use crate::store::Store;

#[derive(Default)]
pub struct Revocations {
    /// Revoked token ids, with their expiry (seconds since the epoch).
    tokens: RwLock<HashMap<Uuid, i64>>,
    /// Per user: tokens issued at or before this (ms since the epoch) are revoked.
    cutoffs: RwLock<HashMap<Uuid, i64>>,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Revocations {
    /// Reads what the database holds (and forgets expired revocations there).
    pub async fn load(store: &Store) -> Result<Self> {
        let revocations = Self::default();
        revocations.reload(store).await?;
        Ok(revocations)
    }

    /// Replaces the memory with what the database holds now.
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let (tokens, users) = store.revocations(now_secs()).await?;
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens.into_iter().collect();
        *self.cutoffs.write().unwrap_or_else(|p| p.into_inner()) = users.into_iter().collect();
        Ok(())
    }

    pub fn check(&self, token: &Verified) -> Result<(), TokenError> {
        if self.is_revoked(token.user, token.jti, token.issued_ms) {
            Err(TokenError::Revoked)
        } else {
            Ok(())
        }
    }

    pub fn is_revoked(&self, user: Uuid, jti: Uuid, issued_ms: i64) -> bool {
        self.cutoffs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .is_some_and(|cutoff| issued_ms <= *cutoff)
            || self
                .tokens
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&jti)
    }

    /// Remembers a revoked token (already written, or relayed).
    pub fn revoke(&self, jti: Uuid, expires_at: i64) {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(jti, expires_at);
    }

    /// Remembers a user's cut-off (already written, or relayed); never moves it back.
    pub fn cut_off(&self, user: Uuid, at_ms: i64) {
        let mut cutoffs = self.cutoffs.write().unwrap_or_else(|p| p.into_inner());
        let entry = cutoffs.entry(user).or_insert(at_ms);
        *entry = (*entry).max(at_ms);
    }

    /// Forgets revoked tokens that have expired anyway.
    pub fn forget_expired(&self) {
        let now = now_secs();
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, exp| *exp >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(user: Uuid, issued_ms: i64) -> Verified {
        Verified {
            user,
            jti: Uuid::new_v4(),
            issued_ms,
            exp: 4_000_000_000,
            operator: false,
        }
    }

    #[test]
    fn a_revoked_token_fails_and_its_siblings_do_not() {
        let r = Revocations::default();
        let user = Uuid::new_v4();
        let (a, b) = (token(user, 1000), token(user, 1000));
        r.revoke(a.jti, 4_000_000_000);
        assert_eq!(r.check(&a), Err(TokenError::Revoked));
        assert_eq!(r.check(&b), Ok(()));
    }

    #[test]
    fn a_cutoff_revokes_every_token_issued_until_then_and_none_after() {
        let r = Revocations::default();
        let user = Uuid::new_v4();
        r.cut_off(user, 5000);
        r.cut_off(user, 4000);
        assert_eq!(r.check(&token(user, 5000)), Err(TokenError::Revoked));
        assert_eq!(r.check(&token(user, 5001)), Ok(()));
        assert_eq!(
            r.check(&token(Uuid::new_v4(), 10)),
            Ok(()),
            "other users untouched"
        );
    }
}
