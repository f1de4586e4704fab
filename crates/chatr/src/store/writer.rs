//! Group commit: one thread owns the write connection and applies every write
//! queued while the previous transaction was committing in one transaction.
//! Callers get their answer only after the commit, so an acknowledged message
//! is on disk, and a burst of N messages costs one commit instead of N.
//!
//! The thread talks to SQLite directly (rusqlite) rather than through sqlx:
//! sqlx hands every statement to a worker thread and back, and those wake-ups
//! cost more CPU than the statements. Here a whole batch is a run of plain
//! function calls, and a status update reads the facts it decides on in the
//! same place, in order, so receipts need no read of their own and cannot race.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::chat::lifecycle::Stored;
use crate::chat::model::{Message, MessageType, Status};
use crate::config::Synchronous;
use crate::error::{Error, Result};

/// Upper bound of writes per transaction, so one commit never stalls for long.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;
/// A commit within this long of the previous one means the server is busy…
const BUSY: Duration = Duration::from_millis(2);
/// …and then the writer lets a batch gather for this long before committing.
const LINGER: Duration = Duration::from_micros(300);
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The result of inserting a message.
pub enum Inserted {
    /// Stored now; `new_contact` when this message made the two users contacts.
    New { new_contact: bool },
    /// The sender had already sent a message with this `clientMessageId`.
    Existing(Box<Message>),
}

/// Decides a receipt from the stored facts: the status to move to, `None`
/// for no change, or why the receipt is refused.
pub type Decide = Box<dyn FnOnce(&Stored) -> Result<Option<Status>> + Send>;

/// What a receipt did.
pub struct Receipted {
    /// The message as it was before the receipt.
    pub stored: Stored,
    /// The new status, when it moved.
    pub changed: Option<Status>,
}

