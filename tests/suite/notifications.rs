//! SPEC §13: e-mail notifications of unread and unanswered messages, through a real SMTP
//! server on loopback (tests/common/smtp.rs): one e-mail per unread stretch after the
//! delay, none when read in time, opting out in the portal or by the signed one-click
//! link, retries while the SMTP server is down or refuses, once across a restart and
//! across two nodes, message text escaped in the HTML part, and the operator side.

use crate::common::app::{now, test_config, TestApp};
use crate::common::ca::TestCa;
use crate::common::browser::{click, log_in, screenshot, wait_js, Driver};
use crate::common::cli::run_marketchat;
use crate::common::db::{runs_on, Backend};
use crate::common::graphql::BRIEF_READ;
use crate::common::nodes::Cluster;
use crate::common::session::login;
use crate::common::smtp::{free_port, Mail, SmtpServer};
use crate::common::wait::{poll_until, wait_until};
use marketchat::config::{NotificationFlags, ServerConfig};
use marketchat::domain::ids::SellerId;
use marketchat::domain::users::OperatorRole;
use marketchat::service::accounts::NewUserKind;
use marketchat::store::UserRecord;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// The delay the tests run with (`--notify-after-secs`).
const DELAY_SECS: u64 = 1;
/// Long enough for a second e-mail that must not come to have come: a few delays.
const NOTHING_MORE: Duration = Duration::from_millis(3_000);
const PASSWORD: &str = "password-123";
/// Long enough for a running notifier to have derived stretches (it polls every 200 ms).
const NOTIFIER_WOULD_HAVE_RUN: Duration = Duration::from_millis(1_500);

/// Settings with e-mails through `smtp_port`, links under `public_url`.
fn mail_config(public_url: &str, smtp_port: u16) -> ServerConfig {
    ServerConfig {
        public_url: Some(public_url.parse().unwrap()),
        notifications: NotificationFlags {
            smtp_url: Some(format!("smtp://127.0.0.1:{smtp_port}").parse().unwrap()),
            mail_from: Some("Marketplace <chat@marketchat.test>".parse().unwrap()),
            notify_after_secs: Some(DELAY_SECS),
            notify_retry_base_ms: 100,
            seller_portal_url: Some("https://seller.marketplace.test/messages?tab=chat".parse().unwrap()),
            ..NotificationFlags::default()
        },
        ..test_config()
    }
}

/// A server sending e-mails through `smtp_port`, its public URL its own address.
async fn mail_app(smtp_port: u16) -> TestApp {
    let listener = TestApp::bind().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    spawn_mailing(listener, mail_config(&base, smtp_port)).await
}

