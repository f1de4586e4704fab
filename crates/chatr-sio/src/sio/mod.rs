//! Socket.IO v5 on top of Engine.IO: namespaces, CONNECT with an auth
//! payload, events with acknowledgements and binary attachments, rooms with
//! broadcasts serialised once.

mod packet;
mod recovery;
mod rooms;
mod socket;

use foldhash::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::eio::{self, Body, CloseReason, Dispatch, Engine, Message, Session};
use crate::sid::Sid;
use packet::Kind;
use recovery::{Keep, Recovery};
use rooms::Rooms;
pub(crate) use socket::SocketInner;
pub use socket::{DisconnectReason, Socket};

/// What an application does with its sockets.
pub trait Handler: Send + Sync + Sized + 'static {
    /// What the application keeps per socket (see [`Socket::data`]).
    type Data: Send + Sync + 'static;
    /// How the application names its rooms.
    type Room: Clone + Eq + Hash + Send + Sync + fmt::Debug + 'static;

    /// A client asks to join `socket.namespace()` with this auth payload.
    /// `Ok` accepts it (the client learns it is connected once this returns,
    /// and no event of it is handled before); `Err` refuses it.
    fn connect(
        &self,
        socket: Socket<Self>,
        auth: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<Self::Data, ConnectError>> + Send + 'static;

    /// Whether a socket connecting with this auth payload may later be
    /// resumed, when [`Config::recovery`] is on: it then gets a private id,
    /// and each event sent to it carries an offset as its last argument
    /// (the official client reads it; a client with handlers of fixed arity
    /// may not expect it, hence the choice).
    fn recoverable(&self, _auth: Option<&serde_json::Value>) -> bool {
        true
    }

    /// A client presents the private id of `previous`, a socket whose
    /// connection broke: whether it may take that socket over (its id, its
    /// rooms, what it missed). `connect` runs after, and may still refuse.
    fn may_resume(&self, _previous: &Socket<Self>, _auth: Option<&serde_json::Value>) -> bool {
        true
    }

    /// The client has been told it is connected.
    fn connected(&self, _socket: Socket<Self>) -> impl Future<Output = ()> + Send + 'static {
        std::future::ready(())
    }

    /// An event from the client.
    fn event(
        &self,
        socket: Socket<Self>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// The socket is gone; called once for every accepted socket.
    fn disconnected(
        &self,
        socket: Socket<Self>,
        reason: DisconnectReason,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// A refusal of a CONNECT: the client's `connect_error` gets this message.
#[derive(Clone, Debug)]
pub struct ConnectError {
    pub message: String,
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }
}

/// An event from a client: its name, its arguments (parsed on demand), the
/// acknowledgement it asks for, and its binary attachments.
pub struct Event {
    pub name: String,
    text: String,
    args: Box<[(u32, u32)]>,
    /// The id to answer with [`Socket::ack`], when the client wants an answer.
    pub ack: Option<u64>,
    pub attachments: Vec<Bytes>,
}

impl Event {
    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// The JSON text of argument `i` (after the name).
    pub fn raw_arg(&self, i: usize) -> Option<&str> {
        let (a, b) = *self.args.get(i)?;
        self.text.get(a as usize..b as usize)
    }

    /// Argument `i` as a `T`; `None` when there is no such argument.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Option<Result<T, serde_json::Error>> {
        self.raw_arg(i).map(serde_json::from_str)
    }

    /// Every argument after the name, as JSON joined by commas.
    pub fn raw_args(&self) -> &str {
        match (self.args.first(), self.args.last()) {
            (Some((a, _)), Some((_, b))) => self.text.get(*a as usize..*b as usize).unwrap_or(""),
            _ => "",
        }
    }
}

/// An outgoing packet, serialised once however many sockets it reaches.
#[derive(Clone, Debug)]
pub struct Packet {
    text: Bytes,
    attachments: Vec<Bytes>,
    /// The text with an offset appended, for recoverable sockets: made once,
    /// at the first such recipient.
    offset: OnceLock<(u64, Bytes)>,
}

impl Packet {
    pub(crate) fn new(text: Bytes, attachments: Vec<Bytes>) -> Self {
        Self {
            text,
            attachments,
            offset: OnceLock::new(),
        }
    }

