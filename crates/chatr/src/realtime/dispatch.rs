//! Client events: parse the payload, call the domain, answer. Every failure
//! becomes a `message:error` plus a failed ack; nothing is dropped silently.

use std::borrow::Cow;
use std::sync::Arc;

use chatr_sio::Event;
use serde_json::Value;
use uuid::Uuid;

use super::fanout::Fanout;
use super::{Room, Session, Socket, backlog};
use crate::chat::lifecycle::Receipt;
use crate::chat::notice::{Indicator, Origin};
use crate::chat::{SendText, validate};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::model::{Message, Presence, PresenceStatus, Reaction, Status};
use crate::protocol::{AckErr, AckErrBody, AckOk, ClientEvent, EventError, ServerEvent};
use crate::state::AppState;

const MAX_PRESENCE_REQUEST: usize = 500;

/// The body of a successful ack, beside `ok: true`.
enum Reply {
    Done,
    Message(Box<Message>),
    Status(Status),
    Presence(PresenceStatus),
    Statuses(Vec<Presence>),
    Reactions(Vec<Reaction>),
}

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

/// One span per event at DEBUG (free while the log filter is coarser): the
/// event's name, the user, the message it is about — never its content.
pub(super) async fn dispatch(
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
    socket: Socket,
    event: Event,
) {
    use tracing::Instrument as _;
    let Some(user) = socket.data().map(|s| s.user) else {
        return;
    };
    let span = tracing::debug_span!(
        "event",
        event = %event.name.chars().take(64).collect::<String>(),
        %user,
        message = tracing::field::Empty,
    );
    // Without a subscriber for the span, no span is entered on every poll.
    if span.is_disabled() {
        handle(state, fanout, socket, event, false).await;
    } else {
        handle(state, fanout, socket, event, true)
            .instrument(span)
            .await;
    }
}

async fn handle(
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
    socket: Socket,
    event: Event,
    traced: bool,
) {
    let Some(session) = socket.data() else { return };
    let kind = ClientEvent::parse(&event.name);
    // The common payloads are read without a `Value` tree; a traced event
    // and anything the quick reading does not take go the general way,
    // which names the offending field.
    let quick = match kind {
        Some(kind) if !traced => event.raw_arg(0).and_then(|raw| parse_quick(kind, raw)),
        _ => None,
    };
    let mut payload = None;
    let command = match quick {
        Some(command) => Ok(command),
        None => {
            payload = event.arg::<Value>(0).and_then(Result::ok);
            if traced
                && let Some(id) = payload
                    .as_ref()
                    .and_then(|p| p.get("messageId"))
                    .and_then(Value::as_str)
                    .and_then(parse_uuid)
            {
                tracing::Span::current().record("message", tracing::field::display(id));
            }
            match (kind, payload.as_ref()) {
                (None, _) => Err(Error::invalid("unknown event")),
                (Some(_), None) => Err(Error::invalid("payload is missing or is not JSON")),
                (Some(kind), Some(payload)) => parse(kind, payload),
            }
        }
    };
    let acknowledged = match &command {
        Ok(Command::Receipt { message_id, .. }) => Some(*message_id),
        _ => None,
    };
    let sending = matches!(command, Ok(Command::Send(_))).then(std::time::Instant::now);
    let result = match command {
        Ok(command) => execute(&state, session, &socket, command).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(reply) => {
            answer(&socket, event.ack, &reply);
            if let Some(started) = sending {
                crate::telemetry::ack_seconds().record(started.elapsed().as_secs_f64());
            }
            if let Some(id) = acknowledged {
                backlog::acknowledged(state, fanout, socket.clone(), id).await;
            }
        }
        Err(err) => {
            // A quickly read command the domain refused: the error names
            // the payload's ids, so read it now.
            let payload = payload.or_else(|| event.arg::<Value>(0).and_then(Result::ok));
            refuse(&socket, event.ack, &event.name, payload.as_ref(), &err);
        }
    }
}

