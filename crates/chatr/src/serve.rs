//! Accepting connections: one hyper HTTP/1.1 connection per TCP connection,
//! Socket.IO's endpoint handed to the engine and everything else to the
//! router. Here live the limits a stranger meets before any handler: a cap
//! on open connections (a WebSocket keeps its slot for as long as it lives),
//! a deadline for a request's headers that also closes idle keep-alive
//! connections, and TCP_NODELAY for small frames.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use chatr_sio::ClientAddr;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::CorsLayer;

use crate::realtime::Io;

/// What the accept loop enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections, WebSockets included; past it new ones are closed at once.
    pub max_connections: usize,
    /// Time a client has for a request's headers, and the longest a
    /// keep-alive connection may sit idle.
    pub header_timeout: Duration,
    /// A request body must bring at least [`MIN_BODY_BYTES`] in every such
    /// window, or it is cut off: a minimum rate, not a total time, so a
    /// large upload over a slow link goes on for as long as it moves.
    pub body_window: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<crate::proxies::Net>>,
    /// The most of a refused request's body read after the answer (the
    /// largest body a route accepts): see [`settle_body`].
    pub linger_bytes: u64,
}

/// See [`Limits::body_window`].
pub const MIN_BODY_BYTES: usize = 1024;
/// A refused request's unread body this small is read before the answer
/// goes (see [`settle_body`]).
const DRAIN_BYTES: u64 = 1 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// The longest a larger one is read after the answer (nginx's
/// `lingering_time`); the minimum rate of [`Limits::body_window`] holds too.
const LINGER_TIME: Duration = Duration::from_secs(30);
/// Bodies read after their answer at once; past it a refused body's
/// connection is closed at once, so that strangers with refused uploads
/// cannot keep the server reading without end.
const LINGERING_MAX: usize = 64;

/// What reading a refused body after its answer may take (see [`settle_body`]).
#[derive(Clone)]
struct Linger {
    most: u64,
    slots: Arc<Semaphore>,
}

