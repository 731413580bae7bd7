//! Several `marketchat serve` processes on one PostgreSQL database (SPEC §9).

use crate::common::app::{now, TestApp};
use crate::common::db::{runs_on, Backend, TestDatabase};
use crate::common::graphql::{BRIEF_SEND, SELLER_SEND};
use crate::common::nodes::{Cluster, NodeProcess};
use crate::common::wait::wait_until;
use crate::common::webhook::Receiver;
use crate::common::ws::Ended;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::Seq;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

/// Why most of these tests apply to PostgreSQL only.
const SEVERAL_NODES: &str = "several nodes share one database only on PostgreSQL (a SQLite file serves one node)";

/// How long a duplicate delivery by the other node would take to show up at the latest.
const LATE_DUPLICATE_WINDOW: Duration = Duration::from_millis(800);

/// Why the outage test applies to PostgreSQL only.
const DATABASE_OVER_THE_NETWORK: &str = "a database reached over the network, which can be cut off, is PostgreSQL's only";

fn start() -> String {
    EventCursor::START.encode()
}

#[tokio::test]
async fn a_subscriber_on_one_node_receives_a_message_sent_through_another() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let cluster = Cluster::start(2).await;
    let (node1, node2) = (cluster.app(0), cluster.app(1));
    let seller = node1.seller("Acme").await;
    let op = node1.operator_key("ops").await;
    let mut on_node1 = node1.subscribe("/graphql/operator", &op, Some(&start())).await;
    node2.seller_sends(&seller.key, "sent through node 2").await;
    assert_eq!(on_node1.next_event().await["chatMessage"]["message"], "sent through node 2");
    let mut seller_on_node2 = node2.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    node1.operator_sends(&op, &seller.gid, "reply through node 1").await;
    assert_eq!(seller_on_node2.next_event().await["chatMessage"]["message"], "sent through node 2");
    assert_eq!(seller_on_node2.next_event().await["chatMessage"]["message"], "reply through node 1");
}

#[tokio::test]
async fn concurrent_sends_through_both_nodes_give_one_consistent_history() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let cluster = Cluster::start(2).await;
    let nodes = [cluster.app(0), cluster.app(1)];
    let seller = nodes[0].seller("Acme").await;
    let op = nodes[0].operator_key("ops").await;
    let mut watcher = nodes[0].subscribe("/graphql/operator", &op, Some(&start())).await;

    let mut sends = Vec::new();
    for i in 0..120 {
        let app = TestApp::remote(nodes[i % 2].base.clone(), cluster.store.clone(), String::new());
        let key = seller.key.clone();
        // Every fourth send is a retry of the previous token through the other node.
        let token = format!("token-{}", i / 4);
        let vars = if i % 4 < 2 { json!({ "message": format!("m{}", i / 4 * 4), "cmid": token }) } else { json!({ "message": format!("m{i}") }) };
        sends.push(tokio::spawn(async move {
            let data = app.as_seller(&key, SELLER_SEND, vars).await;
            data["chatMessageCreate"]["chatMessage"]["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::new();
    for send in sends {
        ids.push(send.await.unwrap());
    }
    // Pairs (0,1), (4,5), … share a token: one message each, the same ID answered twice.
    for pair in ids.chunks(4) {
        assert_eq!(pair[0], pair[1], "a retried clientMutationId returns the original on any node");
    }
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 90);

    let stored = cluster.store.messages_oldest_first(seller.id, Seq::new(0), 1_000).await.unwrap();
    let seqs: Vec<i64> = stored.iter().map(|m| m.seq.get()).collect();
    assert_eq!(seqs, (1..=90).collect::<Vec<_>>(), "one thread, seq 1..=90 without gap or repeat");
    assert_eq!(cluster.store.chat(seller.id).await.unwrap().unwrap().message_count, 90);

    // The subscriber saw every stored message exactly once.
    let mut seen = HashSet::new();
    while seen.len() < 90 {
        let event = watcher.next_event().await;
        let id = event["chatMessage"]["id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id), "no event twice");
    }
    let stored_ids: HashSet<String> = stored.iter().map(|m| m.id.gid()).collect();
    assert_eq!(seen, stored_ids);
    watcher.expect_silence(300).await;
}

#[tokio::test]
async fn read_marking_stays_exact_under_concurrent_reads_and_sends() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let cluster = Cluster::start(2).await;
    let nodes = [cluster.app(0), cluster.app(1)];
    let seller = nodes[0].seller("Acme").await;
    let op = nodes[0].operator_key("ops").await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = TestApp::remote(nodes[i % 2].base.clone(), cluster.store.clone(), String::new());
        let (op, seller_key, gid) = (op.clone(), seller.key.clone(), seller.gid.clone());
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                let read = app.as_seller(&seller_key, r#"mutation { chatMessageRead(input: { sentBy: "Admin" }) { readCount } }"#, json!({})).await;
                read["chatMessageRead"]["readCount"].as_i64().unwrap()
            } else {
                app.operator_sends(&op, &gid, &format!("m{i}")).await;
                0
            }
        }));
    }
    let mut marked = 0;
    for task in tasks {
        marked += task.await.unwrap();
    }
    let stored = cluster.store.messages_oldest_first(seller.id, Seq::new(0), 1_000).await.unwrap();
    assert_eq!(stored.len(), 40);
    let read_rows = stored.iter().filter(|m| m.read_at.is_some()).count() as i64;
    assert_eq!(marked, read_rows, "each message counted by exactly one read");
    let chat = cluster.store.chat(seller.id).await.unwrap().unwrap();
    assert_eq!(chat.unread_by_seller, 40 - read_rows, "the unread counter matches the rows");
}

