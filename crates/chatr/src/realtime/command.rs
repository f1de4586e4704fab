//! A client event's payload, read and checked into the [`Command`] the
//! domain is asked to carry out. Pure: no socket, no state; the fuzz
//! harness feeds it whatever bytes it likes.

use std::borrow::Cow;

use chatr_sio::json::{self, Plain};
use serde_json::Value;
use uuid::Uuid;

use crate::chat::lifecycle::Receipt;
use crate::chat::notice::Indicator;
use crate::chat::{SendText, validate};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::model::PresenceStatus;
use crate::protocol::ClientEvent;

const MAX_PRESENCE_REQUEST: usize = 500;

/// A client event, read and checked: what the domain is asked to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    Send(SendText),
    Receipt {
        message_id: Uuid,
        sender_id: Uuid,
        receipt: Receipt,
    },
    Indicator {
        recipient: Uuid,
        kind: Indicator,
        on: bool,
    },
    ChoosePresence(PresenceStatus),
    RequestPresence(Vec<Uuid>),
    Edit {
        message_id: Uuid,
        content: String,
    },
    Unsend(Uuid),
    React {
        message_id: Uuid,
        emoji: Option<String>,
    },
}

/// Reads an event's payload into a [`Command`]; any shape error is
/// `invalid_payload`, named by field. Pure: the fuzz harness calls it with
/// whatever bytes it likes.
pub fn parse(event: ClientEvent, payload: &Value) -> Result<Command> {
    let receipt = |receipt| -> Result<Command> {
        let f = Fields::of(payload)?;
        Ok(Command::Receipt {
            message_id: f.uuid("messageId")?,
            sender_id: f.uuid("senderId")?,
            receipt,
        })
    };
    let indicator = |kind, on| -> Result<Command> {
        Ok(Command::Indicator {
            recipient: Fields::of(payload)?.uuid("recipientId")?,
            kind,
            on,
        })
    };
    match event {
        ClientEvent::MessageSend => {
            let f = Fields::of(payload)?;
            let recipient_id = f.uuid("recipientId")?;
            let content = validate::content(f.str("content")?)?.to_owned();
            if let Some(kind) = f.opt_str("type")?
                && kind != "text"
            {
                return Err(Error::invalid_field(
                    "type",
                    "type must be \"text\"; attachments go through POST /api/messages/upload",
                ));
            }
            let client_message_id = f
                .opt_str("clientMessageId")?
                .map(validate::client_message_id)
                .transpose()?;
            let reply_to_id = f.opt_uuid("replyToId")?;
            Ok(Command::Send(SendText {
                recipient_id,
                content,
                client_message_id: client_message_id.map(str::to_owned),
                reply_to_id,
            }))
        }
        ClientEvent::MessageEdit => {
            let f = Fields::of(payload)?;
            let message_id = f.uuid("messageId")?;
            let content = f.str("content")?;
            if content.chars().count() > validate::MAX_CONTENT_CHARS {
                return Err(Error::invalid_field(
                    "content",
                    "content is at most 10,000 characters",
                ));
            }
            Ok(Command::Edit {
                message_id,
                content: content.to_owned(),
            })
        }
        ClientEvent::MessageUnsend => Ok(Command::Unsend(Fields::of(payload)?.uuid("messageId")?)),
        ClientEvent::MessageReact => {
            let f = Fields::of(payload)?;
            let message_id = f.uuid("messageId")?;
            let emoji = match f.get("emoji") {
                None => None,
                Some(Value::String(e)) => Some(e.as_str()),
                Some(_) => {
                    return Err(Error::invalid_field(
                        "emoji",
                        "emoji must be a string or null",
                    ));
                }
            };
            Ok(Command::React {
                message_id,
                emoji: crate::chat::messages::reaction(emoji)?,
            })
        }
        ClientEvent::MessageDelivered => receipt(Receipt::Delivered),
        ClientEvent::MessageRead => receipt(Receipt::Read),
        ClientEvent::AudioListening => receipt(Receipt::Listening),
        ClientEvent::AudioListened => receipt(Receipt::Listened),
        ClientEvent::TypingStart => indicator(Indicator::Typing, true),
        ClientEvent::TypingStop => indicator(Indicator::Typing, false),
        ClientEvent::RecordingStart => indicator(Indicator::Recording, true),
        ClientEvent::RecordingStop => indicator(Indicator::Recording, false),
        ClientEvent::PresenceUpdate => {
            let f = Fields::of(payload)?;
            let status = PresenceStatus::parse(f.str("status")?).ok_or_else(|| {
                Error::invalid_field("status", "status must be online, away or offline")
            })?;
            Ok(Command::ChoosePresence(status))
        }
        ClientEvent::PresenceRequest => presence_ids(payload).map(Command::RequestPresence),
    }
}

