//! The SQLite consumer of the writer's queue: an inline task (or, with
//! `synchronous = full`, an OS thread) that owns a rusqlite connection, and
//! a thread that checkpoints the WAL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::queue::{Producer, Queue};
use super::recent::Recent;
use super::{
    Ask, CHANGE_FACTS, Change, Changed, ChangedElsewhere, Check, EDIT_APPLY, EDIT_KEEP,
    INSERT_CONTACT, INSERT_MESSAGE, INSERT_TEXT, Insert, Job, LAST_SEEN, MAX_BATCH, NO_DURATION,
    Pending, QUEUE, REACTION_DROP, REACTION_OF, REACTION_PUT, REACTIONS, RECEIPT_ADVANCE,
    RECEIPT_FACTS_NEAR, RECEIPT_READ_AT, RECEIPT_STATUS, RECEIPT_STEP, RECEIPT_STEP_ANY_TYPE,
    Receipted, Sink, UNREAD_ADD, UNSEND_APPLY, UNSEND_EDITS, UNSEND_REACTIONS, Unread,
    contact_pair, facts, record_batch, stored, waveform_json,
};
use crate::config::Synchronous;
use crate::error::{Error, Result};
use crate::model::{Message, MessageType, Reaction, Step, Stored};

/// Takes back a contact made for a message that could not be stored (see
/// `insert`); PostgreSQL needs none, as a failed statement fails its batch.
const DELETE_CONTACT: &str = "delete from contacts where user_a = ?1 and user_b = ?2";

/// The writer thread: a commit within this long of the previous one means the server is busy…
const BUSY: Duration = Duration::from_millis(2);
/// …and then the writer lets a batch gather for this long before committing.
const LINGER: Duration = Duration::from_micros(300);
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The writer moves the unread counts' watermark up (see `Watermark`) once
/// this many messages lie above it, or a second after its last move: a move
/// costs about what 15 messages counted one by one did (docs/benchmarks.md,
/// round 21), and what lies above the watermark is what every read of the
/// counts walks.
const UNREAD_ABOVE_AT_MOST: u32 = 512;
const UNREAD_EVERY: Duration = Duration::from_secs(1);
/// A log longer than this (frames of a page each, ~64 MiB) is restarted from
/// its beginning: see `catch_up`.
const RESTART_FRAMES: i64 = if cfg!(test) { 64 } else { 16_384 };
/// Passes the checkpointer makes in a row to close in on the writer, and how
/// few frames a pass may copy for the writer to be asked to finish.
const CATCH_UP_PASSES: usize = 4;
const LITTLE_LEFT: i64 = 512;
/// A log file larger than this is cut back once the writer has been idle for
/// a whole checkpoint interval with everything copied (see `checkpoints`).
const SHRINK_ABOVE_BYTES: u64 = if cfg!(test) { 256 << 10 } else { 16 << 20 };

/// What the writer and the checkpointer thread tell each other.
struct Signals {
    /// Held shared by the writer for each transaction, and exclusively by
    /// the checkpointer while it catches up with the log (see
    /// `catch_up`): the writer then waits between two transactions — on
    /// the runtime without blocking it — instead of copying and syncing
    /// the log itself on the runtime thread, which a disk busy flushing
    /// other work can stretch to most of a second.
    gate: tokio::sync::RwLock<()>,
    /// The last of `search_changes` the search index applied (see
    /// `store::indexer`).
    search_done: Arc<AtomicI64>,
    elsewhere: Arc<ChangedElsewhere>,
}

/// Opens the write connection, starts its owner (an inline task, or a
/// thread when every commit waits for the disk) and the checkpointer.
pub(super) async fn start(
    path: PathBuf,
    synchronous: Synchronous,
    search_done: Arc<AtomicI64>,
    elsewhere: Arc<ChangedElsewhere>,
) -> Result<Sink> {
    let signals = Arc::new(Signals {
        gate: tokio::sync::RwLock::new(()),
        search_done,
        elsewhere,
    });
    let (sink, link) = match synchronous {
        Synchronous::Normal => {
            let conn = open(&path, synchronous)?;
            let watermark = Watermark::read(&conn, &signals.elsewhere)?;
            // The inline writer never waits for a lock: it would wait on the
            // runtime thread that the holder may need to finish (see `inline`).
            conn.busy_timeout(Duration::ZERO).map_err(db)?;
            let queue = Queue::new();
            tokio::spawn(inline(conn, watermark, queue.clone(), signals.clone()));
            let link = Link::Queue(Arc::downgrade(&queue));
            (Sink::Queue(Arc::new(Producer(queue))), link)
        }
        Synchronous::Full => {
            let (tx, rx) = mpsc::channel(QUEUE);
            let (opened, ready) = oneshot::channel();
            let writer_path = path.clone();
            let wanted = signals.clone();
            // What callers run after a commit (`Then`) may spawn tasks.
            let runtime = tokio::runtime::Handle::current();
            std::thread::Builder::new()
                .name("chatr-writer".into())
                .spawn(move || {
                    let opened_conn = open(&writer_path, synchronous)
                        .and_then(|conn| Ok((Watermark::read(&conn, &wanted.elsewhere)?, conn)));
                    match opened_conn {
                        Ok((watermark, conn)) => {
                            let _ = opened.send(Ok(()));
                            let _runtime = runtime.enter();
                            run(conn, watermark, rx, &wanted);
                        }
                        Err(e) => {
                            let _ = opened.send(Err(e));
                        }
                    }
                })
                .map_err(|e| Error::internal(format!("cannot start the writer: {e}")))?;
            ready
                .await
                .map_err(|_| Error::internal("the writer did not start"))??;
            let link = Link::Channel(tx.downgrade());
            (Sink::Channel(tx), link)
        }
    };
    std::thread::Builder::new()
        .name("chatr-checkpoint".into())
        .spawn(move || {
            crate::store::priority::background();
            checkpoints(&path, &link, &signals);
        })
        .map_err(|e| Error::internal(format!("cannot start the checkpointer: {e}")))?;
    Ok(sink)
}

