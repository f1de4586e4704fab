//! Group commit: one task owns the write connection and applies every write
//! queued while the previous transaction was committing in one transaction.
//! Callers get their answer only after the commit, so an acknowledged message
//! is on disk, and a burst of N messages costs one commit instead of N.

use sqlx::{Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::rows::{MessageRow, message_columns, message_select};
use crate::chat::model::{Message, Status};
use crate::error::{Error, Result};

use std::sync::Arc;

/// Upper bound of writes per transaction, so one commit never stalls for long.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

/// The result of inserting a message.
pub enum Inserted {
    /// Stored now; `new_contact` when this message made the two users contacts.
    New { new_contact: bool },
    /// The sender had already sent a message with this `clientMessageId`.
    Existing(Box<Message>),
}

enum Job {
    Insert {
        message: Arc<Message>,
        ensure_contact: bool,
        reply: oneshot::Sender<Result<Inserted>>,
    },
    Advance {
        id: Uuid,
        from: Status,
        to: Status,
        read_at: Option<String>,
        reply: oneshot::Sender<Result<bool>>,
    },
    ReadAt {
        id: Uuid,
        at: String,
        reply: oneshot::Sender<Result<()>>,
    },
    LastSeen {
        user: Uuid,
        at: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) async fn start(options: SqliteConnectOptions) -> Result<Self> {
        let conn = SqliteConnection::connect_with(&options).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(conn, rx));
        Ok(Self { tx })
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
        self.submit(|reply| Job::Insert {
            message,
            ensure_contact,
            reply,
        })
        .await
    }

    /// Moves a message from `from` to `to`; false when another write moved it first.
    pub async fn advance(
        &self,
        id: Uuid,
        from: Status,
        to: Status,
        read_at: Option<String>,
    ) -> Result<bool> {
        self.submit(|reply| Job::Advance {
            id,
            from,
            to,
            read_at,
            reply,
        })
        .await
    }

    /// Stamps `readAt` unless it is already set.
    pub async fn mark_read(&self, id: Uuid, at: String) -> Result<()> {
        self.submit(|reply| Job::ReadAt { id, at, reply }).await
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

/// A job's answer, held back until its transaction has committed.
enum Pending {
    Insert(oneshot::Sender<Result<Inserted>>, Result<Inserted>),
    Advance(oneshot::Sender<Result<bool>>, Result<bool>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
}

impl Pending {
    fn answer(self, committed: bool) {
        fn outcome<T>(r: Result<T>, committed: bool) -> Result<T> {
            if committed {
                r
            } else {
                Err(Error::internal("commit failed"))
            }
        }
        // A caller that went away no longer needs its answer.
        let _ = match self {
            Pending::Insert(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
            Pending::Advance(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
            Pending::Unit(tx, r) => tx.send(outcome(r, committed)).map_err(drop),
        };
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pending = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            break;
        }
        let committed = match apply(&mut conn, batch.drain(..), &mut pending, &mut stop).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                false
            }
        };
        for p in pending.drain(..) {
            p.answer(committed);
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the write connection");
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

async fn apply(
    conn: &mut SqliteConnection,
    jobs: impl Iterator<Item = Job>,
    pending: &mut Vec<Pending>,
    stop: &mut Option<oneshot::Sender<()>>,
) -> Result<()> {
    let mut tx = conn.begin().await?;
    for job in jobs {
        // A statement that fails rolls back only itself in SQLite; the others commit.
        match job {
            Job::Insert {
                message,
                ensure_contact,
                reply,
            } => {
                let r = insert(&mut tx, &message, ensure_contact).await;
                pending.push(Pending::Insert(reply, r));
            }
            Job::Advance {
                id,
                from,
                to,
                read_at,
                reply,
            } => {
                let r = sqlx::query(
                    "update messages set status = $1, read_at = coalesce(read_at, $2) where id = $3 and status = $4",
                )
                .bind(to.as_str())
                .bind(read_at)
                .bind(id.to_string())
                .bind(from.as_str())
                .execute(&mut *tx)
                .await
                .map(|done| done.rows_affected() == 1)
                .map_err(Error::from);
                pending.push(Pending::Advance(reply, r));
            }
            Job::ReadAt { id, at, reply } => {
                let r = sqlx::query(
                    "update messages set read_at = $1 where id = $2 and read_at is null",
                )
                .bind(at)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map(drop)
                .map_err(Error::from);
                pending.push(Pending::Unit(reply, r));
            }
            Job::LastSeen { user, at, reply } => {
                let r = sqlx::query("update users set last_seen = $1 where id = $2")
                    .bind(at)
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await
                    .map(drop)
                    .map_err(Error::from);
                pending.push(Pending::Unit(reply, r));
            }
            Job::Shutdown(done) => {
                *stop = Some(done);
                break;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn insert(
    conn: &mut SqliteConnection,
    m: &Message,
    ensure_contact: bool,
) -> Result<Inserted> {
    let waveform = match &m.waveform {
        Some(w) => {
            Some(serde_json::to_string(w).map_err(|_| Error::internal("waveform encoding"))?)
        }
        None => None,
    };
    let inserted = sqlx::query(
        "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, \
         file_url, file_name, file_size, file_type, waveform, duration, client_message_id, thumbnail_url) \
         values ($1, $2, $3, $4, $5, 'sent', $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         on conflict (sender_id, client_message_id) where client_message_id is not null do nothing",
    )
    .bind(m.id.to_string())
    .bind(m.sender_id.to_string())
    .bind(m.recipient_id.to_string())
    .bind(&m.content)
    .bind(m.kind.as_str())
    .bind(&m.created_at)
    .bind(&m.file_url)
    .bind(&m.file_name)
    .bind(m.file_size)
    .bind(&m.file_type)
    .bind(waveform)
    .bind(m.duration)
    .bind(&m.client_message_id)
    .bind(&m.thumbnail_url)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    if inserted == 0 {
        let row: MessageRow = sqlx::query_as(concat!(
            message_select!(),
            " where m.sender_id = $1 and m.client_message_id = $2"
        ))
        .bind(m.sender_id.to_string())
        .bind(&m.client_message_id)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(Inserted::Existing(Box::new(Message::try_from(row)?)));
    }

    let mut new_contact = false;
    if ensure_contact {
        let (a, b) = if m.sender_id < m.recipient_id {
            (m.sender_id, m.recipient_id)
        } else {
            (m.recipient_id, m.sender_id)
        };
        new_contact = sqlx::query(
            "insert into contacts (user_a, user_b) values ($1, $2) on conflict do nothing",
        )
        .bind(a.to_string())
        .bind(b.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
    }
    Ok(Inserted::New { new_contact })
}
