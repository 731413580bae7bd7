//! SPEC §5: subscriptions over graphql-transport-ws with gap-free resume.

use crate::common::app::{now, test_config, TestApp};
use crate::common::graphql::BRIEF_READ;
use crate::common::ws::{Ended, CHAT_EVENTS};
use marketchat::config::ServerConfig;
use marketchat::domain::cursor::EventCursor;
use serde_json::json;

fn start() -> String {
    EventCursor::START.encode()
}

#[tokio::test]
async fn the_seller_receives_the_operators_message() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.operator_sends(&op, &seller.gid, "Paid on Friday").await;
    let event = events.next_event().await;
    assert_eq!(event["__typename"], "ChatMessageCreated");
    assert_eq!(event["chatMessage"]["message"], "Paid on Friday");
    assert_eq!(event["chatMessage"]["sentByType"], "Admin");
    assert!(event["cursor"].is_string());
}

#[tokio::test]
async fn the_operator_receives_every_sellers_messages() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let op = app.operator_key("ops").await;
    let mut events = app.subscribe("/graphql/operator", &op, Some(&start())).await;
    app.seller_sends(&a.key, "from A").await;
    app.seller_sends(&b.key, "from B").await;
    assert_eq!(events.next_event().await["chatMessage"]["message"], "from A");
    assert_eq!(events.next_event().await["chatMessage"]["message"], "from B");
}

#[tokio::test]
async fn seller_b_receives_nothing_of_a() {
    let app = TestApp::spawn().await;
    let a = app.seller("Acme").await;
    let b = app.seller("Blue").await;
    let op = app.operator_key("ops").await;
    let mut b_events = app.subscribe("/graphql/seller", &b.key, Some(&start())).await;
    app.seller_sends(&a.key, "A's secret").await;
    app.operator_sends(&op, &a.gid, "reply to A").await;
    app.as_seller(&a.key, BRIEF_READ, json!({})).await;
    app.seller_sends(&b.key, "B's own").await;
    let first = b_events.next_event().await;
    assert_eq!(first["chatMessage"]["message"], "B's own", "nothing of A's came before B's own message");
    b_events.expect_silence(200).await;
}

#[tokio::test]
async fn the_live_feed_follows_without_a_cursor() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "history").await;
    let mut events = app.subscribe("/graphql/operator", &op, None).await;
    // Without `after` the feed starts about now (on PostgreSQL possibly just before, at
    // the last position every reader can see); the subscription becomes live
    // asynchronously, so send until a live message arrives.
    for i in 0..50 {
        app.seller_sends(&seller.key, &format!("live {i}")).await;
        if let Ok(Ok(message)) = tokio::time::timeout(std::time::Duration::from_millis(100), events.next_message()).await {
            let text = message["payload"]["data"]["chatEvents"]["chatMessage"]["message"].as_str().unwrap_or_default().to_owned();
            if text.starts_with("live") {
                return;
            }
            assert_eq!(text, "history", "{message}");
        }
    }
    panic!("no live event arrived");
}

#[tokio::test]
async fn resume_after_a_disconnect_yields_exactly_the_missed_events_then_live_ones() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.operator_sends(&op, &seller.gid, "m1").await;
    let seen = events.next_event().await;
    let cursor = seen["cursor"].as_str().unwrap().to_owned();
    drop(events);

    for text in ["m2", "m3", "m4"] {
        app.operator_sends(&op, &seller.gid, text).await;
    }
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;

    let mut resumed = app.subscribe("/graphql/seller", &seller.key, Some(&cursor)).await;
    for text in ["m2", "m3", "m4"] {
        assert_eq!(resumed.next_event().await["chatMessage"]["message"], text);
    }
    let read = resumed.next_event().await;
    assert_eq!(read["__typename"], "ChatMessagesRead");
    assert_eq!(read["messageIds"].as_array().unwrap().len(), 4);
    app.operator_sends(&op, &seller.gid, "m5").await;
    assert_eq!(resumed.next_event().await["chatMessage"]["message"], "m5", "then live, no duplicate");
    resumed.expect_silence(200).await;
}

