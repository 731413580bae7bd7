//! SPEC §7: both portals in real headless Chromium (Debian's chromium + chromedriver),
//! driven over WebDriver with fantoccini against the real server.

use crate::common::app::{TestApp, TestSeller};
use crate::common::browser::{
    assert_comes_to_fit, chat_list_item, click, fits_the_window, js_bool, log_in, open_chat, restart_sending_while_down, screenshot, scroll_chat_list_down, search_for, type_and_enter, wait_for,
    wait_for_animations, wait_for_attr, wait_js, Driver, PAGE_WAIT,
};
use crate::common::wait::wait_until;
use fantoccini::{Client, Locator};
use marketchat::service::accounts::{Accounts, NewUserKind};
use marketchat::domain::users::OperatorRole;
use serde_json::json;
use std::time::Duration;

/// Opens the seller's chat window. The page wires its message button up once its first
/// requests are answered, and a click before that does nothing: click until it opens.
async fn open_seller_window(browser: &Client) {
    let window_open = "return !document.querySelector('[data-testid=chat-window]').hidden";
    let opened = || async {
        if !js_bool(browser, window_open).await {
            click(browser, "[data-testid=chat-toggle]").await;
        }
        js_bool(browser, window_open).await
    };
    assert!(wait_until(PAGE_WAIT, opened).await, "never true: {window_open}");
}

async fn users(app: &TestApp, seller_id: marketchat::domain::ids::SellerId, operator_role: OperatorRole) {
    let accounts = Accounts::new(app.store.clone(), marketchat::service::Clock::system());
    accounts.create_user("seller@acme.test", Some("Acme Staff"), "password-123", NewUserKind::Seller(seller_id)).await.unwrap();
    accounts.create_user("ops@market.test", Some("Support"), "password-123", NewUserKind::Operator(operator_role)).await.unwrap();
}

#[tokio::test]
async fn sellers_and_operators_chat_live_with_badges_and_read_ticks() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::CustomerSupport).await;
    let driver = Driver::start().await;
    let (seller_browser, operator_browser) = (driver.browser().await, driver.browser().await);
    log_in(&seller_browser, &app.base, "seller", "seller@acme.test").await;
    log_in(&operator_browser, &app.base, "operator", "ops@market.test").await;

    // The seller sends; it appears live in the operator's chat list and conversation.
    open_seller_window(&seller_browser).await;
    type_and_enter(&seller_browser, "When will my remittance be paid?").await;
    wait_for(&seller_browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("remittance")).await;
    let item = chat_list_item(&operator_browser, &seller, "Acme Outdoor").await;
    wait_for(&operator_browser, &item, |t| t.contains("remittance")).await;
    wait_for(&operator_browser, &format!("{item} [data-testid=chat-unread]"), |t| t == "1").await;
    click(&operator_browser, &item).await;
    wait_for(&operator_browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("remittance")).await;
    wait_for(&operator_browser, &format!("{item} [data-testid=chat-unread]"), str::is_empty).await;

    // The operator replies; the seller's badge shows 1 while the window is closed.
    seller_browser.find(Locator::Css("#close")).await.unwrap().click().await.unwrap();
    type_and_enter(&operator_browser, "It is paid on Friday.").await;
    wait_for_attr(&operator_browser, "[data-testid=message][data-sent-by=Admin]", "data-read", "false").await;
    wait_for(&seller_browser, "[data-testid=unread-badge]", |t| t == "1").await;
    screenshot(&operator_browser, "operator.png").await;
    // Opening the window clears the badge, and the operator's tick turns green.
    seller_browser.find(Locator::Css("[data-testid=chat-toggle]")).await.unwrap().click().await.unwrap();
    wait_for(&seller_browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Friday")).await;
    wait_for(&seller_browser, "[data-testid=unread-badge]", str::is_empty).await;
    wait_for_attr(&operator_browser, "[data-testid=message][data-sent-by=Admin]", "data-read", "true").await;
    screenshot(&seller_browser, "seller.png").await;

    // Shift+Enter adds a line instead of sending.
    let input = seller_browser.find(Locator::Css("[data-testid=message-input]")).await.unwrap();
    input.send_keys("line one").await.unwrap();
    seller_browser.execute("document.querySelector('[data-testid=message-input]').dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', shiftKey: true, bubbles: true}))", vec![]).await.unwrap();
    assert_eq!(app.stored_messages(seller.id).await, 2, "Shift+Enter did not send");
    seller_browser.close().await.unwrap();
    operator_browser.close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_cannot_send_and_message_text_is_never_html() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::Viewer).await;
    app.seller_sends(&seller.key, "<script>alert(1)</script><b>bold?</b>").await;
    let driver = Driver::start().await;
    let viewer = driver.browser().await;
    log_in(&viewer, &app.base, "operator", "ops@market.test").await;
    open_chat(&viewer, &seller, "Acme Outdoor").await;
    let shown = wait_for(&viewer, "[data-testid=message]", |t| t.contains("alert")).await;
    assert!(shown.starts_with("<script>alert(1)</script><b>bold?</b>"), "shown as text: {shown:?}");
    let bold = viewer.find_all(Locator::Css("[data-testid=message-list] b")).await.unwrap();
    assert!(bold.is_empty(), "no HTML from a message reaches the page");
    assert!(viewer.get_alert_text().await.is_err(), "no script ran");
    wait_for(&viewer, "[data-testid=error]", |t| t.contains("not permitted")).await;
    type_and_enter(&viewer, "I should not be able to send this").await;
    wait_for(&viewer, "[data-testid=error]", |t| t.contains("not permitted")).await;
    assert_eq!(app.stored_messages(seller.id).await, 1, "the API refused the Viewer");
    viewer.close().await.unwrap();
}

