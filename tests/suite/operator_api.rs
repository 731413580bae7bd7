//! SPEC §4: the Operator API.

use crate::common::app::TestApp;
use crate::common::graphql::{payload_errors, texts, SELLER_PAGE};
use serde_json::{json, Value};

const CHATS: &str = "query($first: Int, $after: String, $unreadOnly: Boolean, $search: String) {
  chats(first: $first, after: $after, unreadOnly: $unreadOnly, search: $search) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id seller { id businessName } unreadCount updatedAt lastMessage { message sentByType } }
  }
}";

fn names(chats: &Value) -> Vec<String> {
    chats["nodes"].as_array().unwrap().iter().map(|n| n["seller"]["businessName"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_operator_replies_into_the_sellers_thread() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("Support desk").await;
    app.seller_sends(&seller.key, "When is my remittance paid?").await;
    let reply = app.operator_sends(&op, &seller.gid, "Friday.").await;
    assert!(reply["errors"].is_null(), "{reply}");
    assert_eq!(reply["chatMessage"]["sentByType"], "Admin");
    assert_eq!(reply["chatMessage"]["sentBy"], "Support desk");
    assert_eq!(reply["chatMessage"]["seller"]["businessName"], "Acme");
    let thread = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(texts(&thread["chatMessages"]), ["Friday.", "When is my remittance paid?"]);
}

#[tokio::test]
async fn chats_list_only_active_chats_most_recent_first() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue Harbor").await;
    let _silent = app.seller("Copper Kettle").await;
    app.seller_sends(&a.key, "a1").await;
    app.seller_sends(&b.key, "b1").await;
    let data = app.as_operator(&op, CHATS, json!({})).await;
    assert_eq!(names(&data["chats"]), ["Blue Harbor", "Acme"]);
    assert_eq!(data["chats"]["totalCount"], 2);
    app.operator_sends(&op, &a.gid, "reply to a").await;
    let data = app.as_operator(&op, CHATS, json!({})).await;
    assert_eq!(names(&data["chats"]), ["Acme", "Blue Harbor"]);
    let acme = &data["chats"]["nodes"][0];
    assert_eq!(acme["lastMessage"]["message"], "reply to a");
    assert_eq!(acme["unreadCount"], 1, "one unread seller message");
    assert!(acme["updatedAt"].is_string());
}

#[tokio::test]
async fn chats_filter_by_unread_and_search_case_insensitively() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let a = app.seller("Acme Outdoor").await;
    let b = app.seller("Blue Harbor Books").await;
    let c = app.seller("Ünicode Ökonomie").await;
    app.seller_sends(&a.key, "a1").await;
    app.seller_sends(&b.key, "b1").await;
    app.seller_sends(&c.key, "c1").await;
    app.as_operator(&op, r#"mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: "Seller" }) { readCount } }"#, json!({ "s": b.gid }))
        .await;
    let unread = app.as_operator(&op, CHATS, json!({ "unreadOnly": true })).await;
    assert_eq!(names(&unread["chats"]), ["Ünicode Ökonomie", "Acme Outdoor"]);
    assert_eq!(unread["chats"]["totalCount"], 2);
    let search = app.as_operator(&op, CHATS, json!({ "search": "HARBOR" })).await;
    assert_eq!(names(&search["chats"]), ["Blue Harbor Books"]);
    let search = app.as_operator(&op, CHATS, json!({ "search": "ökon" })).await;
    assert_eq!(names(&search["chats"]), ["Ünicode Ökonomie"]);
    let wildcard = app.as_operator(&op, CHATS, json!({ "search": "%" })).await;
    assert_eq!(names(&wildcard["chats"]), Vec::<String>::new(), "search is a plain substring, not a pattern");
}

#[tokio::test]
async fn chats_page_forward_without_repeats() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    for i in 0..7 {
        let seller = app.seller(&format!("Seller {i}")).await;
        app.seller_sends(&seller.key, "hi").await;
    }
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.as_operator(&op, CHATS, json!({ "first": 3, "after": after })).await;
        seen.extend(names(&data["chats"]));
        if data["chats"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["chats"]["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("Seller {i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn sellers_are_listed_by_name_with_search_and_paging() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    for name in ["zeta", "Alpha", "beta", "alpha"] {
        app.seller(name).await;
    }
    let query = "query($first: Int, $after: String, $search: String) {
      sellers(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } nodes { businessName chat { unreadCount } } }
    }";
    let first = app.as_operator(&op, query, json!({ "first": 2 })).await;
    let page1: Vec<&str> = first["sellers"]["nodes"].as_array().unwrap().iter().map(|n| n["businessName"].as_str().unwrap()).collect();
    assert_eq!(page1, ["Alpha", "alpha"]);
    assert_eq!(first["sellers"]["totalCount"], 4);
    let after = first["sellers"]["pageInfo"]["endCursor"].clone();
    let second = app.as_operator(&op, query, json!({ "first": 2, "after": after })).await;
    let page2: Vec<&str> = second["sellers"]["nodes"].as_array().unwrap().iter().map(|n| n["businessName"].as_str().unwrap()).collect();
    assert_eq!(page2, ["beta", "zeta"]);
    assert_eq!(second["sellers"]["pageInfo"]["hasNextPage"], false);
    let search = app.as_operator(&op, query, json!({ "search": "ALP" })).await;
    assert_eq!(search["sellers"]["totalCount"], 2);
}

#[tokio::test]
async fn operator_unread_count_spans_all_chats_and_read_needs_sent_by_seller() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    app.seller_sends(&a.key, "a1").await;
    app.seller_sends(&a.key, "a2").await;
    app.seller_sends(&b.key, "b1").await;
    assert_eq!(app.as_operator(&op, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 3);

    let read = r#"mutation($s: ID!, $by: String!) { chatMessageRead(input: { sellerId: $s, sentBy: $by }) { readCount errors { field messages } } }"#;
    let wrong = app.as_operator(&op, read, json!({ "s": a.gid, "by": "Admin" })).await;
    assert_eq!(payload_errors(&wrong["chatMessageRead"])[0].0, "sentBy");
    let right = app.as_operator(&op, read, json!({ "s": a.gid, "by": "Seller" })).await;
    assert_eq!(right["chatMessageRead"]["readCount"], 2);
    assert_eq!(app.as_operator(&op, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 1);

    let seller_view = app.as_seller(&a.key, SELLER_PAGE, json!({})).await;
    assert!(seller_view["chatMessages"]["nodes"][0]["readAt"].is_string(), "the seller sees its message was read");
}

#[tokio::test]
async fn an_unknown_seller_id_is_a_seller_id_error() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let unknown = marketchat::domain::ids::SellerId::from(999).gid();
    let sent = app.operator_sends(&op, &unknown, "hello?").await;
    assert_eq!(payload_errors(&sent), [("sellerId".to_owned(), "does not exist".to_owned())]);
    assert!(sent["chatMessage"].is_null());
    let read = r#"mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: "Seller" }) { readCount errors { field messages } } }"#;
    let data = app.as_operator(&op, read, json!({ "s": unknown })).await;
    assert_eq!(payload_errors(&data["chatMessageRead"])[0].0, "sellerId");
    let chat = app.as_operator(&op, "query($s: ID!) { chat(sellerId: $s) { id } }", json!({ "s": unknown })).await;
    assert_eq!(chat["chat"], Value::Null);
}

#[tokio::test]
async fn node_resolves_messages_chats_and_sellers() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let seller = app.seller("Acme").await;
    let sent = app.seller_sends(&seller.key, "hello").await;
    let message_id = sent["chatMessage"]["id"].as_str().unwrap().to_owned();
    let chat_id = seller.id.chat_gid();
    let query = "query($id: ID!) { node(id: $id) { id __typename ... on ChatMessage { message seller { businessName } }
        ... on Chat { unreadCount seller { id } } ... on Seller { businessName chat { id } } } }";
    let message = app.as_operator(&op, query, json!({ "id": message_id })).await;
    assert_eq!(message["node"]["__typename"], "ChatMessage");
    assert_eq!(message["node"]["seller"]["businessName"], "Acme");
    let chat = app.as_operator(&op, query, json!({ "id": chat_id })).await;
    assert_eq!(chat["node"]["__typename"], "Chat");
    assert_eq!(chat["node"]["seller"]["id"], seller.gid.as_str());
    let found = app.as_operator(&op, query, json!({ "id": seller.gid })).await;
    assert_eq!(found["node"]["businessName"], "Acme");
    assert_eq!(found["node"]["chat"]["id"], chat_id.as_str());
}

#[tokio::test]
async fn the_chat_exposes_its_messages_as_a_connection() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let seller = app.seller("Acme").await;
    for text in ["one", "two", "three"] {
        app.seller_sends(&seller.key, text).await;
    }
    let data = app
        .as_operator(&op, "query($s: ID!) { chat(sellerId: $s) { messages(first: 2) { totalCount pageInfo { hasNextPage } nodes { message } } } }", json!({ "s": seller.gid }))
        .await;
    let messages = &data["chat"]["messages"];
    assert_eq!(texts(messages), ["three", "two"]);
    assert_eq!(messages["totalCount"], 3);
    assert_eq!(messages["pageInfo"]["hasNextPage"], true);
}
