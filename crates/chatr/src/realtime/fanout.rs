//! Where the domain's notices become Socket.IO events: which rooms, which
//! events, and (with several nodes) which relays to the other nodes. Each
//! packet is serialised once and the same bytes reach every local socket and
//! the other nodes.
//!
//! `message:received` is special: each node delivers it to its own sessions
//! itself, through the hand-over with offline delivery (see `handover`), so
//! it is relayed as the message and delivered on arrival like a local one.
//! Everything else is relayed as the finished packet and the rooms it goes to.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chatr_sio::{Except, Packet, Sid};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bus::Publisher;
use super::handover::Handover;
use super::{Io, Nsp, Room};
use crate::auth::revocation::Revocations;
use crate::chat::Chat;
use crate::chat::notice::{Announce, Indicator, Notice, Origin};
use crate::chat::profiles::Profile;
use crate::model::{Message, Outgoing, Presence, Visibility};
use crate::protocol::{self, ServerEvent};

/// What one node tells the others; the packet or message follows the
/// header line on the wire.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Relay {
    /// A finished packet for these rooms.
    Emit { rooms: Vec<Room> },
    /// A stored message (as JSON after the header), at position `seq`.
    Received { seq: i64 },
    /// Every session in `room` joins `rooms`.
    Join { room: Room, rooms: Vec<Room> },
    /// Every session in `room` leaves `rooms`.
    Leave { room: Room, rooms: Vec<Room> },
    /// Every session leaves `room`.
    Clear { room: Room },
    /// A block made or lifted, for every node's cache.
    Blocked {
        blocker: Uuid,
        blocked: Uuid,
        on: bool,
    },
    /// A presence visibility chosen, for every node's cache.
    Visibility { user: Uuid, visibility: Visibility },
    /// Tokens of `user` were revoked: one, or all issued until `before_ms`.
    Revoked {
        user: Uuid,
        token: Option<(Uuid, i64)>,
        before_ms: Option<i64>,
    },
    /// A user's new name or picture, for every node's profile cache.
    Profile {
        user: Uuid,
        username: String,
        profile_image: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    node: Uuid,
    #[serde(flatten)]
    relay: Relay,
}

pub struct Fanout {
    /// The server's sockets, once the server is built (and until it stops).
    io: RwLock<Option<Io>>,
    pub(super) handover: Handover,
    /// The other nodes, and this node's name among them.
    peers: Option<(Publisher, Uuid)>,
    /// Kept up to date with what other nodes revoke.
    revocations: Arc<Revocations>,
}

impl Fanout {
    pub fn new(peers: Option<Publisher>, revocations: Arc<Revocations>) -> Arc<Self> {
        Arc::new(Self {
            io: RwLock::new(None),
            handover: Handover::default(),
            peers: peers.map(|p| (p, Uuid::new_v4())),
            revocations,
        })
    }

    /// Disconnects this node's sessions of `user` whose token is now revoked.
    fn disconnect_revoked(&self, user: Uuid) {
        let Some(nsp) = self.nsp() else { return };
        for socket in nsp.sockets_in(&Room::User(user)) {
            if let Some(s) = socket.data()
                && self
                    .revocations
                    .is_revoked(s.user, s.token, s.token_issued_ms)
            {
                socket.disconnect();
            }
        }
    }

    pub(super) fn attach(&self, io: Io) {
        *self.io.write().unwrap_or_else(|p| p.into_inner()) = Some(io);
    }

    /// Lets go of the server at shutdown (it holds this fan-out in turn).
    pub fn detach(&self) {
        self.io.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub(super) fn nsp(&self) -> Option<Nsp> {
        self.io
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()?
            .of("/")
    }

    fn relay(&self, relay: Relay, body: &[u8]) {
        let Some((publisher, node)) = &self.peers else {
            return;
        };
        let mut bytes = match serde_json::to_vec(&Envelope { node: *node, relay }) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::error!(error = %e, "encoding a relay"),
        };
        bytes.push(b'\n');
        bytes.extend_from_slice(body);
        publisher.publish(bytes);
    }

    /// `event` with `data` to everyone in `rooms`, on every node.
    fn emit(&self, rooms: Vec<Room>, event: ServerEvent, data: &(impl Serialize + ?Sized)) {
        let Some(nsp) = self.nsp() else { return };
        let packet = match nsp.event(event.name(), data) {
            Ok(packet) => packet,
            Err(e) => return tracing::error!(error = %e, event = event.name(), "encoding an event"),
        };
        self.broadcast(&nsp, rooms, &packet);
    }