/// How the checkpointer reaches the writer without keeping it alive.
enum Link {
    Queue(Weak<Queue>),
    Channel(mpsc::WeakSender<Job>),
}

impl Link {
    fn alive(&self) -> bool {
        match self {
            Link::Queue(q) => q.upgrade().is_some_and(|q| q.is_open()),
            Link::Channel(tx) => tx.upgrade().is_some_and(|tx| !tx.is_closed()),
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
             pragma temp_store = memory; pragma wal_autocheckpoint = 0; pragma cache_size = -16000;"
        }
        Synchronous::Full => {
            "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; \
             pragma temp_store = memory; pragma wal_autocheckpoint = 0; pragma cache_size = -16000;"
        }
    })
    .map_err(db)?;
    // The write connection keeps 16 MB of pages (SQLite's default is 2 MB):
    // the indexes' working set under load, read back from the file otherwise.
    // No `journal_size_limit`: cutting the log file back at a restart waits
    // for its pages' write-back inside a commit (p99 3× at 3,000 messages/s).
    // The checkpointer cuts it back instead, when the writer is idle.
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The inline writer: a task on the async runtime that commits where the
/// events arrive. When jobs are queued it lets every other ready task run
/// once (each adds its writes: that is the group of the group commit), then
/// applies and commits the whole batch on this thread and answers.
///
/// This blocks the runtime thread for the commit, on purpose: with WAL and
/// `synchronous = normal` a commit is a few page writes into the page cache
/// (tens of microseconds for a batch), cheaper than waking another thread
/// and being woken back for every batch, which cost more CPU than the
/// statements did (docs/benchmarks.md). What can take long stays off this
/// thread: checkpoints run on their own thread, search indexing is another
/// file's (`store::indexer`), and a lock held elsewhere is waited for with an async
/// sleep, never in SQLite's busy handler.
async fn inline(conn: Connection, watermark: Watermark, queue: Arc<Queue>, signals: Arc<Signals>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writing = Writing::new(watermark);
    let mut backoff = LOCKED_RETRY;
    // When the oldest job of the batch was queued.
    let mut oldest = None;
    while writing.stop.is_none() {
        if batch.is_empty() {
            if !queue.take(&mut batch, &mut oldest).await {
                break;
            }
            tokio::task::yield_now().await;
            if batch.len() < MAX_BATCH {
                queue.take_ready(&mut batch, &mut oldest);
            }
        }
        let turn = signals.gate.read().await;
        match begin(&conn) {
            Ok(()) => backoff = LOCKED_RETRY,
            Err(e) if is_locked(&e) => {
                drop(turn);
                // Another connection writes (an account change through the
                // pool, a log truncation): try again shortly, letting the
                // runtime serve everyone meanwhile.
                queue.put_back(&mut batch, &mut oldest);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LOCKED_RETRY_MAX);
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                fail(&mut batch, &mut writing.stop);
                // The next batch's wait is its own.
                oldest = None;
                continue;
            }
        }
        if let Some(queued) = oldest.take() {
            crate::telemetry::writer_wait_seconds().record(queued.elapsed().as_secs_f64());
        }
        commit(&conn, &mut batch, &mut writing, &signals, || queue.len());
        drop(turn);
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the write connection");
    }
    if let Some(done) = writing.stop {
        let _ = done.send(());
    }
}

/// How long the inline writer first waits for a write lock held elsewhere, and at most.
const LOCKED_RETRY: Duration = Duration::from_millis(1);
const LOCKED_RETRY_MAX: Duration = Duration::from_millis(20);

