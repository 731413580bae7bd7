//! SPEC §11: operator staff sign in with the marketplace's identity provider (OpenID
//! Connect, authorization code + PKCE), against a real provider (`oidc-provider`, run by
//! tests/common/oidc.rs), through its own login pages.

use crate::common::app::{test_config, TestApp};
use crate::common::browser::Driver;
use crate::common::db::{runs_on, Backend};
use crate::common::graphql::{error_code, OPERATOR_SEND};
use crate::common::session::as_user;
use crate::common::nodes::Cluster;
use crate::common::oidc::{account, sign_in_problem, sso_flags, AtProvider, Browserless, IdentityProvider, SsoApp, CALLBACK, CLIENT_ID, CLIENT_SECRET, PASSWORD, ROLE_CLAIM};
use fantoccini::Locator;
use marketchat::config::{ServerConfig, SsoFlags};
use marketchat::domain::users::OperatorRole;
use marketchat::service::accounts::{Accounts, NewUserKind};
use marketchat::service::Clock;
use marketchat::store::{IdpIdentity, UserRecord};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Chats of every seller, as the operator portal lists them.
const CHATS: &str = "{ chats(first: 5) { totalCount } }";

/// Switches in-app chat on or off (Full Admin only).
const SET_CHAT_ENABLED: &str = "mutation($enabled: Boolean!) { chatSettingsUpdate(input: { chatEnabled: $enabled }) { chatEnabled } }";

/// The one user signed in as `login` at `idp`.
async fn user_of(app: &TestApp, idp: &IdentityProvider, login: &str) -> Option<UserRecord> {
    let identity = IdpIdentity { issuer: idp.issuer.clone(), subject: login.to_owned() };
    app.store.user_by_identity(&identity).await.expect("read users")
}

/// Who `GET /session` says the cookie belongs to.
async fn session_user(app: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let request = reqwest::Client::new().get(format!("{}/session", app.base)).header("cookie", cookie);
    TestApp::read(request).await
}

/// An operator user with a password, as `marketchat user create` makes one.
async fn password_user(app: &TestApp, email: &str, kind: NewUserKind) -> UserRecord {
    let accounts = Accounts::new(app.store.clone(), Clock::system());
    accounts.create_user(email, Some("Existing"), "password-123", kind).await.expect("create user")
}

/// `POST /login`: the status and body.
async fn password_login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    TestApp::read(app.post("/login").json(&json!({ "email": email, "password": password }))).await
}

