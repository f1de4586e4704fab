//! A lean Socket.IO v5 / Engine.IO v4 server for tokio and hyper.
//!
//! - **One task per connection.** A WebSocket connection is one hand-written
//!   future that reads frames, runs the work they ask for and writes what is
//!   queued for it; an idle one holds no buffer at all.
//! - **One timer for all sessions.** Pings, pong deadlines and connect
//!   deadlines sit in a single wheel (see `eio::heartbeat`).
//! - **Bounded everything.** Messages over `max_payload` close their
//!   connection on both transports; a session whose queue passes
//!   `max_queued_frames` is disconnected as a slow consumer, never silently
//!   dropped from; binary attachments are counted and sized.
//! - **Serialise once.** A broadcast is encoded once and every recipient
//!   queues the same bytes.
//!
//! The application implements [`Handler`] and hands HTTP requests for the
//! endpoint to [`Io::handle`]; it may run several nodes by carrying
//! broadcasts between them itself (a packet's wire text is [`Packet::text`]).
//! See `docs/engine.md` in the Chatr repository for the design.

mod config;
pub mod eio;
pub mod json;
mod sid;
mod sio;

pub use config::Config;
pub use eio::{Body, ClientAddr, CloseReason};
pub use sid::Sid;
pub use sio::{ConnectError, DisconnectReason, Event, Except, Handler, Io, Nsp, Packet, Socket};

/// Entry points for the fuzz harness (`crates/chatr-fuzz`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a Socket.IO packet the way a message from a client is parsed.
    pub fn socketio_packet(text: &str) -> bool {
        crate::sio::parse_for_fuzzing(text).unwrap_or_default()
    }
}