/// Another connection holds the write lock.
fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The writer thread (`synchronous = full`): blocks on its channel, and when
/// busy lets a batch gather for a moment, since every commit waits for the disk.
fn run(conn: Connection, watermark: Watermark, mut rx: mpsc::Receiver<Job>, signals: &Signals) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writing = Writing::new(watermark);
    let mut last_commit = Instant::now();
    while writing.stop.is_none() {
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
        // This connection waits for locks in SQLite's busy handler: on its own thread it may.
        let turn = signals.gate.blocking_read();
        if let Err(e) = begin(&conn) {
            tracing::error!(error = %e, "cannot begin a write transaction");
            fail(&mut batch, &mut writing.stop);
            continue;
        }
        commit(&conn, &mut batch, &mut writing, signals, || rx.len());
        last_commit = Instant::now();
        drop(turn);
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the write connection");
    }
    if let Some(done) = writing.stop {
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

/// Applies and commits one batch, records it, and answers its callers
/// (both writers).
fn commit(
    conn: &Connection,
    batch: &mut Vec<Job>,
    writing: &mut Writing,
    signals: &Signals,
    queued: impl FnOnce() -> usize,
) {
    let (jobs, started) = (batch.len(), Instant::now());
    let committed = apply(conn, batch.drain(..), writing, signals);
    record_batch(jobs, started, queued());
    answer(&mut writing.pending, committed);
}

/// What a writer keeps from one batch to the next (both writers).
struct Writing {
    /// The batch's answers, given once it committed or failed.
    pending: Vec<Pending>,
    /// Set by a shutdown job: the writer stops after this batch.
    stop: Option<oneshot::Sender<()>>,
    watermark: Watermark,
    recent: Recent,
}

impl Writing {
    fn new(watermark: Watermark) -> Self {
        Self {
            pending: Vec::with_capacity(MAX_BATCH),
            stop: None,
            watermark,
            recent: Recent::default(),
        }
    }
}

/// Answers a batch after its commit.
fn answer(pending: &mut Vec<Pending>, committed: bool) {
    for p in pending.drain(..) {
        p.answer(committed);
    }
}

/// A batch that cannot be written at all: every caller hears it failed.
fn fail(batch: &mut Vec<Job>, stop: &mut Option<oneshot::Sender<()>>) {
    fn failed<T>() -> Result<T> {
        Err(Error::internal("the database refused the write"))
    }
    let mut pending = Vec::new();
    for job in batch.drain(..) {
        match job {
            Job::Insert { reply, .. } => pending.push(Pending::Insert(reply, failed())),
            Job::Receipt { reply, .. } => pending.push(Pending::Receipt(reply, failed())),
            Job::LastSeen { reply, .. } => pending.push(Pending::Unit(reply, failed())),
            Job::Change { reply, .. } => pending.push(Pending::Change(reply, failed())),
            Job::Ping(reply) => pending.push(Pending::Unit(reply, failed())),
            Job::Shutdown(done) => *stop = Some(done),
        }
    }
    for p in pending {
        p.answer(false);
    }
}

/// Takes the write lock for a batch. BEGIN and COMMIT are cached statements:
/// rusqlite's `Transaction` parses both again for every commit.
fn begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("begin immediate")
        .and_then(|mut st| st.execute([]))
        .map(drop)
}

/// Applies a batch inside the transaction `begin` opened, and commits it:
/// whether it committed.
fn apply(
    conn: &Connection,
    jobs: impl Iterator<Item = Job>,
    writing: &mut Writing,
    signals: &Signals,
) -> bool {
    let Writing {
        pending,
        stop,
        watermark,
        recent,
    } = writing;
    // This connection holds the write lock: every change made elsewhere has
    // committed or not begun.
    watermark.changed_elsewhere(signals.elsewhere.seen());
    let mut unread = Unread::default();
    let mut hot = Hot::default();
    for job in jobs {
        // A statement that fails rolls back only itself in SQLite; the others commit.
        match job {
            Job::Insert {
                message,
                ensure_contact,
                reply,
            } => {
                let r = insert(conn, &mut hot, &message, ensure_contact);
                if let Ok(Insert::New { seq, .. }) = r {
                    watermark.stored(seq, &message, &mut unread);
                    recent.stored(message.id, seq);
                }
                pending.push(Pending::Insert(reply, r));
            }
            Job::Receipt { ask, reply } => {
                let near = recent.seq(&ask.id);
                let r = receipt(conn, &mut hot, ask, near, watermark, &mut unread);
                pending.push(Pending::Receipt(reply, r));
            }
            Job::LastSeen { user, at, reply } => {
                let r = conn
                    .prepare_cached(LAST_SEEN)
                    .and_then(|mut st| st.execute(params![at, user.to_string()]))
                    .map(drop)
                    .map_err(db);
                pending.push(Pending::Unit(reply, r));
            }
            Job::Change {
                id,
                change,
                check,
                reply,
            } => {
                let r = change_message(conn, id, change, check, &signals.search_done);
                if let Ok(Changed::Unsent { .. }) = r {
                    // Whether it was unread and above the watermark is not
                    // at hand; unsends are rare, so the next move counts.
                    watermark.tally = None;
                }
                pending.push(Pending::Change(reply, r));
            }
            Job::Ping(reply) => pending.push(Pending::Unit(reply, Ok(()))),
            Job::Shutdown(done) => {
                *stop = Some(done);
                break;
            }
        }
    }
    // The batch's statements go back to the cache before the counts and the commit.
    drop(hot);
    // The counts go with the messages they count, or neither commits.
    let moved = add_unread(conn, &mut unread)
        .and_then(|()| watermark.move_up(conn, stop.is_some()))
        .and_then(|moved| {
            conn.prepare_cached("commit")
                .and_then(|mut st| st.execute([]))
                .map(|_| moved)
        });
    match moved {
        Ok(moved) => {
            watermark.committed(moved);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "write transaction failed");
            // Leaves no transaction open for the next batch.
            let _ = conn.execute_batch("rollback");
            // The tally holds this batch's messages, which are gone, and
            // their places may go to others.
            watermark.tally = None;
            recent.forget();
            false
        }
    }
}

/// The statements nearly every job runs, taken from the connection's cache
/// once per batch rather than once per job: the cache hashes a statement's
/// text when it hands it out and again when it takes it back, some 1,000
/// instructions a statement (docs/benchmarks.md, round 22).
#[derive(Default)]
struct Hot<'c> {
    insert: Option<CachedStatement<'c>>,
    insert_text: Option<CachedStatement<'c>>,
    step: Option<CachedStatement<'c>>,
    step_any_type: Option<CachedStatement<'c>>,
    facts: Option<CachedStatement<'c>>,
    advance: Option<CachedStatement<'c>>,
    status: Option<CachedStatement<'c>>,
    read_at: Option<CachedStatement<'c>>,
}

/// The statement in `slot`, prepared (or taken from the cache) the first time.
fn hot<'s, 'c>(
    slot: &'s mut Option<CachedStatement<'c>>,
    conn: &'c Connection,
    sql: &str,
) -> rusqlite::Result<&'s mut CachedStatement<'c>> {
    let st = match slot.take() {
        Some(st) => st,
        None => conn.prepare_cached(sql)?,
    };
    Ok(slot.insert(st))
}