#[tokio::test]
async fn a_first_sign_in_creates_the_operator_user_with_the_claimed_role_and_its_session_works_like_a_password_login() {
    let sso = SsoApp::start(json!({ "alice": account("Alice@Example.test", "Alice Admin", Some("full-admin")) })).await;
    let app = &sso.app;
    assert!(user_of(app, &sso.idp, "alice").await.is_none());

    let browser = Browserless::new();
    let landing = browser.sign_in(&app.base, "alice").await;
    assert_eq!((landing.status, landing.location.as_str()), (StatusCode::SEE_OTHER, "/operator/"), "{landing:?}");
    let session_cookie = landing.set_cookies.iter().find(|c| c.starts_with("marketchat_session=")).expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(flag), "the same cookie as a password login: {session_cookie}");
    }
    assert!(landing.set_cookies.iter().any(|c| c.starts_with("marketchat_sso=;")), "the sign-in's binding cookie ends: {landing:?}");
    let cookie = landing.session.expect("signed in");

    let user = user_of(app, &sso.idp, "alice").await.expect("the user was created");
    assert_eq!((user.email.as_deref(), user.name.as_str(), user.role.as_deref()), (Some("alice@example.test"), "Alice Admin", Some("full-admin")));
    assert_eq!(user.seller_id, None);
    let (status, body) = session_user(app, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["user"]["kind"].as_str(), body["user"]["role"].as_str()), (Some("operator"), Some("full-admin")), "{body}");

    // The Operator API takes the cookie with the CSRF header, and the role's rights hold.
    let seller = app.seller("Acme").await;
    let (status, sent) = as_user(app, "/graphql/operator", &cookie, OPERATOR_SEND, json!({ "sellerId": seller.gid, "message": "hi from SSO" })).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["data"]["chatMessageCreate"]["chatMessage"]["sentBy"], "Alice Admin", "{sent}");
    let (_, settings) = as_user(app, "/graphql/operator", &cookie, SET_CHAT_ENABLED, json!({ "enabled": true })).await;
    assert!(settings.get("errors").is_none(), "a full admin changes settings: {settings}");
    let without_csrf = app.post("/graphql/operator").header("cookie", &cookie).json(&json!({ "query": CHATS }));
    let (status, body) = TestApp::read(without_csrf).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the CSRF header is needed as after a password login: {body}");

    // The user has no password: no password opens it.
    let (status, _) = password_login(app, "alice@example.test", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = password_login(app, "alice@example.test", "!no-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_or_unknown_role_claim_makes_a_viewer_who_may_not_chat() {
    let sso = SsoApp::start(json!({
        "bob": account("bob@example.test", "Bob", None),
        "carol": account("carol@example.test", "Carol", Some("root")),
        "dave": account("dave@example.test", "Dave", Some("Full-Admin")),
    }))
    .await;
    let seller = sso.app.seller("Acme").await;
    sso.app.seller_sends(&seller.key, "hello?").await;
    for login in ["bob", "carol", "dave"] {
        let landing = Browserless::new().sign_in(&sso.app.base, login).await;
        let cookie = landing.session.clone().unwrap_or_else(|| panic!("{login} signs in: {landing:?}"));
        let user = user_of(&sso.app, &sso.idp, login).await.expect("created");
        assert_eq!(user.role.as_deref(), Some("viewer"), "{login}");
        let (_, read) = as_user(&sso.app, "/graphql/operator", &cookie, CHATS, json!({})).await;
        assert_eq!(read["data"]["chats"]["totalCount"], 1, "a viewer reads: {read}");
        let (_, sent) = as_user(&sso.app, "/graphql/operator", &cookie, OPERATOR_SEND, json!({ "sellerId": seller.gid, "message": "hi" })).await;
        assert_eq!(error_code(&sent), "FORBIDDEN", "a viewer may not chat: {sent}");
    }
    assert_eq!(sso.app.stored_messages(seller.id).await, 1, "only the seller's message");
}

#[tokio::test]
async fn a_second_sign_in_reuses_the_user_and_takes_the_role_and_name_from_the_claims_again() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("customer-support")) })).await;
    let first = Browserless::new().sign_in(&sso.app.base, "alice").await;
    assert!(first.session.is_some(), "{first:?}");
    let created = user_of(&sso.app, &sso.idp, "alice").await.expect("created");
    assert_eq!(created.role.as_deref(), Some("customer-support"));

    sso.idp.set_claims("alice", json!({ "email": "alice.new@example.test", "email_verified": true, "name": "Alice N.", ROLE_CLAIM: "viewer" })).await;
    let second = Browserless::new().sign_in(&sso.app.base, "alice").await;
    let cookie = second.session.expect("signed in again");
    let again = user_of(&sso.app, &sso.idp, "alice").await.expect("still there");
    assert_eq!(again.id, created.id, "the same user");
    assert_eq!((again.role.as_deref(), again.name.as_str(), again.email.as_deref()), (Some("viewer"), "Alice N.", Some("alice.new@example.test")));
    assert_eq!(sso.app.store.list_users().await.unwrap().len(), 1, "no second user");
    let (_, body) = session_user(&sso.app, &cookie).await;
    assert_eq!(body["user"]["role"], "viewer", "the new session has the refreshed role: {body}");
}

