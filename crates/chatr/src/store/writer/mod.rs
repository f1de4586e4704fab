//! Group commit: one owner of the write connection applies every write
//! queued while the previous transaction was committing in one transaction.
//! Callers get their answer only after the commit, so an acknowledged message
//! is on disk, and a burst of N messages costs one commit instead of N.
//!
//! On SQLite the owner is a task on the async runtime that commits inline,
//! where the events arrive (see `sqlite.rs` for why that is allowed to
//! block); with `synchronous = full` every commit waits for the disk, and
//! the owner is a thread of its own. On PostgreSQL it is a task that awaits
//! its connection.
//!
//! SQLite is spoken to directly (rusqlite) rather than through sqlx: sqlx
//! hands every statement to a worker thread and back, and those wake-ups
//! cost more CPU than the statements. Here a whole batch is a run of plain
//! function calls, and a status update reads the facts it decides on in the
//! same place, in order, so receipts need no read of their own and cannot race.

mod postgres;
mod queue;
mod recent;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::Synchronous;
use crate::error::{Error, Result};
use crate::model::{Message, MessageType, Reaction, Status, Step, Stored};

/// Upper bound of writes per transaction, so one commit never stalls for long.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

// The statements of the hot path, shared by both backends: SQLite reads `$n`
// as a parameter named "$n", numbered in order of first appearance.
macro_rules! insert_message {
    () => {
        "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, \
         file_url, file_name, file_size, file_type, waveform, duration, client_message_id, thumbnail_url, reply_to_id) \
         values ($1, $2, $3, $4, $5, 'sent', $6, $7, $8, $9, $10, $11, nullif($12, -1.0), $13, $14, $15) \
         on conflict (sender_id, client_message_id) where client_message_id is not null do nothing"
    };
}
/// SQLite reads the new `seq` from the connection instead: `returning`
/// makes it build and drop a temporary table for every insert.
const INSERT_MESSAGE: &str = insert_message!();
/// SQLite's, for a message without a file (nearly all of them): the seven
/// file columns are left to their default (null) rather than bound as nulls,
/// since binding costs some 220 instructions a parameter (docs/benchmarks.md,
/// round 27).
const INSERT_TEXT: &str = "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, \
     client_message_id, reply_to_id) values ($1, $2, $3, $4, $5, 'sent', $6, $7, $8) \
     on conflict (sender_id, client_message_id) where client_message_id is not null do nothing";
const INSERT_MESSAGE_RETURNING: &str = concat!(insert_message!(), " returning seq");
const INSERT_CONTACT: &str =
    "insert into contacts (user_a, user_b) values ($1, $2) on conflict do nothing";
// SQLite's: a receipt's usual step (`model::Step`) in one statement, as the
// floor moves a status: the guard is every fact the rule would read, so
// where it changes no row nothing was changed and the writer reads the
// message and lets the rule decide. Reading first cost a second statement
// per receipt (docs/benchmarks.md, round 23). No `returning`: SQLite builds
// a temporary table for it on every run. `?6` says whether the message must
// be audio, or is null. `?9` is where the writer stored the message lately
// (`recent::Recent`), or null: the row is then found by the table's own key
// rather than by searching the id index with a text key (round 29); the id
// is checked all the same, so a wrong `?9` finds no row.
//
// Numbered `?9`, not `$9`: SQLite numbers `$` parameters in the order they
// first appear, and `?` by their number.
const RECEIPT_STEP: &str = "update messages set status = ?1 \
     where seq = coalesce(?9, (select seq from messages where id = ?2)) \
     and id = ?2 and recipient_id = ?3 and sender_id = ?4 and status = ?5 \
     and (?6 is null or (type in (?7, ?8)) = ?6)";
// The same for a step that does not depend on the message's type
// (`delivered`): three parameters fewer to bind (round 27); `?6` is `?9` above.
const RECEIPT_STEP_ANY_TYPE: &str = "update messages set status = ?1 \
     where seq = coalesce(?6, (select seq from messages where id = ?2)) \
     and id = ?2 and recipient_id = ?3 and sender_id = ?4 and status = ?5";
