//! Migration 0009 moves unread counts from an index into `unread_counts`:
//! a database upgraded with messages in it counts what the old query
//! counted, and its triggers keep counting unsends and tombstones.
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