#[tokio::test]
async fn a_sign_in_state_works_once() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("marketing")) })).await;
    let browser = Browserless::new();
    let callback = browser.through_provider(&sso.app.base, AtProvider::SignIn("alice", PASSWORD)).await;
    let first = browser.open(&callback).await;
    assert!(first.session.is_some(), "{first:?}");
    let replayed = browser.open(&callback).await;
    assert_eq!(replayed.session, None, "a replayed callback starts no session: {replayed:?}");
    assert_eq!(sign_in_problem(&replayed).as_deref(), Some("expired"), "{replayed:?}");
    let (_, page) = browser.page(&format!("{}{}", sso.app.base, replayed.location)).await;
    assert!(page.contains("That sign-in has expired or was used already. Start again."), "{page}");
    assert_eq!(sso.app.query_i64("SELECT COUNT(*) FROM sso_sign_ins").await, 0, "the state was taken");
}

#[tokio::test]
async fn a_callback_with_a_state_never_issued_or_none_is_refused() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) })).await;
    let browser = Browserless::new();
    // A real code from the provider, with a state we never issued.
    let callback = browser.through_provider(&sso.app.base, AtProvider::SignIn("alice", PASSWORD)).await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> =
        forged.query_pairs().map(|(k, v)| (k.to_string(), if k == "state" { "made-up-state".to_owned() } else { v.into_owned() })).collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    for url in [forged.to_string(), format!("{}{CALLBACK}?code=abc", sso.app.base), format!("{}{CALLBACK}", sso.app.base)] {
        let landing = browser.open(&url).await;
        assert_eq!((landing.status, sign_in_problem(&landing).as_deref()), (StatusCode::SEE_OTHER, Some("expired")), "{url}: {landing:?}");
        assert_eq!(landing.session, None);
    }
    assert!(user_of(&sso.app, &sso.idp, "alice").await.is_none(), "nobody was created");
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_uses_the_state_up() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) })).await;
    let victim = Browserless::new();
    // The attacker signs in at the provider and hands the callback link to someone else
    // (login CSRF): that browser never started the sign-in.
    let attacker = Browserless::new();
    let callback = attacker.through_provider(&sso.app.base, AtProvider::SignIn("alice", PASSWORD)).await;
    let landing = victim.open(&callback).await;
    assert_eq!(sign_in_problem(&landing).as_deref(), Some("other_browser"), "{landing:?}");
    assert_eq!(landing.session, None);
    let late = attacker.open(&callback).await;
    assert_eq!(sign_in_problem(&late).as_deref(), Some("expired"), "the state was used up: {late:?}");
    assert!(user_of(&sso.app, &sso.idp, "alice").await.is_none());
}

#[tokio::test]
async fn a_sign_in_that_took_too_long_is_refused() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) })).await;
    let browser = Browserless::new();
    let callback = browser.through_provider(&sso.app.base, AtProvider::SignIn("alice", PASSWORD)).await;
    sso.app.execute_sql(&["UPDATE sso_sign_ins SET expires_at = expires_at - 600001"]).await.expect("age the sign-in");
    let landing = browser.open(&callback).await;
    assert_eq!(sign_in_problem(&landing).as_deref(), Some("expired"), "{landing:?}");
    assert_eq!(landing.session, None);
}

#[tokio::test]
async fn an_id_token_failing_any_check_signs_nobody_in() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) })).await;
    for mode in ["signature", "nonce", "audience", "issuer", "expired", "foreign-key", "alg-none"] {
        sso.idp.tamper(mode).await;
        let landing = Browserless::new().sign_in(&sso.app.base, "alice").await;
        assert_eq!(sign_in_problem(&landing).as_deref(), Some("invalid"), "{mode}: {landing:?}");
        assert_eq!(landing.session, None, "{mode}");
        assert!(user_of(&sso.app, &sso.idp, "alice").await.is_none(), "{mode}: nobody was created");
    }
    let (_, page) = Browserless::new().page(&format!("{}/operator/?sso_error=invalid", sso.app.base)).await;
    assert!(page.contains("could not be verified, so you were not signed in"), "{page}");
    // The same provider, honest again: the sign-in works.
    sso.idp.tamper("none").await;
    assert!(Browserless::new().sign_in(&sso.app.base, "alice").await.session.is_some());
}

