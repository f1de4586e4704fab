//! The hot paths' queries use indexes, never a scan of `messages`: checked with
//! EXPLAIN QUERY PLAN on a database made by the real migrations.
#![allow(clippy::unwrap_used)]

mod support;

use sqlx::{Connection, SqliteConnection};
use support::TestServer;

async fn plan(conn: &mut SqliteConnection, sql: &'static str) -> String {
    let rows: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("explain query plan {sql}")))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn hot_queries_use_indexes() {
    // SQLite's planner is what is checked here; the PostgreSQL pass of the
    // suite (scripts/with-postgres.sh) has no SQLite file to look at.
    if std::env::var_os("CHATR_TEST_POSTGRES").is_some() {
        return;
    }
    let server = TestServer::start().await;
    let db = server.data_dir.join("chatr.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let checks: [(&str, &'static str); 9] = [
        (
            "offline delivery",
            "select * from messages where recipient_id = 'a' and status = 'sent' and seq > 5 and seq <= 90 order by seq limit 50",
        ),
        (
            "idempotency",
            "select * from messages where sender_id = 'a' and client_message_id = 'c'",
        ),
        (
            "receipt",
            "select sender_id, recipient_id, type, status, seq, read_at is null and deleted_at is null \
             from messages where seq = coalesce(?2, (select seq from messages where id = ?1)) and id = ?1",
        ),
        (
            "receipt's usual step",
            "update messages set status = ?1 where seq = coalesce(?9, (select seq from messages where id = ?2)) \
             and id = ?2 and recipient_id = ?3 and sender_id = ?4 and status = ?5 \
             and (?6 is null or (type in (?7, ?8)) = ?6)",
        ),
        (
            "receipt's usual step of any type",
            "update messages set status = ?1 where seq = coalesce(?6, (select seq from messages where id = ?2)) \
             and id = ?2 and recipient_id = ?3 and sender_id = ?4 and status = ?5",
        ),
        (
            "contacts",
            "select user_b from contacts where user_a = 'a' union all select user_a from contacts where user_b = 'a'",
        ),
        (
            "unread",
            "select sender_id, n from unread_counts where recipient_id = 'a'",
        ),
        (
            "unread above the watermark",
            "select count(*) from messages where sender_id = 'b' and recipient_id = 'a' \
             and seq > (select seq from unread_watermark) and read_at is null and deleted_at is null",
        ),
        (
            "history",
            "select * from messages m where m.sender_id = 'a' and m.recipient_id = 'b' and m.seq < 10 order by m.seq desc limit 50",
        ),
    ];
    for (name, sql) in checks {
        let plan = plan(&mut conn, sql).await;
        assert!(
            !plan.contains("SCAN m\n")
                && !plan.lines().any(|l| l == "SCAN messages" || l == "SCAN m"),
            "{name} scans messages:\n{plan}"
        );
        assert!(plan.contains("USING"), "{name} uses no index:\n{plan}");
        // Offline delivery walks only what is undelivered, never past
        // messages delivered but unread.
        if name == "offline delivery" {
            assert!(
                plan.contains("messages_pending"),
                "{name} does not use messages_pending:\n{plan}"
            );
        }
        // A receipt finds its message by its `seq` when the writer knows
        // it, else by the id's own index (its `status` is a parameter, so
        // the partial index of what is still 'sent' cannot serve, and the
        // pair's index would walk a conversation).
        if name.starts_with("receipt") {
            assert!(
                plan.contains("INTEGER PRIMARY KEY (rowid=?)")
                    && plan.contains("sqlite_autoindex_messages_1 (id=?)"),
                "{name} does not go by seq, or else by id:\n{plan}"
            );
        }
        // What the counts leave to the reader is a range of one conversation's index.
        if name == "unread above the watermark" {
            assert!(
                plan.contains("messages_pair") && plan.contains("seq>?"),
                "{name} does not seek messages_pair by seq:\n{plan}"
            );
        }
        assert!(
            !plan.contains("TEMP B-TREE"),
            "{name} sorts rows instead of walking an index:\n{plan}"
        );
    }
    server.stop().await;
}
