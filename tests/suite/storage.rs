//! The store under concurrency: group commit keeps every write atomic and ordered.

use crate::common::app::{now, TestApp};
use crate::common::wait::poll_until;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::{MessageId, SellerId, Seq};
use marketchat::domain::time::UnixMillis;
use marketchat::domain::Side;
use marketchat::store::{CreateOutcome, EventKind, NewMessage};
use std::time::Duration;

fn message(seller_id: SellerId, text: &str) -> NewMessage {
    NewMessage {
        seller_id,
        sent_by: Side::Seller,
        sender_label: None,
        body: text.to_owned(),
        client_mutation_id: None,
        now: now(),
        dedupe_since: UnixMillis::new(0),
    }
}

#[tokio::test]
async fn concurrent_writes_share_transactions_without_losing_or_mixing_anything() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let mut writes = Vec::new();
    for i in 0..300 {
        let store = app.store.clone();
        // Every third write names a seller that does not exist: it fails alone.
        let seller_id = match i % 3 { 0 => a.id, 1 => b.id, _ => SellerId::from(9_999) };
        writes.push(tokio::spawn(async move { store.create_message(&message(seller_id, &format!("w{i}"))).await }));
    }
    let mut created = 0;
    let mut failed = 0;
    for write in writes {
        match write.await.unwrap() {
            Ok(CreateOutcome::Created(_)) => created += 1,
            Ok(CreateOutcome::Replayed(_)) => panic!("no client mutation ids here"),
            Err(_) => failed += 1,
        }
    }
    assert_eq!((created, failed), (200, 100));
    for seller in [&a, &b] {
        let rows = app.store.messages_oldest_first(seller.id, Seq::new(0), 1_000).await.unwrap();
        let seqs: Vec<i64> = rows.iter().map(|m| m.seq.get()).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "contiguous per-chat sequence");
        assert_eq!(app.store.chat(seller.id).await.unwrap().unwrap().message_count, 100);
    }
    // The feed only shows an event once no running transaction could sort before it
    // (on PostgreSQL any transaction of the server counts), so wait until it caught up.
    let read_feed = || async { app.store.events_after(EventCursor::START, None, 1_000).await.unwrap() };
    let events = poll_until(Duration::from_secs(5), read_feed, |events| events.len() >= 200).await;
    assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position), "feed order, no repeat");
    let mut messages: Vec<MessageId> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::MessageCreated(m) => m.id,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), 200, "one event per stored message, none missing");
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = marketchat::store::connect(&format!("sqlite://{}", path.display()), &Default::default()).await.unwrap();
    // A write makes sure the WAL and shared-memory files exist.
    let seller = store.create_seller("Acme", now()).await.unwrap();
    store.create_message(&message(seller.id, "hello")).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} is {:o}", file.display(), mode & 0o777);
    }
}

#[tokio::test]
async fn message_ids_are_never_reused_even_after_retention_removed_every_message() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut newest = MessageId::from(0);
    for text in ["one", "two", "three"] {
        newest = app.store.create_message(&message(seller.id, text)).await.unwrap().message().id;
    }
    let removed = app.store.remove_before(now().plus(Duration::from_secs(60)), 100).await.unwrap();
    assert_eq!(removed, 3, "retention removed every message");
    let next = app.store.create_message(&message(seller.id, "after")).await.unwrap().message().id;
    assert!(next > newest, "ChatMessage-{next} reuses an ID handed out before (newest was {newest})");
}

/// The SQLite schema before `0008_never_reuse_ids` (migrations 1–7), built from copies
/// of those files; returns the pool.
async fn sqlite_at_migration_7(url: &str, dir: &std::path::Path) -> sqlx::SqlitePool {
    sqlite_before_migration(url, dir, "0008").await
}

