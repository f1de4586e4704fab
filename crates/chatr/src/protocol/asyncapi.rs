//! The AsyncAPI 3 document of the Socket.IO events (issue 15), served at
//! `/api/asyncapi.json`. It is built from [`ClientEvent::ALL`] and
//! [`ServerEvent::ALL`], and each event's payload and answer is an arm of an
//! exhaustive `match` below: an event cannot be added to the dispatcher
//! without being described here. The payload schemas are the ones the
//! OpenAPI document uses (`utoipa`), under the same `#/components/schemas`.
//!
//! The shapes of what clients send are described by the structs at the end:
//! the dispatcher reads payloads field by field (to name the field at fault),
//! so these exist for the document only, and the contract suite checks what
//! it sends and receives against them.

use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use super::{
    AckErr, AckErrBody, ClientEvent, Edited, EventError, Reactions, Recording, ServerEvent,
    StatusChanged, Typing, Unsent, Waveform,
};
use crate::model::{Message, Presence, PresenceStatus, Reaction, Status};

/// Where a payload's shape is: a named schema, or an inline one.
enum Shape {
    Named(&'static str),
    Inline(Value),
}

impl Shape {
    fn schema(&self) -> Value {
        match self {
            Self::Named(name) => json!({ "$ref": format!("#/components/schemas/{name}") }),
            Self::Inline(schema) => schema.clone(),
        }
    }
}

/// What a client sends with an event, and what its ack carries on success.
fn client_event(event: ClientEvent) -> (&'static str, Shape, &'static str) {
    use ClientEvent as E;
    match event {
        E::MessageSend => (
            "Stores a text message and delivers it to every session of the recipient.",
            Shape::Named("SendMessage"),
            "AckMessage",
        ),
        E::MessageDelivered => (
            "The recipient received the message: status moves forward to `delivered`.",
            Shape::Named("Receipt"),
            "AckStatus",
        ),
        E::MessageRead => (
            "The recipient read the message: sets `readAt`; text, image and file move to `read`.",
            Shape::Named("Receipt"),
            "AckStatus",
        ),
        E::AudioListening => (
            "The recipient started playing an audio or voice message.",
            Shape::Named("Receipt"),
            "AckStatus",
        ),
        E::AudioListened => (
            "The recipient played at least 95 % of an audio or voice message.",
            Shape::Named("Receipt"),
            "AckStatus",
        ),
        E::TypingStart => (
            "Shows \"typing…\" to the recipient.",
            Shape::Named("Indicator"),
            "AckDone",
        ),
        E::TypingStop => ("Hides \"typing…\".", Shape::Named("Indicator"), "AckDone"),
        E::RecordingStart => (
            "Shows \"recording…\" to the recipient.",
            Shape::Named("Indicator"),
            "AckDone",
        ),
        E::RecordingStop => (
            "Hides \"recording…\".",
            Shape::Named("Indicator"),
            "AckDone",
        ),
        E::PresenceUpdate => (
            "Chooses the caller's presence.",
            Shape::Named("PresenceChoice"),
            "AckPresenceChoice",
        ),
        E::PresenceRequest => (
            "Asks for these users' presence (answered with `presence:status`) and follows it.",
            Shape::Inline(json!({
                "type": "array",
                "maxItems": 500,
                "items": { "type": "string", "format": "uuid" },
            })),
            "AckPresence",
        ),
        E::MessageEdit => (
            "The sender edits a message within 24 h.",
            Shape::Named("EditMessage"),
            "AckMessage",
        ),
        E::MessageUnsend => (
            "The sender deletes a message for everyone.",
            Shape::Named("MessageRef"),
            "AckMessage",
        ),
        E::MessageReact => (
            "Sets, replaces or (with `null` or the same emoji) removes the caller's reaction.",
            Shape::Named("React"),
            "AckReactions",
        ),
    }
}

/// What the server sends with an event.
fn server_event(event: ServerEvent) -> (&'static str, Shape) {
    use ServerEvent as E;
    match event {
        E::MessageReceived => (
            "A message for this user, or one they sent from another session.",
            Shape::Named("Message"),
        ),
        E::MessageStatus => (
            "A message's status moved forward.",
            Shape::Named("StatusChanged"),
        ),
        E::TypingIndicator => ("Someone started or stopped typing.", Shape::Named("Typing")),
        E::RecordingIndicator => (
            "Someone started or stopped recording.",
            Shape::Named("Recording"),
        ),
        E::AudioWaveform => (
            "An audio message's waveform became known.",
            Shape::Named("Waveform"),
        ),
        E::PresenceStatus => (
            "Presence of users this session follows.",
            Shape::Inline(json!({
                "type": "array",
                "items": { "$ref": "#/components/schemas/Presence" },
            })),
        ),
        E::MessageError => (
            "An event of this session was refused.",
            Shape::Named("EventError"),
        ),
        E::MessageEdited => ("A message was edited.", Shape::Named("Edited")),
        E::MessageUnsent => ("A message was unsent.", Shape::Named("Unsent")),
        E::MessageReactions => ("A message's reactions changed.", Shape::Named("Reactions")),
    }
}

/// Keys of `components` may not hold `:`.
fn key(event: &str) -> String {
    event.replace(':', "_")
}

/// The document; `version` is the server's.
pub fn document(version: &str) -> Value {
    let mut schemas = serde_json::to_value(&Schemas::openapi().components)
        .ok()
        .and_then(|c| c.get("schemas").cloned())
        .unwrap_or_else(|| json!({}));
    // Every ack is a success of its own shape or the common failure.
    for ok in [
        "AckMessage",
        "AckStatus",
        "AckDone",
        "AckPresenceChoice",
        "AckPresence",
        "AckReactions",
    ] {
        schemas[format!("{ok}OrError")] = json!({
            "oneOf": [
                { "$ref": format!("#/components/schemas/{ok}") },
                { "$ref": "#/components/schemas/AckErr" },
            ]
        });
    }

    let (mut messages, mut operations, mut channel_messages) = (Map::new(), Map::new(), Map::new());
    for event in ClientEvent::ALL {
        let (summary, payload, ack) = client_event(event);
        let name = event.name();
        let id = key(name);
        messages.insert(
            id.clone(),
            json!({ "name": name, "title": name, "summary": summary, "payload": payload.schema() }),
        );
        messages.insert(
            format!("{id}.ack"),
            json!({
                "name": format!("{name} ack"),
                "summary": format!("The answer to `{name}` when the client asked for one."),
                "payload": { "$ref": format!("#/components/schemas/{ack}OrError") },
            }),
        );
        channel_messages.insert(
            id.clone(),
            json!({ "$ref": format!("#/components/messages/{id}") }),
        );
        channel_messages.insert(
            format!("{id}.ack"),
            json!({ "$ref": format!("#/components/messages/{id}.ack") }),
        );
        operations.insert(
            format!("receive.{id}"),
            json!({
                "action": "receive",
                "title": name,
                "summary": summary,
                "channel": { "$ref": "#/channels/socket" },
                "messages": [{ "$ref": format!("#/channels/socket/messages/{id}") }],
                "reply": {
                    "channel": { "$ref": "#/channels/socket" },
                    "messages": [{ "$ref": format!("#/channels/socket/messages/{id}.ack") }],
                },
            }),
        );
    }
    for event in ServerEvent::ALL {
        let (summary, payload) = server_event(event);
        let name = event.name();
        let id = key(name);
        messages.insert(
            id.clone(),
            json!({ "name": name, "title": name, "summary": summary, "payload": payload.schema() }),
        );
        channel_messages.insert(
            id.clone(),
            json!({ "$ref": format!("#/components/messages/{id}") }),
        );
        operations.insert(
            format!("send.{id}"),
            json!({
                "action": "send",
                "title": name,
                "summary": summary,
                "channel": { "$ref": "#/channels/socket" },
                "messages": [{ "$ref": format!("#/channels/socket/messages/{id}") }],
            }),
        );
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chatr real-time API",
            "version": version,
            "description": "Socket.IO v5 events over Engine.IO v4 (WebSocket or HTTP long-polling) \
                at `/socket.io/`. Connect with `auth: { token }` (a token from `/api/auth/login`). \
                Each event name below is the Socket.IO event name; a client event may ask for an \
                acknowledgement, answered with its `ack` message. The REST half is in /api/openapi.json.",
            "license": { "name": "MIT" },
        },
        "defaultContentType": "application/json",
        "channels": {
            "socket": {
                "address": "/socket.io/",
                "title": "A Socket.IO connection",
                "description": "Every event of one authenticated connection (main namespace).",
                "messages": channel_messages,
            }
        },
        "operations": operations,
        "components": { "messages": messages, "schemas": schemas },
    })
}

