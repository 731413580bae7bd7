//! SPEC §2 credentials and §6 errors and limits: each bad input gets its documented
//! error and nothing is stored.

use crate::common::app::{now, test_config, TestApp};
use crate::common::graphql::{error_code, payload_errors, texts, BRIEF_READ, BRIEF_SEND, SELLER_PAGE, SELLER_SEND};
use marketchat::config::ServerConfig;
use marketchat::domain::message::SensitivePolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn invalid_messages_get_payload_errors_and_store_nothing() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let cases = [
        ("", "can't be blank"),
        ("   \n\t  ", "can't be blank"),
        (&"x".repeat(5_001), "is too long (maximum is 5000 characters)"),
        ("nul\0byte", "contains control characters that are not allowed"),
        ("my card is 4111 1111 1111 1111 thanks", "payment card number"),
        ("pay to DE89 3704 0044 0532 0130 00 please", "an IBAN"),
    ];
    for (text, expected) in cases {
        let payload = app.seller_sends(&seller.key, text).await;
        let errors = payload_errors(&payload);
        assert_eq!(errors.len(), 1, "{payload}");
        assert_eq!(errors[0].0, "message");
        assert!(errors[0].1.contains(expected), "{:?} should mention {expected:?}", errors[0].1);
        assert!(payload["chatMessage"].is_null());
    }
    assert_eq!(app.stored_messages(seller.id).await, 0);
    let op = app.operator_key("ops").await;
    let payload = app.operator_sends(&op, &seller.gid, "  ").await;
    assert_eq!(payload_errors(&payload)[0], ("message".to_owned(), "can't be blank".to_owned()));
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn disguised_card_numbers_ibans_and_text_tricks_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let cases = [
        ("card 4111 1111 1111 1111 123", "payment card number"),
        ("4111111111111111 12/27", "payment card number"),
        ("4111\u{00A0}1111\u{202F}1111\u{2009}1111", "payment card number"),
        ("4111\u{200B}1111\u{00AD}1111\u{2060}1111", "payment card number"),
        ("４１１１ １１１１ １１１１ １１１１", "payment card number"),
        ("٤١١١ ١١١١ ١١١١ ١١١١", "payment card number"),
        ("card4111.1111.1111.1111", "payment card number"),
        ("ibanDE89-3704-0044-0532-0130-00", "an IBAN"),
        ("IBAN:ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００", "an IBAN"),
        ("invoice_\u{202E}fdp.exe", "contains invisible direction-control characters that are not allowed"),
        ("\u{2066}hello\u{2069}", "contains invisible direction-control characters that are not allowed"),
        ("\u{200B}\u{200D}\u{3164}", "can't be blank"),
        (&format!("Z{}", "\u{0301}".repeat(30)), "contains a character with too many combining marks"),
    ];
    for (text, expected) in cases {
        let payload = app.seller_sends(&seller.key, text).await;
        let errors = payload_errors(&payload);
        assert_eq!(errors.len(), 1, "{text:?}: {payload}");
        assert_eq!(errors[0].0, "message");
        assert!(errors[0].1.contains(expected), "{text:?}: {:?} should mention {expected:?}", errors[0].1);
        assert!(payload["chatMessage"].is_null());
    }
    assert_eq!(app.stored_messages(seller.id).await, 0);
    let fine = "Order INV-2026-000123, call +61 2 9876 5432 on 01/12/2026 at 10:30, $1,234.56 👩\u{200D}👩\u{200D}👧 שלום नमस्ते";
    let payload = app.seller_sends(&seller.key, fine).await;
    assert!(payload_errors(&payload).is_empty(), "{payload}");
    assert_eq!(payload["chatMessage"]["message"], fine);
    assert_eq!(app.stored_messages(seller.id).await, 1);
}

