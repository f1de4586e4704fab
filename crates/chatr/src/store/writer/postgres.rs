//! The PostgreSQL consumer of the writer's queue: a task that applies each
//! batch in one transaction on a connection of the pool. Several nodes may
//! write at once here, so a receipt locks its row (`for update`) before it
//! decides: two nodes' receipts for one message take turns.

use sqlx::{Any, AnyPool, Row, Transaction};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Ask, CHANGE_FACTS, Change, Changed, Check, Decide, EDIT_APPLY, EDIT_KEEP, INSERT_CONTACT,
    INSERT_MESSAGE_RETURNING, Insert, Job, LAST_SEEN, MAX_BATCH, NO_DURATION, Pending,
    REACTION_DROP, REACTION_OF, REACTION_PUT, REACTIONS, RECEIPT_ADVANCE, RECEIPT_FACTS,
    RECEIPT_READ_AT, RECEIPT_STATUS, Receipted, UNREAD_ADD, UNSEND_APPLY, UNSEND_EDITS,
    UNSEND_REACTIONS, Unread, contact_pair, facts, stored, waveform_json,
};
use crate::error::{Error, Result};
use crate::model::{Message, Reaction};

pub(super) async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pending = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            break;
        }
        // PostgreSQL aborts a transaction at its first failed statement, so a
        // failure fails the batch's writes (their callers get an error, none
        // was acknowledged); the statements here do not fail on bad input.
        let (jobs, started) = (batch.len(), std::time::Instant::now());
        let committed = match apply(&pool, batch.drain(..), &mut pending, &mut stop).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                false
            }
        };
        super::record_batch(jobs, started, rx.len());
        for p in pending.drain(..) {
            p.answer(committed);
        }
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