#[tokio::test]
async fn a_read_by_the_other_side_arrives_as_chat_messages_read() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let sent = app.operator_sends(&op, &seller.gid, "please confirm").await;
    let message_id = sent["chatMessage"]["id"].clone();
    let mut operator_events = app.subscribe("/graphql/operator", &op, Some(&start())).await;
    let mut seller_events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.as_seller(&seller.key, BRIEF_READ, json!({})).await;
    for events in [&mut operator_events, &mut seller_events] {
        assert_eq!(events.next_event().await["chatMessage"]["message"], "please confirm");
        let read = events.next_event().await;
        assert_eq!(read["__typename"], "ChatMessagesRead");
        assert_eq!(read["sellerId"], seller.gid.as_str());
        assert_eq!(read["sentByType"], "Admin");
        assert_eq!(read["messageIds"], json!([message_id]));
        assert!(read["readAt"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn bad_credentials_close_with_4403_and_deliver_nothing() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let cases = [
        ("/graphql/seller", json!({ "MARKETPLACER-API-KEY": "mck_wrong" })),
        ("/graphql/seller", json!({})),
        ("/graphql/operator", json!({ "MARKETPLACER-API-KEY": seller.key })),
        ("/graphql/seller", json!({ "Authorization": format!("Bearer {op}") })),
    ];
    for (path, payload) in cases {
        let mut client = app.websocket(path).await;
        client.send(json!({ "type": "connection_init", "payload": payload })).await;
        client.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CHAT_EVENTS, "variables": { "after": start() } } })).await;
        assert_eq!(client.next_message().await, Err(Ended::Closed(4403)), "{path} {payload}");
    }
}

#[tokio::test]
async fn authorization_bearer_in_the_payload_and_the_shared_path_work() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut client = app.websocket("/graphql").await;
    client.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", seller.key) } })).await;
    assert_eq!(client.next_message().await.unwrap()["type"], "connection_ack");
    client.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CHAT_EVENTS, "variables": { "after": start() } } })).await;
    app.seller_sends(&seller.key, "via /graphql").await;
    assert_eq!(client.next_event().await["chatMessage"]["message"], "via /graphql");
}

#[tokio::test]
async fn no_connection_init_within_five_seconds_closes_with_4408() {
    let app = TestApp::spawn().await;
    let mut client = app.websocket("/graphql/seller").await;
    let started = std::time::Instant::now();
    let ended = client.ended().await;
    assert_eq!(ended, Ended::Closed(4408));
    assert!(started.elapsed() >= std::time::Duration::from_millis(4_500));
}

#[tokio::test]
async fn pings_are_answered() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut client = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message().await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn a_bad_after_cursor_is_an_error_on_the_subscription() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut client = app.subscribe("/graphql/seller", &seller.key, Some("garbage")).await;
    let message = client.next_message().await.unwrap();
    assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{message}");
    assert!(message["payload"]["errors"][0]["message"].as_str().unwrap().contains("after"), "{message}");
    assert_eq!(client.next_message().await.unwrap()["type"], "complete");
}

#[tokio::test]
async fn seller_subscriptions_end_when_chat_is_disabled() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.seller_sends(&seller.key, "before").await;
    assert_eq!(events.next_event().await["chatMessage"]["message"], "before");
    app.store.set_setting(marketchat::service::CHAT_ENABLED_SETTING, "false").await.unwrap();
    let message = events.next_message().await.unwrap();
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["errors"][0]["message"], "In-app chat is not enabled");
    assert_eq!(events.next_message().await.unwrap()["type"], "complete");
    let mut refused = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    let message = refused.next_message().await.unwrap();
    assert!(message.to_string().contains("In-app chat is not enabled"), "{message}");
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_a_fast_one_keeps_receiving() {
    let config = ServerConfig { event_buffer: 16, ..test_config() };
    let app = TestApp::spawn_with(config).await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut fast = app.subscribe("/graphql/operator", &op, Some(&start())).await;
    let mut slow = app.subscribe("/graphql/operator", &op, Some(&start())).await;
    let big = "x".repeat(4_000);
    let mut total = 0;
    // The slow consumer reads nothing; keep sending until its socket buffers are full
    // and it has fallen more than the buffer behind (bounded: at most 3,000 messages).
    while total < 3_000 {
        for _ in 0..100 {
            app.seller_sends(&seller.key, &big).await;
            total += 1;
            let event = fast.next_event().await;
            assert_eq!(event["chatMessage"]["message"].as_str().map(str::len), Some(4_000));
        }
        if app.get("/metrics").await.1.contains(&format!("marketchat_events_delivered_total {}", total * 2)) {
            continue; // the slow one still keeps up via kernel buffers
        }
        break;
    }
    // Now the slow consumer reads: it gets what was buffered, then an error, then a close.
    let mut saw_error = false;
    loop {
        match slow.next_message().await {
            Ok(message) if message["type"] == "next" && message["payload"].get("errors").is_some() => {
                assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "SLOW_CONSUMER");
                saw_error = true;
            }
            Ok(_) => {}
            Err(ended) => {
                assert!(saw_error, "the slow consumer was told why before being cut off");
                assert_eq!(ended, Ended::Closed(1008));
                break;
            }
        }
    }
    app.seller_sends(&seller.key, "still flowing").await;
    assert_eq!(fast.next_event().await["chatMessage"]["message"], "still flowing");
}

