//! Credentials and settings under load: a key revoked, or chat switched off, through any
//! connection to the database (the server's own, or another one as the CLI would use) is
//! refused at the very next request, also while other sellers' messages are being group
//! committed. The guard for any cache of keys or settings on the request path.

use crate::common::app::{now, TestApp};
use crate::common::graphql::{error_code, payload_errors, BRIEF_LIST, SELLER_SEND};
use marketchat::store;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Sends from `key` in a loop (eight at a time) until `stop`, so group commits are
/// running while a test changes something else.
fn keep_sending(app: &TestApp, key: String, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    (0..8)
        .map(|worker| {
            let (client, url, key, stop) = (client.clone(), format!("{}/graphql/seller", app.base), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({ "query": SELLER_SEND, "variables": { "message": format!("load {worker}.{i}") } });
                    let response = client.post(&url).header("MARKETPLACER-API-KEY", &key).json(&body).send().await.expect("send");
                    assert_eq!(response.status(), StatusCode::OK);
                    i += 1;
                }
            })
        })
        .collect()
}

async fn stop_sending(stop: Arc<AtomicBool>, senders: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("sender");
    }
}

#[tokio::test]
async fn a_used_key_revoked_during_sends_is_refused_at_the_next_request() {
    let app = TestApp::spawn().await;
    let busy = app.seller("Busy").await;
    let stop = Arc::new(AtomicBool::new(false));
    let senders = keep_sending(&app, busy.key.clone(), stop.clone());
    // Through the server's own store and through a second connection, as another
    // process (the CLI) would.
    let other = store::connect(&app.database_url, &Default::default()).await.expect("second connection");
    for round in 0..10 {
        let seller = app.seller(&format!("Seller {round}")).await;
        for _ in 0..3 {
            let (status, body) = app.graphql("/graphql/seller", &seller.key, BRIEF_LIST, Value::Null).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let key = app.api_keys().await.into_iter().find(|k| k.seller_id == Some(seller.id)).expect("key");
        let revoking = if round % 2 == 0 { &app.store } else { &other };
        revoking.revoke_api_key(key.id, now()).await.expect("revoke");
        let (status, body) = app.graphql("/graphql/seller", &seller.key, BRIEF_LIST, Value::Null).await;
        assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "round {round}: {body}");
    }
    stop_sending(stop, senders).await;
}

#[tokio::test]
async fn chat_switched_off_during_sends_refuses_the_next_seller_message() {
    let app = TestApp::spawn().await;
    let busy = app.seller("Busy").await;
    let seller = app.seller("Acme").await;
    let stop = Arc::new(AtomicBool::new(false));
    let senders = keep_sending(&app, busy.key.clone(), stop.clone());
    let other = store::connect(&app.database_url, &Default::default()).await.expect("second connection");
    for round in 0..10 {
        let switching = if round % 2 == 0 { &app.store } else { &other };
        assert!(app.seller_sends(&seller.key, "while on").await["errors"].is_null(), "round {round}");
        switching.set_setting(marketchat::service::CHAT_ENABLED_SETTING, "false").await.expect("switch off");
        let refused = app.seller_sends(&seller.key, "while off").await;
        assert_eq!(payload_errors(&refused), [("base".to_owned(), "In-app chat is not enabled".to_owned())], "round {round}");
        switching.set_setting(marketchat::service::CHAT_ENABLED_SETTING, "true").await.expect("switch on");
    }
    stop_sending(stop, senders).await;
    let stored = app.stored_messages(seller.id).await;
    assert_eq!(stored, 10, "only the messages sent while chat was on");
}

#[tokio::test]
async fn a_cached_key_still_records_its_first_use() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    for _ in 0..5 {
        assert!(app.seller_sends(&seller.key, "hello").await["errors"].is_null());
    }
    let key = app.api_keys().await.into_iter().find(|k| k.seller_id == Some(seller.id)).expect("key");
    let used = key.last_used_at.expect("the use was recorded");
    assert!(now().since(used).as_secs() < 60, "recorded just now");
}
