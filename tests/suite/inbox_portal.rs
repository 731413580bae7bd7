//! SPEC §12: the operator portal's support inbox and reports page in real headless
//! Chromium against the real server: filters, waiting labels, assignment, status, mark
//! unread, notes (live in a second session), saved replies, message search, keyboard
//! navigation, the reports chart, paging past 250 chats and hostile text.

use crate::common::app::{TestApp, TestSeller};
use crate::common::browser::{
    chat_list_item, click, fits_the_window, js_bool, log_in, open_chat, screenshot, scroll_chat_list_down, set_viewport, wait_for, wait_js, Driver, PAGE_WAIT,
};
use crate::common::wait::wait_until;
use fantoccini::{Client, Locator};
use marketchat::domain::users::OperatorRole;
use marketchat::service::accounts::{Accounts, NewUserKind};
use serde_json::{json, Value};

/// Two agents who may chat: Ana (who logs in) and Bo.
async fn agents(app: &TestApp) {
    let accounts = Accounts::new(app.store.clone(), marketchat::service::Clock::system());
    for (email, name) in [("ana@market.test", "Ana Agent"), ("bo@market.test", "Bo Backup")] {
        accounts.create_user(email, Some(name), "password-123", NewUserKind::Operator(OperatorRole::CustomerSupport)).await.unwrap();
    }
}

/// The `OperatorUser` ID of the user with `email`.
async fn operator_user(app: &TestApp, key: &str, email: &str) -> String {
    let data = app.as_operator(key, "{ operatorUsers { id email } }", json!({})).await;
    let users = data["operatorUsers"].as_array().unwrap();
    users.iter().find(|u| u["email"] == email).unwrap_or_else(|| panic!("{email} among {users:?}"))["id"].as_str().unwrap().to_owned()
}

/// The chat of `seller` as the API sees it.
async fn chat(app: &TestApp, key: &str, seller: &TestSeller) -> Value {
    let query = "query($s: ID!) { chat(sellerId: $s) { status unreadCount awaitingReplySince assignee { name } notes(first: 10) { nodes { note author } } } }";
    app.as_operator(key, query, json!({ "s": seller.gid })).await["chat"].clone()
}

async fn assign(app: &TestApp, key: &str, seller: &TestSeller, assignee: &str) {
    let query = "mutation($s: ID!, $a: ID) { chatAssign(input: { sellerId: $s, assigneeId: $a }) { errors { field messages } } }";
    let data = app.as_operator(key, query, json!({ "s": seller.gid, "a": assignee })).await;
    assert_eq!(data["chatAssign"]["errors"], json!(null), "assigned");
}

async fn resolve(app: &TestApp, key: &str, seller: &TestSeller) {
    let query = "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { errors { field messages } } }";
    let data = app.as_operator(key, query, json!({ "s": seller.gid })).await;
    assert_eq!(data["chatStatusUpdate"]["errors"], json!(null), "resolved");
}

async fn note(app: &TestApp, key: &str, seller: &TestSeller, text: &str) {
    let query = "mutation($s: ID!, $n: String!) { chatNoteCreate(input: { sellerId: $s, note: $n }) { errors { field messages } } }";
    let data = app.as_operator(key, query, json!({ "s": seller.gid, "n": text })).await;
    assert_eq!(data["chatNoteCreate"]["errors"], json!(null), "noted");
}

async fn saved_reply(app: &TestApp, key: &str, title: &str, body: &str) {
    let query = "mutation($t: String!, $b: String!) { savedReplyCreate(input: { title: $t, body: $b }) { errors { field messages } } }";
    let data = app.as_operator(key, query, json!({ "t": title, "b": body })).await;
    assert_eq!(data["savedReplyCreate"]["errors"], json!(null), "saved");
}

/// Moves every message stored so far `hours` into the past, with the time the chats
/// began waiting (kept on the chat). The report's per-day counts stay where they were.
async fn age_messages(app: &TestApp, hours: i64) {
    let ms = hours * 3_600_000;
    let messages = format!("UPDATE messages SET created_at = created_at - {ms}");
    let chats = format!("UPDATE chats SET awaiting_since = awaiting_since - {ms} WHERE awaiting_since IS NOT NULL");
    app.execute_sql(&[&messages, &chats]).await.unwrap();
}

fn count(css: &str) -> String {
    format!("return document.querySelectorAll({css:?}).length")
}

async fn number(client: &Client, script: &str) -> u64 {
    client.execute(script, vec![]).await.unwrap().as_u64().unwrap()
}

