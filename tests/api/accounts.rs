//! SPEC §2 and §7–8, server part of the portals: users, login sessions, the CSRF header,
//! roles enforced by the API (the portal pages themselves are not built yet).

use crate::helpers::*;
use marketchat::config::ServerConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// `marketchat user create …` with `password` on stdin; returns the exit status and stdout.
fn create_user(database_url: &str, args: &[&str], password: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketchat"))
        .args(["user", "create"])
        .args(args)
        .env("MARKETCHAT_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Logs in; returns the status, body and the session cookie (name=value).
async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value, Option<String>) {
    let response = app.post("/login").json(&json!({ "email": email, "password": password })).send().await.unwrap();
    let status = response.status();
    let set_cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    if let Some(cookie) = &set_cookie {
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{cookie} lacks {flag}");
        }
    }
    (status, body, set_cookie.map(|c| c.split(';').next().unwrap().to_owned()))
}

/// A GraphQL request authenticated by the session cookie (with the CSRF header).
async fn as_user(app: &TestApp, path: &str, cookie: &str, query: &str, variables: Value) -> (StatusCode, Value) {
    let request = app
        .post(path)
        .header("cookie", cookie)
        .header("x-requested-with", "marketchat")
        .json(&json!({ "query": query, "variables": variables }));
    TestApp::read(request).await
}

#[tokio::test]
async fn users_log_in_with_a_session_cookie_that_needs_the_csrf_header_and_logout_ends_it() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let (ok, id) = create_user(&app.database_url, &["--seller", &seller.gid, "--email", "Staff@Acme.test", "--name", "Acme Staff"], "correct horse");
    assert!(ok && id.trim().parse::<i64>().is_ok(), "{id}");
    let (status, body, cookie) = login(&app, "staff@acme.test", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["kind"], "seller");
    assert_eq!(body["user"]["sellerId"], seller.gid.as_str());
    let cookie = cookie.expect("a session cookie");

    let (status, sent) = as_user(&app, "/graphql/seller", &cookie, SELLER_SEND, json!({ "message": "from the portal" })).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert!(sent["data"]["chatMessageCreate"]["errors"].is_null(), "{sent}");
    // Every user of the seller account sees the whole thread, including API-key messages.
    app.seller_sends(&seller.key, "from the API").await;
    let (_, page) = as_user(&app, "/graphql", &cookie, SELLER_PAGE, json!({})).await;
    assert_eq!(texts(&page["data"]["chatMessages"]), ["from the API", "from the portal"]);

    let without_csrf = app.post("/graphql/seller").header("cookie", &cookie).json(&json!({ "query": BRIEF_LIST }));
    let (status, body) = TestApp::read(without_csrf).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("X-Requested-With"), "{body}");

    let logout = app.post("/logout").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(logout.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (status, _) = as_user(&app, "/graphql/seller", &cookie, BRIEF_LIST, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_repeated_failures_are_limited() {
    let app = TestApp::spawn().await;
    let (ok, _) = create_user(&app.database_url, &["--operator", "--role", "customer-support", "--email", "cs@op.test"], "s3cret-pass");
    assert!(ok);
    let (status, _, cookie) = login(&app, "cs@op.test", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none());
    let (status, _, _) = login(&app, "nobody@op.test", "s3cret-pass").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unknown users look the same as wrong passwords");
    for _ in 0..4 {
        login(&app, "cs@op.test", "wrong").await;
    }
    let (status, _, _) = login(&app, "cs@op.test", "s3cret-pass").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "five failures lock the address for a while");
}

#[tokio::test]
async fn operator_roles_are_enforced_by_the_api() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "hello").await;
    let users = [("viewer", "viewer@op.test"), ("customer-support", "cs@op.test"), ("webmaster", "web@op.test"), ("full-admin", "admin@op.test")];
    let mut cookies = std::collections::HashMap::new();
    for (role, email) in users {
        let (ok, _) = create_user(&app.database_url, &["--operator", "--role", role, "--email", email, "--name", role], "password-123");
        assert!(ok, "{role}");
        cookies.insert(role, login(&app, email, "password-123").await.2.unwrap());
    }
    let send = OPERATOR_SEND;
    let vars = json!({ "sellerId": seller.gid, "message": "reply" });

    let (status, body) = as_user(&app, "/graphql/operator", &cookies["viewer"], send, vars.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&body), "FORBIDDEN", "a Viewer cannot send: {body}");
    let read = r#"mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: "Seller" }) { readCount } }"#;
    let (_, body) = as_user(&app, "/graphql/operator", &cookies["viewer"], read, json!({ "s": seller.gid })).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "a Viewer cannot mark read: {body}");
    let (_, body) = as_user(&app, "/graphql/operator", &cookies["viewer"], "{ chats { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["chats"]["totalCount"], 1, "a Viewer can read");
    assert_eq!(app.stored_messages(seller.id).await, 1);

    let (_, body) = as_user(&app, "/graphql/operator", &cookies["customer-support"], send, vars).await;
    assert_eq!(body["data"]["chatMessageCreate"]["chatMessage"]["sentBy"], "customer-support", "the user's name is the sentBy");
    let seller_view = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(seller_view["chatMessages"]["nodes"][0]["sentBy"], Value::Null, "one operator persona for the seller");

    let disable = "mutation { chatSettingsUpdate(input: { chatEnabled: false }) { chatEnabled } }";
    let (_, body) = as_user(&app, "/graphql/operator", &cookies["webmaster"], disable, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "only a Full Admin changes settings: {body}");
    let (_, body) = as_user(&app, "/graphql/operator", &cookies["full-admin"], disable, json!({})).await;
    assert_eq!(body["data"]["chatSettingsUpdate"]["chatEnabled"], false, "{body}");
    let refused = app.seller_sends(&seller.key, "chat is off").await;
    assert_eq!(payload_errors(&refused)[0].1, "In-app chat is not enabled");
    let (_, body) = as_user(&app, "/graphql/operator", &cookies["viewer"], "{ chatSettings { chatEnabled } }", json!({})).await;
    assert_eq!(body["data"]["chatSettings"]["chatEnabled"], false);
}

