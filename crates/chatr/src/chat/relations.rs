//! Who knows whom, who blocks whom, and who may see whose presence.
//!
//! Two users are contacts once they have exchanged a message. Blocks and
//! presence visibility are read on every send, reaction, indicator and
//! presence decision, so every node keeps them in memory: loaded at start,
//! changed here and relayed to the other nodes (`Notice::Blocked`,
//! `Notice::Visibility`), reloaded each minute as a backstop.

use foldhash::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::Visibility;
use crate::store::Store;

#[derive(Clone)]
pub struct Relations(Arc<Inner>);

struct Inner {
    store: Store,
    /// Pairs (smaller id first) known to be contacts in the database.
    known: Mutex<HashSet<(Uuid, Uuid)>>,
    graph: Graph,
}

/// Blocks and visibilities in memory, and the rules read from them.
#[derive(Default)]
pub struct Graph {
    /// (blocker, blocked).
    blocks: RwLock<HashSet<(Uuid, Uuid)>>,
    /// Users whose visibility is not `everyone`.
    visibility: RwLock<HashMap<Uuid, Visibility>>,
}

fn pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

impl Relations {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Inner {
            store,
            known: Mutex::default(),
            graph: Graph::default(),
        }))
    }

    /// Reads every block and every non-default visibility from the database.
    pub async fn load(&self) -> Result<()> {
        let (blocks, visibility) = self.0.store.relations().await?;
        let g = &self.0.graph;
        *g.blocks.write().unwrap_or_else(|p| p.into_inner()) = blocks.into_iter().collect();
        *g.visibility.write().unwrap_or_else(|p| p.into_inner()) = visibility.into_iter().collect();
        Ok(())
    }

    /// Blocks and visibilities, and the rules of presence.
    pub fn graph(&self) -> &Graph {
        &self.0.graph
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<(Uuid, Uuid)>> {
        self.0.known.lock().unwrap_or_else(|p| p.into_inner())
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
        let contacts = self.0.store.contacts_of(user).await?;
        self.known().extend(contacts.iter().map(|c| pair(user, *c)));
        Ok(contacts)
    }

    /// `None` when `user` is no account (any more); else its contacts, as
    /// [`Relations::contacts_of`] — one query for a connecting session.
    pub async fn account_contacts(&self, user: Uuid) -> Result<Option<Vec<Uuid>>> {
        let Some(contacts) = self.0.store.user_and_contacts(user).await? else {
            return Ok(None);
        };
        self.known().extend(contacts.iter().map(|c| pair(user, *c)));
        Ok(Some(contacts))
    }
}

impl Graph {
    /// Whether `blocker` blocks `blocked`.
    pub fn blocks(&self, blocker: Uuid, blocked: Uuid) -> bool {
        self.blocks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(blocker, blocked))
    }

    /// Whether either of the two blocks the other.
    pub fn blocked_between(&self, a: Uuid, b: Uuid) -> bool {
        self.blocks(a, b) || self.blocks(b, a)
    }

    /// Refuses an action of `actor` towards `other` across a block, in either
    /// direction: the blocked user cannot reach the blocker, and the blocker
    /// unblocks before writing again (as in the messengers people know).
    pub fn check_not_blocked(&self, actor: Uuid, other: Uuid) -> Result<()> {
        if self.blocks(other, actor) {
            return Err(Error::forbidden("you cannot write to this user"));
        }
        if self.blocks(actor, other) {
            return Err(Error::forbidden(
                "you blocked this user; unblock them first",
            ));
        }
        Ok(())
    }

    /// Every block `user` is part of: (blocker, blocked).
    pub fn blocks_involving(&self, user: Uuid) -> Vec<(Uuid, Uuid)> {
        self.blocks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(a, b)| *a == user || *b == user)
            .copied()
            .collect()
    }

    /// Remembers a block made or lifted (here or on another node).
    pub fn set_block(&self, blocker: Uuid, blocked: Uuid, on: bool) {
        let mut blocks = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        if on {
            blocks.insert((blocker, blocked));
        } else {
            blocks.remove(&(blocker, blocked));
        }
    }

    pub fn visibility(&self, user: Uuid) -> Visibility {
        self.visibility
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .copied()
            .unwrap_or(Visibility::Everyone)
    }

    /// Remembers a visibility chosen (here or on another node).
    pub fn set_visibility(&self, user: Uuid, visibility: Visibility) {
        let mut all = self.visibility.write().unwrap_or_else(|p| p.into_inner());
        if visibility == Visibility::Everyone {
            all.remove(&user);
        } else {
            all.insert(user, visibility);
        }
    }

    /// The one rule of presence visibility: whether `viewer` sees `owner`'s
    /// presence, given whether the two are contacts.
    pub fn sees(&self, viewer: Uuid, owner: Uuid, contacts: bool) -> bool {
        viewer == owner
            || (!self.blocked_between(viewer, owner) && self.visibility(owner).shows_to(contacts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relations() -> Graph {
        Graph::default()
    }

    #[test]
    fn blocks_refuse_both_directions_and_hide_presence_both_ways() {
        let r = relations();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        r.set_block(a, b, true);
        assert!(
            r.check_not_blocked(b, a).is_err(),
            "the blocked user cannot write"
        );
        assert!(
            r.check_not_blocked(a, b).is_err(),
            "nor the blocker, until they unblock"
        );
        assert!(r.check_not_blocked(a, c).is_ok());
        assert!(!r.sees(a, b, true) && !r.sees(b, a, true));
        r.set_block(a, b, false);
        assert!(r.sees(a, b, true) && r.check_not_blocked(b, a).is_ok());
    }

    #[test]
    fn visibility_chooses_the_audience() {
        let r = relations();
        let (owner, contact, stranger) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert!(r.sees(stranger, owner, false));
        r.set_visibility(owner, Visibility::Contacts);
        assert!(r.sees(contact, owner, true) && !r.sees(stranger, owner, false));
        r.set_visibility(owner, Visibility::Nobody);
        assert!(!r.sees(contact, owner, true));
        assert!(r.sees(owner, owner, false), "one always sees oneself");
    }
}