/// The seller IDs the chat list shows, in order.
async fn listed(client: &Client) -> Vec<String> {
    let script = "return [...document.querySelectorAll('[data-testid=chat-list-item]')].map((li) => li.dataset.sellerId)";
    serde_json::from_value(client.execute(script, vec![]).await.unwrap()).unwrap()
}

/// Waits until the list shows exactly `sellers`, in this order.
async fn wait_listed(client: &Client, sellers: &[&TestSeller]) {
    let want: Vec<String> = sellers.iter().map(|s| s.gid.clone()).collect();
    let held = wait_until(PAGE_WAIT, || async { listed(client).await == want }).await;
    assert!(held, "the list shows {:?}, not {want:?}", listed(client).await);
}

async fn press(client: &Client, css: &str, keys: &str) {
    client.find(Locator::Css(css)).await.unwrap().send_keys(keys).await.unwrap();
}

/// Types `keys` into whatever has the focus. The list may re-render the focused item
/// (keeping the focus on its replacement) between finding it and typing: find it again.
async fn type_into_focus(client: &Client, keys: &str) -> Result<(), fantoccini::error::CmdError> {
    for _ in 0..20 {
        if client.active_element().await?.send_keys(keys).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    client.active_element().await?.send_keys(keys).await
}

/// The `data-seller-id` of the focused element.
async fn focused_seller(client: &Client) -> Option<String> {
    client.execute("return document.activeElement && document.activeElement.dataset.sellerId || null", vec![]).await.unwrap().as_str().map(str::to_owned)
}

#[tokio::test]
async fn filters_sorting_and_waiting_labels_follow_the_server() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let op = app.operator_key("Night shift").await;
    let waiting = app.seller("Waiting Widgets").await;
    app.seller_sends(&waiting.key, "Where is my payout?").await;
    age_messages(&app, 3).await;
    let answered = app.seller("Answered Apparel").await;
    app.seller_sends(&answered.key, "Quick question").await;
    app.operator_sends(&op, &answered.gid, "Quick answer").await;
    let resolved = app.seller("Resolved Rugs").await;
    app.seller_sends(&resolved.key, "All sorted, thanks").await;
    app.operator_sends(&op, &resolved.gid, "Glad to hear it").await;
    resolve(&app, &op, &resolved).await;
    let mine = app.seller("Mine Minerals").await;
    app.seller_sends(&mine.key, "Can Ana look at this?").await;
    let ana = operator_user(&app, &op, "ana@market.test").await;
    assign(&app, &op, &mine, &ana).await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    wait_listed(&browser, &[&mine, &resolved, &answered, &waiting]).await;
    let item = chat_list_item(&browser, &waiting, "Waiting Widgets").await;
    wait_for(&browser, &format!("{item} [data-testid=chat-waiting]"), |t| t == "waiting 3 h").await;
    assert!(browser.find_all(Locator::Css(&format!("[data-seller-id='{}'] [data-testid=chat-waiting]", answered.gid))).await.unwrap().is_empty(), "an answered chat does not wait");
    wait_for(&browser, &format!("[data-seller-id='{}'] [data-testid=chat-assignee]", mine.gid), |t| t == "Ana Agent").await;
    wait_for(&browser, &format!("[data-seller-id='{}'] [data-testid=chat-status]", resolved.gid), |t| t == "Resolved").await;

    click(&browser, "[data-testid=filter-needs-reply]").await;
    wait_listed(&browser, &[&mine, &waiting]).await;
    // Waiting longest first.
    click(&browser, "[data-testid=sort-waiting]").await;
    wait_listed(&browser, &[&waiting, &mine]).await;
    click(&browser, "[data-testid=sort-waiting]").await;
    click(&browser, "[data-testid=filter-mine]").await;
    wait_listed(&browser, &[&mine]).await;
    click(&browser, "[data-testid=filter-unassigned]").await;
    wait_listed(&browser, &[&resolved, &answered, &waiting]).await;
    click(&browser, "[data-testid=filter-resolved]").await;
    wait_listed(&browser, &[&resolved]).await;
    click(&browser, "[data-testid=filter-unread]").await;
    wait_js(&browser, "return document.querySelector('[data-testid=filter-unread]').getAttribute('aria-pressed') === 'true'", 10).await;
    let unread_only = "const items = [...document.querySelectorAll('[data-testid=chat-list-item]')]; \
        return items.length > 0 && items.every((li) => Number(li.querySelector('[data-testid=chat-unread]').textContent) > 0)";
    wait_js(&browser, unread_only, 10).await;
    for seller in [&mine, &waiting] {
        chat_list_item(&browser, seller, "").await;
    }

    // A chat that comes to need a reply joins the filtered list live.
    click(&browser, "[data-testid=filter-needs-reply]").await;
    wait_listed(&browser, &[&mine, &waiting]).await;
    app.seller_sends(&answered.key, "One more thing").await;
    wait_listed(&browser, &[&answered, &mine, &waiting]).await;
    click(&browser, "[data-testid=filter-all]").await;
    wait_listed(&browser, &[&answered, &mine, &resolved, &waiting]).await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn assign_resolve_and_mark_unread_round_trip_through_the_api() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let op = app.operator_key("ops").await;
    let seller = app.seller("Acme Outdoor").await;
    app.seller_sends(&seller.key, "Hello, anyone there?").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    open_chat(&browser, &seller, "Acme Outdoor").await;
    wait_for(&browser, "[data-testid=message]", |t| t.contains("anyone there")).await;
    let item = format!("[data-testid=chat-list-item][data-seller-id='{}']", seller.gid);
    wait_for(&browser, &format!("{item} [data-testid=chat-unread]"), str::is_empty).await;

    // Assign to me, to Bo through the picker, and back to nobody.
    click(&browser, "[data-testid=assign-me]").await;
    wait_for(&browser, &format!("{item} [data-testid=chat-assignee]"), |t| t == "Ana Agent").await;
    assert_eq!(chat(&app, &op, &seller).await["assignee"]["name"], "Ana Agent");
    let bo = operator_user(&app, &op, "bo@market.test").await;
    browser.execute("const s = document.querySelector('[data-testid=assign-select]'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));", vec![json!(bo)]).await.unwrap();
    wait_for(&browser, &format!("{item} [data-testid=chat-assignee]"), |t| t == "Bo Backup").await;
    assert_eq!(chat(&app, &op, &seller).await["assignee"]["name"], "Bo Backup");
    click(&browser, "[data-testid=unassign]").await;
    wait_for(&browser, &format!("{item} [data-testid=chat-assignee]"), |t| t == "Unassigned").await;
    assert_eq!(chat(&app, &op, &seller).await["assignee"], json!(null));

    // Resolve and reopen.
    click(&browser, "[data-testid=resolve]").await;
    wait_for(&browser, "[data-testid=thread-status]", |t| t == "Resolved").await;
    wait_for(&browser, &format!("{item} [data-testid=chat-status]"), |t| t == "Resolved").await;
    assert_eq!(chat(&app, &op, &seller).await["status"], "RESOLVED");
    click(&browser, "[data-testid=reopen]").await;
    wait_for(&browser, "[data-testid=thread-status]", |t| t == "Open").await;
    assert_eq!(chat(&app, &op, &seller).await["status"], "OPEN");

    // A change made elsewhere shows live (ChatUpdated).
    let ana = operator_user(&app, &op, "ana@market.test").await;
    assign(&app, &op, &seller, &ana).await;
    wait_for(&browser, &format!("{item} [data-testid=chat-assignee]"), |t| t == "Ana Agent").await;
    resolve(&app, &op, &seller).await;
    wait_for(&browser, "[data-testid=thread-status]", |t| t == "Resolved").await;

    // Mark unread: back to the list, unread again, and the seller's read tick is untouched.
    click(&browser, "[data-testid=mark-unread]").await;
    wait_js(&browser, "return document.querySelector('[data-testid=message-list]').classList.contains('hidden')", 10).await;
    wait_for(&browser, &format!("{item} [data-testid=chat-unread]"), |t| t == "1").await;
    wait_js(&browser, "return document.title === '(1) Chats — marketchat'", 10).await;
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(seller.gid.as_str()), "focus is on the chat in the list");
    assert!(chat(&app, &op, &seller).await["unreadCount"].as_i64().unwrap() >= 1);
    let seller_view = app.as_seller(&seller.key, "{ chatMessages(first: 1) { nodes { readAt } } }", json!({})).await;
    assert!(!seller_view["chatMessages"]["nodes"][0]["readAt"].is_null(), "the seller still sees the message read");
    // Opening it again reads it.
    click(&browser, &item).await;
    wait_for(&browser, &format!("{item} [data-testid=chat-unread]"), str::is_empty).await;
    wait_js(&browser, "return document.title === 'Chats — marketchat'", 10).await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_note_appears_live_in_a_second_session_and_never_looks_like_a_message() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let seller = app.seller("Acme Outdoor").await;
    app.seller_sends(&seller.key, "My listing is hidden").await;
    let driver = Driver::start().await;
    let (ana, bo) = (driver.browser().await, driver.browser().await);
    log_in(&ana, &app.base, "operator", "ana@market.test").await;
    log_in(&bo, &app.base, "operator", "bo@market.test").await;
    for browser in [&ana, &bo] {
        open_chat(browser, &seller, "Acme Outdoor").await;
        wait_for(browser, "[data-testid=message]", |t| t.contains("listing is hidden")).await;
        wait_for(browser, "[data-testid=note-list]", |t| t.contains("No notes yet")).await;
    }
    press(&ana, "[data-testid=note-input]", "Checked: the listing failed moderation, see ticket 42").await;
    click(&ana, "[data-testid=note-add]").await;
    for browser in [&ana, &bo] {
        let shown = wait_for(browser, "[data-testid=note]", |t| t.contains("ticket 42")).await;
        assert!(shown.to_lowercase().contains("internal note") && shown.contains("Ana Agent"), "labelled and signed: {shown:?}");
    }
    // A note is not a message: outside the thread, on its own background.
    assert_eq!(number(&bo, &count("[data-testid=message-list] [data-testid=note]")).await, 0);
    assert_eq!(number(&bo, &count("[data-testid=message]")).await, 1);
    let backgrounds = "const bg = (css) => getComputedStyle(document.querySelector(css)).backgroundColor; \
        return bg('[data-testid=note]') !== bg('[data-testid=message]');";
    assert!(js_bool(&bo, backgrounds).await, "notes look different from messages");
    let data = app.as_operator(&app.operator_key("check").await, "query($s: ID!) { chat(sellerId: $s) { notes(first: 5) { nodes { note author } } } }", json!({ "s": seller.gid })).await;
    assert_eq!(data["chat"]["notes"]["nodes"][0]["author"], "Ana Agent");
    // The seller never sees it.
    let seller_view = app.as_seller(&seller.key, "{ chatMessages(first: 10) { nodes { message } } }", json!({})).await;
    assert!(!seller_view.to_string().contains("ticket 42"));
    ana.close().await.unwrap();
    bo.close().await.unwrap();
}

