//! Integration tests of the messaging core against a real server on port 0.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_reaches_the_recipient_and_its_receipts_reach_the_sender() {
    let server = TestServer::start().await;
    let (alice_token, alice) = server.register("alice").await;
    let (bob_token, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    let mut b = server.connect(&bob_token).await;

    let ack = a
        .emit_ack(
            "message:send",
            json!({ "recipientId": bob, "content": "hi bob" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let id = ack["message"]["id"].as_str().unwrap().to_owned();
    let received = b.next_event("message:received").await;
    assert_eq!(received["id"], id.as_str());
    assert_eq!(received["content"], "hi bob");
    assert_eq!(
        a.next_event("message:status").await,
        json!({ "messageId": id, "status": "sent" })
    );

    let ack = b
        .emit_ack(
            "message:delivered",
            json!({ "messageId": id, "senderId": alice }),
        )
        .await;
    assert_eq!(ack, json!({ "ok": true, "status": "delivered" }));
    assert_eq!(
        a.next_event("message:status").await,
        json!({ "messageId": id, "status": "delivered" })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_from_many_sessions_are_all_acknowledged_and_stored_once() {
    let server = TestServer::start().await;
    let (bob_token, bob) = server.register("bob").await;
    let mut senders = Vec::new();
    for i in 0..8 {
        let (token, _) = server.register(&format!("s{i}")).await;
        senders.push((token.clone(), server.connect(&token).await));
    }
    // Fire everything before awaiting any ack, so that the writer batches them.
    let mut pending = Vec::new();
    for (_, client) in senders.iter_mut() {
        for n in 0..50 {
            let payload = json!({ "recipientId": bob, "content": format!("m{n}"), "clientMessageId": format!("c{n}") });
            pending.push(client.emit_with_ack("message:send", payload).await);
        }
    }
    for rx in pending {
        let ack = tokio::time::timeout(support::TIMEOUT, rx)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let (status, conversations) = server
        .http("GET", "/api/messages/conversations", Some(&bob_token), None)
        .await;
    assert_eq!(status, 200);
    let rows = conversations.as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert!(
        rows.iter().all(|r| r["unreadCount"] == 50),
        "{conversations}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_message_survives_a_graceful_restart() {
    let server = TestServer::start().await;
    let (alice_token, _) = server.register("alice").await;
    let (bob_token, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    let mut pending = Vec::new();
    for n in 0..100 {
        pending.push(
            a.emit_with_ack(
                "message:send",
                json!({ "recipientId": bob, "content": format!("m{n}") }),
            )
            .await,
        );
    }
    let mut acked = 0;
    for rx in pending {
        if rx.await.is_ok_and(|ack| ack["ok"] == true) {
            acked += 1;
        }
    }
    let data_dir = server.data_dir.clone();
    let dir = server.stop().await;
    let server = TestServer::start_in(data_dir).await;
    let (_, alice_record) = {
        let (status, me) = server
            .http("GET", "/api/auth/me", Some(&alice_token), None)
            .await;
        (status, me)
    };
    let alice = alice_record["id"].as_str().unwrap();
    let (_, history) = server
        .http(
            "GET",
            &format!("/api/messages/history?recipientId={alice}&limit=200"),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(history.as_array().unwrap().len(), acked);
    assert_eq!(acked, 100);
    server.stop().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_say_authentication_error() {
    let server = TestServer::start().await;
    let err = support::Client::connect(server.addr, "nonsense")
        .await
        .err()
        .unwrap();
    assert!(err.starts_with("Authentication error"), "{err}");
    server.stop().await;
}

/// The account is checked in the database on every connection: a cache that
/// still knew the user once let a deleted account keep connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_from_the_database_can_no_longer_connect() {
    let server = TestServer::start().await;
    let (token, id) = server.register("gone").await;
    let first = server.connect(&token).await;
    drop(first);
    server.execute("delete from users where id = $1", &id).await;
    let err = support::Client::connect(server.addr, &token)
        .await
        .err()
        .unwrap();
    assert_eq!(err, "Authentication error: unknown user");
    server.stop().await;
}

/// Makes the database refuse (or accept again) every row inserted into `table`.
async fn refuse_inserts(server: &TestServer, table: &str, refuse: bool) {
    let sql = match (server.database_url.starts_with("sqlite"), refuse) {
        (true, true) => format!(
            "create trigger refuse_{table} before insert on {table} \
             begin select raise(abort, 'refused'); end"
        ),
        (false, true) => format!(
            "create or replace function refuse() returns trigger language plpgsql \
             as $$ begin raise exception 'refused'; end $$; \
             create trigger refuse_{table} before insert on {table} \
             for each row execute function refuse()"
        ),
        (true, false) => format!("drop trigger refuse_{table}"),
        (false, false) => format!("drop trigger refuse_{table} on {table}"),
    };
    server.execute_batch(&sql).await;
}

/// A send the database refuses leaves nothing behind, so that a retry
/// without a clientMessageId stores the message once: not the message when
/// its users' contact cannot be stored, not the contact when the message
/// cannot be stored. (SQLite takes back only the statement that failed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_database_refuses_leaves_nothing_behind() {
    let server = TestServer::start().await;
    let (alice_token, alice) = server.register("alice").await;
    let (_, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    let send = json!({ "recipientId": bob, "content": "first" });
    let messages = "select count(*) from messages where sender_id = $1";
    let contacts = "select count(*) from contacts where user_a = $1 or user_b = $1";

    refuse_inserts(&server, "contacts", true).await;
    let ack = a.emit_ack("message:send", send.clone()).await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(server.count(messages, &alice).await, 0);
    refuse_inserts(&server, "contacts", false).await;

    refuse_inserts(&server, "messages", true).await;
    let ack = a.emit_ack("message:send", send.clone()).await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(server.count(contacts, &alice).await, 0);
    refuse_inserts(&server, "messages", false).await;

    let ack = a.emit_ack("message:send", send).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(server.count(messages, &alice).await, 1);
    assert_eq!(server.count(contacts, &alice).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_payload_gets_message_error_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let (alice_token, _) = server.register("alice").await;
    let (_, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    let ack = a.emit_ack("message:send", json!("just a string")).await;
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "invalid_payload");
    let err = a.next_event("message:error").await;
    assert_eq!(err["event"], "message:send");
    let ack = a
        .emit_ack(
            "message:send",
            json!({ "recipientId": bob, "content": "x".repeat(10_001) }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload");
    let ack = a
        .emit_ack(
            "message:send",
            json!({ "recipientId": bob, "content": "fine" }),
        )
        .await;
    assert_eq!(ack["ok"], true);
    server.stop().await;
}

/// Sends `m{n}` to `to` and returns the stored message's id.
async fn send_numbered(from: &mut support::Client, to: &str, n: usize) -> String {
    let ack = from
        .emit_ok(
            "message:send",
            json!({ "recipientId": to, "content": format!("m{n}") }),
        )
        .await;
    ack["message"]["id"].as_str().unwrap().to_owned()
}

/// Bob's unread count from Alice, as `GET /api/messages/conversations` says.
async fn unread_from(server: &TestServer, token: &str, partner: &str) -> i64 {
    let (status, body) = server
        .http("GET", "/api/messages/conversations", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .find(|c| c["user"]["id"] == partner)
        .map_or(0, |c| c["unreadCount"].as_i64().unwrap())
}

/// On SQLite the writer counts unread messages once per interval, moving a
/// watermark up (migration 0010), and readers count what lies above it.
/// Counts stay exact on both sides of it: through reads and unsends,
/// and across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_are_exact_whether_or_not_the_writer_has_added_them_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    let sqlite = server.database_url.starts_with("sqlite");
    let (alice_token, alice) = server.register("alice").await;
    let (bob_token, bob) = server.register("bob").await;
    let mut a = server.connect(&alice_token).await;
    let mut b = server.connect(&bob_token).await;
    let mut ids = Vec::new();
    let send = async |a: &mut support::Client, n: usize| send_numbered(a, &bob, n).await;
    for n in 1..=4 {
        ids.push(send(&mut a, n).await);
    }
    assert_eq!(unread_from(&server, &bob_token, &alice).await, 4);
    // A second on (the writer's UNREAD_EVERY), the next commit adds up
    // everything above the watermark.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ids.push(send(&mut a, 5).await);
    if sqlite {
        let counted = server
            .count("select n from unread_counts where recipient_id = $1", &bob)
            .await;
        assert_eq!(counted, 5, "the watermark moved past all five");
    }
    for n in 6..=7 {
        ids.push(send(&mut a, n).await);
    }
    assert_eq!(unread_from(&server, &bob_token, &alice).await, 7);

    // Read m1 (counted) and m6 (just sent); unsend m2 and m7.
    for i in [0, 5] {
        let ack = b
            .emit_ack(
                "message:read",
                json!({ "messageId": ids[i], "senderId": alice }),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    for i in [1, 6] {
        let ack = a
            .emit_ack("message:unsend", json!({ "messageId": ids[i] }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    assert_eq!(unread_from(&server, &bob_token, &alice).await, 3);
    assert_eq!(unread_from(&server, &alice_token, &bob).await, 0);
    drop((a, b));

    let dir_kept = server.data_dir.clone();
    server.stop().await;
    let server = TestServer::start_in(dir_kept).await;
    assert_eq!(unread_from(&server, &bob_token, &alice).await, 3);
    let mut a = server.connect(&alice_token).await;
    send(&mut a, 8).await;
    assert_eq!(unread_from(&server, &bob_token, &alice).await, 4);
    server.stop().await;
}

/// The SQLite writer adds up the unread messages above the watermark as it
/// stores and reads them, and a move adds that tally to `unread_counts`
/// without reading the rows back. An unsend, or an account deleted through
/// another connection, leaves the tally wrong, and the move counts from the
/// table instead. The counts stay exact through moves of each kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_stay_exact_through_moves_after_reads_unsends_and_a_deleted_account() {
    let server = TestServer::start().await;
    let sqlite = server.database_url.starts_with("sqlite");
    let (alice_token, alice) = server.register("alice").await;
    let (bob_token, bob) = server.register("bob").await;
    let (carol_token, carol) = server.register("carol").await;
    let mut a = server.connect(&alice_token).await;
    let mut b = server.connect(&bob_token).await;
    let mut c = server.connect(&carol_token).await;
    let send = async |from: &mut support::Client, n: usize| send_numbered(from, &bob, n).await;
    let counted = async |sender: &str| {
        server
            .count(
                &format!(
                    "select coalesce(sum(n), 0) from unread_counts \
                     where recipient_id = $1 and sender_id = '{sender}'"
                ),
                &bob,
            )
            .await
    };
    // The first move after a start reads the table; after it the writer keeps a tally.
    let move_soon = async || tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A second on, alice's message `n` moves the watermark; then bob has
    // `unread` from her, in the counts themselves and as the list says.
    let moved_by = async |a: &mut support::Client, n: usize, unread: i64, why: &str| {
        move_soon().await;
        send(a, n).await;
        if sqlite {
            assert_eq!(counted(&alice).await, unread, "{why}");
        }
        assert_eq!(unread_from(&server, &bob_token, &alice).await, unread);
    };
    send(&mut a, 1).await;
    move_soon().await;
    send(&mut a, 2).await;

    // Kept in the tally: two stored, one of them read.
    let m3 = send(&mut a, 3).await;
    send(&mut a, 4).await;
    b.emit_ok(
        "message:read",
        json!({ "messageId": m3, "senderId": alice }),
    )
    .await;
    moved_by(&mut a, 5, 4, "m1, m2, m4 and m5").await;

    // Carol's two messages become tombstones in a transaction of the pool.
    send(&mut c, 6).await;
    send(&mut c, 7).await;
    assert_eq!(unread_from(&server, &bob_token, &carol).await, 2);
    server.delete_account(&carol_token).await;
    assert_eq!(unread_from(&server, &bob_token, &carol).await, 0);
    moved_by(&mut a, 8, 5, "m6 and m7 are carol's").await;
    if sqlite {
        assert_eq!(counted(&carol).await, 0, "tombstones are not unread");
    }
    assert_eq!(unread_from(&server, &bob_token, &carol).await, 0);

    // One stored and unsent between two moves.
    let m9 = send(&mut a, 9).await;
    a.emit_ok("message:unsend", json!({ "messageId": m9 }))
        .await;
    moved_by(&mut a, 10, 6, "m9 was unsent").await;
    server.stop().await;
}