#[tokio::test]
async fn order_numbers_phone_numbers_dates_and_tracking_codes_are_not_sensitive() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let text = "Order #100234567, call +61 412 345 678, shipped 2026-11-25, tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00";
    let payload = app.seller_sends(&seller.key, text).await;
    assert!(payload["errors"].is_null(), "{payload}");
}

#[tokio::test]
async fn the_redact_policy_stores_the_number_masked() {
    let config = ServerConfig { sensitive_data: SensitivePolicy::Redact, ..test_config() };
    let app = TestApp::spawn_with(config).await;
    let seller = app.seller("Acme").await;
    let payload = app.seller_sends(&seller.key, "card 4111-1111-1111-1111").await;
    assert_eq!(payload["chatMessage"]["message"], "card ****-****-****-1111");
    let payload = app.seller_sends(&seller.key, "card ４１１１\u{00A0}１１１１\u{00A0}１１１１\u{00A0}１１１１ cvv 123").await;
    assert_eq!(payload["chatMessage"]["message"], "card ****\u{00A0}****\u{00A0}****\u{00A0}１１１１ cvv 123");
}

#[tokio::test]
async fn malformed_and_wrong_type_ids_are_validation_errors_not_500s() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let message_id = marketchat::domain::ids::MessageId::from(1).gid();
    for bad in ["", "nonsense", "U2VsbGVyLTA=", message_id.as_str()] {
        let payload = app.operator_sends(&op, bad, "hello").await;
        assert_eq!(payload_errors(&payload)[0].0, "sellerId", "{bad:?}: {payload}");
        let (status, body) = app.graphql("/graphql/operator", &op, "query($s: ID!) { chatMessages(sellerId: $s) { totalCount } }", json!({ "s": bad })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    let (_, body) = app.graphql("/graphql/seller", &seller.key, "{ node(id: \"@@@\") { id } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let query = r#"mutation { chatMessageRead(input: { sentBy: "Admin", upTo: "garbage" }) { readCount errors { field messages } } }"#;
    let data = app.as_seller(&seller.key, query, json!({})).await;
    assert_eq!(payload_errors(&data["chatMessageRead"])[0].0, "upTo");
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn bad_cursors_and_page_sizes_are_graphql_errors() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let cases = [
        json!({ "first": 501 }),
        json!({ "first": -1 }),
        json!({ "last": 501 }),
        json!({ "after": "not-a-cursor" }),
        json!({ "before": "bTox" }),
        json!({ "first": 1, "last": 1 }),
    ];
    for args in cases {
        let (status, body) = app.graphql("/graphql/seller", &seller.key, SELLER_PAGE, args.clone()).await;
        assert_eq!(status, StatusCode::OK, "{args}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{args}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().len() > 10);
    }
}

#[tokio::test]
async fn missing_unknown_revoked_and_wrong_side_keys_get_401_unauthenticated() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let revoked = app.operator_key("old").await;
    let keys = app.api_keys().await;
    app.store.revoke_api_key(keys.last().unwrap().id, now()).await.unwrap();

    let no_key = app.post("/graphql/seller").json(&json!({ "query": BRIEF_SEND }));
    let attempts = [
        ("missing", TestApp::read(no_key).await),
        ("unknown", app.graphql("/graphql/seller", "mck_not-a-real-key", BRIEF_SEND, Value::Null).await),
        ("revoked", app.graphql("/graphql/operator", &revoked, "{ chatUnreadCount }", Value::Null).await),
        ("seller key on operator API", app.graphql("/graphql/operator", &seller.key, "{ chatUnreadCount }", Value::Null).await),
        ("operator key on seller API", app.graphql("/graphql/seller", &op, BRIEF_SEND, Value::Null).await),
    ];
    for (what, (status, body)) in attempts {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
        assert!(body.get("data").is_none(), "{what}");
    }
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn both_header_forms_work_and_the_marketplacer_header_wins() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let bearer = app.post("/graphql").bearer_auth(&seller.key).json(&json!({ "query": "{ chatUnreadCount }" }));
    let (status, body) = TestApp::read(bearer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["chatUnreadCount"], 0);
    let lower = app.post("/graphql").header("marketplacer-api-key", &seller.key).json(&json!({ "query": "{ chatUnreadCount }" }));
    assert_eq!(TestApp::read(lower).await.0, StatusCode::OK);
    let both = app
        .post("/graphql/seller")
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .header("MARKETPLACER-API-KEY", &seller.key)
        .json(&json!({ "query": "{ chatUnreadCount }" }));
    assert_eq!(TestApp::read(both).await.0, StatusCode::OK);
}

#[tokio::test]
async fn last_use_of_a_key_is_recorded() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    assert!(app.api_keys().await[0].last_used_at.is_none());
    app.as_seller(&seller.key, "{ chatUnreadCount }", json!({})).await;
    assert!(app.api_keys().await[0].last_used_at.is_some());
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let not_json = app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).body("{not json");
    let (status, body) = TestApp::read(not_json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("not a GraphQL request"));

    let (status, body) = app.graphql("/graphql/seller", &seller.key, "{ chatMessages(first: 1) { nope } }", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nope"), "{body}");

    let (_, body) = app.graphql("/graphql/seller", &seller.key, "query($f: Int) { chatMessages(first: $f) { totalCount } }", json!({ "f": "ten" })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("f"), "{body}");

    let (_, body) = app.graphql("/graphql/seller", &seller.key, "{ chatMessages(", json!({})).await;
    assert!(body["errors"].is_array(), "{body}");
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let huge = json!({ "query": SELLER_SEND, "variables": { "message": "x".repeat(70 * 1024) } });
    let request = app.post("/graphql/seller").header("MARKETPLACER-API-KEY", &seller.key).json(&huge);
    let (status, body) = TestApp::read(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("64 KiB"));
    assert_eq!(app.stored_messages(seller.id).await, 0);
}

#[tokio::test]
async fn queries_deeper_than_ten_are_refused() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let deep = "{ chats { nodes { seller { chat { seller { chat { seller { chat { seller { chat { id } } } } } } } } } } }";
    let (status, body) = app.graphql("/graphql/operator", &op, deep, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("deep"), "{body}");
}

