//! SPEC §6 against a hostile client: whatever holds over HTTP holds over a WebSocket
//! (limits, revocation, roles), one request cannot make the server read or write
//! without bound, and half-sent requests or floods cannot take the server down.

use crate::common::app::{now, test_config, TestApp};
use crate::common::db::TestDatabase;
use crate::common::graphql::{error_code, payload_errors, SELLER_SEND};
use crate::common::nodes::NodeProcess;
use crate::common::wait::poll_until;
use crate::common::ws::{Ended, WsClient, CHAT_EVENTS};
use marketchat::config::RateLimits;
use marketchat::config::ServerConfig;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn app_with(limits: &str) -> TestApp {
    TestApp::spawn_with(ServerConfig { rate_limits: limits.parse::<RateLimits>().unwrap(), ..test_config() }).await
}

#[tokio::test]
async fn sends_over_a_socket_count_against_the_send_limit_as_over_http() {
    let app = app_with("send=5/60s").await;
    let seller = app.seller("Acme").await;
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let mut stored = 0;
    let mut limited = 0;
    for i in 0..20 {
        let reply = socket.operation(&format!("m{i}"), SELLER_SEND, json!({ "message": format!("spam {i}") })).await.expect("reply");
        if reply["payload"]["data"]["chatMessageCreate"]["chatMessage"]["id"].is_string() {
            stored += 1;
        } else {
            assert_eq!(reply["payload"]["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{reply}");
            limited += 1;
        }
    }
    assert_eq!((stored, limited), (5, 15));
    assert_eq!(app.stored_messages(seller.id).await, 5, "the socket stored no more than HTTP would");
    // The same credential over HTTP shares the bucket the socket emptied.
    let (status, body) = app.graphql("/graphql/seller", &seller.key, SELLER_SEND, json!({ "message": "over http" })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn operations_over_a_socket_count_against_the_key_limit_as_requests() {
    let app = app_with("key=3/60s").await;
    let seller = app.seller("Acme").await;
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    for i in 0..3 {
        let reply = socket.operation(&format!("q{i}"), "{ chatUnreadCount }", json!({})).await.unwrap();
        assert_eq!(reply["payload"]["data"]["chatUnreadCount"], 0, "{reply}");
    }
    let refused = socket.operation("q3", "{ chatUnreadCount }", json!({})).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    assert!(refused["payload"][0]["extensions"]["retryAfter"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_revoked_key_writes_nothing_more_on_an_already_open_socket() {
    // The periodic re-check is far away: the refusal must come from the per-operation check.
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 3_600, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let sent = socket.operation("m1", SELLER_SEND, json!({ "message": "before" })).await.unwrap();
    assert!(sent["payload"]["data"]["chatMessageCreate"]["chatMessage"]["id"].is_string(), "{sent}");
    let key = app.api_keys().await.into_iter().find(|k| k.seller_id == Some(seller.id)).unwrap();
    app.store.revoke_api_key(key.id, now()).await.unwrap();

    let after = socket.operation("m2", SELLER_SEND, json!({ "message": "after revocation" })).await;
    assert_eq!(after, Err(Ended::Closed(4403)));
    assert_eq!(app.stored_messages(seller.id).await, 1, "nothing written after the revocation");
}

#[tokio::test]
async fn a_socket_sees_chat_switched_off_like_http() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.as_operator(&op, "mutation { chatSettingsUpdate(input: { chatEnabled: false }) { chatEnabled } }", json!({})).await;
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let reply = socket.operation("m1", SELLER_SEND, json!({ "message": "hello?" })).await.unwrap();
    let payload = &reply["payload"]["data"]["chatMessageCreate"];
    assert_eq!(payload_errors(payload), vec![("base".to_owned(), "In-app chat is not enabled".to_owned())]);
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn operations_in_flight_on_one_socket_are_capped() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let subscribe = |id: String| json!({ "id": id, "type": "subscribe", "payload": { "query": CHAT_EVENTS, "variables": {} } });
    let cap = marketchat::api::ws::MAX_OPERATIONS_PER_SOCKET;
    for i in 0..cap {
        socket.send(subscribe(format!("s{i}"))).await;
    }
    socket.send(subscribe("one-too-many".to_owned())).await;
    let refused = socket.next_message().await.unwrap();
    assert_eq!(refused["id"], "one-too-many", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS", "{refused}");

    // Completing one frees its place.
    socket.send(json!({ "id": "s0", "type": "complete" })).await;
    let done = socket.next_message().await.unwrap();
    assert_eq!((done["id"].as_str(), done["type"].as_str()), (Some("s0"), Some("complete")), "{done}");
    let reply = socket.operation("q", "{ chatUnreadCount }", json!({})).await.unwrap();
    assert_eq!(reply["payload"]["data"]["chatUnreadCount"], 0, "{reply}");
}

#[tokio::test]
async fn one_credential_cannot_take_every_socket() {
    let app = TestApp::spawn_with(ServerConfig { max_sockets_per_credential: 3, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await);
    }
    let mut fourth = WsClient::connect(&app.base, "/graphql/seller").await;
    fourth.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": seller.key } })).await;
    assert_eq!(fourth.ended().await, Ended::Closed(1013));
    // Another credential is not locked out, and a freed socket can be taken again.
    WsClient::initialised(&app.base, "/graphql/operator", &op).await;
    drop(held.pop());
    let try_again = || async {
        let mut client = WsClient::connect(&app.base, "/graphql/seller").await;
        client.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": seller.key } })).await;
        client.next_message().await.is_ok_and(|m| m["type"] == "connection_ack").then_some(client)
    };
    let again = poll_until(Duration::from_secs(5), try_again, Option::is_some).await;
    assert!(again.is_some(), "the closed socket's place is free again");
}

#[tokio::test]
async fn frames_larger_than_the_body_limit_close_the_socket() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let huge = "x".repeat(100 * 1024);
    // Before connection_init completes…
    let mut early = WsClient::connect(&app.base, "/graphql/seller").await;
    early.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": seller.key, "pad": huge } })).await;
    assert!(matches!(early.ended().await, Ended::Closed(_) | Ended::Dropped));
    // …and after.
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    socket.send(json!({ "id": "big", "type": "subscribe", "payload": { "query": format!("{{ chatUnreadCount }} # {huge}") } })).await;
    let ended = socket.ended().await;
    assert!(matches!(ended, Ended::Closed(1009) | Ended::Dropped), "{ended:?}");
}

#[tokio::test]
async fn typename_counts_toward_the_field_limit() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let typenames: String = (0..1_001).map(|i| format!("t{i}: __typename ")).collect();
    let (status, body) = app.graphql("/graphql/seller", &seller.key, &format!("{{ {typenames} }}"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(body.get("data").is_none_or(|d| d.is_null()), "nothing executed: {body}");
}

/// The probe: 150 aliases of a full page of message texts.
fn aliased_pages() -> String {
    let aliases: String = (0..150).map(|i| format!("a{i}: chatMessages(first: 500) {{ nodes {{ message }} }} ")).collect();
    format!("{{ {aliases} }}")
}

#[tokio::test]
async fn aliased_pages_are_refused_before_any_row_is_read_over_http_and_socket() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    for i in 0..20 {
        app.seller_sends(&seller.key, &format!("message {i} {}", "y".repeat(4_000))).await;
    }
    let (status, body) = app.graphql("/graphql/seller", &seller.key, &aliased_pages(), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("75000") && message.contains("1000"), "says how many items and the limit: {message}");
    // Refused at parse time: there is no `data` at all, so no resolver ran and no row was read.
    assert!(body.get("data").is_none_or(|d| d.is_null()), "{body}");

    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let reply = socket.operation("probe", &aliased_pages(), json!({})).await.unwrap();
    assert_eq!(reply["payload"]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{reply}");
    assert!(reply["payload"].get("data").is_none_or(|d| d.is_null()), "{reply}");

    // A full page with every field stays allowed.
    let full = "{ chatMessages(first: 500) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { id message sentByType createdAt readAt sentBy } edges { cursor node { id } } } }";
    let data = app.as_seller(&seller.key, full, json!({})).await;
    assert_eq!(data["chatMessages"]["nodes"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn nested_pages_multiply_and_are_refused() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let query = "{ chats(first: 500) { nodes { messages(first: 500) { nodes { id } } } } }";
    let (_, body) = app.graphql("/graphql/operator", &op, query, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
}

#[tokio::test]
async fn half_sent_requests_neither_block_others_nor_hold_their_connections() {
    let app = TestApp::spawn_with(ServerConfig { header_read_timeout_secs: 1, ..test_config() }).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut loris = Vec::new();
    for i in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(format!("POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ").as_bytes()).await.unwrap();
        loris.push(stream);
    }
    let started = Instant::now();
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1), "answered beside 200 half-sent requests");

    // Each half-sent request's connection is closed once the header timeout passes.
    let header_timeout_passed = Duration::from_millis(1_500);
    tokio::time::sleep(header_timeout_passed).await;
    for stream in &mut loris {
        let mut buf = [0_u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await.expect("closed, not waiting");
        // Closed (EOF or reset), possibly after a 408 response.
        if let Ok(n) = read {
            if n > 0 {
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&buf[..n]));
            }
        }
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(ServerConfig { header_read_timeout_secs: 1, ..test_config() }).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0_u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the idle connection");
    assert!(started.elapsed() >= Duration::from_millis(900), "not before the timeout");
}

#[test]
fn the_default_connection_cap_fits_the_open_file_limit() {
    let config = ServerConfig::default();
    let limit = marketchat::config::open_file_limit();
    assert!(config.connection_cap() < limit, "{} connections within {limit} open files", config.connection_cap());
    assert_eq!(ServerConfig { max_connections: Some(7), ..ServerConfig::default() }.connection_cap(), 7);
}

#[tokio::test]
async fn trace_logging_never_prints_keys_or_message_text() {
    let database = TestDatabase::create().await;
    let store = marketchat::store::connect(&database.url, &Default::default()).await.unwrap();
    let log_path = tempfile::NamedTempFile::new().unwrap();
    let log = std::fs::File::create(log_path.path()).unwrap();
    let mut node = NodeProcess::start_logging(&database.url, &[("RUST_LOG", "trace")], log);
    let app = TestApp::remote(node.base.clone(), store, database.url.clone());
    let seller = app.seller("Acme").await;
    let secret_text = "remittance-question-7f3a9";
    let mut socket = WsClient::initialised(&app.base, "/graphql/seller", &seller.key).await;
    let reply = socket.operation("m1", SELLER_SEND, json!({ "message": secret_text })).await.unwrap();
    assert!(reply["payload"]["data"]["chatMessageCreate"]["chatMessage"]["id"].is_string(), "{reply}");
    app.seller_sends(&seller.key, &format!("{secret_text} over http")).await;
    drop(socket);
    // A graceful stop: the node has logged the socket's end (and everything else) when it exits.
    node.terminate();
    let logged = std::fs::read_to_string(log_path.path()).unwrap();
    assert!(logged.lines().count() > 10, "trace logging is on: {logged}");
    assert!(!logged.contains(&seller.key), "the API key was logged");
    assert!(!logged.contains(secret_text), "message text was logged");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let client = reqwest::Client::new();
    let responses = [
        client.get(format!("{}/operator/", app.base)).send().await.unwrap(),
        client.get(format!("{}/portal/portal.js", app.base)).send().await.unwrap(),
        app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).json(&json!({ "query": "{ chatUnreadCount }" })).send().await.unwrap(),
        app.post("/graphql/seller").json(&json!({ "query": "{ chatUnreadCount }" })).send().await.unwrap(),
        client.get(format!("{}/no-such-page", app.base)).send().await.unwrap(),
    ];
    for response in responses {
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
    }
}
