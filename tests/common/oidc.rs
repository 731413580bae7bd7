//! A real OpenID Connect provider for the sign-on tests: panva's `oidc-provider` from the
//! npm registry, run with node from tests/oidc (see provider.mjs there), on a free loopback
//! port, stopped when dropped. Its issuer is `http://localhost:PORT`, so to a browser it is
//! another site than the server under test at 127.0.0.1 (as a real provider is), and
//! `SameSite` rules apply to the redirects between them as they would in production.
//!
//! [`Browserless`] drives a sign-in the way a browser without JavaScript would: a cookie
//! jar, the provider's own login form, and every redirect followed by hand, so a test can
//! stop at the callback, replay it, or take it to another browser or node.

use crate::common::app::{test_config, TestApp};
use crate::common::requirements::{oidc_provider_dir, require_oidc_provider};
use marketchat::config::{ServerConfig, SsoFlags};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The client marketchat is registered as at the test provider.
pub const CLIENT_ID: &str = "marketchat-test";
/// Its secret.
pub const CLIENT_SECRET: &str = "test-client-secret-that-is-long-enough-0123456789";
/// The claim the test provider puts the role in.
pub const ROLE_CLAIM: &str = "marketchat_role";
/// The password of every test account.
pub const PASSWORD: &str = "idp-password-1";
/// Where the provider sends people back, under a server's base URL.
pub const CALLBACK: &str = "/operator/sso/callback";

/// An account at the test provider: its login is its subject (`sub`).
pub fn account(email: &str, name: &str, role: Option<&str>) -> Value {
    let mut claims = json!({ "email": email, "email_verified": true, "name": name });
    if let Some(role) = role {
        claims[ROLE_CLAIM] = json!(role);
    }
    json!({ "password": PASSWORD, "claims": claims })
}

/// The test provider's process (killed on drop) and how to reach it.
pub struct IdentityProvider {
    child: tokio::process::Child,
    /// `http://localhost:PORT`, exactly as its ID tokens' `iss`.
    pub issuer: String,
    control: reqwest::Client,
}

