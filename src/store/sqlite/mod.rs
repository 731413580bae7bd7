//! The embedded SQLite store: WAL journal, one writer connection, a pool of readers.

mod group_commit;
mod writes;

use group_commit::GroupCommitter;
use super::*;
use crate::domain::paging::Direction;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// SQLite behind the `Store` trait.
pub struct SqliteStore {
    /// Readers; WAL lets them run beside the writer.
    readers: SqlitePool,
    /// Exactly one connection: SQLite has one writer at a time, so queueing here is
    /// cheaper than lock retries inside SQLite.
    writer: SqlitePool,
    /// Batches concurrent message writes into shared transactions on `writer`.
    committer: GroupCommitter,
    /// `PATH.lock`, locked while a server uses the file.
    _server_lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, &DatabaseSettings::default()).await
    }

    /// Opens the database at a `sqlite://PATH` URL: creating it only if
    /// `settings.create_if_missing`, and holding `PATH.lock` if `settings.exclusive`.
    pub async fn open_with(url: &str, settings: &DatabaseSettings) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(settings.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we acknowledge it, even across power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_owned();
        check_path(&path, settings.create_if_missing)?;
        let server_lock = if settings.exclusive { Some(lock_for_server(&path)?) } else { None };
        if settings.create_if_missing {
            create_private(&path)?;
        }
        tracing::debug!(path = %path.display(), "opening the SQLite database");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let committer = GroupCommitter::start(writer.clone());
        Ok(Self { readers, writer, committer, _server_lock: server_lock })
    }
}

fn is_in_memory(path: &std::path::Path) -> bool {
    path.as_os_str().is_empty() || path == std::path::Path::new(":memory:")
}

/// Refuses a path whose directory does not exist and, unless this command may create
/// the database, a path with no database: a typo must not make an empty one.
fn check_path(path: &std::path::Path, create_if_missing: bool) -> StoreResult<()> {
    if is_in_memory(path) || path.exists() {
        return Ok(());
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if !directory.is_dir() {
        return Err(StoreError::NoDatabase(format!("no database at {}: directory {} does not exist", path.display(), directory.display())));
    }
    if !create_if_missing {
        return Err(StoreError::NoDatabase(format!(
            "no database at {} (only serve, demo and migrate create one)",
            path.display()
        )));
    }
    Ok(())
}

/// Takes the exclusive advisory lock on `PATH.lock` (created 0600 if needed), held until
/// the returned file is closed, i.e. for the server's life; the kernel releases it if
/// the process dies. Only servers take it: CLI commands keep writing beside a server,
/// and SQLite's own locking serialises them.
fn lock_for_server(path: &std::path::Path) -> StoreResult<std::fs::File> {
    if is_in_memory(path) {
        return Err(StoreError::NoDatabase("an in-memory database cannot be served".to_owned()));
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(path.display().to_string())),
        Err(std::fs::TryLockError::Error(error)) => Err(StoreError::Database(sqlx::Error::Io(error))),
    }
}

/// Creates the database file readable and writable by its owner only (0600) when it
/// does not exist yet; SQLite gives the WAL and shared-memory files it creates beside it
/// the same permissions. An existing file keeps the permissions it has.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    if is_in_memory(path) {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Database(sqlx::Error::Io(error))),
    }
}

row_mappers!(SqliteRow);

