//! Everything the server emits to rooms, with the contract's event names and
//! payloads. Each payload is serialised once per emit, whatever the room size.

use serde::Serialize;
use socketioxide::{BroadcastError, SocketError, operators::BroadcastOperators};

use super::bus::{Adapter, Io, Socket};
use uuid::Uuid;

use crate::chat::model::{Message, Presence, Status};

pub fn user_room(user: Uuid) -> String {
    format!("user:{user}")
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

#[derive(Clone)]
pub struct Notify {
    io: Io,
    /// Whether other nodes share the rooms (REDIS_URL); a lone node keeps its
    /// broadcasts local so the adapter never encodes them for the bus.
    shared: bool,
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
    pub fn new(io: Io, shared: bool) -> Self {
        Self { io, shared }
    }

    fn scoped(&self, op: BroadcastOperators<Adapter>) -> BroadcastOperators<Adapter> {
        if self.shared { op } else { op.local() }
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
    /// sessions; `origin` is the sending socket, left out (none for uploads).
    pub async fn message_received(&self, origin: Option<&Socket>, message: &Message) {
        let rooms = [
            user_room(message.recipient_id),
            user_room(message.sender_id),
        ];
        match origin {
            Some(socket) => report(
                "message:received",
                self.scoped(socket.to(rooms))
                    .emit("message:received", message)
                    .await,
            ),
            None => {
                if let Some(ns) = self.ns() {
                    report(
                        "message:received",
                        ns.to(rooms).emit("message:received", message).await,
                    );
                }
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