// Otherwise a receipt finds its message by id once; its update goes by `seq`, the
// table's own key, instead of searching the id index a second time.
// The last column says whether a read would take the message out of its
// recipient's unread count.
macro_rules! receipt_facts {
    ($where:literal) => {
        concat!(
            "select sender_id, recipient_id, type, status, seq, \
             read_at is null and deleted_at is null from messages where ",
            $where
        )
    };
}
const RECEIPT_FACTS: &str = receipt_facts!("id = $1");
// SQLite's, with where the writer stored the message lately (`?2`) as above.
const RECEIPT_FACTS_NEAR: &str =
    receipt_facts!("seq = coalesce(?2, (select seq from messages where id = ?1)) and id = ?1");
// One statement per conversation a batch changed (see `Unread`).
const UNREAD_ADD: &str = "insert into unread_counts (recipient_id, sender_id, n) values ($1, $2, $3) \
     on conflict (recipient_id, sender_id) do update set n = unread_counts.n + excluded.n";
const RECEIPT_ADVANCE: &str =
    "update messages set status = $1, read_at = coalesce(read_at, $2) where seq = $3";
// A receipt that sets no `read_at` (delivered) leaves the column out: it
// reads nothing, and counts nothing in `unread_counts`.
const RECEIPT_STATUS: &str = "update messages set status = $1 where seq = $2";
const RECEIPT_READ_AT: &str = "update messages set read_at = $1 where seq = $2 and read_at is null";
const LAST_SEEN: &str = "update users set last_seen = $1 where id = $2";
const CHANGE_FACTS: &str = "select sender_id, recipient_id, type, created_at, deleted_at, content, \
     file_url, thumbnail_url, seq from messages where id = $1";
const EDIT_KEEP: &str =
    "insert into message_edits (message_id, content, edited_at) values ($1, $2, $3)";
const EDIT_APPLY: &str = "update messages set content = $1, edited_at = $2 where seq = $3";
const UNSEND_APPLY: &str = "update messages set content = '', file_url = null, file_name = null, \
     file_size = null, file_type = null, waveform = null, duration = null, thumbnail_url = null, \
     edited_at = null, deleted_at = $1 where seq = $2";
const UNSEND_EDITS: &str = "delete from message_edits where message_id = $1";
const UNSEND_REACTIONS: &str = "delete from reactions where message_id = $1";
const REACTION_OF: &str = "select emoji from reactions where message_id = $1 and user_id = $2";
const REACTION_DROP: &str = "delete from reactions where message_id = $1 and user_id = $2";
const REACTION_PUT: &str = "insert into reactions (message_id, user_id, emoji, created_at) values ($1, $2, $3, $4) \
     on conflict (message_id, user_id) do update set emoji = excluded.emoji, created_at = excluded.created_at";
const REACTIONS: &str =
    "select user_id, emoji from reactions where message_id = $1 order by created_at, user_id";

/// A missing duration is bound as this number and stored as NULL (`nullif`):
/// sqlx 0.9's Any driver binds a NULL `f64` as a float4 (`sqlx-core`
/// `any/arguments.rs` swaps Real and Double for NULLs), which fixes the type of
/// PostgreSQL's prepared statement to float4 and fails every later non-NULL
/// duration. Durations are always positive, so -1 cannot be a real one.
pub(super) const NO_DURATION: f64 = -1.0;

/// Decides a receipt from the stored facts: the status to move to, `None`
/// for no change, or why the receipt is refused.
pub type Decide = Box<dyn FnOnce(&Stored) -> Result<Option<Status>> + Send>;

/// What rules on changing a message read of it.
#[derive(Clone, Debug)]
pub struct Facts {
    pub sender_id: Uuid,
    pub recipient_id: Uuid,
    pub kind: MessageType,
    pub created_at: String,
    pub deleted: bool,
}

/// Decides whether a change may be made, from the stored facts.
pub type Check = Box<dyn FnOnce(&Facts) -> Result<()> + Send>;

/// A change to a stored message.
pub enum Change {
    /// New content (the old one goes to the edit history).
    Edit { content: String, at: String },
    /// Delete for everyone: a tombstone from now on.
    Unsend { at: String },
    /// `user` reacts with `emoji`; the same emoji again, or none, removes theirs.
    React {
        user: Uuid,
        emoji: Option<String>,
        at: String,
    },
}

/// What a change did.
#[derive(Debug, PartialEq)]
pub enum Changed {
    Edited,
    /// The same content again: nothing stored.
    Unchanged,
    /// The files it had (to remove from storage now).
    Unsent {
        files: Vec<String>,
    },
    AlreadyUnsent,
    /// The message's reactions after the change.
    Reactions(Vec<Reaction>),
}

