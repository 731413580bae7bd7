//! SPEC §12: the support inbox on the Operator API — status, assignment, waiting time,
//! mark-unread, notes, saved replies, the chat list's filters and order, `supportStats`
//! and the operator-only events.

use crate::common::app::TestApp;
use crate::common::db::{backend, Backend};
use crate::common::graphql::{error_code, payload_errors};
use crate::common::session::as_user;
use crate::common::ws::WsClient;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::users::OperatorRole;
use marketchat::store::{ChatFilter, ChatListQuery, ChatSort, ChatStatus, SqliteStore};
use serde_json::{json, Value};
use std::time::Duration;

const CHAT: &str = "query($s: ID!) { chat(sellerId: $s) { status awaitingReplySince unreadCount assignee { id name role }
    notes(first: 2) { pageInfo { hasNextPage endCursor } nodes { id note author } } } }";
const ASSIGN: &str = "mutation($s: ID!, $a: ID) { chatAssign(input: { sellerId: $s, assigneeId: $a, clientMutationId: \"c1\" }) {
    chat { assignee { name } } errors { field messages } clientMutationId } }";
const STATUS: &str = "mutation($s: ID!, $st: ChatStatus!) { chatStatusUpdate(input: { sellerId: $s, status: $st }) { chat { status } errors { field } } }";
const NOTE: &str = "mutation($s: ID!, $n: String!) { chatNoteCreate(input: { sellerId: $s, note: $n }) { note { id note author } chat { id } errors { field messages } } }";
const MARK_UNREAD: &str = "mutation($s: ID!) { chatMarkUnread(input: { sellerId: $s }) { chat { unreadCount } errors { field } } }";
const OPERATOR_READ: &str = "mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: \"Seller\" }) { readCount } }";
const LIST: &str = "query($status: ChatStatus, $mine: Boolean, $un: Boolean, $aw: Boolean, $unread: Boolean, $sort: ChatSort, $first: Int, $after: String) {
    chats(status: $status, assignedToMe: $mine, unassigned: $un, awaitingReply: $aw, unreadOnly: $unread, sort: $sort, first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { seller { businessName } awaitingReplySince } } }";

/// The business names of a `chats` answer, in order.
fn names(data: &Value) -> Vec<String> {
    data["chats"]["nodes"].as_array().unwrap().iter().map(|n| n["seller"]["businessName"].as_str().unwrap().to_owned()).collect()
}