/// What [`GuardedBody`] shares with the connection's entry.
struct Guard {
    body: Option<Incoming>,
    finished: bool,
    window: Duration,
    window_bytes: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// A request body held to the minimum rate; the entry keeps a handle on it
/// to drain what a handler left unread.
#[derive(Clone)]
pub struct GuardedBody(Arc<std::sync::Mutex<Guard>>);

#[derive(Debug)]
struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for TooSlow {}

impl GuardedBody {
    fn new(body: Incoming, window: Duration) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Guard {
            body: Some(body),
            finished: false,
            window,
            window_bytes: 0,
            deadline: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once nothing of the body is left to read: read to its end,
    /// dropped, or empty from the start (a `GET`).
    fn finished(&self) -> bool {
        let g = self.lock();
        g.finished || g.body.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(body) = g.body.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    g.window_bytes += data.len();
                    if g.window_bytes >= MIN_BODY_BYTES {
                        g.window_bytes = 0;
                        if let Some(d) = &mut g.deadline {
                            d.as_mut().reset(tokio::time::Instant::now() + g.window);
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                g.body = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                g.finished = true;
                g.body = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let window = g.window;
                let deadline = g
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(window)));
                if deadline.as_mut().poll(cx).is_ready() {
                    g.body = None;
                    return Poll::Ready(Some(Err(Box::new(TooSlow))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let g = self.lock();
        g.body.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.lock()
            .body
            .as_ref()
            .map(hyper::body::Body::size_hint)
            .unwrap_or_default()
    }
}

/// After a refusal that came before the body was read (a `401` or a quota's
/// `413` on an upload, say). Closing with the body unread makes the kernel
/// answer the client's next segments with a reset, and the client, its send
/// broken, often never reads the answer waiting for it. So a small body is
/// read before the answer goes, and the connection is kept. A larger one
/// gets the answer at once, with `Connection: close`, and is read to its end
/// in the background, like nginx's lingering close: at most `linger.most`
/// bytes, for at most [`LINGER_TIME`], at the minimum rate, and at most
/// [`LINGERING_MAX`] bodies at once. Past any of those the connection is
/// closed as before.
async fn settle_body(mut body: GuardedBody, linger: &Linger, response: &mut Response) {
    if body.finished() {
        return;
    }
    // What is left of a body with a `Content-Length` (hyper counts it down).
    let left = hyper::body::Body::size_hint(&body).upper();
    if left.is_some_and(|n| n <= DRAIN_BYTES) && drain(&mut body, DRAIN_BYTES, DRAIN_TIME).await {
        return;
    }
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    // The connection goes on reading for as long as this task holds the
    // body; dropping it lets hyper close.
    if let Ok(slot) = linger.slots.clone().try_acquire_owned() {
        let most = linger.most;
        tokio::spawn(async move {
            drain(&mut body, most, LINGER_TIME).await;
            drop(slot);
        });
    }
}

/// Reads and drops a body to its end; false if it ended in an error, was
/// longer than `most` or took longer than `time`.
async fn drain(body: &mut GuardedBody, most: u64, time: Duration) -> bool {
    use http_body_util::BodyExt;
    let mut left = most;
    tokio::time::timeout(time, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            let len = frame.data_ref().map_or(0, |d| d.len() as u64);
            let Some(rest) = left.checked_sub(len) else {
                return false;
            };
            left = rest;
        }
        true
    })
    .await
    .unwrap_or(false)
}

/// A connection together with its slot under the cap: the slot goes when
/// the connection does, after an upgrade too (the engine keeps this stream).
struct Slotted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// One connection's entry: Socket.IO to the engine, the rest to the router.
#[derive(Clone)]
struct Entry<S> {
    router: S,
    io: Io,
    peer: SocketAddr,
    body_window: Duration,
    trusted_proxies: Arc<Vec<crate::proxies::Net>>,
    linger: Linger,
    /// `Keep-Alive: timeout=…`: tells clients how long an idle connection
    /// stays open, so that they stop reusing it before the server closes it
    /// (otherwise a request sent just as it closes fails on the client).
    keep_alive: HeaderValue,
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Not on an upgrade, nor on an answer that closes its connection.
fn announce_keep_alive(response: &mut Response, keep_alive: &HeaderValue) {
    let closing = response
        .headers()
        .get(axum::http::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    if response.status() != StatusCode::SWITCHING_PROTOCOLS && !closing {
        response
            .headers_mut()
            .entry(KEEP_ALIVE)
            .or_insert_with(|| keep_alive.clone());
    }
}

impl<S> Service<Request<Incoming>> for Entry<S>
where
    S: Service<Request<GuardedBody>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        // The client's address, which throttles key on: the TCP peer, or,
        // behind a trusted proxy, whom `X-Forwarded-For` names.
        let client = crate::proxies::client(self.peer.ip(), req.headers(), &self.trusted_proxies);
        req.extensions_mut().insert(ClientAddr(client));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let keep_alive = self.keep_alive.clone();
        if self.io.serves(req.uri().path()) {
            let io = self.io.clone();
            return Box::pin(async move {
                let mut response = io.handle(req).await.map(Body::new);
                announce_keep_alive(&mut response, &keep_alive);
                Ok(response)
            });
        }
        let router = self.router.clone();
        let (parts, body) = req.into_parts();
        let body = GuardedBody::new(body, self.body_window);
        let req = Request::from_parts(parts, body.clone());
        let linger = self.linger.clone();
        Box::pin(async move {
            let Ok(mut response) = router.oneshot(req).await;
            if response.status().is_client_error() || response.status().is_server_error() {
                settle_body(body, &linger, &mut response).await;
            }
            announce_keep_alive(&mut response, &keep_alive);
            Ok(response)
        })
    }
}

/// Serves until `shutdown` completes, then stops accepting, asks open HTTP
/// connections to finish (at most `drain`), and returns. `cors` covers the
/// router and the Socket.IO endpoint alike.
#[allow(clippy::too_many_arguments)]
pub async fn serve<S>(
    listener: TcpListener,
    router: S,
    io: Io,
    cors: CorsLayer,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    S: Service<Request<GuardedBody>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let linger = Linger {
        most: limits.linger_bytes,
        slots: Arc::new(Semaphore::new(LINGERING_MAX)),
    };
    // Tells open HTTP connections to finish; each task holds a clone of
    // `open`, so its count says how many are left.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(());
    let mut refused_logged = false;
    let keep_alive = HeaderValue::from_str(&format!(
        "timeout={}",
        limits.header_timeout.as_secs().max(1)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("timeout=5"));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: back off a moment.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached: closing new connections"
                );
                refused_logged = true;
            }
            drop(tcp);
            continue;
        };
        refused_logged = false;
        // Socket.IO frames are small: without TCP_NODELAY, Nagle's algorithm
        // and delayed ACKs held acknowledgements back by ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let entry = Entry {
            router: router.clone(),
            io: io.clone(),
            peer,
            body_window: limits.body_window,
            trusted_proxies: limits.trusted_proxies.clone(),
            linger: linger.clone(),
            keep_alive: keep_alive.clone(),
        };
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(
                TokioIo::new(Slotted { tcp, _slot: slot }),
                TowerToHyperService::new(cors.layer(entry)),
            )
            .with_upgrades();
        let (mut closing, open) = (closing_rx.clone(), open.clone());
        tokio::spawn(async move {
            let _open = open;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let deadline = tokio::time::Instant::now() + drain;
    while Arc::strong_count(&open) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
