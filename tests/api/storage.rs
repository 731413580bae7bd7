//! The store under concurrency: group commit keeps every write atomic and ordered.

use crate::helpers::*;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::Side;
use marketchat::store::{CreateOutcome, EventKind, NewMessage};

fn message(seller_id: i64, text: &str) -> NewMessage {
    NewMessage {
        seller_id,
        sent_by: Side::Seller,
        sender_label: None,
        body: text.to_owned(),
        client_mutation_id: None,
        now: now(),
        dedupe_since: 0,
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
        let seller_id = match i % 3 { 0 => a.id, 1 => b.id, _ => 9_999 };
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
        let rows = app.store.messages_oldest_first(seller.id, 0, 1_000).await.unwrap();
        let seqs: Vec<i64> = rows.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "contiguous per-chat sequence");
        assert_eq!(app.store.chat(seller.id).await.unwrap().unwrap().message_count, 100);
    }
    // The feed only shows an event once no running transaction could sort before it
    // (on PostgreSQL any transaction of the server counts), so wait until it caught up.
    let mut events = Vec::new();
    for _ in 0..100 {
        events = app.store.events_after(EventCursor::START, None, 1_000).await.unwrap();
        if events.len() >= 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position), "feed order, no repeat");
    let mut messages: Vec<i64> = events
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
