//! Accounts: what a user changes about themself (their profile picture).

use std::sync::Arc;

use uuid::Uuid;

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
}

impl Accounts {
    pub fn new(store: Store, profiles: Arc<Profiles>, announce: Announcer) -> Self {
        Self(Arc::new(Inner {
            store,
            profiles,
            announce,
        }))
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