#[tokio::test]
async fn with_chat_disabled_the_seller_sees_why() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::FullAdmin).await;
    let driver = Driver::start().await;
    let (admin, seller_browser) = (driver.browser().await, driver.browser().await);
    log_in(&admin, &app.base, "operator", "ops@market.test").await;
    admin.goto(&format!("{}/operator/#settings", app.base)).await.unwrap();
    let loaded = "const b = document.querySelector('[data-testid=settings-chat-enabled]'); return b.checked && !b.disabled;";
    wait_until(PAGE_WAIT, || async { admin.execute(loaded, vec![]).await.unwrap() == json!(true) }).await;
    admin.find(Locator::Css("[data-testid=settings-chat-enabled]")).await.unwrap().click().await.unwrap();
    let switched_off = || async { app.store.setting(marketchat::service::CHAT_ENABLED_SETTING).await.unwrap().as_deref() == Some("false") };
    wait_until(PAGE_WAIT, switched_off).await;
    log_in(&seller_browser, &app.base, "seller", "seller@acme.test").await;
    open_seller_window(&seller_browser).await;
    // Before typing: the window says chat is off and the composer is locked.
    wait_for(&seller_browser, "[data-testid=chat-off]", |t| t.contains("In-app chat is not enabled")).await;
    wait_js(&seller_browser, "return document.querySelector('[data-testid=message-input]').disabled", 10).await;
    assert_eq!(app.stored_messages(seller.id).await, 0);
    admin.close().await.unwrap();
    seller_browser.close().await.unwrap();
}

#[tokio::test]
async fn after_a_connection_loss_the_page_resumes_without_losing_or_doubling_a_message() {
    let mut app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::CustomerSupport).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "seller", "seller@acme.test").await;
    open_seller_window(&browser).await;
    type_and_enter(&browser, "before the outage").await;
    wait_for(&browser, "[data-testid=message]", |t| t.contains("before the outage")).await;

    // While the server is down the page says so; a message is sent meanwhile.
    restart_sending_while_down(&mut app, &browser, seller.id, "sent during the outage").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("during the outage")).await;
    app.operator_sends(&app.operator_key("ops").await, &seller.gid, "after the outage").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("after the outage")).await;
    let shown = browser.find_all(Locator::Css("[data-testid=message]")).await.unwrap();
    assert_eq!(shown.len(), 3, "each message exactly once");
    wait_js(&browser, "return document.querySelector('[data-testid=connection-lost]').hidden", 10).await;
    browser.close().await.unwrap();
}

