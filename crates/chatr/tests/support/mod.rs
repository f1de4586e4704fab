//! Test support: a real server on port 0 with its own data dir, and minimal
//! clients that speak HTTP/1.1 and Engine.IO v4 / Socket.IO v5 over WebSocket
//! the way any client does.
#![allow(dead_code, clippy::unwrap_used)]

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{Mutex, mpsc, oneshot},
};
use tokio_tungstenite::tungstenite::Message as Frame;

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The database the server uses (SQLite in the data dir, or PostgreSQL).
    pub database_url: String,
    running: Option<chatr::Running>,
    _dir: Option<tempfile::TempDir>,
}

/// With `CHATR_TEST_POSTGRES` (a server URL, set by `scripts/with-postgres.sh`)
/// each data dir gets its own PostgreSQL database, created on first use, so a
/// restarted server finds its data again; without it the server uses SQLite.
async fn postgres_database_for(data_dir: &std::path::Path) -> Option<String> {
    use sqlx::{Connection, Executor};
    let base = std::env::var("CHATR_TEST_POSTGRES").ok()?;
    let name: String = data_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("t_{name}");
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    let exists: Option<(i32,)> = sqlx::query_as("select 1 from pg_database where datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        admin
            .execute(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
            .await
            .unwrap();
    }
    Some(format!("{base}/{name}"))
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(dir.path().to_path_buf()).await;
        server._dir = Some(dir);
        server
    }

    pub async fn start_in(data_dir: PathBuf) -> Self {
        let mut config = chatr::Config::for_tests(data_dir.clone());
        config.jwt_secret = Some("an-integration-test-secret-of-32-bytes-or-more".into());
        config.database_url = postgres_database_for(&data_dir).await;
        let database_url = config.database_url();
        let running = chatr::start(config, std::future::pending()).await.unwrap();
        Self {
            addr: running.addr,
            data_dir,
            database_url,
            running: Some(running),
            _dir: None,
        }
    }

    /// Graceful stop; the data dir stays (for restarts) when it was given.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        self.running.take().unwrap().stop().await.unwrap();
        self._dir.take()
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        http(self.addr, method, path, token, body).await
    }

    /// Registers a fresh user: (token, user id).
    pub async fn register(&self, name: &str) -> (String, String) {
        let username = format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (status, body) = self
            .http(
                "POST",
                "/api/auth/register",
                None,
                Some(json!({ "username": username, "email": format!("{username}@example.com"), "password": "Secret123" })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["token"].as_str().unwrap().to_owned(),
            body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Deletes the account `token` signs in as, with the password `register` gave it.
    pub async fn delete_account(&self, token: &str) {
        let (status, body) = self
            .http(
                "DELETE",
                "/api/users/me",
                Some(token),
                Some(json!({ "password": "Secret123" })),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    /// A connection of its own to the server's database, behind its back.
    async fn database(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap()
    }

    /// Runs one statement on the server's database.
    pub async fn execute(&self, sql: &str, bind: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(bind.to_owned())
            .execute(&mut self.database().await)
            .await
            .unwrap();
    }

    /// Runs statements without parameters on the server's database.
    pub async fn execute_batch(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut self.database().await)
            .await
            .unwrap();
    }

    /// The first column of the one row `sql` returns, as a number.
    pub async fn count(&self, sql: &str, bind: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(bind.to_owned())
            .fetch_one(&mut self.database().await)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    pub async fn connect(&self, token: &str) -> Client {
        Client::connect(self.addr, token).await.unwrap()
    }
}

/// One HTTP/1.1 request with `Connection: close`; the body parsed as JSON (or `Null`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

type Acks = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A Socket.IO client over a raw WebSocket.
pub struct Client {
    out: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    acks: Acks,
    next_ack: u64,
}

impl Client {
    /// Connects and authenticates; `Err` carries the `connect_error` message.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<Self, String> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = ws.split();
        let open = next_text(&mut stream).await?;
        assert!(open.starts_with('0'), "{open}");
        sink.send(Frame::text(format!("40{}", json!({ "token": token }))))
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = next_text(&mut stream).await?;
        while reply == "2" {
            sink.send(Frame::text("3"))
                .await
                .map_err(|e| e.to_string())?;
            reply = next_text(&mut stream).await?;
        }
        if let Some(err) = reply.strip_prefix("44") {
            let v: Value = serde_json::from_str(err).unwrap_or_default();
            return Err(v["message"].as_str().unwrap_or_default().to_owned());
        }
        assert!(reply.starts_with("40"), "{reply}");

        let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let acks: Acks = Arc::default();
        tokio::spawn(async move {
            while let Some(text) = outgoing.recv().await {
                if sink.send(Frame::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (pong, reader_acks) = (out.clone(), acks.clone());
        tokio::spawn(async move {
            while let Ok(text) = next_text(&mut stream).await {
                if text == "2" {
                    let _ = pong.send("3".into());
                } else if let Some(rest) = text.strip_prefix("42") {
                    if let Ok(Value::Array(mut parts)) = serde_json::from_str::<Value>(rest) {
                        let name = parts
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let payload = if parts.len() > 1 {
                            parts.swap_remove(1)
                        } else {
                            Value::Null
                        };
                        let _ = events_tx.send((name, payload));
                    }
                } else if let Some(rest) = text.strip_prefix("43") {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let id: u64 = digits.parse().unwrap_or_default();
                    let args: Value =
                        serde_json::from_str(&rest[digits.len()..]).unwrap_or_default();
                    if let Some(tx) = reader_acks.lock().await.remove(&id) {
                        let _ = tx.send(args[0].clone());
                    }
                }
            }
        });
        Ok(Self {
            out,
            events,
            acks,
            next_ack: 0,
        })
    }

    /// Emits and waits for the acknowledgement.
    pub async fn emit_ack(&mut self, event: &str, payload: Value) -> Value {
        let rx = self.emit_with_ack(event, payload).await;
        tokio::time::timeout(TIMEOUT, rx)
            .await
            .expect("ack timed out")
            .expect("connection closed")
    }

    /// Emits, waits for the acknowledgement and checks that it says `ok`.
    pub async fn emit_ok(&mut self, event: &str, payload: Value) -> Value {
        let ack = self.emit_ack(event, payload).await;
        assert_eq!(ack["ok"], true, "{ack}");
        ack
    }

    /// Emits and returns the pending acknowledgement.
    pub async fn emit_with_ack(&mut self, event: &str, payload: Value) -> oneshot::Receiver<Value> {
        self.next_ack += 1;
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(self.next_ack, tx);
        self.out
            .send(format!("42{}{}", self.next_ack, json!([event, payload])))
            .unwrap();
        rx
    }

    /// The next event named `event`, skipping others.
    pub async fn next_event(&mut self, event: &str) -> Value {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                let (name, payload) = self.events.recv().await.expect("connection closed");
                if name == event {
                    return payload;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {event} within {TIMEOUT:?}"))
    }
}

async fn next_text<S>(stream: &mut S) -> Result<String, String>
where
    S: StreamExt<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Frame::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Frame::Close(_))) | None => return Err("closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}
