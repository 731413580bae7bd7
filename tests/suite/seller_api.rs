//! SPEC §1 and §3: the Seller API and the thread semantics of the brief.

use crate::common::app::TestApp;
use crate::common::graphql::{payload_errors, texts, BRIEF_LIST, BRIEF_READ, BRIEF_SEND, SELLER_PAGE, SELLER_SEND};
use serde_json::{json, Value};

#[tokio::test]
async fn the_briefs_three_operations_work_verbatim() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let operator = app.operator_key("Support").await;

    let sent = app.as_seller(&seller.key, BRIEF_SEND, Value::Null).await;
    let payload = &sent["chatMessageCreate"];
    assert!(payload["chatMessage"]["id"].as_str().is_some(), "{sent}");
    assert!(payload["errors"].is_null(), "{sent}");

    app.operator_sends(&operator, &seller.gid, "It is paid on Friday.").await;
    let listed = app.as_seller(&seller.key, BRIEF_LIST, Value::Null).await;
    let page = &listed["chatMessages"];
    assert_eq!(page["totalCount"], 2);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    assert!(page["pageInfo"]["endCursor"].is_string());
    assert_eq!(page["nodes"][0]["sentByType"], "Admin", "newest first");
    assert_eq!(page["nodes"][0]["readAt"], Value::Null);
    assert_eq!(page["nodes"][1]["message"], "Can you check to see when my remittance will be paid?");
    assert_eq!(page["nodes"][1]["sentByType"], "Seller");

    let read = app.as_seller(&seller.key, BRIEF_READ, Value::Null).await;
    assert!(read["chatMessageRead"]["errors"].is_null(), "{read}");
    let listed = app.as_seller(&seller.key, BRIEF_LIST, Value::Null).await;
    let read_at = listed["chatMessages"]["nodes"][0]["readAt"].as_str().expect("readAt set");
    assert!(chrono::DateTime::parse_from_rfc3339(read_at).is_ok());
    assert_eq!(listed["chatMessages"]["nodes"][1]["readAt"], Value::Null, "own messages are not marked by the seller");
}

#[tokio::test]
async fn the_shared_graphql_path_serves_the_seller_api_to_a_seller_key() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let (status, sent) = app.graphql("/graphql", &seller.key, BRIEF_SEND, Value::Null).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(sent["data"]["chatMessageCreate"]["chatMessage"]["id"].is_string(), "{sent}");
    let (_, listed) = app.graphql("/graphql", &seller.key, BRIEF_LIST, Value::Null).await;
    assert_eq!(listed["data"]["chatMessages"]["totalCount"], 1);
    let (_, read) = app.graphql("/graphql", &seller.key, BRIEF_READ, Value::Null).await;
    assert!(read["data"]["chatMessageRead"]["errors"].is_null(), "{read}");
}

#[tokio::test]
async fn times_are_rfc3339_utc_with_milliseconds_and_ids_are_global() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let payload = app.seller_sends(&seller.key, "hello").await;
    let message = &payload["chatMessage"];
    let created = message["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), "2026-11-25T09:15:02.123Z".len(), "{created}");
    assert!(created.ends_with('Z') && created.as_bytes()[19] == b'.', "{created}");
    let id = message["id"].as_str().unwrap();
    let decoded = marketchat::domain::ids::GlobalId::decode(id).unwrap();
    assert_eq!(decoded.kind, marketchat::domain::ids::IdKind::ChatMessage);
}

#[tokio::test]
async fn seller_keys_of_one_account_share_one_thread() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let second_key = app.seller_key(seller.id).await;
    app.seller_sends(&seller.key, "from key one").await;
    app.seller_sends(&second_key, "from key two").await;
    for key in [&seller.key, &second_key] {
        let data = app.as_seller(key, SELLER_PAGE, json!({})).await;
        assert_eq!(texts(&data["chatMessages"]), ["from key two", "from key one"]);
    }
}