async fn apply(
    pool: &AnyPool,
    jobs: impl Iterator<Item = Job>,
    pending: &mut Vec<Pending>,
    stop: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let mut unread = Unread::default();
    for job in jobs {
        match job {
            Job::Insert {
                message,
                ensure_contact,
                reply,
            } => {
                let r = insert(&mut tx, &message, ensure_contact).await;
                if let Ok(Insert::New { .. }) = r {
                    unread.add(message.recipient_id, message.sender_id, 1);
                }
                pending.push(Pending::Insert(reply, r));
            }
            // The usual step is SQLite's shortcut: here the row is locked
            // and read first (`for update`) either way.
            Job::Receipt {
                ask:
                    Ask {
                        id,
                        read_at,
                        usual: _,
                        decide,
                    },
                reply,
            } => {
                let r = receipt(&mut tx, id, read_at, decide, &mut unread).await;
                pending.push(Pending::Receipt(reply, r));
            }
            Job::LastSeen { user, at, reply } => {
                let r = sqlx::query(LAST_SEEN)
                    .bind(at)
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await
                    .map(drop)
                    .map_err(Into::into);
                pending.push(Pending::Unit(reply, r));
            }
            Job::Change {
                id,
                change,
                check,
                reply,
            } => {
                let r = change_message(&mut tx, id, change, check).await;
                pending.push(Pending::Change(reply, r));
            }
            Job::Ping(reply) => pending.push(Pending::Unit(reply, Ok(()))),
            Job::Shutdown(done) => {
                *stop = Some(done);
                break;
            }
        }
    }
    for (recipient, sender, n) in unread.drain() {
        sqlx::query(UNREAD_ADD)
            .bind(recipient.to_string())
            .bind(sender.to_string())
            .bind(n)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn insert(
    tx: &mut Transaction<'static, Any>,
    m: &Message,
    ensure_contact: bool,
) -> Result<Insert> {
    let inserted: Option<(i64,)> = sqlx::query_as(INSERT_MESSAGE_RETURNING)
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
        .bind(waveform_json(m)?)
        .bind(m.duration.unwrap_or(NO_DURATION))
        .bind(&m.client_message_id)
        .bind(&m.thumbnail_url)
        .bind(m.reply_to.as_ref().map(|r| r.id.to_string()))
        .fetch_optional(&mut **tx)
        .await?;
    let Some((seq,)) = inserted else {
        return Ok(Insert::Duplicate);
    };
    let mut new_contact = false;
    if ensure_contact {
        let (a, b) = contact_pair(m);
        new_contact = sqlx::query(INSERT_CONTACT)
            .bind(a)
            .bind(b)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1;
    }
    Ok(Insert::New { new_contact, seq })
}

async fn receipt(
    tx: &mut Transaction<'static, Any>,
    id: Uuid,
    read_at: Option<String>,
    decide: Decide,
    unread: &mut Unread,
) -> Result<Receipted> {
    let key = id.to_string();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{RECEIPT_FACTS} for update")))
        .bind(&key)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| crate::error::Error::not_found("message not found"))?;
    let stored = stored(
        row.try_get::<&str, _>(0)?,
        row.try_get::<&str, _>(1)?,
        row.try_get::<&str, _>(2)?,
        row.try_get::<&str, _>(3)?,
    )?;
    let seq: i64 = row.try_get(4)?;
    let counted: bool = row.try_get(5)?;
    let changed = decide(&stored)?;
    // Every statement below that sets `read_at` sets it only where it was unset.
    let reads = counted && read_at.is_some();
    match changed {
        Some(next) if read_at.is_some() => {
            sqlx::query(RECEIPT_ADVANCE)
                .bind(next.as_str())
                .bind(read_at)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        }
        Some(next) => {
            sqlx::query(RECEIPT_STATUS)
                .bind(next.as_str())
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        }
        None if read_at.is_some() => {
            sqlx::query(RECEIPT_READ_AT)
                .bind(read_at)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        }
        None => {}
    }
    if reads {
        unread.add(stored.recipient_id, stored.sender_id, -1);
    }
    Ok(Receipted::of(&stored, changed))
}

/// Edits, unsends or reacts to message `id`, if `check` allows it; the row
/// is locked first, since several nodes write at once.
async fn change_message(
    tx: &mut Transaction<'static, Any>,
    id: Uuid,
    change: Change,
    check: Check,
) -> Result<Changed> {
    let key = id.to_string();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CHANGE_FACTS} for update")))
        .bind(&key)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| Error::not_found("message not found"))?;
    let deleted = row.try_get::<Option<String>, _>(4)?.is_some();
    let content: String = row.try_get(5)?;
    let (file, thumb): (Option<String>, Option<String>) = (row.try_get(6)?, row.try_get(7)?);
    let seq: i64 = row.try_get(8)?;
    check(&facts(
        row.try_get::<&str, _>(0)?,
        row.try_get::<&str, _>(1)?,
        row.try_get::<&str, _>(2)?,
        row.try_get::<String, _>(3)?,
        deleted,
    )?)?;
    match change {
        Change::Edit { content: new, at } => {
            if new == content {
                return Ok(Changed::Unchanged);
            }
            sqlx::query(EDIT_KEEP)
                .bind(&key)
                .bind(&content)
                .bind(&at)
                .execute(&mut **tx)
                .await?;
            sqlx::query(EDIT_APPLY)
                .bind(&new)
                .bind(&at)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
            Ok(Changed::Edited)
        }
        Change::Unsend { .. } if deleted => Ok(Changed::AlreadyUnsent),
        Change::Unsend { at } => {
            sqlx::query(UNSEND_APPLY)
                .bind(&at)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
            sqlx::query(UNSEND_EDITS)
                .bind(&key)
                .execute(&mut **tx)
                .await?;
            sqlx::query(UNSEND_REACTIONS)
                .bind(&key)
                .execute(&mut **tx)
                .await?;
            Ok(Changed::Unsent {
                files: [file, thumb].into_iter().flatten().collect(),
            })
        }
        Change::React { user, emoji, at } => {
            let who = user.to_string();
            let current: Option<(String,)> = sqlx::query_as(REACTION_OF)
                .bind(&key)
                .bind(&who)
                .fetch_optional(&mut **tx)
                .await?;
            match emoji {
                Some(e) if current.as_ref().map(|(c,)| c.as_str()) != Some(e.as_str()) => {
                    sqlx::query(REACTION_PUT)
                        .bind(&key)
                        .bind(&who)
                        .bind(&e)
                        .bind(&at)
                        .execute(&mut **tx)
                        .await?;
                }
                _ => {
                    sqlx::query(REACTION_DROP)
                        .bind(&key)
                        .bind(&who)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            let rows: Vec<(String, String)> = sqlx::query_as(REACTIONS)
                .bind(&key)
                .fetch_all(&mut **tx)
                .await?;
            rows.into_iter()
                .map(|(user, emoji)| {
                    let user_id =
                        Uuid::parse_str(&user).map_err(|_| Error::internal("malformed id"))?;
                    Ok(Reaction { user_id, emoji })
                })
                .collect::<Result<Vec<_>>>()
                .map(Changed::Reactions)
        }
    }
}
