//! A connected socket: one client on one namespace. Cheap to clone.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde::Serialize;

use super::recovery::Recovery;
use super::{Handler, NspInner, Packet, Proto, packet};
use crate::eio::{CloseReason, Frame, Session};
use crate::sid::Sid;

pub struct SocketInner<H: Handler> {
    pub(crate) id: Sid,
    pub(crate) nsp: Arc<NspInner<H>>,
    pub(crate) session: Arc<Session<Proto<H>>>,
    pub(crate) data: OnceLock<H::Data>,
    pub(crate) rooms: Mutex<Vec<H::Room>>,
    /// Connection state recovery, for a recoverable socket (see `recovery`).
    pub(crate) recovery: Option<Arc<Recovery>>,
    /// This socket resumes a ghost: it and the offset the client last saw,
    /// until the connect is decided.
    pub(crate) resuming: Mutex<Option<(Socket<H>, Option<u64>)>>,
    pub(crate) recovered: bool,
}

pub struct Socket<H: Handler>(pub(crate) Arc<SocketInner<H>>);

impl<H: Handler> Clone for Socket<H> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<H: Handler> std::fmt::Debug for Socket<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Socket({}{})", self.0.nsp.name, self.0.id)
    }
}

/// Why a socket left its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Its connection ended, for this reason.
    Transport(CloseReason),
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The server made it leave ([`Socket::disconnect`]).
    ServerNamespaceDisconnect,
}

impl<H: Handler> Socket<H> {
    /// The socket's own id (not its connection's).
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The id by reference, for sets keyed by it.
    pub(crate) fn sid(&self) -> &Sid {
        &self.0.id
    }

    pub fn namespace(&self) -> &str {
        &self.0.nsp.name
    }

    /// The namespace this socket is on.
    pub fn nsp(&self) -> super::Nsp<H> {
        super::Nsp(self.0.nsp.clone())
    }

    /// What the handler's `connect` returned; `None` while it runs.
    pub fn data(&self) -> Option<&H::Data> {
        self.0.data.get()
    }

    /// The client's address, as accepted (see [`crate::ClientAddr`]).
    pub fn peer(&self) -> Option<std::net::IpAddr> {
        self.0.session.peer()
    }

    /// A header of the connection's opening request, when the server was
    /// configured to keep it and the first connect has not yet released it.
    pub fn handshake_header(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.0.session.handshake_header(name)
    }

    pub fn is_connected(&self) -> bool {
        !self.0.session.is_closed() && self.0.data.get().is_some()
    }

    /// Whether this socket resumed one whose connection broke (connection
    /// state recovery): it has that socket's id and rooms, and got what it
    /// missed. Known from the handler's `connect` on.
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    pub(crate) fn is(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.0.session.is_closed()
    }

    /// Queues a packet for this socket; false when its connection is gone.
    /// A recoverable socket records the events it is sent (see `recovery`).
    pub fn send(&self, packet: &Packet) -> bool {
        if let Some(recovery) = &self.0.recovery
            && let Some((offset, text)) = packet.with_offset(&self.0.nsp.offsets)
        {
            let session = &self.0.session;
            return recovery.send(*offset, text, self.0.nsp.keep, |text| {
                session.send(Frame::Text(text))
            });
        }
        // No list of frames is built: most packets are one text frame.
        let attachments = packet.attachments.iter().cloned().map(Frame::Binary);
        self.0
            .session
            .send_all(std::iter::once(Frame::Text(packet.text.clone())).chain(attachments))
    }

    pub(crate) fn send_text(&self, text: Bytes) -> bool {
        self.0.session.send(Frame::Text(text))
    }

    /// Emits `event` with one argument to this socket only.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> bool {
        match packet::event(&self.0.nsp.name, event, data) {
            Ok(text) if self.0.recovery.is_some() => self.send(&Packet::from_text(text)),
            Ok(text) => self.send_text(text),
            Err(e) => {
                tracing::error!(error = %e, event, "an event did not serialise");
                false
            }
        }
    }

    /// Answers the client's acknowledgement `id` with one argument.
    pub fn ack<T: Serialize + ?Sized>(&self, id: u64, data: &T) -> bool {
        match packet::ack(&self.0.nsp.name, id, data) {
            Ok(text) => self.send_text(text),
            Err(e) => {
                tracing::error!(error = %e, "an ack did not serialise");
                false
            }
        }
    }

    /// Answers acknowledgement `id` with arguments given as JSON joined by
    /// commas, and binary attachments their placeholders refer to.
    pub fn ack_raw(&self, id: u64, args: &str, attachments: Vec<Bytes>) -> bool {
        self.send(&Packet::new(
            packet::ack_raw(&self.0.nsp.name, id, args, attachments.len()),
            attachments,
        ))
    }

    /// Joins rooms (already joined ones stay as they are).
    pub fn join(&self, rooms: impl IntoIterator<Item = H::Room>) {
        let mut mine = self.0.rooms.lock().unwrap_or_else(|p| p.into_inner());
        for room in rooms {
            if self.0.nsp.rooms.join(&room, self) {
                mine.push(room);
            }
        }
    }

    pub fn leave(&self, room: &H::Room) {
        let mut mine = self.0.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = mine.iter().position(|r| r == room) {
            mine.swap_remove(i);
            self.0.nsp.rooms.leave(room, self);
        }
    }

    pub fn rooms(&self) -> Vec<H::Room> {
        self.0
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Leaves every room and the namespace's index.
    pub(crate) fn detach(&self) {
        for room in &self.take_rooms() {
            self.0.nsp.rooms.leave(room, self);
        }
        self.0.nsp.forget(self);
    }

    pub(crate) fn take_rooms(&self) -> Vec<H::Room> {
        std::mem::take(&mut *self.0.rooms.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes the client leave the namespace (it gets a disconnect packet);
    /// its connection closes when it was the connection's last socket.
    pub fn disconnect(&self) {
        super::disconnect_socket(self, DisconnectReason::ServerNamespaceDisconnect);
    }
}
