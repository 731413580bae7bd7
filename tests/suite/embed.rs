//! SPEC §11, embedded seller chat without a second password: the marketplace's back end
//! mints a single-use sign-in token (`sellerSignInCreate`), the embed page trades it for a
//! bearer session kept in page memory, and the chat lives in a frame of the marketplace's
//! own page (`/embed.js`'s `<marketchat-seller-chat>` or a plain iframe), which only
//! `--embed-origins` may frame. The page tests run real headless Chromium with the host
//! page served from another loopback origin.

use crate::common::app::{now, test_config, TestApp, TestSeller};
use crate::common::browser::{js_bool, restart_sending_while_down, screenshot, type_and_enter, wait_for, wait_js, Driver, PAGE_WAIT};
use crate::common::cli::run_marketchat;
use crate::common::graphql::{error_code, payload_errors, texts, SELLER_PAGE};
use crate::common::host::HostSite;
use crate::common::session::{as_user, login};
use crate::common::wait::wait_until;
use crate::common::ws::{Ended, WsClient};
use fantoccini::{Client, Locator};
use marketchat::config::ServerConfig;
use marketchat::domain::keys::hash_key;
use marketchat::domain::users::OperatorRole;
use marketchat::service::accounts::NewUserKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The Operator API mutation a marketplace's back end calls.
const SIGN_IN: &str = "mutation($input: SellerSignInCreateInput!) {
  sellerSignInCreate(input: $input) { token url expiresAt errors { field messages } }
}";

/// An operator credential that may mint sign-ins: an operator admin key.
async fn admin_key(app: &TestApp) -> String {
    app.admin_key("Marketplace back end").await
}

/// `sellerSignInCreate` with `input`; returns the payload.
async fn sign_in_with(app: &TestApp, admin: &str, input: Value) -> Value {
    app.as_operator(admin, SIGN_IN, json!({ "input": input })).await["sellerSignInCreate"].clone()
}

/// A sign-in token for `user_id` of `seller` (name and e-mail derived from the ID).
async fn token_for(app: &TestApp, admin: &str, seller: &TestSeller, user_id: &str) -> String {
    let input = json!({ "sellerId": seller.gid, "user": { "externalId": user_id, "name": format!("User {user_id}"), "email": format!("{user_id}@shop.test") } });
    let payload = sign_in_with(app, admin, input).await;
    assert!(payload["errors"].is_null(), "{payload}");
    payload["token"].as_str().expect("a token").to_owned()
}

/// `POST /embed/session` with `token`: the status and body.
async fn exchange(app: &TestApp, token: &str) -> (StatusCode, Value) {
    TestApp::read(app.post("/embed/session").json(&json!({ "token": token }))).await
}

/// Redeems `token`, which must succeed; returns the session token.
async fn session_for(app: &TestApp, token: &str) -> String {
    let (status, body) = exchange(app, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["session"].as_str().expect("a session").to_owned()
}

/// A GraphQL request with `Authorization: Bearer credential`.
async fn with_bearer(app: &TestApp, path: &str, credential: &str, query: &str, variables: Value) -> (StatusCode, Value) {
    let request = app.post(path).bearer_auth(credential).json(&json!({ "query": query, "variables": variables }));
    TestApp::read(request).await
}

async fn stored_sign_ins(app: &TestApp) -> i64 {
    app.query_i64("SELECT COUNT(*) FROM seller_sign_ins").await
}

#[tokio::test]
async fn a_sign_in_token_opens_one_embed_session_of_the_sellers_user_and_never_a_second() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    let before = now().get();
    let payload = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Ann" } })).await;
    let token = payload["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mct_") && token.len() > 40, "{token}");
    assert_eq!(payload["url"], format!("/embed/seller#token={token}"), "a path in the fragment when no --public-url is set");
    let expires_at = chrono::DateTime::parse_from_rfc3339(payload["expiresAt"].as_str().unwrap()).unwrap().timestamp_millis();
    assert!((before + 299_000..=now().get() + 301_000).contains(&expires_at), "five minutes by default");
    assert_eq!(app.query_i64(&format!("SELECT COUNT(*) FROM seller_sign_ins WHERE token_hash = '{}'", hash_key(&token))).await, 1);
    assert_eq!(app.query_i64(&format!("SELECT COUNT(*) FROM seller_sign_ins WHERE token_hash = '{token}'")).await, 0, "stored only as a hash");

    let (status, body) = exchange(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["session"].as_str().unwrap();
    assert!(session.starts_with("mce_"), "{body}");
    assert_eq!(body["user"]["name"], "Ann");
    assert_eq!(body["user"]["sellerId"], seller.gid);

    // The session is a bearer credential of the seller's API, over HTTP and WebSocket alike.
    let (_, cursor) = with_bearer(&app, "/graphql/seller", session, "{ chatEventCursor }", json!({})).await;
    let mut socket = WsClient::subscribe(&app.base, "/graphql/seller", session, cursor["data"]["chatEventCursor"].as_str()).await;
    let (status, sent) = with_bearer(&app, "/graphql/seller", session, "mutation { chatMessageCreate(input: { message: \"Hi from the embed\" }) { chatMessage { sentByType } errors { field } } }", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["data"]["chatMessageCreate"]["chatMessage"]["sentByType"], "Seller");
    assert_eq!(app.stored_messages(seller.id).await, 1);
    assert_eq!(socket.next_event().await["chatMessage"]["message"], "Hi from the embed");

    // Used once: the same token again, or anything like it, is "sign-in link expired".
    for reused in [token.as_str(), "mct_unknown", "", "mck_not-a-sign-in", &"x".repeat(5_000)] {
        let (status, body) = exchange(&app, reused).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reused}: {body}");
        assert_eq!(body["errors"][0]["message"], "sign-in link expired");
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let sessions = app.query_i64("SELECT COUNT(*) FROM sessions WHERE kind = 'embed'").await;
    assert_eq!(sessions, 1, "one session from one token");
    let malformed = app.post("/embed/session").header("content-type", "application/json").body("{\"tok").send().await.unwrap();
    assert!(malformed.status().is_client_error(), "a malformed body is refused");
}

