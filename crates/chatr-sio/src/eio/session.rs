//! One Engine.IO session: its outgoing queue, the transport waiting to carry
//! it, and the state of the protocol above. Everything that touches a session
//! goes through its one lock, held briefly and never across a call out.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use http::{HeaderName, HeaderValue};

use super::packet::Frame;
use super::{EngineInner, Protocol};
use crate::sid::Sid;

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection, or it broke.
    TransportClose,
    /// Reading or writing the connection failed.
    TransportError,
    /// The client asked to close (Engine.IO `1`).
    ClientClose,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client broke the protocol (a malformed or unexpected packet).
    ProtocolError,
    /// A message over the size limit.
    TooLarge,
    /// The client did not read what it was sent fast enough.
    SlowConsumer,
    /// No Socket.IO connect within the connect timeout.
    ConnectTimeout,
    /// The server closed it (the application asked).
    ServerClose,
    /// The server is shutting down.
    ServerShutdown,
}

impl CloseReason {
    /// The reason's name in the reference implementation's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ClientClose => "client close",
            Self::PingTimeout => "ping timeout",
            Self::ProtocolError => "parse error",
            Self::TooLarge => "message too large",
            Self::SlowConsumer => "slow consumer",
            Self::ConnectTimeout => "connect timeout",
            Self::ServerClose => "forced close",
            Self::ServerShutdown => "server shutting down",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTP long-polling; `waiting` while a GET waits for frames.
    Polling {
        waiting: bool,
    },
    /// A WebSocket has answered the probe and waits for the upgrade packet;
    /// polling still carries the queue meanwhile.
    Upgrading,
    WebSocket,
}

/// What a session keeps of its opening request, until the protocol above
/// has used it (see [`Session::take_handshake`]).
#[derive(Debug, Default)]
pub struct Handshake {
    pub peer: Option<IpAddr>,
    /// The headers the configuration asked to keep, and nothing else: a
    /// session that kept its whole request head would keep a browser's
    /// cookies and user agent for as long as it lives.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Handshake {
    pub fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

pub(crate) struct Shared<P: Protocol> {
    outbox: VecDeque<Frame>,
    waker: Option<Waker>,
    pub(crate) transport: Transport,
    closing: Option<CloseReason>,
    /// Set once the engine and the protocol have been told of the close.
    finished: bool,
    pub(crate) ping_pending: bool,
    handshake: Option<Box<Handshake>>,
    pub(crate) state: P::State,
}

impl<P: Protocol> Shared<P> {
    pub(crate) fn closing_now(&self) -> bool {
        self.closing.is_some()
    }
}

pub struct Session<P: Protocol> {
    id: Sid,
    max_queued: usize,
    engine: Weak<EngineInner<P>>,
    shared: Mutex<Shared<P>>,
}

impl<P: Protocol> Session<P> {
    pub(crate) fn new(
        engine: &Arc<EngineInner<P>>,
        transport: Transport,
        handshake: Handshake,
    ) -> Arc<Self> {
        let keep = handshake.peer.is_some() || !handshake.headers.is_empty();
        Arc::new(Self {
            id: Sid::new(),
            max_queued: engine.config.max_queued_frames,
            engine: Arc::downgrade(engine),
            shared: Mutex::new(Shared {
                outbox: VecDeque::new(),
                waker: None,
                transport,
                closing: None,
                finished: false,
                ping_pending: false,
                handshake: keep.then(|| Box::new(handshake)),
                state: P::State::default(),
            }),
        })
    }

    pub fn id(&self) -> Sid {
        self.id
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared<P>> {
        // Every critical section leaves the state whole; a panic elsewhere
        // must not take the session down with it.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the protocol's state of this session.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut P::State) -> T) -> T {
        f(&mut self.lock().state)
    }

    /// The opening request's kept parts; the protocol takes them when it no
    /// longer needs them to stay with the session.
    pub fn take_handshake(&self) -> Option<Box<Handshake>> {
        self.lock().handshake.take()
    }

    /// A copy of one kept header of the opening request, if still kept.
    pub fn handshake_header(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.lock().handshake.as_ref()?.header(name).cloned()
    }

    pub fn peer(&self) -> Option<IpAddr> {
        self.lock().handshake.as_ref()?.peer
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closing.is_some()
    }

    /// Queues one frame; false when the session is closed. A client that lets
    /// its queue grow past the limit is disconnected rather than left to
    /// grow the server's memory.
    pub fn send(&self, frame: Frame) -> bool {
        self.send_all(std::iter::once(frame))
    }

    /// Queues frames that belong together (a packet and its attachments).
    pub fn send_all(&self, frames: impl IntoIterator<Item = Frame>) -> bool {
        let mut s = self.lock();
        if s.closing.is_some() {
            return false;
        }
        for frame in frames {
            if s.outbox.len() >= self.max_queued {
                // Marked only: the transport (or the heartbeat) finishes the
                // close, so a sender never runs the protocol's close
                // handling while it holds locks of its own (a room's).
                s.closing = Some(CloseReason::SlowConsumer);
                s.outbox = std::collections::VecDeque::new();
                let waker = s.waker.take();
                drop(s);
                if let Some(w) = waker {
                    w.wake();
                }
                return false;
            }
            s.outbox.push_back(frame);
        }
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Ends the session: it leaves the engine and the protocol hears of it,
    /// once. Frames already queued still go out on a WebSocket.
    /// A session already marked closed keeps its first reason.
    pub fn close(self: &Arc<Self>, reason: CloseReason) {
        let (waker, reason) = {
            let mut s = self.lock();
            if s.finished {
                return;
            }
            s.finished = true;
            s.handshake = None;
            let reason = *s.closing.get_or_insert(reason);
            (s.waker.take(), reason)
        };
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(engine) = self.engine.upgrade() {
            engine.forget(self.id);
            engine.protocol.closed(self, reason);
        }
    }

    pub(crate) fn closing(&self) -> Option<CloseReason> {
        self.lock().closing
    }

    pub(crate) fn pong(&self) {
        self.lock().ping_pending = false;
    }

    /// Takes every queued frame for the transport, or registers it to be woken.
    /// `Ready(None)` once the session is closed and nothing is left.
    pub(crate) fn poll_frames(&self, cx: &mut Context<'_>) -> Poll<Option<VecDeque<Frame>>> {
        let mut s = self.lock();
        if !s.outbox.is_empty() {
            return Poll::Ready(Some(std::mem::take(&mut s.outbox)));
        }
        if s.closing.is_some() {
            return Poll::Ready(None);
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn engine(&self) -> Option<Arc<EngineInner<P>>> {
        self.engine.upgrade()
    }
}
