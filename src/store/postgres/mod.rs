//! The PostgreSQL store: the scale-out backend. Many nodes share one database; every
//! write is one transaction, per-chat order comes from a row lock on the chat, and the
//! event feed is read below the oldest running transaction (see `EventCursor`).

use super::*;
use crate::domain::paging::Direction;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use std::str::FromStr;

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

row_mappers!(PgRow);

fn event_from_row(row: &PgRow) -> Result<StoredEvent, sqlx::Error> {
    let kind: &str = row.try_get(3)?;
    let kind = match kind {
        "message_created" => EventKind::MessageCreated(message_from_row(row, 7)?),
        _ => EventKind::MessagesRead {
            sent_by: side_from_db(row.try_get(4)?)?,
            read_at: row.try_get(5)?,
            message_ids: row.try_get(6)?,
        },
    };
    let position = EventCursor { tx: row.try_get(1)?, seq: row.try_get(0)? };
    Ok(StoredEvent { position, seller_id: row.try_get(2)?, kind })
}

async fn find_by_client_mutation(conn: &mut PgConnection, message: &NewMessage, token: &str) -> StoreResult<Option<MessageRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND sent_by = $2 AND client_mutation_id = $3"
    ))
    .bind(message.seller_id)
    .bind(message.sent_by.as_str())
    .bind(token)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| message_from_row(&r, 0)).transpose()?)
}

/// Stores a message in one statement: the chat row is locked and bumped (the new seq,
/// the unread counter, the last message), the message and its event are inserted. With
/// a client mutation ID the insert does nothing on a conflict, and no row comes back.
fn insert_statement(sent_by: Side) -> String {
    let unread = unread_column(sent_by);
    format!(
        "WITH new_id AS (SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id), \
         chat AS (UPDATE chats SET message_count = message_count + 1, {unread} = {unread} + 1, \
                  last_message_id = (SELECT id FROM new_id) \
                  WHERE seller_id = $1 RETURNING seller_id, message_count, last_message_id), \
         message AS (INSERT INTO messages (id, seller_id, seq, sent_by, sender_label, body, created_at, client_mutation_id) \
                     SELECT last_message_id, seller_id, message_count, $2, $3, $4, $5, $6 FROM chat \
                     ON CONFLICT (seller_id, sent_by, client_mutation_id) WHERE client_mutation_id IS NOT NULL DO NOTHING \
                     RETURNING id, seller_id, seq, created_at), \
         event AS (INSERT INTO events (seller_id, kind, message_id, created_at) \
                   SELECT seller_id, 'message_created', id, created_at FROM message) \
         SELECT (SELECT count(*) FROM chat), message.id, message.seq FROM (SELECT 1) AS one LEFT JOIN message ON true"
    )
}

/// What the insert statement found: no chat, a conflict, or the new message's (id, seq).
enum Inserted {
    NoSuchChat,
    Conflict,
    Stored(i64, i64),
}