/// A SQLite database at `url` with the migrations before number `next` applied.
async fn sqlite_before_migration(url: &str, dir: &std::path::Path, next: &str) -> sqlx::SqlitePool {
    use std::str::FromStr;
    let old = dir.join("migrations");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < next {
            std::fs::copy(&path, old.join(name)).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true).foreign_keys(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
    pool
}

type SchemaObjects = Vec<(String, String, String)>;

/// Indexes, triggers and foreign keys of every table, comparable across a rebuild.
async fn schema_objects(pool: &sqlx::SqlitePool) -> (SchemaObjects, SchemaObjects) {
    let objects: SchemaObjects = sqlx::query_as(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let keys: SchemaObjects = sqlx::query_as(
        "SELECT m.name, f.\"from\", f.\"table\" || '.' || f.\"to\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
         WHERE m.type = 'table' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (objects, keys)
}

#[tokio::test]
async fn the_sqlite_id_migration_keeps_rows_indexes_triggers_and_foreign_keys_and_skips_removed_ids() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
    let pool = sqlite_at_migration_7(&url, dir.path()).await;
    for statement in [
        "INSERT INTO sellers (id, business_name, name_key, created_at) VALUES (1, 'Acme', 'acme', 1), (2, 'Blue', 'blue', 2)",
        "INSERT INTO chats (seller_id) VALUES (1), (2)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 1, 'Seller', 'a', 10)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 2, 'Admin', 'b', 11)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (2, 1, 'Seller', 'c', 12)",
        // Retention removed the newest message already, before AUTOINCREMENT existed.
        "DELETE FROM events WHERE message_id = 3",
        "DELETE FROM messages WHERE id = 3",
        "INSERT INTO api_keys (key_hash, seller_id, label, created_at) VALUES ('h1', 1, NULL, 1), ('h2', NULL, 'ops', 1)",
        "INSERT INTO users (email, name, password_hash, seller_id, role, created_at) VALUES ('a@b.c', 'A', 'x', 1, NULL, 1)",
        "INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at) VALUES ('t', 1, 99, 1)",
        "INSERT INTO webhook_endpoints (url, secret, events, created_at) VALUES ('https://h.test', 's', 'chat_message.created', 1)",
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at, next_attempt_at) VALUES (1, 'e1', '{}', 1, 1)",
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, status) VALUES (1, 1, 500)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let (objects_before, keys_before) = schema_objects(&pool).await;
    pool.close().await;

    let store = marketchat::store::connect(&url, &Default::default()).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (objects_after, keys_after) = schema_objects(&pool).await;
    let index = |name: &str, table: &str| ("index".to_owned(), name.to_owned(), table.to_owned());
    let trigger = |name: &str, table: &str| ("trigger".to_owned(), name.to_owned(), table.to_owned());
    let added: SchemaObjects = objects_after.iter().filter(|o| !objects_before.contains(o)).cloned().collect();
    assert_eq!(
        added,
        [
            index("api_keys_by_seller", "api_keys"),
            // 0013: the support inbox (notes, the chat list's filters, saved replies, statistics).
            index("chat_notes_by_chat", "chat_notes"),
            index("chats_attention_by_activity", "chats"),
            index("chats_awaiting_by_activity", "chats"),
            index("chats_by_assignee_activity", "chats"),
            index("chats_by_assignee_wait", "chats"),
            index("chats_by_status_activity", "chats"),
            index("chats_by_status_wait", "chats"),
            index("chats_by_wait", "chats"),
            index("chats_unassigned_by_activity", "chats"),
            index("chats_unassigned_by_wait", "chats"),
            // 0014: the triggers that keep the message search index in step.
            trigger("messages_fts_after_body_update", "messages"),
            trigger("messages_fts_after_delete", "messages"),
            trigger("messages_fts_after_insert", "messages"),
            // 0015: e-mail notifications (the sender's and the listing's queues, the due
            // stretches, one open stretch per chat and side).
            index("notification_emails_due", "notification_emails"),
            index("notification_emails_recent", "notification_emails"),
            index("notification_stretches_due", "notification_stretches"),
            index("notification_stretches_open", "notification_stretches"),
            index("saved_replies_by_title", "saved_replies"),
            index("seller_sign_ins_by_expiry", "seller_sign_ins"),
            index("sellers_by_external_id", "sellers"),
            // 0015: an e-mail's Message-ID and (stretch, user) are unique.
            index("sqlite_autoindex_notification_emails_1", "notification_emails"),
            index("sqlite_autoindex_notification_emails_2", "notification_emails"),
            index("sqlite_autoindex_seller_sign_ins_1", "seller_sign_ins"),
            // 0012: single sign-on (the pending sign-ins' table and the identity index).
            index("sqlite_autoindex_sso_sign_ins_1", "sso_sign_ins"),
            index("sqlite_autoindex_support_agent_days_1", "support_agent_days"),
            index("sqlite_autoindex_support_days_1", "support_days"),
            index("sso_sign_ins_by_expiry", "sso_sign_ins"),
            index("support_resolutions_by_time", "support_resolutions"),
            index("support_responses_by_time", "support_responses"),
            index("users_by_external_id", "users"),
            index("users_by_login_email", "users"),
            index("users_by_oidc_identity", "users"),
        ]
    );
    // 0016 dropped `chats_unread_by_activity` (no query used it since 0013); the e-mail
    // column's UNIQUE became `users_by_login_email` (unique among password users).
    let gone: SchemaObjects = objects_before.iter().filter(|o| !objects_after.contains(o)).cloned().collect();
    assert_eq!(
        gone,
        [index("chats_unread_by_activity", "chats"), index("sqlite_autoindex_users_1", "users")],
        "every other index and trigger is back: {objects_after:?}"
    );
    let key = |table: &str, from: &str, to: &str| (table.to_owned(), from.to_owned(), to.to_owned());
    let new_keys = [
        key("seller_sign_ins", "seller_id", "sellers.id"),
        // 0013: the support inbox
        key("chat_notes", "seller_id", "chats.seller_id"),
        key("chats", "assignee_id", "users.id"),
        key("events", "note_id", "chat_notes.id"),
        key("support_resolutions", "seller_id", "chats.seller_id"),
        key("support_responses", "seller_id", "chats.seller_id"),
        // 0015: e-mail notifications
        key("notification_stretches", "seller_id", "sellers.id"),
        key("notification_emails", "stretch_id", "notification_stretches.id"),
        key("notification_emails", "user_id", "users.id"),
        key("notification_opt_outs", "user_id", "users.id"),
    ];
    let (mut added_keys, keys_after): (SchemaObjects, SchemaObjects) = keys_after.into_iter().partition(|key| new_keys.contains(key));
    assert_eq!(keys_after, keys_before, "foreign keys as before");
    added_keys.sort();
    let mut expected_keys = new_keys.to_vec();
    expected_keys.sort();
    assert_eq!(added_keys, expected_keys);
    for table in ["sellers", "messages", "api_keys", "users", "webhook_endpoints", "webhook_deliveries"] {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").bind(table).fetch_one(&pool).await.unwrap();
        assert!(sql.contains("AUTOINCREMENT"), "{table}: {sql}");
    }
    let violations: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check").fetch_all(&pool).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    let counts: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM sellers), (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM api_keys), \
         (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM webhook_deliveries), \
         (SELECT COUNT(*) FROM webhook_attempts)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counts, (2, 2, 2, 1, 1, 1, 1));
    assert_eq!(store.message(MessageId::from(2)).await.unwrap().unwrap().body, "b");
    assert_eq!(store.list_users().await.unwrap()[0].email.as_deref(), Some("a@b.c"));
    let kind: String = sqlx::query_scalar("SELECT kind FROM sessions").fetch_one(&pool).await.unwrap();
    assert_eq!(kind, "portal", "sessions from before are portal sessions");

    // The trigger still keeps the counters; the removed ID 3 is not handed out again.
    let next = store.create_message(&message(SellerId::from(2), "d")).await.unwrap().message().clone();
    assert_eq!(next.id, MessageId::from(4));
    assert_eq!(store.chat(SellerId::from(2)).await.unwrap().unwrap().last_message.map(|m| m.id), Some(MessageId::from(4)));
    assert_eq!(store.create_seller("Copper", now()).await.unwrap().id, SellerId::from(3));
}

#[tokio::test]
async fn the_sqlite_sign_in_migration_keeps_users_and_sessions_and_never_reuses_a_user_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
    let pool = sqlite_before_migration(&url, dir.path(), "0011").await;
    for statement in [
        "INSERT INTO sellers (business_name, name_key, created_at) VALUES ('Acme', 'acme', 1)",
        "INSERT INTO chats (seller_id) VALUES (1)",
        "INSERT INTO users (email, name, password_hash, seller_id, role, created_at) VALUES ('a@b.c', 'A', 'x', 1, NULL, 1), ('gone@b.c', 'G', 'x', NULL, 'viewer', 1)",
        "DELETE FROM users WHERE id = 2",
        "INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at) VALUES ('t', 1, 99, 1)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    pool.close().await;

    let store = marketchat::store::connect(&url, &Default::default()).await.unwrap();
    let users = store.list_users().await.unwrap();
    assert_eq!((users.len(), users[0].email.as_deref(), users[0].password_hash.as_deref()), (1, Some("a@b.c"), Some("x")));
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let session: (i64, String) = sqlx::query_as("SELECT user_id, kind FROM sessions").fetch_one(&pool).await.unwrap();
    assert_eq!(session, (1, "portal".to_owned()));
    let user = |email: &str| marketchat::store::UserRecord {
        id: 0,
        email: Some(email.to_owned()),
        name: "N".to_owned(),
        password_hash: Some("x".to_owned()),
        seller_id: None,
        role: Some("viewer".to_owned()),
        disabled_at: None,
        external_id: None,
        identity: None,
    };
    assert_eq!(store.create_user(&user("new@b.c"), now()).await.unwrap().unwrap().id, 3, "the removed user's ID 2 is not handed out again");
    assert!(store.create_user(&user("a@b.c"), now()).await.unwrap().is_none(), "a login e-mail is still unique");
    // An embedded seller user may share the address: it is no login.
    sqlx::query("INSERT INTO users (email, name, seller_id, created_at, external_id) VALUES ('a@b.c', 'A', 1, 1, 'u-1')").execute(&pool).await.unwrap();
    assert!(sqlx::query("INSERT INTO users (email, name, password_hash, seller_id, created_at, external_id) VALUES (NULL, 'B', 'x', 1, 1, 'u-2')").execute(&pool).await.is_err(), "an embedded user has no password");
    assert!(sqlx::query("INSERT INTO users (name, seller_id, created_at, external_id) VALUES ('C', 1, 1, 'u-1')").execute(&pool).await.is_err(), "one user per (seller, externalId)");
}


#[tokio::test]
async fn the_sqlite_support_inbox_migration_keeps_the_event_feed_and_its_counter_and_fills_waiting_times() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
    let pool = sqlite_before_migration(&url, dir.path(), "0013").await;
    for statement in [
        "INSERT INTO sellers (business_name, name_key, created_at) VALUES ('Acme', 'acme', 1), ('Blue', 'blue', 1)",
        "INSERT INTO chats (seller_id) VALUES (1), (2)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 1, 'Seller', 'a', 10)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 2, 'Admin', 'b', 11)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 3, 'Seller', 'c', 12)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (1, 4, 'Seller', 'd', 13)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (2, 1, 'Seller', 'e', 14)",
        "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (2, 2, 'Admin', 'f', 15)",
        // A read event, then retention removed the newest event: its seq is never reused.
        "INSERT INTO events (seller_id, kind, sent_by, read_at, message_ids, created_at) VALUES (2, 'messages_read', 'Admin', 16, '[6]', 16)",
        "DELETE FROM events WHERE seq = 7",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let events_before: Vec<(i64, String)> = sqlx::query_as("SELECT seq, kind FROM events ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(events_before.len(), 6);
    pool.close().await;

    let store = marketchat::store::connect(&url, &Default::default()).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let events_after: Vec<(i64, String)> = sqlx::query_as("SELECT seq, kind FROM events ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(events_after, events_before, "every event kept with its seq");
    let waiting: Vec<(Option<i64>, Option<i64>, String)> =
        sqlx::query_as("SELECT awaiting_since, opened_at, status FROM chats ORDER BY seller_id").fetch_all(&pool).await.unwrap();
    assert_eq!(waiting, [(Some(12), Some(10), "open".to_owned()), (None, Some(14), "open".to_owned())]);

    // The remade trigger keeps the counters, the waiting time and the feed; seq 7 is skipped.
    let sent = store.create_message(&message(SellerId::from(2), "g")).await.unwrap().message().clone();
    assert_eq!(sent.seq, Seq::new(3));
    let chat = store.chat(SellerId::from(2)).await.unwrap().unwrap();
    assert_eq!((chat.unread_by_operator, chat.support.awaiting_since), (2, Some(sent.created_at)));
    let feed = store.events_after(EventCursor::START, None, 100).await.unwrap();
    assert_eq!(feed.last().map(|e| (e.position.seq, e.kind.clone())), Some((8, EventKind::MessageCreated(sent))));
    let check: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'events'").fetch_one(&pool).await.unwrap();
    assert!(check.contains("AUTOINCREMENT") && check.contains("'note_created'"), "{check}");
}