/// An operator user's global ID, by role name, from `operatorUsers`.
async fn user_id(app: &TestApp, key: &str, role: &str) -> String {
    let users = app.as_operator(key, "{ operatorUsers { id name email role } }", json!({})).await;
    let user = users["operatorUsers"].as_array().unwrap().iter().find(|u| u["role"] == role).expect("the user").clone();
    user["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_seller_message_waits_until_an_admin_answers_and_reopens_a_resolved_chat() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("Agent K").await;
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"]["status"], "OPEN");
    assert_eq!(chat["chat"]["awaitingReplySince"], Value::Null);

    let first = app.seller_sends(&seller.key, "hello?").await;
    let first_at = first["chatMessage"]["createdAt"].clone();
    app.seller_sends(&seller.key, "anyone?").await;
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"]["awaitingReplySince"], first_at, "the oldest unanswered Seller message");

    let resolved = app.as_operator(&op, STATUS, json!({ "s": seller.gid, "st": "RESOLVED" })).await;
    assert_eq!(resolved["chatStatusUpdate"]["chat"]["status"], "RESOLVED");
    app.seller_sends(&seller.key, "one more thing").await;
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"]["status"], "OPEN", "a Seller message reopens the chat");
    assert_eq!(chat["chat"]["awaitingReplySince"], first_at, "still waiting since the first");

    app.operator_sends(&op, &seller.gid, "here").await;
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"]["awaitingReplySince"], Value::Null, "an Admin message answers");
    assert_eq!(chat["chat"]["status"], "OPEN", "an Admin message does not change the status");

    let unknown = app.as_operator(&op, STATUS, json!({ "s": "U2VsbGVyLTk5OTk=", "st": "RESOLVED" })).await;
    assert_eq!(payload_errors(&unknown["chatStatusUpdate"])[0].0, "sellerId");
}

#[tokio::test]
async fn chats_are_assigned_only_to_operator_users_who_may_chat_and_viewers_are_refused() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let support = app.operator_session(OperatorRole::CustomerSupport).await;
    let viewer = app.operator_session(OperatorRole::Viewer).await;
    let users = app.as_operator(&op, "{ operatorUsers { role } }", json!({})).await;
    assert_eq!(users["operatorUsers"], json!([{ "role": "customer-support" }]), "Viewers are not listed");

    let agent = user_id(&app, &op, "customer-support").await;
    let assigned = app.as_operator(&op, ASSIGN, json!({ "s": seller.gid, "a": agent })).await;
    assert_eq!(assigned["chatAssign"]["chat"]["assignee"]["name"].as_str().map(|n| !n.is_empty()), Some(true));
    assert_eq!(assigned["chatAssign"]["clientMutationId"], "c1");
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"]["assignee"]["id"], agent.as_str());
    assert_eq!(chat["chat"]["assignee"]["role"], "customer-support");

    // A seller's ID, a Viewer or an unknown user is not an assignee.
    for wrong in [seller.gid.clone(), "T3BlcmF0b3JVc2VyLTk5OQ==".to_owned()] {
        let refused = app.as_operator(&op, ASSIGN, json!({ "s": seller.gid, "a": wrong })).await;
        assert_eq!(payload_errors(&refused["chatAssign"])[0].0, "assigneeId", "{refused}");
    }
    let unassigned = app.as_operator(&op, ASSIGN, json!({ "s": seller.gid, "a": null })).await;
    assert_eq!(unassigned["chatAssign"]["chat"]["assignee"], Value::Null);

    let (_, body) = as_user(&app, "/graphql/operator", &viewer, ASSIGN, json!({ "s": seller.gid, "a": agent })).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = as_user(&app, "/graphql/operator", &viewer, "{ savedReplies { id } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = as_user(&app, "/graphql/operator", &support, ASSIGN, json!({ "s": seller.gid, "a": agent })).await;
    assert_eq!(body["data"]["chatAssign"]["errors"], Value::Null, "{body}");
}

#[tokio::test]
async fn mark_unread_is_the_operators_own_flag_and_reading_the_chat_clears_it() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "hi").await;
    app.as_operator(&op, OPERATOR_READ, json!({ "s": seller.gid })).await;
    let seller_view = "{ chatMessages(first: 5) { nodes { readAt } } }";
    let read_at = app.as_seller(&seller.key, seller_view, json!({})).await;
    assert_ne!(read_at["chatMessages"]["nodes"][0]["readAt"], Value::Null);

    let marked = app.as_operator(&op, MARK_UNREAD, json!({ "s": seller.gid })).await;
    assert_eq!(marked["chatMarkUnread"]["chat"]["unreadCount"], 1);
    assert_eq!(app.as_operator(&op, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 1);
    let unread = app.as_operator(&op, LIST, json!({ "unread": true })).await;
    assert_eq!(names(&unread), ["Acme"]);
    assert_eq!(unread["chats"]["totalCount"], 1);
    assert_eq!(app.as_seller(&seller.key, seller_view, json!({})).await, read_at, "no message's readAt changed");

    let cleared = app.as_operator(&op, OPERATOR_READ, json!({ "s": seller.gid })).await;
    assert_eq!(cleared["chatMessageRead"]["readCount"], 0);
    assert_eq!(app.as_operator(&op, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 0);
    assert_eq!(app.as_operator(&op, LIST, json!({ "unread": true })).await["chats"]["totalCount"], 0);
}

#[tokio::test]
async fn notes_page_newest_first_and_follow_the_message_rules() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("Agent K").await;
    for n in 1..=3 {
        let created = app.as_operator(&op, NOTE, json!({ "s": seller.gid, "n": format!("  note {n} ") })).await;
        assert_eq!(created["chatNoteCreate"]["note"]["note"], format!("note {n}"));
        assert_eq!(created["chatNoteCreate"]["note"]["author"], "Agent K");
    }
    let chat = app.as_operator(&op, CHAT, json!({ "s": seller.gid })).await;
    let notes = &chat["chat"]["notes"];
    assert_eq!(notes["nodes"].as_array().unwrap().iter().map(|n| n["note"].as_str().unwrap()).collect::<Vec<_>>(), ["note 3", "note 2"]);
    assert_eq!(notes["pageInfo"]["hasNextPage"], true);
    let rest = app
        .as_operator(&op, "query($s: ID!, $a: String) { chat(sellerId: $s) { notes(first: 5, after: $a) { nodes { note } pageInfo { hasNextPage } } } }",
            json!({ "s": seller.gid, "a": notes["pageInfo"]["endCursor"] }))
        .await;
    assert_eq!(rest["chat"]["notes"]["nodes"], json!([{ "note": "note 1" }]));
    for bad in ["   ".to_owned(), "x".repeat(2001), "a\u{0}b".to_owned()] {
        let refused = app.as_operator(&op, NOTE, json!({ "s": seller.gid, "n": bad })).await;
        assert_eq!(payload_errors(&refused["chatNoteCreate"])[0].0, "note");
    }
    let ok = app.as_operator(&op, NOTE, json!({ "s": seller.gid, "n": "y".repeat(2000) })).await;
    assert_eq!(ok["chatNoteCreate"]["errors"], Value::Null);
}

