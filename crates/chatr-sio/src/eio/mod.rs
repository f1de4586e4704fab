//! Engine.IO v4: sessions over HTTP long-polling and WebSocket, the upgrade
//! from one to the other, and the heartbeat. The layer above (Socket.IO, or
//! anything else) is a [`Protocol`]: it hears each message and each close.

pub mod frame;
mod heartbeat;
pub mod packet;
mod polling;
mod session;
mod websocket;

use foldhash::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Method, Request, Response, StatusCode, header};
use http_body_util::Full;

use crate::config::Config;
use crate::sid::Sid;
pub use packet::Frame;
use session::Transport;
pub use session::{CloseReason, Handshake, Session};

/// Work a message leaves to do: a future run on the connection's task.
pub type Work = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What handling one message asks of the transport.
pub enum Dispatch {
    Done,
    /// Run this; later messages may be handled meanwhile.
    Run(Work),
    /// Run this before handling any later message of the session.
    Before(Work),
}

/// An Engine.IO message from a client.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// The layer above Engine.IO.
pub trait Protocol: Send + Sync + Sized + 'static {
    /// What the layer keeps per session (behind the session's lock).
    type State: Default + Send + 'static;

    /// A message arrived; an `Err` closes the session.
    fn message(
        &self,
        session: &Arc<Session<Self>>,
        message: Message<'_>,
    ) -> Result<Dispatch, CloseReason>;

    /// The session has closed; called once.
    fn closed(&self, session: &Arc<Session<Self>>, reason: CloseReason);

    /// How long a new session may go without [`Protocol::ready`] turning true.
    fn connect_timeout(&self) -> Option<Duration> {
        None
    }

    /// Whether the session has done what the protocol waits for after opening.
    fn ready(&self, _session: &Session<Self>) -> bool {
        true
    }
}

/// The client's address, put in the request's extensions by whoever
/// accepted the connection (the engine keeps it with the session).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// A response body: every answer of the engine is small and whole.
pub type Body = Full<Bytes>;

const SHARDS: usize = 32;

pub(crate) struct EngineInner<P: Protocol> {
    pub(crate) config: Config,
    pub(crate) protocol: P,
    keep_headers: Vec<HeaderName>,
    sessions: Vec<Mutex<HashMap<Sid, Arc<Session<P>>>>>,
    count: AtomicUsize,
    wheel: Mutex<heartbeat::Wheel<P>>,
    /// Polling sessions the client closed with no GET waiting, and when: a
    /// GET sent just before the close but arriving after it (two requests,
    /// two connections, any order) still gets its noop, not a 400.
    client_closed: Mutex<std::collections::VecDeque<(Sid, std::time::Instant)>>,
}

/// How long a client-closed polling session answers a late GET.
const LATE_POLL: Duration = Duration::from_secs(2);
/// Client-closed sessions remembered at most (the oldest go first).
const LATE_POLL_SESSIONS: usize = 256;

