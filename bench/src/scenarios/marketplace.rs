//! Scenario `marketplace` ("marketplace hour", issue 17 part 1): many sellers, each with
//! one subscription to its own thread, and a few operator subscriptions to every chat,
//! while messages go both ways at a fixed rate.
//!
//! The sender is open loop: message `k` is scheduled at `start + k / rate` and sent then
//! (in its own task) whatever earlier sends are doing, so a slow server shows up as
//! latency instead of a lower offered rate. Latencies are measured from the scheduled
//! time (the headline figures, as a client that wanted to send then sees them) and from
//! the moment the request actually started. Message `k` goes to seller `rng(k)`: even `k`
//! from that seller (Seller API, its own key), odd `k` to it from the operator (Operator
//! API, `sellerId`). Its body is `mp K`, so receivers know which message they got.
//!
//! What is checked, per subscription, after the last send plus a drain:
//! - each operator subscription received every message (both directions) exactly once;
//! - each seller subscription received every message of its own thread (both directions:
//!   the operator's to it and its own, echoed) exactly once, and no other seller's;
//! - the seller-side latency is the operator→seller messages at the addressed seller's
//!   subscription; the operator-side latency is every message at each operator
//!   subscription (so each message counts once per operator subscription).
//!
//! "lost" counts (subscription, message) pairs that should have arrived and did not,
//! "duplicated" extra copies, "foreign" messages of another seller's thread on a seller
//! subscription. On PostgreSQL with two nodes subscriptions alternate between the nodes
//! and so do sends, and the operator-side latency is also split into same-node and
//! cross-node deliveries.

use super::postgres::node_url;
use super::{connect_socket, postgres_admin, progress, send_subscribe, Bench, PostgresDatabase, Seeded, SEND};
use crate::server::ChildServer;
use crate::stats::{Latencies, Row};
use anyhow::{ensure, Result};
use futures_util::StreamExt;
use marketchat::domain::keys::{generate_key, KeyOwner};
use marketchat::store::Store;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// The operator's send: a message into one seller's chat.
const OPERATOR_SEND: &str = "mutation($s: ID!, $m: String!) { chatMessageCreate(input: { sellerId: $s, message: $m }) { chatMessage { id } errors { messages } } }";

/// Sizes of one run of the scenario.
#[derive(Clone, Copy)]
struct Shape {
    sellers: usize,
    operators: usize,
    rate: f64,
    seconds: f64,
}

/// One planned message.
struct Planned {
    seller: usize,
    from_operator: bool,
    node: usize,
}

/// Who a subscription belongs to.
#[derive(Clone, Copy)]
enum Subscriber {
    Seller(usize),
    Operator,
}

/// What one subscription received: message number and arrival time.
struct Receipts {
    who: Subscriber,
    node: usize,
    got: Vec<(u32, Instant)>,
    /// Why the server ended it before the run did (its later messages count as lost).
    ended_early: Option<String>,
}

/// Sends in flight at most: an open-loop sender that outruns the server waits here (its
/// lag behind the schedule is reported) instead of piling up connections.
const MAX_IN_FLIGHT: usize = 256;

/// What one send did: when it actually started, and whether it was accepted.
struct SendResult {
    started: Instant,
    took: Duration,
    accepted: bool,
    /// Why it was not accepted.
    error: Option<String>,
}

impl Bench {
    /// Scenario `marketplace`, on SQLite (one node) and PostgreSQL (two nodes).
    pub async fn marketplace(&self) -> Result<Vec<Row>> {
        let shape = Shape {
            sellers: self.scale.pick(10_000, 300),
            operators: self.scale.pick(50, 10),
            rate: self.scale.pick(500, 100) as f64,
            seconds: self.scale.pick(60, 2) as f64,
        };
        let mut rows = self.marketplace_on("sqlite", 1, shape).await?;
        rows.extend(self.marketplace_on("postgres", 2, shape).await?);
        Ok(rows)
    }