/// Stores `m` and, when `ensure_contact`, makes its two users contacts.
/// A statement that fails rolls back only itself here, so the two go in an
/// order that leaves nothing behind when either fails: the contact first
/// (a failure stores nothing), then the message (a failure takes back a
/// contact just made). A caller that hears of a failure must find nothing
/// stored, or a retry without a `clientMessageId` would store it twice.
fn insert<'c>(
    conn: &'c Connection,
    statements: &mut Hot<'c>,
    m: &Message,
    ensure_contact: bool,
) -> Result<Insert> {
    let waveform = waveform_json(m)?;
    // The contact this message made, if it made one.
    let mut made = None;
    if ensure_contact {
        let (a, b) = contact_pair(m);
        let inserted = conn
            .prepare_cached(INSERT_CONTACT)
            .and_then(|mut st| st.execute(params![a, b]))
            .map_err(db)?;
        if inserted == 1 {
            made = Some((a, b));
        }
    }
    let inserted = insert_message(conn, statements, m, waveform.as_deref());
    if let (Err(_), Some((a, b))) = (&inserted, &made)
        && let Err(e) = conn
            .prepare_cached(DELETE_CONTACT)
            .and_then(|mut st| st.execute(params![a, b]))
    {
        tracing::error!(error = %e, "taking back a contact made for a message not stored");
    }
    // `do nothing` on a repeated clientMessageId changes no row.
    if inserted.map_err(db)? == 0 {
        return Ok(Insert::Duplicate);
    }
    Ok(Insert::New {
        new_contact: made.is_some(),
        seq: conn.last_insert_rowid(),
    })
}

/// Whether any of the columns `INSERT_TEXT` leaves out has a value.
fn has_file(m: &Message) -> bool {
    m.file_url.is_some()
        || m.file_name.is_some()
        || m.file_size.is_some()
        || m.file_type.is_some()
        || m.waveform.is_some()
        || m.duration.is_some()
        || m.thumbnail_url.is_some()
}

/// Stores `m` by `INSERT_MESSAGE` when it has a file, else by `INSERT_TEXT`.
fn insert_message<'c>(
    conn: &'c Connection,
    statements: &mut Hot<'c>,
    m: &Message,
    waveform: Option<&str>,
) -> rusqlite::Result<usize> {
    // Ids are bound as text written on the stack, not allocated per message.
    let mut buffers = [Uuid::encode_buffer(); 3];
    let [id, sender, recipient] = &mut buffers;
    let id: &str = m.id.hyphenated().encode_lower(id);
    let sender: &str = m.sender_id.hyphenated().encode_lower(sender);
    let recipient: &str = m.recipient_id.hyphenated().encode_lower(recipient);
    let reply_to = m.reply_to.as_ref().map(|r| r.id.to_string());
    if !has_file(m) {
        return hot(&mut statements.insert_text, conn, INSERT_TEXT)?.execute(params![
            id,
            sender,
            recipient,
            m.content,
            m.kind.as_str(),
            m.created_at,
            m.client_message_id,
            reply_to,
        ]);
    }
    hot(&mut statements.insert, conn, INSERT_MESSAGE)?.execute(params![
        id,
        sender,
        recipient,
        m.content,
        m.kind.as_str(),
        m.created_at,
        m.file_url,
        m.file_name,
        m.file_size,
        m.file_type,
        waveform,
        m.duration.unwrap_or(NO_DURATION),
        m.client_message_id,
        m.thumbnail_url,
        reply_to,
    ])
}

/// The unread counts' watermark (migration 0010): `unread_counts` counts
/// the messages up to `seq`, and readers count those above it from
/// `messages`. Counting each message as it is stored cost one row per
/// conversation per commit (7,600 instructions per message at low rates,
/// docs/benchmarks.md, round 20); the watermark adds up many commits'
/// messages in one statement, and what it leaves above stays small.
pub(super) struct Watermark {
    seq: i64,
    /// Messages stored above `seq` since it last moved.
    above: u32,
    moved: Instant,
    /// The unread messages above `seq`, per conversation, added up as this
    /// writer stores and reads them, so that a move need not read them back
    /// from the table (2,800 instructions a message, round 28). `None` when
    /// not known: after a start, a failed batch, an unsend, or a change made
    /// elsewhere (`ChangedElsewhere`); the next move then reads the table.
    tally: Option<Unread>,
    /// `ChangedElsewhere::seen` when the tally was last known to be right.
    elsewhere: u64,
}

impl Watermark {
    fn read(conn: &Connection, elsewhere: &ChangedElsewhere) -> Result<Self> {
        let seq = conn
            .query_row("select seq from unread_watermark", [], |r| r.get(0))
            .map_err(db)?;
        Ok(Self {
            seq,
            above: 0,
            moved: Instant::now(),
            // What lies above was stored before this start.
            tally: None,
            elsewhere: elsewhere.seen(),
        })
    }

    /// At the start of a batch: `seen` is `ChangedElsewhere::seen` now.
    fn changed_elsewhere(&mut self, seen: u64) {
        if seen != self.elsewhere {
            self.elsewhere = seen;
            self.tally = None;
        }
    }

    /// `m` was stored as `seq`: counted now in `unread` when it lies at or
    /// below the watermark (a number SQLite reused), else in the tally.
    fn stored(&mut self, seq: i64, m: &Message, unread: &mut Unread) {
        if seq <= self.seq {
            unread.add(m.recipient_id, m.sender_id, 1);
            return;
        }
        self.above += 1;
        if let Some(tally) = &mut self.tally {
            tally.add(m.recipient_id, m.sender_id, 1);
        }
    }