#[tokio::test]
async fn a_client_resuming_on_another_node_after_sigkill_misses_nothing() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let mut cluster = Cluster::start(2).await;
    let node2 = cluster.app(1);
    let seller = node2.seller("Acme").await;
    let op = node2.operator_key("ops").await;
    let mut on_node1 = cluster.app(0).subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    node2.operator_sends(&op, &seller.gid, "before").await;
    let last = on_node1.next_event().await;
    let cursor = last["cursor"].as_str().unwrap().to_owned();

    cluster.nodes[0].kill();
    assert_eq!(on_node1.ended().await, Ended::Dropped);
    for text in ["missed 1", "missed 2", "missed 3"] {
        node2.operator_sends(&op, &seller.gid, text).await;
    }
    let mut resumed = node2.subscribe("/graphql/seller", &seller.key, Some(&cursor)).await;
    for text in ["missed 1", "missed 2", "missed 3"] {
        assert_eq!(resumed.next_event().await["chatMessage"]["message"], text);
    }
    node2.operator_sends(&op, &seller.gid, "live").await;
    assert_eq!(resumed.next_event().await["chatMessage"]["message"], "live");
    resumed.expect_silence(300).await;
}

#[tokio::test]
async fn nodes_started_at_once_migrate_safely() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let database = TestDatabase::create().await;
    // Three nodes race to migrate a fresh database; all must come up and serve.
    let nodes: Vec<NodeProcess> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3).map(|_| scope.spawn(|| NodeProcess::start(&database.url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for node in &nodes {
        let ready = reqwest::get(format!("{}/readyz", node.base)).await.unwrap();
        assert_eq!(ready.status(), reqwest::StatusCode::OK);
    }
}

/// A TCP proxy to PostgreSQL that a test can cut and restore, to play a network loss.
struct Proxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards `port` (0: any free one) to PostgreSQL on 127.0.0.1:5432.
    async fn start(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, task }
    }

    /// Cuts every connection and stops listening.
    fn cut(self) -> u16 {
        // Aborting the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
        self.port
    }
}

