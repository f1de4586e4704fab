//! Rows as the database returns them, and their conversion into domain types.
//! Stored data is trusted but still checked: a bad row is an internal error,
//! never a panic.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{Message, MessageType, ReplyTo, Status, UserRecord, Visibility};

pub(super) fn uuid(s: &str) -> Result<Uuid> {
    Uuid::try_parse(s).map_err(|_| Error::internal("malformed id in the database"))
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub profile_image: Option<String>,
    pub last_seen: Option<String>,
    pub created_at: String,
    pub presence_visibility: String,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(UserRecord {
            id: uuid(&r.id)?,
            username: r.username,
            email: r.email,
            profile_image: r.profile_image,
            last_seen: r.last_seen,
            created_at: r.created_at,
            presence_visibility: Visibility::parse(&r.presence_visibility)
                .ok_or_else(|| Error::internal("malformed presence visibility in the database"))?,
        })
    }
}

/// The message columns plus the sender's profile (`select m.*, u.username as
/// sender_username, u.profile_image as sender_profile_image`).
#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    pub id: String,
    pub sender_id: String,
    pub recipient_id: String,
    pub content: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status: String,
    pub created_at: String,
    pub read_at: Option<String>,
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub file_size: Option<i64>,
    pub file_type: Option<String>,
    pub waveform: Option<String>,
    pub duration: Option<f64>,
    pub client_message_id: Option<String>,
    pub thumbnail_url: Option<String>,
    pub edited_at: Option<String>,
    pub deleted_at: Option<String>,
    pub reply_id: Option<String>,
    pub reply_sender_id: Option<String>,
    pub reply_type: Option<String>,
    pub reply_content: Option<String>,
    pub reply_deleted_at: Option<String>,
    pub sender_username: String,
    pub sender_profile_image: Option<String>,
}

impl MessageRow {
    /// The same row read by rusqlite (the inline [`super::reader`]).
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            sender_id: row.get("sender_id")?,
            recipient_id: row.get("recipient_id")?,
            content: row.get("content")?,
            kind: row.get("type")?,
            status: row.get("status")?,
            created_at: row.get("created_at")?,
            read_at: row.get("read_at")?,
            file_url: row.get("file_url")?,
            file_name: row.get("file_name")?,
            file_size: row.get("file_size")?,
            file_type: row.get("file_type")?,
            waveform: row.get("waveform")?,
            duration: row.get("duration")?,
            client_message_id: row.get("client_message_id")?,
            thumbnail_url: row.get("thumbnail_url")?,
            edited_at: row.get("edited_at")?,
            deleted_at: row.get("deleted_at")?,
            reply_id: row.get("reply_id")?,
            reply_sender_id: row.get("reply_sender_id")?,
            reply_type: row.get("reply_type")?,
            reply_content: row.get("reply_content")?,
            reply_deleted_at: row.get("reply_deleted_at")?,
            sender_username: row.get("sender_username")?,
            sender_profile_image: row.get("sender_profile_image")?,
        })
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(r: MessageRow) -> Result<Self> {
        let bad = |what: &str| Error::internal(format!("malformed {what} in the database"));
        Ok(Message {
            id: uuid(&r.id)?,
            sender_id: uuid(&r.sender_id)?,
            sender_username: r.sender_username,
            sender_profile_image: r.sender_profile_image,
            recipient_id: uuid(&r.recipient_id)?,
            content: r.content,
            kind: MessageType::parse(&r.kind).ok_or_else(|| bad("type"))?,
            status: Status::parse(&r.status).ok_or_else(|| bad("status"))?,
            created_at: r.created_at,
            read_at: r.read_at,
            file_url: r.file_url,
            file_name: r.file_name,
            file_size: r.file_size,
            file_type: r.file_type,
            waveform: match r.waveform {
                Some(w) => Some(serde_json::from_str(&w).map_err(|_| bad("waveform"))?),
                None => None,
            },
            duration: r.duration,
            client_message_id: r.client_message_id,
            thumbnail_url: r.thumbnail_url,
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
            reply_to: match (r.reply_id, r.reply_sender_id, r.reply_type) {
                (Some(id), Some(sender), Some(kind)) => Some(ReplyTo::of(
                    uuid(&id)?,
                    uuid(&sender)?,
                    MessageType::parse(&kind).ok_or_else(|| bad("reply type"))?,
                    r.reply_content.as_deref().unwrap_or_default(),
                    r.reply_deleted_at.is_some(),
                )),
                _ => None,
            },
            // Reactions are read for a list of messages at once (see `reactions`).
            reactions: Vec::new(),
        })
    }
}

/// The columns that [`MessageRow`] reads, with `m` the message, `u` its
/// sender and `r` the message it replies to (see [`message_from`]).
macro_rules! message_columns {
    () => {
        "m.id, m.sender_id, m.recipient_id, m.content, m.type, m.status, m.created_at, m.read_at, \
         m.file_url, m.file_name, m.file_size, m.file_type, m.waveform, m.duration, m.client_message_id, m.thumbnail_url, \
         m.edited_at, m.deleted_at, r.id as reply_id, r.sender_id as reply_sender_id, r.type as reply_type, \
         r.content as reply_content, r.deleted_at as reply_deleted_at, \
         u.username as sender_username, u.profile_image as sender_profile_image"
    };
}
pub(super) use message_columns;

/// `from messages m` with its sender `u` and the message it replies to `r`.
macro_rules! message_from {
    () => {
        " from messages m join users u on u.id = m.sender_id left join messages r on r.id = m.reply_to_id"
    };
}
pub(super) use message_from;

/// `select <message columns> from …`, to be followed by a `where`.
macro_rules! message_select {
    () => {
        concat!("select ", message_columns!(), message_from!())
    };
}
pub(super) use message_select;

/// The columns that [`UserRow`] reads.
macro_rules! user_columns {
    () => {
        "id, username, email, profile_image, last_seen, created_at, presence_visibility"
    };
}
pub(super) use user_columns;
