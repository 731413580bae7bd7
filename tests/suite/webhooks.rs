//! SPEC §10: webhooks from the transactional outbox, signed, retried, restart-proof.

use crate::common::app::{now, test_config, TestApp};
use crate::common::ca::TestCa;
use crate::common::cli::marketchat_command;
use crate::common::db::TestDatabase;
use crate::common::graphql::{error_code, payload_errors, BRIEF_READ};
use crate::common::nodes::NodeProcess;
use crate::common::wait::{poll_until, wait_until};
use crate::common::webhook::{Received, Receiver, ReceiverBehaviour};
use hmac::{Hmac, Mac};
use marketchat::config::ServerConfig;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a test watches for a retry that must not follow a successful delivery.
const RETRY_AFTER_SUCCESS_WINDOW: Duration = Duration::from_millis(500);

/// How long a test watches for a POST that a followed redirect would have made.
const FOLLOWED_REDIRECT_WINDOW: Duration = Duration::from_millis(300);

fn fast_retries() -> ServerConfig {
    ServerConfig { webhook_retry_base_ms: 20, webhook_timeout_ms: 2_000, ..test_config() }
}

/// The shipped defaults (non-public webhook destinations refused), rate limits off.
fn default_destinations() -> ServerConfig {
    ServerConfig { rate_limits: marketchat::config::RateLimits::off(), ..ServerConfig::default() }
}

