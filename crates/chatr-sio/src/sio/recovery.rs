//! Connection state recovery, as Socket.IO 4.6 defines it: a client whose
//! connection broke and that reconnects within a window gets its socket
//! back — the same id, the same rooms — and every event it missed.
//!
//! How it works here:
//! - A *recoverable* socket has a private id (`pid`, sent once in its
//!   CONNECT answer) and a ring of the events recently sent to it, each with
//!   an *offset* that travels as the event's last argument (the official
//!   client remembers the last one it saw). Broadcasts get one offset each,
//!   written once however many sockets they reach.
//! - When its connection breaks for a reason a reconnect can mend (transport
//!   closed or failed, ping timeout, the client closing the transport), the
//!   socket becomes a *ghost*: it stays in its rooms and keeps recording
//!   what is sent to it, without sending, until the window closes.
//! - A CONNECT whose auth carries the ghost's `pid` and an offset found in
//!   its ring (or no offset, when nothing of the ring was ever dropped)
//!   resumes it: the new socket takes the ghost's id, steps into its place in
//!   every room, and gets everything after that offset before anything new.
//!
//! A live socket keeps in its ring only what was sent within one ping
//! interval and timeout (a connection that broke earlier would have been
//! noticed), and always the newest event; a ghost keeps everything up to
//! `recovery_max_packets`. Beyond that, the client cannot resume and simply
//! connects afresh. Only events the server sends without asking for an
//! acknowledgement and without binary attachments are recorded, as in the
//! reference.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::sid::Sid;

/// How much a ring keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keep {
    pub(crate) max_packets: usize,
    /// Bytes of events one ring holds at most (events can be large).
    pub(crate) max_bytes: usize,
    /// A live socket's events older than this are dropped (the newest stays).
    pub(crate) live_for: Duration,
    /// How long a ghost waits to be resumed.
    pub(crate) ghost_for: Duration,
}

pub(crate) struct Recovery {
    pub(crate) pid: Sid,
    ring: Mutex<Ring>,
}

struct Ring {
    /// Whether events go out as they are recorded (else only recorded: a
    /// ghost, or a socket resuming that has not yet caught up).
    live: bool,
    entries: VecDeque<Entry>,
    /// Bytes of the entries' texts.
    bytes: usize,
    /// Something was dropped from the front: a client that says it saw
    /// nothing cannot resume.
    dropped: bool,
}

impl Ring {
    fn drop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= e.text.len();
            self.dropped = true;
        }
    }
}

struct Entry {
    offset: u64,
    at: Instant,
    text: Bytes,
}

