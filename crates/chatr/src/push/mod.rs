//! Web Push delivery (issue 14): RFC 8030 requests with RFC 8291
//! `aes128gcm` payloads and RFC 8292 VAPID, straight to the browsers' push
//! services. Off the hot path: [`Pusher::notify`] puts a job on a bounded
//! queue and returns; a dispatcher runs a few deliveries at once, each with
//! timeouts, retries with backoff on `429`/`5xx` (honouring `Retry-After`),
//! and a daily cap per subscription. A subscription the push service says is
//! gone (`404`/`410`) is deleted.

pub mod guard;
pub mod keys;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;
use web_push_native::{Auth, WebPushBuilder, p256::PublicKey};

use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::push::Subscription;
pub use keys::Vapid;

/// Jobs waiting for a delivery slot; past it new ones are dropped (and
/// counted): a push is a courtesy, the message itself is stored and waits.
const QUEUE: usize = 10_000;
/// Deliveries under way at once.
const CONCURRENT: usize = 8;
/// Tries of one push (the first and the retries).
const ATTEMPTS: u32 = 4;
/// The longest wait a `Retry-After` may impose before a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// How long a push service may keep a push for a browser that is offline.
const TTL: Duration = Duration::from_secs(12 * 3600);

/// What to show for one stored message.
#[derive(Clone, Debug)]
pub struct Notification {
    pub recipient: Uuid,
    pub message: Uuid,
    /// Pushes with the same topic replace each other while undelivered, and
    /// the service worker shows them under one tag: one per conversation.
    pub topic: String,
    /// The JSON the service worker receives (decrypted by the browser).
    pub payload: Vec<u8>,
}

#[derive(Clone)]
pub struct Pusher(Arc<Inner>);

struct Inner {
    tx: mpsc::Sender<Notification>,
    public_key: String,
    insecure: bool,
}

/// Pushes per subscription per day.
struct DailyCap {
    limit: u32,
    counts: Mutex<(i64, HashMap<String, u32>)>,
}

impl DailyCap {
    fn admit(&self, endpoint: &str) -> bool {
        let today = time::OffsetDateTime::now_utc().unix_timestamp() / 86_400;
        let Ok(mut guard) = self.counts.lock() else {
            return true;
        };
        let (day, counts) = &mut *guard;
        if *day != today {
            *day = today;
            counts.clear();
        }
        let n = counts.entry(endpoint.to_owned()).or_insert(0);
        *n += 1;
        *n <= self.limit
    }
}

struct Delivery {
    store: Store,
    vapid: Vapid,
    client: reqwest::Client,
    cap: DailyCap,
    insecure: bool,
}

impl Pusher {
    /// Starts the dispatcher. `insecure` (tests only) lets `http` and
    /// loopback endpoints in.
    pub fn start(store: Store, vapid: Vapid, daily_cap: u32, insecure: bool) -> Result<Self> {
        if insecure {
            tracing::warn!(
                "CHATR_PUSH_ALLOW_INSECURE is on: push endpoints may be http and loopback. \
                 Tests only — never on a server facing the internet."
            );
        }
        install_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!insecure)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(60))
            .dns_resolver(Arc::new(guard::Resolver { insecure }))
            .user_agent(concat!("chatr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("the push client: {e}")))?;
        let public_key = vapid.public_key.clone();
        let delivery = Arc::new(Delivery {
            store,
            vapid,
            client,
            cap: DailyCap {
                limit: daily_cap,
                counts: Mutex::new((0, HashMap::new())),
            },
            insecure,
        });
        let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(CONCURRENT));
            while let Some(job) = rx.recv().await {
                crate::telemetry::push_queue().set(rx.len() as f64);
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let delivery = delivery.clone();
                tokio::spawn(async move {
                    delivery.deliver(job).await;
                    drop(slot);
                });
            }
        });
        Ok(Self(Arc::new(Inner {
            tx,
            public_key,
            insecure,
        })))
    }

    /// `applicationServerKey` for `PushManager.subscribe`.
    pub fn public_key(&self) -> &str {
        &self.0.public_key
    }

    /// Checks a subscription a browser handed over: an endpoint the server
    /// may call, and keys of the right shape.
    pub fn check(&self, sub: &Subscription) -> Result<()> {
        guard::check_endpoint(&sub.endpoint, self.0.insecure)?;
        browser_keys(sub).map(|_| ())
    }

    /// The `Topic` of a conversation's pushes: stable, so that an
    /// undelivered push is replaced by the next, and opaque (a hash with the
    /// server's key), so that the push service learns no user id from it.
    pub fn topic(&self, recipient: Uuid, sender: Uuid) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.0.public_key.as_bytes())
            .chain_update(recipient.as_bytes())
            .chain_update(sender.as_bytes())
            .finalize();
        // RFC 8030: at most 32 characters of the base64url alphabet.
        Base64UrlUnpadded::encode_string(&digest[..24])
    }

    /// Queues a push; never waits.
    pub fn notify(&self, n: Notification) {
        if self.0.tx.try_send(n).is_err() {
            metrics::counter!(crate::telemetry::PUSHES, "outcome" => "dropped").increment(1);
            tracing::warn!("the push queue is full: a push was dropped");
        }
    }
}