#[tokio::test]
async fn saved_replies_are_created_listed_by_title_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let create = "mutation($t: String!, $b: String!) { savedReplyCreate(input: { title: $t, body: $b }) { savedReply { id title body } errors { field } } }";
    let b = app.as_operator(&op, create, json!({ "t": "Remittance", "b": "Paid on Fridays." })).await;
    app.as_operator(&op, create, json!({ "t": "address", "b": "Use the form." })).await;
    let list = app.as_operator(&op, "{ savedReplies { title } }", json!({})).await;
    assert_eq!(list["savedReplies"], json!([{ "title": "address" }, { "title": "Remittance" }]));
    for (t, body, field) in [("", "x", "title"), (&*"t".repeat(101), "x", "title"), ("ok", "", "body")] {
        let refused = app.as_operator(&op, create, json!({ "t": t, "b": body })).await;
        assert_eq!(payload_errors(&refused["savedReplyCreate"])[0].0, field);
    }
    let id = b["savedReplyCreate"]["savedReply"]["id"].clone();
    let update = "mutation($id: ID!) { savedReplyUpdate(input: { id: $id, body: \"Paid on Mondays.\" }) { savedReply { title body } errors { field } } }";
    let updated = app.as_operator(&op, update, json!({ "id": id })).await;
    assert_eq!(updated["savedReplyUpdate"]["savedReply"], json!({ "title": "Remittance", "body": "Paid on Mondays." }));
    let delete = "mutation($id: ID!) { savedReplyDelete(input: { id: $id }) { deletedId errors { field } } }";
    assert_eq!(app.as_operator(&op, delete, json!({ "id": id })).await["savedReplyDelete"]["deletedId"], id);
    assert_eq!(payload_errors(&app.as_operator(&op, delete, json!({ "id": id })).await["savedReplyDelete"])[0].0, "id");
    assert_eq!(app.as_operator(&op, "{ savedReplies { title } }", json!({})).await["savedReplies"], json!([{ "title": "address" }]));
}