    /// `event` with `json`, its one argument already written, as `emit`.
    fn emit_json(&self, rooms: Vec<Room>, event: ServerEvent, json: &str) {
        let Some(nsp) = self.nsp() else { return };
        let packet = nsp.event_raw(event.name(), json, Vec::new());
        self.broadcast(&nsp, rooms, &packet);
    }

    fn broadcast(&self, nsp: &Nsp, rooms: Vec<Room>, packet: &Packet) {
        nsp.broadcast(&rooms, Except::default(), packet);
        if self.peers.is_some() {
            let text = packet.text().clone();
            self.relay(Relay::Emit { rooms }, &text);
        }
    }

    /// `message:received` to the sessions on this node of the recipient and
    /// of the sender (less `origin`), once to those catching up.
    pub(super) fn deliver_live(&self, message: &Outgoing, seq: i64, origin: Option<Sid>) {
        let Some(nsp) = self.nsp() else { return };
        let Some(json) = message.json() else {
            return tracing::error!("encoding a message");
        };
        let packet = nsp.event_raw(ServerEvent::MessageReceived.name(), json, Vec::new());
        self.deliver_packet(&nsp, &message.message, seq, origin, &packet);
    }

    fn deliver_packet(
        &self,
        nsp: &Nsp,
        message: &Message,
        seq: i64,
        origin: Option<Sid>,
        packet: &Packet,
    ) {
        let recipient = message.recipient_id;
        let _delivering = self.handover.delivering(recipient);
        let catching = self.handover.claim_live(recipient, message.id, seq);
        let skip_catching = [Room::Catching(recipient)];
        let except = Except {
            rooms: if catching.is_some() {
                &skip_catching
            } else {
                &[]
            },
            socket: origin,
        };
        nsp.broadcast(
            &[Room::User(recipient), Room::User(message.sender_id)],
            except,
            packet,
        );
        for sid in catching.unwrap_or_default() {
            if let Some(socket) = nsp.socket(sid) {
                socket.send(packet);
            }
        }
    }

    /// What another node relayed; this node's own relays come back too and are skipped.
    pub fn on_relay(&self, bytes: &[u8], chat: &Chat) {
        let (head, body) = match bytes.iter().position(|b| *b == b'\n') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &[][..]),
        };
        let envelope: Envelope = match serde_json::from_slice(head) {
            Ok(e) => e,
            Err(e) => return tracing::warn!(error = %e, "undecodable relay"),
        };
        if self
            .peers
            .as_ref()
            .is_some_and(|(_, node)| *node == envelope.node)
        {
            return;
        }
        match envelope.relay {
            Relay::Emit { rooms } => {
                if let Some(nsp) = self.nsp() {
                    let packet = Packet::from_text(Bytes::copy_from_slice(body));
                    nsp.broadcast(&rooms, Except::default(), &packet);
                }
            }
            Relay::Received { seq } => match Outgoing::from_json(body) {
                Ok(message) => self.deliver_live(&message, seq, None),
                Err(e) => tracing::warn!(error = %e, "undecodable relayed message"),
            },
            Relay::Join { room, rooms } => {
                if let Some(nsp) = self.nsp() {
                    nsp.join_all(&room, &rooms);
                }
            }
            Relay::Leave { room, rooms } => {
                if let Some(nsp) = self.nsp() {
                    nsp.leave_all(&room, &rooms);
                }
            }
            Relay::Clear { room } => {
                if let Some(nsp) = self.nsp() {
                    nsp.clear(&room);
                }
            }
            Relay::Blocked {
                blocker,
                blocked,
                on,
            } => {
                chat.relations.graph().set_block(blocker, blocked, on);
            }
            Relay::Visibility { user, visibility } => {
                chat.relations.graph().set_visibility(user, visibility);
            }
            Relay::Revoked {
                user,
                token,
                before_ms,
            } => {
                if let Some((jti, exp)) = token {
                    self.revocations.revoke(jti, exp);
                }
                if let Some(at) = before_ms {
                    self.revocations.cut_off(user, at);
                }
                self.disconnect_revoked(user);
            }
            Relay::Profile {
                user,
                username,
                profile_image,
            } => {
                chat.profiles.put(
                    user,
                    Profile {
                        username,
                        profile_image,
                    },
                );
            }
        }
    }
}

