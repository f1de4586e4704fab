//! The hand-over between offline delivery (the backlog a connecting session
//! reads from the database) and live delivery (`message:received` as messages
//! are stored), so that a connecting session gets each message exactly once,
//! on one node and across nodes, where a message stored through another node
//! reaches this one a little later over Redis.
//!
//! A session joins its user's room and starts *catching up* as one step, with
//! the user's shard lock held exclusively; a live delivery to the user's
//! sessions on this node holds it shared while it emits to the room (less the
//! sessions catching up) and to each session catching up by itself. Every
//! live delivery of a message is then wholly before the session started or
//! wholly after:
//! - before: the session was in no room, and the message, stored before it
//!   was delivered, was stored before the backlog was read; only the backlog
//!   brings it;
//! - after: the backlog and the live delivery each *claim* the message for
//!   the session, and only the first claim emits it.
//!
//! After its backlog a session keeps catching up for [`GRACE`] if the backlog
//! brought anything, since a live delivery of one of those messages may still
//! be on its way from another node (Redis carries it in milliseconds); then it
//! leaves the catching room and gets live messages with everyone else.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socketioxide::socket::Sid;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

/// How long a live delivery of a backlog message can still be expected.
pub const GRACE: Duration = Duration::from_secs(60);

const SHARDS: usize = 64;

/// A session catching up, and the messages already emitted to it.
struct Catching {
    sid: Sid,
    claimed: HashSet<Uuid>,
}

pub struct Handover {
    /// Delivering live to a user (shared) versus a session of that user
    /// starting or ending its catch-up (exclusive), sharded by user.
    shards: Vec<RwLock<()>>,
    /// Entries in `catching`, so that deliveries skip the map when it is empty.
    open: AtomicUsize,
    catching: Mutex<HashMap<Uuid, Vec<Catching>>>,
}

impl Default for Handover {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(())).collect(),
            open: AtomicUsize::new(0),
            catching: Mutex::default(),
        }
    }
}

impl Handover {
    fn shard(&self, user: Uuid) -> &RwLock<()> {
        &self.shards[(user.as_u128() % SHARDS as u128) as usize]
    }

    fn catching(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Catching>>> {
        self.catching.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held while live messages to `user` are emitted on this node.
    pub async fn delivering(&self, user: Uuid) -> RwLockReadGuard<'_, ()> {
        self.shard(user).read().await
    }

    /// Held while a session of `user` joins its rooms and starts catching up,
    /// or stops catching up and leaves the catching room.
    pub async fn changing(&self, user: Uuid) -> RwLockWriteGuard<'_, ()> {
        self.shard(user).write().await
    }

    /// A session of `user` starts catching up (hold [`Self::changing`]).
    pub fn start(&self, user: Uuid, sid: Sid) {
        self.catching().entry(user).or_default().push(Catching {
            sid,
            claimed: HashSet::new(),
        });
        self.open.fetch_add(1, Ordering::SeqCst);
    }

    /// A live delivery of `message` to `user` (hold [`Self::delivering`] so
    /// that the answer holds while emitting): `None` when no session of the
    /// user is catching up, else those that have not had it yet, now claimed
    /// for them (the room-wide emit leaves out all that are catching up).
    pub fn claim_live(&self, user: Uuid, message: Uuid) -> Option<Vec<Sid>> {
        if self.open.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut catching = self.catching();
        let list = catching.get_mut(&user)?;
        Some(
            list.iter_mut()
                .filter_map(|c| c.claimed.insert(message).then_some(c.sid))
                .collect(),
        )
    }

    /// The backlog is about to emit `message` to session `sid`: false when a
    /// live delivery already did. A session no longer catching up takes it.
    pub fn claim_backlog(&self, user: Uuid, sid: Sid, message: Uuid) -> bool {
        let mut catching = self.catching();
        let Some(c) = catching
            .get_mut(&user)
            .and_then(|list| list.iter_mut().find(|c| c.sid == sid))
        else {
            return true;
        };
        c.claimed.insert(message)
    }

    /// The backlog is done: keeps only what it brought, and says whether the
    /// session must keep catching up (for [`GRACE`]) or may stop now.
    pub fn backlog_done(&self, user: Uuid, sid: Sid, brought: HashSet<Uuid>) -> bool {
        if brought.is_empty() {
            return false;
        }
        let mut catching = self.catching();
        if let Some(c) = catching
            .get_mut(&user)
            .and_then(|list| list.iter_mut().find(|c| c.sid == sid))
        {
            c.claimed = brought;
        }
        true
    }

    /// The session stops catching up (hold [`Self::changing`], or it is gone).
    /// Stopping twice, or a session that never started, does nothing.
    pub fn stop(&self, user: Uuid, sid: Sid) {
        let mut catching = self.catching();
        let Some(list) = catching.get_mut(&user) else {
            return;
        };
        let Some(pos) = list.iter().position(|c| c.sid == sid) else {
            return;
        };
        list.swap_remove(pos);
        if list.is_empty() {
            catching.remove(&user);
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_goes_to_a_catching_session_by_one_path_only() {
        let h = Handover::default();
        let (user, sid) = (Uuid::new_v4(), Sid::new());
        let (live_first, backlog_first) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(h.claim_live(user, live_first), None, "nobody catching up");
        h.start(user, sid);
        assert_eq!(h.claim_live(user, live_first), Some(vec![sid]));
        assert!(
            !h.claim_backlog(user, sid, live_first),
            "already had it live"
        );
        assert!(h.claim_backlog(user, sid, backlog_first));
        assert_eq!(
            h.claim_live(user, backlog_first),
            Some(vec![]),
            "already had it from the backlog (and still catching up)"
        );
        assert!(h.backlog_done(user, sid, HashSet::from([backlog_first])));
        assert_eq!(
            h.claim_live(user, backlog_first),
            Some(vec![]),
            "still remembered after the backlog"
        );
        h.stop(user, sid);
        h.stop(user, sid);
        assert_eq!(h.claim_live(user, Uuid::new_v4()), None, "stopped");
        assert!(
            h.claim_backlog(user, sid, Uuid::new_v4()),
            "a session no longer catching up takes all"
        );
    }

    #[test]
    fn two_sessions_of_one_user_claim_for_themselves() {
        let h = Handover::default();
        let (user, first, second) = (Uuid::new_v4(), Sid::new(), Sid::new());
        h.start(user, first);
        let early = Uuid::new_v4();
        assert_eq!(h.claim_live(user, early), Some(vec![first]));
        h.start(user, second);
        assert!(
            h.claim_backlog(user, second, early),
            "the second session missed it live"
        );
        assert!(!h.claim_backlog(user, first, early));
        assert!(
            !h.backlog_done(user, first, HashSet::new()),
            "an empty backlog ends the catch-up"
        );
    }
}
