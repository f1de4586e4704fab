//! The engine's settings, with the defaults of the reference JavaScript server.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the endpoint lives; requests elsewhere are not the engine's.
    pub path: String,
    /// How often the server pings each session.
    pub ping_interval: Duration,
    /// How long a client has to answer a ping before its session is closed.
    pub ping_timeout: Duration,
    /// Largest Engine.IO message (a WebSocket message, or a polling POST
    /// body) in bytes; larger ones close the session.
    pub max_payload: usize,
    /// Frames queued for one session before it counts as a slow consumer and
    /// is closed (never a silent drop).
    pub max_queued_frames: usize,
    /// A session that has not connected to any Socket.IO namespace this long
    /// after opening is closed.
    pub connect_timeout: Duration,
    /// Binary attachments one Socket.IO packet may announce.
    pub max_attachments: usize,
    /// Events of one connection handled at once; reading pauses beyond it.
    pub max_concurrent_events: usize,
    /// Whether a session may start on HTTP long-polling (and upgrade).
    pub allow_polling: bool,
    /// How long a long-polling GET may wait for something to send.
    pub poll_wait: Duration,
    /// Connection state recovery: how long a disconnected socket's rooms and
    /// missed packets are kept for it to resume (`None`: off).
    pub recovery: Option<Duration>,
    /// Packets kept for one disconnected socket while it may still resume.
    pub recovery_max_packets: usize,
    /// Bytes of those packets kept for one socket at most.
    pub recovery_max_bytes: usize,
    /// Sockets of one namespace kept for resuming at once; past it a broken
    /// connection's socket is simply gone (its client connects afresh).
    pub recovery_max_ghosts: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            max_queued_frames: 1024,
            connect_timeout: Duration::from_millis(45_000),
            max_attachments: 16,
            max_concurrent_events: 64,
            allow_polling: true,
            poll_wait: Duration::from_secs(60),
            recovery: None,
            recovery_max_packets: 512,
            recovery_max_bytes: 1 << 20,
            recovery_max_ghosts: 10_000,
        }
    }
}

impl Config {
    /// The heartbeat's granularity: pings and timeouts fire at most this much
    /// early (never late), so one timer serves every session.
    pub(crate) fn tick(&self) -> Duration {
        let shortest = self.ping_interval.min(self.ping_timeout);
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}
