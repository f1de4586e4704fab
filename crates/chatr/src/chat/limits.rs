//! Per-user rate limits (token buckets in memory) and, with several nodes,
//! a shared budget in Redis so that reconnecting elsewhere does not reset them.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use super::roster::Roster;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Send,
    Indicator,
}

pub struct RateLimits {
    send: DefaultKeyedRateLimiter<Uuid>,
    indicator: DefaultKeyedRateLimiter<Uuid>,
    enabled: bool,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(nz(per_second)).allow_burst(nz(burst))
}

impl RateLimits {
    /// 50 messages/s with bursts of 100, 20 indicator events/s with bursts of 40:
    /// far above what a person types, far below what a script can flood.
    pub fn new(enabled: bool) -> Self {
        Self {
            send: DefaultKeyedRateLimiter::keyed(quota(50, 100)),
            indicator: DefaultKeyedRateLimiter::keyed(quota(20, 40)),
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The cluster-wide budget of `action` (with several nodes, counted in
    /// Redis): the same rates as a fixed window of two seconds, so a burst
    /// of a full bucket is allowed and the sustained rate is the same.
    pub fn shared_budget(action: Action) -> (&'static str, u64, u64) {
        match action {
            Action::Send => ("send", 100, 2),
            Action::Indicator => ("indicator", 40, 2),
        }
    }

    pub fn check(&self, user: Uuid, action: Action) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let limiter = match action {
            Action::Send => &self.send,
            Action::Indicator => &self.indicator,
        };
        limiter.check_key(&user).map_err(|_| Error::RateLimited)
    }

    /// Forgets users whose buckets are full again, so memory tracks active users.
    pub fn forget_idle(&self) {
        self.send.retain_recent();
        self.indicator.retain_recent();
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

    /// Should Redis not answer, the node's own limits still hold.
    pub async fn check(&self, user: Uuid, action: Action) -> Result<()> {
        self.local.check(user, action)?;
        let (true, Some(roster)) = (self.local.enabled(), &self.roster) else {
            return Ok(());
        };
        let (name, limit, window) = RateLimits::shared_budget(action);
        match roster.spend(&format!("{name}:{user}"), limit, window).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::RateLimited),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limits unavailable");
                Ok(())
            }
        }
    }

    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_per_user() {
        let limits = RateLimits::new(true);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let allowed = (0..200)
            .filter(|_| limits.check(a, Action::Send).is_ok())
            .count();
        assert!((100..110).contains(&allowed), "{allowed}");
        assert!(
            limits.check(b, Action::Send).is_ok(),
            "another user has their own bucket"
        );
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let limits = RateLimits::new(false);
        let a = Uuid::new_v4();
        assert!((0..1000).all(|_| limits.check(a, Action::Indicator).is_ok()));
    }
}
