//! What the domain talks about, shaped as the contract puts it on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

mod json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Image,
    File,
    Audio,
    Voice,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::File => "file",
            Self::Audio => "audio",
            Self::Voice => "voice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => Self::Text,
            "image" => Self::Image,
            "file" => Self::File,
            "audio" => Self::Audio,
            "voice" => Self::Voice,
            _ => return None,
        })
    }

    /// The kinds that follow the listening lifecycle instead of `read`.
    pub const AUDIO: [MessageType; 2] = [Self::Audio, Self::Voice];

    /// Audio and voice notes follow the listening lifecycle instead of `read`.
    pub fn is_audio(self) -> bool {
        Self::AUDIO.contains(&self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Sent,
    Delivered,
    Read,
    Listening,
    Listened,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Listening => "listening",
            Self::Listened => "listened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "listening" => Self::Listening,
            "listened" => Self::Listened,
            _ => return None,
        })
    }
}

/// A message on its way out, with its JSON written at most once however
/// many frames carry it: `message:received` to each session, the sender's
/// ack, the relay to other nodes.
#[derive(Debug)]
pub struct Outgoing {
    pub message: std::sync::Arc<Message>,
    json: std::sync::OnceLock<Option<Box<str>>>,
}

impl Outgoing {
    pub fn new(message: std::sync::Arc<Message>) -> Self {
        Self {
            message,
            json: std::sync::OnceLock::new(),
        }
    }

    /// A message as another node encoded it: read, and its JSON kept, so
    /// that it is not written again here.
    pub fn from_json(json: &[u8]) -> serde_json::Result<Self> {
        let text = std::str::from_utf8(json).map_err(serde::de::Error::custom)?;
        let message = serde_json::from_str::<Message>(text)?;
        Ok(Self {
            message: std::sync::Arc::new(message),
            json: std::sync::OnceLock::from(Some(Box::from(text))),
        })
    }

    /// The message's JSON, written on first use (`None`: it could not
    /// be, which a message of valid strings and numbers never is).
    pub fn json(&self) -> Option<&str> {
        self.json
            .get_or_init(|| {
                json::message(&self.message)
                    .ok()
                    .map(String::into_boxed_str)
            })
            .as_deref()
    }

    /// The message itself, without a copy when nothing else holds it.
    pub fn into_message(self: std::sync::Arc<Self>) -> Message {
        let message = std::sync::Arc::try_unwrap(self)
            .map_or_else(|shared| shared.message.clone(), |own| own.message);
        std::sync::Arc::unwrap_or_clone(message)
    }
}

/// A stored message: the payload of `message:received` and of every REST answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: Uuid,
    pub sender_id: Uuid,
    pub sender_username: String,
    #[schema(required = true)]
    pub sender_profile_image: Option<String>,
    pub recipient_id: Uuid,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub status: Status,
    pub created_at: String,
    #[schema(required = true)]
    pub read_at: Option<String>,
    #[schema(required = true)]
    pub file_url: Option<String>,
    #[schema(required = true)]
    pub file_name: Option<String>,
    #[schema(required = true)]
    pub file_size: Option<i64>,
    #[schema(required = true)]
    pub file_type: Option<String>,
    #[schema(required = true)]
    pub waveform: Option<Vec<f32>>,
    #[schema(required = true)]
    pub duration: Option<f64>,
    #[schema(required = true)]
    pub client_message_id: Option<String>,
    /// A preview of an image message (an extra field; the contract allows them).
    #[schema(required = true)]
    pub thumbnail_url: Option<String>,
    #[schema(required = true)]
    pub edited_at: Option<String>,
    /// When the sender unsent it ("delete for everyone"); a tombstone since.
    #[schema(required = true)]
    pub deleted_at: Option<String>,
    /// What this message replies to, as that message is now.
    #[schema(required = true)]
    pub reply_to: Option<ReplyTo>,
    pub reactions: Vec<Reaction>,
}