/// Starts a server with e-mail notifications, once it answers requests.
async fn spawn_mailing(listener: tokio::net::TcpListener, config: ServerConfig) -> TestApp {
    let app = TestApp::spawn_on(listener, config).await;
    // The server places the notifier's cursor before it serves a request: a message sent
    // right after start is never taken for history.
    assert_eq!(reqwest::get(format!("{}/healthz", app.base)).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM notification_cursor").await, 1, "the cursor is placed before the first request");
    app
}

/// A seller user with a password (and so a portal login).
async fn seller_user(app: &TestApp, seller_id: SellerId, email: &str, name: &str) -> i64 {
    app.state().accounts.create_user(email, Some(name), PASSWORD, NewUserKind::Seller(seller_id)).await.unwrap().id
}

/// An operator user.
async fn operator_user(app: &TestApp, email: &str, role: OperatorRole) -> i64 {
    app.state().accounts.create_user(email, Some(role.as_str()), PASSWORD, NewUserKind::Operator(role)).await.unwrap().id
}

/// A single-use sign-in token for an embedded seller user (§11's `sellerSignInCreate`,
/// called with an admin key as the marketplace's back end does).
async fn sign_in_token(app: &TestApp, seller_gid: &str, email: Option<&str>, external_id: &str) -> String {
    let admin = app.admin_key("marketplace back end").await;
    let sign_in = "mutation($input: SellerSignInCreateInput!) { sellerSignInCreate(input: $input) { token errors { field messages } } }";
    let user = json!({ "externalId": external_id, "name": format!("Embedded {external_id}"), "email": email });
    let payload = app.as_operator(&admin, sign_in, json!({ "input": { "sellerId": seller_gid, "user": user } })).await;
    payload["sellerSignInCreate"]["token"].as_str().unwrap_or_else(|| panic!("{payload}")).to_owned()
}

/// An embedded seller user, made as §11's sign-in makes them: a sign-in token traded for
/// a session by the embed page's request; returns the user's ID and the session.
async fn embedded_user(app: &TestApp, seller_gid: &str, email: Option<&str>, external_id: &str) -> (i64, String) {
    let token = sign_in_token(app, seller_gid, email, external_id).await;
    let (status, body) = TestApp::read(app.post("/embed/session").json(&json!({ "token": token }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["session"].as_str().expect("an embed session").to_owned();
    (app.query_i64(&format!("SELECT id FROM users WHERE external_id = '{external_id}'")).await, session)
}

fn recipients(mails: &[Mail]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

fn mail_to<'a>(mails: &'a [Mail], address: &str) -> &'a Mail {
    mails.iter().find(|m| m.to == [address]).unwrap_or_else(|| panic!("no e-mail to {address}: {mails:#?}"))
}

/// The one-click link of an e-mail, checked to be an RFC 8058 one.
fn one_click_link(mail: &Mail) -> String {
    assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let header = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    header.trim_start_matches('<').trim_end_matches('>').to_owned()
}

#[tokio::test]
async fn a_seller_user_gets_one_email_with_the_newest_five_unread_messages_after_the_delay() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(smtp.port).await;
    let seller = app.seller("Acme").await;
    let other = app.seller("Other shop").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    seller_user(&app, other.id, "olga@other.test", "Olga").await;
    embedded_user(&app, &seller.gid, Some("emma@acme.test"), "mkt-42").await;
    embedded_user(&app, &seller.gid, None, "mkt-43").await;
    let op = app.operator_key("Agent K").await;
    app.as_operator(&op, "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"internal: VIP seller\" }) { errors { field } } }", json!({ "s": seller.gid }))
        .await;
    for i in 1..=7 {
        app.operator_sends(&op, &seller.gid, &format!("Update number {i}")).await;
    }
    let mails = smtp.wait_for(2).await;
    assert_eq!(recipients(&mails), ["ann@acme.test", "emma@acme.test"], "the seller's users with an address, nobody else's");

    let ann = mail_to(&mails, "ann@acme.test");
    assert_eq!(ann.from, "chat@marketchat.test");
    assert_eq!(ann.header("Subject").as_deref(), Some("7 unread messages from the marketplace"));
    assert_eq!(ann.header_count("Message-ID"), 1);
    assert!(ann.header("Date").is_some() && ann.header("MIME-Version").as_deref() == Some("1.0"));
    assert_eq!(ann.header("Auto-Submitted").as_deref(), Some("auto-generated"), "no out-of-office replies");
    assert!(ann.header("Content-Type").unwrap().starts_with("multipart/alternative"));
    let message_id = ann.header("Message-ID").expect("a Message-ID");
    assert!(message_id.starts_with("<notify.") && message_id.ends_with("@marketchat.test>"), "{message_id}");
    let text = ann.part("text/plain").expect("a plain-text part");
    let html = ann.part("text/html").expect("an HTML part");
    for quoted in 3..=7 {
        assert!(text.contains(&format!("> Update number {quoted}")), "the newest five are quoted: {text}");
        assert!(html.contains(&format!("Update number {quoted}")));
    }
    assert!(!text.contains("Update number 2") && !text.contains("Update number 1\n"), "at most five: {text}");
    assert!(text.contains("and 2 more"), "{text}");
    assert!(text.contains(&format!("{}/seller/", app.base)), "a portal user is sent to the seller portal: {text}");
    assert!(!text.contains("VIP") && !html.contains("VIP"), "notes never reach a seller");
    assert!(one_click_link(ann).starts_with(&format!("{}/unsubscribe?u=", app.base)));
    let emma = mail_to(&mails, "emma@acme.test");
    let emma_text = emma.part("text/plain").unwrap();
    assert!(emma_text.contains("https://seller.marketplace.test/messages?tab=chat"), "an embedded user goes to the marketplace's page: {emma_text}");
    assert_ne!(emma.header("Message-ID"), ann.header("Message-ID"));

    // Still unread: more messages are the same stretch, no second e-mail.
    app.operator_sends(&op, &seller.gid, "One more").await;
    assert_eq!(smtp.after(NOTHING_MORE).await.len(), 2, "no second e-mail for the same unread stretch");

    // Reading ends the stretch; the next message starts a new one.
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    app.operator_sends(&op, &seller.gid, "A new question").await;
    let mails = smtp.wait_for(4).await;
    let newest = &mails[2..];
    assert_eq!(recipients(newest), ["ann@acme.test", "emma@acme.test"]);
    assert_eq!(newest[0].header("Subject").as_deref(), Some("1 unread message from the marketplace"));
    let metrics = app.get("/metrics").await.1;
    assert!(metrics.contains("marketchat_notification_emails_total{outcome=\"sent\"} 4"), "{metrics}");
}

#[tokio::test]
async fn no_email_goes_out_when_the_messages_are_read_in_time() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(smtp.port).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Read me quickly").await;
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    assert!(smtp.after(NOTHING_MORE).await.is_empty(), "read within the delay: no e-mail");
    // The same path still works for a message left unread.
    app.operator_sends(&op, &seller.gid, "Left unread").await;
    let mails = smtp.wait_for(1).await;
    let text = mails[0].part("text/plain").unwrap();
    assert!(text.contains("Left unread") && !text.contains("Read me quickly"), "{text}");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM notification_stretches WHERE state = 'ended'").await, 1, "the read stretch ended unsent");
}

#[tokio::test]
async fn users_switch_emails_off_in_the_portal_or_with_the_signed_one_click_link() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(smtp.port).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let bob = seller_user(&app, seller.id, "bob@acme.test", "Bob").await;

    // Ann switches e-mails off in the portal's settings.
    let (status, _, cookie) = login(&app, "ann@acme.test", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();
    let settings = |method: reqwest::Method, body: Option<serde_json::Value>| {
        let mut request = app.request(method, "/account/notifications").header("cookie", &cookie).header("x-requested-with", "marketchat");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    };
    let (status, body) = TestApp::read(settings(reqwest::Method::GET, None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "emailNotifications": true })));
    let without_csrf = app.request(reqwest::Method::PUT, "/account/notifications").header("cookie", &cookie).json(&json!({ "emailNotifications": false }));
    assert_eq!(without_csrf.send().await.unwrap().status(), StatusCode::FORBIDDEN, "a cookie needs the CSRF header");
    let (status, body) = TestApp::read(settings(reqwest::Method::PUT, Some(json!({ "emailNotifications": false })))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "emailNotifications": false })));
    let (_, body) = TestApp::read(settings(reqwest::Method::GET, None)).await;
    assert_eq!(body, json!({ "emailNotifications": false }));
    let anonymous = app.request(reqwest::Method::GET, "/account/notifications").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Hello").await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(recipients(&mails), ["bob@acme.test"], "Ann opted out");

    // Bob uses the e-mail's one-click link; a changed link is refused.
    let link = one_click_link(&mails[0]);
    let path = link.strip_prefix(&app.base).expect("a link to this server");
    assert!(path.starts_with(&format!("/unsubscribe?u={bob}&t=")), "{path}");
    let mut tampered = path.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let other_user = path.replacen(&format!("u={bob}"), &format!("u={}", bob - 1), 1);
    for forged in [tampered.as_str(), other_user.as_str(), "/unsubscribe?u=1", "/unsubscribe"] {
        let response = app.post(forged).body("List-Unsubscribe=One-Click").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{forged} is refused");
        assert_eq!(app.get(forged).await.0, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM notification_opt_outs").await, 1, "only Ann so far");
    let (status, page) = app.get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<form method=\"post\"") && page.contains("data-testid=\"unsubscribe-confirm\""), "GET asks first: {page}");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM notification_opt_outs").await, 1, "GET changes nothing");
    let response = app
        .post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "one click, no login");
    assert_eq!(app.query_i64(&format!("SELECT COUNT(*) FROM notification_opt_outs WHERE user_id = {bob}")).await, 1);

    // Nobody is left: the next stretch is skipped.
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    app.operator_sends(&op, &seller.gid, "Anyone?").await;
    let skipped = wait_until(Duration::from_secs(10), || async { app.query_i64("SELECT COUNT(*) FROM notification_stretches WHERE state = 'skipped'").await == 1 }).await;
    assert!(skipped, "the stretch came due with nobody to tell");
    assert_eq!(smtp.received().len(), 1);

    // Switching back on in the portal.
    let (status, _) = TestApp::read(settings(reqwest::Method::PUT, Some(json!({ "emailNotifications": true })))).await;
    assert_eq!(status, StatusCode::OK);
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    app.operator_sends(&op, &seller.gid, "Welcome back").await;
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails[1].to, ["ann@acme.test"]);
}

