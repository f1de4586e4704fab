//! Rooms of one namespace: who is in each, sharded by room so that
//! unrelated broadcasts do not wait on one lock. A room's members are keyed
//! by socket id: joining and leaving cost the same in a room of ten and in
//! one of fifteen thousand (everyone following one popular user's presence
//! reconnecting at once made a list's scans quadratic).

use foldhash::{HashMap, HashSet};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{Handler, Socket};
use crate::sid::Sid;

const SHARDS: usize = 16;

type Members<H> = HashMap<<H as Handler>::Room, HashSet<ById<H>>>;

/// A member, found by its socket id: a set of these costs a pointer per
/// member, where a map from id to socket would cost three.
struct ById<H: Handler>(Socket<H>);

impl<H: Handler> PartialEq for ById<H> {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl<H: Handler> Eq for ById<H> {}

impl<H: Handler> Hash for ById<H> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.0.id().hash(state);
    }
}

impl<H: Handler> Borrow<Sid> for ById<H> {
    fn borrow(&self) -> &Sid {
        self.0.sid()
    }
}

pub(crate) struct Rooms<H: Handler> {
    shards: Vec<Mutex<Members<H>>>,
}

impl<H: Handler> Default for Rooms<H> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

// A member's hash and equality are its socket id, fixed when the socket is
// made; what is mutable inside a socket never reaches them.
#[allow(clippy::mutable_key_type)]
impl<H: Handler> Rooms<H> {
    fn shard(&self, room: &H::Room) -> MutexGuard<'_, Members<H>> {
        use std::hash::BuildHasher;
        // A fixed seed is enough to spread rooms over the shards; SipHash
        // here cost a thousand instructions per message (docs/benchmarks.md,
        // round 22).
        let n = foldhash::fast::FixedState::default().hash_one(room) as usize % SHARDS;
        self.shards[n].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `socket`; false when it was there already. A socket resuming a
    /// ghost (same id, another socket) takes the ghost's place.
    pub(crate) fn join(&self, room: &H::Room, socket: &Socket<H>) -> bool {
        let mut shard = self.shard(room);
        let members = shard.entry(room.clone()).or_default();
        match members.get(&socket.id()) {
            Some(same) if same.0.is(socket) => false,
            // A ghost of the same id, or no one: either way this socket is the member now.
            _ => {
                members.replace(ById(socket.clone()));
                true
            }
        }
    }

    /// Takes `socket` itself out (not another socket of its id).
    pub(crate) fn leave(&self, room: &H::Room, socket: &Socket<H>) {
        let mut shard = self.shard(room);
        if let Some(members) = shard.get_mut(room) {
            if members.get(&socket.id()).is_some_and(|s| s.0.is(socket)) {
                members.remove(&socket.id());
            }
            if members.is_empty() {
                shard.remove(room);
            }
        }
    }

    /// Runs `f` on each member while the room's shard is locked. `f` must not
    /// touch rooms (it may queue frames on sessions).
    pub(crate) fn each(&self, room: &H::Room, mut f: impl FnMut(&Socket<H>)) {
        if let Some(members) = self.shard(room).get(room) {
            members.iter().for_each(|m| f(&m.0));
        }
    }

    /// Every member, ghosts of broken connections included.
    pub(crate) fn members(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.shard(room)
            .get(room)
            .map(|m| m.iter().map(|m| m.0.clone()).collect())
            .unwrap_or_default()
    }

    /// The members whose connection is open.
    pub(crate) fn connected(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.shard(room)
            .get(room)
            .map(|m| {
                m.iter()
                    .filter(|m| m.0.is_open())
                    .map(|m| m.0.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn ids(&self, room: &H::Room) -> Vec<Sid> {
        self.shard(room)
            .get(room)
            .map(|m| m.iter().map(|m| m.0.id()).collect())
            .unwrap_or_default()
    }
}
