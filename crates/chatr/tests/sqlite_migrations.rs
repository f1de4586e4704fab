//! SQLite migrations that change data already stored, applied to a
//! database with rows in it: 0009 moves unread counts from an index into
//! `unread_counts` (a database upgraded with messages in it counts what the
//! old query counted, and its triggers keep counting unsends and
//! tombstones); 0010 adds the watermark; 0011 rebuilds `messages` without
//! its foreign keys to `users`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rusqlite::Connection;

/// The SQLite migrations in order, as `(version, sql)`.
fn migrations() -> Vec<(u32, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut all: Vec<(u32, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let version = name.split('_').next().unwrap().parse().unwrap();
            (version, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    all.sort();
    all
}

fn counts(conn: &Connection, recipient: &str) -> Vec<(String, i64)> {
    conn.prepare(
        "select sender_id, n from unread_counts where recipient_id = ?1 order by sender_id",
    )
    .unwrap()
    .query_map([recipient], |r| Ok((r.get(0)?, r.get(1)?)))
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn upgrading_counts_what_the_index_counted() {
    let conn = Connection::open_in_memory().unwrap();
    let all = migrations();
    for (_, sql) in all.iter().filter(|(v, _)| *v < 9) {
        conn.execute_batch(sql).unwrap();
    }
    // Users a, b and c are not needed for what is counted here.
    conn.execute_batch("pragma foreign_keys = off").unwrap();
    // From a to b: two unread, one read, one unsent; from c to b: one
    // delivered but unread; from b to a: one unread.
    let rows = [
        ("m1", "a", "b", "sent", None, None),
        ("m2", "a", "b", "delivered", None, None),
        (
            "m3",
            "a",
            "b",
            "read",
            Some("2026-01-01T00:00:00.000Z"),
            None,
        ),
        (
            "m4",
            "a",
            "b",
            "sent",
            None,
            Some("2026-01-01T00:00:00.000Z"),
        ),
        ("m5", "c", "b", "delivered", None, None),
        ("m6", "b", "a", "sent", None, None),
    ];
    for (id, from, to, status, read_at, deleted_at) in rows {
        conn.execute(
            "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, read_at, deleted_at) \
             values (?1, ?2, ?3, 'hi', 'text', ?4, '2026-01-01T00:00:00.000Z', ?5, ?6)",
            rusqlite::params![id, from, to, status, read_at, deleted_at],
        )
        .unwrap();
    }
    for (_, sql) in all.iter().filter(|(v, _)| *v == 9) {
        conn.execute_batch(sql).unwrap();
    }
    assert_eq!(counts(&conn, "b"), [("a".into(), 2), ("c".into(), 1)]);
    assert_eq!(counts(&conn, "a"), [("b".into(), 1)]);

    // An unsend, or a tombstone, takes an unread message out of the count
    // once; one already read, or already deleted, changes nothing.
    let at = "2026-01-02T00:00:00.000Z";
    for id in ["m1", "m1", "m3", "m4"] {
        conn.execute(
            "update messages set deleted_at = coalesce(deleted_at, ?2) where id = ?1",
            [id, at],
        )
        .unwrap();
    }
    assert_eq!(counts(&conn, "b"), [("a".into(), 1), ("c".into(), 1)]);
    conn.execute(
        "update messages set deleted_at = ?2 where sender_id = ?1 and deleted_at is null",
        ["c", at],
    )
    .unwrap();
    assert_eq!(counts(&conn, "b"), [("a".into(), 1), ("c".into(), 0)]);

    // Offline delivery reads the index of what is still 'sent'.
    let plan: String = conn
        .query_row(
            "explain query plan select seq from messages where recipient_id = 'a' and status = 'sent' and seq > 0 order by seq",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("messages_pending"), "{plan}");
}

/// Migration 0010: the counts cover messages up to the watermark, which
/// starts at the newest message; above it, tombstones and deletions count
/// nothing (readers count those messages from `messages` themselves).
#[test]
fn above_the_watermark_the_triggers_count_nothing() {
    let conn = Connection::open_in_memory().unwrap();
    let apply = |versions: std::ops::RangeInclusive<u32>| {
        for (_, sql) in migrations().iter().filter(|(v, _)| versions.contains(v)) {
            conn.execute_batch(sql).unwrap();
        }
    };
    apply(1..=8);
    conn.execute_batch("pragma foreign_keys = off").unwrap();
    let insert = |id: &str| {
        conn.execute(
            "insert into messages (id, sender_id, recipient_id, content, type, status, created_at) \
             values (?1, 'a', 'b', 'hi', 'text', 'sent', '2026-01-01T00:00:00.000Z')",
            [id],
        )
        .unwrap();
    };
    insert("m1");
    insert("m2");
    // 0009 counts what is there; 0010 puts the watermark above it.
    apply(9..=10);
    let watermark: i64 = conn
        .query_row("select seq from unread_watermark", [], |r| r.get(0))
        .unwrap();
    assert_eq!(watermark, 2, "the watermark starts at the newest message");
    assert_eq!(counts(&conn, "b"), [("a".into(), 2)]);

    insert("m3");
    insert("m4");
    let at = "2026-01-02T00:00:00.000Z";
    for id in ["m1", "m3"] {
        conn.execute(
            "update messages set deleted_at = ?2 where id = ?1",
            [id, at],
        )
        .unwrap();
    }
    // m1 (below) is taken out; m3 (above) was never counted here.
    assert_eq!(counts(&conn, "b"), [("a".into(), 1)]);
    conn.execute("delete from messages where id in ('m2', 'm4')", [])
        .unwrap();
    assert_eq!(counts(&conn, "b"), [("a".into(), 0)]);
}

/// The schema objects of `messages` (its indexes and triggers) with their SQL,
/// whitespace folded, by name.
fn objects_of_messages(conn: &Connection) -> Vec<(String, String)> {
    conn.prepare(
        "select name, coalesce(sql, '') from sqlite_master \
         where tbl_name = 'messages' and type in ('index', 'trigger') order by name",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
    .unwrap()
    .map(|r| {
        let (name, sql) = r.unwrap();
        (name, sql.split_whitespace().collect::<Vec<_>>().join(" "))
    })
    .collect()
}

/// Migration 0011 rebuilds `messages` without `references users (id)`: on a
/// connection with foreign keys on, as the server's are, every row comes
/// through as it was (`seq` included), the indexes and triggers are the ones
/// the earlier migrations made, the keys other tables hold to `messages` are
/// still enforced, and foreign keys are on again afterwards.
#[test]
fn rebuilding_messages_keeps_rows_indexes_triggers_and_other_keys() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("pragma foreign_keys = on").unwrap();
    let all = migrations();
    for (_, sql) in all.iter().filter(|(v, _)| *v <= 10) {
        conn.execute_batch(sql).unwrap();
    }
    for user in ["a", "b"] {
        conn.execute(
            "insert into users (id, username, email, password_hash, created_at) \
             values (?1, ?1, ?1 || '@example.com', 'x', '2026-01-01T00:00:00.000Z')",
            [user],
        )
        .unwrap();
    }
    for (id, client_id) in [("m1", Some("c1")), ("m2", None), ("m3", Some("c3"))] {
        conn.execute(
            "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, \
             file_url, file_size, client_message_id, thumbnail_url, reply_to_id) \
             values (?1, 'a', 'b', 'hi', 'image', 'sent', '2026-01-01T00:00:00.000Z', \
             '/uploads/x.png', 10, ?2, '/uploads/x-thumb.png', null)",
            rusqlite::params![id, client_id],
        )
        .unwrap();
    }
    conn.execute("delete from messages where id = 'm2'", [])
        .unwrap();
    conn.execute_batch(
        "insert into message_edits (message_id, content, edited_at) values ('m1', 'old', '2026-01-01T00:00:01.000Z');
         insert into reactions (message_id, user_id, emoji, created_at) values ('m1', 'b', 'x', '2026-01-01T00:00:02.000Z');",
    )
    .unwrap();
    let rows = |conn: &Connection| -> Vec<Vec<rusqlite::types::Value>> {
        let mut st = conn.prepare("select * from messages order by seq").unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let (rows_before, objects_before) = (rows(&conn), objects_of_messages(&conn));

    for (_, sql) in all.iter().filter(|(v, _)| *v == 11) {
        conn.execute_batch(sql).unwrap();
    }

    assert_eq!(rows(&conn), rows_before, "every row, seq included");
    assert_eq!(objects_of_messages(&conn), objects_before);
    let table: String = conn
        .query_row(
            "select sql from sqlite_master where name = 'messages'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!table.contains("references"), "{table}");
    let on: i64 = conn
        .query_row("pragma foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(on, 1, "foreign keys are on again");
    let violations = conn
        .prepare("pragma foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(violations, 0);
    // The rows after m3 continue its sequence; m2's gap stays a gap.
    conn.execute(
        "insert into messages (id, sender_id, recipient_id, content, type, status, created_at) \
         values ('m4', 'a', 'b', 'hi', 'text', 'sent', '2026-01-01T00:00:03.000Z')",
        [],
    )
    .unwrap();
    let seq: i64 = conn
        .query_row("select seq from messages where id = 'm4'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seq, 4);
    // The keys held to `messages` by edits and reactions still hold.
    let orphan = conn.execute(
        "insert into reactions (message_id, user_id, emoji, created_at) \
         values ('nope', 'a', 'x', '2026-01-01T00:00:04.000Z')",
        [],
    );
    assert!(orphan.is_err(), "a reaction to no message is refused");
    // A repeated clientMessageId is still a conflict.
    let repeat = conn.execute(
        "insert into messages (id, sender_id, recipient_id, content, type, status, created_at, client_message_id) \
         values ('m5', 'a', 'b', 'hi', 'text', 'sent', '2026-01-01T00:00:05.000Z', 'c1')",
        [],
    );
    assert!(repeat.is_err(), "the clientMessageId index is back");
}