/// What a batch changed in the unread counts (`unread_counts`, 0009): +1
/// per message stored, -1 per message read, applied once per conversation
/// just before the commit. (SQLite counts stored messages in bulk instead,
/// and reads only below its watermark: `sqlite::Watermark`.) A trigger per
/// stored message cost the send → receive tail more than the index it
/// replaced (docs/benchmarks.md, round 15). Unsends and tombstones, which
/// are rare and come from several paths, are counted by a trigger on
/// `deleted_at` instead.
#[derive(Default)]
pub(super) struct Unread(Vec<(Uuid, Uuid, i64)>);

impl Unread {
    pub(super) fn add(&mut self, recipient: Uuid, sender: Uuid, n: i64) {
        self.0.push((recipient, sender, n));
    }

    /// The net change per (recipient, sender), in key order: two writers
    /// (PostgreSQL nodes) then lock the rows in the same order. Sorted and
    /// summed in place, so a batch allocates no second list.
    pub(super) fn drain(&mut self) -> std::vec::Drain<'_, (Uuid, Uuid, i64)> {
        let all = &mut self.0;
        all.sort_unstable_by_key(|&(r, s, _)| (r, s));
        // `dedup_by` hands the later entry first and keeps the earlier one.
        all.dedup_by(|later, kept| {
            let same = later.0 == kept.0 && later.1 == kept.1;
            if same {
                kept.2 += later.2;
            }
            same
        });
        all.retain(|&(_, _, n)| n != 0);
        all.drain(..)
    }
}

/// What a receipt did.
pub struct Receipted {
    /// Who sent the message.
    pub sender_id: Uuid,
    /// The message's status before the receipt.
    pub status: Status,
    /// The new status, when it moved.
    pub changed: Option<Status>,
}

impl Receipted {
    pub(super) fn of(stored: &Stored, changed: Option<Status>) -> Self {
        Self {
            sender_id: stored.sender_id,
            status: stored.status,
            changed,
        }
    }
}

/// What the caller wants done with its write's outcome, run by the writer
/// right after the commit (or the failure), before anything else hears of
/// it. A sent message's announcements and the sender's ack leave from here,
/// in the same turn of the runtime as the commit: the event that asked for
/// the write has already finished, so nothing is woken just to resume it
/// and answer (docs/benchmarks.md, rounds 10 and 20). It must not block: it
/// runs where the commits run.
pub type Then<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// A job's answer, given exactly once: by the writer, or, for a job that
/// was dropped unanswered (a writer that stopped), by the drop.
pub(super) struct Reply<T>(Option<Then<T>>);

impl<T> Reply<T> {
    fn new(then: Then<T>) -> Self {
        Self(Some(then))
    }

    fn send(mut self, r: Result<T>) {
        if let Some(then) = self.0.take() {
            then(r);
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then(Err(Error::internal("the writer dropped a write")));
        }
    }
}

/// A receipt as the writer takes it (see `Writer::receipt`).
pub(super) struct Ask {
    id: Uuid,
    read_at: Option<String>,
    usual: Option<Step>,
    decide: Decide,
}

pub(super) enum Job {
    Insert {
        message: Arc<Message>,
        ensure_contact: bool,
        reply: Reply<Insert>,
    },
    Receipt {
        ask: Ask,
        reply: Reply<Receipted>,
    },
    LastSeen {
        user: Uuid,
        at: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Change {
        id: Uuid,
        change: Change,
        check: Check,
        reply: oneshot::Sender<Result<Changed>>,
    },
    /// Answered once the batch it joined has committed: the writer works.
    Ping(oneshot::Sender<Result<()>>),
    Shutdown(oneshot::Sender<()>),
}

/// Per batch, not per message: its size, how long it took to commit, and
/// what was already waiting for the next one (`/metrics`).
pub(super) fn record_batch(jobs: usize, started: std::time::Instant, waiting: usize) {
    use crate::telemetry::{batch_jobs, commit_seconds, writer_queue};
    commit_seconds().record(started.elapsed().as_secs_f64());
    batch_jobs().record(jobs as f64);
    writer_queue().set(waiting as f64);
}

/// What inserting a message did.
pub enum Insert {
    /// Stored now at position `seq`; `new_contact` when this message made
    /// the two users contacts.
    New { new_contact: bool, seq: i64 },
    /// The sender had already sent a message with this `clientMessageId`
    /// (read it with `Store::message_by_client_id`).
    Duplicate,
}

/// Where jobs go: the inline writer's queue, or a channel to a thread or task.
#[derive(Clone)]
enum Sink {
    Queue(Arc<queue::Producer>),
    Channel(mpsc::Sender<Job>),
}

impl Sink {
    /// Queues `job`, waiting for room only when the queue is full.
    async fn send(&self, job: Job) -> std::result::Result<(), Job> {
        // Room is the common case and needs no future: a waiting one holds
        // the job and a waiter, and would enlarge every caller's future.
        let job = match self {
            Sink::Queue(producer) => producer.0.try_push_or_return(job),
            Sink::Channel(tx) => tx.try_send(job).map_err(|e| match e {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            }),
        };
        match job {
            Ok(()) => Ok(()),
            Err(job) => Box::pin(self.wait_and_send(job)).await,
        }
    }

