//! The scenarios. Each starts a fresh database and a fresh server child, drives it over
//! real HTTP/WebSocket with bounded counts, and returns its result rows.

use crate::procfs::RssSampler;
use crate::server::ChildServer;
use crate::stats::{Latencies, Row};
use anyhow::{ensure, Context, Result};
use futures_util::{SinkExt, StreamExt};
pub(crate) use marketchat::api::ws::MAX_OPERATIONS_PER_SOCKET;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::{MessageId, SellerId};
use marketchat::domain::time::UnixMillis;
use marketchat::domain::keys::{generate_key, KeyOwner};
use marketchat::domain::Side;
use marketchat::store::{self, NewMessage, Store, UserRecord};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

mod idle;
mod marketplace;
mod postgres;
mod search;

/// Sizes of one run: the full run, or `--quick`.
#[derive(Clone, Copy)]
pub struct Scale {
    /// `--quick`.
    pub quick: bool,
}

impl Scale {
    fn pick(self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// Shared state of a bench run.
pub struct Bench {
    /// Sizes.
    pub scale: Scale,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

/// A seeded seller: row number and API key.
struct Seeded {
    id: SellerId,
    key: String,
}

fn progress(scenario: &str, what: &str) {
    eprintln!("» {scenario}: {what}");
}

impl Bench {
    /// A bench writing its databases under a temporary directory.
    pub fn new(scale: Scale) -> Result<Self> {
        // No request of the bench may hang it: each has a minute at most.
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(60)).build()?;
        Ok(Self { scale, client, dir: tempfile::tempdir()? })
    }

    fn database_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(format!("{name}.db")).display())
    }

    async fn store(&self, name: &str) -> Result<(Arc<dyn Store>, String)> {
        let url = self.database_url(name);
        Ok((store::connect(&url, &Default::default()).await?, url))
    }

    async fn seed_sellers(&self, store: &dyn Store, count: usize, scenario: &str) -> Result<Vec<Seeded>> {
        let now = now();
        let mut sellers = Vec::with_capacity(count);
        for i in 0..count {
            let seller = store.create_seller(&format!("Seller {i:05}"), now).await?;
            let key = generate_key(&mut rand::thread_rng());
            store.create_api_key(&key.hash, KeyOwner::Seller(seller.id), None, now).await?;
            sellers.push(Seeded { id: seller.id, key: key.secret });
            if (i + 1) % 5_000 == 0 {
                progress(scenario, &format!("seeded {} sellers", i + 1));
            }
        }
        Ok(sellers)
    }

    async fn operator_key(&self, store: &dyn Store) -> Result<String> {
        let key = generate_key(&mut rand::thread_rng());
        store.create_api_key(&key.hash, KeyOwner::Operator { admin: false }, Some("bench"), now()).await?;
        Ok(key.secret)
    }

    /// POSTs one GraphQL request; fails on HTTP or GraphQL errors.
    async fn graphql(&self, base: &str, path: &str, key: &str, query: &str, variables: Value) -> Result<Value> {
        post_graphql(&self.client, base, path, key, query, variables).await
    }

    /// Scenario 1: concurrent sends over HTTP, with the server's resident memory sampled
    /// during the run (issue 17 part 5).
    pub async fn send(&self, hello_rate: f64, insert_batched_rate: f64) -> Result<Vec<Row>> {
        let total = self.scale.pick(20_000, 2_000);
        let (store, url) = self.store("send").await?;
        let sellers = self.seed_sellers(store.as_ref(), 50, "send").await?;
        drop(store);
        // The same messages straight into the store (its SQL, triggers, indexes and group
        // commit, no HTTP, GraphQL or auth), on a database of their own: what the one
        // writer can do at the send run's concurrency, and with far more in flight.
        let (store, _) = self.store("send-store").await?;
        let store_sellers: Vec<SellerId> = self.seed_sellers(store.as_ref(), 50, "send").await?.iter().map(|s| s.id).collect();
        progress("send", &format!("{total} messages straight into the store, concurrency 32 and 512"));
        let store_rate = self.store_sends(&store, &store_sellers, total, 32).await?;
        let store_rate_wide = self.store_sends(&store, &store_sellers, total, 512).await?;
        drop(store);
        let server = ChildServer::start("serve-child", &[&url])?;
        progress("send", &format!("{total} messages, 50 sellers, concurrency 32"));
        let keys = Arc::new(sellers.into_iter().map(|s| s.key).collect());
        let idle_rss = server.rss_kib()?;
        let sampler = RssSampler::start(server.pid());
        let (rate, mut latencies) = self.drive_sends(std::slice::from_ref(&server.base), keys, total).await?;
        let sampled_peak = sampler.finish().await?;
        let peak = server.peak_rss_kib()?.max(sampled_peak);
        let target = send_target(insert_batched_rate, hello_rate);
        Ok(vec![
            Row::new("send", "messages/s (durable, HTTP, c=32)", rate, "msg/s").floor(insert_batched_rate),
            Row::new("send", "messages/s vs hello-world requests/s", rate, "msg/s").floor(hello_rate),
            Row::new("send", "messages/s vs min(0.40×batched, 0.25×hello)", rate, "msg/s").target("min", target),
            Row::new("send", "store only (no HTTP/GraphQL/auth), c=32", store_rate, "msg/s"),
            Row::new("send", "messages/s vs store only at c=32", rate, "msg/s").floor(store_rate),
            Row::new("send", "store only, c=512 (the one writer's limit)", store_rate_wide, "msg/s"),
            Row::new("send", "latency p50", latencies.quantile_ms(0.5), "ms"),
            Row::new("send", "latency p99", latencies.quantile_ms(0.99), "ms"),
            Row::new("send", "latency max", latencies.quantile_ms(1.0), "ms"),
            Row::new("send", "server RSS before the run (idle)", idle_rss as f64 / 1024.0, "MiB"),
            Row::new("send", &format!("server peak RSS during {total} sends (VmHWM)"), peak as f64 / 1024.0, "MiB").target("max", 32.0),
        ])
    }