/// `marketchat webhook add URL [--events …]` → (ID, secret); the test receivers are on
/// loopback, so private destinations are allowed.
fn add_webhook(database_url: &str, url: &str, events: Option<&str>) -> (String, String) {
    let mut command = marketchat_command(database_url);
    command.args(["webhook", "add", url]).env("MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", "true");
    if let Some(events) = events {
        command.args(["--events", events]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).unwrap();
    let (id, secret) = line.trim().split_once('\t').expect("ID<TAB>SECRET");
    (id.to_owned(), secret.to_owned())
}

fn verify(secret: &str, received: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", received.timestamp, received.body).as_bytes());
    received.signature == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn deliveries_are_signed_json_posts_for_created_and_read_events() {
    let app = TestApp::spawn_with(fast_retries()).await;
    let seller = app.seller("Acme").await;
    let receiver = Receiver::start(0, false).await;
    let (_, secret) = add_webhook(&app.database_url, &receiver.url, None);
    let op = app.operator_key("ops").await;
    let sent = app.operator_sends(&op, &seller.gid, "Paid on Friday").await;
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    let received = receiver.wait_until(|r| r.len() >= 2).await;
    for delivery in &received {
        assert!(verify(&secret, delivery), "the signature verifies: {delivery:?}");
        let now = chrono::Utc::now().timestamp();
        assert!((now - delivery.timestamp.parse::<i64>().unwrap()).abs() < 60);
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(body["id"], delivery.event_id.as_str());
        assert_eq!(body["sellerId"], seller.gid.as_str());
        assert!(body["occurredAt"].as_str().unwrap().ends_with('Z'));
    }
    let created: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(created["type"], "chat_message.created");
    assert_eq!(created["data"]["message"]["id"], sent["chatMessage"]["id"]);
    assert_eq!(created["data"]["message"]["message"], "Paid on Friday");
    let read: Value = serde_json::from_str(&received[1].body).unwrap();
    assert_eq!(read["type"], "chat_message.read");
    assert_eq!(read["data"]["messageIds"], json!([sent["chatMessage"]["id"]]));
    assert!(!verify("whsec_wrong", &received[0]), "another secret does not verify");
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_once_with_one_event_id() {
    let app = TestApp::spawn_with(fast_retries()).await;
    let seller = app.seller("Acme").await;
    let receiver = Receiver::start(3, false).await;
    add_webhook(&app.database_url, &receiver.url, Some("chat_message.created"));
    app.seller_sends(&seller.key, "hello").await;
    let received = receiver.wait_until(|r| r.iter().any(|d| d.answered == 200)).await;
    assert_eq!(received.len(), 4, "three failures, then one success");
    assert!(received.iter().all(|d| d.event_id == received[0].event_id), "one event id across attempts");
    tokio::time::sleep(RETRY_AFTER_SUCCESS_WINDOW).await;
    assert_eq!(receiver.received_so_far().len(), 4, "nothing after the success");
}

#[tokio::test]
async fn a_restart_between_attempts_loses_nothing() {
    // The retry is due ~1.5 s after the failure: after the restart below.
    let mut app = TestApp::spawn_with(ServerConfig { webhook_retry_base_ms: 1_500, ..fast_retries() }).await;
    let seller = app.seller("Acme").await;
    let receiver = Receiver::start(1, false).await;
    add_webhook(&app.database_url, &receiver.url, Some("chat_message.created"));
    app.seller_sends(&seller.key, "survives a restart").await;
    receiver.wait_until(|r| !r.is_empty()).await;
    app.restart(async {}).await;
    assert_eq!(receiver.received_so_far().len(), 1, "the retry had not happened before the restart");
    let received = receiver.wait_until(|r| r.iter().any(|d| d.answered == 200)).await;
    assert!(received.iter().all(|d| d.event_id == received[0].event_id));
    assert_eq!(received.iter().filter(|d| d.answered == 200).count(), 1);
}

#[tokio::test]
async fn a_hanging_endpoint_delays_neither_sending_nor_other_endpoints() {
    let app = TestApp::spawn_with(ServerConfig { webhook_timeout_ms: 60_000, ..fast_retries() }).await;
    let seller = app.seller("Acme").await;
    let hanging = Receiver::start(0, true).await;
    let healthy = Receiver::start(0, false).await;
    add_webhook(&app.database_url, &hanging.url, None);
    add_webhook(&app.database_url, &healthy.url, Some("chat_message.created"));
    for i in 0..20 {
        let sent = app.seller_sends(&seller.key, &format!("m{i}")).await;
        assert!(sent["errors"].is_null());
    }
    let received = healthy.wait_until(|r| r.len() >= 20).await;
    let ids: std::collections::HashSet<&String> = received.iter().map(|d| &d.event_id).collect();
    assert_eq!(ids.len(), 20, "every event reached the healthy endpoint while the other hangs");
}

#[tokio::test]
async fn endpoints_are_managed_from_the_command_line_and_the_operator_api() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let create = "mutation($url: String!, $events: [String!]) { webhookEndpointCreate(input: { url: $url, events: $events }) {
        webhookEndpoint { id url events } secret errors { field messages } } }";
    let data = app.as_operator(&op, create, json!({ "url": "https://hooks.example.test/in", "events": ["chat_message.read"] })).await;
    let created = &data["webhookEndpointCreate"];
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["webhookEndpoint"]["events"], json!(["chat_message.read"]));
    let bad = app.as_operator(&op, create, json!({ "url": "not a url" })).await;
    assert_eq!(payload_errors(&bad["webhookEndpointCreate"])[0].0, "url");
    let bad = app.as_operator(&op, create, json!({ "url": "https://x.test", "events": ["nope"] })).await;
    assert_eq!(payload_errors(&bad["webhookEndpointCreate"])[0].0, "events");

    let listed = marketchat_command(&app.database_url).args(["webhook", "list"]).output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("https://hooks.example.test/in") && !listed.contains("whsec_"), "{listed}");

    let id = created["webhookEndpoint"]["id"].as_str().unwrap();
    let delete = "mutation($id: ID!) { webhookEndpointDelete(input: { id: $id }) { removed } }";
    assert_eq!(app.as_operator(&op, delete, json!({ "id": id })).await["webhookEndpointDelete"]["removed"], true);
    assert_eq!(app.as_operator(&op, "{ webhookEndpoints { id } }", json!({})).await["webhookEndpoints"], json!([]));
    let removed = marketchat_command(&app.database_url).args(["webhook", "remove", id]).output().unwrap();
    assert!(!removed.status.success(), "removing twice fails with a clear line");
}

const CREATE_ENDPOINT: &str = "mutation($url: String!) { webhookEndpointCreate(input: { url: $url }) {
    webhookEndpoint { id } secret errors { field messages } } }";

