//! SQLite's search index, kept in a database file of its own
//! (`chatr-search.db` beside `chatr.db`) by a thread of its own.
//!
//! Indexing a message costs several microseconds, and in the main file it
//! needs the write lock: done by the writer, it took about a tenth of the
//! runtime thread under load (docs/benchmarks.md, round 13); done by another
//! connection, every write waited while it ran. In a file of its own it
//! takes no lock the writer needs: this thread reads new messages from the
//! main file (a WAL reader never waits for the writer) and writes only here.
//!
//! What it indexes:
//! - new messages, in order of `seq`, up to `search_state.indexed_seq`;
//! - changed ones (edited, unsent, their sender's account deleted), which
//!   whoever changes a message notes in the main file's `search_changes`, in
//!   the same transaction. The index is brought to what the row holds now.
//!
//! The index can always be rebuilt from the messages: a backup leaves it out,
//! and a file that does not match the main one (a restored database) is
//! emptied and filled again. Until then, search finds fewer messages.
//!
//! The pool's connections attach this file as `search` (see `Store::open`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use percent_encoding::percent_encode;
use rusqlite::{Connection, params};

use crate::config::PATH_ESCAPED;
use crate::error::{Error, Result};

/// A stored message is searchable within about this long.
const EVERY: Duration = Duration::from_millis(250);
/// Messages (or changes) per transaction of the index.
const CHUNK: i64 = 1024;

const SCHEMA: &str = "
create virtual table if not exists messages_fts using fts5 (
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
create table if not exists search_state (
    id            integer primary key check (id = 1),
    indexed_seq   integer not null,
    changes_done  integer not null
);
insert or ignore into search_state (id, indexed_seq, changes_done) values (1, 0, 0);
";

/// The search file of the database at `db`.
pub fn file_of(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map_or_else(|| "chatr".into(), |s| s.to_string_lossy().into_owned());
    db.with_file_name(format!("{stem}-search.db"))
}

fn db(e: rusqlite::Error) -> Error {
    Error::internal(format!("search index: {e}"))
}

/// Creates the search file if needed; runs before the pool's connections
/// attach it.
pub(super) fn create(main: &Path) -> Result<PathBuf> {
    let path = file_of(main);
    let conn = Connection::open(&path).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    conn.execute_batch("pragma journal_mode = wal; pragma synchronous = normal;")
        .map_err(db)?;
    conn.execute_batch(SCHEMA).map_err(db)?;
    Ok(path)
}

/// Empties the index when it does not belong to the database attached as
/// `chat`: it has indexed messages that are not there (a restored database).
fn check(conn: &Connection) -> rusqlite::Result<()> {
    let (indexed, _) = state(conn)?;
    let last = last_seq(conn)?;
    if indexed > last {
        tracing::warn!(
            indexed,
            last,
            "the search index belongs to another database: it is built again"
        );
        conn.execute_batch(
            "insert into messages_fts (messages_fts) values ('delete-all'); \
             update search_state set indexed_seq = 0, changes_done = 0 where id = 1;",
        )?;
    }
    Ok(())
}

/// The search file's connection, with the main file attached read-only as
/// `chat`. The index is filled by statements that read one file and write
/// the other: a message does not pass through Rust on its way (a fifth fewer
/// instructions than reading rows on one connection and inserting them on
/// another, docs/benchmarks.md, round 24). Read-only, the main file takes
/// only read transactions here, even under `begin immediate`, and a WAL
/// reader neither waits for the writer nor holds it up.
fn open(main: &Path, search: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(search)?;
    conn.busy_timeout(Duration::from_secs(1))?;
    conn.execute_batch("pragma synchronous = normal; pragma temp_store = memory;")?;
    conn.execute("attach ?1 as chat", [read_only_uri(main)])?;
    Ok(conn)
}

/// `file:` URI that opens `path` read-only. SQLite decodes each `%HH` back
/// to its byte, so any path survives, UTF-8 or not. An absolute path gets an
/// empty authority (`file:///…`), so that one starting with `//` is not read
/// as a host.
fn read_only_uri(path: &Path) -> String {
    let scheme = if path.is_absolute() {
        "file://"
    } else {
        "file:"
    };
    let path = percent_encode(path.as_os_str().as_encoded_bytes(), PATH_ESCAPED);
    format!("{scheme}{path}?mode=ro")
}

fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("select coalesce(max(seq), 0) from chat.messages")?
        .query_row([], |r| r.get(0))
}