#[tokio::test]
async fn saved_replies_are_managed_in_a_dialog_and_inserted_with_a_slash() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let op = app.operator_key("ops").await;
    saved_reply(&app, &op, "Payout schedule", "Payouts go out every Friday.").await;
    let seller = app.seller("Acme Outdoor").await;
    app.seller_sends(&seller.key, "When do I get paid?").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    open_chat(&browser, &seller, "Acme Outdoor").await;
    wait_for(&browser, "[data-testid=message]", |t| t.contains("get paid")).await;

    // Create one in the manage dialog.
    click(&browser, "[data-testid=saved-replies]").await;
    wait_for(&browser, "[data-testid=saved-reply-option]", |t| t.contains("Payout schedule")).await;
    click(&browser, "[data-testid=saved-replies-manage]").await;
    press(&browser, "[data-testid=saved-reply-title]", "Refund policy").await;
    press(&browser, "[data-testid=saved-reply-body]", "Refunds take 5 working days.").await;
    click(&browser, "[data-testid=saved-reply-save]").await;
    wait_for(&browser, "[data-testid=saved-reply]", |t| t.contains("Refund policy")).await;
    // Edit the old one, then close.
    let edit = "[data-testid=saved-reply]:first-child [data-testid=saved-reply-edit]";
    wait_for(&browser, "[data-testid=saved-reply]:first-child", |t| t.contains("Payout schedule")).await;
    click(&browser, edit).await;
    let body = browser.find(Locator::Css("[data-testid=saved-reply-body]")).await.unwrap();
    body.clear().await.unwrap();
    body.send_keys("Payouts go out every Friday at noon.").await.unwrap();
    click(&browser, "[data-testid=saved-reply-save]").await;
    let replies = || async { app.as_operator(&op, "{ savedReplies { title body } }", json!({})).await["savedReplies"].clone() };
    let saved = wait_until(PAGE_WAIT, || async { replies().await.to_string().contains("at noon") }).await;
    assert!(saved, "edited: {}", replies().await);
    assert_eq!(replies().await.as_array().unwrap().len(), 2);
    click(&browser, "[data-testid=saved-replies-close]").await;

    // "/" at the start of the composer filters by title; Enter picks, Enter sends.
    click(&browser, "[data-testid=message-input]").await;
    press(&browser, "[data-testid=message-input]", "/ref").await;
    wait_for(&browser, "[data-testid=saved-reply-picker]", |t| t.contains("Refund policy") && !t.contains("Payout schedule")).await;
    press(&browser, "[data-testid=message-input]", "\u{E007}").await;
    wait_js(&browser, "return document.querySelector('[data-testid=message-input]').value === 'Refunds take 5 working days.'", 10).await;
    assert!(js_bool(&browser, "return document.querySelector('[data-testid=saved-reply-picker]').classList.contains('hidden')").await);
    assert_eq!(app.stored_messages(seller.id).await, 1, "choosing did not send");
    press(&browser, "[data-testid=message-input]", "\u{E007}").await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Refunds take 5 working days.")).await;

    // Delete one.
    click(&browser, "[data-testid=saved-replies]").await;
    click(&browser, "[data-testid=saved-replies-manage]").await;
    wait_for(&browser, "[data-testid=saved-reply]", |t| t.contains("Refund policy")).await;
    browser.execute("[...document.querySelectorAll('[data-testid=saved-reply]')].find((li) => li.textContent.includes('Refund')).querySelector('[data-testid=saved-reply-delete]').click()", vec![]).await.unwrap();
    let deleted = wait_until(PAGE_WAIT, || async { replies().await.as_array().unwrap().len() == 1 }).await;
    assert!(deleted, "deleted");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_message_search_hit_is_highlighted_and_opens_the_thread_at_the_message() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let seller = app.seller("Acme Outdoor").await;
    app.seller_sends(&seller.key, "Ünïcode first: where is my remittance advice for March?").await;
    for i in 0..130 {
        app.seller_sends(&seller.key, &format!("filler message {i}")).await;
    }
    let other = app.seller("Blue Harbor Books").await;
    app.seller_sends(&other.key, "nothing to see here").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    chat_list_item(&browser, &other, "Blue Harbor").await;
    press(&browser, "[data-testid=message-search]", "remittance advice\u{E007}").await;
    let hit = wait_for(&browser, "[data-testid=message-search-hit]", |t| t.contains("Acme Outdoor")).await;
    assert!(hit.contains("remittance advice"), "{hit:?}");
    assert_eq!(number(&browser, &count("[data-testid=message-search-hit]")).await, 1);
    let marks: Vec<String> = serde_json::from_value(
        browser.execute("return [...document.querySelectorAll('[data-testid=message-search-snippet] mark')].map((m) => m.textContent.toLowerCase())", vec![]).await.unwrap(),
    )
    .unwrap();
    assert_eq!(marks, ["remittance", "advice"], "the matched words, and nothing else, are marked");
    click(&browser, "[data-testid=message-search-hit]").await;
    // The hit is three pages back: the thread loads until it is there, then shows it.
    let highlighted = wait_for(&browser, "[data-testid=message][data-highlighted=true]", |t| t.contains("remittance advice")).await;
    assert!(highlighted.starts_with("Ünïcode first"));
    let visible = "const li = document.querySelector('[data-testid=message][data-highlighted=true]').getBoundingClientRect(); \
        const box = document.querySelector('[data-testid=message-list]').getBoundingClientRect(); return li.top >= box.top && li.bottom <= box.bottom;";
    wait_js(&browser, visible, 10).await;
    click(&browser, "[data-testid=message-search-clear]").await;
    chat_list_item(&browser, &other, "Blue Harbor").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_keyboard_moves_through_the_list_opens_and_returns() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let mut sellers = Vec::new();
    for name in ["Cedar Crafts", "Birch Books", "Alder Apparel"] {
        let seller = app.seller(name).await;
        app.seller_sends(&seller.key, &format!("hello from {name}")).await;
        sellers.push(seller);
    }
    let [cedar, birch, alder] = [&sellers[0], &sellers[1], &sellers[2]];
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    wait_listed(&browser, &[alder, birch, cedar]).await;
    type_into_focus(&browser, "j").await.unwrap();
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(alder.gid.as_str()));
    type_into_focus(&browser, "j").await.unwrap();
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(birch.gid.as_str()));
    type_into_focus(&browser, "\u{E015}").await.unwrap(); // ArrowDown
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(cedar.gid.as_str()));
    type_into_focus(&browser, "k").await.unwrap();
    type_into_focus(&browser, "\u{E013}").await.unwrap(); // ArrowUp
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(alder.gid.as_str()));
    type_into_focus(&browser, "j\u{E007}").await.unwrap(); // j, Enter
    wait_for(&browser, "[data-testid=message]", |t| t.contains("hello from Birch Books")).await;
    // Typing in the composer is typing: j stays a letter.
    press(&browser, "[data-testid=message-input]", "just j and k").await;
    assert!(js_bool(&browser, "return document.activeElement === document.querySelector('[data-testid=message-input]')").await);
    assert!(js_bool(&browser, "return document.querySelector('[data-testid=message-input]').value === 'just j and k'").await);
    // Escape returns to the list, on the open chat.
    press(&browser, "[data-testid=message-input]", "\u{E00C}").await;
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(birch.gid.as_str()));
    type_into_focus(&browser, "j").await.unwrap();
    assert_eq!(focused_seller(&browser).await.as_deref(), Some(cedar.gid.as_str()));
    // The search box is typing too.
    press(&browser, "[data-testid=chat-search]", "j").await;
    assert!(js_bool(&browser, "return document.activeElement === document.querySelector('[data-testid=chat-search]')").await);
    browser.close().await.unwrap();
}