#[tokio::test]
async fn the_chat_list_filters_by_status_assignee_and_waiting_and_sorts_by_longest_wait() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let support = app.operator_session(OperatorRole::CustomerSupport).await;
    let agent = user_id(&app, &op, "customer-support").await;
    let mut sellers = Vec::new();
    for name in ["Oldest", "Middle", "Newest", "Answered"] {
        let seller = app.seller(name).await;
        app.seller_sends(&seller.key, "waiting").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        sellers.push(seller);
    }
    app.operator_sends(&op, &sellers[3].gid, "answer").await;
    app.as_operator(&op, ASSIGN, json!({ "s": sellers[1].gid, "a": agent })).await;
    app.as_operator(&op, STATUS, json!({ "s": sellers[2].gid, "st": "RESOLVED" })).await;

    let waiting = app.as_operator(&op, LIST, json!({ "sort": "WAITING_LONGEST" })).await;
    assert_eq!(names(&waiting), ["Oldest", "Middle", "Newest"], "chats not waiting are left out");
    assert_eq!(waiting["chats"]["totalCount"], 3);
    let page1 = app.as_operator(&op, LIST, json!({ "sort": "WAITING_LONGEST", "first": 2 })).await;
    assert_eq!(names(&page1), ["Oldest", "Middle"]);
    let page2 = app.as_operator(&op, LIST, json!({ "sort": "WAITING_LONGEST", "first": 2, "after": page1["chats"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(names(&page2), ["Newest"]);
    assert_eq!(page2["chats"]["pageInfo"]["hasNextPage"], false);

    let unassigned = app.as_operator(&op, LIST, json!({ "sort": "WAITING_LONGEST", "un": true })).await;
    assert_eq!(names(&unassigned), ["Oldest", "Newest"]);
    assert_eq!(unassigned["chats"]["totalCount"], 2);
    let recent = app.as_operator(&op, LIST, json!({})).await;
    assert_eq!(names(&recent), ["Answered", "Newest", "Middle", "Oldest"]);
    assert_eq!(names(&app.as_operator(&op, LIST, json!({ "aw": true })).await), ["Newest", "Middle", "Oldest"]);
    let resolved = app.as_operator(&op, LIST, json!({ "status": "RESOLVED" })).await;
    assert_eq!((names(&resolved), resolved["chats"]["totalCount"].clone()), (vec!["Newest".to_owned()], json!(1)));
    let open_unassigned = app.as_operator(&op, LIST, json!({ "status": "OPEN", "un": true })).await;
    assert_eq!(names(&open_unassigned), ["Answered", "Oldest"]);
    assert_eq!(open_unassigned["chats"]["totalCount"], 2);

    let (_, mine) = as_user(&app, "/graphql/operator", &support, LIST, json!({ "mine": true })).await;
    assert_eq!(names(&mine["data"]), ["Middle"], "{mine}");
    let (_, body) = app.graphql("/graphql/operator", &op, LIST, json!({ "mine": true })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("API key"), "a key has no assigned chats: {body}");
    let (_, body) = app.graphql("/graphql/operator", &op, LIST, json!({ "mine": true, "un": true })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn every_chat_list_combination_uses_an_index_on_sqlite() {
    if backend() != Backend::Sqlite {
        eprintln!("skipped: EXPLAIN QUERY PLAN is SQLite's; PostgreSQL picks the same indexes by cost");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("plans.db").display())).await.unwrap();
    use marketchat::store::Store;
    store.migrate().await.unwrap();
    let mut checked = 0;
    for sort in [ChatSort::RecentActivity, ChatSort::WaitingLongest] {
        for assignee in [None, Some(None), Some(Some(1))] {
            for status in [None, Some(ChatStatus::Open)] {
                for (unread_only, awaiting_reply, search) in [(false, false, None), (true, false, None), (false, true, Some("acme".to_owned())), (true, true, None)] {
                    let filter = ChatFilter { unread_only, search, status, assignee, awaiting_reply };
                    let query = ChatListQuery { limit: 20, after: None, filter, sort };
                    for plan in [store.chat_list_plan(&query, false).await.unwrap(), store.chat_list_plan(&query, true).await.unwrap()] {
                        let text = plan.join("\n");
                        assert!(plan.iter().all(|step| step != "SCAN c" && step != "SCAN chats"), "a full scan of chats for {query:?}:\n{text}");
                        assert!(text.contains("USING INDEX chats_") || text.contains("USING COVERING INDEX chats_"), "no chats index for {query:?}:\n{text}");
                        assert!(!text.contains("TEMP B-TREE"), "sorted without the index for {query:?}:\n{text}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 96);
}

#[tokio::test]
async fn support_stats_count_messages_responses_and_resolutions() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let op = app.operator_key("Agent K").await;
    let other = app.operator_key("Agent L").await;
    app.seller_sends(&a.key, "a1").await;
    app.seller_sends(&b.key, "b1").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.operator_sends(&op, &a.gid, "answer a").await;
    app.operator_sends(&other, &b.gid, "answer b").await;
    app.operator_sends(&other, &b.gid, "more for b").await;
    app.as_operator(&op, STATUS, json!({ "s": a.gid, "st": "RESOLVED" })).await;

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let query = "query($f: String!, $t: String!) { supportStats(from: $f, to: $t) { from to messagesPerDay { day seller admin }
        firstResponse { count medianSeconds p90Seconds } resolution { count medianSeconds p90Seconds }
        perAgent { agent messages firstResponse { count medianSeconds } resolution { count } } chatsOpened chatsResolved } }";
    let stats = app.as_operator(&op, query, json!({ "f": today, "t": today })).await["supportStats"].clone();
    assert_eq!(stats["messagesPerDay"], json!([{ "day": today, "seller": 2, "admin": 3 }]), "{stats}");
    assert_eq!(stats["chatsOpened"], 2);
    assert_eq!(stats["chatsResolved"], 1);
    assert_eq!(stats["firstResponse"]["count"], 2, "one first response per waiting chat, not per Admin message");
    for field in ["medianSeconds", "p90Seconds"] {
        let seconds = stats["firstResponse"][field].as_f64().unwrap();
        assert!((1.0..10.0).contains(&seconds), "{field} {seconds}");
    }
    assert_eq!(stats["resolution"]["count"], 1);
    assert!((1.0..10.0).contains(&stats["resolution"]["medianSeconds"].as_f64().unwrap()), "{stats}");
    let agents = stats["perAgent"].as_array().unwrap();
    assert_eq!(agents.iter().map(|a| (a["agent"].as_str().unwrap(), a["messages"].as_i64().unwrap())).collect::<Vec<_>>(), [("Agent K", 1), ("Agent L", 2)]);
    assert_eq!(agents[0]["resolution"]["count"], 1);
    assert_eq!(agents[1]["resolution"]["count"], 0);
    assert_eq!(agents[1]["firstResponse"]["count"], 1);

    let empty = app.as_operator(&op, query, json!({ "f": "2001-01-01", "t": "2001-01-31" })).await["supportStats"].clone();
    assert_eq!((empty["messagesPerDay"].clone(), empty["firstResponse"]["medianSeconds"].clone()), (json!([]), Value::Null));
    for (f, t) in [("2024-01-01", "2026-01-01"), ("soon", "2026-01-01"), ("2026-02-01", "2026-01-01")] {
        let (_, body) = app.graphql("/graphql/operator", &op, query, json!({ "f": f, "t": t })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{f}..{t}: {body}");
    }
}

/// The operator subscription selecting the support inbox's events.
pub const OPERATOR_EVENTS: &str = "subscription($after: String) { chatEvents(after: $after) { __typename
    ... on ChatUpdated { cursor chat { status assignee { name } unreadCount } }
    ... on ChatNoteCreated { cursor note { note author } chat { seller { businessName } } }
    ... on ChatMessageCreated { cursor chatMessage { message } } } }";

/// Subscribes to [`OPERATOR_EVENTS`] on `base` after `after`.
pub async fn operator_events(base: &str, key: &str, after: &str) -> WsClient {
    let mut client = WsClient::initialised(base, "/graphql/operator", key).await;
    client.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": OPERATOR_EVENTS, "variables": { "after": after } } })).await;
    client
}

#[tokio::test]
async fn support_changes_reach_operator_subscriptions_live_and_on_replay() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("Agent K").await;
    let start = EventCursor::START.encode();
    let mut live = operator_events(&app.base, &op, &start).await;
    app.seller_sends(&seller.key, "hi").await;
    assert_eq!(live.next_event().await["__typename"], "ChatMessageCreated");
    app.as_operator(&op, STATUS, json!({ "s": seller.gid, "st": "RESOLVED" })).await;
    let updated = live.next_event().await;
    assert_eq!((updated["__typename"].as_str(), updated["chat"]["status"].as_str()), (Some("ChatUpdated"), Some("RESOLVED")));
    app.as_operator(&op, NOTE, json!({ "s": seller.gid, "n": "VIP" })).await;
    let noted = live.next_event().await;
    assert_eq!(noted["note"], json!({ "note": "VIP", "author": "Agent K" }));
    assert_eq!(noted["chat"]["seller"]["businessName"], "Acme");
    app.as_operator(&op, MARK_UNREAD, json!({ "s": seller.gid })).await;
    assert_eq!(live.next_event().await["chat"]["unreadCount"], 1);

    // Replay after the first event gives the same three, in order.
    let mut replay = operator_events(&app.base, &op, updated["cursor"].as_str().unwrap()).await;
    assert_eq!(replay.next_event().await["__typename"], "ChatNoteCreated");
    assert_eq!(replay.next_event().await["__typename"], "ChatUpdated");
}