    /// The unread message `seq` of `stored` was read.
    fn read_one(&mut self, seq: i64, stored: &Stored, unread: &mut Unread) {
        if seq <= self.seq {
            unread.add(stored.recipient_id, stored.sender_id, -1);
        } else if let Some(tally) = &mut self.tally {
            tally.add(stored.recipient_id, stored.sender_id, -1);
        }
    }

    /// Inside the batch's transaction: when due (or `now`), counts what lies
    /// above the watermark and moves it to the newest message. The new
    /// watermark, to keep once the transaction commits.
    fn move_up(&mut self, conn: &Connection, now: bool) -> rusqlite::Result<Option<i64>> {
        let due = now || self.above >= UNREAD_ABOVE_AT_MOST || self.moved.elapsed() >= UNREAD_EVERY;
        if self.above == 0 || !due {
            return Ok(None);
        }
        // Taken either way: a failed move leaves it unknown.
        let mut unread = match self.tally.take() {
            Some(tally) => tally,
            None => unread_above(conn, self.seq)?,
        };
        add_unread(conn, &mut unread)?;
        conn.prepare_cached(UNREAD_MOVE)?
            .query_row([], |r| r.get(0))
            .map(Some)
    }

    fn committed(&mut self, moved: Option<i64>) {
        if let Some(seq) = moved {
            self.seq = seq;
            self.above = 0;
            self.moved = Instant::now();
            self.tally = Some(Unread::default());
        }
    }
}

/// The unread messages above `seq`, read from the table.
///
/// The rows are grouped here, not by SQLite: its `group by` sorted them
/// by two text columns first, 4,200 instructions per message under load;
/// reading the ids and summing them here cost 3,100 (docs/benchmarks.md,
/// round 22).
fn unread_above(conn: &Connection, seq: i64) -> rusqlite::Result<Unread> {
    let mut unread = Unread::default();
    let mut st = conn.prepare_cached(UNREAD_ABOVE)?;
    let mut rows = st.query(params![seq])?;
    while let Some(r) = rows.next()? {
        // The writer stored these ids from `Uuid`s; one that does not
        // read back as one is no conversation a reader could list.
        if let (Some(recipient), Some(sender)) = (uuid_at(r, 0)?, uuid_at(r, 1)?) {
            unread.add(recipient, sender, 1);
        }
    }
    Ok(unread)
}

/// The conversations of the unread messages above the watermark (`?1`).
/// `not indexed`: a range of the table itself, the newest rows; without it
/// SQLite walks a whole index of `messages`.
const UNREAD_ABOVE: &str = "select recipient_id, sender_id from messages not indexed \
     where seq > ?1 and read_at is null and deleted_at is null";
const UNREAD_MOVE: &str = "update unread_watermark \
     set seq = coalesce((select max(seq) from messages), seq) returning seq";

fn add_unread(conn: &Connection, unread: &mut Unread) -> rusqlite::Result<()> {
    let mut changes = unread.drain().peekable();
    if changes.peek().is_none() {
        return Ok(());
    }
    let mut st = conn.prepare_cached(UNREAD_ADD)?;
    let mut buffers = [Uuid::encode_buffer(); 2];
    for (recipient, sender, n) in changes {
        let [r, s] = &mut buffers;
        let recipient: &str = recipient.hyphenated().encode_lower(r);
        let sender: &str = sender.hyphenated().encode_lower(s);
        st.execute(params![recipient, sender, n])?;
    }
    Ok(())
}

fn receipt<'c>(
    conn: &'c Connection,
    statements: &mut Hot<'c>,
    ask: Ask,
    near: Option<i64>,
    watermark: &mut Watermark,
    unread: &mut Unread,
) -> Result<Receipted> {
    let Ask {
        id,
        read_at,
        usual,
        decide,
    } = ask;
    let mut key = Uuid::encode_buffer();
    let key: &str = id.hyphenated().encode_lower(&mut key);
    if let Some(step) = usual.filter(|_| read_at.is_none()) {
        let moved = usual_step(conn, statements, key, near, &step).map_err(db)?;
        if moved {
            return Ok(Receipted {
                sender_id: step.sender_id,
                status: step.from,
                changed: Some(step.to),
            });
        }
    }
    let mut facts = |near: Option<i64>| {
        hot(&mut statements.facts, conn, RECEIPT_FACTS_NEAR)
            .and_then(|st| {
                st.query_row(params![key, near], |r| {
                    let stored = stored(text(r, 0)?, text(r, 1)?, text(r, 2)?, text(r, 3)?);
                    Ok((stored, r.get::<_, i64>(4)?, r.get::<_, bool>(5)?))
                })
                .optional()
            })
            .map_err(db)
    };
    let facts = match facts(near)? {
        // Not where the writer stored it lately: by its id, then.
        None if near.is_some() => facts(None)?,
        found => found,
    };
    let (stored, seq, counted) = facts.ok_or_else(|| Error::not_found("message not found"))?;
    let stored = stored?;
    let changed = decide(&stored)?;
    // Every statement below that sets `read_at` sets it only where it was
    // unset; a failed one rolls back only itself, and counts nothing.
    let reads = counted && read_at.is_some();
    match changed {
        Some(next) if read_at.is_some() => hot(&mut statements.advance, conn, RECEIPT_ADVANCE)
            .and_then(|st| st.execute(params![next.as_str(), read_at, seq])),
        Some(next) => hot(&mut statements.status, conn, RECEIPT_STATUS)
            .and_then(|st| st.execute(params![next.as_str(), seq])),
        None if read_at.is_some() => hot(&mut statements.read_at, conn, RECEIPT_READ_AT)
            .and_then(|st| st.execute(params![read_at, seq])),
        None => Ok(0),
    }
    .map_err(db)?;
    if reads {
        watermark.read_one(seq, &stored, unread);
    }
    Ok(Receipted::of(&stored, changed))
}

