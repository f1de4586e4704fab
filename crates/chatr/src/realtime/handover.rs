//! The hand-over between offline delivery (the backlog a connecting session
//! reads from the database, page by page) and live delivery
//! (`message:received` as messages are stored), so that a connecting session
//! gets each message exactly once, on one node and across nodes, where a
//! message stored through another node reaches this one a little later.
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
//! The backlog reads only up to a *horizon*: the highest message position
//! (`seq`) in the store, read just after the session joined. Every message
//! committed before the join lies at or below it, so a live message above
//! the horizon was committed after the join and the backlog never brings it:
//! it needs no claim. Claims are kept for messages at or below the horizon
//! only, so a session whose client never acknowledges its backlog (and so
//! never gets past the first page) does not collect a claim per live message.
//!
//! After its backlog a session keeps catching up for [`GRACE`] if the backlog
//! brought anything, since a live delivery of one of those messages may still
//! be on its way from another node (Redis carries it in milliseconds); then it
//! leaves the catching room and gets live messages with everyone else.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chatr_sio::Sid;
use uuid::Uuid;

/// How long a live delivery of a backlog message can still be expected.
pub const GRACE: Duration = Duration::from_secs(60);

const SHARDS: usize = 64;

/// A session catching up, and the messages already emitted to it.
struct Catching {
    sid: Sid,
    /// Messages above this position need no claim (see the module's notes);
    /// unknown (the highest) until the session has read it.
    horizon: i64,
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

    fn with<T>(&self, user: Uuid, sid: Sid, f: impl FnOnce(&mut Catching) -> T) -> Option<T> {
        let mut catching = self.catching();
        let c = catching.get_mut(&user)?.iter_mut().find(|c| c.sid == sid)?;
        Some(f(c))
    }

    /// Held while live messages to `user` are emitted on this node.
    pub fn delivering(&self, user: Uuid) -> RwLockReadGuard<'_, ()> {
        self.shard(user).read().unwrap_or_else(|p| p.into_inner())
    }

    /// Held while a session of `user` joins its rooms and starts catching up,
    /// or stops catching up and leaves the catching room.
    pub fn changing(&self, user: Uuid) -> RwLockWriteGuard<'_, ()> {
        self.shard(user).write().unwrap_or_else(|p| p.into_inner())
    }

    /// A session of `user` starts catching up (hold [`Self::changing`]).
    pub fn start(&self, user: Uuid, sid: Sid) {
        self.catching().entry(user).or_default().push(Catching {
            sid,
            horizon: i64::MAX,
            claimed: HashSet::new(),
        });
        self.open.fetch_add(1, Ordering::SeqCst);
    }

    /// The session read its horizon: claims above it are no longer needed.
    pub fn set_horizon(&self, user: Uuid, sid: Sid, horizon: i64) {
        self.with(user, sid, |c| c.horizon = horizon);
    }

    /// A live delivery of message `id` at position `seq` to `user` (hold
    /// [`Self::delivering`] so that the answer holds while emitting): `None`
    /// when no session of the user is catching up, else those catching up
    /// that must get it now (the room-wide emit leaves them all out).
    pub fn claim_live(&self, user: Uuid, id: Uuid, seq: i64) -> Option<Vec<Sid>> {
        if self.open.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut catching = self.catching();
        let list = catching.get_mut(&user)?;
        Some(
            list.iter_mut()
                .filter_map(|c| (seq > c.horizon || c.claimed.insert(id)).then_some(c.sid))
                .collect(),
        )
    }

    /// The backlog is about to emit `id` to session `sid`: false when a live
    /// delivery already did. A session no longer catching up takes it.
    pub fn claim_backlog(&self, user: Uuid, sid: Sid, id: Uuid) -> bool {
        self.with(user, sid, |c| c.claimed.insert(id))
            .unwrap_or(true)
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
        assert_eq!(
            h.claim_live(user, live_first, 1),
            None,
            "nobody catching up"
        );
        h.start(user, sid);
        assert_eq!(h.claim_live(user, live_first, 1), Some(vec![sid]));
        assert!(
            !h.claim_backlog(user, sid, live_first),
            "already had it live"
        );
        assert!(h.claim_backlog(user, sid, backlog_first));
        assert_eq!(
            h.claim_live(user, backlog_first, 2),
            Some(vec![]),
            "already had it from the backlog (and still catching up)"
        );
        h.stop(user, sid);
        h.stop(user, sid);
        assert_eq!(h.claim_live(user, Uuid::new_v4(), 3), None, "stopped");
        assert!(
            h.claim_backlog(user, sid, Uuid::new_v4()),
            "a session no longer catching up takes all"
        );
    }

    #[test]
    fn messages_above_the_horizon_are_delivered_live_without_a_claim() {
        let h = Handover::default();
        let (user, sid) = (Uuid::new_v4(), Sid::new());
        h.start(user, sid);
        h.set_horizon(user, sid, 10);
        let later = Uuid::new_v4();
        assert_eq!(h.claim_live(user, later, 11), Some(vec![sid]));
        assert_eq!(
            h.claim_live(user, later, 11),
            Some(vec![sid]),
            "not remembered"
        );
        assert!(h.with(user, sid, |c| c.claimed.is_empty()).unwrap_or(false));
        let earlier = Uuid::new_v4();
        assert_eq!(h.claim_live(user, earlier, 10), Some(vec![sid]));
        assert_eq!(
            h.claim_live(user, earlier, 10),
            Some(vec![]),
            "claimed once"
        );
    }

    #[test]
    fn two_sessions_of_one_user_claim_for_themselves() {
        let h = Handover::default();
        let (user, first, second) = (Uuid::new_v4(), Sid::new(), Sid::new());
        h.start(user, first);
        let early = Uuid::new_v4();
        assert_eq!(h.claim_live(user, early, 1), Some(vec![first]));
        h.start(user, second);
        assert!(
            h.claim_backlog(user, second, early),
            "the second session missed it live"
        );
        assert!(!h.claim_backlog(user, first, early));
    }
}
