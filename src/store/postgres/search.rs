//! `messageSearch` on PostgreSQL: the GIN index `messages_search` over the stored column
//! `messages.search_vector` (migrations/postgres 0011).

use super::PostgresStore;
use crate::store::records::StoreResult;
use crate::store::search::{hit, run, upper_bound, MessageHit, MessageSearch, SearchStore, HIT_COLUMNS};
use crate::store::sql::SqlBackend;
use async_trait::async_trait;
use tracing::instrument;

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
