//! Scenario `search`: `messageSearch` latency at growing message counts on SQLite and
//! PostgreSQL, and what the full-text index costs the send path (sends with the index
//! against sends on a database whose index was dropped, in the same run).
//!
//! Messages are loaded with direct SQL bulk inserts (not through the API): on SQLite
//! through the real triggers (so the FTS5 index and the chat counters are built as sends
//! build them), on PostgreSQL into the table with the GIN index dropped and then made
//! again with the migration's definition, then `ANALYZE` (as autovacuum would).

use super::{progress, Bench, PostgresDatabase};
use crate::server::ChildServer;
use crate::stats::{Latencies, Row};
use anyhow::{ensure, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Words of support conversations, most frequent first: a message draws from them
/// with Zipf-like weights, so some words are common and most are rare.
const VOCABULARY: &[&str] = &[
    "please", "order", "thanks", "when", "paid", "can", "help", "invoice", "payment", "refund", "remittance", "account", "delivery", "shipping",
    "update", "product", "listing", "price", "stock", "return", "customer", "week", "today", "tomorrow", "friday", "monday", "bank", "transfer",
    "commission", "fee", "statement", "report", "tracking", "parcel", "courier", "address", "warehouse", "café", "résumé", "Zürich",
];

/// Filler words between the vocabulary's (common English, never searched for).
const FILLER: &[&str] = &["the", "my", "is", "a", "to", "we", "you", "it", "for", "on", "of", "and", "in", "this", "that", "be", "with", "was"];

/// The two-word queries measured: (label, query).
/// "tracking parcel": each word in ~4 % of messages, both in ~0.15 %; "remittance paid":
/// ~11 % and ~22 %, both ~2.5 %; "please order": ~60 % and ~40 %, both ~25 %.
const QUERIES: [(&str, &str); 3] = [("two rare words", "tracking parcel"), ("two words", "remittance paid"), ("two frequent words", "please order")];

/// How many sellers the messages are spread over.
const SELLERS: usize = 100;

/// The search every sample runs: what the operator portal asks for.
const SEARCH: &str = "query($q: String!) { messageSearch(query: $q, first: 20) {
  pageInfo { hasNextPage endCursor }
  nodes { cursor snippet matches { start length } seller { businessName } chatMessage { id message createdAt sentByType } }
} }";

/// A message body: 6 to 24 words, each a vocabulary word (Zipf-like, about 1 in 3) or
/// filler, plus a synthetic rare word now and then.
fn body(rng: &mut StdRng) -> String {
    let words = rng.gen_range(6..=24);
    let mut text = String::new();
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        let roll: f64 = rng.gen();
        if roll < 0.33 {
            // Zipf-like over the vocabulary: rank r with weight ~ 1/(r+1).
            let u: f64 = rng.gen();
            let rank = ((VOCABULARY.len() as f64 + 1.0).powf(u) - 1.0) as usize;
            text.push_str(VOCABULARY[rank.min(VOCABULARY.len() - 1)]);
        } else if roll < 0.40 {
            text.push_str(&format!("w{}", rng.gen_range(0..200_000)));
        } else {
            text.push_str(FILLER[rng.gen_range(0..FILLER.len())]);
        }
    }
    text.push(if rng.gen_bool(0.3) { '?' } else { '.' });
    text
}

/// Messages of one bulk statement.
const BATCH: usize = 2_000;