/// Kept by the store: the thread stops once the last handle is gone.
pub(super) struct Indexer {
    /// The last of `search_changes` applied to the index: the writer
    /// deletes those up to it.
    changes_done: Arc<AtomicI64>,
}

impl Indexer {
    /// Starts the thread that keeps `search` up to date with `main` (migrated).
    pub(super) fn start(main: &Path, search: &Path) -> Result<Arc<Self>> {
        let conn = open(main, search)
            .and_then(|conn| check(&conn).map(|()| conn))
            .map_err(db)?;
        let this = Arc::new(Self {
            changes_done: Arc::new(AtomicI64::new(0)),
        });
        let handle = Arc::downgrade(&this);
        std::thread::Builder::new()
            .name("chatr-search".into())
            .spawn(move || run(&conn, &handle))
            .map_err(|e| Error::internal(format!("cannot start the search indexer: {e}")))?;
        Ok(this)
    }

    pub(super) fn changes_done(&self) -> Arc<AtomicI64> {
        self.changes_done.clone()
    }
}

fn run(conn: &Connection, handle: &Weak<Indexer>) {
    super::priority::background();
    // A failure that repeats (a full disk) is logged once a minute, not every pass.
    let mut last_warning: Option<Instant> = None;
    loop {
        let Some(indexer) = handle.upgrade() else {
            return;
        };
        match pass(conn) {
            Ok(done) => indexer.changes_done.store(done, Ordering::Relaxed),
            Err(e) => {
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(error = %e, "indexing messages for search");
                    last_warning = Some(Instant::now());
                }
            }
        }
        drop(indexer);
        std::thread::sleep(EVERY);
    }
}

/// Indexes what is new, then what changed: the last change applied. An
/// idle server's pass is three reads and takes no write lock.
fn pass(conn: &Connection) -> rusqlite::Result<i64> {
    let (indexed, done) = state(conn)?;
    if last_seq(conn)? > indexed {
        while index_new(conn)? {}
    }
    let newest: i64 = conn
        .prepare_cached("select coalesce(max(id), 0) from chat.search_changes")?
        .query_row([], |r| r.get(0))?;
    if newest <= done {
        return Ok(done);
    }
    loop {
        let (done, more) = apply_changes(conn)?;
        if !more {
            return Ok(done);
        }
    }
}