    async fn wait_and_send(&self, job: Job) -> std::result::Result<(), Job> {
        match self {
            Sink::Queue(producer) => producer.0.push(job).await,
            Sink::Channel(tx) => tx.send(job).await.map_err(|e| e.0),
        }
    }
}

#[derive(Clone)]
pub struct Writer {
    tx: Sink,
    /// SQLite: see `ChangedElsewhere`.
    elsewhere: Option<Arc<ChangedElsewhere>>,
}

/// Changes to which messages are unread, made by a transaction of the pool
/// rather than by the writer: an account's deletion turns its messages into
/// tombstones. The SQLite writer adds up the unread messages above the
/// watermark as it stores and reads them (see `sqlite::Watermark`); such a
/// change leaves that tally wrong, so the writer counts from the table at
/// its next move instead.
#[derive(Default)]
pub(in crate::store) struct ChangedElsewhere(std::sync::atomic::AtomicU64);

impl ChangedElsewhere {
    fn note(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many such changes were made so far.
    fn seen(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Writer {
    /// SQLite: an inline writer task, or a thread with `synchronous = full`,
    /// that owns its connection (the schema is already migrated).
    /// `search_done` is the last of `search_changes` the search index
    /// applied: the writer deletes those.
    pub(in crate::store) async fn sqlite(
        path: PathBuf,
        synchronous: Synchronous,
        search_done: Arc<std::sync::atomic::AtomicI64>,
    ) -> Result<Self> {
        let elsewhere = Arc::new(ChangedElsewhere::default());
        let tx = sqlite::start(path, synchronous, search_done, elsewhere.clone()).await?;
        Ok(Self {
            tx,
            elsewhere: Some(elsewhere),
        })
    }

    /// Says that the write transaction in progress, which holds the write
    /// lock, has marked messages read or deleted outside the writer. The
    /// writer reads this after taking the lock for a batch, so it sees
    /// every such transaction that committed before that batch.
    pub(in crate::store) fn changed_elsewhere(&self) {
        if let Some(elsewhere) = &self.elsewhere {
            elsewhere.note();
        }
    }

    /// PostgreSQL: a writer task on a connection of the pool.
    pub(in crate::store) fn postgres(pool: AnyPool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(postgres::run(pool, rx));
        Self {
            tx: Sink::Channel(tx),
            elsewhere: None,
        }
    }

    async fn submit<T>(&self, job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.hand_over(job(reply), answer).await
    }

    async fn hand_over<T>(&self, job: Job, answer: oneshot::Receiver<Result<T>>) -> Result<T> {
        self.queue(job).await;
        answer
            .await
            .map_err(|_| Error::internal("the writer dropped a write"))?
    }

    /// Queues `job`. A job the writer no longer takes is dropped, and its
    /// reply answers that it was (see `Reply`).
    async fn queue(&self, job: Job) {
        if self.tx.send(job).await.is_err() {
            tracing::warn!("a write arrived after the writer stopped");
        }
    }

    /// Queues a new message (status `sent`); when `ensure_contact`, also
    /// records the two users as contacts. `then` hears what the insert did
    /// right after the commit.
    pub async fn insert_message(
        &self,
        message: Arc<Message>,
        ensure_contact: bool,
        then: Then<Insert>,
    ) {
        self.queue(Job::Insert {
            message,
            ensure_contact,
            reply: Reply::new(then),
        })
        .await;
    }

    /// Queues a receipt: the writer moves the message by `usual` where it
    /// matches, or else reads the message and lets `decide` rule; it stores
    /// the new status (and `readAt`, when given and not yet set). `usual`
    /// must be a step `decide` would take (`chat::lifecycle::usual_step`),
    /// and sets no `readAt`.
    /// `then` hears the outcome right after the commit.
    pub async fn receipt(
        &self,
        id: Uuid,
        read_at: Option<String>,
        usual: Option<Step>,
        decide: Decide,
        then: Then<Receipted>,
    ) {
        self.queue(Job::Receipt {
            ask: Ask {
                id,
                read_at,
                usual,
                decide,
            },
            reply: Reply::new(then),
        })
        .await;
    }

    pub async fn set_last_seen(&self, user: Uuid, at: String) -> Result<()> {
        self.submit(|reply| Job::LastSeen { user, at, reply }).await
    }

    /// Changes message `id` if `check` allows it, in arrival order with every
    /// other write to it.
    pub async fn change(&self, id: Uuid, change: Change, check: Check) -> Result<Changed> {
        self.submit(|reply| Job::Change {
            id,
            change,
            check,
            reply,
        })
        .await
    }

    /// Whether the writer commits: a job that writes nothing, answered
    /// after its batch's commit (for `/api/health/ready`).
    pub async fn ping(&self) -> Result<()> {
        self.submit(Job::Ping).await
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
pub(super) enum Pending {
    Insert(Reply<Insert>, Result<Insert>),
    Receipt(Reply<Receipted>, Result<Receipted>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
    Change(oneshot::Sender<Result<Changed>>, Result<Changed>),
}

impl Pending {
    pub(super) fn answer(self, committed: bool) {
        fn outcome<T>(r: Result<T>, committed: bool) -> Result<T> {
            // A refusal (not found, forbidden) stays what it was; a success
            // that did not commit is not one.
            match r {
                Ok(_) if !committed => Err(Error::internal("commit failed")),
                r => r,
            }
        }
        // A caller that went away no longer needs its answer.
        match self {
            Pending::Insert(reply, r) => reply.send(outcome(r, committed)),
            Pending::Receipt(reply, r) => reply.send(outcome(r, committed)),
            Pending::Unit(tx, r) => drop(tx.send(outcome(r, committed))),
            Pending::Change(tx, r) => drop(tx.send(outcome(r, committed))),
        }
    }
}

/// Waveforms are stored as JSON text.
pub(super) fn waveform_json(m: &Message) -> Result<Option<String>> {
    m.waveform
        .as_ref()
        .map(|w| serde_json::to_string(w).map_err(|_| Error::internal("waveform encoding")))
        .transpose()
}

/// A contact pair is stored smaller id first.
pub(super) fn contact_pair(m: &Message) -> (String, String) {
    let (a, b) = if m.sender_id < m.recipient_id {
        (m.sender_id, m.recipient_id)
    } else {
        (m.recipient_id, m.sender_id)
    };
    (a.to_string(), b.to_string())
}

/// The change facts from [`CHANGE_FACTS`]' first five columns.
pub(super) fn facts(
    sender: &str,
    recipient: &str,
    kind: &str,
    created_at: String,
    deleted: bool,
) -> Result<Facts> {
    Ok(Facts {
        sender_id: Uuid::parse_str(sender).map_err(|_| Error::internal("malformed id"))?,
        recipient_id: Uuid::parse_str(recipient).map_err(|_| Error::internal("malformed id"))?,
        kind: MessageType::parse(kind).ok_or_else(|| Error::internal("malformed type"))?,
        created_at,
        deleted,
    })
}

/// The lifecycle's facts from the receipt query's columns.
pub(super) fn stored(sender: &str, recipient: &str, kind: &str, status: &str) -> Result<Stored> {
    Ok(Stored {
        sender_id: Uuid::parse_str(sender).map_err(|_| Error::internal("malformed id"))?,
        recipient_id: Uuid::parse_str(recipient).map_err(|_| Error::internal("malformed id"))?,
        kind: MessageType::parse(kind).ok_or_else(|| Error::internal("malformed type"))?,
        status: Status::parse(status).ok_or_else(|| Error::internal("malformed status"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_changes_are_summed_per_conversation_in_key_order() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut unread = Unread::default();
        unread.add(b, a, 1);
        unread.add(a, c, 1);
        unread.add(b, a, 1);
        unread.add(a, b, 1);
        unread.add(a, c, -1);
        unread.add(b, a, -1);
        let net: Vec<_> = unread.drain().collect();
        // (a, c) nets to nothing and is left out.
        assert_eq!(net, vec![(a, b, 1), (b, a, 1)]);
        assert_eq!(unread.drain().count(), 0, "a batch starts from nothing");
    }
}
