//! `chat` and `ramp`: pairs of sessions, an open-loop schedule of
//! `message:send`, recipients acknowledging `message:delivered`. Latency is
//! measured from the moment a message was *scheduled*, so a server that falls
//! behind cannot hide it (no coordinated omission).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;

use crate::http::Account;
use crate::proc::CpuWindow;
use crate::sio::{self, Conn, Handler, Incoming};
use crate::timer::FineTimer;

#[derive(Deserialize)]
struct Received<'a> {
    id: &'a str,
    #[serde(rename = "senderId")]
    sender_id: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(rename = "messageId")]
    message_id: &'a str,
    status: &'a str,
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: &'a str,
}

#[derive(Deserialize)]
struct SendAck<'a> {
    ok: bool,
    #[serde(borrow)]
    message: Option<IdOnly<'a>>,
}

struct Shared {
    epoch: Instant,
    /// Scheduled send time of each message (ns since `epoch`), by sequence number.
    intended: Vec<AtomicU64>,
    id_to_seq: Mutex<HashMap<Box<str>, u64>>,
    histograms: Mutex<(Histogram<u64>, Histogram<u64>)>,
    /// Messages before this sequence number are warm-up: counted, not timed.
    timed_from: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
    received: AtomicU64,
    confirmed: AtomicU64,
    recipients: OnceLock<Vec<Conn>>,
}

impl Shared {
    fn latency_us(&self, seq: u64) -> Option<u64> {
        let intended = self.intended.get(seq as usize)?.load(Ordering::Relaxed);
        let now = self.epoch.elapsed().as_nanos() as u64;
        Some(now.saturating_sub(intended) / 1000)
    }

