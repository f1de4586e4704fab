//! The hand-over between live delivery and offline delivery for a session
//! that is connecting, so that it gets each waiting message exactly once.
//!
//! A send to a user holds the user's shard lock shared while it notes the
//! message, stores it and emits it; a session of that user joins its room and
//! begins a watch holding the lock exclusively, then reads its backlog and
//! ends the watch. So every send is wholly before the join or wholly after:
//! - before: stored before the backlog is read and emitted before the join,
//!   so only the backlog brings it;
//! - after: noted after the watch began; if it is noted before the watch
//!   ends, the backlog skips it, and if after, it was stored after the
//!   backlog was read. Either way only the live emit brings it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

const SHARDS: usize = 64;

/// Open watches of one user: (watch id, messages announced since it began).
type Watches = Vec<(u64, HashSet<Uuid>)>;

pub struct Catchup {
    /// Announcing a message to a user (shared) versus a session of that user
    /// joining its room (exclusive), sharded by user so users do not contend.
    shards: Vec<RwLock<()>>,
    watching: AtomicUsize,
    next: AtomicU64,
    /// Per user: open watches, each with the messages announced since it began.
    watches: Mutex<HashMap<Uuid, Watches>>,
}

impl Default for Catchup {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(())).collect(),
            watching: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            watches: Mutex::default(),
        }
    }
}

impl Catchup {
    fn shard(&self, user: Uuid) -> &RwLock<()> {
        &self.shards[(user.as_u128() % SHARDS as u128) as usize]
    }

    /// Held while a message to `recipient` is noted and emitted.
    pub async fn announcing_guard(&self, recipient: Uuid) -> RwLockReadGuard<'_, ()> {
        self.shard(recipient).read().await
    }

    /// Held while a session of `user` joins its room and begins its watch.
    pub async fn joining_guard(&self, user: Uuid) -> RwLockWriteGuard<'_, ()> {
        self.shard(user).write().await
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Watches>> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a watch for a session of `user` that has just joined its room.
    pub fn begin(&self, user: Uuid) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.watches()
            .entry(user)
            .or_default()
            .push((id, HashSet::new()));
        self.watching.fetch_add(1, Ordering::SeqCst);
        id
    }

    /// Notes a message about to be emitted to `recipient`'s room.
    pub fn announcing(&self, recipient: Uuid, message: Uuid) {
        if self.watching.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Some(list) = self.watches().get_mut(&recipient) {
            for (_, seen) in list.iter_mut() {
                seen.insert(message);
            }
        }
    }

    /// Ends a watch; returns the messages its session already got live.
    /// Ending a watch twice (or one never begun) returns nothing.
    pub fn finish(&self, user: Uuid, watch: u64) -> HashSet<Uuid> {
        let mut watches = self.watches();
        let Some(list) = watches.get_mut(&user) else {
            return HashSet::new();
        };
        let Some(pos) = list.iter().position(|(id, _)| *id == watch) else {
            return HashSet::new();
        };
        let (_, seen) = list.swap_remove(pos);
        if list.is_empty() {
            watches.remove(&user);
        }
        self.watching.fetch_sub(1, Ordering::SeqCst);
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_sees_only_what_was_announced_while_it_was_open() {
        let c = Catchup::default();
        let (user, before, during) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        c.announcing(user, before);
        let w = c.begin(user);
        c.announcing(user, during);
        c.announcing(Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(c.finish(user, w), HashSet::from([during]));
        assert!(c.finish(user, w).is_empty(), "a watch ends once");
    }

    #[test]
    fn two_sessions_of_one_user_have_their_own_watches() {
        let c = Catchup::default();
        let user = Uuid::new_v4();
        let first = c.begin(user);
        let early = Uuid::new_v4();
        c.announcing(user, early);
        let second = c.begin(user);
        let late = Uuid::new_v4();
        c.announcing(user, late);
        assert_eq!(
            c.finish(user, second),
            HashSet::from([late]),
            "the second session missed `early` live"
        );
        assert_eq!(c.finish(user, first), HashSet::from([early, late]));
    }
}