enum Job {
    Insert {
        message: Arc<Message>,
        ensure_contact: bool,
        reply: oneshot::Sender<Result<Insert>>,
    },
    Receipt {
        id: Uuid,
        read_at: Option<String>,
        decide: Decide,
        reply: oneshot::Sender<Result<Receipted>>,
    },
    LastSeen {
        user: Uuid,
        at: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// What an insert found: stored, or a duplicate `clientMessageId`.
enum Insert {
    New { new_contact: bool },
    Duplicate,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    /// For reading back the stored message of a repeated `clientMessageId`.
    pool: SqlitePool,
}

impl Writer {
    /// Opens the write connection on its own thread (the schema is already migrated).
    pub(super) async fn start(
        path: PathBuf,
        synchronous: Synchronous,
        pool: SqlitePool,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (opened, ready) = oneshot::channel();
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("chatr-writer".into())
            .spawn(move || match open(&writer_path, synchronous) {
                Ok(conn) => {
                    let _ = opened.send(Ok(()));
                    run(conn, rx);
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the writer: {e}")))?;
        ready
            .await
            .map_err(|_| Error::internal("the writer did not start"))??;
        let alive = tx.downgrade();
        std::thread::Builder::new()
            .name("chatr-checkpoint".into())
            .spawn(move || checkpoints(&path, &alive))
            .map_err(|e| Error::internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self { tx, pool })
    }

    async fn submit<T>(&self, job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(job(reply))
            .await
            .map_err(|_| Error::internal("the writer has stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the writer dropped a write"))?
    }

    /// Stores a new message (status `sent`); when `ensure_contact`, also records the two users as contacts.
    pub async fn insert_message(
        &self,
        message: Arc<Message>,
        ensure_contact: bool,
    ) -> Result<Inserted> {
        let (sender, client_id) = (message.sender_id, message.client_message_id.clone());
        let inserted = self
            .submit(|reply| Job::Insert {
                message,
                ensure_contact,
                reply,
            })
            .await?;
        match inserted {
            Insert::New { new_contact } => Ok(Inserted::New { new_contact }),
            Insert::Duplicate => {
                let stored = super::messages::by_client_id(&self.pool, sender, client_id)
                    .await?
                    .ok_or_else(|| Error::internal("a duplicate message vanished"))?;
                Ok(Inserted::Existing(Box::new(stored)))
            }
        }
    }

    /// Applies a receipt: reads the message, lets `decide` rule, stores the
    /// new status (and `readAt`, when given and not yet set).
    pub async fn receipt(
        &self,
        id: Uuid,
        read_at: Option<String>,
        decide: Decide,
    ) -> Result<Receipted> {
        self.submit(|reply| Job::Receipt {
            id,
            read_at,
            decide,
            reply,
        })
        .await
    }

    pub async fn set_last_seen(&self, user: Uuid, at: String) -> Result<()> {
        self.submit(|reply| Job::LastSeen { user, at, reply }).await
    }

    /// Applies everything queued so far, then stops the writer.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn db(e: rusqlite::Error) -> Error {
    Error::internal(format!("database: {e}"))
}

fn open(path: &Path, synchronous: Synchronous) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // Checkpoints run on their own thread (below), never inside a commit.
    conn.execute_batch(match synchronous {
        Synchronous::Normal => {
            "pragma journal_mode = wal; pragma synchronous = normal; pragma foreign_keys = on; \
             pragma temp_store = memory; pragma wal_autocheckpoint = 0;"
        }
        Synchronous::Full => {
            "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; \
             pragma temp_store = memory; pragma wal_autocheckpoint = 0;"
        }
    })
    .map_err(db)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A job's answer, held back until its transaction has committed.
enum Pending {
    Insert(oneshot::Sender<Result<Insert>>, Result<Insert>),
    Receipt(oneshot::Sender<Result<Receipted>>, Result<Receipted>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
}

impl Pending {
    fn answer(self, committed: bool) {
        fn outcome<T>(r: Result<T>, committed: bool) -> Result<T> {
            // A refusal (not found, forbidden) stays what it was; a success
            // that did not commit is not one.
            match r {
                Ok(_) if !committed => Err(Error::internal("commit failed")),
                r => r,
            }
        }
        // A caller that went away no longer needs its answer.
        let _ = match self {
            Pending::Insert(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
            Pending::Receipt(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
            Pending::Unit(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
        };
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pending = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    let mut last_commit = Instant::now();
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        batch.push(first);
        drain(&mut rx, &mut batch);
        // Under load each commit's page writes cost more than the statements in
        // it; waiting a moment for company makes the batches larger. An idle
        // server commits at once.
        if batch.len() < MAX_BATCH && last_commit.elapsed() < BUSY {
            std::thread::sleep(LINGER);
            drain(&mut rx, &mut batch);
        }
        let committed = match apply(&mut conn, batch.drain(..), &mut pending, &mut stop) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                false
            }
        };
        last_commit = Instant::now();
        for p in pending.drain(..) {
            p.answer(committed);
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the write connection");
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn apply(
    conn: &mut Connection,
    jobs: impl Iterator<Item = Job>,
    pending: &mut Vec<Pending>,
    stop: &mut Option<oneshot::Sender<()>>,
) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    for job in jobs {
        // A statement that fails rolls back only itself in SQLite; the others commit.
        match job {
            Job::Insert {
                message,
                ensure_contact,
                reply,
            } => {
                let r = insert(&tx, &message, ensure_contact);
                pending.push(Pending::Insert(reply, r));
            }
            Job::Receipt {
                id,
                read_at,
                decide,
                reply,
            } => {
                let r = receipt(&tx, id, read_at, decide);
                pending.push(Pending::Receipt(reply, r));
            }
            Job::LastSeen { user, at, reply } => {
                let r = tx
                    .prepare_cached("update users set last_seen = ?1 where id = ?2")
                    .and_then(|mut st| st.execute(params![at, user.to_string()]))
                    .map(drop)
                    .map_err(db);
                pending.push(Pending::Unit(reply, r));
            }
            Job::Shutdown(done) => {
                *stop = Some(done);
                break;
            }
        }
    }
    tx.commit().map_err(db)
}

fn insert(conn: &Connection, m: &Message, ensure_contact: bool) -> Result<Insert> {
    let waveform = match &m.waveform {
        Some(w) => {
            Some(serde_json::to_string(w).map_err(|_| Error::internal("waveform encoding"))?)
        }
        None => None,
    };
    let inserted = conn
        .prepare_cached(
            "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, \
             file_url, file_name, file_size, file_type, waveform, duration, client_message_id, thumbnail_url) \
             values (?1, ?2, ?3, ?4, ?5, 'sent', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             on conflict (sender_id, client_message_id) where client_message_id is not null do nothing",
        )
        .and_then(|mut st| {
            st.execute(params![
                m.id.to_string(),
                m.sender_id.to_string(),
                m.recipient_id.to_string(),
                m.content,
                m.kind.as_str(),
                m.created_at,
                m.file_url,
                m.file_name,
                m.file_size,
                m.file_type,
                waveform,
                m.duration,
                m.client_message_id,
                m.thumbnail_url,
            ])
        })
        .map_err(db)?;
    if inserted == 0 {
        return Ok(Insert::Duplicate);
    }
    let mut new_contact = false;
    if ensure_contact {
        let (a, b) = if m.sender_id < m.recipient_id {
            (m.sender_id, m.recipient_id)
        } else {
            (m.recipient_id, m.sender_id)
        };
        new_contact = conn
            .prepare_cached(
                "insert into contacts (user_a, user_b) values (?1, ?2) on conflict do nothing",
            )
            .and_then(|mut st| st.execute(params![a.to_string(), b.to_string()]))
            .map_err(db)?
            == 1;
    }
    Ok(Insert::New { new_contact })
}

fn receipt(
    conn: &Connection,
    id: Uuid,
    read_at: Option<String>,
    decide: Decide,
) -> Result<Receipted> {
    let key = id.to_string();
    let facts: Option<(String, String, String, String)> = conn
        .prepare_cached("select sender_id, recipient_id, type, status from messages where id = ?1")
        .and_then(|mut st| {
            st.query_row(params![key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(db)?;
    let (sender, recipient, kind, status) =
        facts.ok_or_else(|| Error::not_found("message not found"))?;
    let stored = Stored {
        sender_id: Uuid::parse_str(&sender).map_err(|_| Error::internal("malformed id"))?,
        recipient_id: Uuid::parse_str(&recipient).map_err(|_| Error::internal("malformed id"))?,
        kind: MessageType::parse(&kind).ok_or_else(|| Error::internal("malformed type"))?,
        status: Status::parse(&status).ok_or_else(|| Error::internal("malformed status"))?,
    };
    let changed = decide(&stored)?;
    match changed {
        Some(next) => conn
            .prepare_cached(
                "update messages set status = ?1, read_at = coalesce(read_at, ?2) where id = ?3",
            )
            .and_then(|mut st| st.execute(params![next.as_str(), read_at, key])),
        None if read_at.is_some() => conn
            .prepare_cached("update messages set read_at = ?1 where id = ?2 and read_at is null")
            .and_then(|mut st| st.execute(params![read_at, key])),
        None => Ok(0),
    }
    .map_err(db)?;
    Ok(Receipted { stored, changed })
}

/// Copies the WAL back into the database, off the commit path: a PASSIVE
/// checkpoint runs beside the writer without blocking it, and SQLite restarts
/// the log from its start at the first commit after one has caught up.
fn checkpoints(path: &Path, alive: &mpsc::WeakSender<Job>) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the checkpoint connection");
            return;
        }
    };
    let _ = conn.busy_timeout(Duration::from_secs(1));
    while alive.upgrade().is_some_and(|tx| !tx.is_closed()) {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}