#[tokio::test]
async fn metrics_count_live_connections_and_delivered_events() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.seller_sends(&seller.key, "one").await;
    events.next_event().await;
    let metrics = app.get("/metrics").await.1;
    assert!(metrics.contains("marketchat_live_connections 1"), "{metrics}");
    assert!(metrics.contains("marketchat_events_delivered_total 1"), "{metrics}");
}

#[tokio::test]
async fn revoking_a_key_closes_its_open_subscriptions_and_no_others() {
    let app = TestApp::spawn_with(ServerConfig { ws_recheck_secs: 1, ..test_config() }).await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut revoked = app.subscribe("/graphql/seller", &seller.key, None).await;
    let mut kept = app.subscribe("/graphql/operator", &op, None).await;
    let key = app.api_keys().await.into_iter().find(|k| k.seller_id.is_some()).unwrap();
    app.store.revoke_api_key(key.id, now()).await.unwrap();

    assert_eq!(revoked.ended().await, Ended::Closed(4403), "a revoked key's subscription is closed as forbidden");
    app.operator_sends(&op, &seller.gid, "still here").await;
    assert_eq!(kept.next_event().await["chatMessage"]["message"], "still here");
}

/// The value of counter `name` on `/metrics`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    let metrics = app.get("/metrics").await.1;
    let line = metrics.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {metrics}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Opens a socket on `path` with `key` and subscribes operation `id` with `query`.
async fn subscribe_with(app: &TestApp, path: &str, key: &str, id: &str, query: &str, variables: serde_json::Value) -> crate::common::ws::WsClient {
    let mut client = crate::common::ws::WsClient::initialised(&app.base, path, key).await;
    client.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    client
}

#[tokio::test]
async fn subscribers_with_different_documents_on_one_api_each_get_their_own_shape() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let aliased = "subscription($after: String) { events: chatEvents(after: $after) { ... on ChatMessageCreated { at: cursor m: chatMessage { text: message } } } }";
    let fragment = "subscription($after: String) { chatEvents(after: $after) { __typename ...Created } }
        fragment Created on ChatMessageCreated { chatMessage { message sentByType } }";
    let mut first = subscribe_with(&app, "/graphql/operator", &op, "a", aliased, json!({ "after": start() })).await;
    let mut second = subscribe_with(&app, "/graphql/operator", &op, "b", fragment, json!({ "after": start() })).await;
    app.seller_sends(&seller.key, "hello").await;

    let message = first.next_message().await.unwrap();
    assert_eq!(message["id"], "a");
    let event = &message["payload"]["data"]["events"];
    assert_eq!(event["m"], json!({ "text": "hello" }), "{message}");
    assert!(event["at"].is_string() && event.get("cursor").is_none(), "{message}");
    let message = second.next_message().await.unwrap();
    assert_eq!(message["id"], "b");
    assert_eq!(message["payload"]["data"]["chatEvents"], json!({ "__typename": "ChatMessageCreated", "chatMessage": { "message": "hello", "sentByType": "Seller" } }));
}

#[tokio::test]
async fn subscribers_asking_the_same_share_one_render_per_event() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    let mut same = Vec::new();
    for _ in 0..5 {
        same.push(app.subscribe("/graphql/operator", &op, Some(&start())).await);
    }
    // Another document: another plan.
    let other_document = format!("{CHAT_EVENTS} # another document");
    let mut other = subscribe_with(&app, "/graphql/operator", &op, "1", &other_document, json!({ "after": start() })).await;
    // Everyone is live once the first event arrived everywhere (a brief pause covers the
    // hand-over from catching up to live).
    app.seller_sends(&seller.key, "warm-up").await;
    for client in &mut same {
        assert_eq!(client.next_event().await["chatMessage"]["message"], "warm-up");
    }
    assert_eq!(other.next_event().await["chatMessage"]["message"], "warm-up");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (rendered, delivered) = (counter(&app, "marketchat_events_rendered_total").await, counter(&app, "marketchat_events_delivered_total").await);
    app.seller_sends(&seller.key, "shared").await;
    for client in &mut same {
        assert_eq!(client.next_event().await["chatMessage"]["message"], "shared");
    }
    assert_eq!(other.next_event().await["chatMessage"]["message"], "shared");
    assert_eq!(counter(&app, "marketchat_events_rendered_total").await - rendered, 2, "one render per distinct document and variables");
    assert_eq!(counter(&app, "marketchat_events_delivered_total").await - delivered, 6);
}