/// Moves the message `key` by `step` where every fact in the step holds;
/// `false` when nothing matched and nothing changed. By `RECEIPT_STEP`
/// when the step names the message's type (`step.audio`), else by
/// `RECEIPT_STEP_ANY_TYPE`; at `near` when given (see `Recent`).
fn usual_step<'c>(
    conn: &'c Connection,
    statements: &mut Hot<'c>,
    key: &str,
    near: Option<i64>,
    step: &Step,
) -> rusqlite::Result<bool> {
    let mut buffers = [Uuid::encode_buffer(); 2];
    let [recipient, sender] = &mut buffers;
    let recipient: &str = step.recipient_id.hyphenated().encode_lower(recipient);
    let sender: &str = step.sender_id.hyphenated().encode_lower(sender);
    let changed = match step.audio {
        Some(audio) => {
            let [audio_a, audio_b] = MessageType::AUDIO.map(MessageType::as_str);
            hot(&mut statements.step, conn, RECEIPT_STEP)?.execute(params![
                step.to.as_str(),
                key,
                recipient,
                sender,
                step.from.as_str(),
                audio,
                audio_a,
                audio_b,
                near,
            ])?
        }
        // The type is no fact of this step.
        None => {
            hot(&mut statements.step_any_type, conn, RECEIPT_STEP_ANY_TYPE)?.execute(params![
                step.to.as_str(),
                key,
                recipient,
                sender,
                step.from.as_str(),
                near
            ])?
        }
    };
    Ok(changed == 1)
}

/// Column `i` as text, borrowed from the row.
fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

/// Column `i` as a `Uuid`, parsed from the row's bytes where they lie.
fn uuid_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    Ok(Uuid::try_parse_ascii(r.get_ref(i)?.as_bytes()?).ok())
}

/// Notes that message `seq`'s searchable content changed (see
/// `store::indexer`), and lets go of the notes the index has applied.
fn search_changed(conn: &Connection, seq: i64, search_done: &AtomicI64) -> rusqlite::Result<()> {
    conn.prepare_cached("insert into search_changes (seq) values (?1)")?
        .execute(params![seq])?;
    conn.prepare_cached("delete from search_changes where id <= ?1")?
        .execute(params![search_done.load(Ordering::Relaxed)])?;
    Ok(())
}

/// Edits, unsends or reacts to message `id`, if `check` allows it.
fn change_message(
    conn: &Connection,
    id: Uuid,
    change: Change,
    check: Check,
    search_done: &AtomicI64,
) -> Result<Changed> {
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        i64,
    );
    let key = id.to_string();
    let row: Option<Row> = conn
        .prepare_cached(CHANGE_FACTS)
        .and_then(|mut st| {
            st.query_row(params![key], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .optional()
        })
        .map_err(db)?;
    let (sender, recipient, kind, created_at, deleted_at, content, file, thumb, seq) =
        row.ok_or_else(|| Error::not_found("message not found"))?;
    let deleted = deleted_at.is_some();
    check(&facts(&sender, &recipient, &kind, created_at, deleted)?)?;
    let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut st| st.execute(p))
            .map_err(db)
    };
    match change {
        Change::Edit { content: new, at } => {
            if new == content {
                return Ok(Changed::Unchanged);
            }
            run(EDIT_KEEP, &[&key, &content, &at])?;
            run(EDIT_APPLY, &[&new, &at, &seq])?;
            search_changed(conn, seq, search_done).map_err(db)?;
            Ok(Changed::Edited)
        }
        Change::Unsend { .. } if deleted => Ok(Changed::AlreadyUnsent),
        Change::Unsend { at } => {
            run(UNSEND_APPLY, &[&at, &seq])?;
            run(UNSEND_EDITS, &[&key])?;
            run(UNSEND_REACTIONS, &[&key])?;
            search_changed(conn, seq, search_done).map_err(db)?;
            Ok(Changed::Unsent {
                files: [file, thumb].into_iter().flatten().collect(),
            })
        }
        Change::React { user, emoji, at } => {
            let who = user.to_string();
            let current: Option<String> = conn
                .prepare_cached(REACTION_OF)
                .and_then(|mut st| st.query_row(params![key, who], |r| r.get(0)).optional())
                .map_err(db)?;
            match emoji {
                Some(e) if current.as_deref() != Some(e.as_str()) => {
                    run(REACTION_PUT, &[&key, &who, &e, &at])?;
                }
                // The same emoji again, or none: the user's reaction goes.
                _ => {
                    run(REACTION_DROP, &[&key, &who])?;
                }
            }
            let mut st = conn.prepare_cached(REACTIONS).map_err(db)?;
            let rows = st
                .query_map(params![key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db)?;
            let mut reactions = Vec::new();
            for row in rows {
                let (user, emoji) = row.map_err(db)?;
                let user_id =
                    Uuid::parse_str(&user).map_err(|_| Error::internal("malformed id"))?;
                reactions.push(Reaction { user_id, emoji });
            }
            Ok(Changed::Reactions(reactions))
        }
    }
}

