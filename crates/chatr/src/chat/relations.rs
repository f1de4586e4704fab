//! Who knows whom: two users are contacts once they have exchanged a
//! message. Pairs known to be contacts are remembered, so that only a
//! conversation's first message writes to `contacts`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::error::Result;
use crate::store::Store;

#[derive(Clone)]
pub struct Relations {
    store: Store,
    /// Pairs (smaller id first) known to be contacts in the database.
    known: Arc<Mutex<HashSet<(Uuid, Uuid)>>>,
}

fn pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

impl Relations {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            known: Arc::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<(Uuid, Uuid)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `a` and `b` are known to be contacts (false when not yet known).
    pub fn known_contacts(&self, a: Uuid, b: Uuid) -> bool {
        self.known().contains(&pair(a, b))
    }

    pub fn remember(&self, a: Uuid, b: Uuid) {
        self.known().insert(pair(a, b));
    }

    /// The users `user` has exchanged a message with (and remembers them).
    pub async fn contacts_of(&self, user: Uuid) -> Result<Vec<Uuid>> {
        let contacts = self.store.contacts_of(user).await?;
        self.known().extend(contacts.iter().map(|c| pair(user, *c)));
        Ok(contacts)
    }

    /// `None` when `user` is no account (any more); else its contacts, as
    /// [`Relations::contacts_of`] — one query for a connecting session.
    pub async fn account_contacts(&self, user: Uuid) -> Result<Option<Vec<Uuid>>> {
        let Some(contacts) = self.store.user_and_contacts(user).await? else {
            return Ok(None);
        };
        self.known().extend(contacts.iter().map(|c| pair(user, *c)));
        Ok(Some(contacts))
    }
}
