//! SPEC §8–9: durability under SIGKILL, graceful SIGTERM, and what the logs never hold.

use crate::common::app::TestApp;
use crate::common::db::TestDatabase;
use crate::common::graphql::{BRIEF_SEND, SELLER_SEND};
use crate::common::nodes::NodeProcess;
use crate::common::wait::{poll_until, wait_until};
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::Seq;
use marketchat::store::{self, EventKind};
use rand::Rng;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn start_node(url: &str) -> NodeProcess {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || NodeProcess::start(&url)).await.unwrap()
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_no_acknowledged_message_and_leaves_no_partial_state() {
    let database = TestDatabase::create().await;
    let setup = store::connect(&database.url, &Default::default()).await.unwrap();
    let app = TestApp::remote(String::new(), setup.clone(), database.url.clone());
    let seller = app.seller("Acme").await;
    // Acknowledged: client mutation ID → message ID. Pending: tokens whose send got no
    // answer before the kill; they are retried on the next node (idempotent retries).
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let pending: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..10 {
        let node = start_node(&database.url).await;
        let client = TestApp::remote(node.base.clone(), setup.clone(), database.url.clone());
        // The kill window opens once the node reaches its database: on a busy machine its
        // first connection takes longer than the window itself.
        wait_until(Duration::from_secs(10), || async { client.get("/readyz").await.0 == reqwest::StatusCode::OK }).await;
        let client = Arc::new(client);
        let mut senders = Vec::new();
        for worker in 0..6 {
            let (client, key, acknowledged, pending) = (client.clone(), seller.key.clone(), acknowledged.clone(), pending.clone());
            senders.push(tokio::spawn(async move {
                for n in 0.. {
                    let token = pending.lock().unwrap().pop().unwrap_or_else(|| format!("r{round}-w{worker}-n{n}"));
                    let body = json!({ "query": SELLER_SEND, "variables": { "message": format!("crash test {token}"), "cmid": token } });
                    let sent = client.post("/graphql/seller").header("MARKETPLACER-API-KEY", &key).json(&body).send().await;
                    let answer = match sent {
                        Ok(response) => response.json::<serde_json::Value>().await.ok(),
                        Err(_) => None,
                    };
                    match answer.and_then(|a| a["data"]["chatMessageCreate"]["chatMessage"]["id"].as_str().map(str::to_owned)) {
                        Some(id) => {
                            let previous = acknowledged.lock().unwrap().insert(token, id.clone());
                            assert!(previous.is_none_or(|p| p == id), "a retried token returned another message");
                        }
                        None => {
                            pending.lock().unwrap().push(token);
                            return;
                        }
                    }
                }
            }));
        }
        // The kill lands at a random moment of the sends.
        let sending_for = Duration::from_millis(rand::thread_rng().gen_range(30..250));
        tokio::time::sleep(sending_for).await;
        let mut node = node;
        node.kill();
        for sender in senders {
            sender.await.unwrap();
        }
    }
    // A last node applies recovery, then everything is checked from storage.
    let node = start_node(&database.url).await;
    let check = TestApp::remote(node.base.clone(), setup.clone(), database.url.clone());
    check.as_seller(&seller.key, "{ chatUnreadCount }", json!({})).await;

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 10, "the run acknowledged sends in most rounds ({})", acknowledged.len());
    let stored = setup.messages_oldest_first(seller.id, Seq::new(0), 100_000).await.unwrap();
    let seqs: Vec<i64> = stored.iter().map(|m| m.seq.get()).collect();
    assert_eq!(seqs, (1..=stored.len() as i64).collect::<Vec<_>>(), "thread sequence without hole or repeat");
    let stored_ids: HashSet<String> = stored.iter().map(|m| m.id.gid()).collect();
    for (token, id) in &acknowledged {
        assert!(stored_ids.contains(id), "acknowledged message {id} ({token}) is stored");
    }
    let mut bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    let before = bodies.len();
    bodies.dedup();
    assert_eq!(bodies.len(), before, "no token stored twice");
    let chat = setup.chat(seller.id).await.unwrap().unwrap();
    assert_eq!(chat.message_count, stored.len() as i64, "counters match the rows");

    let read_feed = || async { setup.events_after(EventCursor::START, None, 100_000).await.unwrap() };
    let events = poll_until(Duration::from_secs(5), read_feed, |events| events.len() >= stored.len()).await;
    assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position), "event feed without repeat");
    let event_ids: HashSet<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageCreated(m) => Some(m.id.gid()),
            EventKind::MessagesRead { .. } | EventKind::ChatUpdated | EventKind::NoteCreated(_) => None,
        })
        .collect();
    assert_eq!(event_ids, stored_ids, "exactly one event per stored message");
}