/// SQLite restarts the log from its start only at a write transaction that
/// begins with the whole log copied back. Under a steady stream of commits
/// the checkpointer never catches up with the writer, and the log would grow
/// without end (half a gigabyte in eight seconds at 3,000 messages/s, every
/// page of it new to the page cache). So the checkpointer closes in, then
/// holds the writer between two transactions (the gate) while it copies
/// the little that is left, and the writer's next transaction restarts the log.
///
/// A passive pass that reaches the end of the log syncs the database file,
/// and the passes before it (which never reached the end under load) did
/// not: that sync would cover a second or more of copied pages, tens of
/// milliseconds with every message waiting at the gate. So both files are
/// synced first, with the writer running; under the gate only the last
/// few hundred frames remain to be synced.
fn catch_up(conn: &Connection, signals: &Signals, files: [&Path; 2]) {
    for file in files {
        if let Err(e) = std::fs::File::open(file).and_then(|f| f.sync_data()) {
            tracing::warn!(error = %e, file = %file.display(), "syncing before a log restart");
        }
    }
    let started = Instant::now();
    let _writer_waits = signals.gate.blocking_write();
    let gated = started.elapsed();
    match passive_checkpoint(conn) {
        Ok((log, copied)) => tracing::debug!(
            log,
            copied,
            gate_us = gated.as_micros() as u64,
            took_us = started.elapsed().as_micros() as u64,
            "checkpoint caught up for a log restart"
        ),
        Err(e) => tracing::warn!(error = %e, "checkpoint before a log restart failed"),
    }
}

/// Copies the WAL back into the database, off the commit path: a PASSIVE
/// checkpoint runs beside the writer without blocking it. When the log has
/// grown long it asks the writer to finish the job between two transactions;
/// when a busy spell is over it cuts the log file back to nothing.
fn checkpoints(path: &Path, writer: &Link, signals: &Signals) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the checkpoint connection");
            return;
        }
    };
    let _ = conn.busy_timeout(Duration::from_secs(1));
    let wal_file = wal_path(path);
    let mut previous = None;
    // A failure that repeats (a read-only disk) is logged once a minute, not every pass.
    let mut last_warning: Option<Instant> = None;
    while writer.alive() {
        std::thread::sleep(CHECKPOINT_EVERY);
        let mut copied_before = 0;
        let mut seen = None;
        for _ in 0..CATCH_UP_PASSES {
            let (log, copied) = match passive_checkpoint(&conn) {
                Ok(pass) => pass,
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(error = %e, "checkpoint failed");
                        last_warning = Some(Instant::now());
                    }
                    break;
                }
            };
            // Nothing written for a whole interval and all of it copied: the
            // busy spell is over, and a TRUNCATE checkpoint, which holds the
            // writer back while it runs, costs nobody anything now.
            let idle = log == copied && previous == Some(log);
            seen = Some(log);
            if idle {
                if log > 0 && file_len(&wal_file) > SHRINK_ABOVE_BYTES {
                    shrink(&conn);
                }
                break;
            }
            if log <= RESTART_FRAMES {
                break;
            }
            // Each pass copies what the writer added during the one before;
            // once that is little, the writer's own pass is short.
            if copied - copied_before < LITTLE_LEFT {
                catch_up(&conn, signals, [path, &wal_file]);
                break;
            }
            copied_before = copied;
        }
        previous = seen;
    }
}