#[tokio::test]
async fn a_node_reports_not_ready_and_fails_fast_while_the_database_is_unreachable_then_recovers() {
    if !runs_on(Backend::Postgres, DATABASE_OVER_THE_NETWORK) {
        return;
    }
    let database = TestDatabase::create().await;
    let store = marketchat::store::connect(&database.url, &Default::default()).await.unwrap();
    let proxy = Proxy::start(0).await;
    let name = database.url.rsplit('/').next().unwrap().to_owned();
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port);
    // Started off the runtime thread: the proxy runs on it and must answer meanwhile.
    let node = tokio::task::spawn_blocking(move || {
        NodeProcess::start_with(&via_proxy, &[("MARKETCHAT_DB_CONNECT_TIMEOUT_MS", "500"), ("MARKETCHAT_DB_STATEMENT_TIMEOUT_MS", "2000")])
    })
    .await
    .unwrap();
    let app = TestApp::remote(node.base.clone(), store.clone(), database.url.clone());
    let seller = app.seller("Acme").await;
    let mut events = app.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    app.seller_sends(&seller.key, "before the outage").await;
    assert_eq!(events.next_event().await["chatMessage"]["message"], "before the outage");
    assert_eq!(app.get("/readyz").await.0, reqwest::StatusCode::OK);

    let port = proxy.cut();
    let started = std::time::Instant::now();
    let (status, body) = app.graphql("/graphql/seller", &seller.key, BRIEF_SEND, serde_json::Value::Null).await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("unavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast, does not hang");
    assert_eq!(app.get("/readyz").await.0, reqwest::StatusCode::SERVICE_UNAVAILABLE);

    // Written while the node is cut off (straight to the database): delivered after recovery.
    let principal = marketchat::domain::Principal::Seller { seller_id: seller.id };
    let service = marketchat::service::ChatService::new(store.clone(), Default::default(), marketchat::service::Clock::system());
    service.send_message(&principal, seller.id, "during the outage", None).await.unwrap();

    let _proxy = Proxy::start(port).await;
    let ready = wait_until(Duration::from_secs(10), || async { app.get("/readyz").await.0 == reqwest::StatusCode::OK }).await;
    assert!(ready, "ready again once the database is back");
    assert_eq!(events.next_event().await["chatMessage"]["message"], "during the outage");
    app.seller_sends(&seller.key, "after the outage").await;
    assert_eq!(events.next_event().await["chatMessage"]["message"], "after the outage");
}

#[tokio::test]
async fn with_two_nodes_each_webhook_delivery_is_made_by_one_node() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let cluster = Cluster::start(2).await;
    let nodes = [cluster.app(0), cluster.app(1)];
    let seller = nodes[0].seller("Acme").await;
    let receiver = Receiver::start(0, false).await;
    let events = vec!["chat_message.created".to_owned()];
    cluster.store.create_webhook(&receiver.url, "whsec_test", &events, cluster.store.last_event_position().await.unwrap(), now()).await.unwrap();
    for i in 0..30 {
        nodes[i % 2].seller_sends(&seller.key, &format!("m{i}")).await;
    }
    let received = receiver.wait_until(|r| r.len() >= 30).await;
    tokio::time::sleep(LATE_DUPLICATE_WINDOW).await;
    let received_after = receiver.received_so_far();
    assert_eq!(received_after.len(), received.len(), "no late duplicates");
    let ids: HashSet<&String> = received_after.iter().map(|d| &d.event_id).collect();
    assert_eq!(ids.len(), 30);
    assert_eq!(received_after.len(), 30, "each event delivered once, though both nodes run workers");
}

#[tokio::test]
async fn support_inbox_events_made_through_one_node_reach_and_replay_on_the_other() {
    if !runs_on(Backend::Postgres, SEVERAL_NODES) {
        return;
    }
    let cluster = Cluster::start(2).await;
    let (node1, node2) = (cluster.app(0), cluster.app(1));
    let seller = node1.seller("Acme").await;
    let op = node1.operator_key("Agent K").await;
    let mut on_node1 = crate::suite::inbox::operator_events(&node1.base, &op, &start()).await;
    node2.seller_sends(&seller.key, "hi").await;
    assert_eq!(on_node1.next_event().await["__typename"], "ChatMessageCreated");
    let status = "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { chat { status } } }";
    node2.as_operator(&op, status, json!({ "s": seller.gid })).await;
    let updated = on_node1.next_event().await;
    assert_eq!((updated["__typename"].as_str(), updated["chat"]["status"].as_str()), (Some("ChatUpdated"), Some("RESOLVED")));
    let note = "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"through node 2\" }) { note { id } } }";
    node2.as_operator(&op, note, json!({ "s": seller.gid })).await;
    assert_eq!(on_node1.next_event().await["note"]["note"], "through node 2");

    let mut replay_on_node2 = crate::suite::inbox::operator_events(&node2.base, &op, updated["cursor"].as_str().unwrap()).await;
    assert_eq!(replay_on_node2.next_event().await["note"]["note"], "through node 2");
    let mut seller_on_node1 = node1.subscribe("/graphql/seller", &seller.key, Some(&start())).await;
    assert_eq!(seller_on_node1.next_event().await["chatMessage"]["message"], "hi");
    seller_on_node1.expect_silence(LATE_DUPLICATE_WINDOW.as_millis() as u64).await;
}