#[tokio::test]
async fn of_concurrent_exchanges_of_one_token_exactly_one_opens_a_session() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    let token = token_for(&app, &admin, &seller, "u-1").await;
    let attempts = (0..8).map(|_| exchange(&app, &token));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts).await.into_iter().map(|(status, _)| status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM sessions WHERE kind = 'embed'").await, 1);
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM users WHERE external_id = 'u-1'").await, 1);
}

#[tokio::test]
async fn an_expired_token_is_refused_like_a_used_one_and_the_lifetime_is_the_callers_up_to_an_hour() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    for (ttl, millis) in [(1, 1_000), (3_600, 3_600_000)] {
        let before = now().get();
        let payload = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Ann" }, "ttlSeconds": ttl })).await;
        let expires_at = chrono::DateTime::parse_from_rfc3339(payload["expiresAt"].as_str().unwrap()).unwrap().timestamp_millis();
        assert!((before + millis - 1_000..=now().get() + millis).contains(&expires_at), "ttlSeconds {ttl}: {payload}");
    }
    let token = token_for(&app, &admin, &seller, "u-2").await;
    // Its time runs out (moved back rather than waited for).
    app.execute_sql(&["UPDATE seller_sign_ins SET expires_at = created_at"]).await.unwrap();
    let (status, body) = exchange(&app, &token).await;
    assert_eq!((status, body["errors"][0]["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("sign-in link expired")));
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM users WHERE external_id IS NOT NULL").await, 0, "no user from an expired token");
    // The hourly purge removes expired tokens.
    app.state().accounts.purge_sessions().await.unwrap();
    assert_eq!(stored_sign_ins(&app).await, 0);
}

#[tokio::test]
async fn sign_in_input_is_checked_and_a_refused_request_stores_nothing() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    app.store.create_seller_with_external_id("Zed Zebras", "shop-9", now()).await.unwrap().unwrap();
    let admin = admin_key(&app).await;
    let user = json!({ "externalId": "u-1", "name": "Ann" });
    let message_id = "Q2hhdE1lc3NhZ2UtMQ==";
    let cases = [
        (json!({ "sellerId": seller.gid, "externalId": "shop-9", "user": user }), "base"),
        (json!({ "user": user }), "base"),
        (json!({ "sellerId": "bm9wZQ==", "user": user }), "sellerId"),
        (json!({ "sellerId": message_id, "user": user }), "sellerId"),
        (json!({ "sellerId": "U2VsbGVyLTk5OQ==", "user": user }), "sellerId"),
        (json!({ "externalId": "shop-404", "user": user }), "externalId"),
        (json!({ "externalId": "  ", "user": user }), "externalId"),
        (json!({ "sellerId": seller.gid, "user": { "externalId": " ", "name": "Ann" } }), "user.externalId"),
        (json!({ "sellerId": seller.gid, "user": { "externalId": "x".repeat(256), "name": "Ann" } }), "user.externalId"),
        (json!({ "sellerId": seller.gid, "user": { "externalId": "u\t1", "name": "Ann" } }), "user.externalId"),
        (json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "" } }), "user.name"),
        (json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Ann", "email": "not an address" } }), "user.email"),
        (json!({ "sellerId": seller.gid, "user": user, "ttlSeconds": 0 }), "ttlSeconds"),
        (json!({ "sellerId": seller.gid, "user": user, "ttlSeconds": 3_601 }), "ttlSeconds"),
        (json!({ "sellerId": seller.gid, "user": user, "ttlSeconds": -60 }), "ttlSeconds"),
    ];
    for (input, field) in cases {
        let payload = sign_in_with(&app, &admin, input.clone()).await;
        let errors = payload_errors(&payload);
        assert_eq!(errors.len(), 1, "{input}: {payload}");
        assert_eq!(errors[0].0, field, "{input}: {payload}");
        assert!(payload["token"].is_null() && payload["url"].is_null() && payload["expiresAt"].is_null(), "{payload}");
    }
    assert_eq!(stored_sign_ins(&app).await, 0, "nothing stored for refused input");
    // A seller named by its externalId works as well as by its ID.
    let payload = sign_in_with(&app, &admin, json!({ "externalId": "shop-9", "user": user })).await;
    assert!(payload["errors"].is_null() && payload["token"].is_string(), "{payload}");
}

