//! Throttles on the doors a stranger can knock at without an account:
//! failed logins and registrations (contract §2).
//!
//! Failed logins count per account *and client address* together, and per
//! address: a guesser is slowed down on their own address only, so the
//! account's owner, logging in from elsewhere, is never locked out by a
//! stranger. Guessing from many addresses at once is bounded by each
//! address's budget and by the Argon2 hashing slots (one per core), which
//! the throttle keeps guessers from reaching. Registrations count per
//! address, failed or not (a flood of successful ones is the attack).
//!
//! Successful logins cost nothing. With several nodes the counts are also
//! kept in Redis, in fixed windows, so that spreading attempts over the
//! nodes does not multiply the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::chat::roster::Roster;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Failed logins for one account from one address.
    Account(String, IpAddr),
    /// Failed logins from one address, whatever the account.
    Address(IpAddr),
    /// Registrations from one address.
    Register(IpAddr),
}

impl Key {
    /// Burst, and seconds for one more attempt to be allowed.
    fn rule(&self) -> (f64, f64) {
        match self {
            Self::Account(..) => (5.0, 60.0),
            Self::Address(_) => (20.0, 10.0),
            Self::Register(_) => (5.0, 120.0),
        }
    }

    fn redis(&self) -> String {
        match self {
            Self::Account(login, addr) => format!("login:{login}:{addr}"),
            Self::Address(addr) => format!("login-addr:{addr}"),
            Self::Register(addr) => format!("register:{addr}"),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Throttle {
    enabled: bool,
    buckets: Mutex<HashMap<Key, Bucket>>,
    roster: Option<Arc<Roster>>,
}

/// The cluster's fixed window for a rule: the burst, plus what refills in it.
const WINDOW_SECS: u64 = 300;

impl Throttle {
    pub fn new(enabled: bool, roster: Option<Arc<Roster>>) -> Self {
        Self {
            enabled,
            buckets: Mutex::default(),
            roster,
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tokens left in `key`'s bucket now (refilled since it was last touched).
    fn level(&self, key: &Key, now: Instant) -> f64 {
        let (burst, every) = key.rule();
        match self.buckets().get(key) {
            None => burst,
            Some(b) => (b.tokens + now.duration_since(b.at).as_secs_f64() / every).min(burst),
        }
    }

    /// Refuses when `key` has no attempt left, saying when one will be.
    async fn admit(&self, key: &Key) -> Result<()> {
        let level = self.level(key, Instant::now());
        if level < 1.0 {
            let (_, every) = key.rule();
            return Err(Error::rate_limited(Duration::from_secs_f64(
                (1.0 - level) * every,
            )));
        }
        if let Some(roster) = &self.roster {
            let (burst, every) = key.rule();
            let limit = burst as u64 + WINDOW_SECS / every as u64;
            match roster.spent(&key.redis(), WINDOW_SECS).await {
                Ok(n) if n >= limit => {
                    return Err(Error::rate_limited(Duration::from_secs(WINDOW_SECS)));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "shared throttles unavailable"),
            }
        }
        Ok(())
    }

    /// Takes one attempt from `key`.
    async fn spend(&self, key: Key) {
        let now = Instant::now();
        let tokens = self.level(&key, now) - 1.0;
        if let Some(roster) = &self.roster
            && let Err(e) = roster.spend(&key.redis(), 1, u64::MAX, WINDOW_SECS).await
        {
            tracing::warn!(error = %e, "shared throttles unavailable");
        }
        self.buckets().insert(key, Bucket { tokens, at: now });
    }

    fn account(login: &str, addr: IpAddr) -> Key {
        let login: String = login.trim().to_lowercase().chars().take(254).collect();
        Key::Account(login, addr)
    }

    /// Before checking a password: refused while this account (from this
    /// address) or this address has failed too often.
    pub async fn admit_login(&self, login: &str, addr: IpAddr) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.admit(&Key::Address(addr)).await?;
        self.admit(&Self::account(login, addr)).await
    }

    /// A wrong password (or an unknown login).
    pub async fn failed_login(&self, login: &str, addr: IpAddr) {
        if !self.enabled {
            return;
        }
        self.spend(Key::Address(addr)).await;
        self.spend(Self::account(login, addr)).await;
    }

    /// Before a registration: every attempt counts.
    pub async fn register(&self, addr: IpAddr) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let key = Key::Register(addr);
        self.admit(&key).await?;
        self.spend(key).await;
        Ok(())
    }

    /// Forgets buckets that are full again, so memory follows recent attempts.
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.buckets().retain(|key, b| {
            let (burst, every) = key.rule();
            b.tokens + now.duration_since(b.at).as_secs_f64() / every < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[tokio::test]
    async fn a_guesser_is_slowed_on_their_address_and_the_owner_is_not() {
        let t = Throttle::new(true, None);
        for _ in 0..5 {
            assert!(t.admit_login("Alice", addr(1)).await.is_ok());
            t.failed_login("alice", addr(1)).await;
        }
        let refused = t.admit_login("ALICE", addr(1)).await;
        assert!(
            matches!(refused, Err(Error::RateLimited { retry_after }) if retry_after > 0 && retry_after <= 60)
        );
        assert!(
            t.admit_login("alice", addr(2)).await.is_ok(),
            "the owner elsewhere is not locked out"
        );
        assert!(
            t.admit_login("bob", addr(1)).await.is_ok(),
            "another account from that address is"
        );
    }

    #[tokio::test]
    async fn an_address_trying_many_accounts_is_slowed() {
        let t = Throttle::new(true, None);
        for n in 0..20 {
            t.failed_login(&format!("user{n}"), addr(3)).await;
        }
        assert!(t.admit_login("someone-else", addr(3)).await.is_err());
    }

    #[tokio::test]
    async fn registrations_are_counted_per_address() {
        let t = Throttle::new(true, None);
        for _ in 0..5 {
            assert!(t.register(addr(4)).await.is_ok());
        }
        assert!(t.register(addr(4)).await.is_err());
        assert!(t.register(addr(5)).await.is_ok());
        let off = Throttle::new(false, None);
        for _ in 0..50 {
            assert!(off.register(addr(4)).await.is_ok());
        }
    }
}