/// Every schema the events name.
#[derive(OpenApi)]
#[openapi(components(schemas(
    Message,
    Presence,
    PresenceStatus,
    Reaction,
    Status,
    StatusChanged,
    Typing,
    Recording,
    Waveform,
    Edited,
    Unsent,
    Reactions,
    EventError,
    AckErr,
    AckErrBody,
    SendMessage,
    Receipt,
    Indicator,
    PresenceChoice,
    EditMessage,
    MessageRef,
    React,
    AckMessage,
    AckStatus,
    AckDone,
    AckPresenceChoice,
    AckPresence,
    AckReactions
)))]
struct Schemas;

/// `message:send`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SendMessage {
    #[schema(format = Uuid)]
    recipient_id: String,
    /// 1–10,000 characters after trimming.
    content: String,
    /// Only `text` here: attachments go through `POST /api/messages/upload`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// 1–64 characters chosen by the client; a repeat returns the stored message.
    client_message_id: Option<String>,
    #[schema(format = Uuid)]
    reply_to_id: Option<String>,
}

/// `message:delivered`, `message:read`, `audio:listening`, `audio:listened`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Receipt {
    #[schema(format = Uuid)]
    message_id: String,
    /// Must be the message's sender.
    #[schema(format = Uuid)]
    sender_id: String,
}