impl IdentityProvider {
    /// Starts a provider with one client (ours, redirecting to `redirect_uris`) and
    /// `accounts` (`{ login: account(…) }`), and waits until it answers.
    pub async fn start(redirect_uris: &[String], accounts: Value) -> Self {
        require_oidc_provider();
        let config = json!({
            "host": "localhost",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "redirectUris": redirect_uris,
            "claims": [ROLE_CLAIM],
            "accounts": accounts,
        });
        let dir = oidc_provider_dir();
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("provider.mjs"))
            .arg(config.to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true)
            .spawn()
            .expect("start the test identity provider (node)");
        let stdout = child.stdout.take().expect("piped stdout");
        let first = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line()).await;
        let line = first.expect("the provider starts within 30 s").expect("read its stdout").expect("it prints where it listens");
        let issuer = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
        Self { child, issuer, control: reqwest::Client::new() }
    }

    /// Makes the token endpoint hand out broken ID tokens from now on (`none` stops it);
    /// see provider.mjs for the modes.
    pub async fn tamper(&self, mode: &str) {
        let response = self.control.post(format!("{}/_test/tamper", self.issuer)).body(mode.to_owned()).send().await.expect("tamper");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// Replaces the claims of account `login`.
    pub async fn set_claims(&self, login: &str, claims: Value) {
        let url = format!("{}/_test/accounts/{login}", self.issuer);
        let response = self.control.post(url).body(claims.to_string()).send().await.expect("set claims");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The sign-on flags for a server at `public_url` using `issuer`.
pub fn sso_flags(issuer: &str) -> SsoFlags {
    SsoFlags {
        issuer: Some(issuer.to_owned()),
        client_id: Some(CLIENT_ID.to_owned()),
        client_secret: Some(CLIENT_SECRET.to_owned()),
        role_claim: ROLE_CLAIM.to_owned(),
        ..SsoFlags::default()
    }
}

/// A server with single sign-on through its own test provider.
pub struct SsoApp {
    /// The server.
    pub app: TestApp,
    /// Its identity provider.
    pub idp: IdentityProvider,
}

impl SsoApp {
    /// A server whose provider has `accounts`.
    pub async fn start(accounts: Value) -> Self {
        Self::start_with(accounts, |_| {}).await
    }

    /// The same, with the settings changed by `adjust` first.
    pub async fn start_with(accounts: Value, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let listener = TestApp::bind().await;
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let idp = IdentityProvider::start(&[format!("{base}{CALLBACK}")], accounts).await;
        let mut config = ServerConfig { public_url: Some(base.parse().expect("url")), sso: sso_flags(&idp.issuer), ..test_config() };
        adjust(&mut config);
        let app = TestApp::spawn_on(listener, config).await;
        Self { app, idp }
    }
}

/// Where a request ended: its status, `Location` and the session cookie it set.
#[derive(Debug)]
pub struct Landing {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Location` header (empty when none).
    pub location: String,
    /// `marketchat_session=TOKEN` when the response started a session.
    pub session: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
}

/// What the person does on the provider's login page.
#[derive(Debug, Clone, Copy)]
pub enum AtProvider<'a> {
    /// Signs in as `login` with `password`.
    SignIn(&'a str, &'a str),
    /// Presses "Cancel".
    Cancel,
}

/// A browser without JavaScript: one cookie jar, redirects followed by hand.
pub struct Browserless {
    client: reqwest::Client,
}

impl Default for Browserless {
    fn default() -> Self {
        Self::new()
    }
}

impl Browserless {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder().cookie_provider(jar).redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { client }
    }

    /// GETs `url` without following a redirect.
    pub async fn open(&self, url: &str) -> Landing {
        let response = self.client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let set_cookies: Vec<String> =
            response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
        let session = set_cookies
            .iter()
            .filter_map(|cookie| cookie.split(';').next())
            .find(|pair| pair.starts_with("marketchat_session=") && pair.len() > "marketchat_session=".len())
            .map(str::to_owned);
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Landing { status: response.status(), location, session, set_cookies }
    }

    /// The body of `url` (GET, no redirects followed).
    pub async fn page(&self, url: &str) -> (StatusCode, String) {
        let response = self.client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (response.status(), response.text().await.expect("body"))
    }

    /// Starts a sign-in at `base` and goes through the provider's pages as `person`
    /// does, up to (not into) the callback; returns the callback URL the provider sent
    /// the browser to.
    pub async fn through_provider(&self, base: &str, person: AtProvider<'_>) -> String {
        let start = self.open(&format!("{base}/operator/sso/start")).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{start:?}");
        let mut url = start.location;
        for _ in 0..12 {
            if url.contains(CALLBACK) {
                return url;
            }
            let response = self.client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            if response.status().is_redirection() {
                url = resolve(&url, response.headers().get("location").and_then(|v| v.to_str().ok()).expect("location"));
                continue;
            }
            let page = response.text().await.expect("page");
            let Some(action) = attribute_after(&page, "<form", "action") else { panic!("no form at {url}: {page}") };
            let next = match person {
                AtProvider::SignIn(login, password) => {
                    let form = [("login", login), ("password", password)];
                    self.client.post(resolve(&url, &action)).form(&form).send().await.expect("submit the login form")
                }
                AtProvider::Cancel => {
                    let cancel = attribute_after(&page, "data-testid=\"idp-cancel\"", "href")
                        .or_else(|| attribute_after(&page, "<a ", "href"))
                        .expect("a cancel link");
                    self.client.get(resolve(&url, &cancel)).send().await.expect("cancel")
                }
            };
            let status = next.status();
            let Some(location) = next.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned) else {
                panic!("the provider did not redirect ({status}): {}", next.text().await.unwrap_or_default())
            };
            url = resolve(&url, &location);
        }
        panic!("the provider never sent the browser back (last at {url})")
    }

    /// A whole sign-in at `base` as `login`: where the callback sent the browser.
    pub async fn sign_in(&self, base: &str, login: &str) -> Landing {
        let callback = self.through_provider(base, AtProvider::SignIn(login, PASSWORD)).await;
        self.open(&callback).await
    }
}

/// `reference` resolved against `base`.
fn resolve(base: &str, reference: &str) -> String {
    url::Url::parse(base).and_then(|base| base.join(reference)).map(String::from).unwrap_or_else(|_| reference.to_owned())
}

/// The value of attribute `name` in the first tag at or after `marker` (HTML entities
/// for `&` decoded).
fn attribute_after(page: &str, marker: &str, name: &str) -> Option<String> {
    let at = page.find(marker)?;
    let tag_start = page[..=at].rfind('<').unwrap_or(at);
    let tag_end = tag_start + page[tag_start..].find('>')?;
    let tag = &page[tag_start..tag_end];
    let value_at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let value = &tag[value_at..value_at + tag[value_at..].find('"')?];
    Some(value.replace("&amp;", "&").replace("&#38;", "&"))
}

/// The error code a failed sign-in sent the browser back with.
pub fn sign_in_problem(landing: &Landing) -> Option<String> {
    let url = url::Url::parse(&format!("http://x{}", landing.location)).ok()?;
    url.query_pairs().find(|(name, _)| name == "sso_error").map(|(_, code)| code.into_owned())
}
