//! Webhook endpoints, their queued deliveries and the attempts made: what storage offers
//! for them, and the statements every SQL back end runs for it, written once.

use crate::domain::ids::WebhookId;
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, Dialect, RowsAffected};
use super::records::{AttemptOutcome, AttemptRecord, DeliveryRecord, NewDelivery, StoreResult, WebhookRecord};
use crate::domain::cursor::EventCursor;
use async_trait::async_trait;
use tracing::instrument;

/// Columns of a webhook endpoint row, in the order [`webhook_from_row`] reads them.
const WEBHOOK_COLUMNS: &str = "id, url, secret, events, created_at, removed_at, cursor_tx, cursor_seq";

/// A webhook endpoint row (see [`WEBHOOK_COLUMNS`]).
type WebhookRow = (i64, String, String, String, i64, Option<i64>, i64, i64);

/// An attempt row: attempted_at, status, error, event_id, delivery id, whether the
/// delivery is pending, its next attempt time.
type AttemptRow = (i64, Option<i64>, Option<String>, String, i64, bool, i64);

/// Webhooks (a part of [`Store`](super::Store)).
#[async_trait]
pub trait WebhookStore {
    /// Registers a webhook endpoint; it receives the events after `from` (the feed's head
    /// when it is registered, so it starts with what happens next).
    async fn create_webhook(&self, url: &str, secret: &str, events: &[String], from: EventCursor, now: UnixMillis) -> StoreResult<WebhookRecord>;
    /// All endpoints, oldest first (removed ones too).
    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Removes an endpoint; false when there is no such active endpoint.
    async fn remove_webhook(&self, id: WebhookId, now: UnixMillis) -> StoreResult<bool>;
    /// Queues deliveries for an endpoint and moves its cursor, in one transaction
    /// (a delivery already queued for the same event is not queued twice).
    async fn enqueue_deliveries(&self, endpoint_id: WebhookId, deliveries: &[NewDelivery], cursor: EventCursor, now: UnixMillis) -> StoreResult<()>;
    /// Claims up to `limit` due deliveries of active endpoints until `lease_until`, so
    /// each attempt is made by one worker (row locks with SKIP LOCKED on PostgreSQL).
    async fn claim_deliveries(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<DeliveryRecord>>;
    /// The latest `limit` attempts at delivering to an endpoint, newest first.
    async fn webhook_attempts(&self, endpoint_id: WebhookId, limit: i64) -> StoreResult<Vec<AttemptRecord>>;
    /// Records an attempt and what follows from it.
    async fn record_attempt(&self, delivery_id: i64, now: UnixMillis, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) -> StoreResult<()>;
}

every_backend! {
    #[async_trait]
    impl WebhookStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_webhook(&self, url: &str, secret: &str, events: &[String], from: EventCursor, now: UnixMillis) -> StoreResult<WebhookRecord> {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_endpoints (url, secret, events, created_at, cursor_tx, cursor_seq) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(url)
            .bind(secret)
            .bind(events.join(","))
            .bind(now.get())
            .bind(from.tx)
            .bind(from.seq)
            .fetch_one(self.writer())
            .await?;
            Ok(WebhookRecord { id: WebhookId::from(id), url: url.to_owned(), secret: secret.to_owned(), events: events.to_vec(), created_at: now, removed_at: None, cursor: from })
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
            let rows: Vec<WebhookRow> =
                sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints ORDER BY id")).fetch_all(self.readers()).await?;
            Ok(rows.into_iter().map(webhook_from_row).collect())
        }

        #[instrument(level = "debug", skip_all, fields(webhook_id = %id))]
        async fn remove_webhook(&self, id: WebhookId, now: UnixMillis) -> StoreResult<bool> {
            let result = sqlx::query("UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
                .bind(now.get())
                .bind(id.get())
                .execute(self.writer())
                .await?;
            Ok(result.rows_affected() == 1)
        }

        #[instrument(level = "debug", skip_all, fields(endpoint_id = %endpoint_id))]
        async fn enqueue_deliveries(&self, endpoint_id: WebhookId, deliveries: &[NewDelivery], cursor: EventCursor, now: UnixMillis) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            for delivery in deliveries {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (endpoint_id, event_id) DO NOTHING",
                )
                .bind(endpoint_id.get())
                .bind(&delivery.event_id)
                .bind(&delivery.body)
                .bind(now.get())
                .execute(&mut *tx)
                .await?;
            }
            // Only forward: two workers racing never move a cursor back.
            sqlx::query("UPDATE webhook_endpoints SET cursor_tx = $1, cursor_seq = $2 WHERE id = $3 AND (cursor_tx, cursor_seq) < ($1, $2)")
                .bind(cursor.tx)
                .bind(cursor.seq)
                .bind(endpoint_id.get())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn claim_deliveries(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
            // Workers on several nodes skip the rows another has locked; SQLite's one
            // writer connection runs the statement alone anyway.
            let skip_locked = if B::Db::ROW_LOCKS { " FOR UPDATE OF d SKIP LOCKED" } else { "" };
            let rows: Vec<(i64, i64, String, String, i64, i64)> = sqlx::query_as(&format!(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id IN ( \
                   SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                   WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $2 AND e.removed_at IS NULL \
                   ORDER BY d.next_attempt_at LIMIT $3{skip_locked}) \
                 RETURNING id, endpoint_id, event_id, body, attempts, created_at"
            ))
            .bind(lease_until.get())
            .bind(now.get())
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, endpoint_id, event_id, body, attempts, created_at)| DeliveryRecord { id, endpoint_id: WebhookId::from(endpoint_id), event_id, body, attempts, created_at: UnixMillis::from(created_at) })
                .collect())
        }

        #[instrument(level = "debug", skip_all, fields(endpoint_id = %endpoint_id))]
        async fn webhook_attempts(&self, endpoint_id: WebhookId, limit: i64) -> StoreResult<Vec<AttemptRecord>> {
            let rows: Vec<AttemptRow> = sqlx::query_as(
                "SELECT a.attempted_at, a.status, a.error, d.event_id, d.id, \
                 (d.delivered_at IS NULL AND d.failed_at IS NULL), d.next_attempt_at \
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
                 WHERE d.endpoint_id = $1 ORDER BY a.id DESC LIMIT $2",
            )
            .bind(endpoint_id.get())
            .bind(limit)
            .fetch_all(self.readers())
            .await?;
            Ok(attempts_from_rows(rows))
        }

        #[instrument(level = "debug", skip_all, fields(delivery_id = %delivery_id))]
        async fn record_attempt(&self, delivery_id: i64, now: UnixMillis, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error) VALUES ($1, $2, $3, $4)")
                .bind(delivery_id)
                .bind(now.get())
                .bind(status.map(i64::from))
                .bind(error)
                .execute(&mut *tx)
                .await?;
            let (delivered_at, failed_at, next_attempt_at) = match outcome {
                AttemptOutcome::Delivered => (Some(now), None, now),
                AttemptOutcome::Retry(at) => (None, None, at),
                AttemptOutcome::GiveUp => (None, Some(now), now),
            };
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $1, failed_at = $2, next_attempt_at = $3, last_error = $4 WHERE id = $5",
            )
            .bind(delivered_at.map(|v| v.get()))
            .bind(failed_at.map(|v| v.get()))
            .bind(next_attempt_at.get())
            .bind(error)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// An endpoint row to its record (the event types are stored comma-separated).
fn webhook_from_row((id, url, secret, events, created_at, removed_at, cursor_tx, cursor_seq): WebhookRow) -> WebhookRecord {
    let events = events.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    WebhookRecord { id: WebhookId::from(id), url, secret, events, created_at: UnixMillis::from(created_at), removed_at: removed_at.map(UnixMillis::from), cursor: EventCursor { tx: cursor_tx, seq: cursor_seq } }
}

/// Attempt rows, newest first, to records: the first (newest) row of a pending delivery
/// carries its next attempt time.
fn attempts_from_rows(rows: Vec<AttemptRow>) -> Vec<AttemptRecord> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .map(|(attempted_at, status, error, event_id, delivery_id, pending, next_attempt_at)| AttemptRecord {
            attempted_at: UnixMillis::from(attempted_at),
            status: status.and_then(|s| u16::try_from(s).ok()),
            error,
            next_retry_at: (seen.insert(delivery_id) && pending).then_some(UnixMillis::from(next_attempt_at)),
            event_id,
        })
        .collect()
}
