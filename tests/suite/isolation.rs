//! SPEC §1: sellers never see or write each other's chats, through any door.

use crate::common::app::TestApp;
use crate::common::graphql::{error_code, payload_errors, API_KEYS, API_KEY_REVOKE, SELLER_API_KEY_CREATE, SELLER_LOOKUP, SELLER_PAGE, SELLER_UPSERT};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn seller_b_sees_nothing_of_a_through_chat_messages_node_or_cursors() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let mut a_ids = Vec::new();
    for i in 0..3 {
        let sent = app.seller_sends(&a.key, &format!("secret {i}")).await;
        a_ids.push(sent["chatMessage"]["id"].as_str().unwrap().to_owned());
    }
    let b_page = app.as_seller(&b.key, SELLER_PAGE, json!({})).await;
    assert_eq!(b_page["chatMessages"]["totalCount"], 0);

    for id in &a_ids {
        let node = app.as_seller(&b.key, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(node["node"], Value::Null, "B cannot fetch A's message by ID");
    }

    let a_page = app.as_seller(&a.key, SELLER_PAGE, json!({ "first": 1 })).await;
    let a_cursor = a_page["chatMessages"]["pageInfo"]["endCursor"].clone();
    for args in [json!({ "after": a_cursor }), json!({ "last": 2, "before": a_cursor })] {
        let (status, body) = app.graphql("/graphql/seller", &b.key, SELLER_PAGE, args).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "A's cursor is refused for B: {body}");
        assert!(!body.to_string().contains("secret"), "{body}");
    }
}

#[tokio::test]
async fn seller_b_cannot_mark_a_read_or_pass_a_seller_id() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let op = app.operator_key("ops").await;
    let to_a = app.operator_sends(&op, &a.gid, "for A only").await;
    let to_a_id = to_a["chatMessage"]["id"].as_str().unwrap();

    let query = r#"mutation($upTo: ID) { chatMessageRead(input: { sentBy: "Admin", upTo: $upTo }) { readCount errors { field messages } } }"#;
    let data = app.as_seller(&b.key, query, json!({ "upTo": to_a_id })).await;
    assert_eq!(payload_errors(&data["chatMessageRead"])[0].0, "upTo");
    assert_eq!(app.as_seller(&a.key, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 1);

    // The Seller API has no sellerId argument: passing one is a GraphQL validation error.
    let with_seller_id = r#"mutation($s: ID!) { chatMessageCreate(input: { sellerId: $s, message: "x" }) { errors { field } } }"#;
    let (_, body) = app.graphql("/graphql/seller", &b.key, with_seller_id, json!({ "s": a.gid })).await;
    assert!(body["errors"].is_array(), "{body}");
    assert_eq!(app.stored_messages(a.id).await, 1);
}

