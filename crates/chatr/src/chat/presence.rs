//! Who is connected, and what they chose to show. This node's view: it counts
//! sessions per user and reports the first-session and last-session transitions.

use foldhash::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::model::PresenceStatus;

struct Entry {
    sessions: u32,
    chosen: PresenceStatus,
}

#[derive(Default)]
pub struct PresenceRegistry {
    users: Mutex<HashMap<Uuid, Entry>>,
}

impl PresenceRegistry {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every update is a single insert or field write), so keep going.
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Users with at least one session on this node.
    pub fn connected_users(&self) -> usize {
        self.users().values().filter(|e| e.sessions > 0).count()
    }

    /// Counts a new session; true when it is the user's first.
    pub fn connect(&self, user: Uuid) -> bool {
        let mut users = self.users();
        let entry = users.entry(user).or_insert(Entry {
            sessions: 0,
            chosen: PresenceStatus::Online,
        });
        entry.sessions += 1;
        entry.sessions == 1
    }

    /// Counts a session gone; true when it was the user's last.
    pub fn disconnect(&self, user: Uuid) -> bool {
        let mut users = self.users();
        match users.get_mut(&user) {
            Some(entry) if entry.sessions > 1 => {
                entry.sessions -= 1;
                false
            }
            Some(_) => {
                users.remove(&user);
                true
            }
            None => false,
        }
    }

    /// Records the status a connected user chose; false when nothing changed.
    pub fn choose(&self, user: Uuid, status: PresenceStatus) -> bool {
        match self.users().get_mut(&user) {
            Some(entry) if entry.chosen != status => {
                entry.chosen = status;
                true
            }
            _ => false,
        }
    }

    /// What others see: `None` when the user has no session or chose `offline`.
    pub fn visible_status(&self, user: Uuid) -> Option<PresenceStatus> {
        self.users()
            .get(&user)
            .map(|e| e.chosen)
            .filter(|s| *s != PresenceStatus::Offline)
    }

    /// Sessions of `user` on this node.
    pub fn sessions(&self, user: Uuid) -> u32 {
        self.users().get(&user).map_or(0, |e| e.sessions)
    }

    pub fn is_connected(&self, user: Uuid) -> bool {
        self.users().contains_key(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_sessions_are_reported_once() {
        let p = PresenceRegistry::default();
        let u = Uuid::new_v4();
        assert!(p.connect(u));
        assert!(!p.connect(u));
        assert!(!p.disconnect(u));
        assert!(p.disconnect(u));
        assert!(!p.disconnect(u), "a stray disconnect is not a transition");
    }

    #[test]
    fn a_user_who_chose_offline_is_not_visible() {
        let p = PresenceRegistry::default();
        let u = Uuid::new_v4();
        p.connect(u);
        assert_eq!(p.visible_status(u), Some(PresenceStatus::Online));
        assert!(p.choose(u, PresenceStatus::Offline));
        assert!(!p.choose(u, PresenceStatus::Offline));
        assert_eq!(p.visible_status(u), None);
        assert!(p.is_connected(u));
    }
}
