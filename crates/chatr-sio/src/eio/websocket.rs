//! The WebSocket transport: the upgrade handshake, then one task per
//! connection that reads frames, runs the work they ask for, and writes what
//! the session queues. The task is a hand-written future so that an idle
//! connection is just this struct: no read buffer (reads use the stack), no
//! write buffer, no queue of its own, no timer.

use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{self, Decoder, Fed, WsError, WsMessage};
use super::packet::{self, Incoming};
use super::session::Transport;
use super::{
    BAD_REQUEST, Body, CloseReason, Dispatch, EngineInner, Frame, Handshake, Message, Protocol,
    Session, UNKNOWN_SID, Work, refuse,
};
use crate::sid::Sid;

/// Bytes read per call, on the stack: a chat event fits in one read. The
/// buffer is left uninitialised: the connection tries to read every time it
/// is woken, mostly to find nothing, and zeroing 4 KiB for each try was a
/// quarter of the instructions spent per message (docs/benchmarks.md, round 17).
const READ_CHUNK: usize = 4096;
/// The write buffer is given back once flushed if it grew beyond this.
const KEEP_WRITE_BUFFER: usize = 16 * 1024;
/// Frames stop moving from the session's queue into the write buffer while
/// this much is unwritten; the queue's own limit then decides.
const MAX_UNWRITTEN: usize = 256 * 1024;
/// How long a closing connection may take to flush its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Rounds of work per poll before the task yields to others.
const BUDGET: usize = 32;

fn header_has(req: &Request<impl Sized>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Answers a WebSocket request with `101 Switching Protocols` and starts its task.
pub(super) fn upgrade<P: Protocol, B>(
    engine: &Arc<EngineInner<P>>,
    req: &mut Request<B>,
    sid: Option<Sid>,
    handshake: Handshake,
) -> Response<Body> {
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec());
    let valid = req.method() == Method::GET
        && header_has(req, header::UPGRADE, "websocket")
        && header_has(req, header::CONNECTION, "upgrade")
        && req
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let Some(key) = key.filter(|_| valid) else {
        return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
    };
    let (session, upgrading) = match sid {
        None => (engine.open(Transport::WebSocket, handshake), false),
        Some(sid) => {
            let Some(session) = engine.session(sid) else {
                return refuse(UNKNOWN_SID.0, UNKNOWN_SID.1);
            };
            {
                let mut s = session.lock();
                if !matches!(s.transport, Transport::Polling { .. }) {
                    // Already upgraded (or upgrading): this WebSocket opens and closes at once.
                    drop(s);
                    return turn_away(req, &key);
                }
                s.transport = Transport::Upgrading;
            }
            (session, true)
        }
    };
    let on_upgrade = hyper::upgrade::on(req);
    let engine = engine.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                Connection::new(TokioIo::new(upgraded), session, engine, upgrading).await
            }
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                abandon(&session, upgrading);
            }
        }
    });
    switching(&key)
}

fn switching(key: &[u8]) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, frame::accept_key(key))
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

/// Completes the handshake, then closes the WebSocket at once.
fn turn_away<B>(req: &mut Request<B>, key: &[u8]) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            use tokio::io::AsyncWriteExt;
            let mut io = TokioIo::new(upgraded);
            let mut close = Vec::new();
            frame::encode_close(&mut close, 1000);
            let _ = io.write_all(&close).await;
            let _ = io.shutdown().await;
        }
    });
    switching(key)
}

/// A WebSocket that ends before the upgrade completes leaves a polling
/// session on polling; a session of its own ends with it.
fn abandon<P: Protocol>(session: &Arc<Session<P>>, upgrading: bool) {
    if upgrading {
        let mut s = session.lock();
        if s.transport == Transport::Upgrading {
            s.transport = Transport::Polling { waiting: false };
            return;
        }
    }
    session.close(CloseReason::TransportClose);
}

/// Everything of a connection but its reader, so that the reader's callback
/// may change it.
struct Link<P: Protocol> {
    session: Arc<Session<P>>,
    engine: Arc<EngineInner<P>>,
    wbuf: Vec<u8>,
    written: usize,
    work: Vec<Work>,
    /// Work that must finish before the next message is read.
    before: bool,
    /// Still the probe of an upgrade: the session's queue belongs to polling.
    upgrading: bool,
    /// Why the reader wants the connection closed.
    end: Option<(CloseReason, u16)>,
}

pub(crate) struct Connection<P: Protocol, IO> {
    io: IO,
    decoder: Decoder,
    link: Link<P>,
    /// The decoder holds whole frames it was asked to pause at.
    paused: bool,
    /// Set once the session is closed: the close frame's code, and the
    /// deadline for the last writes.
    closing: Option<(u16, Pin<Box<tokio::time::Sleep>>)>,
    close_written: bool,
}