/// The fields of the frequent events, borrowed from the payload's text
/// where they need no unescaping. serde borrows a `Cow` field only when it
/// is not inside an `Option` (its `borrow` attribute sees the exact type),
/// so each field goes through [`borrowed`]: a copy per field was four
/// allocations per message (docs/benchmarks.md, round 23).
#[derive(serde::Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(rename_all = "camelCase")]
struct Quick<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    recipient_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    client_message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    reply_to_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    sender_id: Option<Cow<'a, str>>,
}

/// A string or `null`: the string borrowed from the text unless it had
/// escapes to undo.
fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
    }
    d.deserialize_option(Text)
}

/// `message:send` and the receipts read straight from their JSON text, for
/// the payloads that are exactly right: the same [`Command`] that [`parse`]
/// makes of them. `None` for anything else (another event, a wrong type, a
/// repeated key, a value out of bounds): [`parse`] then reads it and says
/// what is wrong. Pure, like [`parse`]; the fuzz harness checks the two agree.
pub fn parse_quick(event: ClientEvent, raw: &str) -> Option<Command> {
    // A struct also reads from an array; a payload must be an object.
    if !raw.trim_start().starts_with('{') {
        return None;
    }
    let receipt = match event {
        ClientEvent::MessageSend => None,
        ClientEvent::MessageDelivered => Some(Receipt::Delivered),
        ClientEvent::MessageRead => Some(Receipt::Read),
        ClientEvent::AudioListening => Some(Receipt::Listening),
        ClientEvent::AudioListened => Some(Receipt::Listened),
        _ => return None,
    };
    let q = match scan(raw) {
        Some(q) => q,
        None => serde_json::from_str::<Quick<'_>>(raw).ok()?,
    };
    let uuid = |v: &Option<Cow<'_, str>>| v.as_deref().and_then(parse_uuid);
    if let Some(receipt) = receipt {
        return Some(Command::Receipt {
            message_id: uuid(&q.message_id)?,
            sender_id: uuid(&q.sender_id)?,
            receipt,
        });
    }
    if q.kind.as_deref().is_some_and(|k| k != "text") {
        return None;
    }
    let client_message_id = match q.client_message_id.as_deref() {
        None => None,
        Some(id) => Some(validate::client_message_id(id).ok()?.to_owned()),
    };
    let reply_to_id = match q.reply_to_id.as_deref() {
        None => None,
        Some(id) => Some(parse_uuid(id)?),
    };
    Some(Command::Send(SendText {
        recipient_id: uuid(&q.recipient_id)?,
        content: validate::content(q.content.as_deref()?).ok()?.to_owned(),
        client_message_id,
        reply_to_id,
    }))
}

/// The usual payload read by hand (`chatr_sio::json`): a flat object of
/// [`Quick`]'s keys, each once, whose values are `null` or strings with
/// nothing to unescape, as clients nearly always send. serde read it for
/// some 1,900 instructions an event, twice a message; this for about 1,350
/// with the ids (docs/benchmarks.md, round 31). `None` for anything else,
/// even what is valid, which serde then reads: so where this answers, its
/// answer is serde's, and the unit tests and the fuzz harness hold it to
/// that.
fn scan(raw: &str) -> Option<Quick<'_>> {
    let mut q = Quick::default();
    let mut seen = 0u8;
    let start = json::skip_space(raw.as_bytes(), 0);
    let end = json::flat_object(raw, start, |key, value| {
        let value = match value {
            Plain::Str(text) => Some(Cow::Borrowed(text)),
            Plain::Null => None,
            Plain::Bool(_) => return None,
        };
        let (bit, slot) = match key {
            "recipientId" => (0, &mut q.recipient_id),
            "content" => (1, &mut q.content),
            "type" => (2, &mut q.kind),
            "clientMessageId" => (3, &mut q.client_message_id),
            "replyToId" => (4, &mut q.reply_to_id),
            "messageId" => (5, &mut q.message_id),
            "senderId" => (6, &mut q.sender_id),
            _ => return None,
        };
        // serde refuses a repeated field.
        if seen & (1 << bit) != 0 {
            return None;
        }
        seen |= 1 << bit;
        *slot = value;
        Some(())
    })?;
    (json::skip_space(raw.as_bytes(), end) == raw.len()).then_some(q)
}