    async fn marketplace_on(&self, backend: &str, nodes: usize, shape: Shape) -> Result<Vec<Row>> {
        let label = format!("{backend}, {nodes} node{}", if nodes == 1 { "" } else { "s" });
        let (store, url, database) = if backend == "sqlite" {
            let (store, url) = self.store("marketplace").await?;
            (store, url, None)
        } else {
            let database = PostgresDatabase::create(&postgres_admin(), &format!("mc_test_bench_market_{}", std::process::id())).await?;
            let store = marketchat::store::connect(&database.url, &Default::default()).await?;
            (store, database.url.clone(), Some(database))
        };
        progress("marketplace", &format!("{label}: seeding {} sellers with keys", shape.sellers));
        let sellers = seed_concurrently(store.clone(), shape.sellers).await?;
        let operator = self.operator_key(store.as_ref()).await?;
        let after = store.last_event_position().await?;
        drop(store);
        let servers = (1..=nodes)
            .map(|n| ChildServer::start("serve-child", &[&if backend == "sqlite" { url.clone() } else { node_url(&url, n) }]))
            .collect::<Result<Vec<_>>>()?;
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();

        progress("marketplace", &format!("{label}: opening {} seller and {} operator subscriptions", shape.sellers, shape.operators));
        let received = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = watch::channel(false);
        let semaphore = Arc::new(Semaphore::new(64));
        let mut opening = Vec::with_capacity(shape.sellers + shape.operators);
        let who_all = (0..shape.sellers).map(Subscriber::Seller).chain((0..shape.operators).map(|_| Subscriber::Operator));
        for (i, who) in who_all.enumerate() {
            let node = i % nodes;
            let (path, key) = match who {
                Subscriber::Seller(s) => ("/graphql/seller", sellers[s].key.clone()),
                Subscriber::Operator => ("/graphql/operator", operator.clone()),
            };
            let (base, semaphore) = (bases[node].clone(), semaphore.clone());
            opening.push(tokio::spawn(async move {
                let _permit = semaphore.acquire().await?;
                let mut socket = connect_socket(&base, path, &key, None).await?;
                send_subscribe(&mut socket, "1", after).await?;
                anyhow::Ok((who, node, socket))
            }));
        }
        let mut receivers = Vec::with_capacity(opening.len());
        for task in opening {
            let (who, node, socket) = task.await??;
            receivers.push(tokio::spawn(receive(socket, who, node, received.clone(), stop_rx.clone())));
        }

        let total = (shape.rate * shape.seconds) as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let plan: Vec<Planned> = (0..total).map(|k| Planned { seller: rng.gen_range(0..shape.sellers), from_operator: k % 2 == 1, node: k % nodes }).collect();
        progress("marketplace", &format!("{label}: {total} messages at {} msg/s for {} s, open loop", shape.rate, shape.seconds));
        let period = Duration::from_secs_f64(1.0 / shape.rate);
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let mut sends = Vec::with_capacity(total);
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        for (k, planned) in plan.iter().enumerate() {
            tokio::time::sleep_until(start + period * k as u32).await;
            let place = in_flight.clone().acquire_owned().await?;
            let (client, base) = (self.client.clone(), bases[planned.node].clone());
            let seller = &sellers[planned.seller];
            let (path, key, query, variables) = if planned.from_operator {
                ("/graphql/operator", operator.clone(), OPERATOR_SEND, json!({ "s": seller.id.gid(), "m": format!("mp {k}") }))
            } else {
                ("/graphql/seller", seller.key.clone(), SEND, json!({ "m": format!("mp {k}") }))
            };
            sends.push(tokio::spawn(async move {
                let _place = place;
                let started = Instant::now();
                let outcome = super::post_graphql(&client, &base, path, &key, query, variables).await;
                let error = match outcome {
                    Ok(data) if data["chatMessageCreate"]["errors"].is_null() => None,
                    Ok(data) => Some(format!("refused: {}", data["chatMessageCreate"]["errors"])),
                    Err(error) => Some(format!("{error:#}")),
                };
                SendResult { started, took: started.elapsed(), accepted: error.is_none(), error }
            }));
        }
        let start = start.into_std();
        let mut results = Vec::with_capacity(total);
        for send in sends {
            results.push(send.await?);
        }
        let last_start = results.iter().map(|r| r.started).max().unwrap_or(start);
        let achieved = total as f64 / (last_start.saturating_duration_since(start) + period).as_secs_f64();
        let accepted = results.iter().filter(|r| r.accepted).count();
        if let Some(error) = results.iter().find_map(|r| r.error.as_ref()) {
            progress("marketplace", &format!("{label}: {} of {total} sends failed, the first: {error}", total - accepted));
        }
        // Each accepted message reaches every operator subscription and one seller
        // subscription (the addressed seller's, or the sender's own echo), nothing else.
        let expected = accepted * (shape.operators + 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop_tx.send_replace(true);
        let mut all = Vec::with_capacity(receivers.len());
        for receiver in receivers {
            all.push(receiver.await??);
        }
        drop(servers);
        if let Some(database) = database {
            database.drop_database().await?;
        }

        let scheduled = |k: usize| start + period * k as u32;
        let (mut seller_side, mut seller_side_actual) = (Latencies::default(), Latencies::default());
        let (mut operator_side, mut operator_side_actual) = (Latencies::default(), Latencies::default());
        let (mut same_node, mut cross_node) = (Latencies::default(), Latencies::default());
        let (mut lost, mut duplicated, mut foreign) = (0usize, 0usize, 0usize);
        let mut counts = vec![0u16; total];
        let ended_early = all.iter().filter(|r| r.ended_early.is_some()).count();
        if let Some(why) = all.iter().find_map(|r| r.ended_early.as_ref()) {
            progress("marketplace", &format!("{label}: {ended_early} subscriptions ended early, the first: {why}"));
        }
        for receipts in &all {
            counts.iter_mut().for_each(|c| *c = 0);
            for &(k, at) in &receipts.got {
                let k = k as usize;
                let Some(planned) = plan.get(k) else {
                    foreign += 1;
                    continue;
                };
                if matches!(receipts.who, Subscriber::Seller(s) if s != planned.seller) {
                    foreign += 1;
                    continue;
                }
                counts[k] += 1;
                if counts[k] > 1 {
                    continue;
                }
                let (from_scheduled, from_actual) = (at.saturating_duration_since(scheduled(k)), at.saturating_duration_since(results[k].started));
                match receipts.who {
                    Subscriber::Operator => {
                        operator_side.push(from_scheduled);
                        operator_side_actual.push(from_actual);
                        if nodes > 1 {
                            if receipts.node == planned.node { &mut same_node } else { &mut cross_node }.push(from_scheduled);
                        }
                    }
                    Subscriber::Seller(_) if planned.from_operator => {
                        seller_side.push(from_scheduled);
                        seller_side_actual.push(from_actual);
                    }
                    Subscriber::Seller(_) => {}
                }
            }
            for (k, planned) in plan.iter().enumerate() {
                let owed = results[k].accepted && !matches!(receipts.who, Subscriber::Seller(s) if s != planned.seller);
                if owed && counts[k] == 0 {
                    lost += 1;
                }
                duplicated += counts[k].saturating_sub(1) as usize;
            }
        }
        let mut send_latency = Latencies::default();
        results.iter().for_each(|r| send_latency.push(r.took));
        let lag_max = results.iter().enumerate().map(|(k, r)| r.started.saturating_duration_since(scheduled(k))).max().unwrap_or_default();

        let m = "marketplace";
        let subs = format!("{} sellers + {} operator subs", shape.sellers, shape.operators);
        let mut rows = vec![
            Row::new(m, &format!("{label}: offered rate ({subs})"), shape.rate, "msg/s"),
            Row::new(m, &format!("{label}: achieved send rate ({total} msgs)"), achieved, "msg/s").floor(shape.rate),
            Row::new(m, &format!("{label}: sender lag behind schedule, max"), lag_max.as_secs_f64() * 1_000.0, "ms"),
            Row::new(m, &format!("{label}: sends refused or failed"), (total - accepted) as f64, "msgs").target("max", 0.0),
            Row::new(m, &format!("{label}: send latency p99 (HTTP)"), send_latency.quantile_ms(0.99), "ms"),
            Row::new(m, &format!("{label}: seller side send→receive p50"), seller_side.quantile_ms(0.5), "ms"),
            Row::new(m, &format!("{label}: seller side send→receive p99"), seller_side.quantile_ms(0.99), "ms").target("max", 20.0),
            Row::new(m, &format!("{label}: seller side p99 from actual send start"), seller_side_actual.quantile_ms(0.99), "ms"),
            Row::new(m, &format!("{label}: operator side send→receive p50"), operator_side.quantile_ms(0.5), "ms"),
            Row::new(m, &format!("{label}: operator side send→receive p99"), operator_side.quantile_ms(0.99), "ms").target("max", 20.0),
            Row::new(m, &format!("{label}: operator side p99 from actual send start"), operator_side_actual.quantile_ms(0.99), "ms"),
            Row::new(m, &format!("{label}: deliveries checked"), (seller_side.len() + operator_side.len()) as f64, "events"),
            Row::new(m, &format!("{label}: subscriptions ended early by the server"), ended_early as f64, "subs").target("max", 0.0),
            Row::new(m, &format!("{label}: lost deliveries"), lost as f64, "events").target("max", 0.0),
            Row::new(m, &format!("{label}: duplicated deliveries"), duplicated as f64, "events").target("max", 0.0),
            Row::new(m, &format!("{label}: other sellers' messages on a seller sub"), foreign as f64, "events").target("max", 0.0),
        ];
        if nodes > 1 {
            rows.push(Row::new(m, &format!("{label}: operator side p50, same node as the send"), same_node.quantile_ms(0.5), "ms"));
            rows.push(Row::new(m, &format!("{label}: operator side p50, other node (cross-node)"), cross_node.quantile_ms(0.5), "ms"));
            rows.push(Row::new(m, &format!("{label}: operator side p99, same node as the send"), same_node.quantile_ms(0.99), "ms"));
            rows.push(Row::new(m, &format!("{label}: operator side p99, other node (cross-node)"), cross_node.quantile_ms(0.99), "ms"));
        }
        ensure!(operator_side.len() + seller_side.len() > 0, "{label}: no deliveries at all");
        Ok(rows)
    }
}

/// Reads one subscription until told to stop, recording each `mp K` message's arrival;
/// a subscription the server ends early is recorded as such (what it missed is lost).
async fn receive(mut socket: super::Socket, who: Subscriber, node: usize, received: Arc<AtomicUsize>, mut stop: watch::Receiver<bool>) -> Result<Receipts> {
    let mut got = Vec::new();
    let mut ended_early = None;
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            frame = socket.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                ended_early = Some(format!("closed: {close:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                ended_early = Some(format!("socket error: {error}"));
                break;
            }
            None => {
                ended_early = Some("socket closed".to_owned());
                break;
            }
        };
        let at = Instant::now();
        let message: Value = serde_json::from_str(&text)?;
        if message["type"] != "next" {
            ended_early = Some(format!("{message}"));
            break;
        }
        let body = &message["payload"]["data"]["chatEvents"]["chatMessage"]["message"];
        if let Some(k) = body.as_str().and_then(|b| b.strip_prefix("mp ")).and_then(|k| k.parse().ok()) {
            got.push((k, at));
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(Receipts { who, node, got, ended_early })
}

/// Seeds `count` sellers with one API key each, 256 writes in flight (group commit).
async fn seed_concurrently(store: Arc<dyn Store>, count: usize) -> Result<Vec<Seeded>> {
    let mut sellers = Vec::with_capacity(count);
    let mut pending = Vec::with_capacity(256);
    for i in 0..count {
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            let now = super::now();
            let seller = store.create_seller(&format!("Seller {i:05}"), now).await?;
            let key = generate_key(&mut rand::thread_rng());
            store.create_api_key(&key.hash, KeyOwner::Seller(seller.id), None, now).await?;
            anyhow::Ok(Seeded { id: seller.id, key: key.secret })
        }));
        if pending.len() == 256 || i + 1 == count {
            for task in pending.drain(..) {
                sellers.push(task.await??);
            }
        }
    }
    Ok(sellers)
}