impl Announce for Fanout {
    fn announce(&self, notice: Notice) {
        match notice {
            Notice::Stored {
                message,
                seq,
                origin,
            } => {
                self.deliver_live(&message, seq, origin.map(|Origin(id)| Sid::from_bytes(id)));
                if self.peers.is_some()
                    && let Some(json) = message.json()
                {
                    self.relay(Relay::Received { seq }, json.as_bytes());
                }
            }
            Notice::Status {
                sender,
                message_id,
                status,
            } => self.emit_json(
                vec![Room::User(sender)],
                ServerEvent::MessageStatus,
                &protocol::StatusChanged { message_id, status }.json(),
            ),
            Notice::Indicator {
                kind: Indicator::Typing,
                from,
                to,
                on,
            } => self.emit(
                vec![Room::User(to)],
                ServerEvent::TypingIndicator,
                &protocol::Typing {
                    user_id: from,
                    is_typing: on,
                },
            ),
            Notice::Indicator {
                kind: Indicator::Recording,
                from,
                to,
                on,
            } => self.emit(
                vec![Room::User(to)],
                ServerEvent::RecordingIndicator,
                &protocol::Recording {
                    user_id: from,
                    is_recording: on,
                },
            ),
            Notice::Presence(presence) => {
                let room = Room::Presence(presence.user_id);
                let list: [Presence; 1] = [presence];
                self.emit(vec![room], ServerEvent::PresenceStatus, &list);
            }
            Notice::Waveform {
                sender,
                recipient,
                message_id,
                waveform,
                duration,
            } => self.emit(
                vec![Room::User(sender), Room::User(recipient)],
                ServerEvent::AudioWaveform,
                &protocol::Waveform {
                    message_id,
                    waveform: &waveform,
                    duration,
                },
            ),
            Notice::Follow { who, whom, on } => {
                let (room, rooms) = (Room::User(who), vec![Room::Presence(whom)]);
                if let Some(nsp) = self.nsp() {
                    if on {
                        nsp.join_all(&room, &rooms);
                    } else {
                        nsp.leave_all(&room, &rooms);
                    }
                }
                let relay = if on {
                    Relay::Join { room, rooms }
                } else {
                    Relay::Leave { room, rooms }
                };
                self.relay(relay, &[]);
            }
            Notice::ClearFollowers { whom } => {
                let room = Room::Presence(whom);
                if let Some(nsp) = self.nsp() {
                    nsp.clear(&room);
                }
                self.relay(Relay::Clear { room }, &[]);
            }
            Notice::PresenceTo { to, presence } => {
                let list: [Presence; 1] = [presence];
                self.emit(vec![Room::User(to)], ServerEvent::PresenceStatus, &list);
            }
            Notice::Edited {
                sender,
                recipient,
                message_id,
                content,
                edited_at,
            } => self.emit(
                vec![Room::User(sender), Room::User(recipient)],
                ServerEvent::MessageEdited,
                &protocol::Edited {
                    message_id,
                    content: &content,
                    edited_at: &edited_at,
                },
            ),
            Notice::Unsent {
                sender,
                recipient,
                message_id,
                deleted_at,
            } => self.emit(
                vec![Room::User(sender), Room::User(recipient)],
                ServerEvent::MessageUnsent,
                &protocol::Unsent {
                    message_id,
                    deleted_at: &deleted_at,
                },
            ),
            Notice::Reactions {
                sender,
                recipient,
                message_id,
                reactions,
            } => self.emit(
                vec![Room::User(sender), Room::User(recipient)],
                ServerEvent::MessageReactions,
                &protocol::Reactions {
                    message_id,
                    reactions: &reactions,
                },
            ),
            Notice::Blocked {
                blocker,
                blocked,
                on,
            } => {
                self.relay(
                    Relay::Blocked {
                        blocker,
                        blocked,
                        on,
                    },
                    &[],
                );
            }
            Notice::Visibility { user, visibility } => {
                self.relay(Relay::Visibility { user, visibility }, &[]);
            }
            Notice::Revoked {
                user,
                token,
                before_ms,
            } => {
                self.disconnect_revoked(user);
                self.relay(
                    Relay::Revoked {
                        user,
                        token,
                        before_ms,
                    },
                    &[],
                );
            }
            Notice::Profile {
                user,
                username,
                profile_image,
            } => self.relay(
                Relay::Profile {
                    user,
                    username,
                    profile_image,
                },
                &[],
            ),
        }
    }
}
