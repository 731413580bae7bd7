//! Real headless Chromium for the page tests (Debian's chromium + chromedriver), driven
//! over WebDriver with fantoccini, and the waits and clicks those tests share.

use crate::common::app::TestApp;
use crate::common::requirements::require_chromium;
use crate::common::wait::{poll_until, wait_until};
use fantoccini::{Client, ClientBuilder, Locator};
use crate::common::app::TestSeller;
use marketchat::domain::ids::SellerId;
use marketchat::domain::Principal;
use marketchat::service::{ChatService, Clock};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver process; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    _profiles: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port.
    pub async fn start() -> Self {
        require_chromium();
        // fantoccini's TLS stack and ours bring two rustls providers: pick one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (.ci/run installs Debian's chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        wait_until(Duration::from_secs(5), || async { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        Self { child, url, _profiles: tempfile::tempdir().unwrap() }
    }

    /// A fresh headless Chromium window.
    pub async fn browser(&self) -> Client {
        let profile = tempfile::tempdir_in(self._profiles.path()).unwrap().keep();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1200,800", format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        ClientBuilder::rustls().expect("tls").capabilities(capabilities).connect(&self.url).await.expect("start Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every Chromium process of our profiles, even when a test failed midway (they
        // outlive chromedriver otherwise).
        let _ = Command::new("pkill").arg("-9").arg("-f").arg(self._profiles.path()).status();
    }
}

/// How long a page gets to show what a test waits for (a loaded CI machine runs many
/// browsers at once; the waits return as soon as the page shows it).
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// Waits (at most `seconds`) until `script` returns true in the page.
pub async fn wait_js(client: &Client, script: &str, seconds: u64) {
    let held = wait_until(Duration::from_secs(seconds), || async { client.execute(script, vec![]).await.ok() == Some(json!(true)) }).await;
    assert!(held, "never true: {script}");
}

/// Waits until no animation runs in the page (the chat window has finished sliding in).
pub async fn wait_for_animations(client: &Client) {
    wait_js(client, "return document.getAnimations().length === 0", PAGE_WAIT.as_secs()).await;
}

/// `script`'s result in the page, as a boolean.
pub async fn js_bool(client: &Client, script: &str) -> bool {
    client.execute(script, vec![]).await.unwrap() == json!(true)
}

/// The text of the first element matching `css` whose text satisfies `check`.
pub async fn first_matching(client: &Client, css: &str, check: &impl Fn(&str) -> bool) -> Option<String> {
    for element in client.find_all(Locator::Css(css)).await.ok()? {
        if let Ok(text) = element.text().await {
            if check(&text) {
                return Some(text);
            }
        }
    }
    None
}

/// Waits (at most [`PAGE_WAIT`]) until `css` matches an element whose text satisfies `check`.
pub async fn wait_for(client: &Client, css: &str, check: impl Fn(&str) -> bool) -> String {
    let matched = poll_until(PAGE_WAIT, || first_matching(client, css, &check), Option::is_some).await;
    match matched {
        Some(text) => text,
        None => {
            let mut shown = Vec::new();
            for element in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
                shown.push(element.text().await.unwrap_or_default());
            }
            panic!("{css} never matched (shown: {shown:?})")
        }
    }
}

/// Waits until the attribute `name` of `css` equals `value`.
pub async fn wait_for_attr(client: &Client, css: &str, name: &str, value: &str) {
    let attribute = || async { client.find(Locator::Css(css)).await.ok()?.attr(name).await.ok().flatten() };
    let held = poll_until(PAGE_WAIT, attribute, |shown| shown.as_deref() == Some(value)).await;
    assert_eq!(held.as_deref(), Some(value), "{css}[{name}] never became {value:?}");
}

/// Clicks `css`, finding it again when the page re-rendered it in between (a chat list
/// refreshed by a live event) or it cannot take the click yet.
pub async fn click(client: &Client, css: &str) {
    let clicked = || async {
        let Ok(element) = client.find(Locator::Css(css)).await else { return false };
        element.click().await.is_ok()
    };
    assert!(wait_until(PAGE_WAIT, clicked).await, "{css} never took a click");
}

/// Types `text` into the message input and presses Enter.
pub async fn type_and_enter(client: &Client, text: &str) {
    let input = client.find(Locator::Css("[data-testid=message-input]")).await.unwrap();
    input.send_keys(text).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter
}

