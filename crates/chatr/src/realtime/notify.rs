//! Everything the server emits to rooms, with the contract's event names and
//! payloads. Each payload is serialised once per emit, whatever the room size.
//!
//! `message:received` alone does not travel between nodes through the
//! adapter: each node delivers it to its own sessions itself (see
//! `chat::handover`), so it is relayed to the other nodes on a Redis channel
//! of its own and delivered there like a local message. The same channel
//! tells the other nodes of a changed profile, which every node caches.

use serde::{Deserialize, Serialize};
use socketioxide::{BroadcastError, SocketError, operators::BroadcastOperators, socket::Sid};
use socketioxide_redis::drivers::Driver;

use super::bus::{Adapter, Bus, Io, Socket};
use uuid::Uuid;

use crate::chat::model::{Message, Presence, Status};

/// The Redis channel that carries [`Relay`]s between nodes.
pub const RELAY_CHANNEL: &str = "chatr#relay";

pub fn user_room(user: Uuid) -> String {
    format!("user:{user}")
}

/// A user's sessions on a node that are still catching up (`chat::handover`):
/// left out of room-wide `message:received`, which reaches them one by one.
pub fn catching_room(user: Uuid) -> String {
    format!("catching:{user}")
}

pub fn presence_room(user: Uuid) -> String {
    format!("presence:{user}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indicator {
    Typing,
    Recording,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusEvent {
    message_id: Uuid,
    status: Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WaveformEvent<'a> {
    message_id: Uuid,
    waveform: &'a [f32],
    duration: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypingEvent {
    user_id: Uuid,
    is_typing: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingEvent {
    user_id: Uuid,
    is_recording: bool,
}

/// What one node tells the others directly, not through the adapter.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Relay {
    /// A message stored on the sending node (which delivered it to its own sessions).
    Received { message: Box<Message> },
    /// A user's new profile (their cached copy is stale).
    Profile {
        user: Uuid,
        username: String,
        profile_image: Option<String>,
    },
}

/// A relay, and the node it comes from.
#[derive(Serialize, Deserialize)]
struct Relayed {
    node: Uuid,
    relay: Relay,
}

#[derive(Clone)]
pub struct Notify {
    io: Io,
    /// The other nodes (REDIS_URL), and this node's name among them; a lone
    /// node keeps its broadcasts local so the adapter never encodes them for the bus.
    peers: Option<(Bus, Uuid)>,
}

fn report(event: &str, result: Result<(), BroadcastError>) {
    match result {
        Ok(()) => {}
        // A session closing while we emit is routine.
        Err(BroadcastError::Socket(errors))
            if errors.iter().all(|e| matches!(e, SocketError::Closed)) => {}
        // A session whose buffer is full misses a live event; for messages that is
        // safe because the status stays `sent` and offline delivery resends it.
        Err(e) => tracing::warn!(event, error = %e, "emit did not reach every session"),
    }
}

impl Notify {
    pub fn new(io: Io, bus: Option<Bus>) -> Self {
        Self {
            io,
            peers: bus.map(|bus| (bus, Uuid::new_v4())),
        }
    }

    fn scoped(&self, op: BroadcastOperators<Adapter>) -> BroadcastOperators<Adapter> {
        if self.shared() { op } else { op.local() }
    }

    /// Whether other nodes share the rooms.
    pub fn shared(&self) -> bool {
        self.peers.is_some()
    }

    /// A session on this node, if it is still connected.
    pub fn socket(&self, sid: Sid) -> Option<Socket> {
        self.io.of("/")?.get_socket(sid)
    }

    /// The default namespace, or `None` once the server is closing (socketioxide
    /// panics on `io.to` after `close`, and nobody is listening any more).
    fn ns(&self) -> Option<BroadcastOperators<Adapter>> {
        self.io.of("/").map(|op| self.scoped(op))
    }

    async fn emit(&self, room: String, event: &str, data: &(impl Serialize + ?Sized)) {
        if let Some(ns) = self.ns() {
            report(event, ns.to(room).emit(event, data).await);
        }
    }

    /// `message:received` to the recipient's sessions and the sender's other
    /// sessions on this node, less `origin` (the sending socket; none for
    /// uploads) and, when `skip_catching`, the recipient's sessions catching up.
    pub async fn message_received(
        &self,
        origin: Option<&Socket>,
        message: &Message,
        skip_catching: bool,
    ) {
        let rooms = [
            user_room(message.recipient_id),
            user_room(message.sender_id),
        ];
        let op = match origin {
            Some(socket) => socket.to(rooms),
            None => {
                let Some(ns) = self.ns() else { return };
                ns.to(rooms)
            }
        };
        let op = if skip_catching {
            op.except(catching_room(message.recipient_id))
        } else {
            op
        };
        report(
            "message:received",
            op.local().emit("message:received", message).await,
        );
    }

    /// `message:received` to one session (one catching up).
    pub fn message_received_by(&self, sid: Sid, message: &Message) {
        let Some(socket) = self.socket(sid) else {
            return;
        };
        match socket.emit("message:received", message) {
            Ok(()) | Err(socketioxide::SendError::Socket(SocketError::Closed)) => {}
            Err(e) => tracing::warn!(error = %e, "message:received did not reach a session"),
        }
    }

    /// Tells the other nodes (none for a lone node). A stored message that
    /// fails to reach them stays `sent`: the recipient's next session gets it.
    pub async fn relay(&self, relay: Relay) {
        let Some((bus, node)) = &self.peers else {
            return;
        };
        let relayed = Relayed { node: *node, relay };
        let bytes = match serde_json::to_vec(&relayed) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::error!(error = %e, "encoding a relay"),
        };
        if let Err(e) = bus.publish(RELAY_CHANNEL.to_owned(), bytes).await {
            tracing::warn!(error = %e, "relaying to the other nodes");
        }
    }

    /// Hands a stored message to the other nodes, which deliver it to their
    /// own sessions (a lone node copies nothing).
    pub async fn relay_received(&self, message: &Message) {
        if self.shared() {
            let message = Box::new(message.clone());
            self.relay(Relay::Received { message }).await;
        }
    }

    /// A relay from another node; `None` for this node's own (already acted
    /// on) and for undecodable ones.
    pub fn relayed(&self, bytes: &[u8]) -> Option<Relay> {
        let (_, node) = self.peers.as_ref()?;
        match serde_json::from_slice::<Relayed>(bytes) {
            Ok(relayed) => (relayed.node != *node).then_some(relayed.relay),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable relay");
                None
            }
        }
    }

    pub async fn status(&self, sender: Uuid, message_id: Uuid, status: Status) {
        self.emit(
            user_room(sender),
            "message:status",
            &StatusEvent { message_id, status },
        )
        .await;
    }

    pub async fn indicator(&self, kind: Indicator, to: Uuid, from: Uuid, on: bool) {
        let room = user_room(to);
        match kind {
            Indicator::Typing => {
                self.emit(
                    room,
                    "typing:indicator",
                    &TypingEvent {
                        user_id: from,
                        is_typing: on,
                    },
                )
                .await;
            }
            Indicator::Recording => {
                let event = RecordingEvent {
                    user_id: from,
                    is_recording: on,
                };
                self.emit(room, "recording:indicator", &event).await;
            }
        }
    }

    pub async fn presence(&self, presence: Presence) {
        // socketioxide spreads arrays into several arguments; a Vec is one (a list).
        let list = vec![presence];
        self.emit(presence_room(list[0].user_id), "presence:status", &list)
            .await;
    }

    /// `audio:waveform` to both sides of the conversation.
    pub async fn waveform(&self, message: &Message, waveform: &[f32], duration: f64) {
        let Some(ns) = self.ns() else { return };
        let event = WaveformEvent {
            message_id: message.id,
            waveform,
            duration,
        };
        let rooms = [
            user_room(message.sender_id),
            user_room(message.recipient_id),
        ];
        report(
            "audio:waveform",
            ns.to(rooms).emit("audio:waveform", &event).await,
        );
    }

    /// Two users just became contacts: every session of each follows the other's presence.
    pub async fn introduce(&self, a: Uuid, b: Uuid) {
        let Some(ns) = self.ns() else { return };
        for (who, whom) in [(a, b), (b, a)] {
            if let Err(e) = ns
                .clone()
                .to(user_room(who))
                .join(presence_room(whom))
                .await
            {
                tracing::warn!(error = %e, "joining presence rooms");
            }
        }
    }
}