#[tokio::test]
async fn an_smtp_server_down_then_refusing_then_up_gets_the_email_once() {
    let port = free_port().await;
    let app = mail_app(port).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Are you there?").await;
    let failed = "SELECT COUNT(*) FROM notification_emails WHERE sent_at IS NULL AND attempts >= 2 AND last_error IS NOT NULL";
    assert!(wait_until(Duration::from_secs(15), || async { app.query_i64(failed).await == 1 }).await, "attempts fail while the server is down");

    let smtp = SmtpServer::start_on(port).await;
    smtp.refuse(true);
    let refused = wait_until(Duration::from_secs(15), || async {
        db_text(&app, "SELECT COALESCE(MAX(last_error), '') FROM notification_emails").await.contains("451")
    })
    .await;
    assert!(refused, "a 451 is a failed attempt, retried");
    assert!(smtp.received().is_empty());

    smtp.refuse(false);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(smtp.after(NOTHING_MORE).await.len(), 1, "delivered once");
    let metrics = app.get("/metrics").await.1;
    assert!(metrics.contains("marketchat_notification_emails_total{outcome=\"sent\"} 1"), "{metrics}");
    assert!(metrics.contains("marketchat_notification_emails_total{outcome=\"failed\"}"), "{metrics}");

    let listing = run_marketchat(&app.database_url, &["notifications"], &[], None);
    let listing = String::from_utf8(listing.stdout).unwrap();
    let line = listing.lines().find(|line| line.contains("ann@acme.test")).unwrap_or_else(|| panic!("{listing}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!((fields[1], fields[2], fields[3]), ("sent", "seller", seller.gid.as_str()), "{line}");
    assert!(fields[5].parse::<i64>().unwrap() >= 3, "the failed attempts are counted: {line}");
}

/// The first column of the first row, as text.
async fn db_text(app: &TestApp, query: &str) -> String {
    let rows: Vec<(String,)> = crate::common::db::fetch_rows(&app.database_url, query).await;
    rows.into_iter().next().map(|(text,)| text).unwrap_or_default()
}

#[tokio::test]
async fn smtps_is_verified_against_the_trusted_roots_and_the_ca_file() {
    let ca = TestCa::new("marketchat SMTP test CA");
    let smtp = SmtpServer::start_tls(&ca).await;
    let listener = TestApp::bind().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = mail_config(&base, smtp.port);
    config.notifications.smtp_url = Some(format!("smtps://127.0.0.1:{}", smtp.port).parse().unwrap());
    let mut app = spawn_mailing(listener, config.clone()).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Over TLS").await;
    let refused = wait_until(Duration::from_secs(15), || async {
        db_text(&app, "SELECT COALESCE(MAX(last_error), '') FROM notification_emails").await.to_lowercase().contains("certificate")
    })
    .await;
    assert!(refused, "a certificate from an unknown CA is refused: {}", db_text(&app, "SELECT COALESCE(MAX(last_error), '') FROM notification_emails").await);
    assert!(smtp.received().is_empty());

    let dir = tempfile::tempdir().unwrap();
    config.webhook_ca_file = Some(ca.write_pem(dir.path()));
    app.restart_with(config).await;
    let mails = smtp.wait_for(1).await;
    assert!(mails[0].part("text/plain").unwrap().contains("Over TLS"));
}

#[tokio::test]
async fn a_restart_between_due_and_sent_sends_the_email_once() {
    let port = free_port().await;
    let mut app = mail_app(port).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Before the restart").await;
    let pending = "SELECT COUNT(*) FROM notification_emails WHERE sent_at IS NULL AND attempts >= 1";
    assert!(wait_until(Duration::from_secs(15), || async { app.query_i64(pending).await == 1 }).await, "due and written, not yet sent");
    let listing = String::from_utf8(run_marketchat(&app.database_url, &["notifications"], &[], None).stdout).unwrap();
    assert!(listing.lines().any(|line| line.contains("\tpending\tseller\t") && line.contains("ann@acme.test")), "{listing}");

    let mut smtp = None;
    app.restart(async { smtp = Some(SmtpServer::start_on(port).await) }).await;
    let smtp = smtp.unwrap();
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].part("text/plain").unwrap().matches("Before the restart").count(), 1);
    assert_eq!(smtp.after(NOTHING_MORE).await.len(), 1, "sent once across the restart");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM notification_emails").await, 1);
}

