//! Full-text message search (`messageSearch`): what storage offers for it, and each
//! dialect's statement over its own index (SQLite: the FTS5 table `messages_fts`,
//! migrations/sqlite 0014; PostgreSQL: the GIN index `messages_search` over the stored
//! generated column `messages.search_vector`, migrations/postgres 0011). Both indexes
//! follow inserts and retention's deletes by themselves (triggers, a generated column),
//! so the write paths know nothing of search. The engine query text comes from
//! [`SearchQuery`], which quotes every word: user text never reaches `MATCH` or
//! `to_tsquery` as syntax.

use super::postgres::PostgresStore;
use super::records::{MessageRecord, SellerRecord, StoreResult};
use super::sql::{RecordRow, SqlBackend};
use super::sqlite::SqliteStore;
use crate::domain::ids::{MessageId, SellerId};
use crate::domain::search::SearchQuery;
use async_trait::async_trait;
use tracing::instrument;

/// One page of a message search: newest first, after a message, perhaps in one chat.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// What to look for.
    pub query: SearchQuery,
    /// Only this seller's chat.
    pub seller_id: Option<SellerId>,
    /// Only messages older than this one (the previous page's last hit).
    pub before: Option<MessageId>,
    /// Most hits.
    pub limit: i64,
}

/// A message that matched, with its seller.
#[derive(Debug, Clone)]
pub struct MessageHit {
    /// The message.
    pub message: MessageRecord,
    /// Its seller.
    pub seller: SellerRecord,
}

/// Full-text search over message bodies (a part of [`Store`](super::Store)).
#[async_trait]
pub trait SearchStore {
    /// Messages whose body holds every term, newest (highest id) first, at most `limit`.
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<MessageHit>>;
}

/// The seller's then the message's columns, in the order [`hit`] reads them.
const HIT_COLUMNS: &str = "s.id, s.business_name, s.created_at, s.external_id, \
     m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at";

/// A hit from a row of [`HIT_COLUMNS`].
fn hit<R: RecordRow>(row: &R) -> Result<MessageHit, sqlx::Error> {
    Ok(MessageHit { seller: row.seller()?, message: row.message(4)? })
}

/// `AND m.seller_id = $4` when the search is in one chat (a literal filter, so each
/// shape gets its own plan).
fn seller_filter(search: &MessageSearch) -> &'static str {
    if search.seller_id.is_some() {
        " AND m.seller_id = $4"
    } else {
        ""
    }
}

/// Where the page starts: below the cursor's message id, or the top.
fn upper_bound(search: &MessageSearch) -> i64 {
    search.before.map_or(i64::MAX, MessageId::get)
}

#[async_trait]
impl SearchStore for SqliteStore {
    #[instrument(level = "debug", skip_all)]
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<MessageHit>> {
        // FTS5 walks its index in rowid order (= messages.id), newest first, and stops at
        // the limit: no sort, no scan of `messages`.
        let sql = format!(
            "SELECT {HIT_COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid JOIN sellers s ON s.id = m.seller_id \
             WHERE f.messages_fts MATCH $1 AND f.rowid < $2{} ORDER BY f.rowid DESC LIMIT $3",
            seller_filter(search),
        );
        run(self, &sql, search.query.fts5(), search).await
    }
}

/// How many of the newest messages a PostgreSQL search checks row by row (reading their
/// stored words) before it turns to the full-text index for the older ones.
const RECENT_WINDOW: i64 = 4_000;

#[async_trait]
impl SearchStore for PostgresStore {
    #[instrument(level = "debug", skip_all)]
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<MessageHit>> {
        let matches = "m.search_vector @@ to_tsquery('simple', $1)";
        let from = format!("SELECT {HIT_COLUMNS} FROM messages m JOIN sellers s ON s.id = m.seller_id WHERE {matches}");
        if search.seller_id.is_some() {
            // One chat: the planner picks between the chat's rows and the index.
            let sql = format!("{from} AND m.id < $2 AND m.seller_id = $4 ORDER BY m.id DESC LIMIT $3");
            return run(self, &sql, search.query.tsquery(), search).await;
        }
        // Newest first with a LIMIT: a frequent word is best found by walking the newest
        // messages, a rare one through the index, and the planner cannot tell which a
        // query is. So: the newest RECENT_WINDOW messages first (a bounded walk of the
        // primary key), then, if they hold too few hits, the older ones through the GIN
        // index only (plain index scans and table scans off for that statement).
        let upper = upper_bound(search);
        let boundary: Option<i64> = sqlx::query_scalar("SELECT id FROM messages WHERE id < $1 ORDER BY id DESC OFFSET $2 LIMIT 1")
            .bind(upper)
            .bind(RECENT_WINDOW - 1)
            .fetch_optional(self.readers())
            .await?;
        let recent_sql = format!("{from} AND m.id < $2 AND m.id >= $4 ORDER BY m.id DESC LIMIT $3");
        let rows = sqlx::query(&recent_sql)
            .persistent(false)
            .bind(search.query.tsquery())
            .bind(upper)
            .bind(search.limit)
            .bind(boundary.unwrap_or(0))
            .fetch_all(self.readers())
            .await?;
        let mut hits: Vec<MessageHit> = rows.iter().map(hit).collect::<Result<_, _>>()?;
        let Some(boundary) = boundary else { return Ok(hits) };
        if hits.len() as i64 >= search.limit {
            return Ok(hits);
        }
        let mut tx = self.readers().begin().await?;
        // With those off, the plan's cost estimate is inflated past the JIT threshold;
        // compiling it would take longer than running it.
        sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
        sqlx::query("SET LOCAL enable_indexscan = off").execute(&mut *tx).await?;
        sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
        // `m.id + 0`: the bound must not turn into a walk of the primary key either.
        let older_sql = format!("{from} AND m.id + 0 < $2 ORDER BY m.id DESC LIMIT $3");
        let rows = sqlx::query(&older_sql)
            .persistent(false)
            .bind(search.query.tsquery())
            .bind(boundary)
            .bind(search.limit - hits.len() as i64)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for row in &rows {
            hits.push(hit(row)?);
        }
        Ok(hits)
    }
}

/// Runs a search statement with `$1` the engine's query text, `$2` the upper bound, `$3`
/// the limit and `$4` the seller (when filtered).
async fn run<B>(backend: &B, sql: &str, engine_query: String, search: &MessageSearch) -> StoreResult<Vec<MessageHit>>
where
    B: SqlBackend,
    for<'c> &'c mut <B::Db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = B::Db>,
    for<'q> <B::Db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as sqlx::Database>::Row: RecordRow,
    i64: super::sql::Value<B::Db>,
    Option<i64>: super::sql::Value<B::Db>,
    String: super::sql::Value<B::Db>,
{
    let mut statement = sqlx::query(sql).bind(engine_query).bind(upper_bound(search)).bind(search.limit);
    if let Some(seller_id) = search.seller_id {
        statement = statement.bind(seller_id.get());
    }
    let rows = statement.fetch_all(backend.readers()).await?;
    Ok(rows.iter().map(hit).collect::<Result<_, _>>()?)
}
