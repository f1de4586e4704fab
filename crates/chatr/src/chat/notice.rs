//! What the domain tells the world after a change: facts, not events. The
//! realtime layer decides which rooms, events and nodes carry each one; the
//! domain knows nothing of Socket.IO.

use std::sync::Arc;

use uuid::Uuid;

use crate::model::{Outgoing, Presence, Reaction, Status, Visibility};

/// The session a change came from, opaque to the domain (the realtime layer
/// leaves it out of what the change announces to the user's sessions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin(pub [u8; 16]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indicator {
    Typing,
    Recording,
}

pub enum Notice {
    /// A new message was stored (`seq` is its place in the store's order).
    Stored {
        message: Arc<Outgoing>,
        seq: i64,
        origin: Option<Origin>,
    },
    /// A message's status moved forward.
    Status {
        sender: Uuid,
        message_id: Uuid,
        status: Status,
    },
    /// `from` started or stopped typing or recording to `to`.
    Indicator {
        kind: Indicator,
        from: Uuid,
        to: Uuid,
        on: bool,
    },
    /// A user's presence changed; those who follow it hear.
    Presence(Presence),
    /// One user's sessions hear someone's presence (as they may see it now).
    PresenceTo { to: Uuid, presence: Presence },
    /// A voice or audio message got its waveform.
    Waveform {
        sender: Uuid,
        recipient: Uuid,
        message_id: Uuid,
        waveform: Arc<[f32]>,
        duration: f64,
    },
    /// Every session of `who` starts (`on`) or stops following `whom`'s presence.
    Follow { who: Uuid, whom: Uuid, on: bool },
    /// Nobody follows `whom`'s presence any more (their audience narrowed).
    ClearFollowers { whom: Uuid },
    /// A message's content was edited.
    Edited {
        sender: Uuid,
        recipient: Uuid,
        message_id: Uuid,
        content: String,
        edited_at: String,
    },
    /// A message was unsent ("delete for everyone").
    Unsent {
        sender: Uuid,
        recipient: Uuid,
        message_id: Uuid,
        deleted_at: String,
    },
    /// A message's reactions changed.
    Reactions {
        sender: Uuid,
        recipient: Uuid,
        message_id: Uuid,
        reactions: Vec<Reaction>,
    },
    /// `blocker` blocked (`on`) or unblocked `blocked`: caches elsewhere are stale.
    Blocked {
        blocker: Uuid,
        blocked: Uuid,
        on: bool,
    },
    /// `user` chose who sees their presence: caches elsewhere are stale.
    Visibility { user: Uuid, visibility: Visibility },
    /// Tokens of `user` stopped working: one (with its expiry), or every one
    /// issued until `before_ms`. Their sessions are disconnected.
    Revoked {
        user: Uuid,
        token: Option<(Uuid, i64)>,
        before_ms: Option<i64>,
    },
    /// A user's name or picture changed: caches elsewhere are stale.
    Profile {
        user: Uuid,
        username: String,
        profile_image: Option<String>,
    },
}

/// Where notices go (the realtime layer, which also carries them to other nodes).
pub trait Announce: Send + Sync + 'static {
    fn announce(&self, notice: Notice);
}

/// Announces nothing (a store opened by a command-line tool, tests).
pub struct Silent;

impl Announce for Silent {
    fn announce(&self, _: Notice) {}
}

pub type Announcer = Arc<dyn Announce>;
