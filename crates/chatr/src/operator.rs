//! `chatr admin …`: operator commands, as a client of a server's
//! `/api/admin` with a short-lived operator token signed with the server's
//! secret. Going through a server keeps every rule in one place: a disabled
//! user's sessions are disconnected at once, on every node, and a deleted
//! account goes as its owner's own deletion would. The binary talks to the
//! server the configuration names, or starts one in-process on the same
//! data when none answers there.

use std::net::SocketAddr;

use clap::Subcommand;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer bigger than this is refused (a listing is paged well below it).
const MAX_ANSWER: usize = 16 << 20;

#[derive(Subcommand, Clone, Debug)]
pub enum AdminCommand {
    /// List accounts, or those whose username or email contains QUERY (or whose id it is).
    Users {
        query: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Create an account; a password is generated and shown when none is given.
    Create {
        username: String,
        email: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Set a new password (generated and shown when none is given); every
    /// token of the account stops working.
    ResetPassword {
        user: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable an account: no login, its sessions disconnected at once.
    Disable { user: String },
    /// Enable a disabled account again.
    Enable { user: String },
    /// Give an account the role `admin` (it may use /api/admin) or `user`.
    Role { user: String, role: String },
    /// Delete an account as its owner would (its messages become tombstones).
    Delete { user: String },
    /// Counts: accounts, messages, stored files, users online.
    Stats,
}

/// What went wrong, for an operator.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether something answers at `addr` (else the caller starts a server).
pub async fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

/// Runs `command` against the server at `addr`; returns what to print.
pub async fn run(command: &AdminCommand, addr: SocketAddr, token: &str) -> Result<String, Failed> {
    let api = Api { addr, token };
    match command {
        AdminCommand::Users { query, limit } => {
            let mut path = format!("/api/admin/users?limit={limit}");
            if let Some(q) = query {
                path.push_str(&format!("&q={}", encode(q)));
            }
            let users = api.call("GET", &path, None, 200).await?;
            let mut out = String::new();
            for u in users.as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "{}  {}  {}  {}{}\n",
                    text(u, "id"),
                    text(u, "username"),
                    text(u, "email"),
                    text(u, "role"),
                    if u["disabledAt"].is_string() {
                        "  disabled"
                    } else {
                        ""
                    }
                ));
            }
            Ok(out)
        }
        AdminCommand::Create {
            username,
            email,
            password,
        } => {
            let mut body = json!({ "username": username, "email": email });
            if let Some(p) = password {
                body["password"] = json!(p);
            }
            let made = api
                .call("POST", "/api/admin/users", Some(body), 201)
                .await?;
            let mut out = format!(
                "created {} ({})\n",
                text(&made["user"], "username"),
                text(&made["user"], "id")
            );
            if let Some(p) = made["password"].as_str() {
                out.push_str(&format!("password: {p}\n"));
            }
            Ok(out)
        }
        AdminCommand::ResetPassword { user, password } => {
            let id = api.resolve(user).await?;
            let body = password.as_ref().map(|p| json!({ "password": p }));
            let done = api
                .call(
                    "POST",
                    &format!("/api/admin/users/{id}/password"),
                    body,
                    200,
                )
                .await?;
            Ok(match done["password"].as_str() {
                Some(p) => format!("new password for {user}: {p}\n"),
                None => format!("password of {user} changed; its tokens are revoked\n"),
            })
        }
        AdminCommand::Disable { user } => {
            let id = api.resolve(user).await?;
            api.call("POST", &format!("/api/admin/users/{id}/disable"), None, 204)
                .await?;
            Ok(format!("{user} disabled; its sessions are disconnected\n"))
        }
        AdminCommand::Enable { user } => {
            let id = api.resolve(user).await?;
            api.call("POST", &format!("/api/admin/users/{id}/enable"), None, 204)
                .await?;
            Ok(format!("{user} enabled\n"))
        }
        AdminCommand::Role { user, role } => {
            let id = api.resolve(user).await?;
            api.call(
                "POST",
                &format!("/api/admin/users/{id}/role"),
                Some(json!({ "role": role })),
                204,
            )
            .await?;
            Ok(format!("{user} is now {role}\n"))
        }
        AdminCommand::Delete { user } => {
            let id = api.resolve(user).await?;
            api.call("DELETE", &format!("/api/admin/users/{id}"), None, 204)
                .await?;
            Ok(format!("{user} deleted\n"))
        }
        AdminCommand::Stats => {
            let stats = api.call("GET", "/api/admin/stats", None, 200).await?;
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&stats).unwrap_or_default()
            ))
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

struct Api<'a> {
    addr: SocketAddr,
    token: &'a str,
}

impl Api<'_> {
    /// The id of the one account whose id, username or email is `user`.
    async fn resolve(&self, user: &str) -> Result<String, Failed> {
        let found = self
            .call(
                "GET",
                &format!("/api/admin/users?limit=1000&q={}", encode(user)),
                None,
                200,
            )
            .await?;
        let exact: Vec<&Value> = found
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| {
                text(u, "id") == user
                    || text(u, "username").eq_ignore_ascii_case(user)
                    || text(u, "email").eq_ignore_ascii_case(user)
            })
            .collect();
        match exact.as_slice() {
            [one] => Ok(text(one, "id").to_owned()),
            [] => Err(Failed(format!("no account {user}"))),
            _ => Err(Failed(format!("{user} names several accounts: use the id"))),
        }
    }

    /// One HTTP/1.1 request on its own connection; the JSON answer when the
    /// status is `expect`, else the server's error message.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Result<Value, Failed> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        );
        let talk = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut answer)
                .await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(std::time::Duration::from_secs(60), talk)
            .await
            .map_err(|_| Failed(format!("{} did not answer in time", self.addr)))?
            .map_err(|e| Failed(format!("talking to {}: {e}", self.addr)))?;
        let text = String::from_utf8_lossy(&answer);
        let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failed(format!("{} answered no HTTP", self.addr)))?;
        let json: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
        if status == expect {
            return Ok(json);
        }
        let why = json["error"]
            .as_str()
            .map_or_else(|| format!("status {status}"), str::to_owned);
        Err(Failed(why))
    }
}
