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

    /// Adds `socket`; false when it was there already. A socket resuming a
    /// ghost (same id, another socket) takes the ghost's place.
    pub(crate) fn join(&self, room: &H::Room, socket: &Socket<H>) -> bool {
        let mut shard = self.shard(room);
        let members = shard.entry(room.clone()).or_default();
        match members.iter_mut().find(|s| s.id() == socket.id()) {
            Some(same) if same.is(socket) => false,
            Some(ghost) => {
                *ghost = socket.clone();
                true
            }
            None => {
                members.push(socket.clone());
                true
            }
        }
    }

    /// Takes `socket` itself out (not another socket of its id).
    pub(crate) fn leave(&self, room: &H::Room, socket: &Socket<H>) {
        let mut shard = self.shard(room);
        if let Some(members) = shard.get_mut(room) {
            members.retain(|s| !s.is(socket));
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

    /// Every member, ghosts of broken connections included.
    pub(crate) fn members(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.shard(room).get(room).cloned().unwrap_or_default()
    }

    /// The members whose connection is open.
    pub(crate) fn connected(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.shard(room)
            .get(room)
            .map(|m| m.iter().filter(|s| s.is_open()).cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn ids(&self, room: &H::Room) -> Vec<Sid> {
        self.shard(room)
            .get(room)
            .map(|m| m.iter().map(Socket::id).collect())
            .unwrap_or_default()
    }
}