    /// Stores `total` seller messages through `store` with `concurrency` writes in flight,
    /// round robin over `sellers`; returns messages/s.
    async fn store_sends(&self, store: &Arc<dyn Store>, sellers: &[SellerId], total: usize, concurrency: usize) -> Result<f64> {
        let sellers = Arc::new(sellers.to_vec());
        let (elapsed, _) = self
            .run_concurrently(total, concurrency, |i| {
                let (store, sellers) = (store.clone(), sellers.clone());
                async move {
                    store.create_message(&new_message(sellers[i % sellers.len()], Side::Seller, &format!("benchmark message {i}"))).await?;
                    Ok(())
                }
            })
            .await?;
        Ok(total as f64 / elapsed.as_secs_f64())
    }

    /// Sends `total` messages at concurrency 32, round robin over the nodes at `bases`
    /// and the seller `keys`; returns messages/s and each send's latency.
    async fn drive_sends(&self, bases: &[String], keys: Arc<Vec<String>>, total: usize) -> Result<(f64, Latencies)> {
        let bases = Arc::new(bases.to_vec());
        let (elapsed, latencies) = self
            .run_concurrently(total, 32, |i| {
                let (keys, bases, client) = (keys.clone(), bases.clone(), self.client.clone());
                async move {
                    let base = &bases[i % bases.len()];
                    let data = post_graphql(&client, base, "/graphql/seller", &keys[i % keys.len()], SEND, json!({ "m": format!("benchmark message {i}") })).await?;
                    ensure!(data["chatMessageCreate"]["errors"].is_null(), "send refused: {data}");
                    Ok(())
                }
            })
            .await?;
        Ok((total as f64 / elapsed.as_secs_f64(), latencies))
    }