/// Saves a screenshot as `name` in `MARKETCHAT_SCREENSHOTS` (a directory), when it is set.
pub async fn screenshot(client: &Client, name: &str) {
    // Set MARKETCHAT_SCREENSHOTS=docs/screenshots to refresh the README's pictures.
    if let Ok(dir) = std::env::var("MARKETCHAT_SCREENSHOTS") {
        wait_for_animations(client).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

/// Restarts the server under a page that `client` shows, and while it is down (once the
/// page says the connection is lost) stores an operator message `text` in `seller_id`'s
/// thread: what the page must then show when its subscription resumes.
pub async fn restart_sending_while_down(app: &mut TestApp, client: &Client, seller_id: SellerId, text: &'static str) {
    let (store, watching) = (app.store.clone(), client.clone());
    app.restart(async move {
        wait_js(&watching, "return !document.querySelector('[data-testid=connection-lost]').hidden", 10).await;
        let service = ChatService::new(store, Default::default(), Clock::system());
        let operator = Principal::Operator { label: None, role: None, admin_key: false, user_id: None };
        service.send_message(&operator, seller_id, text, None).await.unwrap();
    })
    .await;
}

/// Logs in to `portal` ("seller" or "operator") as `email` with the tests' password.
pub async fn log_in(client: &Client, base: &str, portal: &str, email: &str) {
    client.goto(&format!("{base}/{portal}/")).await.unwrap();
    client.wait().for_element(Locator::Css("[data-testid=login-email]")).await.unwrap();
    client.find(Locator::Css("[data-testid=login-email]")).await.unwrap().send_keys(email).await.unwrap();
    client.find(Locator::Css("[data-testid=login-password]")).await.unwrap().send_keys("password-123").await.unwrap();
    client.find(Locator::Css("[data-testid=login-submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("#app:not(.hidden)")).await.unwrap();
}

/// The operator portal's chat-list entry of `seller`, once it shows `name`.
pub async fn chat_list_item(client: &Client, seller: &TestSeller, name: &str) -> String {
    let item = format!("[data-testid=chat-list-item][data-seller-id='{}']", seller.gid);
    wait_for(client, &item, |t| t.contains(name)).await;
    item
}

/// Waits for the seller's chat in the list, then opens it.
pub async fn open_chat(client: &Client, seller: &TestSeller, name: &str) {
    let item = chat_list_item(client, seller, name).await;
    click(client, &item).await;
}

/// Whether `css` lies wholly inside the window and the page does not scroll sideways.
pub async fn fits_the_window(client: &Client, css: &str) -> bool {
    let script = "const box = document.querySelector(arguments[0]).getBoundingClientRect();
        return document.documentElement.scrollWidth <= window.innerWidth
            && box.left >= 0 && box.right <= window.innerWidth && box.top >= 0 && box.bottom <= window.innerHeight && box.width > 0;";
    client.execute(script, vec![json!(css)]).await.unwrap().as_bool().unwrap()
}

/// Asserts that `css` (first scrolled into view, if `scroll_into_view`) comes to lie
/// wholly inside the window without sideways scrolling once the page settles (what loads
/// late, such as the thread or the chat list, may move it meanwhile); a failure shows
/// where it was.
pub async fn assert_comes_to_fit(client: &Client, css: &str, scroll_into_view: bool, what: &str) {
    let fits = || async {
        if scroll_into_view {
            client.execute("document.querySelector(arguments[0]).scrollIntoView({ block: 'nearest' })", vec![json!(css)]).await.unwrap();
        }
        fits_the_window(client, css).await
    };
    if !wait_until(PAGE_WAIT, fits).await {
        let script = "const box = document.querySelector(arguments[0]).getBoundingClientRect();
            return JSON.stringify({ box, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, innerHeight: window.innerHeight });";
        let shown = client.execute(script, vec![json!(css)]).await.unwrap();
        panic!("{what}: {css} does not fit the window: {shown}");
    }
}

/// Scrolls the chat list to its bottom, as an agent looking for older chats does.
pub async fn scroll_chat_list_down(client: &Client) {
    let script = "const list = document.querySelector('[data-testid=chat-list]'); list.scrollTop = list.scrollHeight; list.dispatchEvent(new Event('scroll'));";
    client.execute(script, vec![]).await.unwrap();
}

/// Types `text` into the chat list's search box (after clearing it).
pub async fn search_for(client: &Client, text: &str) {
    let search = client.find(Locator::Css("[data-testid=chat-search]")).await.unwrap();
    search.clear().await.unwrap();
    search.send_keys(text).await.unwrap();
}

/// Sizes the window so that the page itself (the viewport) is `width` x `height`.
pub async fn set_viewport(client: &Client, width: u32, height: u32) {
    client.set_window_size(width, height).await.unwrap();
    let chrome = client.execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![]).await.unwrap();
    let (dw, dh) = (chrome[0].as_u64().unwrap_or(0) as u32, chrome[1].as_u64().unwrap_or(0) as u32);
    client.set_window_size(width + dw, height + dh).await.unwrap();
}