#[tokio::test]
async fn with_chat_disabled_sellers_cannot_write_but_can_read() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "before").await;
    app.store.set_setting(marketchat::service::CHAT_ENABLED_SETTING, "false").await.unwrap();
    let payload = app.seller_sends(&seller.key, "after").await;
    assert_eq!(payload_errors(&payload), [("base".to_owned(), "In-app chat is not enabled".to_owned())]);
    let read = app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    assert_eq!(payload_errors(&read["chatMessageRead"])[0].0, "base");
    let history = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    assert_eq!(texts(&history["chatMessages"]), ["before"]);
    let reply = app.operator_sends(&op, &seller.gid, "operator still can").await;
    assert!(reply["errors"].is_null());
}

#[tokio::test]
async fn depth_through_fragments_counts_but_introspection_does_not() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let via_fragments = "{ chats { ...A } } fragment A on ChatConnection { nodes { seller { ...B } } }
        fragment B on Seller { chat { seller { chat { seller { chat { seller { chat { id } } } } } } } }";
    let (_, body) = app.graphql("/graphql/operator", &op, via_fragments, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too deep"), "{body}");
    let type_ref = format!("{}name{}", "ofType { ".repeat(8), " }".repeat(8));
    let introspection = format!("{{ __schema {{ types {{ name fields {{ type {{ {type_ref} }} }} }} }} }}");
    let (status, body) = app.graphql("/graphql/operator", &op, &introspection, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 10);
}

#[tokio::test]
async fn queries_over_the_complexity_limit_are_refused() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let aliases: String = (0..1_001).map(|i| format!("a{i}: chatUnreadCount ")).collect();
    let (status, body) = app.graphql("/graphql/seller", &seller.key, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("complex"), "{body}");
}
