//! What the domain talks about, shaped as the contract puts it on the wire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Audio and voice notes follow the listening lifecycle instead of `read`.
    pub fn is_audio(self) -> bool {
        matches!(self, Self::Audio | Self::Voice)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A stored message: the payload of `message:received` and of every REST answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: Uuid,
    pub sender_id: Uuid,
    pub sender_username: String,
    pub sender_profile_image: Option<String>,
    pub recipient_id: Uuid,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub status: Status,
    pub created_at: String,
    pub read_at: Option<String>,
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub file_size: Option<i64>,
    pub file_type: Option<String>,
    pub waveform: Option<Vec<f32>>,
    pub duration: Option<f64>,
    pub client_message_id: Option<String>,
    /// A preview of an image message (an extra field; the contract allows them).
    pub thumbnail_url: Option<String>,
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
}

/// The contract's `User`: `email` only in the user's own record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub profile_image: Option<String>,
    pub last_seen: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: Uuid,
    pub status: PresenceStatus,
    pub last_seen: Option<String>,
}

/// One row of `GET /api/messages/conversations`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub user: User,
    pub last_message: Message,
    pub unread_count: i64,
}
