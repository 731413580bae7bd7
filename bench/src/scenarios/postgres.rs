//! Scenario `postgres`: on PostgreSQL, the batched-insert floor of the same run, send
//! throughput through one and two nodes (with the CPU seconds of the nodes, of PostgreSQL
//! and of the bench client read from /proc, and the database connections each node holds),
//! and fan-out to subscribers spread over the nodes, split into same-node and cross-node
//! deliveries (the cross-node wake-up).

use super::{now, postgres_admin, progress, send_target, Bench, PostgresDatabase};
use crate::procfs::{clock_ticks, cpu_ticks, PostgresCpu};
use crate::server::ChildServer;
use crate::stats::Row;
use anyhow::{Context, Result};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `application_name` node `n` (from 1) connects with, so pg_stat_activity tells the
/// nodes' connections apart.
pub(super) fn node_url(database_url: &str, node: usize) -> String {
    format!("{database_url}?application_name=mcbench-node-{node}")
}

/// CPU ticks of the nodes, of PostgreSQL and of this process at one moment.
struct CpuSnapshot {
    nodes: u64,
    postgres: PostgresCpu,
    client: u64,
}

impl CpuSnapshot {
    fn take(servers: &[ChildServer]) -> Self {
        Self {
            nodes: servers.iter().map(|s| cpu_ticks(s.pid()).unwrap_or(0)).sum(),
            postgres: PostgresCpu::snapshot(),
            client: cpu_ticks(std::process::id()).unwrap_or(0),
        }
    }
}

/// Largest number of connections per `application_name` seen in pg_stat_activity while a
/// run is going on, sampled every 100 ms.
struct ConnectionSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<BTreeMap<String, i64>>>,
}

impl ConnectionSampler {
    async fn start(admin: &str, database: &str) -> Result<Self> {
        let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres")).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let database = database.to_owned();
        let task = tokio::spawn(async move {
            let mut peak = BTreeMap::<String, i64>::new();
            while !stopped.load(Ordering::Relaxed) {
                let counts: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'mcbench-node-%' GROUP BY 1",
                )
                .bind(&database)
                .fetch_all(&mut conn)
                .await?;
                for (name, count) in counts {
                    let entry = peak.entry(name).or_insert(0);
                    *entry = (*entry).max(count);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(peak)
        });
        Ok(Self { stop, task })
    }

    async fn finish(self) -> Result<BTreeMap<String, i64>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?
    }
}