    fn record(&self, seq: u64, delivered: bool) {
        if seq < self.timed_from.load(Ordering::Relaxed) {
            return;
        }
        if let Some(us) = self.latency_us(seq) {
            let mut h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
            let hist = if delivered { &mut h.1 } else { &mut h.0 };
            let _ = hist.record(us.max(1));
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// One run's sends, each at its time (see `timer`).
struct Schedule {
    shared: Arc<Shared>,
    senders: Vec<Conn>,
    recipient_ids: Vec<String>,
    first: u64,
    last: u64,
    start_ns: u64,
    ns_per_msg: f64,
}

impl Schedule {
    fn due(&self, seq: u64) -> u64 {
        self.start_ns + ((seq - self.first) as f64 * self.ns_per_msg) as u64
    }

    /// Sends every message at (or as soon as possible after) its time; returns
    /// how late the tool was to each timed one.
    async fn run(self) -> Histogram<u64> {
        let timer = FineTimer::new();
        let s = &self.shared;
        let timed_from = s.timed_from.load(Ordering::Relaxed);
        let pairs = self.senders.len() as u64;
        let mut lag = histogram();
        let mut seq = self.first;
        while seq < self.last {
            let now = s.epoch.elapsed().as_nanos() as u64;
            while seq < self.last {
                let intended = self.due(seq);
                if intended > now {
                    break;
                }
                s.intended[seq as usize].store(intended, Ordering::Relaxed);
                if seq >= timed_from {
                    let _ = lag.record(((now - intended) / 1000).max(1));
                }
                let pair = (seq % pairs) as usize;
                self.senders[pair].send(format!(
                    "42{seq}[\"message:send\",{{\"recipientId\":\"{}\",\"content\":\"{seq}\"}}]",
                    self.recipient_ids[pair]
                ));
                seq += 1;
            }
            if seq < self.last {
                let now = s.epoch.elapsed().as_nanos() as u64;
                let wait = Duration::from_nanos(self.due(seq).saturating_sub(now));
                let fine = match &timer {
                    Ok(t) => t.sleep(wait).await.is_ok(),
                    Err(_) => false,
                };
                if !fine {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        lag
    }
}

/// Connected pairs, reusable for several runs (the ramp).
pub struct Rig {
    shared: Arc<Shared>,
    senders: Vec<Conn>,
    recipient_ids: Vec<String>,
    next_seq: u64,
}

pub struct RunResult {
    pub rate: f64,
    pub seconds: f64,
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    pub received: u64,
    pub confirmed: u64,
    pub lost: u64,
    pub received_us: [u64; 4],
    pub delivered_us: [u64; 4],
    /// How late the tool itself handed messages to their connections (p50,
    /// p99): part of every latency above, and not the server's.
    pub lag_us: [u64; 2],
    pub server_cpu_us_per_msg: Option<f64>,
    pub own_cpu_us_per_msg: Option<f64>,
}

impl RunResult {
    pub fn clean(&self, p99_limit_us: u64) -> bool {
        self.lost == 0
            && self.refused == 0
            && self.received_us[1] <= p99_limit_us
            && self.delivered_us[1] <= p99_limit_us
    }

    pub fn print(&self, label: &str) {
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "{label}: rate {:.0}/s for {:.1}s: sent {} acked {} refused {} received {} confirmed {} lost {}",
            self.rate,
            self.seconds,
            self.sent,
            self.acked,
            self.refused,
            self.received,
            self.confirmed,
            self.lost
        );
        println!(
            "  send→received  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            ms(self.received_us[0]),
            ms(self.received_us[1]),
            ms(self.received_us[2]),
            ms(self.received_us[3])
        );
        println!(
            "  send→delivered p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            ms(self.delivered_us[0]),
            ms(self.delivered_us[1]),
            ms(self.delivered_us[2]),
            ms(self.delivered_us[3])
        );
        println!(
            "  the tool's own lag behind the schedule (included above): p50 {:.2} ms  p99 {:.2} ms",
            ms(self.lag_us[0]),
            ms(self.lag_us[1])
        );
        let fmt = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} µs"));
        println!(
            "  CPU per message: server {}, load tool {}",
            fmt(self.server_cpu_us_per_msg),
            fmt(self.own_cpu_us_per_msg)
        );
        println!(
            "RESULT {}",
            json!({
                "scenario": label, "rate": self.rate, "sent": self.sent, "received": self.received,
                "confirmed": self.confirmed, "lost": self.lost, "refused": self.refused,
                "received_p50_ms": ms(self.received_us[0]), "received_p99_ms": ms(self.received_us[1]),
                "received_p999_ms": ms(self.received_us[2]), "received_max_ms": ms(self.received_us[3]),
                "delivered_p50_ms": ms(self.delivered_us[0]), "delivered_p99_ms": ms(self.delivered_us[1]),
                "delivered_p999_ms": ms(self.delivered_us[2]), "delivered_max_ms": ms(self.delivered_us[3]),
                "lag_p50_ms": ms(self.lag_us[0]), "lag_p99_ms": ms(self.lag_us[1]),
                "server_cpu_us_per_msg": self.server_cpu_us_per_msg, "tool_cpu_us_per_msg": self.own_cpu_us_per_msg,
            })
        );
    }
}

impl Rig {
    /// Connects `accounts.len() / 2` pairs; `capacity` bounds the messages of all runs.
    pub async fn connect(
        server: SocketAddr,
        recipients_server: SocketAddr,
        accounts: &[Account],
        capacity: usize,
    ) -> Result<Self, String> {
        let pairs = accounts.len() / 2;
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            intended: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            id_to_seq: Mutex::new(HashMap::new()),
            histograms: Mutex::new((histogram(), histogram())),
            timed_from: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            received: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            recipients: OnceLock::new(),
        });
        let recipient_handler: Handler = {
            let shared = shared.clone();
            Arc::new(move |index, incoming| {
                if let Incoming::Event("message:received", payload) = incoming
                    && let Ok(m) = serde_json::from_str::<Received<'_>>(payload.get())
                    && let Ok(seq) = m.content.parse::<u64>()
                {
                    shared.received.fetch_add(1, Ordering::Relaxed);
                    shared.record(seq, false);
                    if let Some(conn) = shared.recipients.get().and_then(|r| r.get(index)) {
                        conn.send(format!(
                            "42[\"message:delivered\",{{\"messageId\":\"{}\",\"senderId\":\"{}\"}}]",
                            m.id, m.sender_id
                        ));
                    }
                }
            })
        };
        let sender_handler: Handler = {
            let shared = shared.clone();
            Arc::new(move |_, incoming| match incoming {
                Incoming::Ack(seq, payload) => {
                    match serde_json::from_str::<SendAck<'_>>(payload.get()) {
                        Ok(SendAck {
                            ok: true,
                            message: Some(m),
                        }) => {
                            shared.acked.fetch_add(1, Ordering::Relaxed);
                            shared
                                .id_to_seq
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(m.id.into(), seq);
                        }
                        _ => {
                            shared.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Incoming::Event("message:status", payload) => {
                    if let Ok(s) = serde_json::from_str::<Status<'_>>(payload.get())
                        && s.status == "delivered"
                    {
                        shared.confirmed.fetch_add(1, Ordering::Relaxed);
                        let seq = shared
                            .id_to_seq
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(s.message_id);
                        if let Some(seq) = seq {
                            shared.record(seq, true);
                        }
                    }
                }
                _ => {}
            })
        };
        let mut senders = Vec::with_capacity(pairs);
        let mut recipients = Vec::with_capacity(pairs);
        for i in 0..pairs {
            let (a, b) = (&accounts[2 * i], &accounts[2 * i + 1]);
            senders.push(
                sio::connect(
                    server,
                    sio::source_address(2 * i),
                    &a.token,
                    i,
                    sender_handler.clone(),
                )
                .await?,
            );
            recipients.push(
                sio::connect(
                    recipients_server,
                    sio::source_address(2 * i + 1),
                    &b.token,
                    i,
                    recipient_handler.clone(),
                )
                .await?,
            );
        }
        let _ = shared.recipients.set(recipients);
        let recipient_ids = (0..pairs).map(|i| accounts[2 * i + 1].id.clone()).collect();
        Ok(Self {
            shared,
            senders,
            recipient_ids,
            next_seq: 0,
        })
    }

    /// Sends at `rate` messages/s for `seconds` (the first `warmup` seconds untimed),
    /// then waits up to `drain` for the stragglers.
    pub async fn run(
        &mut self,
        rate: f64,
        seconds: f64,
        warmup: f64,
        drain: Duration,
        server_pid: Option<&str>,
    ) -> RunResult {
        let s = &self.shared;
        let total = (rate * seconds) as u64;
        let first = self.next_seq;
        let last = (first + total).min(s.intended.len() as u64);
        let total = last - first;
        s.timed_from
            .store(first + (rate * warmup) as u64, Ordering::Relaxed);
        *s.histograms.lock().unwrap_or_else(|p| p.into_inner()) = (histogram(), histogram());
        let (acked0, refused0, received0, confirmed0) = (
            s.acked.load(Ordering::Relaxed),
            s.refused.load(Ordering::Relaxed),
            s.received.load(Ordering::Relaxed),
            s.confirmed.load(Ordering::Relaxed),
        );

        let cpu = CpuWindow::start(server_pid);
        let plan = Schedule {
            shared: s.clone(),
            senders: self.senders.clone(),
            recipient_ids: self.recipient_ids.clone(),
            first,
            last,
            start_ns: s.epoch.elapsed().as_nanos() as u64,
            ns_per_msg: 1e9 / rate,
        };
        let lag = plan.run().await;
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline {
            let received = s.received.load(Ordering::Relaxed) - received0;
            let confirmed = s.confirmed.load(Ordering::Relaxed) - confirmed0;
            if received >= total && confirmed >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let used = cpu.stop();
        self.next_seq = last;

        let received = s.received.load(Ordering::Relaxed) - received0;
        let quantiles = |h: &Histogram<u64>| {
            [
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            ]
        };
        let (rq, dq) = {
            let h = s.histograms.lock().unwrap_or_else(|p| p.into_inner());
            (quantiles(&h.0), quantiles(&h.1))
        };
        let per_msg = |d: Option<Duration>| {
            d.filter(|_| received > 0)
                .map(|d| d.as_micros() as f64 / received as f64)
        };
        RunResult {
            rate,
            seconds,
            sent: total,
            acked: s.acked.load(Ordering::Relaxed) - acked0,
            refused: s.refused.load(Ordering::Relaxed) - refused0,
            received,
            confirmed: s.confirmed.load(Ordering::Relaxed) - confirmed0,
            lost: total.saturating_sub(received),
            received_us: rq,
            delivered_us: dq,
            lag_us: [lag.value_at_quantile(0.5), lag.value_at_quantile(0.99)],
            server_cpu_us_per_msg: per_msg(used.server),
            own_cpu_us_per_msg: per_msg(used.own),
        }
    }

    pub fn close(&self) {
        for c in self
            .senders
            .iter()
            .chain(self.shared.recipients.get().into_iter().flatten())
        {
            c.close();
        }
    }
}