#[tokio::test]
async fn non_public_destinations_are_refused_at_registration_by_default() {
    let app = TestApp::spawn_with(default_destinations()).await;
    let op = app.operator_key("ops").await;
    let receiver = Receiver::start(0, false).await;
    let port = receiver.url.rsplit(':').next().unwrap().trim_end_matches("/hook");
    let loopback = [
        receiver.url.clone(),
        "http://[::1]/".to_owned(),
        "http://2130706433/".to_owned(),
        format!("http://localhost:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ];
    for url in &loopback {
        let data = app.as_operator(&op, CREATE_ENDPOINT, json!({ "url": url })).await;
        let payload = &data["webhookEndpointCreate"];
        let errors = payload_errors(payload);
        assert_eq!(errors.len(), 1, "{url}: {payload}");
        assert_eq!(errors[0].0, "url");
        assert!(errors[0].1.contains("not a public address"), "{url}: {}", errors[0].1);
        assert!(payload["webhookEndpoint"].is_null() && payload["secret"].is_null());
    }
    assert!(app.store.list_webhooks().await.unwrap().is_empty(), "nothing was stored");
    let data = app.as_operator(&op, CREATE_ENDPOINT, json!({ "url": "https://hooks.example.com/in" })).await;
    assert!(data["webhookEndpointCreate"]["errors"].is_null(), "a public name is accepted: {data}");

    // The command line follows the same rule, and the same switch lifts it.
    let add = |allow: Option<&str>| {
        let mut command = marketchat_command(&app.database_url);
        command.args(["webhook", "add", "http://127.1/hook"]);
        command.env_remove("MARKETCHAT_WEBHOOK_ALLOW_PRIVATE");
        if let Some(allow) = allow {
            command.env("MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", allow);
        }
        command.output().unwrap()
    };
    let refused = add(None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a public address"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(add(Some("true")).status.success());
    assert_eq!(app.store.list_webhooks().await.unwrap().len(), 2, "the public one and the allowed loopback one");
}

#[tokio::test]
async fn a_destination_that_resolves_to_loopback_at_delivery_is_never_contacted() {
    // Endpoints stored directly stand in for a name whose DNS changed after registration.
    let app = TestApp::spawn_with(ServerConfig { webhook_retry_base_ms: 20, ..default_destinations() }).await;
    let seller = app.seller("Acme").await;
    let receiver = Receiver::start(0, false).await;
    let port = receiver.url.rsplit(':').next().unwrap().trim_end_matches("/hook");
    let by_name = format!("http://localhost:{port}/hook");
    let events = vec!["chat_message.created".to_owned()];
    app.store.create_webhook(&by_name, "whsec_test", &events, app.store.last_event_position().await.unwrap(), now()).await.unwrap();
    app.store.create_webhook(&receiver.url, "whsec_test", &events, app.store.last_event_position().await.unwrap(), now()).await.unwrap();
    app.seller_sends(&seller.key, "hello").await;
    let attempts = app
        .wait_for_webhook_attempts(|a| a.iter().filter(|a| a.url == by_name).count() >= 2 && a.iter().filter(|a| a.url == receiver.url).count() >= 2)
        .await;
    for attempt in &attempts {
        assert_eq!(attempt.status, None, "{attempt:?}");
        assert_eq!(attempt.error.as_deref(), Some("destination is not a public address"), "{attempt:?}");
    }
    assert!(receiver.received_so_far().is_empty(), "the loopback receiver got nothing");
}

#[tokio::test]
async fn redirects_are_not_followed_and_count_as_failed_attempts() {
    let app = TestApp::spawn_with(fast_retries()).await;
    let seller = app.seller("Acme").await;
    let elsewhere = Receiver::start(0, false).await;
    let redirecting = Receiver::redirecting_to(&elsewhere.url).await;
    add_webhook(&app.database_url, &redirecting.url, Some("chat_message.created"));
    app.seller_sends(&seller.key, "hello").await;
    redirecting.wait_until(|r| r.len() >= 2).await;
    let attempts = app.wait_for_webhook_attempts(|a| a.len() >= 2).await;
    for attempt in &attempts {
        assert_eq!((attempt.status, attempt.error.as_deref()), (Some(307), Some("HTTP 307")), "{attempt:?}");
    }
    tokio::time::sleep(FOLLOWED_REDIRECT_WINDOW).await;
    assert!(elsewhere.received_so_far().is_empty(), "the redirect target never got the POST");
}

/// `marketchat webhook deliveries ID` on `database_url`: (exit success, stdout lines, stderr).
fn cli_deliveries(database_url: &str, id: &str) -> (bool, Vec<String>, String) {
    let output = marketchat_command(database_url).args(["webhook", "deliveries", id]).output().unwrap();
    let lines = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    (output.status.success(), lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The value of a metric line starting with `prefix` on `/metrics` (0 when absent).
async fn metric(app: &TestApp, prefix: &str) -> f64 {
    let (_, text) = app.get("/metrics").await;
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn https_endpoints_are_delivered_to_when_their_ca_is_trusted_and_fail_visibly_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestCa::new("marketchat test CA");
    let unknown = TestCa::new("somebody else's CA");
    let config = ServerConfig { webhook_ca_file: Some(trusted.write_pem(dir.path())), ..fast_retries() };
    let app = TestApp::spawn_with(config).await;
    let seller = app.seller("Acme").await;
    let good = Receiver::start_https(&trusted).await;
    let bad = Receiver::start_https(&unknown).await;
    assert!(good.url.starts_with("https://127.0.0.1:"), "{}", good.url);
    let (_, secret) = add_webhook(&app.database_url, &good.url, Some("chat_message.created"));
    let (bad_id, _) = add_webhook(&app.database_url, &bad.url, Some("chat_message.created"));
    app.seller_sends(&seller.key, "over TLS").await;

    let received = good.wait_until(|r| !r.is_empty()).await;
    assert!(verify(&secret, &received[0]), "a signed delivery over HTTPS");
    let attempts = app.wait_for_webhook_attempts(|a| a.iter().filter(|a| a.url == bad.url).count() >= 2).await;
    for attempt in attempts.iter().filter(|a| a.url == bad.url) {
        assert_eq!(attempt.status, None);
        let error = attempt.error.as_deref().unwrap_or_default();
        assert!(error.starts_with("TLS certificate problem") && error.contains("UnknownIssuer"), "{attempt:?}");
    }
    assert_eq!(bad.arrived.load(Ordering::SeqCst), 0, "no request passed the handshake");

    // Visible: the command line, the Operator API and the metrics say what happens.
    let (ok, lines, stderr) = cli_deliveries(&app.database_url, &bad_id);
    assert!(ok, "{stderr}");
    assert!(lines.len() >= 2, "{lines:?}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 5, "TIME STATUS ERROR NEXT_RETRY EVENT_ID: {:?}", lines[0]);
    assert!(fields[0].ends_with('Z') && fields[1] == "-" && fields[2].starts_with("TLS certificate problem"), "{fields:?}");
    assert!(fields[3].ends_with('Z') && fields[4].starts_with("evt_"), "the newest attempt names its next retry: {fields:?}");
    assert_eq!(lines[1].split('\t').nth(3), Some("-"), "older attempts of the same delivery have no next retry: {lines:?}");
    let (ok, _, stderr) = cli_deliveries(&app.database_url, "WebhookEndpoint-999");
    assert!(!ok && stderr.trim().lines().count() == 1, "an unknown endpoint is one line: {stderr}");

    let op = app.operator_key("ops").await;
    let data = app
        .as_operator(&op, "{ webhookEndpoints { url deliveries(first: 1) { attemptedAt status error nextRetryAt eventId } } }", json!({}))
        .await;
    let endpoints = data["webhookEndpoints"].as_array().unwrap();
    let by_url = |url: &str| endpoints.iter().find(|e| e["url"] == url).unwrap()["deliveries"].clone();
    let good_attempts = by_url(&good.url);
    assert_eq!(good_attempts.as_array().unwrap().len(), 1);
    assert_eq!((good_attempts[0]["status"].clone(), good_attempts[0]["error"].clone(), good_attempts[0]["nextRetryAt"].clone()), (json!(200), Value::Null, Value::Null));
    let bad_attempts = by_url(&bad.url);
    assert!(bad_attempts[0]["error"].as_str().unwrap().contains("certificate"), "{bad_attempts}");
    assert!(bad_attempts[0]["nextRetryAt"].is_string() && bad_attempts[0]["eventId"].as_str().unwrap().starts_with("evt_"), "{bad_attempts}");

    assert!(metric(&app, "marketchat_webhook_deliveries_total{outcome=\"delivered\"}").await >= 1.0);
    assert!(metric(&app, "marketchat_webhook_deliveries_total{outcome=\"failed\"}").await >= 2.0);
    assert_eq!(metric(&app, "marketchat_webhook_failing_endpoints ").await, 1.0, "the unknown-CA endpoint is failing, the other is not");
}

#[tokio::test]
async fn endpoint_deliveries_are_bounded_and_absent_from_the_seller_api() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let (status, body) = app.graphql("/graphql/seller", &seller.key, "{ webhookEndpoints { deliveries { status } } }", json!({})).await;
    assert!(status.is_client_error() || !body["errors"].is_null(), "the seller API has no webhooks: {body}");
    app.store.create_webhook("https://hooks.example.com/in", "whsec_test", &["chat_message.created".to_owned()], app.store.last_event_position().await.unwrap(), now()).await.unwrap();
    let op = app.operator_key("ops").await;
    let (_, body) = app.graphql("/graphql/operator", &op, "{ webhookEndpoints { deliveries(first: 0) { status } } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let data = app.as_operator(&op, "{ webhookEndpoints { deliveries { status } } }", json!({})).await;
    assert_eq!(data["webhookEndpoints"], json!([{ "deliveries": [] }]), "no attempt yet");
}

#[tokio::test]
async fn ssl_cert_file_adds_a_trusted_ca_for_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("private CA via SSL_CERT_FILE");
    let ca_file = ca.write_pem(dir.path());
    let database = TestDatabase::create().await;
    // The CLI opens only an existing database: create it as a server would.
    marketchat::store::connect(&database.url, &Default::default()).await.expect("create the database");
    let receiver = Receiver::start_https(&ca).await;
    let (id, _) = add_webhook(&database.url, &receiver.url, Some("chat_message.created"));
    let node = NodeProcess::start_with(&database.url, &[("SSL_CERT_FILE", ca_file.to_str().unwrap()), ("MARKETCHAT_WEBHOOK_RETRY_BASE_MS", "50")]);
    let store = marketchat::store::connect(&database.url, &Default::default()).await.unwrap();
    let app = TestApp::remote(node.base.clone(), store, database.url.clone());
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "trusted through SSL_CERT_FILE").await;
    let received = receiver.wait_until(|r| !r.is_empty()).await;
    assert_eq!(received[0].answered, 200);
    // The node records the attempt once the receiver has answered it.
    let (_, lines, _) = poll_until(Duration::from_secs(10), || async { cli_deliveries(&database.url, &id) }, |(_, lines, _)| !lines.is_empty()).await;
    assert_eq!(lines.first().and_then(|line| line.split('\t').nth(1)), Some("200"), "{lines:?}");
}

/// A delivery in flight when a node stops is retried soon after the next start: with
/// SIGTERM the stop waits for the attempt (503, retried after the short back-off); with
/// SIGKILL its claim lapses shortly after the attempt's timeout (2 s + margin), never 5 min.
#[tokio::test]
async fn a_delivery_in_flight_at_a_stop_is_retried_within_a_minute_of_the_restart() {
    for graceful in [true, false] {
        let database = TestDatabase::create().await;
        let receiver = Receiver::serve(ReceiverBehaviour {
            failures: 1,
            failure_status: 503,
            delay_first: Some(Duration::from_millis(1_500)),
            ..Default::default()
        })
        .await;
        let store = marketchat::store::connect(&database.url, &Default::default()).await.unwrap();
        add_webhook(&database.url, &receiver.url, Some("chat_message.created"));
        let env = [("MARKETCHAT_WEBHOOK_RETRY_BASE_MS", "200"), ("MARKETCHAT_WEBHOOK_TIMEOUT_MS", "2000")];
        let mut node = NodeProcess::start_with(&database.url, &env);
        let app = TestApp::remote(node.base.clone(), store, database.url.clone());
        let seller = app.seller("Acme").await;
        app.seller_sends(&seller.key, "in flight at the stop").await;
        wait_until(Duration::from_secs(6), || async { receiver.arrived.load(Ordering::SeqCst) > 0 }).await;
        assert_eq!(receiver.arrived.load(Ordering::SeqCst), 1, "the first attempt is in flight");
        if graceful {
            assert!(node.terminate().success());
        } else {
            node.kill();
        }
        let stopped = std::time::Instant::now();
        let _restarted = NodeProcess::start_with(&database.url, &env);
        let retried = || async { receiver.received_so_far().iter().any(|r| r.answered == 200) };
        let delivered = wait_until(Duration::from_secs(60), retried).await;
        let waited = stopped.elapsed();
        assert!(delivered, "graceful={graceful}: the retry never came within {waited:?}");
        assert!(waited < Duration::from_secs(30), "graceful={graceful}: the retry took {waited:?}");
        if graceful {
            assert!(waited < Duration::from_secs(10), "a graceful stop recorded the attempt: the retry follows the back-off, took {waited:?}");
            let received = receiver.received_so_far();
            assert_eq!(received.iter().map(|r| r.answered).collect::<Vec<_>>(), vec![503, 200], "the in-flight attempt was answered, then retried once");
        }
    }
}

#[tokio::test]
async fn a_webhook_ca_file_that_cannot_be_read_is_refused_at_start_in_one_line() {
    let database = TestDatabase::create().await;
    let output = marketchat_command(&database.url)
        .args(["serve", "--bind", "127.0.0.1:0", "--webhook-ca-file", "/nonexistent/private-ca.pem"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot read CA file /nonexistent/private-ca.pem"), "{stderr}");
}

#[tokio::test]
async fn each_failed_attempt_is_logged_with_host_and_status_never_secret_or_body() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("node.log");
    let database = TestDatabase::create().await;
    // The CLI opens only an existing database: create it as a server would.
    marketchat::store::connect(&database.url, &Default::default()).await.expect("create the database");
    let receiver = Receiver::serve(ReceiverBehaviour { failures: 2, failure_status: 503, ..Default::default() }).await;
    let (id, secret) = add_webhook(&database.url, &receiver.url, Some("chat_message.created"));
    let log = std::fs::File::create(&log_path).unwrap();
    let _node = NodeProcess::start_logging(&database.url, &[("MARKETCHAT_WEBHOOK_RETRY_BASE_MS", "50")], log);
    let store = marketchat::store::connect(&database.url, &Default::default()).await.unwrap();
    let app = TestApp::remote(_node.base.clone(), store, database.url.clone());
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "confidential body text").await;
    receiver.wait_until(|r| r.iter().any(|d| d.answered == 200)).await;
    let both_failures_logged = || async { std::fs::read_to_string(&log_path).unwrap().matches("webhook delivery failed").count() >= 2 };
    wait_until(Duration::from_secs(5), both_failures_logged).await;
    // Colour codes (if any) stripped: `key=value` as written.
    let raw = std::fs::read_to_string(&log_path).unwrap();
    let mut logged = String::new();
    let mut rest = raw.as_str();
    while let Some(start) = rest.find('\u{1b}') {
        logged.push_str(&rest[..start]);
        rest = rest[start..].find('m').map_or("", |end| &rest[start + end + 1..]);
    }
    logged.push_str(rest);
    let failures: Vec<&str> = logged.lines().filter(|l| l.contains("webhook delivery failed")).collect();
    assert_eq!(failures.len(), 2, "one warning per failed attempt: {logged}");
    for line in &failures {
        assert!(line.contains("WARN") && line.contains("host=127.0.0.1") && line.contains("status=503"), "{line}");
        assert!(line.contains(&id), "the endpoint is named by its ID: {line}");
    }
    assert!(!logged.contains(&secret) && !logged.contains("confidential body text") && !logged.contains("/hook"), "{logged}");
}

#[tokio::test]
async fn support_inbox_changes_never_reach_webhooks() {
    let app = TestApp::spawn_with(fast_retries()).await;
    let seller = app.seller("Acme").await;
    let receiver = Receiver::start(0, false).await;
    add_webhook(&app.database_url, &receiver.url, None);
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "When is my payout?").await;
    let support = [
        ("mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { errors { field } } }", json!({ "s": seller.gid })),
        ("mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"internal: VIP seller\" }) { errors { field } } }", json!({ "s": seller.gid })),
        ("mutation($s: ID!) { chatMarkUnread(input: { sellerId: $s }) { errors { field } } }", json!({ "s": seller.gid })),
    ];
    for (mutation, variables) in support {
        let data = app.as_operator(&op, mutation, variables).await;
        assert!(data.as_object().unwrap().values().all(|payload| payload["errors"].is_null()), "{data}");
    }
    // Endpoints get the feed in order: once this later message arrives, anything the
    // support changes had made would have arrived before it.
    app.operator_sends(&op, &seller.gid, "Friday").await;
    let received = receiver.wait_until(|r| r.iter().any(|d| d.body.contains("Friday"))).await;
    let types: Vec<String> = received.iter().map(|d| serde_json::from_str::<Value>(&d.body).unwrap()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["chat_message.created", "chat_message.created"]);
    assert!(received.iter().all(|d| !d.body.contains("VIP")), "no note in any delivery");
}