    /// Scenario 2: newest-page latency at growing thread lengths, and a full walk.
    pub async fn history(&self) -> Result<Vec<Row>> {
        let lengths = if self.scale.quick { vec![1_000, 5_000] } else { vec![1_000, 100_000, 1_000_000] };
        let samples = self.scale.pick(2_000, 300);
        let mut rows = Vec::new();
        for length in lengths {
            let (store, url) = self.store(&format!("history-{length}")).await?;
            let seller = self.seed_sellers(store.as_ref(), 1, "history").await?.remove(0);
            progress("history", &format!("bulk-loading {length} messages through the Store"));
            bulk_load(store.clone(), seller.id, length).await?;
            drop(store);
            let server = ChildServer::start("serve-child", &[&url])?;
            let query = "query($after: String) { chatMessages(first: 10, after: $after) { totalCount nodes { id message createdAt readAt sentByType } } }";
            let mut latencies = Latencies::default();
            for _ in 0..samples {
                let started = Instant::now();
                let data = self.graphql(&server.base, "/graphql/seller", &seller.key, query, json!({})).await?;
                latencies.push(started.elapsed());
                ensure!(data["chatMessages"]["totalCount"] == length, "unexpected thread length");
            }
            let label = format!("newest page (first: 10) at {length}");
            rows.push(Row::new("history", &format!("{label} p50"), latencies.quantile_ms(0.5), "ms"));
            rows.push(Row::new("history", &format!("{label} p99"), latencies.quantile_ms(0.99), "ms").target("max", 2.0));
            let walk_query = "query($after: String) { chatMessages(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }";
            let started = Instant::now();
            let (mut after, mut seen, mut pages) = (Value::Null, 0usize, 0usize);
            loop {
                let data = self.graphql(&server.base, "/graphql/seller", &seller.key, walk_query, json!({ "after": after })).await?;
                let page = &data["chatMessages"];
                seen += page["nodes"].as_array().map_or(0, Vec::len);
                pages += 1;
                if page["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
            ensure!(seen == length, "walk saw {seen} of {length} messages");
            let elapsed = started.elapsed();
            rows.push(Row::new("history", &format!("full walk of {length} (pages of 50)"), elapsed.as_secs_f64(), "s"));
            rows.push(Row::new("history", &format!("full walk of {length}: per page"), elapsed.as_secs_f64() * 1_000.0 / pages as f64, "ms"));
        }
        Ok(rows)
    }

    /// Scenario 3: sellers marking operator messages read, one message per call.
    pub async fn read(&self) -> Result<Vec<Row>> {
        let per_seller = self.scale.pick(200, 20);
        let (store, url) = self.store("read").await?;
        let sellers = self.seed_sellers(store.as_ref(), 50, "read").await?;
        progress("read", &format!("loading {per_seller} operator messages per seller"));
        let mut targets = Vec::new();
        for seller in &sellers {
            let ids = bulk_load_side(store.clone(), seller.id, per_seller, Side::Admin).await?;
            targets.extend(ids.into_iter().map(|id| (seller.key.clone(), id)));
        }
        drop(store);
        // Each seller's reads go in message order, so every call marks exactly one message.
        targets.sort();
        let mut per_key: Vec<Vec<(String, String)>> = Vec::new();
        for chunk in targets.chunk_by(|a, b| a.0 == b.0) {
            per_key.push(chunk.iter().map(|(key, id)| (key.clone(), id.gid())).collect());
        }
        let server = ChildServer::start("serve-child", &[&url])?;
        let total: usize = per_key.iter().map(Vec::len).sum();
        progress("read", &format!("{total} chatMessageRead calls, 50 sellers in parallel"));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for calls in per_key {
            let (client, base) = (self.client.clone(), server.base.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Latencies::default();
                let query = r#"mutation($upTo: ID) { chatMessageRead(input: { sentBy: "Admin", upTo: $upTo }) { readCount errors { messages } } }"#;
                for (key, id) in calls {
                    let t = Instant::now();
                    let data = post_graphql(&client, &base, "/graphql/seller", &key, query, json!({ "upTo": id })).await?;
                    latencies.push(t.elapsed());
                    ensure!(data["chatMessageRead"]["readCount"] == 1, "read marked {}", data["chatMessageRead"]);
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Latencies::default();
        for task in tasks {
            latencies.extend(task.await??);
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        Ok(vec![
            Row::new("read", "chatMessageRead calls/s (c=50)", rate, "ops/s"),
            Row::new("read", "latency p50", latencies.quantile_ms(0.5), "ms"),
            Row::new("read", "latency p99", latencies.quantile_ms(0.99), "ms"),
        ])
    }

    /// Scenario 4: the operator's chat list with many sellers.
    pub async fn chat_list(&self) -> Result<Vec<Row>> {
        let seller_count = self.scale.pick(10_000, 2_000);
        let samples = self.scale.pick(1_000, 200);
        let (store, url) = self.store("chats").await?;
        let sellers = self.seed_sellers(store.as_ref(), seller_count, "chats").await?;
        let operator = self.operator_key(store.as_ref()).await?;
        progress("chats", &format!("one message in each of {seller_count} chats"));
        let mut writes = Vec::new();
        for seller in &sellers {
            let store = store.clone();
            let message = new_message(seller.id, Side::Seller, "hello operator");
            writes.push(tokio::spawn(async move { store.create_message(&message).await }));
        }
        for write in writes {
            write.await??;
        }
        drop(store);
        let server = ChildServer::start("serve-child", &[&url])?;
        let mut rows = Vec::new();
        for (label, search) in [("chats(first: 50)", None), ("chats(first: 50, search)", Some("seller 01"))] {
            let query = "query($s: String) { chats(first: 50, search: $s) { nodes { id unreadCount updatedAt seller { businessName } lastMessage { message } } } }";
            let mut latencies = Latencies::default();
            for _ in 0..samples {
                let started = Instant::now();
                let data = self.graphql(&server.base, "/graphql/operator", &operator, query, json!({ "s": search })).await?;
                latencies.push(started.elapsed());
                ensure!(!data["chats"]["nodes"].as_array().is_none_or(Vec::is_empty), "empty chat list");
            }
            rows.push(Row::new("chats", &format!("{label} at {seller_count} sellers p50"), latencies.quantile_ms(0.5), "ms"));
            rows.push(
                Row::new("chats", &format!("{label} at {seller_count} sellers p99"), latencies.quantile_ms(0.99), "ms")
                    .target("max", 10.0),
            );
        }
        Ok(rows)
    }

    /// Scenario `inbox`: the support queue, `chats(sort: WAITING_LONGEST, unassigned: true,
    /// first: 20)`, at many sellers on SQLite and on PostgreSQL. Every seller has written
    /// once at a different time; every fourth chat is answered (not waiting) and every
    /// third is assigned, so the query skips neither kind by luck of the data.
    pub async fn inbox(&self) -> Result<Vec<Row>> {
        let seller_count = self.scale.pick(10_000, 1_000);
        let samples = self.scale.pick(1_000, 200);
        let admin = postgres_admin();
        let mut rows = Vec::new();
        for backend in ["sqlite", "postgres"] {
            let (store, url, database) = if backend == "sqlite" {
                let (store, url) = self.store("inbox").await?;
                (store, url, None)
            } else {
                let database = PostgresDatabase::create(&admin, &format!("mc_test_bench_inbox_{}", std::process::id())).await?;
                let store = store::connect(&database.url, &Default::default()).await?;
                (store, database.url.clone(), Some(database))
            };
            progress("inbox", &format!("{backend}: {seller_count} sellers waiting, every 4th answered, every 3rd assigned"));
            let operator = self.operator_key(store.as_ref()).await?;
            let agent = UserRecord {
                id: 0,
                email: Some("agent@bench.test".to_owned()),
                name: "Agent".to_owned(),
                password_hash: None,
                seller_id: None,
                role: Some("customer-support".to_owned()),
                disabled_at: None,
                external_id: None,
                identity: None,
            };
            let agent = store.create_user(&agent, now()).await?.context("agent user")?;
            let started = now().get() - seller_count as i64 * 1_000;
            let mut writes = Vec::new();
            for i in 0..seller_count {
                let store = store.clone();
                writes.push(tokio::spawn(async move {
                    let seller = store.create_seller(&format!("Seller {i:05}"), now()).await?;
                    // A different, known waiting time for each chat.
                    let mut message = new_message(seller.id, Side::Seller, "where is my payout?");
                    message.now = UnixMillis::new(started + (i as i64 * 7_919) % (seller_count as i64 * 1_000));
                    store.create_message(&message).await?;
                    if i % 4 == 0 {
                        store.create_message(&new_message(seller.id, Side::Admin, "on its way")).await?;
                    }
                    if i % 3 == 0 {
                        store.assign_chat(seller.id, Some(agent.id), now()).await?;
                    }
                    anyhow::Ok(())
                }));
                if writes.len() == 256 {
                    for write in writes.drain(..) {
                        write.await??;
                    }
                }
            }
            for write in writes {
                write.await??;
            }
            drop(store);
            let server = ChildServer::start("serve-child", &[&url])?;
            let query = "{ chats(sort: WAITING_LONGEST, unassigned: true, first: 20) { nodes { id awaitingReplySince unreadCount seller { businessName } lastMessage { message } } } }";
            let mut latencies = Latencies::default();
            let mut previous_first = None;
            for _ in 0..samples {
                let started = Instant::now();
                let data = self.graphql(&server.base, "/graphql/operator", &operator, query, json!({})).await?;
                latencies.push(started.elapsed());
                let nodes = data["chats"]["nodes"].as_array().map_or(0, Vec::len);
                ensure!(nodes == 20, "a queue page of 20, got {nodes}");
                let first = data["chats"]["nodes"][0]["awaitingReplySince"].clone();
                ensure!(previous_first.as_ref().is_none_or(|p| p == &first), "a stable queue");
                previous_first = Some(first);
            }
            let label = format!("chats(WAITING_LONGEST, unassigned, first: 20) at {seller_count} sellers, {backend}");
            rows.push(Row::new("inbox", &format!("{label} p50"), latencies.quantile_ms(0.5), "ms"));
            rows.push(Row::new("inbox", &format!("{label} p99"), latencies.quantile_ms(0.99), "ms").target("max", 10.0));
            drop(server);
            if let Some(database) = database {
                database.drop_database().await?;
            }
        }
        Ok(rows)
    }

    /// Scenario 5: send-to-receive latency to many subscribers, and memory per idle
    /// subscribed connection.
    pub async fn fanout(&self) -> Result<Vec<Row>> {
        let subscribers = self.scale.pick(1_000, 100);
        let messages = self.scale.pick(50, 10);
        let idle = self.scale.pick(10_000, 1_000);
        let (store, url) = self.store("fanout").await?;
        let seller = self.seed_sellers(store.as_ref(), 1, "fanout").await?.remove(0);
        let operator = self.operator_key(store.as_ref()).await?;
        drop(store);
        let server = ChildServer::start("serve-child", &[&url])?;
        progress("fanout", &format!("{subscribers} operator subscribers"));
        let mut run = self.measure_fanout(std::slice::from_ref(&server.base), &seller.key, ("/graphql/operator", &operator), EventCursor::START, subscribers, messages).await?;
        let mut latencies = run.all();
        let mut rows = vec![
            Row::new("fanout", &format!("send→receive p50, {subscribers} subscribers"), latencies.quantile_ms(0.5), "ms"),
            Row::new("fanout", &format!("send→receive p99, {subscribers} subscribers"), latencies.quantile_ms(0.99), "ms")
                .target("max", 20.0),
            Row::new("fanout", &format!("per event: first of {subscribers} deliveries, p50"), run.first.quantile_ms(0.5), "ms"),
            Row::new("fanout", &format!("per event: last of {subscribers} deliveries, p50"), run.last.quantile_ms(0.5), "ms"),
            Row::new("fanout", &format!("per event: last of {subscribers} deliveries, max"), run.last.quantile_ms(1.0), "ms"),
        ];
        drop(server);

        let (store, url) = self.store("idle").await?;
        let mut sellers = self.seed_sellers(store.as_ref(), 2, "fanout").await?;
        let (seller, other) = (sellers.remove(0), sellers.remove(0));
        drop(store);
        let server = ChildServer::start("serve-child", &[&url])?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.rss_kib()?;
        progress("fanout", &format!("{idle} idle subscribed connections"));
        let semaphore = Arc::new(Semaphore::new(64));
        let mut opening = Vec::with_capacity(idle);
        for _ in 0..idle {
            let (base, key, semaphore) = (server.base.clone(), seller.key.clone(), semaphore.clone());
            opening.push(tokio::spawn(async move {
                let _permit = semaphore.acquire().await?;
                subscribe(&base, "/graphql/seller", &key, EventCursor::START).await
            }));
        }
        let mut idle_clients = Vec::with_capacity(idle);
        for task in opening {
            idle_clients.push(task.await??);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss_kib()?;
        let per_connection = (after.saturating_sub(before)) as f64 * 1024.0 / idle as f64 / 1024.0;
        rows.push(Row::new("fanout", &format!("memory per idle subscribed connection ({idle})"), per_connection, "KiB").target("max", 8.0));
        // Another chat's events must not cost the idle subscriptions anything.
        progress("fanout", "one seller subscriber beside the idle ones");
        let mut lone = self.measure_fanout(std::slice::from_ref(&server.base), &other.key, ("/graphql/seller", &other.key), EventCursor::START, 1, messages).await?.all();
        rows.push(Row::new("fanout", &format!("send→receive p99, 1 seller beside {idle} idle"), lone.quantile_ms(0.99), "ms"));
        drop(idle_clients);
        Ok(rows)
    }

    /// Send→receive latency of `messages` messages sent through the first node to
    /// `subscribers` subscriptions with `as_who` (path, key) spread over all nodes at `bases`.
    /// Subscription `i` is on node `i % bases.len()`; sends go to node 0.
    #[allow(clippy::too_many_arguments)]
    async fn measure_fanout(&self, bases: &[String], seller_key: &str, as_who: (&str, &str), after: EventCursor, subscribers: usize, messages: usize) -> Result<FanoutRun> {
        let (path, key) = as_who;
        let mut clients = Vec::with_capacity(subscribers);
        for i in 0..subscribers {
            clients.push(subscribe(&bases[i % bases.len()], path, key, after).await?);
        }
        // Subscriptions start at `after` (the feed's end now), so the warm-up reaches every one.
        let warmup = self.graphql(&bases[0], "/graphql/seller", seller_key, SEND, json!({ "m": "warm-up" })).await?;
        ensure!(warmup["chatMessageCreate"]["errors"].is_null(), "warm-up refused");
        let mut receivers = Vec::with_capacity(subscribers);
        let (sent_at_tx, sent_at_rx) = tokio::sync::watch::channel(Vec::<Instant>::new());
        let (warm_tx, mut warm_rx) = tokio::sync::mpsc::channel::<()>(subscribers.max(1));
        for mut client in clients {
            let sent_at = sent_at_rx.clone();
            let warm = warm_tx.clone();
            receivers.push(tokio::spawn(async move {
                // Up to the warm-up. On PostgreSQL `after` may lag the last sends (the feed's
                // horizon waits for every open transaction of the server, other clients' too):
                // their replayed events come first and are not measured.
                while next_event(&mut client).await?.1["chatEvents"]["chatMessage"]["message"] != "warm-up" {}
                warm.send(()).await?;
                let mut latencies = Vec::with_capacity(messages);
                for index in 0..messages {
                    let (received, event) = next_event(&mut client).await?;
                    ensure!(event["chatEvents"]["chatMessage"]["message"] == format!("fan-out {index}"), "out of order: {event}");
                    let sent = sent_at.borrow()[index];
                    latencies.push(received.saturating_duration_since(sent));
                }
                // The socket stays open until every subscriber has its last event: closing
                // it here would load the server while it still delivers to the others.
                anyhow::Ok((latencies, client))
            }));
        }
        drop(warm_tx);
        // Latency, not saturation: the warm-up's fan-out ends before the first message, as
        // each message's fan-out ends before the next.
        for _ in 0..subscribers {
            tokio::time::timeout(Duration::from_secs(30), warm_rx.recv()).await.context("warm-up not delivered")?.context("a subscriber failed")?;
        }
        tokio::time::sleep(PAUSE_BETWEEN_EVENTS).await;
        for index in 0..messages {
            let mut stamps = sent_at_tx.borrow().clone();
            stamps.push(Instant::now());
            sent_at_tx.send_replace(stamps);
            self.graphql(&bases[0], "/graphql/seller", seller_key, SEND, json!({ "m": format!("fan-out {index}") })).await?;
            tokio::time::sleep(PAUSE_BETWEEN_EVENTS).await;
        }
        let mut run = FanoutRun { per_node: bases.iter().map(|_| Latencies::default()).collect(), first: Latencies::default(), last: Latencies::default() };
        let mut by_event: Vec<(Duration, Duration)> = vec![(Duration::MAX, Duration::ZERO); messages];
        let mut delivered = 0;
        let mut sockets = Vec::with_capacity(subscribers);
        for (i, receiver) in receivers.into_iter().enumerate() {
            let (latencies, socket) = tokio::time::timeout(Duration::from_secs(30), receiver).await.context("fan-out timed out")???;
            sockets.push(socket);
            delivered += latencies.len();
            for (event, latency) in by_event.iter_mut().zip(&latencies) {
                *event = (event.0.min(*latency), event.1.max(*latency));
            }
            for latency in latencies {
                run.per_node[i % bases.len()].push(latency);
            }
        }
        ensure!(delivered == subscribers * messages, "missing deliveries");
        for (first, last) in by_event {
            run.first.push(first);
            run.last.push(last);
        }
        Ok(run)
    }

    /// Floors: raw durable inserts of the same row through sqlx (one commit per row and
    /// batched), and an axum hello-world through the same HTTP client.
    pub async fn floors(&self) -> Result<(Vec<Row>, f64, f64, f64)> {
        let per_commit_rows = self.scale.pick(5_000, 1_000);
        let batched_rows = self.scale.pick(100_000, 20_000);
        let url = self.database_url("floor");
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        sqlx::query("CREATE TABLE messages (id INTEGER PRIMARY KEY, seller_id INTEGER NOT NULL, seq INTEGER NOT NULL, sent_by TEXT NOT NULL, sender_label TEXT, body TEXT NOT NULL, created_at INTEGER NOT NULL, read_at INTEGER, client_mutation_id TEXT)")
            .execute(&pool)
            .await?;
        let insert = "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES (?, ?, 'Seller', ?, ?)";
        progress("floor", "raw sqlx inserts");
        let started = Instant::now();
        for i in 0..per_commit_rows {
            sqlx::query(insert).bind(1).bind(i as i64).bind("benchmark message").bind(now().get()).execute(&pool).await?;
        }
        let per_commit = per_commit_rows as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for chunk in 0..batched_rows / 512 {
            let mut tx = pool.begin().await?;
            for i in 0..512 {
                sqlx::query(insert).bind(1).bind((chunk * 512 + i) as i64).bind("benchmark message").bind(now().get()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let batched = (batched_rows / 512 * 512) as f64 / started.elapsed().as_secs_f64();

        progress("floor", "axum hello-world through the same client");
        let hello = ChildServer::start("hello-child", &[])?;
        let requests = self.scale.pick(20_000, 2_000);
        let (elapsed, mut latencies) = self
            .run_concurrently(requests, 32, |_| {
                let (client, base) = (self.client.clone(), hello.base.clone());
                async move {
                    let response = client.post(format!("{base}/hello")).json(&json!({ "query": "{ ok }" })).send().await?;
                    ensure!(response.status().is_success(), "hello failed");
                    response.bytes().await?;
                    Ok(())
                }
            })
            .await?;
        let hello_rate = requests as f64 / elapsed.as_secs_f64();
        let mut rows = vec![
            Row::new("floor", "sqlx insert, one commit per row", per_commit, "rows/s"),
            Row::new("floor", "sqlx insert, 512 rows per commit", batched, "rows/s"),
            Row::new("floor", "axum hello-world requests/s (c=32)", hello_rate, "req/s"),
            Row::new("floor", "axum hello-world latency p50", latencies.quantile_ms(0.5), "ms"),
        ];
        let mut flushes = self.disk_flushes()?;
        for (name, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            rows.push(Row::new("floor", &format!("disk flush (4 KiB append + fdatasync) {name}"), flushes.quantile_ms(q), "ms"));
        }
        Ok((rows, per_commit, batched, hello_rate))
    }

    /// How long the databases' disk takes to make a small append durable, one at a time
    /// with a pause between (as a lone message's commit does): every durable send waits
    /// for one such flush, so its tail is the floor under any send→receive percentile.
    fn disk_flushes(&self) -> Result<Latencies> {
        use std::io::Write;
        progress("floor", "disk flushes");
        let path = self.dir.path().join("flush-floor");
        let mut file = std::fs::File::create(&path)?;
        let mut latencies = Latencies::default();
        for _ in 0..self.scale.pick(300, 50) {
            file.write_all(&[b'x'; 4096])?;
            let started = Instant::now();
            file.sync_data()?;
            latencies.push(started.elapsed());
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::remove_file(&path)?;
        Ok(latencies)
    }

    /// Runs `operation(i)` for i in 0..total with `concurrency` in flight; returns the
    /// wall time and each operation's latency.
    async fn run_concurrently<F, Fut>(&self, total: usize, concurrency: usize, operation: F) -> Result<(Duration, Latencies)>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let semaphore = Arc::new(Semaphore::new(concurrency));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let permit = semaphore.clone().acquire_owned().await?;
            let operation = operation(i);
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                operation.await?;
                drop(permit);
                anyhow::Ok(t.elapsed())
            }));
        }
        let mut latencies = Latencies::default();
        for task in tasks {
            latencies.push(task.await??);
        }
        Ok((started.elapsed(), latencies))
    }
}

/// Issue 17's send target: the lower of 0.40 × the batched-insert floor and 0.25 × the
/// hello-world floor of the same run.
pub fn send_target(batched_insert_rate: f64, hello_rate: f64) -> f64 {
    (0.40 * batched_insert_rate).min(0.25 * hello_rate)
}

const SEND: &str = "mutation($m: String!) { chatMessageCreate(input: { message: $m }) { chatMessage { id } errors { messages } } }";

async fn post_graphql(client: &reqwest::Client, base: &str, path: &str, key: &str, query: &str, variables: Value) -> Result<Value> {
    let response = client
        .post(format!("{base}{path}"))
        .header("MARKETPLACER-API-KEY", key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("reading the response ({status})"))?;
    let body: Value = serde_json::from_str(&text).with_context(|| format!("response ({status}) is not JSON: {text:.300}"))?;
    ensure!(status.is_success() && body.get("errors").is_none(), "GraphQL request failed ({status}): {body}");
    Ok(body["data"].clone())
}

fn now() -> UnixMillis {
    UnixMillis::new(chrono::Utc::now().timestamp_millis())
}

fn new_message(seller_id: SellerId, sent_by: Side, body: &str) -> NewMessage {
    NewMessage { seller_id, sent_by, sender_label: None, body: body.to_owned(), client_mutation_id: None, now: now(), dedupe_since: UnixMillis::new(0) }
}

/// Loads `count` seller messages into one thread through the Store, many writes in
/// flight so group commit batches them.
async fn bulk_load(store: Arc<dyn Store>, seller_id: SellerId, count: usize) -> Result<()> {
    bulk_load_side(store, seller_id, count, Side::Seller).await.map(drop)
}

async fn bulk_load_side(store: Arc<dyn Store>, seller_id: SellerId, count: usize, side: Side) -> Result<Vec<MessageId>> {
    let mut ids = Vec::with_capacity(count);
    let mut pending = Vec::with_capacity(1_024);
    for i in 0..count {
        let store = store.clone();
        let message = new_message(seller_id, side, &format!("history message {i}"));
        pending.push(tokio::spawn(async move { store.create_message(&message).await }));
        if pending.len() == 1_024 || i + 1 == count {
            for write in pending.drain(..) {
                ids.push(write.await??.message().id);
            }
        }
    }
    Ok(ids)
}

/// Bytes a bench client reads at once: an event frame is a few hundred bytes.
const CLIENT_READ_BUFFER: usize = 4096;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The subscription every bench client asks for: message events from a known position.
const SUBSCRIPTION: &str = "subscription($after: String) { chatEvents(after: $after) { ... on ChatMessageCreated { cursor chatMessage { message } } } }";

/// Opens a subscription to `chatEvents(after:)` and waits for the connection ack.
async fn subscribe(base: &str, path: &str, key: &str, after: EventCursor) -> Result<Socket> {
    let mut socket = connect_socket(base, path, key, None).await?;
    send_subscribe(&mut socket, "1", after).await?;
    Ok(socket)
}

/// Opens a WebSocket to `base` + `path` (from the loopback address `source` when given,
/// for more client ports than one source address has), sends `connection_init` with
/// `key` and waits for the ack.
async fn connect_socket(base: &str, path: &str, key: &str, source: Option<std::net::Ipv4Addr>) -> Result<Socket> {
    tokio::time::timeout(Duration::from_secs(30), open_socket(base, path, key, source)).await.context("no connection_ack within 30 s")?
}

async fn open_socket(base: &str, path: &str, key: &str, source: Option<std::net::Ipv4Addr>) -> Result<Socket> {
    let mut request = format!("{}{path}", base.replace("http://", "ws://")).into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let server: std::net::SocketAddr = base.trim_start_matches("http://").parse().context("server address")?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind((source, 0).into()).with_context(|| format!("bind {source}"))?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    // tungstenite zeroes its whole read buffer before every read (128 KiB by default):
    // on a shared 2-core box 1,000 clients doing that would bill the server's figures.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(request, tokio_tungstenite::MaybeTlsStream::Plain(stream), Some(config)).await?;
    let init = json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": key } });
    socket.send(Message::text(init.to_string())).await?;
    let ack = socket.next().await.context("closed before ack")??;
    ensure!(ack.to_text()?.contains("connection_ack"), "no ack: {ack}");
    Ok(socket)
}

/// Starts one more `chatEvents` subscription with operation `id` on an open socket, from
/// a known position, so no event is missed while it starts.
async fn send_subscribe(socket: &mut Socket, id: &str, after: EventCursor) -> Result<()> {
    let subscribe = json!({ "id": id, "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "after": after.encode() } } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(())
}

/// The PostgreSQL server the bench makes its scratch databases on.
fn postgres_admin() -> String {
    std::env::var("MARKETCHAT_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The next event on `socket`: when its frame arrived (before it is parsed) and its data.
async fn next_event(socket: &mut Socket) -> Result<(Instant, Value)> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next()).await.context("no event within 20 s")?;
        let arrived = Instant::now();
        if let Message::Text(text) = frame.context("socket closed")?? {
            let mut message: Value = serde_json::from_str(&text)?;
            ensure!(message["type"] == "next", "unexpected message: {message}");
            return Ok((arrived, message["payload"]["data"].take()));
        }
    }
}

/// One fan-out measurement: every delivery's send→receive latency by the subscriber's
/// node, and per event its first and last delivery.
struct FanoutRun {
    per_node: Vec<Latencies>,
    /// Per event, the earliest delivery (the send, its commit and the first write).
    first: Latencies,
    /// Per event, the latest delivery (the first plus the spread over every subscriber).
    last: Latencies,
}

impl FanoutRun {
    /// Every delivery, whatever its node.
    fn all(&mut self) -> Latencies {
        let mut all = Latencies::default();
        for node in self.per_node.drain(..) {
            all.extend(node);
        }
        all
    }
}

/// The pause after each fan-out in the latency scenarios, so one event's delivery ends
/// before the next message is sent.
const PAUSE_BETWEEN_EVENTS: Duration = Duration::from_millis(100);

/// A PostgreSQL database made for one bench scenario.
struct PostgresDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create(admin: &str, name: &str) -> Result<Self> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres")).await.context("PostgreSQL is not reachable")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        Ok(Self { admin: admin.to_owned(), name: name.to_owned(), url: format!("{admin}/{name}") })
    }

    async fn drop_database(self) -> Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", self.admin)).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await?;
        Ok(())
    }
}