    /// The packet with its offset, when it is an event recovery records.
    pub(crate) fn with_offset(&self, counter: &AtomicU64) -> Option<&(u64, Bytes)> {
        if !recovery::records(&self.text, self.attachments.len()) {
            return None;
        }
        Some(self.offset.get_or_init(|| {
            let offset = counter.fetch_add(1, Ordering::Relaxed);
            (offset, recovery::with_offset(&self.text, offset))
        }))
    }

    /// The packet's text as it goes on the wire (Engine.IO type included).
    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// A packet from its wire text (as [`Packet::text`] gave it).
    pub fn from_text(text: Bytes) -> Self {
        Self::new(text, Vec::new())
    }
}

/// A namespace a session joined, and its socket once the connect is accepted.
type Joined<H> = (Arc<NspInner<H>>, Option<Socket<H>>);

/// What a session keeps for Socket.IO.
pub struct SessionState<H: Handler> {
    /// Sockets per namespace; `None` while the namespace's connect runs.
    sockets: Vec<Joined<H>>,
    /// A binary packet waiting for its attachments.
    binary: Option<Pending>,
}

impl<H: Handler> Default for SessionState<H> {
    fn default() -> Self {
        Self {
            sockets: Vec::new(),
            binary: None,
        }
    }
}

struct Pending {
    kind: Kind,
    nsp: String,
    id: Option<u64>,
    data: String,
    expected: usize,
    size: usize,
    attachments: Vec<Bytes>,
}

pub(crate) struct NspInner<H: Handler> {
    name: Box<str>,
    sockets: Mutex<HashMap<Sid, Socket<H>>>,
    rooms: Rooms<H>,
    /// Sockets whose connection broke, by private id, while they may be resumed.
    ghosts: Mutex<HashMap<Sid, Socket<H>>>,
    max_ghosts: usize,
    /// The next event offset (connection state recovery).
    offsets: AtomicU64,
    keep: Keep,
}

impl<H: Handler> NspInner<H> {
    /// Takes `socket` itself (not another socket of its id) out of the index.
    fn forget(&self, socket: &Socket<H>) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if sockets.get(&socket.id()).is_some_and(|s| s.is(socket)) {
            sockets.remove(&socket.id());
        }
    }

    fn ghosts(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Socket<H>>> {
        self.ghosts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a connection ended, when a reconnect may resume its sockets: the
/// reasons the reference counts as recoverable.
fn recoverable(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::TransportClose
            | CloseReason::TransportError
            | CloseReason::PingTimeout
            | CloseReason::ClientClose
    )
}

/// The connection of recoverable `socket` broke: it stays in its rooms,
/// recording what it is sent, until it is resumed or its window closes —
/// unless too many are kept already, and then it is gone like any other.
fn hold_as_ghost<H: Handler>(socket: &Socket<H>, recovery: &Recovery) {
    let nsp = socket.0.nsp.clone();
    let pid = recovery.pid;
    {
        let mut ghosts = nsp.ghosts();
        if ghosts.len() >= nsp.max_ghosts {
            drop(ghosts);
            socket.detach();
            return;
        }
        recovery.hold();
        ghosts.insert(pid, socket.clone());
    }
    nsp.forget(socket);
    let (ghost, window) = (socket.clone(), nsp.keep.ghost_for);
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        let expired = {
            let mut ghosts = nsp.ghosts();
            let mine = ghosts.get(&pid).is_some_and(|g| g.is(&ghost));
            if mine {
                ghosts.remove(&pid);
            }
            mine
        };
        if expired {
            ghost.detach();
        }
    });
}

/// The Engine.IO protocol that is Socket.IO, for handler `H`.
pub struct Proto<H: Handler> {
    handler: Arc<H>,
    namespaces: HashMap<Box<str>, Arc<NspInner<H>>>,
    config: Config,
}

type Sess<H> = Arc<Session<Proto<H>>>;

impl<H: Handler> eio::Protocol for Proto<H> {
    type State = SessionState<H>;