#[tokio::test]
async fn a_session_cookie_opens_a_subscription_from_the_same_origin_only() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    create_user(&app.database_url, &["--seller", &seller.gid, "--email", "s@acme.test"], "password-123");
    let cookie = login(&app, "s@acme.test", "password-123").await.2.unwrap();
    let host = app.base.trim_start_matches("http://").to_owned();
    for (origin, accepted) in [(format!("http://{host}"), true), ("http://evil.example".to_owned(), false)] {
        let first = cookie_subscription(&app, &cookie, &origin).await.next_message().await;
        if accepted {
            assert_eq!(first.unwrap()["type"], "connection_ack", "{origin}");
        } else {
            assert_eq!(first, Err(Ended::Closed(4403)), "{origin}");
        }
    }
}

/// A WebSocket on the seller path authenticated by `cookie` from a page at `origin`,
/// with `connection_init` sent.
async fn cookie_subscription(app: &TestApp, cookie: &str, origin: &str) -> WsClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/graphql/seller", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    request.headers_mut().insert("origin", origin.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = WsClient::from_stream(ws);
    client.send(json!({ "type": "connection_init", "payload": {} })).await;
    client
}

#[tokio::test]
async fn logging_out_closes_the_sessions_open_subscriptions() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    create_user(&app.database_url, &["--seller", &seller.gid, "--email", "s@acme.test"], "password-123");
    let cookie = login(&app, "s@acme.test", "password-123").await.2.unwrap();
    let mut client = cookie_subscription(&app, &cookie, &app.base).await;
    assert_eq!(client.next_message().await.unwrap()["type"], "connection_ack");

    let logout = app.post("/logout").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(client.ended().await, Ended::Closed(4403), "an ended session's subscription is closed as forbidden");
}