/// How many messages the open chat shows.
async fn shown_messages(client: &Client) -> usize {
    client.find_all(Locator::Css("[data-testid=message-list] [data-testid=message]")).await.unwrap().len()
}

/// Scrolls the message list to its top, as a reader looking for older messages does.
async fn scroll_to_top(client: &Client) {
    let script = "const list = document.querySelector('[data-testid=message-list]'); list.scrollTop = 0; list.dispatchEvent(new Event('scroll'));";
    client.execute(script, vec![]).await.unwrap();
}

#[tokio::test]
async fn a_long_thread_loads_older_messages_as_the_reader_scrolls_up() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::FullAdmin).await;
    for i in 1..=120 {
        app.seller_sends(&seller.key, &format!("question {i}")).await;
    }
    let driver = Driver::start().await;
    let operator = driver.browser().await;
    log_in(&operator, &app.base, "operator", "ops@market.test").await;
    open_chat(&operator, &seller, "Acme Outdoor").await;
    wait_for(&operator, "[data-testid=message]", |t| t.contains("question 120")).await;
    assert_eq!(shown_messages(&operator).await, 50, "the newest page first");

    for expected in [100, 120] {
        scroll_to_top(&operator).await;
        wait_until(PAGE_WAIT, || async { shown_messages(&operator).await == expected }).await;
        assert_eq!(shown_messages(&operator).await, expected, "scrolling up loads the next older page");
    }
    let texts = operator.find_all(Locator::Css("[data-testid=message-list] [data-testid=message]")).await.unwrap();
    let (first, last) = (texts[0].text().await.unwrap(), texts[119].text().await.unwrap());
    assert!(first.starts_with("question 1\n") || first.starts_with("question 1 "), "oldest at the top: {first:?}");
    assert!(last.starts_with("question 120"), "newest at the bottom: {last:?}");
    operator.close().await.unwrap();
}

#[tokio::test]
async fn both_portals_work_at_a_phones_width() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::FullAdmin).await;
    app.seller_sends(&seller.key, "Sent from a phone-sized window? Let us see.").await;
    let driver = Driver::start().await;
    let (operator, seller_browser) = (driver.browser().await, driver.browser().await);
    for client in [&operator, &seller_browser] {
        client.set_window_size(390, 844).await.unwrap();
    }

    log_in(&seller_browser, &app.base, "seller", "seller@acme.test").await;
    open_seller_window(&seller_browser).await;
    wait_for(&seller_browser, "[data-testid=message]", |t| t.contains("phone-sized")).await;
    wait_for_animations(&seller_browser).await;
    for part in ["[data-testid=message-input]", "[data-testid=message-send]", "[data-testid=message-list]", "#close"] {
        assert_comes_to_fit(&seller_browser, part, false, "seller portal at a phone's width").await;
    }
    type_and_enter(&seller_browser, "typed on a phone").await;
    wait_for(&seller_browser, "[data-testid=message]", |t| t.contains("typed on a phone")).await;

    log_in(&operator, &app.base, "operator", "ops@market.test").await;
    let item = chat_list_item(&operator, &seller, "Acme Outdoor").await;
    assert_comes_to_fit(&operator, &item, false, "operator portal's chat list at a phone's width").await;
    click(&operator, &item).await;
    wait_for(&operator, "[data-testid=message]", |t| t.contains("typed on a phone")).await;
    for part in ["[data-testid=message-input]", "[data-testid=message-send]"] {
        assert_comes_to_fit(&operator, part, true, "operator portal at a phone's width").await;
    }
    screenshot(&operator, "operator-phone.png").await;
    type_and_enter(&operator, "answered on a phone").await;
    wait_for(&seller_browser, "[data-testid=message]", |t| t.contains("answered on a phone")).await;
    operator.close().await.unwrap();
    seller_browser.close().await.unwrap();
}