    fn message(&self, session: &Sess<H>, message: Message<'_>) -> Result<Dispatch, CloseReason> {
        match message {
            Message::Text(text) => {
                if session.with_state(|s| s.binary.is_some()) {
                    return Err(CloseReason::ProtocolError);
                }
                let p = packet::parse(text, self.config.max_attachments)
                    .map_err(|_| CloseReason::ProtocolError)?;
                if matches!(p.kind, Kind::BinaryEvent | Kind::BinaryAck) {
                    // Handled once its attachments, the next binary messages, are in.
                    let pending = Pending {
                        kind: p.kind,
                        nsp: p.nsp.to_owned(),
                        id: p.id,
                        data: p.data.to_owned(),
                        expected: p.attachments,
                        size: p.data.len(),
                        attachments: Vec::with_capacity(p.attachments),
                    };
                    session.with_state(|s| s.binary = Some(pending));
                    return Ok(Dispatch::Done);
                }
                self.packet(session, p.kind, p.nsp, p.id, p.data, Vec::new())
            }
            Message::Binary(bytes) => {
                let complete = session.with_state(|s| {
                    let pending = s.binary.as_mut().ok_or(CloseReason::ProtocolError)?;
                    pending.size += bytes.len();
                    if pending.size > self.config.max_payload {
                        return Err(CloseReason::TooLarge);
                    }
                    pending.attachments.push(Bytes::copy_from_slice(bytes));
                    Ok(if pending.attachments.len() == pending.expected {
                        s.binary.take()
                    } else {
                        None
                    })
                })?;
                match complete {
                    None => Ok(Dispatch::Done),
                    Some(p) => self.packet(session, p.kind, &p.nsp, p.id, &p.data, p.attachments),
                }
            }
        }
    }

    fn closed(&self, session: &Sess<H>, reason: CloseReason) {
        let sockets = session.with_state(|s| {
            s.binary = None;
            std::mem::take(&mut s.sockets)
        });
        for socket in sockets.into_iter().filter_map(|(_, s)| s) {
            match &socket.0.recovery {
                Some(recovery) if self.config.recovery.is_some() && recoverable(reason) => {
                    hold_as_ghost(&socket, recovery);
                }
                _ => socket.detach(),
            }
            tokio::spawn(
                self.handler
                    .disconnected(socket, DisconnectReason::Transport(reason)),
            );
        }
    }

    fn connect_timeout(&self) -> Option<std::time::Duration> {
        Some(self.config.connect_timeout)
    }

    fn ready(&self, session: &Session<Self>) -> bool {
        session.with_state(|s| !s.sockets.is_empty())
    }
}

impl<H: Handler> Proto<H> {
    fn packet(
        &self,
        session: &Sess<H>,
        kind: Kind,
        nsp: &str,
        id: Option<u64>,
        data: &str,
        attachments: Vec<Bytes>,
    ) -> Result<Dispatch, CloseReason> {
        let bad = CloseReason::ProtocolError;
        match kind {
            Kind::Connect => self.connect(session, nsp, data),
            Kind::Disconnect => {
                if let Some(socket) = socket_of(session, nsp) {
                    disconnect_socket(&socket, DisconnectReason::ClientNamespaceDisconnect);
                }
                Ok(Dispatch::Done)
            }
            Kind::Event | Kind::BinaryEvent => self.event(session, nsp, id, data, attachments),
            Kind::Ack | Kind::BinaryAck => {
                // Acknowledgements of server emits: none are asked for.
                if packet::is_array(data) {
                    Ok(Dispatch::Done)
                } else {
                    Err(bad)
                }
            }
            Kind::ConnectError => Err(bad),
        }
    }