impl Bench {
    /// Scenario `search`: search latency at each size on both back ends, and send
    /// throughput with and without the search index.
    pub async fn search(&self) -> Result<Vec<Row>> {
        let sizes = if self.scale.quick { vec![2_000, 5_000] } else { vec![10_000, 100_000, 1_000_000] };
        let samples = self.scale.pick(400, 60);
        let admin = std::env::var("MARKETCHAT_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let mut rows = Vec::new();
        for &size in &sizes {
            let (store, url) = self.store(&format!("search-{size}")).await?;
            let operator = self.operator_key(store.as_ref()).await?;
            self.seed_sellers(store.as_ref(), SELLERS, "search").await?;
            drop(store);
            let started = Instant::now();
            load_sqlite(&url, size).await?;
            let load = started.elapsed().as_secs_f64();
            progress("search", &format!("SQLite: {size} messages loaded in {load:.1} s"));
            rows.push(Row::new("search", &format!("SQLite bulk load of {size} (through the triggers)"), load, "s"));
            let server = ChildServer::start("serve-child", &[&url])?;
            rows.extend(self.measure_search(&server.base, &operator, "SQLite", size, samples).await?);
            drop(server);

            let database = PostgresDatabase::create(&admin, &format!("mc_test_bench_search_{}_{size}", std::process::id())).await?;
            let store = marketchat::store::connect(&database.url, &Default::default()).await?;
            let operator = self.operator_key(store.as_ref()).await?;
            self.seed_sellers(store.as_ref(), SELLERS, "search").await?;
            drop(store);
            let started = Instant::now();
            load_postgres(&database.url, size).await?;
            let load = started.elapsed().as_secs_f64();
            progress("search", &format!("PostgreSQL: {size} messages loaded and indexed in {load:.1} s"));
            rows.push(Row::new("search", &format!("PostgreSQL bulk load + index of {size}"), load, "s"));
            let server = ChildServer::start("serve-child", &[&database.url])?;
            rows.extend(self.measure_search(&server.base, &operator, "PostgreSQL", size, samples).await?);
            drop(server);
            database.drop_database().await?;
        }
        rows.extend(self.send_with_and_without_index(&admin).await?);
        Ok(rows)
    }

    /// p50/p99 of each query of [`QUERIES`] against the server at `base`.
    async fn measure_search(&self, base: &str, operator: &str, engine: &str, size: usize, samples: usize) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for (label, query) in QUERIES {
            // Warm-up, and a check that the query finds something.
            let first = self.graphql(base, "/graphql/operator", operator, SEARCH, json!({ "q": query })).await?;
            let found = first["messageSearch"]["nodes"].as_array().map_or(0, Vec::len);
            ensure!(found > 0, "{engine}: {query:?} found nothing at {size}");
            let mut latencies = Latencies::default();
            for _ in 0..samples {
                let started = Instant::now();
                self.graphql(base, "/graphql/operator", operator, SEARCH, json!({ "q": query })).await?;
                latencies.push(started.elapsed());
            }
            let name = format!("{engine}: {label} ({query:?}) at {size}");
            rows.push(Row::new("search", &format!("{name} p50"), latencies.quantile_ms(0.5), "ms"));
            let mut p99 = Row::new("search", &format!("{name} p99"), latencies.quantile_ms(0.99), "ms");
            if size >= 1_000_000 {
                p99 = p99.target("max", 20.0);
            }
            rows.push(p99);
        }
        Ok(rows)
    }

    /// Send throughput (the `send` scenario's load: c=32, 50 sellers) on a database with
    /// the search index and on one without it, SQLite and PostgreSQL (one node).
    async fn send_with_and_without_index(&self, admin: &str) -> Result<Vec<Row>> {
        let total = self.scale.pick(20_000, 1_000);
        let mut rows = Vec::new();
        let mut rates = [0.0f64; 2];
        for (i, indexed) in [false, true].into_iter().enumerate() {
            let (store, url) = self.store(&format!("search-send-{indexed}")).await?;
            let sellers = self.seed_sellers(store.as_ref(), 50, "search").await?;
            drop(store);
            if !indexed {
                execute_sqlite(&url, &["DROP TRIGGER messages_fts_after_insert", "DROP TRIGGER messages_fts_after_delete", "DROP TRIGGER messages_fts_after_body_update"]).await?;
            }
            let server = ChildServer::start("serve-child", &[&url])?;
            progress("search", &format!("SQLite sends, search index {}", if indexed { "on" } else { "off" }));
            let keys = Arc::new(sellers.into_iter().map(|s| s.key).collect());
            let (rate, _) = self.drive_sends(std::slice::from_ref(&server.base), keys, total).await?;
            rates[i] = rate;
        }
        rows.push(Row::new("search", "SQLite sends/s without the search index (c=32)", rates[0], "msg/s"));
        rows.push(Row::new("search", "SQLite sends/s with the search index (c=32)", rates[1], "msg/s").target("min", 0.9 * rates[0]).floor(rates[0]));
        for (i, indexed) in [false, true].into_iter().enumerate() {
            let database = PostgresDatabase::create(admin, &format!("mc_test_bench_search_send_{}_{indexed}", std::process::id())).await?;
            let store = marketchat::store::connect(&database.url, &Default::default()).await?;
            let sellers = self.seed_sellers(store.as_ref(), 50, "search").await?;
            drop(store);
            if !indexed {
                execute_postgres(&database.url, &["DROP INDEX messages_search"]).await?;
            }
            let server = ChildServer::start("serve-child", &[&database.url])?;
            progress("search", &format!("PostgreSQL sends, search index {}", if indexed { "on" } else { "off" }));
            let keys = Arc::new(sellers.into_iter().map(|s| s.key).collect());
            let (rate, _) = self.drive_sends(std::slice::from_ref(&server.base), keys, total).await?;
            rates[i] = rate;
            drop(server);
            database.drop_database().await?;
        }
        rows.push(Row::new("search", "PostgreSQL sends/s without the search index (c=32)", rates[0], "msg/s"));
        rows.push(Row::new("search", "PostgreSQL sends/s with the search index (c=32)", rates[1], "msg/s").target("min", 0.9 * rates[0]).floor(rates[0]));
        Ok(rows)
    }
}