/// `["uuid", …]`, at most 500, duplicates dropped (first occurrence kept).
fn presence_ids(payload: &Value) -> Result<Vec<Uuid>> {
    let invalid = || Error::invalid("expected an array of at most 500 user ids");
    let list = payload.as_array().ok_or_else(invalid)?;
    if list.len() > MAX_PRESENCE_REQUEST {
        return Err(invalid());
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(list.len());
    for v in list {
        let id = v.as_str().and_then(parse_uuid).ok_or_else(invalid)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b7e4b9e-6a8f-4b7a-9d3c-2f1e0a9b8c7d";
    const B: &str = "1c8f5caf-7b90-4c8b-8e4d-3a2f1b0c9d8e";

    /// What the quick reading makes of `raw`, beside what `parse` makes of it.
    fn both(event: ClientEvent, raw: &str) -> (Option<Command>, Option<Command>) {
        let general = serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| parse(event, &v).ok());
        (parse_quick(event, raw), general)
    }

    #[test]
    fn the_quick_reading_takes_right_payloads_as_parse_does() {
        let sends = [
            format!(r#"{{"recipientId":"{A}","content":"hi"}}"#),
            format!(r#"{{"recipientId":"{A}","content":"  hi  ","type":"text","x":[1,{{}}]}}"#),
            format!(r#"{{"recipientId":"{A}","content":"\u00e9\n\"q\"","clientMessageId":"c-1"}}"#),
            format!(r#"{{"recipientId":"{A}","content":"hi","replyToId":"{B}","type":null}}"#),
        ];
        for raw in &sends {
            let (quick, general) = both(ClientEvent::MessageSend, raw);
            assert!(quick.is_some(), "{raw}");
            assert_eq!(quick, general, "{raw}");
        }
        let receipt = format!(r#"{{"messageId":"{A}","senderId":"{B}"}}"#);
        for event in [
            ClientEvent::MessageDelivered,
            ClientEvent::MessageRead,
            ClientEvent::AudioListening,
            ClientEvent::AudioListened,
        ] {
            let (quick, general) = both(event, &receipt);
            assert!(quick.is_some(), "{event:?}");
            assert_eq!(quick, general, "{event:?}");
        }
    }

    #[test]
    fn the_hand_reading_answers_only_as_serde_does() {
        // Pieces of payloads, right and wrong, put together at random.
        let keys = [
            "recipientId",
            "content",
            "type",
            "clientMessageId",
            "replyToId",
            "messageId",
            "senderId",
            "other",
            "content\\u0041",
            "Content",
            "",
        ];
        let values = [
            "\"hi\"",
            "\"\"",
            "null",
            "nul",
            "nullx",
            "5",
            "[1,{}]",
            "{}",
            "\"a\\nb\"",
            "\"\\\"\"",
            "\"tab\there\"",
            "\"é ünï\"",
            "\"x",
            "true",
            "\"\u{7f}\"",
            "\"0b7e4b9e-6a8f-4b7a-9d3c-2f1e0a9b8c7d\"",
        ];
        let spaces = ["", " ", "\n\t", "\r", "\u{a0}", "\u{c}"];
        let mut x = 7u64;
        let mut pick = |n: usize| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize % n
        };
        let mut answered = 0;
        for _ in 0..50_000 {
            let mut raw = String::from(spaces[pick(spaces.len())]);
            raw.push('{');
            for n in 0..pick(4) {
                if n > 0 {
                    raw.push_str([",", ", ", ";", ",,"][pick(4)]);
                }
                raw.push_str(spaces[pick(spaces.len())]);
                raw.push_str(&format!("\"{}\"", keys[pick(keys.len())]));
                raw.push_str([":", " : ", "", "="][pick(4)]);
                raw.push_str(values[pick(values.len())]);
                raw.push_str(spaces[pick(spaces.len())]);
            }
            raw.push_str(["}", "} ", "}x", "", "}}"][pick(5)]);
            let by_hand = scan(&raw);
            let by_serde = serde_json::from_str::<Quick<'_>>(&raw).ok();
            if by_hand.is_some() {
                answered += 1;
                assert_eq!(by_hand, by_serde, "{raw:?}");
            }
        }
        assert!(answered > 2_000, "only {answered} answered by hand");
    }

    #[test]
    fn the_hand_reading_takes_what_clients_send() {
        let raw =
            format!(" {{ \"recipientId\" : \"{A}\", \"content\":\"é \u{7f}\",\"type\":null }} ");
        let q = scan(&raw).expect("read by hand");
        assert!(matches!(q.content, Some(Cow::Borrowed("é \u{7f}"))));
        assert_eq!(q.recipient_id.as_deref(), Some(A));
        assert!(q.kind.is_none());
        assert!(scan("{}").is_some());
        for left_to_serde in [
            r#"{"content":"a\nb"}"#,
            r#"{"content":"a\u0000"}"#,
            "{\"content\":\"tab\there\"}",
            r#"{"content":"x","content":"y"}"#,
            r#"{"content":null,"content":"y"}"#,
            r#"{"other":"x"}"#,
            r#"{"content":"x"} x"#,
            r#"{"content":"x",}"#,
            r#"{"content":5}"#,
            r#"{"content":"x""#,
            r#"{"content"#,
            "",
        ] {
            assert!(scan(left_to_serde).is_none(), "{left_to_serde}");
        }
    }

    #[test]
    fn quick_fields_borrow_the_text_unless_it_has_escapes() {
        let q: Quick<'_> =
            serde_json::from_str(r#"{"content":"hi","messageId":"a\nb","senderId":null}"#)
                .expect("a payload");
        assert!(matches!(q.content, Some(Cow::Borrowed("hi"))));
        assert!(matches!(q.message_id.as_deref(), Some("a\nb")));
        assert!(matches!(q.message_id, Some(Cow::Owned(_))));
        assert!(q.sender_id.is_none() && q.recipient_id.is_none());
    }

    #[test]
    fn anything_not_exactly_right_is_left_to_parse() {
        let sends = [
            format!(r#"[{{"recipientId":"{A}","content":"hi"}}]"#),
            format!(r#"["{A}","hi"]"#),
            format!(r#"{{"recipientId":"{A}","content":"   "}}"#),
            format!(r#"{{"recipientId":"{A}","content":5}}"#),
            format!(r#"{{"recipientId":"{A}"}}"#),
            format!(r#"{{"recipientId":"{}","content":"hi"}}"#, A.to_uppercase()),
            format!(r#"{{"recipientId":"{A}","content":"hi","type":"image"}}"#),
            format!(r#"{{"recipientId":"{A}","content":"hi","clientMessageId":""}}"#),
            format!(r#"{{"recipientId":"{A}","content":"hi","replyToId":"nope"}}"#),
            // A repeated key: the general reading keeps the last one.
            format!(r#"{{"recipientId":"{B}","recipientId":"{A}","content":"hi"}}"#),
            "null".to_owned(),
            "{".to_owned(),
        ];
        for raw in &sends {
            assert_eq!(parse_quick(ClientEvent::MessageSend, raw), None, "{raw}");
        }
        let receipt = format!(r#"{{"messageId":"{A}","senderId":"{B}"}}"#);
        for event in [ClientEvent::TypingStart, ClientEvent::PresenceUpdate] {
            assert_eq!(parse_quick(event, &receipt), None, "{event:?}");
        }
        let partial = format!(r#"{{"messageId":"{A}"}}"#);
        assert_eq!(parse_quick(ClientEvent::MessageRead, &partial), None);
    }
}