/// `typing:*`, `recording:*`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Indicator {
    #[schema(format = Uuid)]
    recipient_id: String,
}

/// `presence:update`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct PresenceChoice {
    status: PresenceStatus,
}

/// `message:edit`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct EditMessage {
    #[schema(format = Uuid)]
    message_id: String,
    content: String,
}

/// `message:unsend`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct MessageRef {
    #[schema(format = Uuid)]
    message_id: String,
}

/// `message:react`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct React {
    #[schema(format = Uuid)]
    message_id: String,
    /// One emoji (one grapheme cluster, ≤ 32 bytes), or `null` to remove.
    #[schema(required = true)]
    emoji: Option<String>,
}

/// A successful ack with the message as stored now.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckMessage {
    /// `true`.
    ok: bool,
    message: Message,
}

/// A successful status step: the status stored after it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckStatus {
    ok: bool,
    status: Status,
}

/// A successful event with nothing to return.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckDone {
    ok: bool,
}

/// The presence now chosen.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckPresenceChoice {
    ok: bool,
    status: PresenceStatus,
}

/// The presence of the users asked for.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckPresence {
    ok: bool,
    statuses: Vec<Presence>,
}

/// The message's reactions now.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AckReactions {
    ok: bool,
    reactions: Vec<Reaction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of the dispatcher is an operation, with a message whose
    /// payload resolves to a schema in the document.
    #[test]
    fn the_document_describes_every_event_and_resolves_every_schema() {
        let doc = document("test");
        let ops = doc["operations"].as_object().expect("operations");
        assert_eq!(ops.len(), ClientEvent::ALL.len() + ServerEvent::ALL.len());
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but missing"
            );
        }
        for e in ClientEvent::ALL {
            assert_eq!(
                doc["components"]["messages"][key(e.name())]["name"],
                e.name()
            );
            assert_eq!(
                ops[&format!("receive.{}", key(e.name()))]["action"],
                "receive"
            );
        }
        for e in ServerEvent::ALL {
            assert_eq!(ops[&format!("send.{}", key(e.name()))]["action"], "send");
        }
    }
}
