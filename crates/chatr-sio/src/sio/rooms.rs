//! Rooms of one namespace: who is in each, sharded by room so that
//! unrelated broadcasts do not wait on one lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::{Handler, Socket};
use crate::sid::Sid;

const SHARDS: usize = 16;

type Members<H> = HashMap<<H as Handler>::Room, Vec<Socket<H>>>;

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

impl<H: Handler> Rooms<H> {
    fn shard(&self, room: &H::Room) -> MutexGuard<'_, Members<H>> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let n = BuildHasherDefault::<DefaultHasher>::default().hash_one(room) as usize % SHARDS;
        self.shards[n].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `socket`; false when it was there already.
    pub(crate) fn join(&self, room: &H::Room, socket: &Socket<H>) -> bool {
        let mut shard = self.shard(room);
        let members = shard.entry(room.clone()).or_default();
        if members.iter().any(|s| s.id() == socket.id()) {
            return false;
        }
        members.push(socket.clone());
        true
    }

    pub(crate) fn leave(&self, room: &H::Room, id: Sid) {
        let mut shard = self.shard(room);
        if let Some(members) = shard.get_mut(room) {
            members.retain(|s| s.id() != id);
            if members.is_empty() {
                shard.remove(room);
            }
        }
    }

    /// Runs `f` on each member while the room's shard is locked. `f` must not
    /// touch rooms (it may queue frames on sessions).
    pub(crate) fn each(&self, room: &H::Room, mut f: impl FnMut(&Socket<H>)) {
        if let Some(members) = self.shard(room).get(room) {
            members.iter().for_each(&mut f);
        }
    }

    pub(crate) fn members(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.shard(room).get(room).cloned().unwrap_or_default()
    }

    pub(crate) fn ids(&self, room: &H::Room) -> Vec<Sid> {
        self.shard(room)
            .get(room)
            .map(|m| m.iter().map(Socket::id).collect())
            .unwrap_or_default()
    }
}