impl<P: Protocol, IO> Connection<P, IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) fn new(
        io: IO,
        session: Arc<Session<P>>,
        engine: Arc<EngineInner<P>>,
        upgrading: bool,
    ) -> Self {
        let mut wbuf = Vec::new();
        if !upgrading {
            frame::encode(
                &mut wbuf,
                frame::OP_TEXT,
                &engine.open_packet(session.id(), false),
            );
        }
        Self {
            io,
            decoder: Decoder::new(engine.config.max_payload),
            link: Link {
                session,
                engine,
                wbuf,
                written: 0,
                work: Vec::new(),
                before: false,
                upgrading,
                end: None,
            },
            paused: false,
            closing: None,
            close_written: false,
        }
    }

    /// Polls every piece of work in flight; true when any finished.
    fn run_work(&mut self, cx: &mut Context<'_>) -> bool {
        let work = &mut self.link.work;
        let before = work.len();
        work.retain_mut(|w| w.as_mut().poll(cx).is_pending());
        if work.is_empty() {
            self.link.before = false;
            if work.capacity() > 4 {
                *work = Vec::new();
            }
        }
        work.len() != before
    }

    /// Moves queued frames into the write buffer; notes a closed session.
    fn take_frames(&mut self, cx: &mut Context<'_>) -> bool {
        if self.closing.is_some() || self.link.wbuf.len() - self.link.written > MAX_UNWRITTEN {
            return false;
        }
        if self.link.upgrading {
            if self.link.session.closing().is_some() {
                self.start_closing(1000);
                return true;
            }
            return false;
        }
        match self.link.session.poll_frames(cx) {
            Poll::Ready(Some(frames)) => {
                for f in frames {
                    match f {
                        Frame::Text(t) => frame::encode(&mut self.link.wbuf, frame::OP_TEXT, &t),
                        Frame::Binary(b) => {
                            frame::encode(&mut self.link.wbuf, frame::OP_BINARY, &b)
                        }
                    }
                }
                true
            }
            Poll::Ready(None) => {
                let code = match self.link.session.closing() {
                    Some(CloseReason::TooLarge) => 1009,
                    Some(CloseReason::ProtocolError) => 1002,
                    Some(CloseReason::ServerShutdown) => 1001,
                    _ => 1000,
                };
                self.start_closing(code);
                true
            }
            Poll::Pending => false,
        }
    }

    fn start_closing(&mut self, code: u16) {
        if self.closing.is_none() {
            self.closing = Some((code, Box::pin(tokio::time::sleep(CLOSE_GRACE))));
        }
    }

    /// Writes what is buffered: `Ready(true)` when something was written.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        let link = &mut self.link;
        let mut wrote = false;
        while link.written < link.wbuf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &link.wbuf[link.written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    link.written += n;
                    wrote = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if wrote => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        if link.written == link.wbuf.len() && !link.wbuf.is_empty() {
            link.written = 0;
            if link.wbuf.capacity() > KEEP_WRITE_BUFFER {
                link.wbuf = Vec::new();
            } else {
                link.wbuf.clear();
            }
        }
        Poll::Ready(Ok(wrote))
    }

    /// Reads and handles what arrived: `Ready(true)` when something did.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, (CloseReason, u16)>> {
        if self.link.before || self.link.work.len() >= self.link.engine.config.max_concurrent_events
        {
            return Poll::Ready(Ok(false));
        }
        let link = &mut self.link;
        let mut on = |m: WsMessage<'_>| link.on_message(m);
        if self.paused {
            let fed = self.decoder.feed(&mut [], &mut on);
            return Poll::Ready(self.fed(fed));
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut rb = ReadBuf::uninit(&mut buf);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err((CloseReason::TransportError, 1011))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                Poll::Ready(Err((CloseReason::TransportClose, 1000)))
            }
            Poll::Ready(Ok(())) => {
                let fed = self.decoder.feed(rb.filled_mut(), &mut on);
                Poll::Ready(self.fed(fed))
            }
        }
    }

    fn fed(&mut self, fed: Result<Fed, WsError>) -> Result<bool, (CloseReason, u16)> {
        match fed {
            Err(WsError::TooBig) => Err((CloseReason::TooLarge, 1009)),
            Err(e) => Err((CloseReason::ProtocolError, e.close_code())),
            Ok(fed) => {
                self.paused = fed == Fed::Paused;
                match self.link.end.take() {
                    Some(end) => Err(end),
                    None => Ok(true),
                }
            }
        }
    }
}