    fn connect(&self, session: &Sess<H>, nsp: &str, data: &str) -> Result<Dispatch, CloseReason> {
        let Some(ns) = self.namespaces.get(nsp).cloned() else {
            session.send(eio::Frame::Text(packet::connect_error(
                nsp,
                "Invalid namespace",
                None,
            )));
            return Ok(Dispatch::Done);
        };
        let auth = if data.is_empty() {
            None
        } else {
            match serde_json::from_str::<serde_json::Value>(data) {
                Ok(v @ serde_json::Value::Object(_)) => Some(v),
                _ => return Err(CloseReason::ProtocolError),
            }
        };
        let fresh = session.with_state(|s| {
            if s.sockets.iter().any(|(n, _)| Arc::ptr_eq(n, &ns)) {
                return false;
            }
            s.sockets.push((ns.clone(), None));
            true
        });
        if !fresh {
            return Ok(Dispatch::Done);
        }
        let resuming = self.resumable(&ns, auth.as_ref());
        let recovery = match &resuming {
            Some((ghost, _)) => ghost.0.recovery.clone(),
            None if self.config.recovery.is_some() && self.handler.recoverable(auth.as_ref()) => {
                Some(Arc::new(Recovery::new()))
            }
            None => None,
        };
        let socket = Socket(Arc::new(SocketInner {
            id: resuming
                .as_ref()
                .map_or_else(Sid::new, |(ghost, _)| ghost.id()),
            nsp: ns,
            session: session.clone(),
            data: std::sync::OnceLock::new(),
            rooms: Mutex::default(),
            recovery,
            recovered: resuming.is_some(),
            resuming: Mutex::new(resuming),
        }));
        let accepting = self.handler.connect(socket.clone(), auth);
        let handler = self.handler.clone();
        Ok(Dispatch::Before(Box::pin(async move {
            let outcome = accepting.await;
            finish_connect(&handler, socket, outcome).await;
        })))
    }

    /// The ghost a CONNECT with this auth payload resumes, claimed, and the
    /// offset its client last saw.
    fn resumable(
        &self,
        ns: &NspInner<H>,
        auth: Option<&serde_json::Value>,
    ) -> Option<(Socket<H>, Option<u64>)> {
        self.config.recovery?;
        let auth = auth?;
        let pid = Sid::parse(auth.get("pid")?.as_str()?)?;
        let offset = match auth.get("offset") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_str()?.parse::<u64>().ok()?),
        };
        let mut ghosts = ns.ghosts();
        let ghost = ghosts.get(&pid)?;
        let fits = ghost
            .0
            .recovery
            .as_ref()
            .is_some_and(|r| r.can_resume(offset));
        if !fits || !self.handler.may_resume(ghost, Some(auth)) {
            return None;
        }
        ghosts.remove(&pid).map(|ghost| (ghost, offset))
    }

    fn event(
        &self,
        session: &Sess<H>,
        nsp: &str,
        id: Option<u64>,
        data: &str,
        attachments: Vec<Bytes>,
    ) -> Result<Dispatch, CloseReason> {
        let args = packet::event_args(data).map_err(|_| CloseReason::ProtocolError)?;
        // Events for a namespace the client has not joined are dropped, as the reference does.
        let Some(socket) = socket_of(session, nsp) else {
            return Ok(Dispatch::Done);
        };
        let event = Event {
            name: args.name,
            text: args.text,
            args: args.args,
            ack: id,
            attachments,
        };
        Ok(Dispatch::Run(Box::pin(self.handler.event(socket, event))))
    }
}

/// What the protocol reads of one text packet from a client: the header,
/// then the data as its kind wants it (for the fuzz harness).
pub(crate) fn parse_for_fuzzing(text: &str) -> Option<bool> {
    let p = packet::parse(text, 16).ok()?;
    Some(match p.kind {
        Kind::Event | Kind::BinaryEvent => {
            assert!(
                packet::hand_reading_agrees(p.data),
                "the hand reading differs"
            );
            packet::event_args(p.data).is_ok()
        }
        Kind::Ack | Kind::BinaryAck => packet::is_array(p.data),
        Kind::Connect => {
            p.data.is_empty() || serde_json::from_str::<serde_json::Value>(p.data).is_ok()
        }
        Kind::Disconnect | Kind::ConnectError => true,
    })
}

/// The connected socket of `session` on namespace `nsp`.
fn socket_of<H: Handler>(session: &Sess<H>, nsp: &str) -> Option<Socket<H>> {
    session.with_state(|s| {
        s.sockets
            .iter()
            .find(|(n, _)| &*n.name == nsp)
            .and_then(|(_, socket)| socket.clone())
    })
}