/// Bars as (day, side, value) from the page's SVG.
async fn bars(client: &Client) -> Vec<(String, String, i64, f64)> {
    let script = "return [...document.querySelectorAll('[data-testid=report-chart] [data-testid=report-bar]')]\
        .map((r) => [r.dataset.day, r.dataset.side, Number(r.dataset.value), r.getBBox().height])";
    serde_json::from_value(client.execute(script, vec![]).await.unwrap()).unwrap()
}

#[tokio::test]
async fn the_reports_page_draws_the_days_and_times_the_api_reports() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let op = app.operator_key("Night shift").await;
    let acme = app.seller("Acme Outdoor").await;
    let blue = app.seller("Blue Harbor Books").await;
    for text in ["Hi", "Are you there?", "Hello?"] {
        app.seller_sends(&acme.key, text).await;
    }
    app.operator_sends(&op, &acme.gid, "Yes, sorry for the wait").await;
    resolve(&app, &op, &acme).await;
    app.seller_sends(&blue.key, "Question about fees").await;
    app.operator_sends(&op, &blue.gid, "Fees are 5 %").await;
    app.operator_sends(&op, &blue.gid, "Anything else?").await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    set_viewport(&browser, 1280, 800).await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    click(&browser, "[data-testid=nav-reports]").await;
    wait_js(&browser, "return document.querySelectorAll('[data-testid=report-bar]').length > 0", 10).await;
    let from = browser.find(Locator::Css("[data-testid=report-from]")).await.unwrap().prop("value").await.unwrap().unwrap();
    let to = browser.find(Locator::Css("[data-testid=report-to]")).await.unwrap().prop("value").await.unwrap().unwrap();
    let stats = app
        .as_operator(&op, "query($f: String!, $t: String!) { supportStats(from: $f, to: $t) { chatsOpened chatsResolved messagesPerDay { day seller admin } perAgent { agent messages } } }", json!({ "f": from, "t": to }))
        .await["supportStats"]
        .clone();
    let shown = bars(&browser).await;
    assert_eq!(shown.len(), 2 * 14, "a pair of bars for each of the last 14 days ({from}..{to})");
    let mut total = 0;
    for day in stats["messagesPerDay"].as_array().unwrap() {
        for side in ["seller", "admin"] {
            let bar = shown.iter().find(|(d, s, _, _)| d == day["day"].as_str().unwrap() && s == side).unwrap_or_else(|| panic!("a {side} bar for {day}"));
            assert_eq!(bar.2, day[side].as_i64().unwrap(), "{side} on {}", day["day"]);
            total += bar.2;
        }
    }
    assert_eq!(total, 7, "every message is counted once: {stats}");
    assert_eq!(shown.iter().map(|b| b.2).sum::<i64>(), 7, "days the API did not list stay at zero");
    // Heights follow the values: the tallest bar is the largest count, a zero has no height.
    let tallest = shown.iter().max_by(|a, b| a.3.total_cmp(&b.3)).unwrap();
    assert_eq!(tallest.2, shown.iter().map(|b| b.2).max().unwrap());
    assert!(shown.iter().filter(|b| b.2 == 0).all(|b| b.3 == 0.0));
    let (four, three) = (shown.iter().find(|b| b.2 == 4).unwrap().3, shown.iter().find(|b| b.2 == 3).unwrap().3);
    assert!((four / three - 4.0 / 3.0).abs() < 0.01, "heights in proportion: {four} vs {three}");
    assert_eq!(shown.iter().filter(|b| b.2 > 0).count(), 2, "today's two bars: {shown:?}");

    let (opened, resolved) = (stats["chatsOpened"].to_string(), stats["chatsResolved"].to_string());
    wait_for(&browser, "[data-testid=report-opened]", |t| t == opened).await;
    wait_for(&browser, "[data-testid=report-resolved]", |t| t == resolved).await;
    wait_for(&browser, "[data-testid=report-first-response]", |t| t.contains(" / ")).await;
    let agent = "return [...document.querySelectorAll('[data-testid=report-agent-row]')].map((tr) => [...tr.cells].map((c) => c.textContent))";
    let rows: Vec<Vec<String>> = serde_json::from_value(browser.execute(agent, vec![]).await.unwrap()).unwrap();
    assert_eq!(rows.len(), stats["perAgent"].as_array().unwrap().len(), "{rows:?}");
    let night = rows.iter().find(|r| r[0] == "Night shift").unwrap_or_else(|| panic!("a row for the key: {rows:?}"));
    assert_eq!(night[1], "3", "its messages");

    // A period without messages: the chart is all zeros.
    browser.execute("const f = document.querySelector('[data-testid=report-from]'), t = document.querySelector('[data-testid=report-to]'); f.value = '2020-01-01'; t.value = '2020-01-07'; t.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    wait_js(&browser, "return document.querySelectorAll('[data-testid=report-bar]').length === 14", 10).await;
    assert!(bars(&browser).await.iter().all(|b| b.2 == 0));
    wait_for(&browser, "[data-testid=report-agents]", |t| t.contains("No operator messages")).await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn more_than_250_waiting_chats_page_in_under_a_filter_and_a_sort() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let first = app.seller("First Waiting").await;
    app.seller_sends(&first.key, "I have waited longest").await;
    age_messages(&app, 5).await;
    for i in 0..260 {
        let seller = app.seller(&format!("Seller {i:03}")).await;
        app.seller_sends(&seller.key, &format!("question {i}")).await;
    }
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    wait_for(&browser, "[data-testid=chat-list-item]", |t| t.contains("Seller 259")).await;
    click(&browser, "[data-testid=filter-needs-reply]").await;
    click(&browser, "[data-testid=sort-waiting]").await;
    wait_for(&browser, "[data-testid=chat-list-item]:first-child", |t| t.contains("First Waiting")).await;
    let items = count("[data-testid=chat-list-item]");
    assert!(number(&browser, &items).await < 261, "not everything at once");
    // "Load more" and scrolling both bring the next pages, without doubles.
    click(&browser, "[data-testid=load-more]").await;
    let all = wait_until(PAGE_WAIT, || async {
        scroll_chat_list_down(&browser).await;
        number(&browser, &items).await == 261
    })
    .await;
    assert!(all, "every waiting chat is reachable ({} shown)", number(&browser, &items).await);
    let ids = listed(&browser).await;
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 261, "no chat twice");
    assert_eq!(ids[0], first.gid);
    browser.close().await.unwrap();
}

