//! Just enough HTTP/1.1 to create accounts: one request per connection.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Result<(u16, Value), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("malformed response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status")?;
    // Servers may answer chunked; the JSON object is between the first '{' and the last '}'.
    let json = match (rest.find('{'), rest.rfind('}')) {
        (Some(a), Some(b)) if b >= a => serde_json::from_str(&rest[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Ok((status, json))
}

/// A registered account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub token: String,
}

/// Registers `n` fresh accounts, `concurrency` at a time.
pub async fn register_many(
    addr: SocketAddr,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Account>, String> {
    let run = format!(
        "{:06x}",
        std::process::id()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0))
                & 0xff_ffff
    );
    let mut accounts = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let batch: Vec<_> = (next..(next + concurrency).min(n))
            .map(|i| {
                let name = format!("ld{run}_{i}");
                let body = serde_json::json!({ "username": name, "email": format!("{name}@load.test"), "password": "Secret123!" });
                tokio::spawn(async move { post_json(addr, "/api/auth/register", &body).await })
            })
            .collect();
        for task in batch {
            let (status, body) = task.await.map_err(|e| e.to_string())??;
            if status != 201 {
                return Err(format!("register answered {status}: {body}"));
            }
            let token = body["token"].as_str().ok_or("no token")?.to_owned();
            let id = body["user"]["id"].as_str().ok_or("no user id")?.to_owned();
            accounts.push(Account { id, token });
        }
        next += concurrency;
    }
    Ok(accounts)
}