#[tokio::test]
async fn operator_keys_write_into_the_same_thread_as_one_persona() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let alice = app.operator_key("Alice (support)").await;
    let bob = app.operator_key("Bob (finance)").await;
    app.operator_sends(&alice, &seller.gid, "first").await;
    app.operator_sends(&bob, &seller.gid, "second").await;
    let data = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    let nodes = data["chatMessages"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        assert_eq!(node["sentByType"], "Admin");
        assert_eq!(node["sentBy"], Value::Null, "the seller sees one operator persona");
    }
    let operator_view = app
        .as_operator(&alice, "query($s: ID!) { chatMessages(sellerId: $s) { nodes { message sentBy } } }", json!({ "s": seller.gid }))
        .await;
    assert_eq!(operator_view["chatMessages"]["nodes"][0]["sentBy"], "Bob (finance)");
    assert_eq!(operator_view["chatMessages"]["nodes"][1]["sentBy"], "Alice (support)");
}

#[tokio::test]
async fn separate_seller_accounts_get_separate_threads() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue Harbor").await;
    app.seller_sends(&a.key, "from A").await;
    app.seller_sends(&b.key, "from B").await;
    let page_a = app.as_seller(&a.key, SELLER_PAGE, json!({})).await;
    let page_b = app.as_seller(&b.key, SELLER_PAGE, json!({})).await;
    assert_eq!(texts(&page_a["chatMessages"]), ["from A"]);
    assert_eq!(texts(&page_b["chatMessages"]), ["from B"]);
}

#[tokio::test]
async fn a_new_sellers_chat_exists_and_is_empty() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let data = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(data["chatMessages"]["totalCount"], 0);
    assert_eq!(data["chatMessages"]["nodes"], json!([]));
    assert_eq!(data["chatMessages"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(data["chatMessages"]["pageInfo"]["endCursor"], Value::Null);
    let op = app.operator_key("ops").await;
    let chat = app.as_operator(&op, "query($s: ID!) { chat(sellerId: $s) { unreadCount lastMessage { id } updatedAt } }", json!({ "s": seller.gid })).await;
    assert_eq!(chat["chat"], json!({ "unreadCount": 0, "lastMessage": null, "updatedAt": null }));
}

#[tokio::test]
async fn messages_are_trimmed_before_storing() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let payload = app.seller_sends(&seller.key, "  \n hello there \t ").await;
    assert_eq!(payload["chatMessage"]["message"], "hello there");
}

#[tokio::test]
async fn text_round_trips_exactly_and_limits_count_characters() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let text = "Grüße 👋🏽 e\u{301} مرحبا שלום 👩\u{200D}👩\u{200D}👧 <b>bold</b> & \"quotes\"\nline two";
    let payload = app.seller_sends(&seller.key, text).await;
    assert_eq!(payload["chatMessage"]["message"], text);
    let stored = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(stored["chatMessages"]["nodes"][0]["message"], text);

    let at_limit = "é".repeat(5_000);
    let payload = app.seller_sends(&seller.key, &at_limit).await;
    assert!(payload["errors"].is_null(), "5,000 two-byte characters are within the limit");
}

#[tokio::test]
async fn chat_unread_count_counts_operator_messages_until_read() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "question").await;
    for text in ["one", "two", "three"] {
        app.operator_sends(&op, &seller.gid, text).await;
    }
    let count = app.as_seller(&seller.key, "{ chatUnreadCount }", json!({})).await;
    assert_eq!(count["chatUnreadCount"], 3);
    let read = app
        .as_seller(&seller.key, r#"mutation { chatMessageRead(input: { sentBy: "Admin" }) { readCount errors { field messages } } }"#, json!({}))
        .await;
    assert_eq!(read["chatMessageRead"]["readCount"], 3);
    let count = app.as_seller(&seller.key, "{ chatUnreadCount }", json!({})).await;
    assert_eq!(count["chatUnreadCount"], 0);
}