#[tokio::test]
async fn hostile_text_stays_text_and_the_inbox_layout_holds() {
    let app = TestApp::spawn().await;
    agents(&app).await;
    let op = app.operator_key("<img src=x onerror=alert(1)>").await;
    let hostile = "<img src=x onerror=alert(1)>";
    let word = "w".repeat(100);
    let seller = app.seller(&format!("{hostile}{word}")).await;
    app.seller_sends(&seller.key, &format!("{hostile} {word} findme")).await;
    app.operator_sends(&op, &seller.gid, &format!("{hostile} reply {word}")).await;
    note(&app, &op, &seller, &format!("{hostile} note {word}")).await;
    saved_reply(&app, &op, &format!("{hostile}{}", "t".repeat(70)), &format!("{hostile} body {word}")).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    set_viewport(&browser, 1280, 800).await;
    log_in(&browser, &app.base, "operator", "ana@market.test").await;
    open_chat(&browser, &seller, &word).await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("reply")).await;
    wait_for(&browser, "[data-testid=note]", |t| t.contains(hostile)).await;
    click(&browser, "[data-testid=saved-replies]").await;
    wait_for(&browser, "[data-testid=saved-reply-option]", |t| t.contains(hostile)).await;
    for part in ["[data-testid=message-send]", "[data-testid=note-add]", "[data-testid=resolve]", "[data-testid=chat-list]", "[data-testid=notes-panel]"] {
        assert!(fits_the_window(&browser, part).await, "{part} stays inside the window");
    }
    press(&browser, "[data-testid=message-input]", "\u{E00C}").await;
    press(&browser, "[data-testid=message-search]", "findme\u{E007}").await;
    wait_for(&browser, "[data-testid=message-search-hit]", |t| t.contains(hostile)).await;
    assert!(fits_the_window(&browser, "[data-testid=message-search-results]").await);
    assert_eq!(number(&browser, &count("#app img")).await, 0, "no element from text");
    assert!(browser.get_alert_text().await.is_err(), "no script ran");
    let overflow = "return [...document.querySelectorAll('.sidebar, .conversation, .notes')].every((el) => el.scrollWidth <= el.clientWidth + 1)";
    assert!(js_bool(&browser, overflow).await, "nothing scrolls sideways");
    browser.close().await.unwrap();
}