#[tokio::test]
async fn only_operator_admins_may_mint_sign_ins() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    let accounts = &app.state().accounts;
    accounts.create_user("support@market.test", None, "password-123", NewUserKind::Operator(OperatorRole::CustomerSupport)).await.unwrap();
    accounts.create_user("boss@market.test", None, "password-123", NewUserKind::Operator(OperatorRole::FullAdmin)).await.unwrap();
    accounts.create_user("staff@acme.test", None, "password-123", NewUserKind::Seller(seller.id)).await.unwrap();
    let variables = json!({ "input": { "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Ann" } } });

    let (status, body) = app.graphql("/graphql/operator", &seller.key, SIGN_IN, variables.clone()).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "a seller key: {body}");
    let (status, body) = app.graphql("/graphql/seller", &seller.key, SIGN_IN, variables.clone()).await;
    assert!(status.is_success() && body["data"].is_null() && body.to_string().contains(r#"Unknown field \"sellerSignInCreate\""#), "not in the Seller API: {body}");
    let (_, _, staff) = login(&app, "staff@acme.test", "password-123").await;
    let (status, body) = as_user(&app, "/graphql/operator", &staff.unwrap(), SIGN_IN, variables.clone()).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "a seller user: {body}");
    let (_, _, support) = login(&app, "support@market.test", "password-123").await;
    let (_, body) = as_user(&app, "/graphql/operator", &support.unwrap(), SIGN_IN, variables.clone()).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "Customer Support: {body}");
    let (_, body) = app.graphql("/graphql/operator", &app.operator_key("not admin").await, SIGN_IN, variables.clone()).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "an operator key made without --admin: {body}");
    assert_eq!(stored_sign_ins(&app).await, 0);

    let (_, _, boss) = login(&app, "boss@market.test", "password-123").await;
    let (_, body) = as_user(&app, "/graphql/operator", &boss.unwrap(), SIGN_IN, variables.clone()).await;
    assert!(body["data"]["sellerSignInCreate"]["token"].is_string(), "a Full Admin: {body}");
    let (_, body) = app.graphql("/graphql", &admin_key(&app).await, SIGN_IN, variables).await;
    assert!(body["data"]["sellerSignInCreate"]["token"].is_string(), "an operator admin key, on /graphql too: {body}");
}

