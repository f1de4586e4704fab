//! The Socket.IO side: authentication on every connection attempt, one
//! dispatcher for every event, paged offline delivery, and the fan-out of
//! what the domain announces. Built on `chatr-sio`; nothing below this
//! module knows Socket.IO.

mod backlog;
pub mod bus;
pub mod command;
mod dispatch;
pub mod fanout;
mod handover;
mod unanswered;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chatr_sio::{Config as EngineConfig, ConnectError, DisconnectReason, Event, Handler};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::token::{TokenError, Verified};
use crate::chat::notice::Indicator;
use crate::state::AppState;
pub use fanout::Fanout;

pub type Io = chatr_sio::Io<Realtime>;
pub type Socket = chatr_sio::Socket<Realtime>;
pub type Nsp = chatr_sio::Nsp<Realtime>;

/// Rooms by what they gather.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Room {
    /// Every session of a user.
    User(Uuid),
    /// Every session following a user's presence.
    Presence(Uuid),
    /// A user's sessions on this node still catching up (see `handover`):
    /// left out of room-wide `message:received`, which reaches them one by one.
    Catching(Uuid),
}

/// What one connected socket remembers between events.
pub struct Session {
    pub user: Uuid,
    /// The token it connected with: revoking it disconnects the session.
    pub token: Uuid,
    pub token_issued_ms: i64,
    /// Whom this session shows a typing or recording indicator to, so that a
    /// disconnect can clear them.
    typing_to: Mutex<HashSet<Uuid>>,
    recording_to: Mutex<HashSet<Uuid>>,
    backlog: Mutex<backlog::Backlog>,
    /// Its sends and receipts queued and not answered yet.
    unanswered: unanswered::Unanswered,
}

impl Session {
    fn new(token: &Verified) -> Self {
        Self {
            user: token.user,
            token: token.jti,
            token_issued_ms: token.issued_ms,
            typing_to: Mutex::default(),
            recording_to: Mutex::default(),
            backlog: Mutex::default(),
            unanswered: unanswered::Unanswered::default(),
        }
    }

    /// Its backlog is read to the end and acknowledged.
    fn caught_up(&self) -> bool {
        self.backlog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .caught_up()
    }

    fn shown_to(&self, kind: Indicator) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        let set = match kind {
            Indicator::Typing => &self.typing_to,
            Indicator::Recording => &self.recording_to,
        };
        set.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The application behind the engine.
pub struct Realtime {
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
}

/// Builds the Socket.IO server; the fan-out starts carrying notices to it.
pub fn server(state: AppState, fanout: Arc<Fanout>, config: EngineConfig) -> Io {
    let handler = Realtime {
        state: Arc::new(state),
        fanout: fanout.clone(),
    };
    // The bearer header is the handshake's other way to carry the token.
    let io = Io::new(
        config,
        handler,
        &["/"],
        vec![axum::http::header::AUTHORIZATION],
    );
    fanout.attach(io.clone());
    io
}

fn refused(why: TokenError) -> ConnectError {
    ConnectError::new(format!("Authentication error: {why}"))
}

impl Handler for Realtime {
    type Data = Session;
    type Room = Room;

    fn connect(
        &self,
        socket: Socket,
        auth: Option<Value>,
    ) -> impl Future<Output = Result<Session, ConnectError>> + Send + 'static {
        let admitting = authenticate(self.state.clone(), self.fanout.clone(), socket, auth);
        async move {
            let outcome = admitting.await;
            match &outcome {
                Ok(_) => metrics::gauge!(crate::telemetry::SESSIONS).increment(1.0),
                Err(refusal) => {
                    let reason = if refusal.message.starts_with("Authentication error") {
                        "authentication"
                    } else {
                        "too_many_sessions"
                    };
                    metrics::counter!(crate::telemetry::CONNECTS_REFUSED, "reason" => reason)
                        .increment(1);
                }
            }
            outcome
        }
    }