#[tokio::test]
async fn cancelling_at_the_provider_comes_back_with_a_clear_message() {
    let sso = SsoApp::start_with(json!({ "alice": account("alice@example.test", "Alice", None) }), |config| {
        config.sso.name = Some("Example SSO".to_owned());
    })
    .await;
    let browser = Browserless::new();
    let callback = browser.through_provider(&sso.app.base, AtProvider::Cancel).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let landing = browser.open(&callback).await;
    assert_eq!((sign_in_problem(&landing).as_deref(), landing.session.as_ref()), (Some("denied"), None), "{landing:?}");
    let (_, page) = browser.page(&format!("{}{}", sso.app.base, landing.location)).await;
    assert!(page.contains("Sign-in was cancelled or refused at Example SSO."), "{page}");
    assert_eq!(sso.app.query_i64("SELECT COUNT(*) FROM sso_sign_ins").await, 0, "its state cannot be used afterwards");
}

#[tokio::test]
async fn the_page_offers_sign_in_with_the_provider_only_when_it_is_configured() {
    let plain = TestApp::spawn().await;
    let (_, page) = plain.get("/operator/").await;
    assert!(!page.contains("sso-start") && page.contains("data-testid=\"login-password\""), "{page}");
    let (status, _) = plain.get("/operator/sso/start").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = plain.get("/operator/sso/callback?code=x&state=y").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = plain.get("/operator/?sso_error=%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert!(!page.contains("<script>alert"), "nothing from the URL is shown");

    let sso = SsoApp::start(json!({})).await;
    let (_, page) = sso.app.get("/operator/").await;
    assert!(page.contains(">Sign in with localhost</a>"), "the issuer's host names the button: {page}");
    assert!(page.contains("href=\"/operator/sso/start\"") && page.contains("data-testid=\"login-password\""), "both ways: {page}");

    let named = SsoApp::start_with(json!({}), |config| config.sso.name = Some("<Okta & Co>".to_owned())).await;
    let (_, page) = named.app.get("/operator/").await;
    assert!(page.contains("Sign in with &lt;Okta &amp; Co&gt;</a>"), "escaped: {page}");
}

#[tokio::test]
async fn with_password_login_off_operators_must_use_the_provider_but_sellers_keep_their_passwords() {
    let sso = SsoApp::start_with(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) }), |config| {
        config.sso.password_login = false;
    })
    .await;
    let app = &sso.app;
    let (_, page) = app.get("/operator/").await;
    assert!(!page.contains("login-password") && !page.contains("login-email"), "the password form is gone: {page}");
    assert!(page.contains("data-testid=\"sso-start\""), "{page}");

    password_user(app, "ops@example.test", NewUserKind::Operator(OperatorRole::FullAdmin)).await;
    let (status, body) = password_login(app, "ops@example.test", "password-123").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("“Sign in with localhost”"), "{body}");
    let (status, body) = password_login(app, "ops@example.test", "wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong password says nothing more: {body}");

    let seller = app.seller("Acme").await;
    password_user(app, "staff@acme.test", NewUserKind::Seller(seller.id)).await;
    let (status, body) = password_login(app, "staff@acme.test", "password-123").await;
    assert_eq!(status, StatusCode::OK, "seller users keep password login: {body}");

    assert!(Browserless::new().sign_in(&app.base, "alice").await.session.is_some(), "the provider still signs operators in");
}

