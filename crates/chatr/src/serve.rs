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
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections, WebSockets included; past it new ones are closed at once.
    pub max_connections: usize,
    /// Time a client has for a request's headers, and the longest a
    /// keep-alive connection may sit idle.
    pub header_timeout: Duration,
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
}

impl<S> Service<Request<Incoming>> for Entry<S>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ClientAddr(self.peer.ip()));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        if self.io.serves(req.uri().path()) {
            let io = self.io.clone();
            Box::pin(async move { Ok(io.handle(req).await.map(Body::new)) })
        } else {
            let router = self.router.clone();
            Box::pin(router.oneshot(req))
        }
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
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Tells open HTTP connections to finish; each task holds a clone of
    // `open`, so its count says how many are left.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(());
    let mut refused_logged = false;
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
