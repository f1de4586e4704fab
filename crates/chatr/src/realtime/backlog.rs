//! Offline delivery, a page at a time: a connecting session gets the
//! messages still `sent` to its user, oldest first, up to its horizon (see
//! `handover`). The next page comes once the client has acknowledged most of
//! the previous one, so a session's memory does not grow with its backlog,
//! and a client that never acknowledges gets only the first page.

use foldhash::HashSet;
use std::sync::Arc;

use uuid::Uuid;

use super::fanout::Fanout;
use super::handover::GRACE;
use super::{Room, Socket};
use crate::protocol::ServerEvent;
use crate::state::AppState;

/// Messages per page, and the bytes of content after which a page stops early.
const PAGE: i64 = 50;
const PAGE_BYTES: usize = 512 * 1024;
/// The next page is read once no more than this many of a page are unacknowledged.
const REFILL_AT: usize = (PAGE / 4) as usize;

#[derive(Default)]
pub(super) struct Backlog {
    horizon: i64,
    /// The position of the last message read.
    cursor: i64,
    /// Messages of the current page the client has not acknowledged.
    outstanding: HashSet<Uuid>,
    /// A page is being read, or none is due any more.
    busy: bool,
    done: bool,
    brought: bool,
}

impl Backlog {
    /// Everything read and acknowledged.
    pub(super) fn caught_up(&self) -> bool {
        self.done && !self.busy && self.outstanding.is_empty()
    }
}

/// The session is connected: the horizon, then the first page. A resumed
/// session got what it missed replayed by the engine instead.
pub(super) async fn start(state: Arc<AppState>, fanout: Arc<Fanout>, socket: Socket) {
    let Some(session) = socket.data() else { return };
    if socket.recovered() {
        session
            .backlog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done = true;
        let _changing = fanout.handover.changing(session.user);
        socket.leave(&Room::Catching(session.user));
        return;
    }
    let user = session.user;
    let horizon = match state.chat.messages.horizon().await {
        Ok(h) => h,
        Err(e) => {
            e.log_if_internal();
            return stop_catching_up(&fanout, &socket, user);
        }
    };
    fanout.handover.set_horizon(user, socket.id(), horizon);
    {
        let mut b = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
        b.horizon = horizon;
        b.busy = true;
    }
    next_page(state, fanout, socket).await;
}

/// The client acknowledged `message`: when that leaves little of the page
/// unacknowledged, the next page is read, on a task of its own (this runs
/// where the writer answers receipts).
pub(super) fn acknowledged(
    state: Arc<AppState>,
    fanout: Arc<Fanout>,
    socket: Socket,
    message: Uuid,
) {
    let Some(session) = socket.data() else { return };
    let due = {
        let mut b = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
        let due = b.outstanding.remove(&message)
            && !b.busy
            && !b.done
            && b.outstanding.len() <= REFILL_AT;
        if due {
            b.busy = true;
        }
        due
    };
    if due {
        tokio::spawn(next_page(state, fanout, socket));
    }
}

async fn next_page(state: Arc<AppState>, fanout: Arc<Fanout>, socket: Socket) {
    let Some(session) = socket.data() else { return };
    let user = session.user;
    let (after, upto) = {
        let b = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
        (b.cursor, b.horizon)
    };
    let page = match state
        .chat
        .messages
        .pending_page(user, after, upto, PAGE)
        .await
    {
        Ok(page) => page,
        Err(e) => {
            e.log_if_internal();
            Vec::new()
        }
    };
    let full = page.len() as i64 == PAGE;
    let nsp = socket.nsp();
    let (mut cursor, mut bytes, mut emitted, mut cut) = (after, 0, Vec::new(), false);
    for (seq, message) in &page {
        if bytes > PAGE_BYTES {
            cut = true;
            break;
        }
        cursor = *seq;
        if !fanout.handover.claim_backlog(user, socket.id(), message.id) {
            continue;
        }
        match nsp.event(ServerEvent::MessageReceived.name(), message) {
            Ok(packet) => {
                bytes += packet.text().len();
                if !socket.send(&packet) {
                    return;
                }
                emitted.push(message.id);
            }
            Err(e) => tracing::error!(error = %e, "encoding a backlog message"),
        }
    }
    let finished = !full && !cut;
    let brought = {
        let mut b = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
        b.cursor = cursor;
        b.brought |= !emitted.is_empty();
        b.outstanding.extend(emitted);
        b.done = finished;
        b.busy = false;
        b.brought
    };
    if finished {
        if brought {
            let (fanout, socket) = (fanout.clone(), socket.clone());
            tokio::spawn(async move {
                tokio::time::sleep(GRACE).await;
                stop_catching_up(&fanout, &socket, user);
            });
        } else {
            stop_catching_up(&fanout, &socket, user);
        }
    } else {
        // A page the client already acknowledged as it arrived (or that was
        // all claimed live) leaves nothing to wait for: read on.
        let again = {
            let mut b = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
            let again = !b.busy && b.outstanding.len() <= REFILL_AT;
            b.busy |= again;
            again
        };
        if again {
            Box::pin(next_page(state, fanout, socket)).await;
        }
    }
}

/// The session gets live messages with the user's other sessions again.
fn stop_catching_up(fanout: &Fanout, socket: &Socket, user: Uuid) {
    let _changing = fanout.handover.changing(user);
    socket.leave(&Room::Catching(user));
    fanout.handover.stop(user, socket.id());
}
