//! The JSON of a message on its way out, written field by field.
//!
//! Every message sent is written once, for its `message:received`, its
//! sender's ack and the relay to other nodes (`Outgoing`). Through serde,
//! each of its 22 keys and each id went through serde_json's escaper one
//! call and one byte at a time: ~7,000 instructions a message, about 5 % of
//! all the server does for one (docs/benchmarks.md, round 18). Here the keys
//! are literals, ids and enums are written as they are (they never need
//! escaping), and only what a user wrote goes through serde_json. A test
//! holds the result to the derived `Serialize`, byte for byte.

use serde::Serialize;
use uuid::Uuid;

use super::Message;

/// `m` as `serde_json::to_string(m)` writes it.
pub(super) fn message(m: &Message) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(512 + m.content.len());
    let w = &mut out;
    key(w, b"{\"id\":");
    id(w, m.id);
    key(w, b",\"senderId\":");
    id(w, m.sender_id);
    key(w, b",\"senderUsername\":");
    value(w, &m.sender_username)?;
    key(w, b",\"senderProfileImage\":");
    value(w, &m.sender_profile_image)?;
    key(w, b",\"recipientId\":");
    id(w, m.recipient_id);
    key(w, b",\"content\":");
    value(w, &m.content)?;
    key(w, b",\"type\":");
    word(w, m.kind.as_str());
    key(w, b",\"status\":");
    word(w, m.status.as_str());
    key(w, b",\"createdAt\":");
    value(w, &m.created_at)?;
    key(w, b",\"readAt\":");
    value(w, &m.read_at)?;
    key(w, b",\"fileUrl\":");
    value(w, &m.file_url)?;
    key(w, b",\"fileName\":");
    value(w, &m.file_name)?;
    key(w, b",\"fileSize\":");
    value(w, &m.file_size)?;
    key(w, b",\"fileType\":");
    value(w, &m.file_type)?;
    key(w, b",\"waveform\":");
    value(w, &m.waveform)?;
    key(w, b",\"duration\":");
    value(w, &m.duration)?;
    key(w, b",\"clientMessageId\":");
    value(w, &m.client_message_id)?;
    key(w, b",\"thumbnailUrl\":");
    value(w, &m.thumbnail_url)?;
    key(w, b",\"editedAt\":");
    value(w, &m.edited_at)?;
    key(w, b",\"deletedAt\":");
    value(w, &m.deleted_at)?;
    key(w, b",\"replyTo\":");
    value(w, &m.reply_to)?;
    key(w, b",\"reactions\":");
    value(w, &m.reactions)?;
    out.push(b'}');
    // Only serde_json's output and ASCII went in.
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

fn key(w: &mut Vec<u8>, literal: &[u8]) {
    w.extend_from_slice(literal);
}

fn id(w: &mut Vec<u8>, id: Uuid) {
    let mut buffer = Uuid::encode_buffer();
    word(w, id.hyphenated().encode_lower(&mut buffer));
}

/// A string known to need no escaping (an id, an enum's name).
fn word(w: &mut Vec<u8>, s: &str) {
    w.push(b'"');
    w.extend_from_slice(s.as_bytes());
    w.push(b'"');
}

fn value(w: &mut Vec<u8>, v: &(impl Serialize + ?Sized)) -> serde_json::Result<()> {
    serde_json::to_writer(w, v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{MessageType, Reaction, ReplyTo, Status};

    fn plain() -> Message {
        Message {
            id: Uuid::from_u128(1),
            sender_username: "alice".into(),
            created_at: "2026-12-03T01:02:03.456Z".into(),
            ..Message::sent(
                Uuid::from_u128(2),
                Uuid::from_u128(3),
                MessageType::Text,
                "hello".into(),
            )
        }
    }

    /// Every field set, with text that must be escaped and numbers that
    /// must be written the way serde_json writes them.
    fn full() -> Message {
        Message {
            id: Uuid::new_v4(),
            sender_id: Uuid::new_v4(),
            sender_username: "Zoë \"the\" \\ user".into(),
            sender_profile_image: Some("/uploads/a b.png".into()),
            recipient_id: Uuid::new_v4(),
            content: "line\nbreak\ttab \u{1} \u{7f} é 😀 </script> \u{2028}".into(),
            kind: MessageType::Voice,
            status: Status::Listened,
            created_at: "2026-12-03T01:02:03.456Z".into(),
            read_at: Some("2026-12-03T01:02:04.000Z".into()),
            file_url: Some("/uploads/x.ogg".into()),
            file_name: Some("note \"1\".ogg".into()),
            file_size: Some(9_007_199_254_740_993),
            file_type: Some("audio/ogg".into()),
            waveform: Some(vec![0.0, 0.1, 1.0, 1e-7, 0.333_333_34, f32::MAX]),
            duration: Some(0.1 + 0.2),
            client_message_id: Some("c-1".into()),
            thumbnail_url: Some("/uploads/t.jpg".into()),
            edited_at: Some("2026-12-03T01:02:05.000Z".into()),
            deleted_at: Some("2026-12-03T01:02:06.000Z".into()),
            reply_to: Some(ReplyTo::of(
                Uuid::new_v4(),
                Uuid::new_v4(),
                MessageType::Image,
                "quoted \"text\"",
                false,
            )),
            reactions: vec![
                Reaction {
                    user_id: Uuid::new_v4(),
                    emoji: "👍".into(),
                },
                Reaction {
                    user_id: Uuid::new_v4(),
                    emoji: "❤️".into(),
                },
            ],
        }
    }

    #[test]
    fn a_message_is_written_as_serde_writes_it() {
        let mut kinds = vec![plain(), full()];
        for (kind, status) in [
            (MessageType::Image, Status::Delivered),
            (MessageType::File, Status::Read),
            (MessageType::Audio, Status::Listening),
        ] {
            kinds.push(Message {
                kind,
                status,
                duration: Some(12.0),
                waveform: Some(Vec::new()),
                ..plain()
            });
        }
        for m in &kinds {
            assert_eq!(message(m).unwrap(), serde_json::to_string(m).unwrap());
        }
    }
}
