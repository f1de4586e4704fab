//! `conns` and `storm`: many idle authenticated sessions; what each costs the
//! server, and how fast they all come back after dropping at once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::http::Account;
use crate::proc::{self, CpuWindow};
use crate::sio::{self, Conn, Handler, Incoming};

/// Opens `n` sessions over `accounts` (round robin), at most `parallel`
/// handshakes in flight at any moment: a sliding window, so one slow
/// handshake does not hold back the others the way waiting for a whole
/// batch would (clients reconnecting after an outage do not wait for each other).
async fn open(
    server: SocketAddr,
    accounts: &[Account],
    range: std::ops::Range<usize>,
    parallel: usize,
    handler: &Handler,
) -> (Vec<Option<Conn>>, u64) {
    let window = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let tasks: Vec<_> = range
        .map(|i| {
            let token = accounts[i % accounts.len()].token.clone();
            let (handler, window) = (handler.clone(), window.clone());
            tokio::spawn(async move {
                let _slot = window.acquire_owned().await.ok()?;
                sio::connect(server, sio::source_address(i), &token, i, handler)
                    .await
                    .ok()
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(tasks.len());
    let mut failures = 0;
    for t in tasks {
        let conn = t.await.ok().flatten();
        failures += u64::from(conn.is_none());
        conns.push(conn);
    }
    (conns, failures)
}

fn ignore() -> Handler {
    Arc::new(|_, _| {})
}

pub async fn conns(
    server: SocketAddr,
    pid: Option<&str>,
    accounts: &[Account],
    n: usize,
    half: usize,
    parallel: usize,
) {
    let rss = || pid.and_then(proc::rss_bytes);
    let base = rss();
    let handler = ignore();
    let cpu = CpuWindow::start(pid);
    let started = Instant::now();
    let (mut all, mut failures) = open(server, accounts, 0..half, parallel, &handler).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_half = rss();
    let (rest, f2) = open(server, accounts, half..n, parallel, &handler).await;
    let elapsed = started.elapsed();
    all.extend(rest);
    failures += f2;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_full = rss();
    let used = cpu.stop();
    let connected = all.iter().flatten().count();
    let slope = match (at_half, at_full) {
        (Some(a), Some(b)) if n > half && b >= a => Some((b - a) as f64 / (n - half) as f64),
        _ => None,
    };
    let rate = connected as f64 / elapsed.as_secs_f64();
    let cpu_per = used
        .server
        .map(|d| d.as_micros() as f64 / connected.max(1) as f64);
    println!(
        "conns: {connected} sessions connected in {:.2}s ({rate:.0}/s), {failures} failed",
        elapsed.as_secs_f64()
    );
    let mb = |b: Option<u64>| b.map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6));
    println!(
        "  server RSS: before {}, at {half} {}, at {n} {}",
        mb(base),
        mb(at_half),
        mb(at_full)
    );
    if let Some(s) = slope {
        println!(
            "  server RSS per idle session (slope): {:.2} KiB",
            s / 1024.0
        );
    }
    if let Some(c) = cpu_per {
        println!("  server CPU per connect: {c:.0} µs");
    }
    println!(
        "RESULT {}",
        json!({ "scenario": "conns", "sessions": connected, "failed": failures, "connect_per_s": rate,
                "rss_per_session_kib": slope.map(|s| s / 1024.0), "rss_bytes": at_full, "server_cpu_us_per_connect": cpu_per })
    );
    for c in all.iter().flatten() {
        c.close();
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    id: &'a str,
    content: &'a str,
}

/// All sessions drop at once and reconnect; meanwhile a sender writes to
/// their users, and every one of those messages must arrive.
pub async fn storm(
    server: SocketAddr,
    pid: Option<&str>,
    accounts: &[Account],
    n: usize,
    parallel: usize,
    messages: usize,
) {
    let (sender, users) = accounts
        .split_first()
        .unwrap_or_else(|| unreachable!("at least two accounts"));
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let closed = Arc::new(AtomicU64::new(0));
    let handler: Handler = {
        let (seen, closed) = (seen.clone(), closed.clone());
        Arc::new(move |_, incoming| match incoming {
            Incoming::Event("message:received", payload) => {
                if let Ok(m) = serde_json::from_str::<IdOnly<'_>>(payload.get())
                    && m.content.starts_with("storm ")
                {
                    seen.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(m.id.to_owned());
                }
            }
            Incoming::Closed => {
                closed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        })
    };
    let (before, f0) = open(server, users, 0..n, parallel, &handler).await;
    println!(
        "storm: {} sessions up ({f0} failed), dropping them all",
        before.iter().flatten().count()
    );
    let sender_conn = match sio::connect(
        server,
        sio::source_address(n + 1),
        &sender.token,
        0,
        ignore(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            println!("storm: sender could not connect: {e}");
            return;
        }
    };
    let cpu = CpuWindow::start(pid);
    let dropped = before.iter().flatten().count() as u64;
    for c in before.iter().flatten() {
        c.close();
    }
    // The sessions are gone once the server has answered every close: a
    // reconnect that raced its own user's close would still find the old
    // session counted against the per-user cap and be refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed.load(Ordering::Relaxed) < dropped && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    // Messages written while everyone is away must all arrive after the storm.
    for i in 0..messages {
        let to = &users[i % users.len()].id;
        sender_conn.send(format!(
            "42[\"message:send\",{{\"recipientId\":\"{to}\",\"content\":\"storm {i}\"}}]"
        ));
    }
    let (after, failed) = open(server, users, 0..n, parallel, &handler).await;
    let back = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap_or_else(|p| p.into_inner()).len() < messages
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let used = cpu.stop();
    let got = seen.lock().unwrap_or_else(|p| p.into_inner()).len();
    let reconnected = after.iter().flatten().count();
    println!(
        "  {reconnected}/{n} back in {:.2}s, {failed} failed handshakes; {got}/{messages} messages sent meanwhile arrived",
        back.as_secs_f64()
    );
    if let Some(cpu) = used.server {
        println!("  server CPU during the storm: {:.2}s", cpu.as_secs_f64());
    }
    println!(
        "RESULT {}",
        json!({ "scenario": "storm", "sessions": n, "reconnected": reconnected, "seconds": back.as_secs_f64(),
                "failed": failed, "messages": messages, "lost": messages.saturating_sub(got) })
    );
    sender_conn.close();
    for c in after.iter().flatten() {
        c.close();
    }
}