    fn connected(&self, socket: Socket) -> impl Future<Output = ()> + Send + 'static {
        backlog::start(self.state.clone(), self.fanout.clone(), socket)
    }

    /// Connection state recovery is for clients that ask (`auth.recover`):
    /// every event then carries an offset as a last argument, which a client
    /// with handlers of fixed arity (python-socketio's) would not expect.
    /// A client resuming (`auth.pid`) asked before.
    fn recoverable(&self, auth: Option<&Value>) -> bool {
        auth.is_some_and(|a| {
            a.get("recover").and_then(Value::as_bool) == Some(true) || a.get("pid").is_some()
        })
    }

    /// A session may be resumed by its own user only, and only once it had
    /// caught up with its backlog: a resumed session reads no backlog (what it
    /// missed is replayed), so one cut off mid-backlog connects afresh.
    fn may_resume(&self, previous: &Socket, auth: Option<&Value>) -> bool {
        let Some(session) = previous.data() else {
            return false;
        };
        let token = auth
            .and_then(|a| a.get("token"))
            .and_then(Value::as_str)
            .and_then(|t| self.state.tokens.verify(t).ok());
        token.is_some_and(|t| t.user == session.user) && session.caught_up()
    }

    fn event(&self, socket: Socket, event: Event) -> impl Future<Output = ()> + Send + 'static {
        dispatch::dispatch(self.state.clone(), self.fanout.clone(), socket, event)
    }

    fn disconnected(
        &self,
        socket: Socket,
        reason: DisconnectReason,
    ) -> impl Future<Output = ()> + Send + 'static {
        disconnected(self.state.clone(), self.fanout.clone(), socket, reason)
    }
}

async fn authenticate(
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
    socket: Socket,
    auth: Option<Value>,
) -> Result<Session, ConnectError> {
    let from_auth = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let from_header = || {
        let header = socket.handshake_header(&axum::http::header::AUTHORIZATION)?;
        crate::auth::bearer(header.to_str().ok()?).map(str::to_owned)
    };
    let token = from_auth
        .or_else(from_header)
        .ok_or(TokenError::Missing)
        .map_err(refused)?;
    let token = state.tokens.verify(&token).map_err(refused)?;
    state.revocations.check(&token).map_err(refused)?;
    let user = token.user;
    let chat = &state.chat;
    if chat.sessions.admit(user).await.is_err() {
        return Err(ConnectError::new("Too many sessions"));
    }
    // The account is read from the database, not a cache: a user deleted
    // there cannot connect any more.
    let contacts = match chat.relations.account_contacts(user).await {
        Ok(Some(contacts)) => contacts,
        refused_now => {
            chat.sessions.release(user).await;
            return Err(match refused_now {
                Err(e) => {
                    e.log_if_internal();
                    refused(TokenError::Unavailable)
                }
                _ => refused(TokenError::UnknownUser),
            });
        }
    };
    // Everything a connected socket needs is in place before the client
    // learns it is connected: it may emit the moment it does.
    if socket.recovered() {
        // What it missed is replayed: no backlog, no catching up. Its rooms
        // come back too; joining them again here changes nothing.
        socket.join([Room::User(user)]);
    } else {
        let _changing = fanout.handover.changing(user);
        socket.join([Room::User(user), Room::Catching(user)]);
        fanout.handover.start(user, socket.id());
    }
    // The contacts whose presence this user may see (visibility, blocks).
    let graph = chat.relations.graph();
    socket.join(
        contacts
            .into_iter()
            .filter(|c| graph.sees(user, *c, true))
            .map(Room::Presence),
    );
    chat.sessions.opened(user).await;
    Ok(Session::new(&token))
}

async fn disconnected(
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
    socket: Socket,
    reason: DisconnectReason,
) {
    let Some(session) = socket.data() else { return };
    metrics::gauge!(crate::telemetry::SESSIONS).decrement(1.0);
    tracing::debug!(user = %session.user, ?reason, "session ended");
    {
        // A socket kept for resuming stays in its rooms: not in this one,
        // whose members get live messages one by one while catching up.
        let _changing = fanout.handover.changing(session.user);
        socket.leave(&Room::Catching(session.user));
        fanout.handover.stop(session.user, socket.id());
    }
    for kind in [Indicator::Typing, Indicator::Recording] {
        let shown: Vec<Uuid> = session.shown_to(kind).drain().collect();
        for recipient in shown {
            state
                .chat
                .sessions
                .clear_indicator(session.user, recipient, kind);
        }
    }
    state.chat.sessions.ended(session.user).await;
}