#[tokio::test]
async fn two_nodes_on_one_database_send_each_email_once() {
    if !runs_on(Backend::Postgres, "several nodes share one database only on PostgreSQL (a SQLite file serves one node)") {
        return;
    }
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let env = [
        ("MARKETCHAT_SMTP_URL", url.as_str()),
        ("MARKETCHAT_MAIL_FROM", "chat@marketchat.test"),
        ("MARKETCHAT_PUBLIC_URL", "http://chat.marketchat.test"),
        ("MARKETCHAT_NOTIFY_AFTER_SECS", "1"),
    ];
    let cluster = Cluster::start_with(2, &env).await;
    let (first, second) = (cluster.app(0), cluster.app(1));
    let op = first.operator_key("ops").await;
    let mut expected = Vec::new();
    for i in 0..6 {
        let seller = first.seller(&format!("Shop {i}")).await;
        for user in 0..2 {
            let email = format!("user{user}@shop{i}.test");
            let record = UserRecord {
                id: 0,
                email: Some(email.clone()),
                name: format!("User {user}"),
                password_hash: None,
                seller_id: Some(seller.id),
                role: None,
                disabled_at: None,
                external_id: None,
                identity: None,
            };
            cluster.store.create_user(&record, now()).await.unwrap();
            expected.push(email);
        }
        let node = if i % 2 == 0 { &first } else { &second };
        node.operator_sends(&op, &seller.gid, &format!("Hello shop {i}")).await;
    }
    expected.sort();
    smtp.wait_for(expected.len()).await;
    let mails = smtp.after(NOTHING_MORE).await;
    assert_eq!(recipients(&mails), expected, "each user once, whichever node sent it");
    let ids: std::collections::HashSet<_> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), mails.len());
}