fn state(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached("select indexed_seq, changes_done from search_state where id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Indexes up to [`CHUNK`] new messages in one transaction: whether more are left.
fn index_new(conn: &Connection) -> rusqlite::Result<bool> {
    in_transaction(conn, || {
        let (indexed, _) = state(conn)?;
        let last = last_seq(conn)?;
        if last <= indexed {
            return Ok(false);
        }
        let upto = last.min(indexed + CHUNK);
        conn.prepare_cached(
            "insert into messages_fts (rowid, content) \
             select seq, content from chat.messages \
             where seq > ?1 and seq <= ?2 and deleted_at is null and content <> ''",
        )?
        .execute(params![indexed, upto])?;
        conn.prepare_cached("update search_state set indexed_seq = ?1 where id = 1")?
            .execute(params![upto])?;
        Ok(upto < last)
    })
}

/// Brings the index to what up to [`CHUNK`] changed messages hold now: the
/// last change applied, and whether more are left.
fn apply_changes(conn: &Connection) -> rusqlite::Result<(i64, bool)> {
    in_transaction(conn, || {
        let (indexed, done) = state(conn)?;
        let changes = conn
            .prepare_cached(
                "select id, seq from chat.search_changes where id > ?1 order by id limit ?2",
            )?
            .query_map(params![done, CHUNK], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some(&(last, _)) = changes.last() else {
            return Ok((done, false));
        };
        for &(_, seq) in &changes {
            // Not indexed yet: indexing it will read what it holds then.
            if seq > indexed {
                continue;
            }
            conn.prepare_cached("delete from messages_fts where rowid = ?1")?
                .execute(params![seq])?;
            conn.prepare_cached(
                "insert into messages_fts (rowid, content) \
                 select seq, content from chat.messages \
                 where seq = ?1 and deleted_at is null and content <> ''",
            )?
            .execute(params![seq])?;
        }
        conn.prepare_cached("update search_state set changes_done = ?1 where id = 1")?
            .execute(params![last])?;
        Ok((last, changes.len() as i64 == CHUNK))
    })
}

/// Runs `work` in a write transaction of the search file (the state it
/// reads is read inside it), and commits.
fn in_transaction<T>(
    conn: &Connection,
    work: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("begin immediate")?.execute([])?;
    match work().and_then(|t| conn.prepare_cached("commit")?.execute([]).map(|_| t)) {
        Ok(t) => Ok(t),
        Err(e) => {
            let _ = conn.execute_batch("rollback");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(search: &Connection, word: &str) -> Vec<i64> {
        let mut st = search
            .prepare("select rowid from messages_fts where messages_fts match ?1 order by rowid")
            .unwrap();
        st.query_map([word], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn the_main_file_is_named_by_a_uri_that_sqlite_reads_back() {
        assert_eq!(
            read_only_uri(Path::new("data/chatr.db")),
            "file:data/chatr.db?mode=ro"
        );
        assert_eq!(
            read_only_uri(Path::new("//srv/a b?#%.db")),
            "file:////srv/a%20b%3F%23%25.db?mode=ro"
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let not_utf8 = std::ffi::OsStr::from_bytes(b"x\xffy.db");
            assert_eq!(read_only_uri(Path::new(not_utf8)), "file:x%FFy.db?mode=ro");
        }
    }

    #[test]
    fn an_indexing_transaction_never_holds_the_writer_up() {
        let dir = tempfile::tempdir().unwrap();
        let main_path = dir.path().join("chatr.db");
        let writer = Connection::open(&main_path).unwrap();
        writer
            .execute_batch(
                "pragma journal_mode = wal; create table messages (seq integer primary key);",
            )
            .unwrap();
        let search_path = create(&main_path).unwrap();
        let conn = open(&main_path, &search_path).unwrap();
        conn.execute_batch("begin immediate; select count(*) from chat.messages;")
            .unwrap();
        // Attached for writing, `begin immediate` would have taken the main
        // file's write lock too, and this would fail at once.
        writer.busy_timeout(Duration::ZERO).unwrap();
        writer
            .execute_batch("begin immediate; insert into messages default values; commit;")
            .unwrap();
        conn.execute_batch("commit").unwrap();
    }

    #[test]
    fn new_and_changed_messages_are_searchable_as_they_are_now() {
        let tmp = tempfile::tempdir().unwrap();
        // Characters a `file:` URI gives a meaning to, a space, and a
        // character of more than one byte.
        let dir = tmp.path().join("a%25b?c#d é");
        std::fs::create_dir(&dir).unwrap();
        let main_path = dir.join("chatr.db");
        let main = Connection::open(&main_path).unwrap();
        main.execute_batch(
            "pragma journal_mode = wal;
             create table messages (seq integer primary key, content text not null, deleted_at text);
             create table search_changes (id integer primary key autoincrement, seq integer not null);",
        )
        .unwrap();
        // More than a chunk, so that a pass takes several transactions.
        for i in 0..(CHUNK + 10) {
            let content = if i == 5 { "apple pie" } else { "plain" };
            main.execute("insert into messages (content) values (?1)", [content])
                .unwrap();
        }
        main.execute("insert into messages (content) values ('')", [])
            .unwrap();
        let search_path = create(&main_path).unwrap();
        assert_eq!(search_path, dir.join("chatr-search.db"));
        let indexer = Indexer::start(&main_path, &search_path).unwrap();
        let search = Connection::open(&search_path).unwrap();
        search.busy_timeout(Duration::from_secs(5)).unwrap();
        let eventually = |ok: &dyn Fn() -> bool| {
            let started = Instant::now();
            while !ok() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "not indexed in time"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        eventually(&|| state(&search).unwrap().0 == CHUNK + 11);
        assert_eq!(found(&search, "apple"), vec![6]);
        assert_eq!(found(&search, "plain").len() as i64, CHUNK + 9);

        // Edited, unsent: noted, then brought to what the row holds.
        main.execute_batch(
            "update messages set content = 'kiwi tart' where seq = 6;
             insert into search_changes (seq) values (6);
             update messages set content = '', deleted_at = 'now' where seq = 7;
             insert into search_changes (seq) values (7);",
        )
        .unwrap();
        let done = indexer.changes_done();
        eventually(&|| done.load(Ordering::Relaxed) == 2);
        assert!(found(&search, "apple").is_empty());
        assert_eq!(found(&search, "kiwi"), vec![6]);
        assert!(!found(&search, "plain").contains(&7));

        // An index that has seen more than the database holds is built again.
        drop(indexer);
        main.execute("delete from messages where seq > 10", [])
            .unwrap();
        let _again = Indexer::start(&main_path, &search_path).unwrap();
        eventually(&|| found(&search, "plain").len() == 8);
        assert_eq!(found(&search, "kiwi"), vec![6]);
        assert_eq!(state(&search).unwrap().0, 10);
    }
}
