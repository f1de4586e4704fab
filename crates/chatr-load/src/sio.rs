//! A Socket.IO v5 client over a raw Engine.IO v4 WebSocket: the open packet,
//! `40{auth}`, `42[…]` events, `42N`/`43N` acks, and answers to pings. Kept
//! minimal so that the tool's own cost per message stays small.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::value::RawValue;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const READ_BUFFER_BYTES: usize = 4096;

/// What a connection hands to its owner.
pub enum Incoming<'a> {
    Event(&'a str, &'a RawValue),
    Ack(u64, &'a RawValue),
    Closed,
}

pub type Handler = Arc<dyn Fn(usize, Incoming<'_>) + Send + Sync>;

/// A connected session. Dropping it closes the connection.
#[derive(Clone)]
pub struct Conn {
    out: mpsc::UnboundedSender<String>,
}

impl Conn {
    /// Sends a raw Socket.IO packet (e.g. `42["event",{…}]`).
    pub fn send(&self, packet: String) -> bool {
        self.out.send(packet).is_ok()
    }

    pub fn close(&self) {
        let _ = self.out.send(String::new());
    }
}

/// Connects from `source` (a 127.0.0.x address spreads ports), authenticates
/// with `token`, and runs the connection in background tasks that call
/// `handler(index, …)` for every event and ack.
pub async fn connect(
    server: SocketAddr,
    source: IpAddr,
    token: &str,
    index: usize,
    handler: Handler,
) -> Result<Conn, String> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let stream = socket.connect(server).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let url = format!("ws://{server}/socket.io/?EIO=4&transport=websocket");
    // tungstenite zero-fills its read buffer up to this size before every
    // read: at the default 128 KiB that memset was 28 % of the tool's CPU.
    // Frames larger than this still arrive whole; the buffer grows for them.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();

    let text = next_text(&mut stream)
        .await
        .ok_or("closed before the open packet")?;
    if !text.starts_with('0') {
        return Err(format!("unexpected open packet {text}"));
    }
    let auth = serde_json::json!({ "token": token });
    sink.send(Frame::text(format!("40{auth}")))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let text = next_text(&mut stream)
            .await
            .ok_or("closed during the handshake")?;
        if text == "2" {
            sink.send(Frame::text("3"))
                .await
                .map_err(|e| e.to_string())?;
        } else if text.starts_with("40") {
            break;
        } else if let Some(err) = text.strip_prefix("44") {
            return Err(format!("refused: {err}"));
        }
    }

    let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(packet) = outgoing.recv().await {
            if packet.is_empty() {
                break;
            }
            if sink.send(Frame::text(packet)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let pong = out.clone();
    tokio::spawn(async move {
        while let Some(text) = next_text(&mut stream).await {
            if text == "2" {
                let _ = pong.send("3".to_owned());
            } else if let Some(rest) = text.strip_prefix("42") {
                if let Ok((name, payload)) = serde_json::from_str::<(&str, &RawValue)>(rest) {
                    handler(index, Incoming::Event(name, payload));
                }
            } else if let Some(rest) = text.strip_prefix("43") {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                if let (Ok(id), Ok((payload,))) = (
                    rest[..digits].parse::<u64>(),
                    serde_json::from_str::<(&RawValue,)>(&rest[digits..]),
                ) {
                    handler(index, Incoming::Ack(id, payload));
                }
            }
        }
        handler(index, Incoming::Closed);
    });
    Ok(Conn { out })
}

async fn next_text<S>(stream: &mut S) -> Option<String>
where
    S: StreamExt<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await? {
            Ok(Frame::Text(t)) => return Some(t.to_string()),
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// 127.0.0.1 … 127.0.0.250, so that many sessions do not exhaust one address's ports.
pub fn source_address(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 1 + (i % 250) as u8])
}
