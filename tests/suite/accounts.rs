//! SPEC §2 and §7–8, server part of the portals: users, login sessions, the CSRF header,
//! roles enforced by the API (the portal pages themselves are not built yet).

use crate::common::app::{now, test_config, TestApp};
use crate::common::cli::run_marketchat;
use crate::common::graphql::{error_code, payload_errors, texts, BRIEF_LIST, OPERATOR_SEND, SELLER_PAGE, SELLER_SEND};
use crate::common::session::{as_user, login};
use crate::common::wait::poll_until;
use crate::common::ws::{Ended, WsClient};
use marketchat::config::ServerConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `marketchat user create …` with `password` on stdin; returns the exit status and stdout.
fn create_user(database_url: &str, args: &[&str], password: &str) -> (bool, String) {
    let output = run_marketchat(database_url, &[&["user", "create"], args].concat(), &[], Some(password));
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn users_log_in_with_a_session_cookie_that_needs_the_csrf_header_and_logout_ends_it() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let (ok, id) = create_user(&app.database_url, &["--seller", &seller.gid, "--email", "Staff@Acme.test", "--name", "Acme Staff"], "correct horse");
    let id = marketchat::domain::ids::GlobalId::decode(id.trim()).unwrap_or_else(|e| panic!("{id:?} {e}"));
    assert!(ok && id.kind == marketchat::domain::ids::IdKind::SellerUser, "{id:?}");
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

// ---- Login hardening: input caps, rate limit, lock-out, timing, roles, cookies, sessions.

use marketchat::service::accounts::{NewUserKind, MAX_FAILED_LOGINS, MAX_SESSIONS_PER_USER};
use marketchat::domain::keys::hash_key;
use marketchat::domain::users::OperatorRole;
use std::time::{Duration, Instant};

/// A server that believes `X-Forwarded-For` from 127.0.0.1, so a test can play several clients.
async fn behind_proxy() -> TestApp {
    TestApp::spawn_with(ServerConfig { trusted_proxies: "127.0.0.1".parse().unwrap(), ..test_config() }).await
}

/// Creates a user directly through the server's accounts.
async fn user(app: &TestApp, email: &str, password: &str, kind: NewUserKind) {
    app.state().accounts.create_user(email, None, password, kind).await.expect("create user");
}

/// `POST /login` as the client at `client_ip` (seen through the trusted proxy).
async fn login_as(app: &TestApp, client_ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.post("/login")
        .header("x-forwarded-for", client_ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

/// The stored hash of a `marketchat_session=…` cookie's token.
fn token_hash(cookie: &str) -> String {
    hash_key(cookie.split_once('=').unwrap().1)
}

#[tokio::test]
async fn oversized_addresses_and_passwords_are_refused_up_front_and_leave_nothing_in_memory() {
    let app = TestApp::spawn().await;
    let huge_email = format!("{}@example.test", "a".repeat(60_000));
    for _ in 0..50 {
        let (status, body, cookie) = login(&app, &huge_email, "whatever-pass").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(cookie.is_none());
    }
    let (status, body, _) = login(&app, "someone@example.test", &"p".repeat(1025)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = login(&app, &format!("{}@b.test", "a".repeat(254 - 7)), "whatever-pass").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "254 bytes is still an address");
    assert_eq!(app.state().accounts.tracked_failures(), 1, "only the well-formed attempt is tracked");
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_ip_with_retry_after() {
    let limits = "login=3/1m".parse().unwrap();
    let app = TestApp::spawn_with(ServerConfig { rate_limits: limits, trusted_proxies: "127.0.0.1".parse().unwrap(), ..test_config() }).await;
    for n in 0..3 {
        // Different addresses: the per-account lock-out is not what stops these.
        let response = login_as(&app, "203.0.113.1", &format!("user{n}@example.test"), "wrong-pass").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = login_as(&app, "203.0.113.1", "user9@example.test", "wrong-pass").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((1..=20).contains(&wait), "{wait}");
    let other = login_as(&app, "203.0.113.2", "user9@example.test", "wrong-pass").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another client has its own limit");
}

#[tokio::test]
async fn forty_concurrent_guesses_get_only_the_allowed_checks_so_the_right_one_cannot_slip_through() {
    let app = TestApp::spawn().await;
    user(&app, "cs@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::CustomerSupport)).await;
    let guesses = (0..40).map(|n| if n == 20 { "s3cret-pass" } else { "wrong-pass" });
    let answers = futures_util::future::join_all(guesses.map(|password| {
        let request = app.post("/login").json(&json!({ "email": "cs@op.test", "password": password }));
        async move {
            let response = request.send().await.unwrap();
            (password, response.status(), response.headers().contains_key("retry-after"))
        }
    }))
    .await;
    let checked: Vec<_> = answers.iter().filter(|(_, status, _)| *status != StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(checked.len(), MAX_FAILED_LOGINS as usize, "only the free attempts were checked: {answers:?}");
    assert!(answers.iter().all(|(_, status, retry)| *status != StatusCode::TOO_MANY_REQUESTS || *retry), "429s say when to retry");
    let right_got_in = answers.iter().any(|(_, status, _)| *status == StatusCode::OK);
    if !right_got_in {
        let (status, _, _) = login(&app, "cs@op.test", "s3cret-pass").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "while locked the right password is not checked either");
    }
}

#[tokio::test]
async fn unknown_addresses_take_about_as_long_as_wrong_passwords() {
    let app = behind_proxy().await;
    user(&app, "known@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::Viewer)).await;
    let timed = |client: String, email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = login_as(app, &client, email, "wrong-pass").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    // Warm up both paths (the dummy hash is computed on first use).
    timed("198.51.100.1".to_owned(), "nobody@op.test").await;
    timed("198.51.100.1".to_owned(), "known@op.test").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..7 {
        // A fresh client each time keeps the lock-out out of the measurement.
        known.push(timed(format!("198.51.100.{}", 10 + n), "known@op.test").await);
        unknown.push(timed(format!("198.51.100.{}", 30 + n), "nobody@op.test").await);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[3], unknown[3]);
    eprintln!("median login time: known address {known:?}, unknown address {unknown:?}");
    assert!(unknown * 3 >= known, "unknown {unknown:?} vs known {known:?}: the difference tells which addresses exist");
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    user(&app, "cs@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::CustomerSupport)).await;
    for round in 0..3 {
        for _ in 1..MAX_FAILED_LOGINS {
            assert_eq!(login(&app, "cs@op.test", "wrong-pass").await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&app, "cs@op.test", "s3cret-pass").await.0, StatusCode::OK, "round {round}");
    }
}

#[tokio::test]
async fn a_lockout_from_one_client_does_not_lock_the_account_for_another() {
    let app = behind_proxy().await;
    user(&app, "cs@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::CustomerSupport)).await;
    for _ in 0..MAX_FAILED_LOGINS {
        assert_eq!(login_as(&app, "203.0.113.66", "cs@op.test", "wrong-pass").await.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = login_as(&app, "203.0.113.66", "cs@op.test", "s3cret-pass").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&locked) >= 1);
    let owner = login_as(&app, "198.51.100.7", "cs@op.test", "s3cret-pass").await;
    assert_eq!(owner.status(), StatusCode::OK, "the owner elsewhere still gets in");
    // Back-off, not a fixed 15 minutes: after the wait the attacker's client is checked again.
    let first_back_off_passed = Duration::from_millis(1_100);
    tokio::time::sleep(first_back_off_passed).await;
    assert_eq!(login_as(&app, "203.0.113.66", "cs@op.test", "wrong-pass").await.status(), StatusCode::UNAUTHORIZED);
    let again = login_as(&app, "203.0.113.66", "cs@op.test", "s3cret-pass").await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&again) >= 2, "the wait doubles");
}

#[tokio::test]
async fn an_unknown_stored_role_is_refused_by_the_database_and_gives_no_rights_if_it_gets_there() {
    let app = TestApp::spawn().await;
    user(&app, "admin@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::FullAdmin)).await;
    let cookie = login(&app, "admin@op.test", "s3cret-pass").await.2.unwrap();
    let bad_role = "UPDATE users SET role = 'root' WHERE email = 'admin@op.test'";
    let refused = app.execute_sql(&[bad_role]).await;
    assert!(refused.as_ref().is_err_and(|e| e.to_lowercase().contains("check")), "{refused:?}");

    // Should a bad role get in anyway (an older schema, a hand edit), it grants nothing.
    let bypass_check = if app.database_url.starts_with("sqlite:") {
        "PRAGMA ignore_check_constraints = ON"
    } else {
        "ALTER TABLE users DROP CONSTRAINT users_role_known"
    };
    assert_eq!(app.execute_sql(&[bypass_check, bad_role]).await, Ok(1));
    let (status, body) = as_user(&app, "/graphql/operator", &cookie, "{ chats { totalCount } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session no longer acts: {body}");
    let disable = "mutation { chatSettingsUpdate(input: { chatEnabled: false }) { chatEnabled } }";
    let (status, _) = as_user(&app, "/graphql/operator", &cookie, disable, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and certainly cannot change settings");
    let (status, _, cookie) = login(&app, "admin@op.test", "s3cret-pass").await;
    assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None), "nor log in again");
}

#[tokio::test]
async fn the_cookie_is_secure_only_when_a_trusted_proxy_says_https() {
    for (trusted, secure) in [(false, false), (true, true)] {
        let app = if trusted { behind_proxy().await } else { TestApp::spawn().await };
        user(&app, "s@op.test", "s3cret-pass", NewUserKind::Operator(OperatorRole::Viewer)).await;
        let response = app
            .post("/login")
            .header("x-forwarded-proto", "https")
            .json(&json!({ "email": "s@op.test", "password": "s3cret-pass" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(set_cookie.contains("Secure"), secure, "trusted proxy: {trusted}; {set_cookie}");
        let logout = app.post("/logout").header("x-forwarded-proto", "https").send().await.unwrap();
        assert_eq!(logout.headers()["set-cookie"].to_str().unwrap().contains("Secure"), secure);
    }
}

/// Sessions of `email`'s user, counted in the database.
async fn stored_sessions(app: &TestApp, email: &str) -> i64 {
    app.query_i64(&format!("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = '{email}'")).await
}

#[tokio::test]
async fn idle_and_expired_sessions_are_refused_then_purged_and_use_is_recorded_once_a_minute() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    user(&app, "s@acme.test", "s3cret-pass", NewUserKind::Seller(seller.id)).await;
    let idle = login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    let expired = login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    let fresh = login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    let now = now();
    let three_hours = 3 * 3_600_000;
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = {} WHERE token_hash = '{}'", now.get() - three_hours, token_hash(&idle))])
        .await
        .unwrap();
    app.execute_sql(&[&format!("UPDATE sessions SET expires_at = {} WHERE token_hash = '{}'", now.get() - 1, token_hash(&expired))]).await.unwrap();
    for (name, cookie) in [("idle", &idle), ("expired", &expired)] {
        let (status, _) = as_user(&app, "/graphql/seller", cookie, BRIEF_LIST, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }

    // Use is written at most once a minute: a use 30 s ago stays, one 90 min ago moves.
    let last_use = |cookie: &str| format!("SELECT last_used_at FROM sessions WHERE token_hash = '{}'", token_hash(cookie));
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = {} WHERE token_hash = '{}'", now.get() - 30_000, token_hash(&fresh))]).await.unwrap();
    assert_eq!(as_user(&app, "/graphql/seller", &fresh, BRIEF_LIST, json!({})).await.0, StatusCode::OK);
    assert_eq!(app.query_i64(&last_use(&fresh)).await, now.get() - 30_000, "no write within the minute");
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = {} WHERE token_hash = '{}'", now.get() - 90 * 60_000, token_hash(&fresh))]).await.unwrap();
    assert_eq!(as_user(&app, "/graphql/seller", &fresh, BRIEF_LIST, json!({})).await.0, StatusCode::OK, "90 minutes idle is within 2 h");
    assert!(app.query_i64(&last_use(&fresh)).await >= now.get(), "the use was recorded");

    assert_eq!(stored_sessions(&app, "s@acme.test").await, 3, "refused sessions are still stored until a purge");
    login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    assert_eq!(stored_sessions(&app, "s@acme.test").await, 2, "a login purges its user's ended sessions");
}

#[tokio::test]
async fn the_hourly_purge_removes_every_users_ended_sessions_and_runs_at_start() {
    let mut app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    user(&app, "s@acme.test", "s3cret-pass", NewUserKind::Seller(seller.id)).await;
    let cookie = login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = {} WHERE token_hash = '{}'", now().get() - 3 * 3_600_000, token_hash(&cookie))])
        .await
        .unwrap();
    app.restart(async {}).await;
    let left = poll_until(Duration::from_secs(5), || stored_sessions(&app, "s@acme.test"), |left| *left == 0).await;
    assert_eq!(left, 0, "the idle session was purged");
}

#[tokio::test]
async fn an_open_subscription_ends_when_its_session_goes_idle() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    user(&app, "s@acme.test", "s3cret-pass", NewUserKind::Seller(seller.id)).await;
    let cookie = login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap();
    let mut client = cookie_subscription(&app, &cookie, &app.base).await;
    assert_eq!(client.next_message().await.unwrap()["type"], "connection_ack");
    app.execute_sql(&[&format!("UPDATE sessions SET last_used_at = {} WHERE token_hash = '{}'", now().get() - 3 * 3_600_000, token_hash(&cookie))])
        .await
        .unwrap();
    assert_eq!(client.ended().await, Ended::Closed(4403), "the re-check applies the idle timeout too");
}

#[tokio::test]
async fn a_user_holds_at_most_the_capped_number_of_sessions_and_the_oldest_ends_first() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    user(&app, "s@acme.test", "s3cret-pass", NewUserKind::Seller(seller.id)).await;
    let mut cookies = Vec::new();
    for _ in 0..=MAX_SESSIONS_PER_USER {
        cookies.push(login(&app, "s@acme.test", "s3cret-pass").await.2.unwrap());
        // Distinct expiry times order the sessions.
        let next_millisecond = Duration::from_millis(2);
        tokio::time::sleep(next_millisecond).await;
    }
    assert_eq!(stored_sessions(&app, "s@acme.test").await, MAX_SESSIONS_PER_USER);
    assert_eq!(as_user(&app, "/graphql/seller", &cookies[0], BRIEF_LIST, json!({})).await.0, StatusCode::UNAUTHORIZED, "the oldest ended");
    for cookie in [&cookies[1], cookies.last().unwrap()] {
        assert_eq!(as_user(&app, "/graphql/seller", cookie, BRIEF_LIST, json!({})).await.0, StatusCode::OK);
    }
}

/// `marketchat user ARGS…` with `stdin`; panics unless it succeeds; returns stdout.
fn user_command(app: &TestApp, args: &[&str], stdin: Option<&str>) -> String {
    let output = run_marketchat(&app.database_url, &[&["user"], args].concat(), &[], stdin);
    assert!(output.status.success(), "user {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn users_can_be_listed_disabled_which_ends_their_sessions_enabled_and_given_a_new_password() {
    use marketchat::domain::ids::{GlobalId, IdKind};
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let staff = user_command(&app, &["create", "--seller", &seller.gid, "--email", "staff@acme.test"], Some("first password")).trim().to_owned();
    let admin = user_command(&app, &["create", "--operator", "--role", "viewer", "--email", "v@op.test", "--name", "Vera"], Some("admin password"))
        .trim()
        .to_owned();
    assert_eq!(GlobalId::decode(&staff).unwrap().kind, IdKind::SellerUser);
    assert_eq!(GlobalId::decode(&admin).unwrap().kind, IdKind::OperatorUser);
    assert_eq!(
        user_command(&app, &["list"], None),
        format!("{staff}\tstaff@acme.test\tstaff@acme.test\tseller {}\t-\tactive\n{admin}\tv@op.test\tVera\toperator\tviewer\tactive\n", seller.gid)
    );

    let (status, _, cookie) = login(&app, "staff@acme.test", "first password").await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();
    assert_eq!(as_user(&app, "/graphql/seller", &cookie, BRIEF_LIST, json!({})).await.0, StatusCode::OK);

    user_command(&app, &["disable", &staff], None);
    assert_eq!(as_user(&app, "/graphql/seller", &cookie, BRIEF_LIST, json!({})).await.0, StatusCode::UNAUTHORIZED, "the session ended at once");
    assert_eq!(login(&app, "staff@acme.test", "first password").await.0, StatusCode::UNAUTHORIZED, "a disabled user cannot log in");
    assert!(user_command(&app, &["list"], None).lines().next().unwrap().ends_with("\tdisabled"));

    user_command(&app, &["enable", &staff], None);
    let (status, _, cookie) = login(&app, "staff@acme.test", "first password").await;
    assert_eq!(status, StatusCode::OK, "enabled again");
    let cookie = cookie.unwrap();

    // A plain row number is accepted too; the new password replaces the old one and ends sessions.
    let row = GlobalId::decode(&staff).unwrap().number.to_string();
    user_command(&app, &["set-password", &row], Some("second password"));
    assert_eq!(as_user(&app, "/graphql/seller", &cookie, BRIEF_LIST, json!({})).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "staff@acme.test", "first password").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "staff@acme.test", "second password").await.0, StatusCode::OK);

    for args in [&["disable", "T3BlcmF0b3JVc2VyLTk5"][..], &["enable", "99"], &["disable", &seller.gid]] {
        let output = run_marketchat(&app.database_url, &[&["user"], args].concat(), &[], None);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
    }
    let short = run_marketchat(&app.database_url, &["user", "set-password", &admin], &[], Some("short"));
    assert_eq!(short.status.code(), Some(1), "too short a password is refused");
    assert_eq!(login(&app, "v@op.test", "admin password").await.0, StatusCode::OK, "and the old one still works");
}

#[tokio::test]
async fn a_disabled_users_open_subscription_closes_at_its_next_recheck() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    let staff = user_command(&app, &["create", "--seller", &seller.gid, "--email", "staff@acme.test"], Some("first password")).trim().to_owned();
    let (_, _, cookie) = login(&app, "staff@acme.test", "first password").await;
    let cookie = cookie.unwrap();
    let mut socket = cookie_subscription(&app, &cookie, &app.base).await;
    assert_eq!(socket.next_message().await.unwrap()["type"], "connection_ack");
    user_command(&app, &["disable", &staff], None);
    assert_eq!(socket.ended().await, Ended::Closed(4403), "a disabled user's subscription is closed as forbidden");
}
