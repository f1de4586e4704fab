//! Per-user rate limits on everything a signed-in user can repeat (token
//! buckets in memory) and, with several nodes, a shared budget in Redis so
//! that reconnecting elsewhere does not reset them. `CHATR_RATE_LIMITS=off`
//! turns them all off (load tests).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use uuid::Uuid;

use super::roster::Roster;
use crate::error::{Error, Result};

/// What a user does that costs the server something and can be repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `message:send` and uploads (a message either way).
    Send,
    /// `typing:*`, `recording:*`.
    Indicator,
    /// `message:delivered`, `message:read`, `audio:*`.
    Receipt,
    /// `presence:update` (an `offline` writes `lastSeen`).
    Presence,
    /// `presence:request` (up to 500 ids each).
    PresenceRequest,
    /// User and message search.
    Search,
    /// Uploads (files and profile pictures), counted.
    Upload,
    /// Bytes uploaded (files and profile pictures).
    UploadBytes,
    /// Any authenticated REST request (lists, history, profiles…).
    Api,
    /// An export of one's own data.
    Export,
}

impl Action {
    const ALL: [Action; 10] = [
        Self::Send,
        Self::Indicator,
        Self::Receipt,
        Self::Presence,
        Self::PresenceRequest,
        Self::Search,
        Self::Upload,
        Self::UploadBytes,
        Self::Api,
        Self::Export,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Indicator => "indicator",
            Self::Receipt => "receipt",
            Self::Presence => "presence",
            Self::PresenceRequest => "presence-request",
            Self::Search => "search",
            Self::Upload => "upload",
            Self::UploadBytes => "upload-bytes",
            Self::Api => "api",
            Self::Export => "export",
        }
    }

    /// Sustained rate per second and burst: far above what a person does,
    /// far below what a script can flood with.
    fn quota(self) -> (u32, u32) {
        match self {
            Self::Send => (50, 100),
            Self::Indicator => (20, 40),
            // A client acknowledges each message it receives: a page of
            // backlog at once, then a steady flow.
            Self::Receipt => (100, 300),
            Self::Presence => (1, 10),
            Self::PresenceRequest => (2, 10),
            Self::Search => (5, 20),
            Self::Upload => (2, 20),
            // 1 MiB/s sustained, 200 MiB at once (four 50 MiB files).
            Self::UploadBytes => (1 << 20, 200 << 20),
            // A client opening loads its conversations, histories and
            // profiles at once; a script reading everything is slowed.
            Self::Api => (30, 120),
            // Counted per minute below: three, then one every twenty minutes.
            Self::Export => (1, 3),
        }
    }

    /// The cluster-wide budget (counted in Redis with several nodes): the
    /// same rate as a fixed window of two seconds, so a burst of a full
    /// bucket passes and the sustained rate is the same.
    fn shared_budget(self) -> (u64, u64) {
        let (rate, burst) = self.quota();
        let window = 2;
        (u64::from(burst).max(u64::from(rate) * window), window)
    }
}

pub struct RateLimits {
    buckets: Vec<DefaultKeyedRateLimiter<Uuid>>,
    enabled: bool,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(nz(per_second)).allow_burst(nz(burst))
}

/// The bucket of `action`: most refill per second; an export every twenty minutes.
fn quota_of(action: Action) -> Quota {
    let (rate, burst) = action.quota();
    match action {
        Action::Export => Quota::with_period(Duration::from_secs(20 * 60))
            .unwrap_or_else(|| quota(rate, burst))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)),
        _ => quota(rate, burst),
    }
}

impl RateLimits {
    pub fn new(enabled: bool) -> Self {
        Self {
            buckets: Action::ALL
                .iter()
                .map(|a| DefaultKeyedRateLimiter::keyed(quota_of(*a)))
                .collect(),
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn bucket(&self, action: Action) -> &DefaultKeyedRateLimiter<Uuid> {
        &self.buckets[Action::ALL.iter().position(|a| *a == action).unwrap_or(0)]
    }

    /// Spends `cost` (1 for most actions, bytes for uploads) of `user`'s budget.
    pub fn check(&self, user: Uuid, action: Action, cost: u32) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match self.bucket(action).check_key_n(&user, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let now = governor::clock::DefaultClock::default().now();
                Err(Error::rate_limited(not_until.wait_time_from(now)))
            }
            // More than a whole burst at once can never pass.
            Err(_) => Err(Error::rate_limited(Duration::from_secs(60))),
        }
    }

    /// Forgets users whose buckets are full again, so memory tracks active users.
    pub fn forget_idle(&self) {
        for bucket in &self.buckets {
            bucket.retain_recent();
        }
    }
}

/// This node's buckets, and with several nodes the cluster's budget too.
#[derive(Clone)]
pub struct Limiter {
    local: Arc<RateLimits>,
    roster: Option<Arc<Roster>>,
}

impl Limiter {
    pub fn new(enabled: bool, roster: Option<Arc<Roster>>) -> Self {
        Self {
            local: Arc::new(RateLimits::new(enabled)),
            roster,
        }
    }

    pub async fn check(&self, user: Uuid, action: Action) -> Result<()> {
        self.check_n(user, action, 1).await
    }

    /// Should Redis not answer, the node's own limits still hold.
    pub async fn check_n(&self, user: Uuid, action: Action, cost: u32) -> Result<()> {
        self.local.check(user, action, cost)?;
        let (true, Some(roster)) = (self.local.enabled(), &self.roster) else {
            return Ok(());
        };
        let (limit, window) = action.shared_budget();
        let key = format!("{}:{user}", action.name());
        match roster.spend(&key, u64::from(cost), limit, window).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::rate_limited(Duration::from_secs(window))),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limits unavailable");
                Ok(())
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.local.enabled()
    }

    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_per_user_with_a_time_to_wait() {
        let limits = RateLimits::new(true);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let allowed = (0..200)
            .filter(|_| limits.check(a, Action::Send, 1).is_ok())
            .count();
        assert!((100..110).contains(&allowed), "{allowed}");
        assert!(matches!(
            limits.check(a, Action::Send, 1),
            Err(Error::RateLimited { retry_after: 1 })
        ));
        assert!(
            limits.check(b, Action::Send, 1).is_ok(),
            "another user has their own bucket"
        );
    }

    #[test]
    fn upload_bytes_are_counted_by_size() {
        let limits = RateLimits::new(true);
        let a = Uuid::new_v4();
        assert!(limits.check(a, Action::UploadBytes, 150 << 20).is_ok());
        assert!(
            limits.check(a, Action::UploadBytes, 60 << 20).is_err(),
            "past the 200 MiB burst"
        );
        assert!(limits.check(a, Action::UploadBytes, 40 << 20).is_ok());
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let limits = RateLimits::new(false);
        let a = Uuid::new_v4();
        assert!((0..1000).all(|_| limits.check(a, Action::Indicator, 1).is_ok()));
    }
}