/// How long the sends get to be under way before the SIGTERM lands among them.
const REQUESTS_UNDER_WAY: Duration = Duration::from_millis(5);

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let database = TestDatabase::create().await;
    let setup = store::connect(&database.url, &Default::default()).await.unwrap();
    let app = TestApp::remote(String::new(), setup.clone(), database.url.clone());
    let seller = app.seller("Acme").await;
    let mut node = start_node(&database.url).await;
    let client = Arc::new(TestApp::remote(node.base.clone(), setup.clone(), database.url.clone()));
    let mut requests = Vec::new();
    for i in 0..40 {
        let (client, key) = (client.clone(), seller.key.clone());
        requests.push(tokio::spawn(async move {
            let body = json!({ "query": SELLER_SEND, "variables": { "message": format!("in flight {i}") } });
            client.post("/graphql/seller").header("MARKETPLACER-API-KEY", &key).json(&body).send().await
        }));
    }
    tokio::time::sleep(REQUESTS_UNDER_WAY).await;
    let status = tokio::task::spawn_blocking(move || node.terminate()).await.unwrap();
    assert!(status.success(), "exit status 0 after SIGTERM: {status}");
    let mut answered = 0;
    for request in requests {
        // A request the server had not started reading when it stopped accepting may
        // fail on the client; one it started must complete.
        if let Ok(response) = request.await.unwrap() {
            assert!(response.status().is_success(), "an accepted request completes: {}", response.status());
            answered += 1;
        }
    }
    let stored = setup.messages_oldest_first(seller.id, Seq::new(0), 1_000).await.unwrap().len();
    assert_eq!(stored, answered, "every stored send was answered, every answered send is stored");
}

#[tokio::test]
async fn keys_and_message_text_never_reach_the_logs() {
    let database = TestDatabase::create().await;
    let setup = store::connect(&database.url, &Default::default()).await.unwrap();
    let app = TestApp::remote(String::new(), setup.clone(), database.url.clone());
    let seller = app.seller("Acme").await;
    let log_dir = tempfile::tempdir().unwrap();
    for level in ["info", "debug"] {
        let log_path = log_dir.path().join(format!("{level}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let url = database.url.clone();
        let mut node = tokio::task::spawn_blocking(move || NodeProcess::start_logging(&url, &[("RUST_LOG", level)], log))
            .await
            .unwrap();
        let client = TestApp::remote(node.base.clone(), setup.clone(), database.url.clone());
        client.seller_sends(&seller.key, "TOP-SECRET-MESSAGE-TEXT").await;
        let (status, _) = client.graphql("/graphql/seller", "mck_WRONG-KEY-SHOULD-NOT-BE-LOGGED", BRIEF_SEND, json!({})).await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
        let _ = tokio::task::spawn_blocking(move || node.terminate()).await;
        let logged = std::fs::read_to_string(&log_path).unwrap();
        assert!(!logged.is_empty() || level == "info", "the {level} log has content");
        assert!(!logged.contains(&seller.key), "a key was logged at {level}");
        assert!(!logged.contains("WRONG-KEY-SHOULD-NOT-BE-LOGGED"), "a presented key was logged at {level}");
        if level == "info" {
            assert!(!logged.contains("TOP-SECRET-MESSAGE-TEXT"), "message text was logged at info");
        }
    }
}