impl<P: Protocol> Link<P> {
    /// One message from the client; false to stop reading for now.
    fn on_message(&mut self, m: WsMessage<'_>) -> bool {
        match m {
            WsMessage::Ping(payload) => {
                frame::encode(&mut self.wbuf, frame::OP_PONG, payload);
                true
            }
            WsMessage::Pong => true,
            WsMessage::Close => self.stop(CloseReason::TransportClose, 1000),
            WsMessage::Binary(bytes) => self.dispatch(Message::Binary(bytes)),
            WsMessage::Text(text) => match packet::decode_text(text) {
                Err(_) => self.stop(CloseReason::ProtocolError, 1002),
                Ok(Incoming::Pong) => {
                    self.session.pong();
                    true
                }
                Ok(Incoming::Noop) => true,
                Ok(Incoming::Close) => self.stop(CloseReason::ClientClose, 1000),
                Ok(Incoming::Ping("probe")) if self.upgrading => {
                    frame::encode(&mut self.wbuf, frame::OP_TEXT, b"3probe");
                    // Ends the GET that polling may have waiting, so the
                    // client can pause polling and complete the upgrade.
                    self.session.send(Frame::NOOP);
                    true
                }
                Ok(Incoming::Upgrade) if self.upgrading => {
                    self.session.lock().transport = Transport::WebSocket;
                    self.upgrading = false;
                    true
                }
                Ok(Incoming::Text(data)) => self.dispatch(Message::Text(data)),
                Ok(_) => self.stop(CloseReason::ProtocolError, 1002),
            },
        }
    }

    fn stop(&mut self, reason: CloseReason, code: u16) -> bool {
        self.end = Some((reason, code));
        false
    }

    fn dispatch(&mut self, message: Message<'_>) -> bool {
        if self.upgrading {
            return self.stop(CloseReason::ProtocolError, 1002);
        }
        match self.engine.protocol.message(&self.session, message) {
            Ok(Dispatch::Done) => true,
            Ok(Dispatch::Run(work)) => {
                self.work.push(work);
                self.work.len() < self.engine.config.max_concurrent_events
            }
            Ok(Dispatch::Before(work)) => {
                self.work.push(work);
                self.before = true;
                false
            }
            Err(reason) => self.stop(reason, 1002),
        }
    }
}

impl<P: Protocol, IO> Future for Connection<P, IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..BUDGET {
            let mut progress = this.run_work(cx);
            progress |= this.take_frames(cx);
            match this.flush(cx) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                Poll::Ready(Err(_)) => {
                    this.finish(CloseReason::TransportError);
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            if let Some((code, deadline)) = &mut this.closing {
                if this.link.written == this.link.wbuf.len() && !this.close_written {
                    frame::encode_close(&mut this.link.wbuf, *code);
                    this.close_written = true;
                    continue;
                }
                if this.link.written == this.link.wbuf.len()
                    || deadline.as_mut().poll(cx).is_ready()
                {
                    // Half-close so the client sees the end after the close frame.
                    let _ = Pin::new(&mut this.io).poll_shutdown(cx);
                    this.finish(CloseReason::ServerClose);
                    return Poll::Ready(());
                }
                if !progress {
                    return Poll::Pending;
                }
                continue;
            }
            match this.read(cx) {
                Poll::Ready(Ok(read)) => progress |= read,
                Poll::Ready(Err(_)) if this.link.upgrading => {
                    abandon(&this.link.session, true);
                    return Poll::Ready(());
                }
                Poll::Ready(Err((reason, code))) => {
                    // The session hears why; the client gets a close frame if it still listens.
                    this.link.session.close(reason);
                    this.start_closing(code);
                    progress = true;
                }
                Poll::Pending => {}
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<P: Protocol, IO> Drop for Connection<P, IO> {
    /// Work a message started finishes even when its connection is gone: a
    /// connect half done (the application counted the session) must reach
    /// the point where the application hears the session ended.
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for work in self.link.work.drain(..) {
            runtime.spawn(work);
        }
    }
}

impl<P: Protocol, IO> Connection<P, IO> {
    /// The connection is over: the session ends too (a no-op if it already has).
    fn finish(&mut self, reason: CloseReason) {
        abandon_or_close(&self.link.session, self.link.upgrading, reason);
    }
}

fn abandon_or_close<P: Protocol>(session: &Arc<Session<P>>, upgrading: bool, reason: CloseReason) {
    if upgrading && session.closing().is_none() {
        abandon(session, true);
    } else {
        session.close(reason);
    }
}