#[tokio::test]
async fn the_operator_pages_chats_searches_the_server_and_starts_a_chat_with_any_seller() {
    let app = TestApp::spawn().await;
    let oldest = app.seller("Oldest Outfitters").await;
    app.seller_sends(&oldest.key, "my first question, long ago").await;
    for i in 1..250 {
        let seller = app.seller(&format!("Seller {i:03}")).await;
        app.seller_sends(&seller.key, &format!("question from seller {i}")).await;
    }
    let quiet = app.seller("Quiet Quarry").await; // never wrote
    users(&app, quiet.id, OperatorRole::CustomerSupport).await;
    let driver = Driver::start().await;
    let operator = driver.browser().await;
    log_in(&operator, &app.base, "operator", "ops@market.test").await;
    wait_for(&operator, "[data-testid=chat-list-item]", |t| t.contains("Seller 249")).await;
    // The tab title counts what the operator has not read.
    wait_js(&operator, "return document.title === '(250) Chats — marketchat'", 10).await;

    // The list pages as the agent scrolls down: more than one page, all the way to the oldest.
    let count = "return document.querySelectorAll('[data-testid=chat-list-item]').length";
    let first_page = operator.execute(count, vec![]).await.unwrap().as_u64().unwrap();
    assert!(first_page < 250, "not everything at once ({first_page})");
    let scrolled_to_the_end = || async {
        scroll_chat_list_down(&operator).await;
        operator.execute(count, vec![]).await.unwrap().as_u64() == Some(250)
    };
    wait_until(PAGE_WAIT, scrolled_to_the_end).await;
    assert_eq!(operator.execute(count, vec![]).await.unwrap().as_u64(), Some(250), "scrolling reaches every chat");
    chat_list_item(&operator, &oldest, "Oldest Outfitters").await;

    // Search asks the server: the oldest chat is found straight away.
    search_for(&operator, "oldest").await;
    wait_js(&operator, "return document.querySelectorAll('[data-testid=chat-list-item]').length === 1", 10).await;
    open_chat(&operator, &oldest, "Oldest Outfitters").await;
    wait_for(&operator, "[data-testid=message]", |t| t.contains("long ago")).await;

    // A seller who never wrote is found, opens as an empty conversation and can be written to.
    search_for(&operator, "quiet").await;
    open_chat(&operator, &quiet, "Quiet Quarry").await;
    wait_for(&operator, "[data-testid=message-list]", |t| t.contains("No messages yet")).await;
    type_and_enter(&operator, "Welcome aboard! Anything we can help with?").await;
    wait_for(&operator, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Welcome aboard")).await;
    assert_eq!(app.stored_messages(quiet.id).await, 1, "the first message reached the seller's thread");
    operator.close().await.unwrap();
}

#[tokio::test]
async fn long_words_old_dates_senders_and_links_show_well_in_the_operator_conversation() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::CustomerSupport).await;
    app.seller_sends(&seller.key, "Hello from last week").await;
    app.execute_sql(&["UPDATE messages SET created_at = created_at - 5 * 86400000"]).await.unwrap();
    let word = "x".repeat(100);
    app.seller_sends(&seller.key, &format!("Look: {word}")).await;
    app.seller_sends(&seller.key, "See https://example.com/help?topic=payouts. Not javascript:alert(1) though").await;
    app.operator_sends(&app.operator_key("Night shift").await, &seller.gid, "Thanks, we are on it").await;
    let driver = Driver::start().await;
    let operator = driver.browser().await;
    log_in(&operator, &app.base, "operator", "ops@market.test").await;
    open_chat(&operator, &seller, "Acme Outdoor").await;
    wait_for(&operator, "[data-testid=message]", |t| t.contains(&word)).await;

    // The long word wraps: the page keeps the window's width and Send stays on screen.
    for part in ["[data-testid=message-send]", "[data-testid=message-input]", "[data-testid=message-list]"] {
        assert!(fits_the_window(&operator, part).await, "{part} stays inside the window");
    }
    screenshot(&operator, "operator-long-word.png").await;

    // Five days ago shows its date, with a day separator above it.
    let old = wait_for(&operator, "[data-testid=message]", |t| t.contains("last week")).await;
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    assert!(months.iter().any(|m| old.contains(m)), "a date, not just a time: {old:?}");
    let days = operator.find_all(Locator::Css("[data-testid=message-list] .day")).await.unwrap();
    assert_eq!(days.len(), 2, "one separator per day");
    let first_day = days[0].text().await.unwrap();
    assert!(months.iter().any(|m| first_day.contains(m)), "the older day is named by its date: {first_day:?}");
    assert_eq!(days[1].text().await.unwrap(), "Today");

    // The operator side sees who sent each operator message.
    wait_for(&operator, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Night shift")).await;

    // http(s) URLs are links that open safely; anything else stays text.
    let link = operator.find(Locator::Css("[data-testid=message] a")).await.unwrap();
    assert_eq!(link.attr("href").await.unwrap().as_deref(), Some("https://example.com/help?topic=payouts"));
    assert_eq!(link.attr("rel").await.unwrap().as_deref(), Some("noopener noreferrer"));
    assert_eq!(link.attr("target").await.unwrap().as_deref(), Some("_blank"));
    assert_eq!(operator.find_all(Locator::Css("[data-testid=message] a")).await.unwrap().len(), 1, "javascript: is not a link");
    operator.close().await.unwrap();
}