#[tokio::test]
async fn a_seller_subscription_among_many_gets_only_its_own_chat() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let mut sellers = Vec::new();
    for i in 0..12 {
        let seller = app.seller(&format!("Seller {i}")).await;
        let client = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
        sellers.push((seller, client));
    }
    let mut everything = app.subscribe("/graphql/operator", &op, Some(&start())).await;
    for (i, (seller, _)) in sellers.iter().enumerate() {
        app.operator_sends(&op, &seller.gid, &format!("to {i}")).await;
    }
    for (i, (_, client)) in sellers.iter_mut().enumerate() {
        assert_eq!(client.next_event().await["chatMessage"]["message"], format!("to {i}"));
    }
    for i in 0..sellers.len() {
        assert_eq!(everything.next_event().await["chatMessage"]["message"], format!("to {i}"));
    }
    for (_, client) in &mut sellers {
        client.expect_silence(100).await;
    }
}

#[tokio::test]
async fn replay_then_live_has_no_gap_or_duplicate_under_concurrent_sends() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    for i in 0..40 {
        app.seller_sends(&seller.key, &format!("m{i}")).await;
    }
    let sending = async {
        for i in 40..80 {
            app.seller_sends(&seller.key, &format!("m{i}")).await;
        }
    };
    let receiving = async {
        let mut operator = app.subscribe("/graphql/operator", &op, Some(&start())).await;
        let mut own = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
        let mut seen = (Vec::new(), Vec::new());
        for _ in 0..80 {
            seen.0.push(operator.next_event().await["chatMessage"]["message"].as_str().unwrap().to_owned());
            seen.1.push(own.next_event().await["chatMessage"]["message"].as_str().unwrap().to_owned());
        }
        (operator, own, seen)
    };
    let ((), (mut operator, mut own, seen)) = tokio::join!(sending, receiving);
    let expected: Vec<String> = (0..80).map(|i| format!("m{i}")).collect();
    assert_eq!(seen.0, expected);
    assert_eq!(seen.1, expected);
    operator.expect_silence(200).await;
    own.expect_silence(10).await;
}

#[tokio::test]
async fn completing_a_subscription_stops_its_events_and_queries_run_beside_it() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut client = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.seller_sends(&seller.key, "one").await;
    assert_eq!(client.next_event().await["chatMessage"]["message"], "one");
    let answer = client.operation("q", "{ chatEventCursor }", json!({})).await.unwrap();
    assert_eq!(answer["type"], "next");
    assert!(answer["payload"]["data"]["chatEventCursor"].is_string(), "{answer}");
    assert_eq!(client.next_message().await.unwrap(), json!({ "type": "complete", "id": "q" }));

    client.send(json!({ "id": "1", "type": "complete" })).await;
    assert_eq!(client.next_message().await.unwrap(), json!({ "type": "complete", "id": "1" }));
    app.seller_sends(&seller.key, "two").await;
    client.expect_silence(200).await;
}

#[tokio::test]
async fn a_document_with_two_chat_events_fields_streams_both() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let query = "subscription($after: String) {
        a: chatEvents(after: $after) { ... on ChatMessageCreated { chatMessage { message } } }
        b: chatEvents(after: $after) { __typename }
    }";
    let mut client = subscribe_with(&app, "/graphql/seller", &seller.key, "1", query, json!({ "after": start() })).await;
    app.seller_sends(&seller.key, "twice").await;
    let mut fields = Vec::new();
    for _ in 0..2 {
        let message = client.next_message().await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        fields.extend(message["payload"]["data"].as_object().unwrap().keys().cloned());
    }
    fields.sort();
    assert_eq!(fields, ["a", "b"]);
}

#[tokio::test]
async fn an_invalid_subscription_document_gets_async_graphqls_errors_then_complete() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let mut client = subscribe_with(&app, "/graphql/seller", &seller.key, "1", "subscription { chatEvents { nope } }", json!({})).await;
    let message = client.next_message().await.unwrap();
    assert_eq!(message["type"], "next");
    assert!(message["payload"]["errors"][0]["message"].as_str().unwrap().contains("nope"), "{message}");
    assert_eq!(client.next_message().await.unwrap(), json!({ "type": "complete", "id": "1" }));
    client.send(json!({ "type": "connection_init" })).await;
    assert_eq!(client.ended().await, Ended::Closed(4429));
}