/// The seller IDs [`SELLERS`] made (the first sellers of a fresh database).
fn seller_of(i: usize) -> i64 {
    (i % SELLERS) as i64 + 1
}

/// Times spread over the last 30 days, oldest first.
fn created_at(i: usize, size: usize) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    now - 30 * 86_400_000 + (i as i64) * (30 * 86_400_000 / size as i64)
}

/// Loads `size` messages into the SQLite database at `url` in multi-row INSERTs, through
/// the triggers (counters, events, the FTS5 index), durability off for the load only.
async fn load_sqlite(url: &str, size: usize) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("PRAGMA synchronous = OFF").execute(&mut conn).await?;
    let mut rng = StdRng::seed_from_u64(15);
    let mut seq = vec![0i64; SELLERS];
    let mut done = 0;
    while done < size {
        let n = BATCH.min(size - done);
        let mut tx = conn.begin().await?;
        let mut sql = String::from("INSERT INTO messages (seller_id, seq, sent_by, body, created_at) VALUES ");
        sql.push_str(&vec!["(?, ?, ?, ?, ?)"; n].join(", "));
        let mut statement = sqlx::query(&sql);
        for i in done..done + n {
            seq[i % SELLERS] += 1;
            let side = if i % 3 == 0 { "Admin" } else { "Seller" };
            statement = statement.bind(seller_of(i)).bind(seq[i % SELLERS]).bind(side).bind(body(&mut rng)).bind(created_at(i, size));
        }
        statement.execute(&mut *tx).await?;
        tx.commit().await?;
        done += n;
        if done % 200_000 == 0 {
            progress("search", &format!("SQLite: {done} of {size}"));
        }
    }
    Ok(())
}

/// Loads `size` messages into the PostgreSQL database at `url`: the GIN index dropped,
/// the rows inserted from arrays, the index made again with the migration's definition,
/// then `ANALYZE`.
async fn load_postgres(url: &str, size: usize) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("DROP INDEX messages_search").execute(&mut conn).await?;
    let mut rng = StdRng::seed_from_u64(15);
    let mut seq = vec![0i64; SELLERS];
    let mut done = 0;
    while done < size {
        let n = (BATCH * 5).min(size - done);
        let (mut sellers, mut seqs, mut sides, mut bodies, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for i in done..done + n {
            seq[i % SELLERS] += 1;
            sellers.push(seller_of(i));
            seqs.push(seq[i % SELLERS]);
            sides.push(if i % 3 == 0 { "Admin" } else { "Seller" }.to_owned());
            bodies.push(body(&mut rng));
            times.push(created_at(i, size));
        }
        sqlx::query(
            "INSERT INTO messages (seller_id, seq, sent_by, body, created_at) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])",
        )
        .bind(&sellers)
        .bind(&seqs)
        .bind(&sides)
        .bind(&bodies)
        .bind(&times)
        .execute(&mut conn)
        .await?;
        done += n;
        if done % 200_000 == 0 {
            progress("search", &format!("PostgreSQL: {done} of {size}"));
        }
    }
    sqlx::query("UPDATE chats SET message_count = (SELECT COUNT(*) FROM messages m WHERE m.seller_id = chats.seller_id)").execute(&mut conn).await?;
    sqlx::query("SET maintenance_work_mem = '256MB'").execute(&mut conn).await?;
    sqlx::query("CREATE INDEX messages_search ON messages USING GIN (marketchat_search_vector(body))")
        .execute(&mut conn)
        .await
        .context("making the search index again")?;
    sqlx::query("ANALYZE messages").execute(&mut conn).await?;
    Ok(())
}

/// Runs `statements` on the SQLite database at `url`.
async fn execute_sqlite(url: &str, statements: &[&str]) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    for statement in statements {
        sqlx::query(statement).execute(&mut conn).await?;
    }
    Ok(())
}

/// Runs `statements` on the PostgreSQL database at `url`.
async fn execute_postgres(url: &str, statements: &[&str]) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    for statement in statements {
        sqlx::query(statement).execute(&mut conn).await?;
    }
    Ok(())
}