/// `marketchat demo` as a process: its base URL and the operator login's password.
struct DemoProcess {
    child: std::process::Child,
    base: String,
    password: String,
}

impl DemoProcess {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_marketchat"))
            .args(["demo", "--bind", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut lines: Vec<String> = Vec::new();
        while !lines.last().is_some_and(|l| l.starts_with("export ")) {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "demo output ended early: {lines:?}");
            lines.push(line.trim().to_owned());
        }
        let base = lines.iter().find_map(|l| l.strip_prefix("listening on ")).unwrap().to_owned();
        let password = lines.iter().find_map(|l| l.strip_prefix("operator login: operator@demo.test / ")).unwrap().to_owned();
        Self { child, base, password }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_demo_shows_a_working_inbox_and_two_weeks_of_reports() {
    let demo = DemoProcess::start();
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    set_viewport(&browser, 1280, 800).await;
    browser.goto(&format!("{}/operator/", demo.base)).await.unwrap();
    browser.wait().for_element(Locator::Css("[data-testid=login-email]")).await.unwrap();
    press(&browser, "[data-testid=login-email]", "operator@demo.test").await;
    press(&browser, "[data-testid=login-password]", &demo.password).await;
    click(&browser, "[data-testid=login-submit]").await;
    // Chats waiting (one assigned to Tom), one resolved, one assigned to the login.
    wait_for(&browser, "[data-testid=chat-list-item]", |t| t.contains("Fjord Fleece") && t.contains("Tom Becker") && t.contains("waiting 1 h")).await;
    wait_for(&browser, "[data-testid=chat-list-item]", |t| t.contains("Evergreen") && t.contains("Resolved")).await;
    let acme = "[data-testid=chat-list-item][data-seller-id='U2VsbGVyLTE=']";
    wait_for(&browser, acme, |t| t.contains("Acme Outdoor") && t.contains("Demo Support") && t.contains("waiting 2 h")).await;
    click(&browser, "[data-testid=filter-mine]").await;
    wait_js(&browser, &format!("{} === 1", count("[data-testid=chat-list-item]")), 10).await;
    click(&browser, "[data-testid=filter-all]").await;
    click(&browser, acme).await;
    wait_for(&browser, "[data-testid=note]", |t| t.contains("payout bounced")).await;
    wait_for(&browser, "[data-testid=message][data-sent-by=Admin]", |t| t.contains("Demo Support")).await;
    click(&browser, "[data-testid=saved-replies]").await;
    wait_js(&browser, &format!("{} === 2", count("[data-testid=saved-reply-option]")), 10).await;
    click(&browser, "[data-testid=saved-replies]").await;
    for part in ["[data-testid=message-send]", "[data-testid=mark-unread]", "[data-testid=note-add]", "[data-testid=sort-waiting]"] {
        assert!(fits_the_window(&browser, part).await, "{part} on screen at 1280x800");
    }
    browser.execute("document.activeElement.blur()", vec![]).await.unwrap();
    screenshot(&browser, "operator-inbox.png").await;

    click(&browser, "[data-testid=nav-reports]").await;
    wait_js(&browser, "return document.querySelectorAll('[data-testid=report-bar]').length === 28", 10).await;
    let days_with_messages = bars(&browser).await.iter().filter(|b| b.1 == "seller" && b.2 > 0).count();
    assert!(days_with_messages >= 13, "two weeks of history: {days_with_messages} days");
    wait_for(&browser, "[data-testid=report-agent-row]", |t| t.contains("Maya Lopez")).await;
    wait_for(&browser, "[data-testid=report-first-response]", |t| t.contains("h") || t.contains("min")).await;
    screenshot(&browser, "operator-reports.png").await;
    browser.close().await.unwrap();
}