/// The `user list` lines of embedded seller users.
fn listed_external_users(app: &TestApp) -> Vec<String> {
    let output = run_marketchat(&app.database_url, &["user", "list"], &[], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().filter(|line| line.contains(" external ")).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_seller_user_is_made_on_first_sign_in_once_per_seller_and_external_id_and_listed() {
    let app = TestApp::spawn().await;
    let (acme, zed) = (app.seller("Acme Outdoor").await, app.seller("Zed Zebras").await);
    let admin = admin_key(&app).await;
    // A password user of Acme with the same address stays a separate login.
    app.state().accounts.create_user("ann@shop.test", Some("Ann (portal)"), "password-123", NewUserKind::Seller(acme.id)).await.unwrap();
    let first = json!({ "sellerId": acme.gid, "user": { "externalId": "u-1", "name": "Ann", "email": "ann@shop.test" } });
    let token = sign_in_with(&app, &admin, first).await["token"].as_str().unwrap().to_owned();
    assert!(listed_external_users(&app).is_empty(), "made on sign-in, not when the token is minted");
    session_for(&app, &token).await;
    // Signing in again refreshes the name and address of the same user.
    let again = json!({ "sellerId": acme.gid, "user": { "externalId": "u-1", "name": "Ann Smith", "email": "Ann.Smith@Shop.test" } });
    let token = sign_in_with(&app, &admin, again).await["token"].as_str().unwrap().to_owned();
    session_for(&app, &token).await;
    // The same external ID at another seller is another user.
    let token = token_for(&app, &admin, &zed, "u-1").await;
    session_for(&app, &token).await;

    let listed = listed_external_users(&app);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let fields: Vec<Vec<&str>> = listed.iter().map(|line| line.split('\t').collect()).collect();
    assert_eq!(&fields[0][1..], ["ann.smith@shop.test", "Ann Smith", &format!("seller {} external u-1", acme.gid), "-", "active"]);
    assert_eq!(&fields[1][1..], ["u-1@shop.test", "User u-1", &format!("seller {} external u-1", zed.gid), "-", "active"]);
    assert_eq!(login(&app, "ann@shop.test", "password-123").await.0, StatusCode::OK, "the portal login is untouched");

    // A disabled embedded user gets no more tokens, and an outstanding one opens nothing.
    let outstanding = token_for(&app, &admin, &zed, "u-1").await;
    let zed_user = fields[1][0];
    let disabled = run_marketchat(&app.database_url, &["user", "disable", zed_user], &[], None);
    assert!(disabled.status.success());
    let payload = sign_in_with(&app, &admin, json!({ "sellerId": zed.gid, "user": { "externalId": "u-1", "name": "Zoe" } })).await;
    assert_eq!(payload_errors(&payload), [("user.externalId".to_owned(), "this user is disabled".to_owned())]);
    assert_eq!(exchange(&app, &outstanding).await.0, StatusCode::UNAUTHORIZED);
    let no_password = run_marketchat(&app.database_url, &["user", "set-password", zed_user], &[], Some("a long new password"));
    assert!(!no_password.status.success(), "an embedded user has no password to set");
}

#[tokio::test]
async fn a_token_for_seller_a_only_ever_shows_and_writes_a_thread() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.seller("Acme Outdoor").await, app.seller("Bolt Bikes").await);
    let admin = admin_key(&app).await;
    app.seller_sends(&a.key, "A's question").await;
    app.seller_sends(&b.key, "B's secret").await;
    let session = session_for(&app, &token_for(&app, &admin, &a, "u-1").await).await;
    let (_, cursor) = with_bearer(&app, "/graphql/seller", &session, "{ chatEventCursor }", json!({})).await;
    let mut socket = WsClient::subscribe(&app.base, "/graphql/seller", &session, cursor["data"]["chatEventCursor"].as_str()).await;

    let (_, page) = with_bearer(&app, "/graphql/seller", &session, SELLER_PAGE, json!({ "first": 50 })).await;
    assert_eq!(texts(&page["data"]["chatMessages"]), ["A's question"]);
    app.operator_sends(&admin, &b.gid, "for B only").await;
    app.operator_sends(&admin, &a.gid, "for A").await;
    // A's events only (on PostgreSQL the feed position read just before may still come
    // before A's earlier question, which is then replayed first).
    loop {
        let message = socket.next_event().await["chatMessage"]["message"].as_str().unwrap().to_owned();
        assert!(message == "A's question" || message == "for A", "only A's thread reaches the socket: {message}");
        if message == "for A" {
            break;
        }
    }
    with_bearer(&app, "/graphql/seller", &session, "mutation { chatMessageCreate(input: { message: \"from A's user\" }) { errors { field } } }", json!({})).await;
    assert_eq!((app.stored_messages(a.id).await, app.stored_messages(b.id).await), (3, 2), "written into A's thread");
    let b_message = app.as_seller(&b.key, SELLER_PAGE, json!({ "first": 1 })).await["chatMessages"]["nodes"][0]["id"].clone();
    let (_, node) = with_bearer(&app, "/graphql/seller", &session, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": b_message })).await;
    assert!(node["data"]["node"].is_null(), "B's message does not resolve: {node}");
}

#[tokio::test]
async fn an_embed_session_is_a_seller_credential_only_and_is_accepted_only_as_a_bearer() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    let session = session_for(&app, &token_for(&app, &admin, &seller, "u-1").await).await;
    let query = "{ chatUnreadCount }";
    // The Operator API refuses it, over HTTP and WebSocket.
    let (status, body) = with_bearer(&app, "/graphql/operator", &session, query, json!({})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "{body}");
    let (status, body) = app.graphql("/graphql/operator", &session, SIGN_IN, json!({ "input": { "sellerId": seller.gid, "user": { "externalId": "u-2", "name": "Eve" } } })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let mut socket = WsClient::connect(&app.base, "/graphql/operator").await;
    socket.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {session}") } })).await;
    assert_eq!(socket.ended().await, Ended::Closed(4403));
    // /graphql gives it the Seller API, as it does a seller key.
    let (status, body) = with_bearer(&app, "/graphql", &session, query, json!({})).await;
    assert_eq!((status, &body["data"]["chatUnreadCount"]), (StatusCode::OK, &json!(0)), "{body}");
    // Not as a cookie (even with the CSRF header), and a portal cookie's token is no bearer credential.
    let (status, _) = as_user(&app, "/graphql/seller", &format!("marketchat_session={session}"), query, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an embed session is no cookie session");
    app.state().accounts.create_user("staff@acme.test", None, "password-123", NewUserKind::Seller(seller.id)).await.unwrap();
    let (_, _, cookie) = login(&app, "staff@acme.test", "password-123").await;
    let portal_token = cookie.unwrap().split_once('=').unwrap().1.to_owned();
    assert_eq!(with_bearer(&app, "/graphql/seller", &portal_token, query, json!({})).await.0, StatusCode::UNAUTHORIZED, "a cookie session is no bearer credential");
}

#[tokio::test]
async fn embed_sessions_end_when_idle_or_when_their_user_is_disabled() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    let idle = session_for(&app, &token_for(&app, &admin, &seller, "u-1").await).await;
    let query = "{ chatUnreadCount }";
    assert_eq!(with_bearer(&app, "/graphql/seller", &idle, query, json!({})).await.0, StatusCode::OK);
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = last_used_at - 3 * 3600 * 1000 WHERE token_hash = '{}'", hash_key(&idle))]).await.unwrap();
    assert_eq!(with_bearer(&app, "/graphql/seller", &idle, query, json!({})).await.0, StatusCode::UNAUTHORIZED, "idle for three hours");

    let live = session_for(&app, &token_for(&app, &admin, &seller, "u-2").await).await;
    let mut socket = WsClient::subscribe(&app.base, "/graphql/seller", &live, None).await;
    app.execute_sql(&["UPDATE users SET disabled_at = 1 WHERE external_id = 'u-2'", "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE external_id = 'u-2')"]).await.unwrap();
    assert_eq!(socket.ended().await, Ended::Closed(4403), "the open subscription closes at its next re-check");
    assert_eq!(with_bearer(&app, "/graphql/seller", &live, query, json!({})).await.0, StatusCode::UNAUTHORIZED);
}

/// The `Content-Security-Policy` and `X-Frame-Options` of a GET of `path`.
async fn framing_headers(app: &TestApp, path: &str) -> (String, Option<String>) {
    let response = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    (header("content-security-policy").unwrap_or_default(), header("x-frame-options"))
}

#[tokio::test]
async fn only_the_embed_page_may_be_framed_and_only_by_the_embed_origins() {
    let origins = "http://127.0.0.2:8081, https://Seller.Example.com";
    let app = TestApp::spawn_with(ServerConfig { embed_origins: origins.parse().unwrap(), ..test_config() }).await;
    let (policy, frame_options) = framing_headers(&app, "/embed/seller").await;
    assert!(policy.contains("frame-ancestors http://127.0.0.2:8081 https://seller.example.com"), "{policy}");
    assert!(policy.contains("script-src 'self'") && !policy.contains("'none'; frame"), "{policy}");
    assert_eq!(frame_options, None, "X-Frame-Options would forbid what the policy allows");
    let (_, page) = app.get("/embed/seller").await;
    assert!(page.contains(r#"content="http://127.0.0.2:8081 https://seller.example.com""#), "the page knows whom it may tell the unread count");
    assert!(!page.contains("<script>") && !page.contains("style="), "nothing inline for the CSP to block");

    for path in ["/", "/seller/", "/operator/", "/embed.js", "/portal/embed-seller.js", "/graphql/seller/schema.graphql", "/healthz", "/nowhere"] {
        let (policy, frame_options) = framing_headers(&app, path).await;
        assert!(policy.ends_with("frame-ancestors 'none'"), "{path}: {policy}");
        assert_eq!(frame_options.as_deref(), Some("DENY"), "{path}");
    }
    let refused = app.post("/embed/session").json(&json!({ "token": "mct_x" })).send().await.unwrap();
    assert!(refused.headers()["content-security-policy"].to_str().unwrap().ends_with("frame-ancestors 'none'"));
    let script = reqwest::get(format!("{}/embed.js", app.base)).await.unwrap();
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("customElements.define"));

    let closed = TestApp::spawn().await;
    let (policy, frame_options) = framing_headers(&closed, "/embed/seller").await;
    assert!(policy.ends_with("frame-ancestors 'none'") && frame_options.is_none(), "without --embed-origins nobody may frame it: {policy}");
}

#[tokio::test]
async fn embed_origins_and_the_public_url_are_checked_at_start_and_the_url_is_absolute_with_one() {
    let app = TestApp::spawn_with(ServerConfig { public_url: Some("https://chat.example.com/".parse().unwrap()), ..test_config() }).await;
    let seller = app.seller("Acme Outdoor").await;
    let payload = sign_in_with(&app, &admin_key(&app).await, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Ann" } })).await;
    assert_eq!(payload["url"], format!("https://chat.example.com/embed/seller#token={}", payload["token"].as_str().unwrap()));
    for (flag, value) in [("--embed-origins", "*"), ("--embed-origins", "https://seller.example.com/portal"), ("--public-url", "chat.example.com")] {
        let output = run_marketchat(&app.database_url, &["serve", "--bind", "127.0.0.1:0", flag, value], &[], None);
        assert!(!output.status.success(), "{flag} {value} is refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag) && stderr.lines().count() <= 3, "says which flag is wrong: {stderr}");
    }
}

// ---- In real headless Chromium, framed by a marketplace page of another origin ----

/// A chat server that `host` may frame (its `--embed-origins`), with browser-length re-checks.
async fn chat_framable_by(host: &HostSite) -> TestApp {
    TestApp::spawn_with(ServerConfig { embed_origins: host.origin.parse().unwrap(), ws_recheck_secs: 1, ..test_config() }).await
}

/// A marketplace's seller portal page drawing the launcher with `token`. Its stylesheet
/// tries hard to reach inside the element; it records every unread count the element reports.
fn launcher_page(chat: &str, token: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Seller Hub — Orders</title>
<style>
  body {{ margin: 0; font: 16px Georgia, serif; background: #f4f1ea; color: #2b2b2b; }}
  header {{ display: flex; align-items: center; justify-content: space-between; padding: 12px 28px; background: #1f3a5f; color: #fff; }}
  nav {{ display: flex; align-items: center; gap: 22px; }}
  main {{ padding: 24px 28px; }}
  table {{ border-collapse: collapse; width: 640px; background: #fff; }}
  td, th {{ border-bottom: 1px solid #ddd; padding: 8px 10px; text-align: left; }}
  .badge {{ background: rgb(0, 0, 255); color: #fff; border-radius: 4px; padding: 2px 8px; font-size: 13px; }}
  /* Hostile on purpose: none of this may change the chat. */
  button, .launcher {{ background: rgb(255, 0, 0) !important; font-size: 30px !important; border-radius: 0 !important; }}
  marketchat-seller-chat {{ letter-spacing: 3px; color: rgb(0, 128, 0); font: italic 22px Georgia, serif; }}
  .panel, iframe {{ background: rgb(0, 0, 255); }}
</style></head>
<body>
<header><strong>Acme Seller Hub</strong><nav><span>Orders</span><span>Listings</span><span>Payouts</span>
  <marketchat-seller-chat token="{token}"></marketchat-seller-chat></nav></header>
<main><h1>Orders</h1>
<table><tr><th>Order</th><th>Buyer</th><th>Status</th></tr>
<tr><td>#10421</td><td>J. Rivera</td><td>Shipped</td></tr><tr><td>#10422</td><td>K. Osei</td><td>Awaiting payout</td></tr></table>
<p>Payouts run every Friday. <span class="badge" id="host-badge">3 new orders</span></p></main>
<script>window.unread = [];</script>
<script src="{chat}/embed.js"></script>
<script>document.querySelector('marketchat-seller-chat').addEventListener('marketchat:unread', (e) => window.unread.push(e.detail.count));</script>
</body></html>"#
    )
}

/// A page framing the chat with a plain iframe of `src`, recording what the chat posts to it.
fn iframe_page(chat: &str, src: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Seller Hub — Messages</title></head>
<body style="margin: 0; font-family: sans-serif; background: #f4f1ea">
<script>
  window.received = []; window.frameLoaded = false;
  addEventListener('message', (e) => {{ if (e.origin === '{chat}') window.received.push(e.data); }});
</script>
<h1 style="margin: 16px 24px">Messages</h1>
<iframe id="chat" title="Messages" src="{src}" style="margin: 0 24px; width: 420px; height: 560px; border: 1px solid #ccc" onload="window.frameLoaded = true"></iframe>
</body></html>"#
    )
}

/// The element's shadow root part at `css`, as the page has it now.
fn in_launcher(css: &str) -> String {
    format!("document.querySelector('marketchat-seller-chat').shadowRoot.querySelector('{css}')")
}

/// The launcher's badge text.
async fn launcher_badge(client: &Client) -> String {
    client.execute(&format!("return {}.textContent", in_launcher("[data-testid=unread-badge]")), vec![]).await.unwrap().as_str().unwrap_or("").to_owned()
}

/// Whether the operator's newest message in `seller`'s thread has been read.
async fn newest_admin_message_read(app: &TestApp, admin: &str, seller: &TestSeller) -> bool {
    let query = "query($s: ID!) { chatMessages(sellerId: $s, first: 10) { nodes { sentByType readAt } } }";
    let data = app.as_operator(admin, query, json!({ "s": seller.gid })).await;
    data["chatMessages"]["nodes"].as_array().unwrap().iter().find(|n| n["sentByType"] == "Admin").is_some_and(|n| !n["readAt"].is_null())
}

/// The texts of `seller`'s thread, newest first, as the Operator API sees them.
async fn thread(app: &TestApp, admin: &str, seller: &TestSeller) -> Vec<String> {
    let query = "query($s: ID!) { chatMessages(sellerId: $s, first: 50) { nodes { message } } }";
    texts(&app.as_operator(admin, query, json!({ "s": seller.gid })).await["chatMessages"])
}

#[tokio::test]
async fn a_seller_chats_through_the_launcher_on_a_marketplace_page_of_another_origin() {
    let host = HostSite::start("127.0.0.2").await;
    let app = chat_framable_by(&host).await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    // A thread longer than the frame: the chat must open on its newest message.
    let seller_key = app.seller_key(seller.id).await;
    for n in 1..=12 {
        app.seller_sends(&seller_key, &format!("Earlier question number {n} about last month's orders")).await;
    }
    app.operator_sends(&admin, &seller.gid, "Welcome to Acme's seller chat! Ask us anything about payouts.").await;
    let token = token_for(&app, &admin, &seller, "acme-staff-17").await;
    let page = host.page("/orders", launcher_page(&app.base, &token));
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&page).await.unwrap();

    // Closed: the launcher shows the unread count from the start; nothing is read yet.
    let badge_shows = |count: &'static str| {
        let browser = browser.clone();
        async move { launcher_badge(&browser).await == count }
    };
    assert!(wait_until(PAGE_WAIT, || badge_shows("1")).await, "the badge shows 1");
    wait_js(&browser, "return window.unread.length > 0 && window.unread[window.unread.length - 1] === 1", 10).await;
    assert!(!newest_admin_message_read(&app, &admin, &seller).await, "not read while closed");
    // No CSS leaks in: the launcher keeps its own look whatever the page's stylesheet says.
    let launcher_style = format!("const s = getComputedStyle({}); return [s.backgroundColor, s.fontSize, s.letterSpacing, s.borderRadius].join('|')", in_launcher(".launcher"));
    assert_eq!(browser.execute(&launcher_style, vec![]).await.unwrap(), json!("rgb(255, 255, 255)|14px|normal|999px"));
    let badge_style = format!("const s = getComputedStyle({}); return [s.backgroundColor, s.color, s.letterSpacing].join('|')", in_launcher(".badge"));
    assert_eq!(browser.execute(&badge_style, vec![]).await.unwrap(), json!("rgb(217, 45, 32)|rgb(255, 255, 255)|normal"));
    // ... and none leaks out: the page's own .badge keeps the page's style.
    let host_badge = "const s = getComputedStyle(document.getElementById('host-badge')); return [s.backgroundColor, s.position].join('|')";
    assert_eq!(browser.execute(host_badge, vec![]).await.unwrap(), json!("rgb(0, 0, 255)|static"));
    screenshot(&browser, "embed-launcher.png").await;

    // Opening the chat marks the operator's message read and clears the badge.
    let element = browser.find(Locator::Css("marketchat-seller-chat")).await.unwrap();
    let shadow = element.shadow_root().await.unwrap();
    shadow.find(Locator::Css(".launcher")).await.unwrap().click().await.unwrap();
    assert!(wait_until(PAGE_WAIT, || badge_shows("")).await, "the badge clears when the chat opens");
    assert!(wait_until(PAGE_WAIT, || newest_admin_message_read(&app, &admin, &seller)).await, "read once opened");
    assert!(js_bool(&browser, &format!("return !{}.hidden", in_launcher("[data-testid=chat-window]"))).await);

    // Inside the frame: the thread, and the seller writes back.
    shadow.find(Locator::Css("iframe")).await.unwrap().enter_frame().await.unwrap();
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Welcome to Acme")).await;
    let at_newest = "const l = document.querySelector('[data-testid=message-list]'); return l.scrollHeight > l.clientHeight && l.scrollTop + l.clientHeight >= l.scrollHeight - 2";
    wait_js(&browser, at_newest, 10).await;
    assert!(js_bool(&browser, "return location.hash === '' && !location.href.includes('mct_')").await, "the token left the address bar");
    type_and_enter(&browser, "Hi! When will order #10422 be paid out?").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("#10422")).await;
    assert_eq!(thread(&app, &admin, &seller).await[0], "Hi! When will order #10422 be paid out?", "the operator sees it");
    // The operator's answer arrives live and, the chat being open, is read at once.
    app.operator_sends(&admin, &seller.gid, "It goes out with Friday's payout run.").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Friday's payout")).await;
    assert!(wait_until(PAGE_WAIT, || newest_admin_message_read(&app, &admin, &seller)).await);
    browser.enter_parent_frame().await.unwrap();
    screenshot(&browser, "embed.png").await;

    // Escape in the chat closes it and gives focus back to the launcher.
    shadow.find(Locator::Css("iframe")).await.unwrap().enter_frame().await.unwrap();
    browser.find(Locator::Css("[data-testid=message-input]")).await.unwrap().send_keys("\u{E00C}").await.unwrap();
    browser.enter_parent_frame().await.unwrap();
    wait_js(&browser, &format!("return {}.hidden", in_launcher("[data-testid=chat-window]")), 10).await;
    wait_js(&browser, &format!("return document.activeElement.tagName === 'MARKETCHAT-SELLER-CHAT' && {}.shadowRoot.activeElement === {}", "document.activeElement", in_launcher(".launcher")), 10).await;
    // Closed again: a new message counts, and the page hears the count.
    app.operator_sends(&admin, &seller.gid, "One more thing: please confirm your bank details.").await;
    assert!(wait_until(PAGE_WAIT, || badge_shows("1")).await, "the badge counts while closed");
    wait_js(&browser, "return window.unread[window.unread.length - 1] === 1 && window.unread.includes(0)", 10).await;
    assert!(!newest_admin_message_read(&app, &admin, &seller).await, "not read while closed");
    browser.close().await.unwrap();
}

/// The `marketchat:unread` counts the host page received so far.
async fn unread_posted(browser: &Client) -> Vec<i64> {
    let script = "return window.received.filter((m) => m && m.type === 'marketchat:unread').map((m) => m.count)";
    browser.execute(script, vec![]).await.unwrap().as_array().unwrap().iter().filter_map(Value::as_i64).collect()
}

#[tokio::test]
async fn a_plain_iframe_shows_the_live_chat_and_tells_the_host_page_the_unread_count() {
    let host = HostSite::start("127.0.0.2").await;
    let mut app = chat_framable_by(&host).await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    app.operator_sends(&admin, &seller.gid, "Your listing photos need a white background.").await;
    app.operator_sends(&admin, &seller.gid, "See https://example.com/help/photos for the rules.").await;
    let payload = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "acme-staff-17", "name": "Sam" } })).await;
    let src = format!("{}{}", app.base, payload["url"].as_str().unwrap());
    let page = host.page("/messages", iframe_page(&app.base, &src));
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&page).await.unwrap();

    // The host page hears the count (2), then 0 once the open frame has marked them read.
    let counted = wait_until(PAGE_WAIT, || async { unread_posted(&browser).await.ends_with(&[2, 0]) }).await;
    assert!(counted, "posted: {:?}", unread_posted(&browser).await);
    assert!(newest_admin_message_read(&app, &admin, &seller).await);

    browser.find(Locator::Css("#chat")).await.unwrap().enter_frame().await.unwrap();
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("white background")).await;
    assert!(js_bool(&browser, "return location.hash === ''").await, "the token left the address bar");
    // Long words wrap inside the frame.
    let word = "x".repeat(120);
    type_and_enter(&browser, &format!("Noted: {word}")).await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("Noted")).await;
    assert!(js_bool(&browser, "return document.documentElement.scrollWidth <= window.innerWidth").await, "nothing wider than the frame");
    let send = "const b = document.querySelector('[data-testid=message-send]').getBoundingClientRect(); return b.right <= window.innerWidth && b.bottom <= window.innerHeight";
    assert!(js_bool(&browser, send).await, "Send stays in the frame");
    assert_eq!(thread(&app, &admin, &seller).await[0], format!("Noted: {word}"));

    // The subscription resumes after the server was away, missing nothing.
    restart_sending_while_down(&mut app, &browser, seller.id, "Sent while you were away.").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("while you were away")).await;
    app.operator_sends(&admin, &seller.gid, "And this one after.").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("this one after")).await;
    let shown = browser.find_all(Locator::Css("[data-testid=message]")).await.unwrap();
    assert_eq!(shown.len(), 5, "each message exactly once");
    wait_js(&browser, "return document.querySelector('[data-testid=connection-lost]').hidden", 10).await;
    browser.enter_parent_frame().await.unwrap();
    let recounted = wait_until(PAGE_WAIT, || async { unread_posted(&browser).await.ends_with(&[1, 0]) }).await;
    assert!(recounted, "posted: {:?}", unread_posted(&browser).await);
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_page_of_an_origin_not_allowed_gets_a_blocked_frame_and_the_token_stays_unused() {
    let allowed = HostSite::start("127.0.0.2").await;
    let other = HostSite::start("127.0.0.3").await;
    let app = chat_framable_by(&allowed).await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    app.seller_sends(&seller.key, "a question nobody else may read").await;
    let payload = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Sam" } })).await;
    let src = format!("{}{}", app.base, payload["url"].as_str().unwrap());
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    browser.goto(&other.page("/messages", iframe_page(&app.base, &src))).await.unwrap();
    wait_js(&browser, "return window.frameLoaded", 10).await;
    browser.find(Locator::Css("#chat")).await.unwrap().enter_frame().await.unwrap();
    let shows_chat = browser.execute("return document.querySelector('[data-testid=message-list]') !== null", vec![]).await;
    assert_ne!(shows_chat.ok(), Some(json!(true)), "the browser did not render the chat in the frame");
    browser.enter_parent_frame().await.unwrap();
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM seller_sign_ins WHERE used_at IS NULL").await, 1, "the blocked page never ran");
    assert!(unread_posted(&browser).await.is_empty(), "nothing was posted to it");

    // The same link in an allowed page works: it was the framing policy, not the token.
    browser.goto(&allowed.page("/messages", iframe_page(&app.base, &src))).await.unwrap();
    browser.find(Locator::Css("#chat")).await.unwrap().enter_frame().await.unwrap();
    wait_for(&browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("nobody else")).await;
    browser.close().await.unwrap();
}

/// What the embed page shows of itself: only `visible` among its views, and no messages.
async fn shows_only(browser: &Client, visible: &str) {
    let script = format!(
        "return ['signing-in', 'app', 'expired', 'ended', 'unavailable'].every((id) => document.getElementById(id).hidden === (id !== '{visible}'))"
    );
    wait_js(browser, &script, 10).await;
}

#[tokio::test]
async fn a_reused_or_missing_token_shows_only_the_expired_page_and_an_ended_session_says_so() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme Outdoor").await;
    let admin = admin_key(&app).await;
    app.seller_sends(&seller.key, "private thread content").await;
    let used = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Sam" } })).await;
    session_for(&app, used["token"].as_str().unwrap()).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    for url in [format!("{}{}", app.base, used["url"].as_str().unwrap()), format!("{}/embed/seller", app.base), format!("{}/embed/seller#token=mct_forged", app.base)] {
        // From a blank page each time: a change of fragment alone would not load the page again.
        browser.goto("about:blank").await.unwrap();
        browser.goto(&url).await.unwrap();
        shows_only(&browser, "expired").await;
        let text = browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
        assert!(text.contains("Sign-in link expired"), "{url}: {text}");
        assert!(!text.contains("private thread content") && !text.contains("Write a message"), "nothing else: {text}");
        assert!(browser.find_all(Locator::Css("[data-testid=message]")).await.unwrap().is_empty());
    }
    screenshot(&browser, "embed-expired.png").await;

    // A live session that ends (its user disabled) says so instead of failing silently.
    let fresh = sign_in_with(&app, &admin, json!({ "sellerId": seller.gid, "user": { "externalId": "u-1", "name": "Sam" } })).await;
    browser.goto("about:blank").await.unwrap();
    browser.goto(&format!("{}{}", app.base, fresh["url"].as_str().unwrap())).await.unwrap();
    wait_for(&browser, "[data-testid=message]", |t| t.contains("private thread content")).await;
    app.execute_sql(&["UPDATE users SET disabled_at = 1 WHERE external_id = 'u-1'", "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE external_id = 'u-1')"]).await.unwrap();
    shows_only(&browser, "ended").await;
    assert!(browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap().contains("Your chat session has ended"));
    browser.close().await.unwrap();
}
