//! Accounts: finding people, and what a user changes about themself (their
//! profile picture).

use std::sync::Arc;

use uuid::Uuid;

use super::limits::{Action, Limiter};
use super::model::UserRecord;
use super::notice::{Announcer, Notice};
use super::profiles::{Profile, Profiles};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Clone)]
pub struct Accounts(Arc<Inner>);

struct Inner {
    store: Store,
    profiles: Arc<Profiles>,
    announce: Announcer,
    limiter: Limiter,
}

/// Users one search returns at most.
const SEARCH_LIMIT: i64 = 50;

impl Accounts {
    pub fn new(
        store: Store,
        profiles: Arc<Profiles>,
        announce: Announcer,
        limiter: Limiter,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            profiles,
            announce,
            limiter,
        }))
    }

    /// `GET /api/users/search`: users but `me` whose username contains
    /// `term`, or whose whole email is `term` (case-insensitive). A part of
    /// an email never matches, so hidden emails cannot be recovered by
    /// growing a search from `@` (contract §3).
    pub async fn search(&self, me: Uuid, term: &str) -> Result<Vec<UserRecord>> {
        let term = term.trim();
        if term.is_empty() {
            return Ok(Vec::new());
        }
        if term.chars().count() > 100 {
            return Err(Error::invalid_field("q", "q is at most 100 characters"));
        }
        if term.chars().any(char::is_control) {
            return Err(Error::invalid_field(
                "q",
                "q may not contain control characters",
            ));
        }
        self.0.limiter.check(me, Action::Search).await?;
        self.0.store.search_users(me, term, SEARCH_LIMIT).await
    }

    /// Before a profile picture's body is read: one upload, and its bytes.
    pub async fn admit_upload(&self, user: Uuid, bytes: u64) -> Result<()> {
        self.0.limiter.check(user, Action::Upload).await?;
        let cost = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.0
            .limiter
            .check_n(user, Action::UploadBytes, cost)
            .await
    }

    /// Tells every node that tokens of `user` stopped working (see `Notice::Revoked`).
    pub fn tokens_revoked(&self, user: Uuid, token: Option<(Uuid, i64)>, before_ms: Option<i64>) {
        self.0.announce.announce(Notice::Revoked {
            user,
            token,
            before_ms,
        });
    }

    /// Sets or clears a profile image; returns the previous one (for its files
    /// to be removed). New messages carry the new image at once, on every node.
    pub async fn set_profile_image(
        &self,
        user: Uuid,
        url: Option<String>,
    ) -> Result<Option<String>> {
        let profile = self
            .0
            .profiles
            .get(&self.0.store, user)
            .await?
            .ok_or_else(|| Error::not_found("user not found"))?;
        let previous = self.0.store.set_profile_image(user, url.as_deref()).await?;
        let username = profile.username.clone();
        self.0.profiles.put(
            user,
            Profile {
                username: username.clone(),
                profile_image: url.clone(),
            },
        );
        self.0.announce.announce(Notice::Profile {
            user,
            username,
            profile_image: url,
        });
        Ok(previous)
    }
}
