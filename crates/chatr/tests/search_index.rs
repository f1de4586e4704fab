//! The SQLite search index (`chatr-search.db`, kept by its own thread) as
//! it is on disk: what leaves the conversations leaves the index too, not
//! only the results, which are filtered at query time as well.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::TestServer;

/// The rows of the index that match `word`.
fn indexed(data_dir: &std::path::Path, word: &str) -> usize {
    let search = rusqlite::Connection::open(data_dir.join("chatr-search.db")).unwrap();
    search.busy_timeout(Duration::from_secs(5)).unwrap();
    search
        .query_row(
            "select count(*) from messages_fts where messages_fts match ?1",
            [word],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

async fn eventually(what: &str, ok: impl Fn() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_accounts_words_leave_the_search_index() {
    let server = TestServer::start().await;
    if !server.database_url.starts_with("sqlite:") {
        // PostgreSQL searches the table itself: there is no index file.
        server.stop().await;
        return;
    }
    let (alice_token, _) = server.register("alice").await;
    let (bob_token, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    for content in ["quokka marmalade", "quokka toast"] {
        a.emit_ok(
            "message:send",
            json!({ "recipientId": bob, "content": content }),
        )
        .await;
    }
    let (carol_token, _) = server.register("carol").await;
    let mut c = server.connect(&carol_token).await;
    c.emit_ok(
        "message:send",
        json!({ "recipientId": bob, "content": "quokka stays" }),
    )
    .await;
    let data_dir = server.data_dir.clone();
    eventually("the messages were not indexed in time", || {
        indexed(&data_dir, "quokka") == 3
    })
    .await;

    server.delete_account(&alice_token).await;
    eventually("a deleted account's words are still in the index", || {
        indexed(&data_dir, "marmalade") == 0 && indexed(&data_dir, "toast") == 0
    })
    .await;
    // Only hers: another sender's message with the same word stays findable.
    assert_eq!(indexed(&data_dir, "quokka"), 1);
    let (status, found) = server
        .http(
            "GET",
            "/api/messages/search?q=quokka",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["content"], "quokka stays");
    server.stop().await;
}