/// After the handler decided on a CONNECT: the socket is registered and
/// told, or refused and forgotten.
async fn finish_connect<H: Handler>(
    handler: &Arc<H>,
    socket: Socket<H>,
    outcome: Result<H::Data, ConnectError>,
) {
    let session = socket.0.session.clone();
    let nsp = socket.0.nsp.clone();
    let resuming = socket
        .0
        .resuming
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let data = match outcome {
        Ok(data) => data,
        Err(refusal) => {
            session.with_state(|s| s.sockets.retain(|(n, _)| !Arc::ptr_eq(n, &nsp)));
            socket.detach();
            if let Some((ghost, _)) = resuming {
                ghost.detach();
            }
            session.send(eio::Frame::Text(packet::connect_error(
                &nsp.name,
                &refusal.message,
                refusal.data.as_ref(),
            )));
            return;
        }
    };
    let _ = socket.0.data.set(data);
    // Registered under the session's lock: either the session is still open
    // and its close will see the socket, or it closed meanwhile and this
    // socket is told here. Never both, never neither.
    let open =
        session.with_state(
            |s| match s.sockets.iter_mut().find(|(n, _)| Arc::ptr_eq(n, &nsp)) {
                Some(slot) => {
                    slot.1 = Some(socket.clone());
                    true
                }
                None => false,
            },
        ) && !session.is_closed();
    if !open {
        socket.detach();
        if let Some((ghost, _)) = resuming {
            ghost.detach();
        }
        handler
            .disconnected(
                socket,
                DisconnectReason::Transport(CloseReason::TransportClose),
            )
            .await;
        return;
    }
    nsp.sockets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(socket.id(), socket.clone());
    // The client's handshake headers were for this first connect.
    drop(session.take_handshake());
    let pid = socket.0.recovery.as_ref().map(|r| r.pid.to_string());
    let offset = resuming.as_ref().and_then(|(_, offset)| *offset);
    if let Some((ghost, _)) = &resuming {
        // Into every room of the ghost the handler did not join already.
        socket.join(ghost.take_rooms());
    }
    socket.send_text(packet::connected(
        &nsp.name,
        &socket.id().to_string(),
        pid.as_deref(),
    ));
    if let (Some((_, _)), Some(recovery)) = (&resuming, &socket.0.recovery) {
        recovery.resume(offset, |text| session.send(eio::Frame::Text(text)));
    }
    handler.connected(socket).await;
}

/// Takes a socket out of its namespace and tells the handler.
pub(crate) fn disconnect_socket<H: Handler>(socket: &Socket<H>, reason: DisconnectReason) {
    let session = socket.0.session.clone();
    let (found, last) = session.with_state(|s| {
        let before = s.sockets.len();
        s.sockets
            .retain(|(_, x)| x.as_ref().is_none_or(|x| x.id() != socket.id()));
        (s.sockets.len() != before, s.sockets.is_empty())
    });
    if !found {
        return;
    }
    socket.detach();
    if reason == DisconnectReason::ServerNamespaceDisconnect {
        socket.send_text(packet::disconnect(&socket.0.nsp.name));
    }
    let Some(engine) = session.engine() else {
        return;
    };
    tokio::spawn(engine.protocol.handler.disconnected(socket.clone(), reason));
    if last && reason == DisconnectReason::ServerNamespaceDisconnect {
        session.close(CloseReason::ServerClose);
    }
}

/// A namespace: its sockets and rooms.
pub struct Nsp<H: Handler>(pub(crate) Arc<NspInner<H>>);

impl<H: Handler> Clone for Nsp<H> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// Who a broadcast leaves out.
pub struct Except<'a, H: Handler> {
    pub rooms: &'a [H::Room],
    pub socket: Option<Sid>,
}

impl<H: Handler> Default for Except<'_, H> {
    fn default() -> Self {
        Self {
            rooms: &[],
            socket: None,
        }
    }
}

