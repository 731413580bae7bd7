//! PostgreSQL's part of maintenance: its integrity checks. Backups of a PostgreSQL
//! database are `pg_dump`'s or the provider's job (docs/operations.md).

use crate::store::records::StoreResult;
use sqlx::PgPool;

/// Every valid B-tree index of our schema, checked with amcheck's `bt_index_check` when
/// the extension is installed (`CREATE EXTENSION amcheck`, by a superuser); and the feed
/// positions against the transaction counter: events and feed cursors from transactions
/// the database has not reached yet (a logical dump restored into a new cluster, whose
/// transaction IDs start again low) would sort before every event written from now on,
/// so subscriptions and webhooks resuming from them would miss those.
pub(super) async fn integrity_problems(pool: &PgPool) -> StoreResult<Vec<String>> {
    let mut problems = Vec::new();
    let (highest_position, next_transaction): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(GREATEST((SELECT tx::text::bigint FROM events ORDER BY tx DESC, seq DESC LIMIT 1), \
         (SELECT MAX(cursor_tx) FROM webhook_endpoints), (SELECT MAX(cursor_tx) FROM notification_cursor)), 0), \
         pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
    )
    .fetch_one(pool)
    .await?;
    if highest_position >= next_transaction {
        problems.push(format!(
            "event feed: positions reach transaction {highest_position}, but the database's next transaction is {next_transaction} \
             (restored from a logical dump? new events would sort before the old ones; see docs/operations.md, \"Restore\")"
        ));
    }
    let amcheck: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')").fetch_one(pool).await?;
    if !amcheck {
        tracing::info!("the amcheck extension is not installed: indexes were not checked (CREATE EXTENSION amcheck enables it)");
        return Ok(problems);
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.amname = 'btree' AND i.indisvalid AND n.nspname = current_schema() \
         ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;
    for index in indexes {
        if let Err(error) = sqlx::query("SELECT bt_index_check(to_regclass($1))").bind(&index).execute(pool).await {
            problems.push(format!("index {index}: {error}"));
        }
    }
    Ok(problems)
}