impl Bench {
    /// Scenario `postgres`. `hello_rate` is the hello-world floor of the same run (for
    /// issue 17's send target).
    pub async fn postgres(&self, hello_rate: f64) -> Result<Vec<Row>> {
        let total = self.scale.pick(20_000, 2_000);
        let subscribers = self.scale.pick(1_000, 100);
        let messages = self.scale.pick(20, 5);
        let admin = postgres_admin();
        let (mut rows, batched) = self.postgres_floor(&admin).await?;
        let ticks = clock_ticks();
        let per_10k = |t: u64| t as f64 / ticks * 10_000.0 / total as f64;
        let mut one_node_rate = 0.0;
        for nodes in [1usize, 2] {
            let name = format!("mc_test_bench_{}_{nodes}", std::process::id());
            let database = PostgresDatabase::create(&admin, &name).await?;
            let store = marketchat::store::connect(&database.url, &Default::default()).await?;
            let sellers = self.seed_sellers(store.as_ref(), 50, "postgres").await?;
            let operator = self.operator_key(store.as_ref()).await?;
            let servers = (1..=nodes).map(|n| ChildServer::start("serve-child", &[&node_url(&database.url, n)])).collect::<Result<Vec<_>>>()?;
            let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
            progress("postgres", &format!("{total} messages through {nodes} node(s), concurrency 32, CPU from /proc"));
            let first_key = sellers[0].key.clone();
            let keys = Arc::new(sellers.into_iter().map(|s| s.key).collect());
            let connections = ConnectionSampler::start(&admin, &name).await?;
            let before = CpuSnapshot::take(&servers);
            let (rate, mut latencies) = self.drive_sends(&bases, keys, total).await?;
            let after = CpuSnapshot::take(&servers);
            let connections = connections.finish().await?;
            let mut row = Row::new("postgres", &format!("messages/s, {nodes} node(s), c=32"), rate, "msg/s");
            if nodes == 1 {
                one_node_rate = rate;
                row = row.floor(batched);
                rows.push(row);
                rows.push(Row::new("postgres", "messages/s, 1 node vs min(0.40×PG batched, 0.25×hello)", rate, "msg/s").target("min", send_target(batched, hello_rate)));
                rows.push(Row::new("postgres", "messages/s, 1 node vs hello-world requests/s", rate, "msg/s").floor(hello_rate));
            } else {
                rows.push(row.target("min", 1.6 * one_node_rate).floor(one_node_rate));
            }
            rows.push(Row::new("postgres", &format!("send latency p99, {nodes} node(s)"), latencies.quantile_ms(0.99), "ms"));
            rows.push(Row::new("postgres", &format!("CPU s per 10k messages: node(s), {nodes} node(s)"), per_10k(after.nodes - before.nodes), "s"));
            rows.push(Row::new(
                "postgres",
                &format!("CPU s per 10k messages: PostgreSQL ({} procs), {nodes} node(s)", after.postgres.processes()),
                per_10k(after.postgres.ticks_since(&before.postgres)),
                "s",
            ));
            rows.push(Row::new("postgres", &format!("CPU s per 10k messages: bench client, {nodes} node(s)"), per_10k(after.client - before.client), "s"));
            for n in 1..=nodes {
                let peak = connections.get(&format!("mcbench-node-{n}")).copied().unwrap_or(0);
                rows.push(Row::new("postgres", &format!("PG connections of node {n} under load, {nodes} node(s)"), peak as f64, "conns"));
            }
            progress("postgres", &format!("fan-out to {subscribers} subscribers over {nodes} node(s), sends through node 1"));
            let after_position = store.last_event_position().await?;
            let mut run = self.measure_fanout(&bases, &first_key, ("/graphql/operator", &operator), after_position, subscribers, messages).await?;
            let per_node = &mut run.per_node;
            if nodes == 2 {
                let (same50, same99) = (per_node[0].quantile_ms(0.5), per_node[0].quantile_ms(0.99));
                let (cross50, cross99) = (per_node[1].quantile_ms(0.5), per_node[1].quantile_ms(0.99));
                rows.push(Row::new("postgres", "send→receive p50, same node (node 1→1)", same50, "ms"));
                rows.push(Row::new("postgres", "send→receive p99, same node (node 1→1)", same99, "ms"));
                rows.push(Row::new("postgres", "send→receive p50, cross node (node 1→2)", cross50, "ms"));
                rows.push(Row::new("postgres", "send→receive p99, cross node (node 1→2)", cross99, "ms"));
                // Signed: on a loaded box the cross-node path can come out ahead.
                rows.push(Row::new("postgres", "cross-node wake-up cost (p50 cross − same)", cross50 - same50, "ms"));
            }
            let mut all = run.all();
            rows.push(Row::new("postgres", &format!("send→receive p50, {subscribers} subs, {nodes} node(s)"), all.quantile_ms(0.5), "ms"));
            rows.push(Row::new("postgres", &format!("send→receive p99, {subscribers} subs, {nodes} node(s)"), all.quantile_ms(0.99), "ms").target("max", 20.0));
            drop(servers);
            drop(store);
            database.drop_database().await?;
        }
        Ok(rows)
    }

    /// The PostgreSQL floor: the message row inserted through sqlx into a table of the
    /// messages' shape in a scratch database, one commit per row and 512 rows per commit
    /// (synchronous_commit as the server's, the default `on`). Returns its rows and the
    /// batched rate.
    async fn postgres_floor(&self, admin: &str) -> Result<(Vec<Row>, f64)> {
        let per_commit_rows = self.scale.pick(5_000, 100);
        let batched_rows = self.scale.pick(102_400, 5_120);
        let database = PostgresDatabase::create(admin, &format!("mc_test_bench_floor_{}", std::process::id())).await?;
        progress("postgres", "floor: raw sqlx inserts on PostgreSQL");
        let mut conn = sqlx::PgConnection::connect(&database.url).await.context("floor database")?;
        sqlx::query("CREATE TABLE messages (id BIGSERIAL PRIMARY KEY, seller_id BIGINT NOT NULL, seq BIGINT NOT NULL, sent_by TEXT NOT NULL, sender_label TEXT, body TEXT NOT NULL, created_at BIGINT NOT NULL, read_at BIGINT, client_mutation_id TEXT)")
            .execute(&mut conn)
            .await?;
        let insert = "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES ($1, $2, 'Seller', $3, $4)";
        let started = Instant::now();
        for i in 0..per_commit_rows {
            sqlx::query(insert).bind(1_i64).bind(i as i64).bind("benchmark message").bind(now().get()).execute(&mut conn).await?;
        }
        let per_commit = per_commit_rows as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for chunk in 0..batched_rows / 512 {
            let mut tx = conn.begin().await?;
            for i in 0..512 {
                sqlx::query(insert).bind(1_i64).bind((chunk * 512 + i) as i64).bind("benchmark message").bind(now().get()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let batched = (batched_rows / 512 * 512) as f64 / started.elapsed().as_secs_f64();
        conn.close().await?;
        database.drop_database().await?;
        let rows = vec![
            Row::new("postgres", "floor: sqlx insert, one commit per row (PG)", per_commit, "rows/s"),
            Row::new("postgres", "floor: sqlx insert, 512 rows per commit (PG)", batched, "rows/s"),
        ];
        Ok((rows, batched))
    }
}