#[tokio::test]
async fn html_in_message_text_is_escaped_in_the_html_part() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(smtp.port).await;
    let seller = app.seller("Acme <b>& Co</b>").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann <i>").await;
    let op = app.operator_key("ops").await;
    let attack = "<img src=x onerror=alert(1)><script>alert(2)</script>\n.a line starting with a dot\n<a href=\"javascript:alert(3)\">click</a> & more";
    app.operator_sends(&op, &seller.gid, attack).await;
    let mails = smtp.wait_for(1).await;
    let html = mails[0].part("text/html").unwrap();
    for raw in ["<img", "<script>", "<a href=\"javascript", "<i>"] {
        assert!(!html.contains(raw), "{raw} is escaped: {html}");
    }
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"), "{html}");
    assert!(html.contains("&lt;a href=&quot;javascript:alert(3)&quot;&gt;click&lt;/a&gt; &amp; more"));
    let text = mails[0].part("text/plain").unwrap();
    assert!(text.contains("> <img src=x onerror=alert(1)><script>alert(2)</script>"), "the plain text keeps the text as written: {text}");
    assert!(text.contains("> .a line starting with a dot"), "{text}");

    // How the HTML part looks in a mail client (docs/screenshots/email.png).
    let dir = tempfile::tempdir().unwrap();
    let nice = {
        app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
        for text in ["Hi Ann, your payout for November has been scheduled.", "Could you confirm the bank details on file?\nWe changed the form last week.", "Thanks! <b>Tags</b> & symbols stay as written."] {
            app.operator_sends(&op, &seller.gid, text).await;
        }
        smtp.wait_for(2).await[1].part("text/html").unwrap()
    };
    let file = dir.path().join("email.html");
    std::fs::write(&file, nice).unwrap();
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("file://{}", file.display())).await.unwrap();
    let shown = browser.find(fantoccini::Locator::Css("body")).await.unwrap().text().await.unwrap();
    assert!(shown.contains("<b>Tags</b> & symbols stay as written."), "shown as text: {shown}");
    assert!(shown.contains("Read and reply"), "{shown}");
    screenshot(&browser, "email.png").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn seller_messages_awaiting_a_reply_go_to_the_assignee_or_every_chatting_agent() {
    let smtp = SmtpServer::start().await;
    let app = mail_app(smtp.port).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    operator_user(&app, "kim@ops.test", OperatorRole::CustomerSupport).await;
    let lee = operator_user(&app, "lee@ops.test", OperatorRole::Marketing).await;
    operator_user(&app, "viv@ops.test", OperatorRole::Viewer).await;
    let out = operator_user(&app, "out@ops.test", OperatorRole::FullAdmin).await;
    app.store.set_opted_out(out, true, now()).await.unwrap();
    let op = app.operator_key("ops").await;

    app.seller_sends(&seller.key, "Where is my payout?").await;
    let mails = smtp.wait_for(2).await;
    assert_eq!(recipients(&mails), ["kim@ops.test", "lee@ops.test"], "unassigned: every agent who may chat and did not opt out");
    let kim = mail_to(&mails, "kim@ops.test");
    assert_eq!(kim.header("Subject").as_deref(), Some("Acme is waiting for a reply"));
    assert!(kim.part("text/plain").unwrap().contains(&format!("{}/operator/", app.base)));
    assert!(kim.part("text/html").unwrap().contains("Where is my payout?"));

    // A reply ends the wait; assigned, only the assignee hears of the next one.
    app.operator_sends(&op, &seller.gid, "Looking into it").await;
    let assign = "mutation($s: ID!, $a: ID) { chatAssign(input: { sellerId: $s, assigneeId: $a }) { errors { field messages } } }";
    let lee_gid = app.as_operator(&op, "{ operatorUsers { id email } }", json!({}))
        .await["operatorUsers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "lee@ops.test")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assigned = app.as_operator(&op, assign, json!({ "s": seller.gid, "a": lee_gid })).await;
    assert_eq!(assigned["chatAssign"]["errors"], json!(null), "{assigned}");
    app.seller_sends(&seller.key, "Any news?").await;
    let mails = poll_until(Duration::from_secs(15), || async { smtp.received() }, |m| m.iter().filter(|m| m.to[0].ends_with("@ops.test")).count() >= 3).await;
    let operator_mails: Vec<Mail> = mails.into_iter().filter(|m| m.to[0].ends_with("@ops.test")).collect();
    assert_eq!(operator_mails.len(), 3, "{operator_mails:#?}");
    assert_eq!(operator_mails[2].to, ["lee@ops.test"], "the assignee only");
    assert_eq!(lee, app.query_i64("SELECT assignee_id FROM chats").await);
    let after = smtp.after(NOTHING_MORE).await;
    assert_eq!(after.iter().filter(|m| m.to[0].ends_with("@ops.test")).count(), 3, "one e-mail per wait");

    // Resolved without a reply: no reminder; the seller writing again reopens it, and the
    // new wait is told of.
    app.operator_sends(&op, &seller.gid, "Paid today").await;
    app.seller_sends(&seller.key, "Thanks, bye").await;
    let resolve = "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { errors { field } } }";
    app.as_operator(&op, resolve, json!({ "s": seller.gid })).await;
    let after = smtp.after(NOTHING_MORE).await;
    assert_eq!(after.iter().filter(|m| m.to[0].ends_with("@ops.test")).count(), 3, "a resolved chat sends no reminder");
    app.seller_sends(&seller.key, "Actually, one more thing").await;
    let mails = poll_until(Duration::from_secs(15), || async { smtp.received() }, |m| m.iter().filter(|m| m.to[0].ends_with("@ops.test")).count() >= 4).await;
    let newest = mails.iter().rfind(|m| m.to[0].ends_with("@ops.test")).unwrap();
    assert_eq!(newest.to, ["lee@ops.test"]);
    let text = newest.part("text/plain").unwrap();
    assert!(text.contains("Actually, one more thing") && text.contains("Thanks, bye"), "the whole wait is quoted: {text}");
}

#[tokio::test]
async fn both_portals_and_the_embedded_chat_have_an_email_notifications_checkbox() {
    let app = mail_app(free_port().await).await;
    let seller = app.seller("Acme").await;
    let ann = seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let kim = operator_user(&app, "kim@ops.test", OperatorRole::CustomerSupport).await;
    let driver = Driver::start().await;
    for (portal, email, user_id) in [("seller", "ann@acme.test", ann), ("operator", "kim@ops.test", kim)] {
        let browser = driver.browser().await;
        log_in(&browser, &app.base, portal, email).await;
        if portal == "operator" {
            browser.goto(&format!("{}/operator/#settings", app.base)).await.unwrap();
        }
        let checkbox = "[data-testid=settings-email-notifications]";
        let shows = |checked: bool| format!("const box = document.querySelector('{checkbox}'); return !box.disabled && box.checked === {checked}");
        wait_js(&browser, &shows(true), 10).await;
        click(&browser, checkbox).await;
        let off = wait_until(Duration::from_secs(10), || async { app.store.opted_out(user_id).await.unwrap() }).await;
        assert!(off, "unticking switches {portal} e-mails off");
        browser.refresh().await.unwrap();
        wait_js(&browser, &shows(false), 10).await;
        click(&browser, checkbox).await;
        let on = wait_until(Duration::from_secs(10), || async { !app.store.opted_out(user_id).await.unwrap() }).await;
        assert!(on, "ticking switches {portal} e-mails on again");
        browser.close().await.unwrap();
    }
    // The embedded chat too (its user exists once the page has signed in).
    let token = sign_in_token(&app, &seller.gid, Some("emma@acme.test"), "mkt-9").await;
    let browser = driver.browser().await;
    browser.goto(&format!("{}/embed/seller#token={token}", app.base)).await.unwrap();
    let checkbox = "[data-testid=settings-email-notifications]";
    wait_js(&browser, &format!("const box = document.querySelector('{checkbox}'); return !box.disabled && box.checked === true"), 10).await;
    click(&browser, checkbox).await;
    let emma = app.query_i64("SELECT id FROM users WHERE external_id = 'mkt-9'").await;
    let off = wait_until(Duration::from_secs(10), || async { app.store.opted_out(emma).await.unwrap() }).await;
    assert!(off, "unticking in the embedded chat switches its user's e-mails off");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("refused.db").display());
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let output = run_marketchat(&database, &args, &[], None);
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = serve(&["--smtp-url", "smtp://127.0.0.1:2525", "--public-url", "https://chat.example.com"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--smtp-url needs --mail-from"), "{stderr}");
    let (code, stderr) = serve(&["--smtp-url", "smtp://127.0.0.1:2525", "--mail-from", "chat@example.com"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("needs --public-url"), "{stderr}");
    for (flag, value) in [("--smtp-url", "http://mail.example.com"), ("--smtp-url", "smtps://mail.example.com?starttls=true"), ("--mail-from", "not an address"), ("--notify-after-mins", "0")] {
        let (code, stderr) = serve(&[flag, value]);
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.starts_with("error:") && stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

#[tokio::test]
async fn the_embedded_chat_session_switches_its_users_emails_and_api_keys_have_none() {
    let app = mail_app(free_port().await).await;
    let seller = app.seller("Acme").await;
    let (emma, session) = embedded_user(&app, &seller.gid, Some("emma@acme.test"), "mkt-7").await;
    let put = |bearer: &str| {
        app.request(reqwest::Method::PUT, "/account/notifications").bearer_auth(bearer).json(&json!({ "emailNotifications": false }))
    };
    let (status, body) = TestApp::read(put(&session)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "emailNotifications": false })), "a bearer session needs no CSRF header");
    assert!(app.store.opted_out(emma).await.unwrap());
    let (status, _) = TestApp::read(app.request(reqwest::Method::GET, "/account/notifications").bearer_auth(&session)).await;
    assert_eq!(status, StatusCode::OK);
    let response = put(&seller.key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "an API key has no settings");
}

#[tokio::test]
async fn without_an_smtp_url_nothing_is_queued() {
    let app = TestApp::spawn_with(ServerConfig { public_url: Some("https://chat.example.com".parse().unwrap()), ..test_config() }).await;
    let seller = app.seller("Acme").await;
    seller_user(&app, seller.id, "ann@acme.test", "Ann").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "Nobody e-mails this").await;
    app.seller_sends(&seller.key, "Nor this").await;
    tokio::time::sleep(NOTIFIER_WOULD_HAVE_RUN).await;
    for table in ["notification_cursor", "notification_stretches", "notification_emails"] {
        assert_eq!(app.query_i64(&format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table} stays empty");
    }
}
