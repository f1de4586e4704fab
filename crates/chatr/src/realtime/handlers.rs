//! Client events: parse the payload, call the domain, answer. Every failure
//! becomes a `message:error` plus a failed ack; nothing is dropped silently.

use serde::Serialize;
use serde_json::Value;
use socketioxide::socket::DisconnectReason;

use super::bus::{Ack, Socket};
use uuid::Uuid;

use super::{Session, notify::Indicator};
use crate::app::AppState;
use crate::chat::{
    SendText,
    lifecycle::Receipt,
    model::{Message, Presence, PresenceStatus, Status},
    validate,
};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};

const MAX_PRESENCE_REQUEST: usize = 500;

/// The body of a successful ack, beside `ok: true`.
enum Reply {
    Done,
    Message(Box<Message>),
    Status(Status),
    Presence(PresenceStatus),
    Statuses(Vec<Presence>),
}

#[derive(Serialize)]
struct AckOk<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statuses: Option<&'a [Presence]>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct AckErr<'a> {
    ok: bool,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageError<'a> {
    event: &'a str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_message_id: Option<&'a str>,
}

pub(super) async fn dispatch(
    state: &AppState,
    session: &Session,
    s: &Socket,
    event: &str,
    data: Option<Value>,
    ack: Ack,
) {
    let result = match data.as_ref() {
        Some(payload) => handle(state, session, s, event, payload).await,
        None => Err(Error::invalid("payload is missing or is not JSON")),
    };
    match result {
        Ok(reply) => answer(ack, &reply),
        Err(err) => refuse(s, ack, event, data.as_ref(), &err),
    }
}

async fn handle(
    state: &AppState,
    session: &Session,
    s: &Socket,
    event: &str,
    payload: &Value,
) -> Result<Reply> {
    let me = session.user;
    let chat = &state.chat;
    match event {
        "message:send" => {
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
            let input = SendText {
                recipient_id,
                content,
                client_message_id: client_message_id.map(str::to_owned),
            };
            chat.send_text(me, input, s)
                .await
                .map(|m| Reply::Message(Box::new(m)))
        }
        "message:delivered" => receipt(state, me, payload, Receipt::Delivered).await,
        "message:read" => receipt(state, me, payload, Receipt::Read).await,
        "audio:listening" => receipt(state, me, payload, Receipt::Listening).await,
        "audio:listened" => receipt(state, me, payload, Receipt::Listened).await,
        "typing:start" => indicator(state, session, payload, Indicator::Typing, true).await,
        "typing:stop" => indicator(state, session, payload, Indicator::Typing, false).await,
        "recording:start" => indicator(state, session, payload, Indicator::Recording, true).await,
        "recording:stop" => indicator(state, session, payload, Indicator::Recording, false).await,
        "presence:update" => {
            let f = Fields::of(payload)?;
            let status = PresenceStatus::parse(f.str("status")?).ok_or_else(|| {
                Error::invalid_field("status", "status must be online, away or offline")
            })?;
            chat.choose_presence(me, status).await?;
            Ok(Reply::Presence(status))
        }
        "presence:request" => {
            let ids = presence_ids(payload)?;
            let (statuses, users) = chat.presence_of(&ids).await?;
            s.join(
                users
                    .iter()
                    .map(|u| super::notify::presence_room(*u))
                    .collect::<Vec<_>>(),
            );
            if let Err(e) = s.emit("presence:status", &statuses) {
                tracing::debug!(error = %e, "presence:status reply not sent");
            }
            Ok(Reply::Statuses(statuses))
        }
        _ => Err(Error::invalid("unknown event")),
    }
}

async fn receipt(state: &AppState, me: Uuid, payload: &Value, receipt: Receipt) -> Result<Reply> {
    let f = Fields::of(payload)?;
    let message_id = f.uuid("messageId")?;
    let sender_id = f.uuid("senderId")?;
    state
        .chat
        .receipt(me, message_id, sender_id, receipt)
        .await
        .map(Reply::Status)
}

async fn indicator(
    state: &AppState,
    session: &Session,
    payload: &Value,
    kind: Indicator,
    on: bool,
) -> Result<Reply> {
    let recipient = Fields::of(payload)?.uuid("recipientId")?;
    state
        .chat
        .indicator(session.user, recipient, kind, on)
        .await?;
    let mut shown = session.shown_to(kind);
    if on {
        shown.insert(recipient);
    } else {
        shown.remove(&recipient);
    }
    Ok(Reply::Done)
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

fn answer(ack: Ack, reply: &Reply) {
    let mut body = AckOk {
        ok: true,
        message: None,
        status: None,
        statuses: None,
    };
    match reply {
        Reply::Done => {}
        Reply::Message(m) => body.message = Some(m),
        Reply::Status(s) => body.status = Some(s.as_str()),
        Reply::Presence(p) => body.status = Some(p.as_str()),
        Reply::Statuses(list) => body.statuses = Some(list),
    }
    if let Err(e) = ack.send(&body) {
        tracing::debug!(error = %e, "ack not sent");
    }
}

fn refuse(s: &Socket, ack: Ack, event: &str, payload: Option<&Value>, err: &Error) {
    err.log_if_internal();
    let text = err.public_message();
    let field = |name: &str| payload.and_then(|p| p.get(name)).and_then(Value::as_str);
    let event: String = event.chars().take(64).collect();
    let error = MessageError {
        event: &event,
        code: err.event_code(),
        message: &text,
        message_id: field("messageId").filter(|id| parse_uuid(id).is_some()),
        client_message_id: field("clientMessageId")
            .filter(|id| validate::client_message_id(id).is_ok()),
    };
    if let Err(e) = s.emit("message:error", &error) {
        tracing::debug!(error = %e, "message:error not sent");
    }
    let body = AckErr {
        ok: false,
        error: ErrorBody {
            code: err.event_code(),
            message: &text,
        },
    };
    if let Err(e) = ack.send(&body) {
        tracing::debug!(error = %e, "ack not sent");
    }
}

pub(super) async fn disconnected(state: &AppState, session: &Session, reason: DisconnectReason) {
    if !session.end() {
        return;
    }
    for kind in [Indicator::Typing, Indicator::Recording] {
        let shown: Vec<Uuid> = session.shown_to(kind).drain().collect();
        for recipient in shown {
            state
                .chat
                .clear_indicator(session.user, recipient, kind)
                .await;
        }
    }
    state.chat.session_ended(session.user, Some(reason)).await;
}