impl Message {
    /// A new message from `sender` to `recipient`, just sent: a fresh id,
    /// stamped now, nothing attached, no author's profile filled in yet.
    pub fn sent(sender: Uuid, recipient: Uuid, kind: MessageType, content: String) -> Self {
        Self {
            id: Uuid::now_v7(),
            sender_id: sender,
            sender_username: String::new(),
            sender_profile_image: None,
            recipient_id: recipient,
            content,
            kind,
            status: Status::Sent,
            created_at: crate::clock::now(),
            read_at: None,
            file_url: None,
            file_name: None,
            file_size: None,
            file_type: None,
            waveform: None,
            duration: None,
            client_message_id: None,
            thumbnail_url: None,
            edited_at: None,
            deleted_at: None,
            reply_to: None,
            reactions: Vec::new(),
        }
    }
}

/// A snapshot of the message replied to (contract §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyTo {
    pub id: Uuid,
    pub sender_id: Uuid,
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// At most [`REPLY_PREVIEW_CHARS`] characters; `""` once unsent.
    pub content: String,
    pub deleted: bool,
}

/// Characters of the message replied to that a reply carries.
pub const REPLY_PREVIEW_CHARS: usize = 200;

impl ReplyTo {
    pub fn of(id: Uuid, sender_id: Uuid, kind: MessageType, content: &str, deleted: bool) -> Self {
        Self {
            id,
            sender_id,
            kind,
            content: if deleted {
                String::new()
            } else {
                content.chars().take(REPLY_PREVIEW_CHARS).collect()
            },
            deleted,
        }
    }
}

/// One user's reaction to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub user_id: Uuid,
    pub emoji: String,
}

/// Who may see a user's presence (contract §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Everyone,
    /// Users the owner has exchanged a message with.
    Contacts,
    Nobody,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::Contacts => "contacts",
            Self::Nobody => "nobody",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "everyone" => Self::Everyone,
            "contacts" => Self::Contacts,
            "nobody" => Self::Nobody,
            _ => return None,
        })
    }

    /// Whether a viewer sees the owner's presence, knowing whether they are contacts.
    pub fn shows_to(self, is_contact: bool) -> bool {
        match self {
            Self::Everyone => true,
            Self::Contacts => is_contact,
            Self::Nobody => false,
        }
    }
}

/// A user as the database holds it (without the password hash).
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub profile_image: Option<String>,
    pub last_seen: Option<String>,
    pub created_at: String,
    pub presence_visibility: Visibility,
}

/// The contract's `User`: `email` only in the user's own record.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[schema(required = true)]
    pub profile_image: Option<String>,
    #[schema(required = true)]
    pub last_seen: Option<String>,
    pub created_at: String,
    /// Only in the user's own record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_visibility: Option<Visibility>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "online" => Self::Online,
            "away" => Self::Away,
            "offline" => Self::Offline,
            _ => return None,
        })
    }
}

/// One entry of `presence:status`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: Uuid,
    pub status: PresenceStatus,
    #[schema(required = true)]
    pub last_seen: Option<String>,
}

/// One row of `GET /api/messages/conversations`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub user: User,
    pub last_message: Message,
    pub unread_count: i64,
    /// The caller blocks this user.
    pub blocked: bool,
}

/// An earlier version of an edited message.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Edit {
    pub content: String,
    /// When this version was replaced.
    pub edited_at: String,
}

/// The facts about a stored message that the status rule
/// (`chat::lifecycle`) needs, as the writer reads them.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    pub sender_id: Uuid,
    pub recipient_id: Uuid,
    pub kind: MessageType,
    pub status: Status,
}

/// The step a receipt usually takes (`chat::lifecycle::usual_step`): from
/// `from` to `to`, for a message whose kind is audio when `audio` says so
/// (of any kind when it is `None`), sent by `sender_id` to `recipient_id`.
/// For every message that matches all of it the status rule moves the
/// message to `to`, so a store may make the move in one statement guarded
/// by these facts and read the message only when the guard fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub sender_id: Uuid,
    pub recipient_id: Uuid,
    pub from: Status,
    pub to: Status,
    pub audio: Option<bool>,
}