impl<P: Protocol> EngineInner<P> {
    fn shard(&self, sid: Sid) -> std::sync::MutexGuard<'_, HashMap<Sid, Arc<Session<P>>>> {
        self.sessions[sid.shard(SHARDS)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn session(&self, sid: Sid) -> Option<Arc<Session<P>>> {
        self.shard(sid).get(&sid).cloned()
    }

    /// The client closed polling session `sid` while no GET was waiting.
    pub(crate) fn closed_by_client(&self, sid: Sid) {
        let mut closed = self.client_closed.lock().unwrap_or_else(|p| p.into_inner());
        if closed.len() >= LATE_POLL_SESSIONS {
            closed.pop_front();
        }
        closed.push_back((sid, std::time::Instant::now()));
    }

    /// Whether a GET for unknown `sid` is a late one of a session its
    /// client just closed (answered once).
    fn late_poll(&self, sid: Sid) -> bool {
        let mut closed = self.client_closed.lock().unwrap_or_else(|p| p.into_inner());
        closed.retain(|(_, at)| at.elapsed() < LATE_POLL);
        match closed.iter().position(|(s, _)| *s == sid) {
            Some(i) => {
                closed.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn forget(&self, sid: Sid) {
        if self.shard(sid).remove(&sid).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A new session, registered and on the heartbeat.
    pub(crate) fn open(
        self: &Arc<Self>,
        transport: Transport,
        handshake: Handshake,
    ) -> Arc<Session<P>> {
        let session = Session::new(self, transport, handshake);
        self.shard(session.id())
            .insert(session.id(), session.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        heartbeat::enrol(self, &session);
        session
    }

    pub(crate) fn open_packet(&self, sid: Sid, upgrades: bool) -> Bytes {
        packet::open(
            &sid.to_string(),
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_payload,
        )
    }

    fn all(&self) -> Vec<Arc<Session<P>>> {
        self.sessions
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// An Engine.IO server for protocol `P`. Cheap to clone.
pub struct Engine<P: Protocol> {
    pub(crate) inner: Arc<EngineInner<P>>,
}

impl<P: Protocol> Clone for Engine<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// The query parameters the engine reads.
#[derive(Default)]
struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

fn query(q: Option<&str>) -> Query<'_> {
    let mut out = Query::default();
    for pair in q.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "EIO" => out.eio = Some(v),
            "transport" => out.transport = Some(v),
            "sid" => out.sid = Some(v),
            _ => {}
        }
    }
    out
}

/// The reference server's error answers: `{"code":…,"message":…}` with 400.
pub(crate) fn refuse(code: u8, message: &str) -> Response<Body> {
    let body = format!(r#"{{"code":{code},"message":"{message}"}}"#);
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

pub(crate) const UNKNOWN_TRANSPORT: (u8, &str) = (0, "Transport unknown");
pub(crate) const UNKNOWN_SID: (u8, &str) = (1, "Session ID unknown");
pub(crate) const BAD_HANDSHAKE_METHOD: (u8, &str) = (2, "Bad handshake method");
pub(crate) const BAD_REQUEST: (u8, &str) = (3, "Bad request");
pub(crate) const UNSUPPORTED_VERSION: (u8, &str) = (5, "Unsupported protocol version");

impl<P: Protocol> Engine<P> {
    /// Starts an engine (its heartbeat runs on the current tokio runtime).
    /// `keep_headers`: request headers each session keeps for the protocol above.
    pub fn new(config: Config, protocol: P, keep_headers: Vec<HeaderName>) -> Self {
        let wheel = heartbeat::Wheel::new(&config, protocol.connect_timeout());
        let inner = Arc::new(EngineInner {
            config,
            protocol,
            keep_headers,
            sessions: (0..SHARDS).map(|_| Mutex::default()).collect(),
            count: AtomicUsize::new(0),
            wheel: Mutex::new(wheel),
            client_closed: Mutex::default(),
        });
        heartbeat::start(&inner);
        Self { inner }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn protocol(&self) -> &P {
        &self.inner.protocol
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Whether `path` is the engine's endpoint.
    pub fn serves(&self, path: &str) -> bool {
        let base = self.inner.config.path.trim_end_matches('/');
        path == base || path.starts_with(&self.inner.config.path)
    }

    /// Closes every session.
    pub fn close_all(&self, reason: CloseReason) {
        for session in self.inner.all() {
            session.close(reason);
        }
    }

    /// Answers one HTTP request to the endpoint.
    pub async fn handle<B>(&self, mut req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let q = query(req.uri().query());
        if q.eio != Some("4") {
            return refuse(UNSUPPORTED_VERSION.0, UNSUPPORTED_VERSION.1);
        }
        let sid = q.sid.map(|s| Sid::parse(s).ok_or(()));
        match (q.transport, sid) {
            (_, Some(Err(()))) => refuse(UNKNOWN_SID.0, UNKNOWN_SID.1),
            (Some("websocket"), sid) => {
                let sid = sid.and_then(Result::ok);
                let handshake = self.handshake(&req);
                websocket::upgrade(&self.inner, &mut req, sid, handshake)
            }
            (Some("polling"), _) if !self.inner.config.allow_polling => {
                refuse(UNKNOWN_TRANSPORT.0, UNKNOWN_TRANSPORT.1)
            }
            (Some("polling"), None) if req.method() == Method::GET => {
                polling::handshake(&self.inner, self.handshake(&req))
            }
            (Some("polling"), None) => refuse(BAD_HANDSHAKE_METHOD.0, BAD_HANDSHAKE_METHOD.1),
            (Some("polling"), Some(Ok(sid))) => {
                let Some(session) = self.inner.session(sid) else {
                    if req.method() == Method::GET && self.inner.late_poll(sid) {
                        return polling::noop();
                    }
                    return refuse(UNKNOWN_SID.0, UNKNOWN_SID.1);
                };
                match *req.method() {
                    Method::GET => polling::get(&self.inner, session).await,
                    Method::POST => polling::post(&self.inner, session, req.into_body()).await,
                    _ => refuse(BAD_REQUEST.0, BAD_REQUEST.1),
                }
            }
            _ => refuse(UNKNOWN_TRANSPORT.0, UNKNOWN_TRANSPORT.1),
        }
    }

    fn handshake<B>(&self, req: &Request<B>) -> Handshake {
        Handshake {
            peer: req.extensions().get::<ClientAddr>().map(|a| a.0),
            headers: self
                .inner
                .keep_headers
                .iter()
                .filter_map(|name| Some((name.clone(), req.headers().get(name)?.clone())))
                .collect(),
        }
    }
}
