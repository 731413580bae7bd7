//! Scenario `idle`: the idle-subscription ceiling of one node (issue 17 part 2).
//!
//! The issue asks for 50,000 idle subscriptions on one node. A process may hold at most
//! as many sockets as its open-file limit, and the hard limit on this machine is 20,000
//! (it cannot be raised without CAP_SYS_RESOURCE): one server cannot hold 50,000 sockets.
//! So two shapes are measured, each on a fresh server:
//! - as many single-subscription connections as the limit leaves room for (18,000 in
//!   the full run: the server needs a reserve for its database, listener and logs, and
//!   the bench client holds the other ends in one process under the same limit);
//! - 50,000 subscriptions multiplexed, 10 per socket (the server's cap on operations per
//!   socket) over 5,000 sockets.
//!
//! The client's connections come from several loopback source addresses (127.0.0.2–9),
//! so no source address runs short of ephemeral ports. RSS is read from /proc before and
//! after opening, and at the end one message is sent to the subscribed seller: every
//! subscription must receive it (so the subscriptions are live, not just open sockets).

use super::{connect_socket, progress, send_subscribe, Bench, Socket, SEND};
use crate::server::ChildServer;
use crate::stats::Row;
use anyhow::{ensure, Context, Result};
use futures_util::StreamExt;
use marketchat::domain::cursor::EventCursor;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Loopback source addresses the client's connections are spread over.
const SOURCES: u8 = 8;

/// Open files the bench client keeps for itself beyond its sockets (reqwest pool, the
/// runtime, stdio, the databases): the single-subscription count leaves this much.
const CLIENT_RESERVE: u64 = 2_000;

impl Bench {
    /// Scenario `idle`. `fd_limit` is this process's open-file limit after raising it.
    pub async fn idle(&self, fd_limit: u64) -> Result<Vec<Row>> {
        let wanted = self.scale.pick(18_000, 1_000) as u64;
        let single = wanted.min(fd_limit.saturating_sub(CLIENT_RESERVE)) as usize;
        ensure!(single > 0, "open-file limit {fd_limit} leaves no room for idle connections");
        let sockets = self.scale.pick(5_000, 100);
        let mut rows = vec![Row::new("idle", "open-file limit per process (hard)", fd_limit as f64, "files")];
        rows.extend(self.idle_shape(single, 1).await?);
        rows.extend(self.idle_shape(sockets, super::MAX_OPERATIONS_PER_SOCKET).await?);
        Ok(rows)
    }

    /// Holds `sockets` connections with `per_socket` idle subscriptions each on a fresh
    /// server; returns RSS, KiB per subscription and the final live delivery.
    async fn idle_shape(&self, sockets: usize, per_socket: usize) -> Result<Vec<Row>> {
        let subscriptions = sockets * per_socket;
        let name = format!("idle-{sockets}x{per_socket}");
        let (store, url) = self.store(&name).await?;
        let seller = self.seed_sellers(store.as_ref(), 1, "idle").await?.remove(0);
        drop(store);
        let server = ChildServer::start("serve-child", &[&url])?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.rss_kib()?;
        progress("idle", &format!("{subscriptions} idle subscriptions: {sockets} sockets × {per_socket}, from {SOURCES} loopback addresses"));
        let started = Instant::now();
        let semaphore = Arc::new(Semaphore::new(64));
        let mut opening = Vec::with_capacity(sockets);
        for i in 0..sockets {
            let (base, key, semaphore) = (server.base.clone(), seller.key.clone(), semaphore.clone());
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES as usize) as u8);
            opening.push(tokio::spawn(async move {
                let _permit = semaphore.acquire().await?;
                let mut socket = connect_socket(&base, "/graphql/seller", &key, Some(source)).await?;
                for id in 1..=per_socket {
                    send_subscribe(&mut socket, &id.to_string(), EventCursor::START).await?;
                }
                anyhow::Ok(socket)
            }));
        }
        let mut clients = Vec::with_capacity(sockets);
        for task in opening {
            clients.push(task.await?.with_context(|| format!("opening socket {} of {sockets}", clients.len() + 1))?);
        }
        let opened_in = started.elapsed();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let after = server.rss_kib()?;
        let per_subscription = after.saturating_sub(before) as f64 / subscriptions as f64;

        progress("idle", &format!("one live message to all {subscriptions} subscriptions"));
        let sent = Instant::now();
        let mut readers = Vec::with_capacity(sockets);
        for socket in clients {
            readers.push(tokio::spawn(await_check(socket, per_socket)));
        }
        let data = self.graphql(&server.base, "/graphql/seller", &seller.key, SEND, json!({ "m": "idle check" })).await?;
        ensure!(data["chatMessageCreate"]["errors"].is_null(), "idle check refused: {data}");
        let (mut delivered, mut last) = (0usize, Duration::ZERO);
        for reader in readers {
            let (count, at) = reader.await??;
            delivered += count;
            last = last.max(at.saturating_duration_since(sent));
        }
        ensure!(delivered == subscriptions, "the live message reached {delivered} of {subscriptions} subscriptions");
        let shape = if per_socket == 1 { format!("{sockets} sockets × 1") } else { format!("{sockets} sockets × {per_socket}") };
        let mut per_sub_row = Row::new("idle", &format!("KiB per idle subscription ({shape})"), per_subscription, "KiB");
        if per_socket == 1 {
            per_sub_row = per_sub_row.target("max", 8.0);
        }
        Ok(vec![
            Row::new("idle", &format!("subscriptions held ({shape})"), subscriptions as f64, "subs"),
            Row::new("idle", &format!("server RSS before ({shape})"), before as f64 / 1024.0, "MiB"),
            Row::new("idle", &format!("server RSS holding them ({shape})"), after as f64 / 1024.0, "MiB"),
            per_sub_row,
            Row::new("idle", &format!("time to open them ({shape})"), opened_in.as_secs_f64(), "s"),
            Row::new("idle", &format!("live message reached, of {subscriptions} ({shape})"), delivered as f64, "subs"),
            Row::new("idle", &format!("live message: last delivery after ({shape})"), last.as_secs_f64() * 1_000.0, "ms"),
        ])
    }
}

/// Waits for the "idle check" message on every one of a socket's `per_socket`
/// subscriptions (operation ids 1..=per_socket, each exactly once); returns how many
/// arrived and when the last did.
async fn await_check(mut socket: Socket, per_socket: usize) -> Result<(usize, Instant)> {
    let mut seen = vec![false; per_socket];
    let mut last = Instant::now();
    while seen.iter().any(|s| !s) {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next()).await.context("no live message within 60 s")?;
        let Message::Text(text) = frame.context("socket closed")?? else { continue };
        last = Instant::now();
        let message: Value = serde_json::from_str(&text)?;
        ensure!(message["type"] == "next", "unexpected message: {message}");
        ensure!(message["payload"]["data"]["chatEvents"]["chatMessage"]["message"] == "idle check", "unexpected event: {message}");
        let id: usize = message["id"].as_str().and_then(|id| id.parse().ok()).context("operation id")?;
        ensure!((1..=per_socket).contains(&id) && !seen[id - 1], "operation {id} delivered twice or unknown");
        seen[id - 1] = true;
    }
    Ok((per_socket, last))
}