/// Copies what it can of the log back without waiting for anyone: the
/// frames in the log and how many of them are now copied.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("pragma wal_checkpoint(passive)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn shrink(conn: &Connection) {
    match conn.query_row("pragma wal_checkpoint(truncate)", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(0) => tracing::debug!("log file cut back after a busy spell"),
        // Busy: a write began meanwhile; the file is cut back after the next spell.
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cutting the log file back failed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Moving the watermark reads only the rows above it.
    #[test]
    fn the_unread_counts_add_up_only_the_newest_rows() {
        let conn = Connection::open_in_memory().unwrap();
        for migration in sqlx::migrate!("./migrations/sqlite").iter() {
            conn.execute_batch(migration.sql.as_str()).unwrap();
        }
        let plan: Vec<String> = conn
            .prepare(&format!("explain query plan {UNREAD_ABOVE}"))
            .unwrap()
            .query_map([5], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|l| l.contains("INTEGER PRIMARY KEY (rowid>?)")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|l| l.starts_with("SCAN")), "{plan:?}");
    }

    /// A batch holds its insert statement across jobs: one that fails (here
    /// an id already stored) leaves it fit for the next, and stores nothing
    /// of its own.
    #[test]
    fn a_failed_insert_leaves_the_batch_statement_usable() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("pragma foreign_keys = on").unwrap();
        for migration in sqlx::migrate!("./migrations/sqlite").iter() {
            conn.execute_batch(migration.sql.as_str()).unwrap();
        }
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(3));
        for (user, name) in [(a, "a"), (b, "b")] {
            conn.execute(
                "insert into users (id, username, email, password_hash, created_at) \
                 values (?1, ?2, ?2, 'x', '2026-12-03T00:00:00.000Z')",
                params![user.to_string(), name],
            )
            .unwrap();
        }
        let message = |id: u128, sender: Uuid| Message {
            id: Uuid::from_u128(id),
            ..Message::sent(sender, b, crate::model::MessageType::Text, "hello".into())
        };
        let mut statements = Hot::default();
        assert!(matches!(
            insert(&conn, &mut statements, &message(10, a), false),
            Ok(Insert::New { .. })
        ));
        let mut again = message(10, a);
        again.content = "hello again".into();
        assert!(insert(&conn, &mut statements, &again, false).is_err());
        assert!(matches!(
            insert(&conn, &mut statements, &message(11, a), false),
            Ok(Insert::New { .. })
        ));
        drop(statements);
        let ids: Vec<String> = conn
            .prepare("select id from messages")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            ids,
            vec![
                Uuid::from_u128(10).to_string(),
                Uuid::from_u128(11).to_string()
            ]
        );
        let content: String = conn
            .query_row("select content from messages where seq = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(content, "hello");
    }

    /// Where the writer stored a message lately is only a hint: a receipt
    /// given a wrong one changes no other message, and still finds its own.
    #[test]
    fn a_receipt_at_a_wrong_place_finds_its_message_by_id() {
        use crate::model::Status;
        let conn = Connection::open_in_memory().unwrap();
        for migration in sqlx::migrate!("./migrations/sqlite").iter() {
            conn.execute_batch(migration.sql.as_str()).unwrap();
        }
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(3));
        let sent = |id: u128| Message {
            id: Uuid::from_u128(id),
            ..Message::sent(a, b, crate::model::MessageType::Text, "hello".into())
        };
        let mut statements = Hot::default();
        let mut seqs = Vec::new();
        for id in [10, 11] {
            match insert(&conn, &mut statements, &sent(id), false) {
                Ok(Insert::New { seq, .. }) => seqs.push(seq),
                _ => panic!("not stored"),
            }
        }
        let step = Step {
            sender_id: a,
            recipient_id: b,
            from: Status::Sent,
            to: Status::Delivered,
            audio: None,
        };
        let status = |seq: i64| -> String {
            conn.query_row("select status from messages where seq = ?1", [seq], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let first = Uuid::from_u128(10).to_string();
        // The second message's place, given for the first.
        let moved = usual_step(&conn, &mut statements, &first, Some(seqs[1]), &step).unwrap();
        assert!(!moved);
        assert_eq!(status(seqs[1]), "sent");
        let ask = Ask {
            id: Uuid::from_u128(10),
            read_at: None,
            usual: Some(step),
            decide: Box::new(|_| Ok(Some(Status::Delivered))),
        };
        let mut watermark = Watermark {
            seq: 0,
            above: 0,
            moved: Instant::now(),
            tally: None,
            elsewhere: 0,
        };
        let receipted = receipt(
            &conn,
            &mut statements,
            ask,
            Some(seqs[1]),
            &mut watermark,
            &mut Unread::default(),
        )
        .unwrap();
        assert_eq!(receipted.changed, Some(Status::Delivered));
        assert_eq!(status(seqs[0]), "delivered");
        assert_eq!(status(seqs[1]), "sent");
        // And at its own place, by the step.
        let second = Uuid::from_u128(11).to_string();
        assert!(usual_step(&conn, &mut statements, &second, Some(seqs[1]), &step).unwrap());
        assert_eq!(status(seqs[1]), "delivered");
    }

    /// A steady stream of commits, each waited for, like a busy server's:
    /// without the writer's catch-up the log only ever grows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_restarts_under_a_steady_stream_of_commits() {
        // Long enough for several checkpointer passes, however fast commits are.
        const STREAM: Duration = Duration::from_millis(3000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "pragma journal_mode = wal; create table users (id text primary key, last_seen text); \
             create table unread_watermark (seq integer not null); \
             insert into unread_watermark values (0)",
        )
        .unwrap();
        let user = Uuid::new_v4();
        conn.execute("insert into users (id) values (?1)", [user.to_string()])
            .unwrap();
        drop(conn);

        let tx = start(
            path.clone(),
            Synchronous::Normal,
            Arc::default(),
            Arc::default(),
        )
        .await
        .unwrap();
        let send = |job| {
            let tx = tx.clone();
            async move { assert!(tx.send(job).await.is_ok()) }
        };
        let mut last = String::new();
        let started = Instant::now();
        let mut commits = 0u64;
        let wal_file = wal_path(&path);
        // Each commit appends at least one page; a log never restarted would
        // hold all of them. (Half, not less, and the stream goes on for up
        // to 20 s until it holds: with other work on two cores the
        // checkpointer thread may be late for a pass or two. A log that is
        // never restarted fails however long the stream runs.)
        let restarted = |commits: u64| file_len(&wal_file) < commits * 4096 / 2;
        while started.elapsed() < STREAM
            || (!restarted(commits) && started.elapsed() < Duration::from_secs(20))
        {
            let n = commits;
            commits += 1;
            let (reply, answer) = oneshot::channel();
            last = format!("2026-01-01T00:00:00.{n:06}Z");
            let at = last.clone();
            send(Job::LastSeen { user, at, reply }).await;
            answer.await.unwrap().unwrap();
        }
        let wal = file_len(&wal_file);
        assert!(
            restarted(commits),
            "the log holds {wal} bytes after {commits} commits"
        );
        // Once the stream stops, the file itself is cut back.
        let mut waited = Duration::ZERO;
        while file_len(&wal_file) > SHRINK_ABOVE_BYTES && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert!(
            file_len(&wal_file) <= SHRINK_ABOVE_BYTES,
            "the idle log file still holds {} bytes",
            file_len(&wal_file)
        );
        let (done, stopped) = oneshot::channel();
        send(Job::Shutdown(done)).await;
        stopped.await.unwrap();
        // Restarting and cutting back the log lost nothing it had acknowledged.
        let conn = Connection::open(&path).unwrap();
        let stored: String = conn
            .query_row(
                "select last_seen from users where id = ?1",
                [user.to_string()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, last);
    }
}
