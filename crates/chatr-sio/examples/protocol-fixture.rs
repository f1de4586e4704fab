//! The fixture server the official protocol test suites expect on port 3000
//! (`../shared/protocol-suites/*/FIXTURE.md`): ping interval 300 ms, timeout
//! 200 ms, `maxPayload` 1,000,000, connect timeout 1 s.
//!
//! - `/engine.io/`: bare Engine.IO; every message is echoed back.
//! - `/socket.io/`: Socket.IO with the `/` and `/custom` namespaces; each
//!   socket is sent `auth` with its handshake's auth payload; `message` is
//!   answered with `message-back` and the same arguments, and
//!   `message-with-ack` is acknowledged with them.
//!
//! `cargo run --release --example protocol-fixture` (`PORT` overrides 3000).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatr_sio::eio::{CloseReason, Dispatch, Engine, Frame, Message, Protocol, Session};
use chatr_sio::{Config, ConnectError, DisconnectReason, Event, Handler, Io, Socket};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

struct Echo;

impl Protocol for Echo {
    type State = ();

    fn message(
        &self,
        session: &Arc<Session<Self>>,
        message: Message<'_>,
    ) -> Result<Dispatch, CloseReason> {
        let frame = match message {
            Message::Text(text) => Frame::Text(Bytes::from(format!("4{text}"))),
            Message::Binary(bytes) => Frame::Binary(Bytes::copy_from_slice(bytes)),
        };
        session.send(frame);
        Ok(Dispatch::Done)
    }

    fn closed(&self, _: &Arc<Session<Self>>, _: CloseReason) {}
}

struct Fixture;

impl Handler for Fixture {
    type Data = serde_json::Value;
    type Room = String;

    fn connect(
        &self,
        _socket: Socket<Self>,
        auth: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<Self::Data, ConnectError>> + Send + 'static {
        std::future::ready(Ok(auth.unwrap_or_else(|| serde_json::json!({}))))
    }

    fn connected(&self, socket: Socket<Self>) -> impl Future<Output = ()> + Send + 'static {
        send_auth(socket)
    }

    fn event(
        &self,
        socket: Socket<Self>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        if socket.namespace() == "/" {
            match (event.name.as_str(), event.ack) {
                ("message", _) => {
                    let packet = socket.nsp().event_raw(
                        "message-back",
                        event.raw_args(),
                        event.attachments.clone(),
                    );
                    socket.send(&packet);
                }
                ("message-with-ack", Some(id)) => {
                    socket.ack_raw(id, event.raw_args(), event.attachments.clone());
                }
                _ => {}
            }
        }
        std::future::ready(())
    }

    fn disconnected(
        &self,
        _: Socket<Self>,
        _: DisconnectReason,
    ) -> impl Future<Output = ()> + Send + 'static {
        std::future::ready(())
    }
}

/// The suite reads the CONNECT reply and then waits for `auth` with a
/// listener added only after the reply was handled, so the two must not
/// arrive in one read (its README calls this a race in the suite; the
/// reference server's write callbacks happen to space them). The engine
/// writes whatever is queued together, so the fixture emits `auth` a moment
/// later.
async fn send_auth(socket: Socket<Fixture>) {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if let Some(auth) = socket.data() {
        socket.emit("auth", auth);
    }
}

fn config(path: &str) -> Config {
    Config {
        path: path.into(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        connect_timeout: Duration::from_millis(1000),
        ..Config::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let io = Io::new(
        config("/socket.io/"),
        Fixture,
        &["/", "/custom"],
        Vec::new(),
    );
    let engine = Engine::new(config("/engine.io/"), Echo, Vec::new());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("protocol fixture listening on http://127.0.0.1:{port}");
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (io, engine) = (io.clone(), engine.clone());
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (io, engine) = (io.clone(), engine.clone());
            async move {
                let path = req.uri().path();
                let response = if io.serves(path) {
                    io.handle(req).await
                } else if engine.serves(path) {
                    engine.handle(req).await
                } else {
                    hyper::Response::builder()
                        .status(404)
                        .body(http_body_util::Full::new(Bytes::from_static(b"not found")))
                        .unwrap_or_default()
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