/// The fields of the frequent events, borrowed from the payload's text
/// where they need no unescaping.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Quick<'a> {
    #[serde(borrow)]
    recipient_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_message_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reply_to_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sender_id: Option<Cow<'a, str>>,
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
    let q: Quick<'_> = serde_json::from_str(raw).ok()?;
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

async fn execute(
    state: &AppState,
    session: &Session,
    socket: &Socket,
    command: Command,
) -> Result<Reply> {
    let me = session.user;
    let chat = &state.chat;
    // The rare commands' futures are boxed: an event's future is as large
    // as its largest step, and is allocated for every message and receipt.
    match command {
        Command::Send(input) => {
            let origin = Origin(socket.id().to_bytes());
            chat.messages
                .send_text(me, input, origin)
                .await
                .map(|m| Reply::Message(Box::new(m)))
        }
        Command::Receipt {
            message_id,
            sender_id,
            receipt,
        } => chat
            .messages
            .receipt(me, message_id, sender_id, receipt)
            .await
            .map(Reply::Status),
        Command::Indicator {
            recipient,
            kind,
            on,
        } => {
            Box::pin(chat.sessions.indicator(me, recipient, kind, on)).await?;
            let mut shown = session.shown_to(kind);
            if on {
                shown.insert(recipient);
            } else {
                shown.remove(&recipient);
            }
            Ok(Reply::Done)
        }
        Command::ChoosePresence(status) => {
            Box::pin(chat.sessions.choose(me, status)).await?;
            Ok(Reply::Presence(status))
        }
        Command::Edit {
            message_id,
            content,
        } => Box::pin(chat.messages.edit(me, message_id, content))
            .await
            .map(|m| Reply::Message(Box::new(m))),
        Command::Unsend(message_id) => Box::pin(chat.messages.unsend(me, message_id))
            .await
            .map(|m| Reply::Message(Box::new(m))),
        Command::React { message_id, emoji } => {
            Box::pin(chat.messages.react(me, message_id, emoji))
                .await
                .map(Reply::Reactions)
        }
        Command::RequestPresence(ids) => {
            let (statuses, users) = Box::pin(chat.sessions.presence_of(me, &ids)).await?;
            socket.join(users.into_iter().map(Room::Presence));
            socket.emit(ServerEvent::PresenceStatus.name(), &statuses);
            Ok(Reply::Statuses(statuses))
        }
    }
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

fn answer(socket: &Socket, ack: Option<u64>, reply: &Reply) {
    let Some(id) = ack else { return };
    let mut body = AckOk {
        ok: true,
        ..AckOk::default()
    };
    match reply {
        Reply::Done => {}
        Reply::Message(m) => body.message = Some(m),
        Reply::Status(s) => body.status = Some(s.as_str()),
        Reply::Presence(p) => body.status = Some(p.as_str()),
        Reply::Statuses(list) => body.statuses = Some(list),
        Reply::Reactions(list) => body.reactions = Some(list),
    }
    socket.ack(id, &body);
}

fn refuse(socket: &Socket, ack: Option<u64>, event: &str, payload: Option<&Value>, err: &Error) {
    err.log_if_internal();
    let text = err.public_message();
    let field = |name: &str| payload.and_then(|p| p.get(name)).and_then(Value::as_str);
    let event: String = event.chars().take(64).collect();
    let error = EventError {
        event: &event,
        code: err.event_code(),
        message: &text,
        message_id: field("messageId").filter(|id| parse_uuid(id).is_some()),
        client_message_id: field("clientMessageId")
            .filter(|id| validate::client_message_id(id).is_ok()),
    };
    socket.emit(ServerEvent::MessageError.name(), &error);
    if let Some(id) = ack {
        let body = AckErr {
            ok: false,
            error: AckErrBody {
                code: err.event_code(),
                message: &text,
            },
        };
        socket.ack(id, &body);
    }
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