#[tokio::test]
async fn password_login_cannot_be_switched_off_without_single_sign_on() {
    let off = ServerConfig { sso: SsoFlags { password_login: false, ..SsoFlags::default() }, ..test_config() };
    assert!(off.sso_settings().unwrap_err().contains("--password-login false needs single sign-on"));
    let output = crate::common::cli::run_marketchat("sqlite::memory:", &["serve", "--bind", "127.0.0.1:0", "--password-login", "false"], &[], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--password-login false needs single sign-on"), "{stderr}");
    let output = crate::common::cli::run_marketchat(
        "sqlite::memory:",
        &["serve", "--bind", "127.0.0.1:0", "--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "x", "--oidc-client-secret", "y"],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--public-url"), "{stderr}");
}

#[tokio::test]
async fn a_provider_that_is_down_does_not_stop_the_server_and_sign_in_says_so() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listener = TestApp::bind().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerConfig { public_url: Some(base.parse().unwrap()), sso: sso_flags(&format!("http://127.0.0.1:{closed}")), ..test_config() };
    let app = TestApp::spawn_on(listener, config).await;
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = app.get("/operator/").await;
    assert!(page.contains("Sign in with 127.0.0.1"), "{page}");
    let browser = Browserless::new();
    let landing = browser.open(&format!("{base}/operator/sso/start")).await;
    assert_eq!(sign_in_problem(&landing).as_deref(), Some("unavailable"), "{landing:?}");
    let (_, page) = browser.page(&format!("{base}{}", landing.location)).await;
    assert!(page.contains("Sign-in with 127.0.0.1 is unavailable right now"), "{page}");
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_is_not_used() {
    // The provider calls itself http://localhost:PORT; configured as 127.0.0.1 it does
    // not match, and nothing from it is trusted.
    let sso = SsoApp::start_with(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) }), |config| {
        let issuer = config.sso.issuer.take().unwrap().replace("localhost", "127.0.0.1");
        config.sso.issuer = Some(issuer);
    })
    .await;
    let landing = Browserless::new().open(&format!("{}/operator/sso/start", sso.app.base)).await;
    assert_eq!(sign_in_problem(&landing).as_deref(), Some("unavailable"), "{landing:?}");
}

#[tokio::test]
async fn a_disabled_user_stays_refused() {
    let sso = SsoApp::start(json!({ "alice": account("alice@example.test", "Alice", Some("full-admin")) })).await;
    let first = Browserless::new().sign_in(&sso.app.base, "alice").await;
    let cookie = first.session.expect("signed in");
    let user = user_of(&sso.app, &sso.idp, "alice").await.unwrap();
    assert!(sso.app.store.set_user_disabled(user.id, Some(crate::common::app::now())).await.unwrap());
    let (status, _) = session_user(&sso.app, &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "disabling ended the session");
    let again = Browserless::new().sign_in(&sso.app.base, "alice").await;
    assert_eq!((sign_in_problem(&again).as_deref(), again.session.as_ref()), (Some("disabled"), None), "{again:?}");
}