/// The process's TLS provider for outbound HTTPS (pushes, span export):
/// rustls on `ring`, installed once before any client is built — reqwest is
/// built without a provider of its own (aws-lc would need a C toolchain and
/// minutes of build), and a client built before this would fail.
pub fn install_tls_provider() {
    // An error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The browser's public key and auth secret, decoded.
fn browser_keys(sub: &Subscription) -> Result<(PublicKey, Auth)> {
    let p256dh = Base64UrlUnpadded::decode_vec(sub.p256dh.trim_end_matches('='))
        .ok()
        .and_then(|raw| PublicKey::from_sec1_bytes(&raw).ok())
        .ok_or_else(|| {
            Error::invalid_field("keys.p256dh", "keys.p256dh must be a P-256 public key")
        })?;
    let auth = Base64UrlUnpadded::decode_vec(sub.auth.trim_end_matches('='))
        .ok()
        .filter(|raw| raw.len() == 16)
        .ok_or_else(|| Error::invalid_field("keys.auth", "keys.auth must be 16 bytes"))?;
    let mut secret = Auth::default();
    secret.copy_from_slice(&auth);
    Ok((p256dh, secret))
}

/// What became of one push.
enum Outcome {
    Sent,
    Gone,
    Withdrawn,
    Refused(u16),
    Failed(String),
}

impl Delivery {
    async fn deliver(&self, n: Notification) {
        let wanted = self.store.push_still_wanted(n.message).await;
        if !matches!(wanted, Ok(true)) {
            return;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let subs = match self.store.subscriptions_of(n.recipient, now).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(error = %e, "push: reading subscriptions");
                return;
            }
        };
        for sub in subs {
            if !self.cap.admit(&sub.endpoint) {
                metrics::counter!(crate::telemetry::PUSHES, "outcome" => "capped").increment(1);
                continue;
            }
            let outcome = self.send(&sub, &n).await;
            let label = match &outcome {
                Outcome::Sent => "sent",
                Outcome::Gone => "gone",
                Outcome::Withdrawn => "withdrawn",
                Outcome::Refused(_) => "refused",
                Outcome::Failed(_) => "failed",
            };
            metrics::counter!(crate::telemetry::PUSHES, "outcome" => label).increment(1);
            match outcome {
                Outcome::Sent | Outcome::Withdrawn => {}
                Outcome::Gone => {
                    if let Err(e) = self.store.forget_endpoint(&sub.endpoint).await {
                        tracing::warn!(error = %e, "push: forgetting a gone subscription");
                    }
                }
                Outcome::Refused(status) => {
                    tracing::warn!(status, "push: the push service refused a push")
                }
                Outcome::Failed(why) => tracing::warn!(%why, "push: not delivered"),
            }
        }
    }

    async fn send(&self, sub: &Subscription, n: &Notification) -> Outcome {
        // Checked again: the rules may have changed since it was stored.
        let uri = match guard::check_endpoint(&sub.endpoint, self.insecure) {
            Ok(uri) => uri,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let (key, auth) = match browser_keys(sub) {
            Ok(keys) => keys,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let authorization = match self.vapid.authorization(&uri, TTL) {
            Ok(value) => value,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let request = match WebPushBuilder::new(uri, key, auth)
            .with_valid_duration(TTL)
            .build(n.payload.clone())
        {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("encrypting: {e}")),
        };
        let (parts, body) = request.into_parts();
        for attempt in 1..=ATTEMPTS {
            // A message unsent (or a sender blocked) while a retry waited
            // is not pushed after all.
            if attempt > 1 && !matches!(self.store.push_still_wanted(n.message).await, Ok(true)) {
                return Outcome::Withdrawn;
            }
            let request = self
                .client
                .request(parts.method.clone(), parts.uri.to_string())
                .headers(parts.headers.clone())
                .header(reqwest::header::AUTHORIZATION, &authorization)
                .header("Urgency", "high")
                .header("Topic", &n.topic)
                .body(body.clone());
            let last = attempt == ATTEMPTS;
            let wait = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match status {
                        200..=299 => return Outcome::Sent,
                        404 | 410 => return Outcome::Gone,
                        429 | 500..=599 if !last => retry_after(&response)
                            .unwrap_or_else(|| backoff(attempt))
                            .min(MAX_RETRY_AFTER),
                        _ => return Outcome::Refused(status),
                    }
                }
                Err(e) if !last && !e.is_builder() && !e.is_redirect() => backoff(attempt),
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            tokio::time::sleep(wait).await;
        }
        Outcome::Failed("retries exhausted".into())
    }
}

/// 1 s, 2 s, 4 s … after failed attempt `n`.
fn backoff(n: u32) -> Duration {
    Duration::from_secs(1 << (n - 1).min(6))
}

/// `Retry-After` in seconds (the HTTP-date form counts as absent).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
