//! The Socket.IO side: the connect middleware that checks the token, and one
//! dispatcher per socket that turns events into calls to [`crate::chat`].

pub mod bus;
mod handlers;
pub mod notify;

use std::collections::HashSet;
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use serde_json::Value;
use socketioxide::{
    extract::{Event, TryData},
    handler::ConnectHandler,
    socket::{DisconnectReason, Sid},
};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::token::TokenError;
use crate::chat::Chat;
use bus::{Ack, Io, Socket};
use notify::Indicator;

/// What one connected socket remembers between events.
pub struct Session {
    pub user: Uuid,
    /// The socket's id, for the hand-over of its backlog (see `chat::handover`).
    sid: Sid,
    /// Set once the session's end has been handled; see the `Drop` impl.
    ended: AtomicBool,
    chat: Chat,
    /// Whom this session is showing a typing / recording indicator to, so that
    /// a disconnect can clear them.
    typing_to: Mutex<HashSet<Uuid>>,
    recording_to: Mutex<HashSet<Uuid>>,
}

impl Session {
    fn new(user: Uuid, sid: Sid, chat: Chat) -> Self {
        Self {
            user,
            sid,
            ended: AtomicBool::new(false),
            chat,
            typing_to: Mutex::default(),
            recording_to: Mutex::default(),
        }
    }

    /// True the first time only: a session ends once.
    pub(super) fn end(&self) -> bool {
        !self.ended.swap(true, Ordering::SeqCst)
    }

    fn shown_to(&self, kind: Indicator) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        let set = match kind {
            Indicator::Typing => &self.typing_to,
            Indicator::Recording => &self.recording_to,
        };
        set.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Session {
    /// A socket can be dropped without its disconnect handler ever running (its
    /// connect packet failed to send); its presence count must still go, and it
    /// must stop catching up.
    fn drop(&mut self) {
        self.chat.abandon_backlog(self.user, self.sid);
        if self.end()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (chat, user) = (self.chat.clone(), self.user);
            runtime.spawn(async move { chat.session_ended(user, None).await });
        }
    }
}

/// The reason given to the client in `connect_error`.
struct Refusal(TokenError);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authentication error: {}", self.0)
    }
}

/// Registers the default namespace: authentication on every connection
/// attempt, then one dispatcher per socket for every event.
pub async fn register(io: &Io, state: AppState) -> crate::error::Result<()> {
    let auth_state = state.clone();
    let middleware = move |s: Socket, TryData(auth): TryData<Value>| {
        let state = auth_state.clone();
        async move { authenticate(&state, &s, auth.ok()).await.map_err(Refusal) }
    };
    let on_connect = move |s: Socket| {
        let state = state.clone();
        async move { connected(state, s).await }
    };
    // With Redis this subscribes the namespace to the other nodes' requests.
    io.ns("/", on_connect.with(middleware))
        .await
        .map_err(|e| crate::error::Error::internal(format!("joining the cluster: {e}")))
}

/// Ends every session as a disconnect would (indicators cleared, lastSeen
/// written, contacts told), then closes the transports. socketioxide's own
/// close does not run disconnect handlers, so shutdown calls this instead.
pub async fn close_all(io: &Io, state: &AppState) {
    for socket in io.sockets() {
        if let Some(session) = socket.extensions.get::<Arc<Session>>() {
            handlers::disconnected(state, &session, DisconnectReason::ClosingServer).await;
        }
    }
    io.close().await;
}

async fn authenticate(state: &AppState, s: &Socket, auth: Option<Value>) -> Result<(), TokenError> {
    let from_auth = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let from_header = || {
        let header = s
            .req_parts()
            .headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        crate::auth::bearer(header).map(str::to_owned)
    };
    let token = from_auth
        .filter(|t| !t.is_empty())
        .or_else(from_header)
        .ok_or(TokenError::Missing)?;
    let user = state.tokens.verify(&token)?;
    // The profile cache answers for a user seen before (users are never
    // deleted, and every profile change refreshes it on every node).
    match state.chat.profiles().get(state.chat.store(), user).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(TokenError::UnknownUser),
        Err(e) => {
            e.log_if_internal();
            return Err(TokenError::Invalid);
        }
    }
    // Everything a connected socket needs is in place before socketioxide sends
    // the connect packet: a client may emit the moment it sees it, and an event
    // that arrives before its handler exists is silently dropped.
    if let Err(e) = state.chat.join_rooms(s, user).await {
        e.log_if_internal();
        return Err(TokenError::Unavailable);
    }
    let session = Arc::new(Session::new(user, s.id, state.chat.clone()));
    listen(state, s, &session);
    s.extensions.insert(session);
    state.chat.session_opened(user).await;
    Ok(())
}

/// One dispatcher for every event (see `handlers::dispatch`) and the disconnect handler.
fn listen(state: &AppState, s: &Socket, session: &Arc<Session>) {
    let (st, se) = (state.clone(), session.clone());
    s.on_fallback(
        move |s: Socket, Event(event): Event, TryData(data): TryData<Value>, ack: Ack| {
            let (state, session) = (st.clone(), se.clone());
            async move { handlers::dispatch(&state, &session, &s, &event, data.ok(), ack).await }
        },
    );
    let (st, se) = (state.clone(), session.clone());
    s.on_disconnect(move |reason: DisconnectReason| {
        let (state, session) = (st.clone(), se.clone());
        async move { handlers::disconnected(&state, &session, reason).await }
    });
}

/// The socket is connected: deliver what its user missed.
async fn connected(state: AppState, s: Socket) {
    let Some(session) = s.extensions.get::<Arc<Session>>() else {
        tracing::error!("socket connected without a session");
        let _ = s.disconnect();
        return;
    };
    if let Err(e) = state.chat.deliver_backlog(&s, session.user).await {
        e.log_if_internal();
    }
}