#[tokio::test]
async fn read_up_to_marks_only_messages_up_to_and_including_that_one() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let payload = app.operator_sends(&op, &seller.gid, text).await;
        ids.push(payload["chatMessage"]["id"].as_str().unwrap().to_owned());
    }
    let query = r#"mutation($upTo: ID) { chatMessageRead(input: { sentBy: "Admin", upTo: $upTo }) { readCount errors { field messages } } }"#;
    let read = app.as_seller(&seller.key, query, json!({ "upTo": ids[1] })).await;
    assert_eq!(read["chatMessageRead"]["readCount"], 2);
    let page = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    let nodes = &page["chatMessages"]["nodes"];
    assert_eq!(nodes[0]["readAt"], Value::Null, "'three' is after upTo");
    assert!(nodes[1]["readAt"].is_string() && nodes[2]["readAt"].is_string());
}

#[tokio::test]
async fn read_at_is_set_once_and_repeating_the_read_is_harmless() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.operator_sends(&op, &seller.gid, "hello").await;
    let first = app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    assert!(first["chatMessageRead"]["errors"].is_null());
    let before = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await["chatMessages"]["nodes"][0]["readAt"].clone();
    let query = r#"mutation { chatMessageRead(input: { sentBy: "Admin" }) { readCount errors { field } } }"#;
    let again = app.as_seller(&seller.key, query, json!({})).await;
    assert_eq!(again["chatMessageRead"]["readCount"], 0);
    assert!(again["chatMessageRead"]["errors"].is_null());
    let after = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await["chatMessages"]["nodes"][0]["readAt"].clone();
    assert_eq!(before, after, "readAt never changes once set");
}

#[tokio::test]
async fn a_seller_cannot_mark_its_own_messages_read() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "mine").await;
    for sent_by in ["Seller", "admin", ""] {
        let query = "mutation($s: String!) { chatMessageRead(input: { sentBy: $s }) { readCount errors { field messages } } }";
        let data = app.as_seller(&seller.key, query, json!({ "s": sent_by })).await;
        let errors = payload_errors(&data["chatMessageRead"]);
        assert_eq!(errors.len(), 1, "{data}");
        assert_eq!(errors[0].0, "sentBy");
        assert_eq!(data["chatMessageRead"]["readCount"], 0);
    }
    let page = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(page["chatMessages"]["nodes"][0]["readAt"], Value::Null);
}

#[tokio::test]
async fn the_same_client_mutation_id_returns_the_original_message() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let vars = json!({ "message": "once only", "cmid": "retry-1" });
    let first = app.as_seller(&seller.key, SELLER_SEND, vars.clone()).await;
    let second = app.as_seller(&seller.key, SELLER_SEND, vars).await;
    assert_eq!(first["chatMessageCreate"]["chatMessage"]["id"], second["chatMessageCreate"]["chatMessage"]["id"]);
    assert_eq!(second["chatMessageCreate"]["clientMutationId"], "retry-1");
    assert_eq!(app.stored_messages(seller.id).await, 1);

    let other = app.as_seller(&seller.key, SELLER_SEND, json!({ "message": "another", "cmid": "retry-2" })).await;
    assert_ne!(other["chatMessageCreate"]["chatMessage"]["id"], first["chatMessageCreate"]["chatMessage"]["id"]);
    assert_eq!(app.stored_messages(seller.id).await, 2);
}

#[tokio::test]
async fn client_mutation_ids_are_scoped_to_one_seller() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let vars = json!({ "message": "hello", "cmid": "same-token" });
    let from_a = app.as_seller(&a.key, SELLER_SEND, vars.clone()).await;
    let from_b = app.as_seller(&b.key, SELLER_SEND, vars).await;
    assert_ne!(from_a["chatMessageCreate"]["chatMessage"]["id"], from_b["chatMessageCreate"]["chatMessage"]["id"]);
    assert_eq!(app.stored_messages(b.id).await, 1);
}

#[tokio::test]
async fn node_resolves_the_sellers_own_messages() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let payload = app.seller_sends(&seller.key, "find me").await;
    let id = payload["chatMessage"]["id"].as_str().unwrap();
    let data = app
        .as_seller(&seller.key, "query($id: ID!) { node(id: $id) { id ... on ChatMessage { message sentByType } } }", json!({ "id": id }))
        .await;
    assert_eq!(data["node"]["message"], "find me");
    assert_eq!(data["node"]["id"], id);
}