#[tokio::test]
async fn a_provider_account_takes_over_an_existing_user_only_by_a_verified_address_of_an_operator() {
    let mut unverified = account("ops@example.test", "Ops", Some("full-admin"));
    unverified["claims"]["email_verified"] = json!(false);
    let sso = SsoApp::start(json!({
        "unverified": unverified,
        "verified": account("ops@example.test", "Ops Person", Some("customer-support")),
        "seller-staff": account("staff@acme.test", "Staff", Some("full-admin")),
    }))
    .await;
    let app = &sso.app;
    let existing = password_user(app, "ops@example.test", NewUserKind::Operator(OperatorRole::Finance)).await;
    let seller = app.seller("Acme").await;
    password_user(app, "staff@acme.test", NewUserKind::Seller(seller.id)).await;

    let refused = Browserless::new().sign_in(&app.base, "unverified").await;
    assert_eq!((sign_in_problem(&refused).as_deref(), refused.session.as_ref()), (Some("account_exists"), None), "{refused:?}");
    let refused = Browserless::new().sign_in(&app.base, "seller-staff").await;
    assert_eq!(sign_in_problem(&refused).as_deref(), Some("account_exists"), "a seller user is never taken over: {refused:?}");
    let (_, page) = Browserless::new().page(&format!("{}{}", app.base, refused.location)).await;
    assert!(page.contains("cannot be linked to this sign-in automatically"), "{page}");

    let linked = Browserless::new().sign_in(&app.base, "verified").await;
    assert!(linked.session.is_some(), "{linked:?}");
    let user = user_of(app, &sso.idp, "verified").await.expect("linked");
    assert_eq!(user.id, existing.id, "the existing operator user, linked");
    assert_eq!(user.role.as_deref(), Some("customer-support"), "the provider's role from now on");
    assert_eq!(app.store.list_users().await.unwrap().len(), 2);
    // Linked once: another provider account with the address cannot take it over again.
    sso.idp.set_claims("unverified", json!({ "email": "ops@example.test", "email_verified": true })).await;
    let second = Browserless::new().sign_in(&app.base, "unverified").await;
    assert_eq!(sign_in_problem(&second).as_deref(), Some("account_exists"), "{second:?}");
    // Password login stays on (the default), so the linked user's password still works.
    let (status, _) = password_login(app, "ops@example.test", "password-123").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_callback_landing_on_another_node_finishes_the_sign_in() {
    if !runs_on(Backend::Postgres, "several nodes share one database only on PostgreSQL (a SQLite file serves one node)") {
        return;
    }
    // Behind a load balancer at PUBLIC, the provider sends the browser back to PUBLIC;
    // here the test plays the balancer and takes the callback to the other node.
    const PUBLIC: &str = "http://chat.marketplace.test";
    let idp = IdentityProvider::start(&[format!("{PUBLIC}{CALLBACK}")], json!({ "alice": account("alice@example.test", "Alice", Some("webmaster")) })).await;
    let env = [
        ("MARKETCHAT_PUBLIC_URL", PUBLIC),
        ("MARKETCHAT_OIDC_ISSUER", idp.issuer.as_str()),
        ("MARKETCHAT_OIDC_CLIENT_ID", CLIENT_ID),
        ("MARKETCHAT_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("MARKETCHAT_OIDC_ROLE_CLAIM", ROLE_CLAIM),
    ];
    let cluster = Cluster::start_with(2, &env).await;
    let (node1, node2) = (cluster.app(0), cluster.app(1));
    let browser = Browserless::new();
    let callback = browser.through_provider(&node1.base, AtProvider::SignIn("alice", PASSWORD)).await;
    let on_node2 = callback.replacen(PUBLIC, &node2.base, 1);
    let landing = browser.open(&on_node2).await;
    let cookie = landing.session.clone().unwrap_or_else(|| panic!("node 2 finished what node 1 started: {landing:?}"));
    let (status, body) = session_user(&node1, &cookie).await;
    assert_eq!((status, body["user"]["role"].as_str()), (StatusCode::OK, Some("webmaster")), "{body}");
    let replay_on_node1 = browser.open(&callback.replacen(PUBLIC, &node1.base, 1)).await;
    assert_eq!(sign_in_problem(&replay_on_node1).as_deref(), Some("expired"), "single use across nodes: {replay_on_node1:?}");
}

#[tokio::test]
async fn an_operator_signs_in_with_the_identity_provider_in_a_real_browser() {
    let sso = SsoApp::start_with(json!({ "alice": account("alice@example.test", "Alice Admin", Some("full-admin")) }), |config| {
        config.sso.name = Some("Test IdP".to_owned());
    })
    .await;
    let driver = Driver::start().await;
    let client = driver.browser().await;
    client.goto(&format!("{}/operator/", sso.app.base)).await.unwrap();
    let button = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#login:not(.hidden) [data-testid=sso-start]")).await.unwrap();
    assert_eq!(button.text().await.unwrap(), "Sign in with Test IdP");
    button.click().await.unwrap();

    // The provider's own login page, on another site.
    let login = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("[data-testid=idp-login]")).await.unwrap();
    assert!(client.current_url().await.unwrap().as_str().starts_with(&sso.idp.issuer));
    login.send_keys("alice").await.unwrap();
    client.find(Locator::Css("[data-testid=idp-password]")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    client.find(Locator::Css("[data-testid=idp-submit]")).await.unwrap().click().await.unwrap();

    // Back on the operator portal, signed in.
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#app:not(.hidden)")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().as_str(), format!("{}/operator/", sso.app.base));
    let who = client.find(Locator::Css("#who")).await.unwrap().text().await.unwrap();
    assert!(who.contains("Alice Admin"), "{who:?}");
    let settings = client.find(Locator::Css("[data-testid=settings-chat-enabled]")).await;
    assert!(settings.is_ok(), "a full admin sees the settings");
    client.close().await.unwrap();
}
