//! SPEC §10 retention: `--retention-days N` removes older messages and their events in
//! small batches; counters, lists and export stay right for what remains.

use crate::common::app::{now, test_config, TestApp};
use crate::common::cli::marketchat_command;
use crate::common::graphql::{texts, SELLER_PAGE};
use crate::common::wait::{poll_until, wait_until};
use marketchat::config::ServerConfig;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::SellerId;
use marketchat::domain::time::UnixMillis;
use marketchat::domain::Side;
use marketchat::store::{EventKind, NewMessage};
use serde_json::{json, Value};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn message(seller_id: SellerId, sent_by: Side, body: &str, at: UnixMillis) -> NewMessage {
    NewMessage { seller_id, sent_by, sender_label: None, body: body.to_owned(), client_mutation_id: None, now: at, dedupe_since: UnixMillis::new(0) }
}

#[tokio::test]
async fn retention_removes_old_messages_and_their_events_and_keeps_counts_right() {
    let mut app = TestApp::spawn().await;
    let old_thread = app.seller("Old Timer").await;
    let mixed = app.seller("Mixed").await;
    let now = now();
    // 700 old messages (more than one batch), some unread; two recent ones.
    for i in 0..700 {
        let side = if i % 2 == 0 { Side::Admin } else { Side::Seller };
        app.store.create_message(&message(mixed.id, side, &format!("old {i}"), now.minus(40 * DAY).plus(Duration::from_millis(i)))).await.unwrap();
    }
    app.store.create_message(&message(old_thread.id, Side::Seller, "ancient", now.minus(90 * DAY))).await.unwrap();
    app.store.create_message(&message(mixed.id, Side::Admin, "recent admin", now.minus(DAY))).await.unwrap();
    app.store.create_message(&message(mixed.id, Side::Seller, "recent seller", now.minus(Duration::from_secs(1)))).await.unwrap();

    app.restart_with(ServerConfig { retention_days: Some(30), ..test_config() }).await;
    let purged = || async { app.stored_messages(mixed.id).await == 2 && app.stored_messages(old_thread.id).await == 0 };
    wait_until(Duration::from_secs(10), purged).await;
    assert_eq!(app.stored_messages(mixed.id).await, 2);
    assert_eq!(app.stored_messages(old_thread.id).await, 0);

    let page = app.as_seller(&mixed.key, SELLER_PAGE, json!({})).await;
    assert_eq!(page["chatMessages"]["totalCount"], 2);
    assert_eq!(texts(&page["chatMessages"]), ["recent seller", "recent admin"]);
    assert_eq!(app.as_seller(&mixed.key, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 1);
    let op = app.operator_key("ops").await;
    let chats = app.as_operator(&op, "{ chats { totalCount nodes { seller { businessName } unreadCount } } chatUnreadCount }", json!({})).await;
    assert_eq!(chats["chats"]["totalCount"], 1, "a chat with nothing left leaves the list");
    assert_eq!(chats["chats"]["nodes"][0]["unreadCount"], 1);
    assert_eq!(chats["chatUnreadCount"], 1);

    // The feed shows an event once no running transaction could sort before it (on
    // PostgreSQL, any transaction of the cluster: other tests' too), so wait for the two.
    let message_bodies = || async {
        let events = app.store.events_after(EventCursor::START, None, 10_000).await.unwrap();
        events
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::MessageCreated(m) => Some(m.body),
                EventKind::MessagesRead { .. } | EventKind::ChatUpdated | EventKind::NoteCreated(_) => None,
            })
            .collect::<Vec<String>>()
    };
    let bodies = poll_until(Duration::from_secs(30), message_bodies, |bodies| bodies.len() >= 2).await;
    assert_eq!(bodies, ["recent admin", "recent seller"], "events of removed messages went with them");

    let export = marketchat_command(&app.database_url).args(["export", "--seller", &mixed.gid]).output().unwrap();
    let lines: Vec<Value> = String::from_utf8(export.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "export works for what remains");
    // New messages continue the thread's sequence.
    let sent = app.seller_sends(&mixed.key, "after retention").await;
    assert!(sent["errors"].is_null());
    let page = app.as_seller(&mixed.key, SELLER_PAGE, json!({})).await;
    assert_eq!(page["chatMessages"]["totalCount"], 3);
}
