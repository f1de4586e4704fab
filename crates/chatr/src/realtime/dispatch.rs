//! Client events: read the payload (`command`), call the domain, answer.
//! Every failure becomes a `message:error` plus a failed ack; nothing is
//! dropped silently.

use std::sync::Arc;

use chatr_sio::Event;
use serde_json::Value;
use uuid::Uuid;

use super::command::{Command, parse, parse_quick};
use super::fanout::Fanout;
use super::{Room, Session, Socket, backlog};
use crate::chat::notice::Origin;
use crate::chat::validate;
use crate::error::{Error, Result};
use crate::fields::parse_uuid;
use crate::model::{Message, Outgoing, Presence, PresenceStatus, Reaction, Status};
use crate::protocol::{self, AckErr, AckErrBody, AckOk, ClientEvent, EventError, ServerEvent};
use crate::state::AppState;

/// The body of a successful ack, beside `ok: true`.
enum Reply {
    Done,
    /// A message sent: its JSON is shared with `message:received`.
    Sent(Arc<Outgoing>),
    Message(Box<Message>),
    Status(Status),
    Presence(PresenceStatus),
    Statuses(Vec<Presence>),
    Reactions(Vec<Reaction>),
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
    let read_quickly = quick.is_some();
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
    let answer = Answer {
        socket: socket.clone(),
        event,
        payload,
        read_quickly,
        sending: None,
        acknowledged: None,
        counted: false,
    };
    let command = match command {
        Ok(command) => command,
        Err(e) => return answer.give(Err(e)),
    };
    execute(&state, fanout, session, &socket, command, answer).await;
}

/// Everything needed to answer an event, whenever its outcome is known.
struct Answer {
    socket: Socket,
    event: Event,
    /// The payload, when it was read as a `Value`.
    payload: Option<Value>,
    read_quickly: bool,
    /// When a send began, for `chatr_ack_seconds`.
    sending: Option<std::time::Instant>,
    /// A receipt: the backlog hears of the message it acknowledged.
    acknowledged: Option<(Arc<AppState>, Arc<Fanout>, Uuid)>,
    /// Counted among the session's unanswered writes until given.
    counted: bool,
}

impl Answer {
    /// An answer the writer gives, after the event has ended.
    fn later(mut self, session: &Session) -> Self {
        session.unanswered.begin();
        self.counted = true;
        self
    }

    fn give(mut self, result: Result<Reply>) {
        if self.counted
            && let Some(session) = self.socket.data()
        {
            session.unanswered.answered();
        }
        match result {
            Ok(reply) => {
                answer(&self.socket, self.event.ack, &reply);
                if let Some(started) = self.sending {
                    crate::telemetry::ack_seconds().record(started.elapsed().as_secs_f64());
                }
                if let Some((state, fanout, id)) = self.acknowledged {
                    backlog::acknowledged(state, fanout, self.socket, id);
                }
            }
            Err(err) => {
                // The error names the payload's ids: a command read quickly
                // has no `Value` yet, so it is read now; otherwise it was read
                // once already (or is not JSON) and is not read again.
                if self.read_quickly {
                    self.payload = self.event.arg::<Value>(0).and_then(Result::ok);
                }
                refuse(
                    &self.socket,
                    self.event.ack,
                    &self.event.name,
                    self.payload.as_ref(),
                    &err,
                );
            }
        }
    }
}

async fn execute(
    state: &Arc<AppState>,
    fanout: Arc<Fanout>,
    session: &Session,
    socket: &Socket,
    command: Command,
    mut answer: Answer,
) {
    let me = session.user;
    let chat = &state.chat;
    // Edits, unsends and reactions are boxed: they read and rewrite a stored
    // message, the largest steps here, and an event's future (allocated for
    // every message and receipt) is as large as its largest step. The other
    // commands' steps are no larger than a send's.
    let result = match command {
        // Sends and receipts, nearly every event, are answered by the writer
        // right after their commit: the event ends once its write is
        // queued, and is not woken again just to answer.
        Command::Send(input) => {
            answer.sending = Some(std::time::Instant::now());
            let origin = Origin(socket.id().to_bytes());
            let answer = answer.later(session);
            let answer = Box::new(move |r: Result<Arc<Outgoing>>| answer.give(r.map(Reply::Sent)));
            chat.messages.send_text(me, input, origin, answer).await;
            return session.unanswered.room().await;
        }
        Command::Receipt {
            message_id,
            sender_id,
            receipt,
        } => {
            answer.acknowledged = Some((state.clone(), fanout, message_id));
            let answer = answer.later(session);
            let answer = Box::new(move |r: Result<Status>| answer.give(r.map(Reply::Status)));
            chat.messages
                .receipt(me, message_id, sender_id, receipt, answer)
                .await;
            return session.unanswered.room().await;
        }
        Command::Indicator {
            recipient,
            kind,
            on,
        } => chat
            .sessions
            .indicator(me, recipient, kind, on)
            .await
            .map(|()| {
                let mut shown = session.shown_to(kind);
                if on {
                    shown.insert(recipient);
                } else {
                    shown.remove(&recipient);
                }
                Reply::Done
            }),
        Command::ChoosePresence(status) => chat
            .sessions
            .choose(me, status)
            .await
            .map(|()| Reply::Presence(status)),
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
            chat.sessions
                .presence_of(me, &ids)
                .await
                .map(|(statuses, users)| {
                    socket.join(users.into_iter().map(Room::Presence));
                    socket.emit(ServerEvent::PresenceStatus.name(), &statuses);
                    Reply::Statuses(statuses)
                })
        }
    };
    answer.give(result);
}

fn answer(socket: &Socket, ack: Option<u64>, reply: &Reply) {
    let Some(id) = ack else { return };
    let mut body = AckOk {
        ok: true,
        ..AckOk::default()
    };
    match reply {
        // A sent message's ack embeds the JSON its `message:received`
        // carries, written once.
        Reply::Sent(message) => match message.json() {
            Some(json) => {
                socket.ack_raw(id, &protocol::ack_sent(json), Vec::new());
                return;
            }
            // Not reached (a message always encodes): the same ack, the long way.
            None => body.message = Some(&message.message),
        },
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