#[tokio::test]
async fn a_seller_key_cannot_use_operator_operations() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let (status, body) = app.graphql("/graphql/operator", &a.key, "{ chats { nodes { id } } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    // On /graphql the seller key gets the Seller API, which has no operator fields.
    let (status, body) = app.graphql("/graphql", &a.key, "{ chats { nodes { id } } }", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("chats"), "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
}

#[tokio::test]
async fn a_seller_credential_is_refused_every_operator_operation_on_every_path() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    app.seller_sends(&a.key, "A's message").await;
    let operations = [
        "{ chats { nodes { id } } }".to_owned(),
        format!(r#"{{ chat(sellerId: "{}") {{ id }} }}"#, a.gid),
        format!(r#"{{ chatMessages(sellerId: "{}") {{ totalCount }} }}"#, a.gid),
        "{ sellers { nodes { businessName } } }".to_owned(),
        format!(r#"mutation {{ chatMessageCreate(input: {{ sellerId: "{}", message: "x" }}) {{ errors {{ field }} }} }}"#, a.gid),
        format!(r#"mutation {{ chatMessageRead(input: {{ sellerId: "{}", sentBy: "Seller" }}) {{ readCount }} }}"#, a.gid),
    ];
    for operation in &operations {
        let (status, body) = app.graphql("/graphql/operator", &b.key, operation, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{operation}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
        // On /graphql a seller key gets the Seller API, which has none of these.
        let (_, body) = app.graphql("/graphql", &b.key, operation, json!({})).await;
        assert!(body["errors"].is_array(), "{operation}: {body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{operation}: {body}");
        assert!(!body.to_string().contains("A's message"), "{body}");
    }
    assert_eq!(app.stored_messages(a.id).await, 1, "nothing written into A's thread");
    let a_chat = app.store.chat(a.id).await.unwrap().unwrap();
    assert_eq!(a_chat.unread_by_operator, 1, "nothing of A's marked read");
}

#[tokio::test]
async fn node_ids_of_other_types_and_other_sellers_resolve_to_nothing() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let key_id = marketchat::domain::ids::GlobalId::new(marketchat::domain::ids::IdKind::ApiKey, 1).encode();
    for id in [a.gid.clone(), a.id.chat_gid(), b.gid.clone(), b.id.chat_gid(), key_id] {
        let data = app.as_seller(&b.key, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(data["node"], Value::Null, "{id}");
    }
    assert_eq!(app.as_seller(&b.key, "{ chatUnreadCount }", json!({})).await["chatUnreadCount"], 0);
}

#[tokio::test]
async fn an_event_cursor_from_seller_a_replays_only_seller_bs_own_events() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let op = app.operator_key("ops").await;
    let mut a_events = app.subscribe("/graphql/seller", &a.key, Some(&marketchat::domain::cursor::EventCursor::START.encode())).await;
    app.seller_sends(&a.key, "A one").await;
    let a_cursor = a_events.next_event().await["cursor"].as_str().unwrap().to_owned();
    app.operator_sends(&op, &a.gid, "to A").await;
    app.seller_sends(&b.key, "B one").await;
    let mut b_events = app.subscribe("/graphql/seller", &b.key, Some(&a_cursor)).await;
    assert_eq!(b_events.next_event().await["chatMessage"]["message"], "B one");
    b_events.expect_silence(200).await;
}

#[tokio::test]
async fn a_seller_credential_reaches_no_provisioning_operation_on_any_path_and_learns_nothing_new() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let a = app.upsert_seller(&admin, "mp-a", "Acme").await["seller"].clone();
    let a_gid = a["id"].as_str().unwrap().to_owned();
    let b = app.seller("Blue").await;
    let a_key = app.as_operator(&admin, SELLER_API_KEY_CREATE, json!({ "sellerId": a_gid })).await["sellerApiKeyCreate"].clone();
    let a_key_id = a_key["apiKey"]["id"].as_str().unwrap().to_owned();
    // Which keys exist and which are revoked (using a key records its use: that may change).
    let keys = || async { app.api_keys().await.into_iter().map(|k| (k.id, k.seller_id, k.revoked_at)).collect::<Vec<_>>() };
    let keys_before = keys().await;
    let operations = [
        (SELLER_UPSERT, json!({ "externalId": "mp-a", "businessName": "Taken over" })),
        (SELLER_UPSERT, json!({ "externalId": "mp-b", "businessName": "New" })),
        (SELLER_API_KEY_CREATE, json!({ "sellerId": a_gid })),
        (API_KEY_REVOKE, json!({ "id": a_key_id })),
        (SELLER_LOOKUP, json!({ "externalId": "mp-a" })),
        (API_KEYS, json!({ "sellerId": a_gid })),
    ];
    for (query, variables) in &operations {
        let (status, body) = app.graphql("/graphql/operator", &b.key, query, variables.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
        // The Seller API has none of these operations (nor `ApiKey`, nor `externalId`).
        for path in ["/graphql", "/graphql/seller"] {
            let (_, body) = app.graphql(path, &b.key, query, variables.clone()).await;
            assert!(body["errors"].is_array(), "{path} {query}: {body}");
            assert!(body.get("data").is_none_or(Value::is_null), "{path} {query}: {body}");
            assert!(!body.to_string().contains("mck_") && !body.to_string().contains("Acme"), "{body}");
        }
    }
    assert_eq!(keys().await, keys_before, "no key made or revoked");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM sellers").await, 2);
    assert_eq!(app.store.seller(b.id).await.unwrap().unwrap().business_name, "Blue");
    let (_, sdl) = app.get("/graphql/seller/schema.graphql").await;
    for hidden in ["sellerUpsert", "sellerApiKeyCreate", "apiKeyRevoke", "apiKeys", "externalId", "ApiKey", "seller("] {
        assert!(!sdl.contains(hidden), "the Seller API schema names {hidden}");
    }
}

#[tokio::test]
async fn a_seller_credential_cannot_search_messages_and_the_seller_schema_has_no_search() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    app.seller_sends(&a.key, "A's secret remittance").await;
    let search = r#"{ messageSearch(query: "remittance") { nodes { snippet chatMessage { message } } } }"#;
    let (status, body) = app.graphql("/graphql/operator", &b.key, search, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    for path in ["/graphql", "/graphql/seller"] {
        let (_, body) = app.graphql(path, &b.key, search, json!({})).await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("messageSearch"), "{path}: {body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{path}: {body}");
        assert!(!body.to_string().contains("secret"), "{body}");
    }
    let (_, sdl) = app.get("/graphql/seller/schema.graphql").await;
    for hidden in ["messageSearch", "MessageSearch", "TextRange", "snippet"] {
        assert!(!sdl.contains(hidden), "the Seller API schema names {hidden}");
    }
}

/// Every support inbox operation (SPEC §12) with its arguments, as a seller might try it.
const SUPPORT_OPERATIONS: [&str; 12] = [
    "query($s: ID!) { chat(sellerId: $s) { status awaitingReplySince assignee { id } notes { nodes { note } } } }",
    "{ chats(status: OPEN, assignedToMe: true, unassigned: false, awaitingReply: true, sort: WAITING_LONGEST) { totalCount } }",
    "{ operatorUsers { id name email role } }",
    "{ savedReplies { id title body } }",
    "{ supportStats(from: \"2026-01-01\", to: \"2026-01-02\") { chatsOpened } }",
    "mutation($s: ID!) { chatAssign(input: { sellerId: $s, assigneeId: null }) { chat { id } } }",
    "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { chat { id } } }",
    "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"x\" }) { note { id } } }",
    "mutation($s: ID!) { chatMarkUnread(input: { sellerId: $s }) { chat { id } } }",
    "mutation { savedReplyCreate(input: { title: \"t\", body: \"b\" }) { savedReply { id } } }",
    "mutation { savedReplyUpdate(input: { id: \"U2F2ZWRSZXBseS0x\", title: \"t\" }) { savedReply { id } } }",
    "mutation { savedReplyDelete(input: { id: \"U2F2ZWRSZXBseS0x\" }) { deletedId } }",
];

#[tokio::test]
async fn a_seller_reaches_no_support_inbox_field_operation_or_argument_and_its_schema_names_none() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&a.key, "hello").await;
    app.as_operator(&op, "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"internal: slow payer\" }) { note { id } } }", json!({ "s": a.gid })).await;
    app.as_operator(&op, "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { chat { id } } }", json!({ "s": a.gid })).await;
    for query in SUPPORT_OPERATIONS {
        let variables = json!({ "s": a.gid });
        let (status, body) = app.graphql("/graphql/operator", &a.key, query, variables.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
        for path in ["/graphql", "/graphql/seller"] {
            let (_, body) = app.graphql(path, &a.key, query, variables.clone()).await;
            assert!(body["errors"].is_array(), "{path} {query}: {body}");
            assert!(body.get("data").is_none_or(Value::is_null), "{path} {query}: {body}");
            assert!(!body.to_string().contains("slow payer") && !body.to_string().contains("RESOLVED\""), "{body}");
        }
    }
    let (_, sdl) = app.get("/graphql/seller/schema.graphql").await;
    for hidden in [
        "awaitingReplySince", "status", "assignee", "notes", "ChatNote", "ChatStatus", "ChatSort", "OperatorUser", "SavedReply",
        "supportStats", "SupportStats", "chatAssign", "chatMarkUnread", "ChatUpdated", "ChatNoteCreated", "assignedToMe", "unassigned",
        "awaitingReply", "WAITING_LONGEST",
    ] {
        assert!(!sdl.contains(hidden), "the Seller API schema names {hidden}");
    }
    // The seller's own view of its chat shows nothing of it.
    let own = app.as_seller(&a.key, "{ chatMessages(first: 10) { totalCount nodes { message } } chatUnreadCount }", json!({})).await;
    assert_eq!(own["chatMessages"]["nodes"], json!([{ "message": "hello" }]));
}

#[tokio::test]
async fn seller_subscriptions_and_replays_never_carry_support_inbox_events() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let start = marketchat::domain::cursor::EventCursor::START.encode();
    let mut live = app.subscribe("/graphql/seller", &a.key, Some(&start)).await;
    app.seller_sends(&a.key, "hello").await;
    assert_eq!(live.next_event().await["__typename"], "ChatMessageCreated");
    for query in [
        "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"internal\" }) { note { id } } }",
        "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { chat { id } } }",
        "mutation($s: ID!) { chatMarkUnread(input: { sellerId: $s }) { chat { id } } }",
        "mutation($s: ID!) { chatAssign(input: { sellerId: $s, assigneeId: null }) { chat { id } } }",
    ] {
        let done = app.as_operator(&op, query, json!({ "s": a.gid })).await;
        assert!(!done.to_string().contains("errors\":[{"), "{done}");
    }
    live.expect_silence(600).await;
    app.operator_sends(&op, &a.gid, "reply").await;
    let next = live.next_event().await;
    assert_eq!((next["__typename"].as_str(), next["chatMessage"]["message"].as_str()), (Some("ChatMessageCreated"), Some("reply")));

    let mut replay = app.subscribe("/graphql/seller", &a.key, Some(&start)).await;
    assert_eq!(replay.next_event().await["chatMessage"]["message"], "hello");
    assert_eq!(replay.next_event().await["chatMessage"]["message"], "reply");
    replay.expect_silence(400).await;
    // The operator's feed has them all.
    let mut operator = app.subscribe("/graphql/operator", &op, Some(&start)).await;
    let mut kinds = Vec::new();
    for _ in 0..6 {
        kinds.push(operator.next_event().await["__typename"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds, ["ChatMessageCreated", "ChatNoteCreated", "ChatUpdated", "ChatUpdated", "ChatUpdated", "ChatMessageCreated"]);
}
