//! The wire vocabulary of the Socket.IO side: every event's name and the
//! shape of what it carries. The dispatcher matches on [`ClientEvent`], every
//! emit names a [`ServerEvent`], and `docs/protocol.md` describes each of
//! them (a test below keeps the two in step).

pub mod asyncapi;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Message, Presence, Reaction, Status};

/// Events a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    MessageSend,
    MessageDelivered,
    MessageRead,
    AudioListening,
    AudioListened,
    TypingStart,
    TypingStop,
    RecordingStart,
    RecordingStop,
    PresenceUpdate,
    PresenceRequest,
    MessageEdit,
    MessageUnsend,
    MessageReact,
}

impl ClientEvent {
    pub const ALL: [ClientEvent; 14] = [
        Self::MessageSend,
        Self::MessageDelivered,
        Self::MessageRead,
        Self::AudioListening,
        Self::AudioListened,
        Self::TypingStart,
        Self::TypingStop,
        Self::RecordingStart,
        Self::RecordingStop,
        Self::PresenceUpdate,
        Self::PresenceRequest,
        Self::MessageEdit,
        Self::MessageUnsend,
        Self::MessageReact,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::MessageSend => "message:send",
            Self::MessageDelivered => "message:delivered",
            Self::MessageRead => "message:read",
            Self::AudioListening => "audio:listening",
            Self::AudioListened => "audio:listened",
            Self::TypingStart => "typing:start",
            Self::TypingStop => "typing:stop",
            Self::RecordingStart => "recording:start",
            Self::RecordingStop => "recording:stop",
            Self::PresenceUpdate => "presence:update",
            Self::PresenceRequest => "presence:request",
            Self::MessageEdit => "message:edit",
            Self::MessageUnsend => "message:unsend",
            Self::MessageReact => "message:react",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// Events the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    MessageReceived,
    MessageStatus,
    TypingIndicator,
    RecordingIndicator,
    AudioWaveform,
    PresenceStatus,
    MessageError,
    MessageEdited,
    MessageUnsent,
    MessageReactions,
}

impl ServerEvent {
    pub const ALL: [ServerEvent; 10] = [
        Self::MessageReceived,
        Self::MessageStatus,
        Self::TypingIndicator,
        Self::RecordingIndicator,
        Self::AudioWaveform,
        Self::PresenceStatus,
        Self::MessageError,
        Self::MessageEdited,
        Self::MessageUnsent,
        Self::MessageReactions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::MessageReceived => "message:received",
            Self::MessageStatus => "message:status",
            Self::TypingIndicator => "typing:indicator",
            Self::RecordingIndicator => "recording:indicator",
            Self::AudioWaveform => "audio:waveform",
            Self::PresenceStatus => "presence:status",
            Self::MessageError => "message:error",
            Self::MessageEdited => "message:edited",
            Self::MessageUnsent => "message:unsent",
            Self::MessageReactions => "message:reactions",
        }
    }
}

/// `message:status`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChanged {
    pub message_id: Uuid,
    pub status: Status,
}

impl StatusChanged {
    /// As `serde_json::to_string` writes it, without serde: a message's
    /// sender hears of it twice or more, and through serde each key and the
    /// id went through serde_json's escaper a byte at a time (~900
    /// instructions, docs/benchmarks.md round 29). Neither an id nor a
    /// status ever needs escaping.
    pub fn json(&self) -> String {
        let mut buffer = Uuid::encode_buffer();
        let id = self.message_id.hyphenated().encode_lower(&mut buffer);
        let status = self.status.as_str();
        let mut out = String::with_capacity(32 + id.len() + status.len());
        out.push_str("{\"messageId\":\"");
        out.push_str(id);
        out.push_str("\",\"status\":\"");
        out.push_str(status);
        out.push_str("\"}");
        out
    }
}

/// `typing:indicator`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub user_id: Uuid,
    pub is_typing: bool,
}

/// `recording:indicator`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    pub user_id: Uuid,
    pub is_recording: bool,
}

/// `audio:waveform`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waveform<'a> {
    pub message_id: Uuid,
    pub waveform: &'a [f32],
    pub duration: f64,
}

/// `message:edited`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Edited<'a> {
    pub message_id: Uuid,
    pub content: &'a str,
    pub edited_at: &'a str,
}

/// `message:unsent`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unsent<'a> {
    pub message_id: Uuid,
    pub deleted_at: &'a str,
}

/// `message:reactions`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reactions<'a> {
    pub message_id: Uuid,
    pub reactions: &'a [Reaction],
}

/// `message:error`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventError<'a> {
    pub event: &'a str,
    pub code: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<&'a str>,
}

/// A successful acknowledgement: `{ ok: true, … }`.
#[derive(Serialize, Default)]
pub struct AckOk<'a> {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<&'a [Presence]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactions: Option<&'a [Reaction]>,
}

/// [`AckOk`] for a message just sent, `{ ok: true, message }`, around the
/// message's JSON as its `message:received` carries it (`model::Outgoing`):
/// written once, never parsed again.
pub fn ack_sent(message: &str) -> String {
    let mut args = String::with_capacity(message.len() + 24);
    args.push_str("{\"ok\":true,\"message\":");
    args.push_str(message);
    args.push('}');
    args
}

/// A failed acknowledgement: `{ ok: false, error: { code, message } }`.
#[derive(Serialize, ToSchema)]
pub struct AckErr<'a> {
    pub ok: bool,
    pub error: AckErrBody<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct AckErrBody<'a> {
    pub code: &'static str,
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_change_is_written_as_serde_writes_it() {
        let statuses = [
            Status::Sent,
            Status::Delivered,
            Status::Read,
            Status::Listening,
            Status::Listened,
        ];
        for status in statuses {
            let change = StatusChanged {
                message_id: Uuid::now_v7(),
                status,
            };
            let derived = serde_json::to_string(&change).expect("serialises");
            assert_eq!(change.json(), derived);
        }
    }

    /// docs/protocol.md names every event the server handles and sends, and
    /// no other: a new event is documented in the same change.
    #[test]
    fn the_protocol_document_names_exactly_the_events_of_the_code() {
        let doc = include_str!("../../../../docs/protocol.md");
        let documented: std::collections::BTreeSet<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("### `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let code: std::collections::BTreeSet<&str> = ClientEvent::ALL
            .iter()
            .map(|e| e.name())
            .chain(ServerEvent::ALL.iter().map(|e| e.name()))
            .collect();
        assert_eq!(documented, code);
        for e in ClientEvent::ALL {
            assert_eq!(ClientEvent::parse(e.name()), Some(e));
        }
    }
}
