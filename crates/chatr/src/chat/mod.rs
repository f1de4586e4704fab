//! The domain: sending messages and moving their status, sessions and
//! presence, who knows whom. REST handlers and Socket.IO handlers both call
//! these services and hold no rules of their own; what changes is announced
//! through [`notice::Announce`], which the realtime layer implements.

pub mod accounts;
pub mod lifecycle;
pub mod limits;
pub mod messages;
pub mod notice;
pub mod notifications;
pub mod presence;
pub mod profiles;
pub mod relations;
pub mod roster;
pub mod sessions;
pub mod validate;

use std::sync::Arc;

use crate::store::Store;
pub use accounts::Accounts;
pub use messages::{Attachment, Messages, SendText};
pub use notifications::Notifications;
pub use relations::Relations;
pub use sessions::Sessions;

/// The services, wired to one store, one announcer and (with several nodes)
/// one roster. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    pub messages: Messages,
    pub sessions: Sessions,
    pub relations: Relations,
    pub accounts: Accounts,
    pub profiles: Arc<profiles::Profiles>,
    pub notifications: Notifications,
    store: Store,
}

impl Chat {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        storage: crate::media::Storage,
        announce: notice::Announcer,
        roster: Option<Arc<roster::Roster>>,
        rate_limits: bool,
        storage_quota: u64,
        max_sessions_per_user: u32,
        push: crate::push::Pusher,
    ) -> Self {
        let profiles = Arc::new(profiles::Profiles::default());
        let limiter = limits::Limiter::new(rate_limits, roster.clone());
        let relations = Relations::new(store.clone());
        let sessions = Sessions::new(
            store.clone(),
            profiles.clone(),
            announce.clone(),
            limiter.clone(),
            roster,
            max_sessions_per_user,
            relations.clone(),
        );
        let notifications = Notifications::new(sessions.clone(), store.clone(), push);
        let messages = Messages::new(
            store.clone(),
            profiles.clone(),
            announce.clone(),
            limiter.clone(),
            relations.clone(),
            storage.clone(),
            storage_quota,
            notifications.clone(),
        );
        let accounts = Accounts::new(
            store.clone(),
            profiles.clone(),
            announce,
            limiter,
            relations.clone(),
            sessions.clone(),
            storage,
        );
        Self {
            messages,
            sessions,
            relations,
            accounts,
            profiles,
            notifications,
            store,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