impl Recovery {
    pub(crate) fn new() -> Self {
        Self {
            pid: Sid::new(),
            ring: Mutex::new(Ring {
                live: true,
                entries: VecDeque::new(),
                bytes: 0,
                dropped: false,
            }),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records event `text` (with offset `offset` in it) and, while live,
    /// hands it to `send` — under the ring's lock, so that a resuming socket
    /// gets what it missed before anything newer.
    pub(crate) fn send(
        &self,
        offset: u64,
        text: &Bytes,
        keep: Keep,
        send: impl FnOnce(Bytes) -> bool,
    ) -> bool {
        let mut ring = self.ring();
        let now = Instant::now();
        if ring.live {
            while ring.entries.len() > 1
                && ring
                    .entries
                    .front()
                    .is_some_and(|e| now.duration_since(e.at) > keep.live_for)
            {
                ring.drop_front();
            }
        }
        while !ring.entries.is_empty()
            && (ring.entries.len() >= keep.max_packets.max(1)
                || ring.bytes + text.len() > keep.max_bytes)
        {
            ring.drop_front();
        }
        ring.bytes += text.len();
        ring.entries.push_back(Entry {
            offset,
            at: now,
            text: text.clone(),
        });
        if ring.live { send(text.clone()) } else { true }
    }

    /// The connection broke: record without sending from now on.
    pub(crate) fn hold(&self) {
        self.ring().live = false;
    }

    /// Whether a client whose last event had `offset` (`None`: it saw none)
    /// can resume without a gap.
    pub(crate) fn can_resume(&self, offset: Option<u64>) -> bool {
        let ring = self.ring();
        match offset {
            None => !ring.dropped,
            Some(offset) => ring.entries.iter().any(|e| e.offset == offset),
        }
    }

    /// Sends everything recorded after `offset` and goes live.
    pub(crate) fn resume(&self, offset: Option<u64>, mut send: impl FnMut(Bytes) -> bool) {
        let mut ring = self.ring();
        let start = match offset {
            None => 0,
            Some(offset) => ring
                .entries
                .iter()
                .position(|e| e.offset == offset)
                .map_or(ring.entries.len(), |i| i + 1),
        };
        for entry in ring.entries.range(start..) {
            if !send(entry.text.clone()) {
                break;
            }
        }
        ring.live = true;
    }
}

/// The wire text of event packet `text` with `offset` as its last argument.
pub(crate) fn with_offset(text: &[u8], offset: u64) -> Bytes {
    use std::io::Write as _;
    let body = text.strip_suffix(b"]").unwrap_or(text);
    let mut out = Vec::with_capacity(body.len() + 24);
    out.extend_from_slice(body);
    let _ = write!(out, ",\"{offset}\"]");
    Bytes::from(out)
}

/// Whether packet text `text` is an event the recovery records: a plain
/// EVENT (`42`) with no acknowledgement asked and no attachments.
pub(crate) fn records(text: &[u8], attachments: usize) -> bool {
    attachments == 0 && text.starts_with(b"42") && text.ends_with(b"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Keep = Keep {
        max_packets: 3,
        max_bytes: 1 << 20,
        live_for: Duration::from_secs(60),
        ghost_for: Duration::from_secs(60),
    };

    #[test]
    fn the_offset_becomes_the_last_argument() {
        assert_eq!(
            &with_offset(br#"42["a",{"x":1}]"#, 7)[..],
            br#"42["a",{"x":1},"7"]"#
        );
        assert!(records(br#"42["a",1]"#, 0));
        assert!(!records(br#"431[1]"#, 0));
        assert!(!records(br#"451-["a",{"_placeholder":true,"num":0}]"#, 1));
    }

    #[test]
    fn a_ghost_records_and_a_resume_sends_what_followed_the_offset() {
        let r = Recovery::new();
        let sent = std::cell::RefCell::new(Vec::new());
        let out = |t: Bytes| {
            sent.borrow_mut().push(t);
            true
        };
        r.send(1, &Bytes::from_static(b"one"), KEEP, out);
        r.hold();
        r.send(2, &Bytes::from_static(b"two"), KEEP, out);
        r.send(3, &Bytes::from_static(b"three"), KEEP, out);
        assert_eq!(sent.borrow().len(), 1, "a ghost sends nothing");
        assert!(r.can_resume(Some(1)));
        assert!(r.can_resume(None));
        assert!(!r.can_resume(Some(9)));
        r.resume(Some(1), out);
        assert_eq!(&sent.borrow()[1..], [&b"two"[..], &b"three"[..]]);
        r.send(4, &Bytes::from_static(b"four"), KEEP, out);
        assert_eq!(sent.borrow().len(), 4, "live again");
        assert!(
            !r.can_resume(None),
            "the ring is full: the first was dropped"
        );
        assert!(!r.can_resume(Some(1)));
    }

    #[test]
    fn a_ring_holds_a_bounded_number_of_bytes() {
        let keep = Keep {
            max_bytes: 10,
            ..KEEP
        };
        let r = Recovery::new();
        r.hold();
        let six = Bytes::from_static(b"sixsix");
        r.send(1, &six, keep, |_| true);
        r.send(2, &six, keep, |_| true);
        assert!(!r.can_resume(Some(1)), "the first made room for the second");
        assert!(r.can_resume(Some(2)));
    }
}
