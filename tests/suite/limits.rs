//! SPEC §6 rate limits and request limits (hardening).

use crate::common::app::{test_config, TestApp};
use crate::common::graphql::{error_code, BRIEF_SEND, SELLER_SEND};
use marketchat::config::RateLimits;
use marketchat::config::ServerConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn app_with(limits: &str) -> TestApp {
    let rate_limits: RateLimits = limits.parse().unwrap();
    TestApp::spawn_with(ServerConfig { rate_limits, ..ServerConfig::default() }).await
}

fn assert_rate_limited(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_code(body), "RATE_LIMITED", "{body}");
}

#[tokio::test]
async fn requests_over_the_per_key_limit_get_429_with_retry_after_and_store_nothing() {
    let app = app_with("key=3/60s").await;
    let seller = app.seller("Acme").await;
    for _ in 0..3 {
        app.seller_sends(&seller.key, "ok").await;
    }
    let request = app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).json(&json!({ "query": BRIEF_SEND }));
    let response = request.send().await.unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_rate_limited(status, &body);
    assert_eq!(app.stored_messages(seller.id).await, 3);
    let other = app.seller_key(seller.id).await;
    app.seller_sends(&other, "another key has its own budget").await;
}

#[tokio::test]
async fn requests_over_the_per_ip_limit_get_429_even_without_a_key() {
    let app = app_with("ip=2/60s").await;
    let seller = app.seller("Acme").await;
    for _ in 0..2 {
        app.as_seller(&seller.key, "{ chatUnreadCount }", json!({})).await;
    }
    let (status, body) = TestApp::read(app.post("/graphql/seller").json(&json!({ "query": "{ chatUnreadCount }" }))).await;
    assert_rate_limited(status, &body);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_ip_limit() {
    let query = json!({ "query": "{ chatUnreadCount }" });
    let ask_as = |app: &TestApp, client: &str| app.post("/graphql/seller").header("x-forwarded-for", client).json(&query);
    let trusting = TestApp::spawn_with(ServerConfig {
        rate_limits: "ip=2/60s".parse().unwrap(),
        trusted_proxies: "127.0.0.1".parse().unwrap(),
        ..ServerConfig::default()
    })
    .await;
    for _ in 0..2 {
        let (status, _) = TestApp::read(ask_as(&trusting, "1.2.3.4, 203.0.113.1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "counted for 203.0.113.1, refused only for lack of a key");
    }
    let (status, body) = TestApp::read(ask_as(&trusting, "9.9.9.9, 203.0.113.1")).await;
    assert_rate_limited(status, &body);
    let (status, _) = TestApp::read(ask_as(&trusting, "203.0.113.2")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another client behind the proxy has its own limit");

    // Without trust, the header changes nothing: every request counts for the peer.
    let untrusting = app_with("ip=2/60s").await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        let (status, _) = TestApp::read(ask_as(&untrusting, client)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = TestApp::read(ask_as(&untrusting, "203.0.113.3")).await;
    assert_rate_limited(status, &body);
}

#[tokio::test]
async fn aliased_sends_cannot_get_past_the_send_limit() {
    let app = app_with("send=50/60s").await;
    let seller = app.seller("Acme").await;
    let aliases: String = (0..1_000)
        .map(|i| format!("m{i}: chatMessageCreate(input: {{ message: \"spam {i}\" }}) {{ chatMessage {{ id }} }} "))
        .collect();
    let (status, body) = app.graphql("/graphql/seller", &seller.key, &format!("mutation {{ {aliases} }}"), json!({})).await;
    // Either refused whole (complexity) or cut at the send limit: never more than 50 stored.
    assert!(status == StatusCode::TOO_MANY_REQUESTS || body["errors"].is_array(), "{status}");
    assert!(app.stored_messages(seller.id).await <= 50);

    let aliases: String = (0..60)
        .map(|i| format!("m{i}: chatMessageCreate(input: {{ message: \"burst {i}\" }}) {{ chatMessage {{ id }} }} "))
        .collect();
    let (status, body) = app.graphql("/graphql/seller", &seller.key, &format!("mutation {{ {aliases} }}"), json!({})).await;
    assert_rate_limited(status, &body);
    assert_eq!(app.stored_messages(seller.id).await, 50, "the 51st send and later stored nothing");
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let config = ServerConfig { introspection: false, ..test_config() };
    let app = TestApp::spawn_with(config).await;
    let seller = app.seller("Acme").await;
    let (_, body) = app.graphql("/graphql/seller", &seller.key, "{ __schema { types { name } } }", json!({})).await;
    assert!(body["data"]["__schema"].is_null(), "nothing of the schema is revealed: {body}");
    assert_eq!(app.get("/graphql/seller/schema.graphql").await.0, StatusCode::OK, "the SDL stays published");
}

#[tokio::test]
async fn invalid_utf8_and_duplicate_keys_in_the_body_are_clear_errors() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let invalid = app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).body(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']);
    let (status, body) = TestApp::read(invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let duplicate = r#"{"query": "{ chatUnreadCount }", "query": "mutation { chatMessageCreate(input: {message: \"x\"}) { errors { field } } }"}"#;
    let request = app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).header("content-type", "application/json").body(duplicate);
    let (status, body) = TestApp::read(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("duplicate"), "{body}");
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn a_one_megabyte_body_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let huge = json!({ "query": SELLER_SEND, "variables": { "message": "y".repeat(1 << 20) } });
    let (status, _) = TestApp::read(app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).json(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.stored_messages(seller.id).await, 0);
    app.seller_sends(&seller.key, "still fine").await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let config = ServerConfig { max_connections: Some(2), ..test_config() };
    let app = TestApp::spawn_with(config).await;
    let seller = app.seller("Acme").await;
    let first = app.subscribe("/graphql/seller", &seller.key, None).await;
    let _second = app.subscribe("/graphql/seller", &seller.key, None).await;
    let third = tokio::time::timeout(std::time::Duration::from_millis(500), app.get("/healthz")).await;
    assert!(third.is_err(), "a third connection is not served while two are open");
    drop(first);
    let served = tokio::time::timeout(std::time::Duration::from_secs(5), app.get("/healthz")).await;
    assert_eq!(served.expect("served once a slot is free").0, StatusCode::OK);
}