fn event_from_row(row: &SqliteRow) -> Result<StoredEvent, sqlx::Error> {
    let kind: &str = row.try_get(2)?;
    let kind = match kind {
        "message_created" => EventKind::MessageCreated(message_from_row(row, 6)?),
        _ => {
            let ids: &str = row.try_get(5)?;
            EventKind::MessagesRead {
                sent_by: side_from_db(row.try_get(3)?)?,
                read_at: row.try_get(4)?,
                message_ids: serde_json::from_str(ids).map_err(|e| sqlx::Error::Decode(e.into()))?,
            }
        }
    };
    Ok(StoredEvent { position: EventCursor { tx: 0, seq: row.try_get(0)? }, seller_id: row.try_get(1)?, kind })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn create_seller(&self, business_name: &str, now: i64) -> StoreResult<SellerRecord> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sellers (business_name, name_key, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(business_name)
        .bind(business_name.to_lowercase())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO chats (seller_id) VALUES (?)").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(SellerRecord { id, business_name: business_name.to_owned(), created_at: now })
    }

    async fn create_seller_with_external_id(&self, business_name: &str, external_id: &str, now: i64) -> StoreResult<Option<SellerRecord>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO sellers (business_name, name_key, created_at, external_id) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(business_name)
        .bind(business_name.to_lowercase())
        .bind(now)
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(None) };
        sqlx::query("INSERT INTO chats (seller_id) VALUES (?1)").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(SellerRecord { id, business_name: business_name.to_owned(), created_at: now }))
    }

    async fn rename_seller(&self, seller_id: i64, business_name: &str) -> StoreResult<Option<SellerRecord>> {
        let row = sqlx::query("UPDATE sellers SET business_name = ?1, name_key = ?2 WHERE id = ?3 RETURNING id, business_name, created_at")
            .bind(business_name)
            .bind(business_name.to_lowercase())
            .bind(seller_id)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row.as_ref().map(seller_from_row).transpose()?)
    }

    async fn seller(&self, seller_id: i64) -> StoreResult<Option<SellerRecord>> {
        let row = sqlx::query("SELECT id, business_name, created_at FROM sellers WHERE id = ?")
            .bind(seller_id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(seller_from_row).transpose()?)
    }

    async fn list_sellers(&self, query: &SellerListQuery) -> StoreResult<ListPage<SellerRecord>> {
        let search = search_term(query.search.as_deref());
        let (after_name, after_id) = match &query.after {
            Some(cursor) => (cursor.name_key.as_str(), cursor.seller_id),
            None => ("", 0),
        };
        let rows = sqlx::query(
            "SELECT id, business_name, created_at FROM sellers \
             WHERE (name_key, id) > (?, ?) AND (?3 IS NULL OR instr(name_key, ?3) > 0) \
             ORDER BY name_key, id LIMIT ?4",
        )
        .bind(after_name)
        .bind(after_id)
        .bind(search)
        .bind(query.limit + 1)
        .fetch_all(&self.readers)
        .await?;
        let items = rows.iter().map(seller_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage::from_overfetch(items, query.limit))
    }

    async fn count_sellers(&self, search: Option<&str>) -> StoreResult<i64> {
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM sellers WHERE ?1 IS NULL OR instr(name_key, ?1) > 0")
            .bind(search_term(search))
            .fetch_one(&self.readers)
            .await?;
        Ok(count)
    }

    async fn create_api_key(&self, hash: &str, seller_id: Option<i64>, label: Option<&str>, now: i64) -> StoreResult<ApiKeyRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (key_hash, seller_id, label, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(hash)
        .bind(seller_id)
        .bind(label)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(ApiKeyRecord { id, seller_id, label: label.map(str::to_owned), created_at: now, revoked_at: None, last_used_at: None })
    }

    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?"))
            .bind(hash)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    async fn touch_api_key(&self, key_id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(key_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    async fn revoke_api_key(&self, key_id: i64, now: i64) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(now)
            .bind(key_id)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_user(&self, user: &UserRecord, now: i64) -> StoreResult<Option<UserRecord>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, seller_id, role, created_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.seller_id)
        .bind(&user.role)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(id.map(|id| UserRecord { id, ..user.clone() }))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = ?"))
            .bind(email)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id")).fetch_all(&self.readers).await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?)
    }

    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<i64>) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query("UPDATE users SET disabled_at = ?1 WHERE id = ?2")
            .bind(disabled_at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if disabled_at.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?1").bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE user_id = ?1").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn create_session(&self, token_hash: &str, user_id: i64, now: i64, expires_at: i64, idle_since: i64, keep_per_user: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND (expires_at <= ? OR last_used_at < ?)")
            .bind(user_id)
            .bind(now)
            .bind(idle_since)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The newest `keep_per_user` stay (newest = latest expiry: every session lives
        // equally long); the rest end.
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = ? AND token_hash NOT IN \
             (SELECT token_hash FROM sessions WHERE user_id = ? ORDER BY expires_at DESC, token_hash DESC LIMIT ?)",
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
             WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_used_at >= ?"
        ))
        .bind(token_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(&self.readers)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord { user: user_from_row(&row)?, last_used_at: row.try_get(7)? }))
    }

    async fn touch_session(&self, token_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = ? WHERE token_hash = ? AND last_used_at < ?")
            .bind(now)
            .bind(token_hash)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.writer).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64, idle_since: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR last_used_at < ?")
            .bind(now)
            .bind(idle_since)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }

    async fn create_webhook(&self, url: &str, secret: &str, events: &[String], now: i64) -> StoreResult<WebhookRecord> {
        let cursor = self.last_event_position().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_endpoints (url, secret, events, created_at, cursor_tx, cursor_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(url)
        .bind(secret)
        .bind(events.join(","))
        .bind(now)
        .bind(cursor.tx)
        .bind(cursor.seq)
        .fetch_one(&self.writer)
        .await?;
        Ok(WebhookRecord { id, url: url.to_owned(), secret: secret.to_owned(), events: events.to_vec(), created_at: now, removed_at: None, cursor })
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let rows: Vec<(i64, String, String, String, i64, Option<i64>, i64, i64)> =
            sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints ORDER BY id")).fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(|r| webhook_from_parts(r.0, r.1, r.2, r.3, r.4, r.5, (r.6, r.7))).collect())
    }

    async fn remove_webhook(&self, id: i64, now: i64) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE webhook_endpoints SET removed_at = ?1 WHERE id = ?2 AND removed_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn enqueue_deliveries(&self, endpoint_id: i64, deliveries: &[NewDelivery], cursor: EventCursor, now: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4) \
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
        sqlx::query("UPDATE webhook_endpoints SET cursor_tx = ?1, cursor_seq = ?2 WHERE id = ?3 AND (cursor_tx, cursor_seq) < (?1, ?2)")
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
            "UPDATE webhook_deliveries SET next_attempt_at = ?1 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= ?2 AND e.removed_at IS NULL \
               ORDER BY d.next_attempt_at LIMIT ?3) \
             RETURNING id, endpoint_id, event_id, body, attempts, created_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, endpoint_id, event_id, body, attempts, created_at)| DeliveryRecord { id, endpoint_id, event_id, body, attempts, created_at })
            .collect())
    }

    async fn webhook_attempts(&self, endpoint_id: i64, limit: i64) -> StoreResult<Vec<AttemptRecord>> {
        let rows: Vec<AttemptRow> =
            sqlx::query_as(&latest_attempts_sql("?1", "?2")).bind(endpoint_id).bind(limit).fetch_all(&self.readers).await?;
        Ok(attempts_from_rows(rows))
    }

    async fn record_attempt(&self, delivery_id: i64, now: i64, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) -> StoreResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error) VALUES (?1, ?2, ?3, ?4)")
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
            "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = ?1, failed_at = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?5",
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows: Vec<(i64, i64, String, Option<i64>)> =
            sqlx::query_as("SELECT id, seller_id, sent_by, read_at FROM messages WHERE created_at < ? ORDER BY created_at LIMIT ?")
                .bind(cutoff)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
        if rows.is_empty() {
            let removed = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE kind = 'messages_read' AND created_at < ? LIMIT ?)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            return Ok(removed);
        }
        let ids = rows.iter().map(|r| r.0.to_string()).collect::<Vec<_>>().join(",");
        // The ids are integers from the rows just read, never client input.
        sqlx::query(&format!("DELETE FROM events WHERE message_id IN ({ids})")).execute(&mut *tx).await?;
        sqlx::query(&format!("DELETE FROM messages WHERE id IN ({ids})")).execute(&mut *tx).await?;
        for (seller_id, removed) in removed_by_chat(&rows) {
            sqlx::query(
                "UPDATE chats SET removed_count = removed_count + ?, unread_by_seller = unread_by_seller - ?, \
                 unread_by_operator = unread_by_operator - ?, \
                 last_message_id = CASE WHEN last_message_id <= ? THEN NULL ELSE last_message_id END WHERE seller_id = ?",
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
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.readers)
            .await?;
        Ok(value)
    }

    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome> {
        self.committer.create_message(message.clone()).await
    }

    async fn message(&self, message_id: i64) -> StoreResult<Option<MessageRecord>> {
        let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"))
            .bind(message_id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(|r| message_from_row(&r, 0)).transpose()?)
    }

    async fn list_messages(&self, seller_id: i64, page: &PageRequest<i64>) -> StoreResult<MessagePage> {
        let sql = match page.direction {
            Direction::Forward => format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
            ),
            Direction::Backward => format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
            ),
        };
        let edge = match page.direction {
            Direction::Forward => page.cursor.unwrap_or(i64::MAX),
            Direction::Backward => page.cursor.unwrap_or(0),
        };
        let rows = sqlx::query(&sql)
            .bind(seller_id)
            .bind(edge)
            .bind(page.limit + 1)
            .fetch_all(&self.readers)
            .await?;
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
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = ? AND seq >= ?)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = ? AND seq <= ?)"
        };
        let exists: bool = sqlx::query_scalar(sql).bind(seller_id).bind(seq).fetch_one(&self.readers).await?;
        Ok(exists)
    }

    async fn messages_oldest_first(&self, seller_id: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
        ))
        .bind(seller_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.iter().map(|r| message_from_row(r, 0)).collect::<Result<_, _>>()?)
    }

    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<i64>> {
        self.committer.mark_read(*request).await
    }

    async fn events_after(&self, after: EventCursor, seller_id: Option<i64>, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let filter = if seller_id.is_some() { "AND e.seller_id = ?" } else { "" };
        let sql = format!(
            "SELECT e.seq, e.seller_id, e.kind, e.sent_by, e.read_at, e.message_ids, \
             m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at \
             FROM events e LEFT JOIN messages m ON m.id = e.message_id \
             WHERE e.seq > ? {filter} ORDER BY e.seq LIMIT ?"
        );
        // One writer commits in insert order, so `seq` alone orders the feed (tx = 0).
        let mut query = sqlx::query(&sql).bind(after.seq);
        if let Some(seller_id) = seller_id {
            query = query.bind(seller_id);
        }
        let rows = query.bind(limit).fetch_all(&self.readers).await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    async fn last_event_position(&self) -> StoreResult<EventCursor> {
        let seq = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.readers).await?;
        Ok(EventCursor { tx: 0, seq })
    }

    async fn chat(&self, seller_id: i64) -> StoreResult<Option<ChatRecord>> {
        let row = sqlx::query(&format!("{CHAT_SELECT} WHERE c.seller_id = ?"))
            .bind(seller_id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(chat_from_row).transpose()?)
    }

    async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>> {
        let search = search_term(query.search.as_deref());
        // Literal filters (not bound flags) so SQLite can pick the matching partial index.
        let mut sql = format!("{CHAT_SELECT} WHERE c.last_message_id IS NOT NULL AND c.last_message_id < ?");
        if query.unread_only {
            sql.push_str(" AND c.unread_by_operator > 0");
        }
        if search.is_some() {
            sql.push_str(" AND instr(s.name_key, ?) > 0");
        }
        sql.push_str(" ORDER BY c.last_message_id DESC LIMIT ?");
        let mut statement = sqlx::query(&sql).bind(query.after.map_or(i64::MAX, |c| c.last_message_id));
        if let Some(term) = search {
            statement = statement.bind(term);
        }
        let rows = statement.bind(query.limit + 1).fetch_all(&self.readers).await?;
        let items = rows.iter().map(chat_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage::from_overfetch(items, query.limit))
    }

    async fn count_chats(&self, unread_only: bool, search: Option<&str>) -> StoreResult<i64> {
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chats c JOIN sellers s ON s.id = c.seller_id \
             WHERE c.last_message_id IS NOT NULL AND (?1 = 0 OR c.unread_by_operator > 0) \
             AND (?2 IS NULL OR instr(s.name_key, ?2) > 0)",
        )
        .bind(unread_only)
        .bind(search_term(search))
        .fetch_one(&self.readers)
        .await?;
        Ok(count)
    }

    async fn operator_unread_total(&self) -> StoreResult<i64> {
        let total = sqlx::query_scalar("SELECT COALESCE(SUM(unread_by_operator), 0) FROM chats")
            .fetch_one(&self.readers)
            .await?;
        Ok(total)
    }
}