async fn run_insert(conn: &mut PgConnection, message: &NewMessage) -> StoreResult<Inserted> {
    let (chats, id, seq): (i64, Option<i64>, Option<i64>) = sqlx::query_as(&insert_statement(message.sent_by))
        .bind(message.seller_id)
        .bind(message.sent_by.as_str())
        .bind(&message.sender_label)
        .bind(&message.body)
        .bind(message.now)
        .bind(&message.client_mutation_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(match (chats, id, seq) {
        (0, _, _) => Inserted::NoSuchChat,
        (_, Some(id), Some(seq)) => Inserted::Stored(id, seq),
        _ => Inserted::Conflict,
    })
}

fn created(message: &NewMessage, id: i64, seq: i64) -> CreateOutcome {
    CreateOutcome::Created(MessageRecord {
        id,
        seller_id: message.seller_id,
        seq,
        sent_by: message.sent_by,
        sender_label: message.sender_label.clone(),
        body: message.body.clone(),
        created_at: message.now,
        read_at: None,
    })
}

/// One write attempt; `Ok(None)` when another node stored the same client mutation ID
/// concurrently (the caller then returns that message).
async fn try_insert(pool: &PgPool, message: &NewMessage) -> StoreResult<Option<CreateOutcome>> {
    let Some(token) = &message.client_mutation_id else {
        // The common case is one statement in its own implicit transaction.
        let mut conn = pool.acquire().await?;
        return match run_insert(&mut conn, message).await? {
            Inserted::Stored(id, seq) => Ok(Some(created(message, id, seq))),
            Inserted::NoSuchChat => Err(StoreError::NotFound("seller")),
            Inserted::Conflict => Err(StoreError::CommitFailed("unexpected conflict without a client mutation ID".to_owned())),
        };
    };
    let mut tx = pool.begin().await?;
    if let Some(earlier) = find_by_client_mutation(&mut tx, message, token).await? {
        if earlier.created_at >= message.dedupe_since {
            return Ok(Some(CreateOutcome::Replayed(earlier)));
        }
        sqlx::query("UPDATE messages SET client_mutation_id = NULL WHERE id = $1").bind(earlier.id).execute(&mut *tx).await?;
    }
    match run_insert(&mut tx, message).await? {
        Inserted::Stored(id, seq) => {
            tx.commit().await?;
            Ok(Some(created(message, id, seq)))
        }
        Inserted::NoSuchChat => Err(StoreError::NotFound("seller")),
        // Another node committed the same token meanwhile: undo the counter bump.
        Inserted::Conflict => Ok(None),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_seller(&self, business_name: &str, now: i64) -> StoreResult<SellerRecord> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO sellers (business_name, name_key, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(business_name)
            .bind(business_name.to_lowercase())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO chats (seller_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(SellerRecord { id, business_name: business_name.to_owned(), created_at: now })
    }

    async fn create_seller_with_external_id(&self, business_name: &str, external_id: &str, now: i64) -> StoreResult<Option<SellerRecord>> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO sellers (business_name, name_key, created_at, external_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(business_name)
        .bind(business_name.to_lowercase())
        .bind(now)
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(None) };
        sqlx::query("INSERT INTO chats (seller_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(SellerRecord { id, business_name: business_name.to_owned(), created_at: now }))
    }

    async fn rename_seller(&self, seller_id: i64, business_name: &str) -> StoreResult<Option<SellerRecord>> {
        let row = sqlx::query("UPDATE sellers SET business_name = $1, name_key = $2 WHERE id = $3 RETURNING id, business_name, created_at")
            .bind(business_name)
            .bind(business_name.to_lowercase())
            .bind(seller_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(seller_from_row).transpose()?)
    }

    async fn seller(&self, seller_id: i64) -> StoreResult<Option<SellerRecord>> {
        let row = sqlx::query("SELECT id, business_name, created_at FROM sellers WHERE id = $1")
            .bind(seller_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(seller_from_row).transpose()?)
    }

    async fn list_sellers(&self, query: &SellerListQuery) -> StoreResult<ListPage<SellerRecord>> {
        let (after_name, after_id) = match &query.after {
            Some(cursor) => (cursor.name_key.as_str(), cursor.seller_id),
            None => ("", 0),
        };
        let rows = sqlx::query(
            "SELECT id, business_name, created_at FROM sellers \
             WHERE (name_key, id) > ($1, $2) AND ($3::text IS NULL OR strpos(name_key, $3) > 0) \
             ORDER BY name_key, id LIMIT $4",
        )
        .bind(after_name)
        .bind(after_id)
        .bind(search_term(query.search.as_deref()))
        .bind(query.limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(seller_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage::from_overfetch(items, query.limit))
    }

    async fn count_sellers(&self, search: Option<&str>) -> StoreResult<i64> {
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM sellers WHERE $1::text IS NULL OR strpos(name_key, $1) > 0")
            .bind(search_term(search))
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    async fn create_api_key(&self, hash: &str, seller_id: Option<i64>, label: Option<&str>, now: i64) -> StoreResult<ApiKeyRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (key_hash, seller_id, label, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(hash)
        .bind(seller_id)
        .bind(label)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(ApiKeyRecord { id, seller_id, label: label.map(str::to_owned), created_at: now, revoked_at: None, last_used_at: None })
    }

    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    async fn touch_api_key(&self, key_id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now).bind(key_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    async fn revoke_api_key(&self, key_id: i64, now: i64) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_user(&self, user: &UserRecord, now: i64) -> StoreResult<Option<UserRecord>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, seller_id, role, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.seller_id)
        .bind(&user.role)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(|id| UserRecord { id, ..user.clone() }))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?)
    }

    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<i64>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled_at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if disabled_at.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn create_session(&self, token_hash: &str, user_id: i64, now: i64, expires_at: i64, idle_since: i64, keep_per_user: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Concurrent logins of one user take turns, so the cap holds exactly.
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_used_at < $3)")
            .bind(user_id)
            .bind(now)
            .bind(idle_since)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The newest `keep_per_user` stay (newest = latest expiry: every session lives
        // equally long); the rest end.
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM sessions WHERE user_id = $2 ORDER BY expires_at DESC, token_hash DESC LIMIT $3)",
        )
        .bind(user_id)
        .bind(user_id)
        .bind(keep_per_user)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: i64, idle_since: i64) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_used_at >= $3"
        ))
        .bind(token_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord { user: user_from_row(&row)?, last_used_at: row.try_get(7)? }))
    }

    async fn touch_session(&self, token_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE token_hash = $2 AND last_used_at < $1")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64, idle_since: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at < $2")
            .bind(now)
            .bind(idle_since)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn create_webhook(&self, url: &str, secret: &str, events: &[String], now: i64) -> StoreResult<WebhookRecord> {
        let cursor = self.last_event_position().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_endpoints (url, secret, events, created_at, cursor_tx, cursor_seq) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(url)
        .bind(secret)
        .bind(events.join(","))
        .bind(now)
        .bind(cursor.tx)
        .bind(cursor.seq)
        .fetch_one(&self.pool)
        .await?;
        Ok(WebhookRecord { id, url: url.to_owned(), secret: secret.to_owned(), events: events.to_vec(), created_at: now, removed_at: None, cursor })
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let rows: Vec<(i64, String, String, String, i64, Option<i64>, i64, i64)> =
            sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints ORDER BY id")).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| webhook_from_parts(r.0, r.1, r.2, r.3, r.4, r.5, (r.6, r.7))).collect())
    }

    async fn remove_webhook(&self, id: i64, now: i64) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn enqueue_deliveries(&self, endpoint_id: i64, deliveries: &[NewDelivery], cursor: EventCursor, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            )
            .bind(endpoint_id)
            .bind(&delivery.event_id)
            .bind(&delivery.body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Only forward: two workers racing never move a cursor back.
        sqlx::query("UPDATE webhook_endpoints SET cursor_tx = $1, cursor_seq = $2 WHERE id = $3 AND (cursor_tx, cursor_seq) < ($1, $2)")
            .bind(cursor.tx)
            .bind(cursor.seq)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
        let rows: Vec<(i64, i64, String, String, i64, i64)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $2 AND e.removed_at IS NULL \
               ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED) \
             RETURNING id, endpoint_id, event_id, body, attempts, created_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, endpoint_id, event_id, body, attempts, created_at)| DeliveryRecord { id, endpoint_id, event_id, body, attempts, created_at })
            .collect())
    }

    async fn webhook_attempts(&self, endpoint_id: i64, limit: i64) -> StoreResult<Vec<AttemptRecord>> {
        let rows: Vec<AttemptRow> =
            sqlx::query_as(&latest_attempts_sql("$1", "$2")).bind(endpoint_id).bind(limit).fetch_all(&self.pool).await?;
        Ok(attempts_from_rows(rows))
    }

    async fn record_attempt(&self, delivery_id: i64, now: i64, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error) VALUES ($1, $2, $3, $4)")
            .bind(delivery_id)
            .bind(now)
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
        .bind(delivered_at)
        .bind(failed_at)
        .bind(next_attempt_at)
        .bind(error)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_before(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, seller_id, sent_by, read_at FROM messages WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            let removed = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE kind = 'messages_read' AND created_at < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            return Ok(removed);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        sqlx::query("DELETE FROM events WHERE message_id = ANY($1)").bind(&ids).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM messages WHERE id = ANY($1)").bind(&ids).execute(&mut *tx).await?;
        for (seller_id, removed) in removed_by_chat(&rows) {
            sqlx::query(
                "UPDATE chats SET removed_count = removed_count + $1, unread_by_seller = unread_by_seller - $2, \
                 unread_by_operator = unread_by_operator - $3, \
                 last_message_id = CASE WHEN last_message_id <= $4 THEN NULL ELSE last_message_id END WHERE seller_id = $5",
            )
            .bind(removed.count)
            .bind(removed.unread_by_seller)
            .bind(removed.unread_by_operator)
            .bind(removed.newest_id)
            .bind(seller_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(value)
    }

    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome> {
        if let Some(outcome) = try_insert(&self.pool, message).await? {
            return Ok(outcome);
        }
        // Lost a race on the client mutation ID: the winner's message is the answer.
        let token = message.client_mutation_id.as_deref().unwrap_or_default();
        let mut conn = self.pool.acquire().await?;
        let earlier = find_by_client_mutation(&mut conn, message, token).await?;
        earlier.map(CreateOutcome::Replayed).ok_or(StoreError::NotFound("message"))
    }

    async fn message(&self, message_id: i64) -> StoreResult<Option<MessageRecord>> {
        let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| message_from_row(&r, 0)).transpose()?)
    }

    async fn list_messages(&self, seller_id: i64, page: &PageRequest<i64>) -> StoreResult<MessagePage> {
        let (sql, edge) = match page.direction {
            Direction::Forward => (
                format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"),
                page.cursor.unwrap_or(i64::MAX),
            ),
            Direction::Backward => (
                format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"),
                page.cursor.unwrap_or(0),
            ),
        };
        let rows = sqlx::query(&sql).bind(seller_id).bind(edge).bind(page.limit + 1).fetch_all(&self.pool).await?;
        let mut messages = rows.iter().map(|r| message_from_row(r, 0)).collect::<Result<Vec<_>, _>>()?;
        let has_more = messages.len() as i64 > page.limit;
        messages.truncate(page.limit as usize);
        if page.direction == Direction::Backward {
            messages.reverse();
        }
        Ok(MessagePage { messages, has_more })
    }

    async fn has_messages_beyond(&self, seller_id: i64, seq: i64, newer: bool) -> StoreResult<bool> {
        let sql = if newer {
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = $1 AND seq >= $2)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = $1 AND seq <= $2)"
        };
        Ok(sqlx::query_scalar(sql).bind(seller_id).bind(seq).fetch_one(&self.pool).await?)
    }

    async fn messages_oldest_first(&self, seller_id: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
        ))
        .bind(seller_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| message_from_row(r, 0)).collect::<Result<_, _>>()?)
    }

    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        // Concurrent readers block on the same rows and re-check `read_at IS NULL`, so
        // each message is counted by exactly one of them.
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE messages SET read_at = $1 WHERE seller_id = $2 AND sent_by = $3 AND read_at IS NULL AND seq <= $4 RETURNING id",
        )
        .bind(request.now)
        .bind(request.seller_id)
        .bind(request.sent_by.as_str())
        .bind(request.up_to_seq.unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        ids.sort_unstable();
        if !ids.is_empty() {
            let unread = unread_column(request.sent_by);
            sqlx::query(&format!("UPDATE chats SET {unread} = {unread} - $1 WHERE seller_id = $2"))
                .bind(ids.len() as i64)
                .bind(request.seller_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO events (seller_id, kind, sent_by, read_at, message_ids, created_at) \
                 VALUES ($1, 'messages_read', $2, $3, $4, $5)",
            )
            .bind(request.seller_id)
            .bind(request.sent_by.as_str())
            .bind(request.now)
            .bind(&ids)
            .bind(request.now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn events_after(&self, after: EventCursor, seller_id: Option<i64>, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let filter = if seller_id.is_some() { "AND e.seller_id = $4" } else { "AND $4::bigint IS NULL" };
        let sql = format!(
            "SELECT e.seq, e.tx::text::bigint, e.seller_id, e.kind, e.sent_by, e.read_at, e.message_ids, \
             m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at \
             FROM events e LEFT JOIN messages m ON m.id = e.message_id \
             WHERE (e.tx, e.seq) > ($1::bigint::text::xid8, $2) AND {BELOW_HORIZON} {filter} \
             ORDER BY e.tx, e.seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.tx)
            .bind(after.seq)
            .bind(limit)
            .bind(seller_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    async fn last_event_position(&self) -> StoreResult<EventCursor> {
        let row: Option<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT e.tx::text::bigint, e.seq FROM events e WHERE {BELOW_HORIZON} ORDER BY e.tx DESC, e.seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(EventCursor::START, |(tx, seq)| EventCursor { tx, seq }))
    }

    async fn chat(&self, seller_id: i64) -> StoreResult<Option<ChatRecord>> {
        let row = sqlx::query(&format!("{CHAT_SELECT} WHERE c.seller_id = $1")).bind(seller_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(chat_from_row).transpose()?)
    }

    async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>> {
        let unread = if query.unread_only { " AND c.unread_by_operator > 0" } else { "" };
        let sql = format!(
            "{CHAT_SELECT} WHERE c.last_message_id IS NOT NULL AND c.last_message_id < $1{unread} \
             AND ($2::text IS NULL OR strpos(s.name_key, $2) > 0) ORDER BY c.last_message_id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(query.after.map_or(i64::MAX, |c| c.last_message_id))
            .bind(search_term(query.search.as_deref()))
            .bind(query.limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(chat_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage::from_overfetch(items, query.limit))
    }

    async fn count_chats(&self, unread_only: bool, search: Option<&str>) -> StoreResult<i64> {
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chats c JOIN sellers s ON s.id = c.seller_id \
             WHERE c.last_message_id IS NOT NULL AND (NOT $1 OR c.unread_by_operator > 0) \
             AND ($2::text IS NULL OR strpos(s.name_key, $2) > 0)",
        )
        .bind(unread_only)
        .bind(search_term(search))
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    async fn operator_unread_total(&self) -> StoreResult<i64> {
        let total = sqlx::query_scalar("SELECT COALESCE(SUM(unread_by_operator), 0)::bigint FROM chats").fetch_one(&self.pool).await?;
        Ok(total)
    }

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