impl<H: Handler> Nsp<H> {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn socket(&self, id: Sid) -> Option<Socket<H>> {
        self.0
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn sockets(&self) -> Vec<Socket<H>> {
        self.0
            .sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The connected sockets in `room` (not those waiting to be resumed).
    pub fn sockets_in(&self, room: &H::Room) -> Vec<Socket<H>> {
        self.0.rooms.connected(room)
    }

    /// A packet of `event` with one argument, for this namespace.
    pub fn event<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Packet, serde_json::Error> {
        Ok(Packet::new(
            packet::event(&self.0.name, event, data)?,
            Vec::new(),
        ))
    }

    /// A packet of `event` with arguments given as JSON joined by commas.
    pub fn event_raw(&self, event: &str, args: &str, attachments: Vec<Bytes>) -> Packet {
        Packet::new(
            packet::event_raw(&self.0.name, event, args, attachments.len()),
            attachments,
        )
    }

    /// Sends `packet` to every socket in any of `rooms` (each once), less `except`.
    pub fn broadcast(&self, rooms: &[H::Room], except: Except<'_, H>, packet: &Packet) {
        let mut skip: Vec<Sid> = except.socket.into_iter().collect();
        for room in except.rooms {
            skip.extend(self.0.rooms.ids(room));
        }
        let several = rooms.len() > 1;
        for room in rooms {
            self.0.rooms.each(room, |socket| {
                if skip.contains(&socket.id()) {
                    return;
                }
                socket.send(packet);
                if several {
                    skip.push(socket.id());
                }
            });
        }
    }

    /// Every socket in `room` joins `rooms` too.
    pub fn join_all(&self, room: &H::Room, rooms: &[H::Room]) {
        for socket in self.0.rooms.members(room) {
            socket.join(rooms.iter().cloned());
        }
    }

    /// Every socket in `room` leaves `rooms`.
    pub fn leave_all(&self, room: &H::Room, rooms: &[H::Room]) {
        for socket in self.0.rooms.members(room) {
            for r in rooms {
                socket.leave(r);
            }
        }
    }

    /// Every socket leaves `room`.
    pub fn clear(&self, room: &H::Room) {
        for socket in self.0.rooms.members(room) {
            socket.leave(room);
        }
    }
}

/// A Socket.IO server. Cheap to clone.
pub struct Io<H: Handler> {
    engine: Engine<Proto<H>>,
}

impl<H: Handler> Clone for Io<H> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
        }
    }
}

impl<H: Handler> Io<H> {
    /// A server with namespaces `namespaces` (e.g. `["/"]`); sessions keep
    /// the request headers named in `keep_headers` until their first connect.
    pub fn new(
        config: Config,
        handler: H,
        namespaces: &[&str],
        keep_headers: Vec<HeaderName>,
    ) -> Self {
        let namespaces = namespaces
            .iter()
            .map(|name| {
                let name: Box<str> = (*name).into();
                let nsp = Arc::new(NspInner {
                    name: name.clone(),
                    sockets: Mutex::default(),
                    rooms: Rooms::default(),
                    ghosts: Mutex::default(),
                    max_ghosts: config.recovery_max_ghosts,
                    offsets: AtomicU64::new(1),
                    keep: Keep {
                        max_packets: config.recovery_max_packets,
                        max_bytes: config.recovery_max_bytes,
                        live_for: config.ping_interval + config.ping_timeout,
                        ghost_for: config.recovery.unwrap_or_default(),
                    },
                });
                (name, nsp)
            })
            .collect();
        let proto = Proto {
            handler: Arc::new(handler),
            namespaces,
            config: config.clone(),
        };
        Self {
            engine: Engine::new(config, proto, keep_headers),
        }
    }

    pub fn handler(&self) -> &H {
        &self.engine.protocol().handler
    }

    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    pub fn of(&self, name: &str) -> Option<Nsp<H>> {
        self.engine
            .protocol()
            .namespaces
            .get(name)
            .cloned()
            .map(Nsp)
    }

    /// Whether `path` belongs to this server's endpoint.
    pub fn serves(&self, path: &str) -> bool {
        self.engine.serves(path)
    }

    /// Open connections (Engine.IO sessions).
    pub fn session_count(&self) -> usize {
        self.engine.session_count()
    }

    /// Answers one HTTP request to the endpoint.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.engine.handle(req).await
    }

    /// Closes every connection; each socket's `disconnected` runs.
    pub fn close_all(&self) {
        self.engine.close_all(CloseReason::ServerShutdown);
    }
}
