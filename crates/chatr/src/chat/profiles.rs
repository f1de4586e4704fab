//! The little of each user that every message carries (username, profile
//! image), kept in memory so that sending a message reads no user row.
//! Users are never deleted, so a cached entry only goes stale when its own
//! profile changes, and those changes go through [`Profiles::put`].

use foldhash::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::error::Result;
use crate::store::Store;

#[derive(Debug)]
pub struct Profile {
    pub username: String,
    pub profile_image: Option<String>,
}

#[derive(Default)]
pub struct Profiles {
    cache: RwLock<HashMap<Uuid, Arc<Profile>>>,
}

impl Profiles {
    pub fn put(&self, id: Uuid, profile: Profile) -> Arc<Profile> {
        let profile = Arc::new(profile);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, profile.clone());
        profile
    }

    fn cached(&self, id: Uuid) -> Option<Arc<Profile>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// The user's profile, or `None` when no such user exists.
    pub async fn get(&self, store: &Store, id: Uuid) -> Result<Option<Arc<Profile>>> {
        if let Some(p) = self.cached(id) {
            return Ok(Some(p));
        }
        Ok(store.user_by_id(id).await?.map(|u| {
            self.put(
                id,
                Profile {
                    username: u.username,
                    profile_image: u.profile_image,
                },
            )
        }))
    }
}
