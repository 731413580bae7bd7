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
