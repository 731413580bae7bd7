//! The PostgreSQL store: the scale-out backend. Many nodes share one database; every
//! write is one transaction, per-chat order comes from a row lock on the chat, and the
//! event feed is read below the oldest running transaction (see `EventCursor`).

mod maintenance;
mod writes;
mod search;

use crate::domain::ids::{MessageId, SellerId};
use super::sql::{EVENT_NOTE_COLUMNS, SELLER_EVENT_KINDS, Dialect, RecordRow, RowsAffected, SqlBackend};
use super::contract::Store;
use super::records::*;
use crate::domain::cursor::EventCursor;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgQueryResult};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use tracing::instrument;

/// The channel nodes NOTIFY after committing events (a wake-up; storage holds the truth).
const EVENTS_CHANNEL: &str = "marketchat_events";

/// Events of finished transactions only: nothing can commit before them later.
const BELOW_HORIZON: &str = "e.tx < pg_snapshot_xmin(pg_current_snapshot())";

/// PostgreSQL behind the `Store` trait.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at a `postgres://` URL.
    pub async fn open(url: &str, settings: &DatabaseSettings) -> StoreResult<Self> {
        // `sslmode=verify-ca` asks rustls for the process's crypto provider, which it
        // cannot pick itself when a program links more than one; ring is ours. Installing
        // it again (or after the program chose one) changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.connect_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl Dialect for Postgres {
    const POSITION: &'static str = "strpos";
    const INDEX_HINTS: bool = false;
    const ROW_LOCKS: bool = true;
    const READ_SNAPSHOT: Option<&'static str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const GREATEST_OF_POSITIONS: &'static str = "GREATEST(events, webhooks, notifier)";

    fn id_counter(table: &str) -> String {
        // A sequence not yet called hands out `last_value` next.
        format!("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {}", serial_sequence(table))
    }

    fn raise_id_counter(table: &str) -> Vec<String> {
        vec![format!("SELECT setval('{}', $1)", serial_sequence(table))]
    }
    /// A BIGINT[] column.
    type MessageIds = Vec<i64>;

    fn store_ids(ids: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
        Ok(ids.to_vec())
    }

    fn read_ids(stored: Vec<i64>) -> Result<Vec<i64>, sqlx::Error> {
        Ok(stored)
    }
}

/// The sequence behind `table`'s BIGSERIAL key (`messages.id`, `events.seq`).
fn serial_sequence(table: &str) -> &'static str {
    match table {
        "events" => "events_seq_seq",
        _ => "messages_id_seq",
    }
}

impl RowsAffected for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl SqlBackend for PostgresStore {
    type Db = Postgres;

    fn readers(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }
}

#[async_trait]
impl Store for PostgresStore {
    #[instrument(level = "debug", skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = %message.seller_id))]
    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome> {
        writes::create_message(&self.pool, message).await
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = %request.seller_id))]
    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<MessageId>> {
        writes::mark_read(&self.pool, request).await
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = ?seller_id))]
    async fn events_after(&self, after: EventCursor, seller_id: Option<SellerId>, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        // A seller's replay never reads the support inbox's operator-side kinds.
        let filter = if seller_id.is_some() { format!("AND e.seller_id = $4 AND {SELLER_EVENT_KINDS}") } else { "AND $4::bigint IS NULL".to_owned() };
        let sql = format!(
            "SELECT e.seq, e.tx::text::bigint, e.seller_id, e.kind, e.sent_by, e.read_at, e.message_ids, \
             m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at, {EVENT_NOTE_COLUMNS} \
             FROM events e LEFT JOIN messages m ON m.id = e.message_id LEFT JOIN chat_notes n ON n.id = e.note_id \
             WHERE (e.tx, e.seq) > ($1::bigint::text::xid8, $2) AND {BELOW_HORIZON} {filter} \
             ORDER BY e.tx, e.seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.tx)
            .bind(after.seq)
            .bind(limit)
            .bind(seller_id.map(SellerId::get))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(RecordRow::event).collect::<Result<_, _>>()?)
    }

    #[instrument(level = "debug", skip_all)]
    async fn last_event_position(&self) -> StoreResult<EventCursor> {
        let row: Option<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT e.tx::text::bigint, e.seq FROM events e WHERE {BELOW_HORIZON} ORDER BY e.tx DESC, e.seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(EventCursor::START, |(tx, seq)| EventCursor { tx, seq }))
    }

    #[instrument(level = "debug", skip_all)]
    async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        maintenance::integrity_problems(&self.pool).await
    }

    async fn backup_into(&self, _path: &std::path::Path) -> StoreResult<i64> {
        Err(StoreError::BackupUnsupported)
    }

    #[instrument(level = "debug", skip_all)]
    async fn announce_commit(&self) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(&self.pool).await?;
        Ok(())
    }

    fn spawn_commit_listener(&self, wake: CommitHook, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let pool = self.pool.clone();
        Some(tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener.listen(EVENTS_CHANNEL).await?;
                    // Connected (again): catch up on whatever was missed meanwhile.
                    wake();
                    loop {
                        match listener.try_recv().await? {
                            Some(_) => wake(),
                            // The connection dropped; sqlx reconnects on the next call.
                            None => wake(),
                        }
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), sqlx::Error>(())
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    result = listener => {
                        if let Err(error) = result {
                            tracing::warn!(%error, "event listener lost its connection; reconnecting");
                        }
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
            }
        }))
    }
}