/// The chat window is closed: hidden, inert, and taking no room.
const WINDOW_CLOSED: &str = "const w = document.querySelector('[data-testid=chat-window]'); \
    return w.hidden && w.inert && w.getBoundingClientRect().width === 0;";

/// Nothing lies over `css`: the element at its centre is it or inside it.
async fn uncovered(client: &Client, css: &str) -> bool {
    let script = "const el = document.querySelector(arguments[0]); const box = el.getBoundingClientRect(); \
        const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2); return el.contains(top);";
    client.execute(script, vec![json!(css)]).await.unwrap() == json!(true)
}

#[tokio::test]
async fn the_seller_window_hides_when_closed_and_resumes_after_chat_is_switched_off_and_on() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::CustomerSupport).await;
    let op = app.operator_key("ops").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "seller", "seller@acme.test").await;

    // Closed: out of the tab order and the accessibility tree.
    assert!(js_bool(&browser, WINDOW_CLOSED).await, "a closed window is hidden and inert");
    open_seller_window(&browser).await;
    // Open: the header's message button and Log out stay reachable.
    assert!(uncovered(&browser, "[data-testid=chat-toggle]").await, "the open window leaves the message button free");
    assert!(uncovered(&browser, "[data-testid=logout]").await, "the open window leaves Log out free");
    // Escape closes it and gives focus back to the button.
    browser.find(Locator::Css("[data-testid=message-input]")).await.unwrap().send_keys("\u{E00C}").await.unwrap();
    wait_js(&browser, WINDOW_CLOSED, 10).await;
    assert!(js_bool(&browser, "return document.activeElement === document.querySelector('[data-testid=chat-toggle]')").await);
    browser.find(Locator::Css("[data-testid=chat-toggle]")).await.unwrap().click().await.unwrap();

    // Chat switched off: the seller sees it before typing.
    let switch = "mutation($on: Boolean!) { chatSettingsUpdate(input: { chatEnabled: $on }) { chatEnabled } }";
    app.as_operator(&op, switch, json!({ "on": false })).await;
    wait_for(&browser, "[data-testid=chat-off]", |t| t.contains("In-app chat is not enabled")).await;
    assert!(js_bool(&browser, "return document.querySelector('[data-testid=message-input]').disabled").await, "the composer is locked");

    // Switched on again: the page resubscribes by itself and is live once more.
    app.as_operator(&op, switch, json!({ "on": true })).await;
    wait_js(&browser, "return document.querySelector('[data-testid=chat-off]').hidden && !document.querySelector('[data-testid=message-input]').disabled", 20).await;
    app.operator_sends(&op, &seller.gid, "Chat is back on").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Chat is back on")).await;
    type_and_enter(&browser, "Great, thanks").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Seller]", |t| t.contains("Great, thanks")).await;
    assert_eq!(app.stored_messages(seller.id).await, 2);
    browser.close().await.unwrap();
}

/// Whether the operator's newest message has been read by the seller, per the API.
async fn operator_message_read(app: &TestApp, op: &str, seller: &TestSeller) -> bool {
    let data = app.as_operator(op, "query($s: ID!) { chatMessages(sellerId: $s, first: 1) { nodes { readAt } } }", json!({ "s": seller.gid })).await;
    !data["chatMessages"]["nodes"][0]["readAt"].is_null()
}

async fn wait_until_read(app: &TestApp, op: &str, seller: &TestSeller) {
    let read = wait_until(PAGE_WAIT, || operator_message_read(app, op, seller)).await;
    assert!(read, "the message was never marked read");
}

/// How long a test watches for a read that must not be marked while nobody looks.
const UNWANTED_READ_WINDOW: Duration = Duration::from_millis(800);

#[tokio::test]
async fn an_open_seller_window_marks_reads_only_while_someone_looks() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme Outdoor").await;
    users(&app, seller.id, OperatorRole::CustomerSupport).await;
    let op = app.operator_key("ops").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "seller", "seller@acme.test").await;
    open_seller_window(&browser).await;

    // Headless Chromium cannot put a tab in the background, so the page is told so the way
    // a browser tells it: visibilityState / hasFocus() change and their events fire.
    let hide = "Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }); document.dispatchEvent(new Event('visibilitychange'));";
    let show = "delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange'));";
    let blur = "document.hasFocus = () => false; window.dispatchEvent(new Event('blur'));";
    let focus = "delete document.hasFocus; window.dispatchEvent(new Event('focus'));";
    for (away, back, text) in [(hide, show, "while the tab is hidden"), (blur, focus, "while another window has focus")] {
        browser.execute(away, vec![]).await.unwrap();
        app.operator_sends(&op, &seller.gid, text).await;
        wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains(text)).await;
        wait_for(&browser, "[data-testid=unread-badge]", |t| t == "1").await;
        wait_js(&browser, "return document.title === '(1) Messages — marketchat'", 10).await;
        tokio::time::sleep(UNWANTED_READ_WINDOW).await;
        assert!(!operator_message_read(&app, &op, &seller).await, "not read {text}");
        browser.execute(back, vec![]).await.unwrap();
        wait_until_read(&app, &op, &seller).await;
        wait_for(&browser, "[data-testid=unread-badge]", str::is_empty).await;
        wait_js(&browser, "return document.title === 'Messages — marketchat'", 10).await;
    }
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_root_is_a_landing_page_linking_portals_schemas_and_docs() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get("/").await;
    assert_eq!(status, 200);
    for link in ["/seller/", "/operator/", "/graphql/seller/schema.graphql", "/graphql/operator/schema.graphql", "/docs/api"] {
        assert!(page.contains(&format!("href=\"{link}\"")), "links {link}");
        let (status, body) = app.get(link).await;
        assert_eq!(status, 200, "{link} answers");
        assert!(!body.is_empty(), "{link} has content");
    }
    assert!(!page.contains("style=") && !page.contains("<script>"), "nothing inline for the CSP to block");
    let docs = reqwest::get(format!("{}/docs/api", app.base)).await.unwrap();
    assert!(docs.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
}
