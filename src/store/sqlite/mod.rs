//! The embedded SQLite store: WAL journal, one writer connection, a pool of readers.

mod group_commit;
mod search;
mod writes;

use crate::domain::ids::{MessageId, SellerId};
use super::sql::{EVENT_NOTE_COLUMNS, SELLER_EVENT_KINDS, Dialect, RecordRow, RowsAffected, SqlBackend};
use super::contract::Store;
use super::records::*;
use crate::domain::cursor::EventCursor;
use async_trait::async_trait;
use group_commit::GroupCommitter;
use super::chats::{chat_list_sql, Bind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tracing::instrument;

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
        let in_memory = is_in_memory(url);
        if settings.exclusive && in_memory {
            return Err(StoreError::NoDatabase("an in-memory database cannot be served".to_owned()));
        }
        if !in_memory {
            check_path(&path, settings.create_if_missing)?;
        }
        let server_lock = if settings.exclusive { Some(lock_for_server(&path)?) } else { None };
        if settings.create_if_missing && !in_memory {
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

impl SqliteStore {
    /// The plan SQLite makes for the chat list's statement for `query` (`count`: for its
    /// `totalCount`): the `detail` of each `EXPLAIN QUERY PLAN` step, so tests can check
    /// that every filter combination reads through an index.
    pub async fn chat_list_plan(&self, query: &ChatListQuery, count: bool) -> StoreResult<Vec<String>> {
        let page = if count { None } else { Some((query.after, query.limit + 1)) };
        let (sql, binds) = chat_list_sql::<Sqlite>(&query.filter, query.sort, page);
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut statement = sqlx::query(&explain);
        for bind in binds {
            statement = match bind {
                Bind::Int(value) => statement.bind(value),
                Bind::Text(value) => statement.bind(value),
            };
        }
        let rows = statement.fetch_all(&self.readers).await?;
        Ok(rows.iter().map(|row| sqlx::Row::try_get::<String, _>(row, 3)).collect::<Result<_, _>>()?)
    }
}

/// Whether a `sqlite:` URL names an in-memory database: there is no file to check,
/// create or lock (sqlx names it `file:sqlx-in-memory-N`, which is not a path of ours).
fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    location.is_empty() || location == ":memory:" || query.split('&').any(|pair| pair == "mode=memory")
}

/// Refuses a path whose directory does not exist and, unless this command may create
/// the database, a path with no database: a typo must not make an empty one.
fn check_path(path: &std::path::Path, create_if_missing: bool) -> StoreResult<()> {
    if path.exists() {
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

impl Dialect for Sqlite {
    const POSITION: &'static str = "instr";
    const INDEX_HINTS: bool = true;
    const ROW_LOCKS: bool = false;
    /// A JSON array in a TEXT column.
    type MessageIds = String;

    fn store_ids(ids: &[i64]) -> Result<String, sqlx::Error> {
        serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(e.into()))
    }

    fn read_ids(stored: String) -> Result<Vec<i64>, sqlx::Error> {
        serde_json::from_str(&stored).map_err(|e| sqlx::Error::Decode(e.into()))
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl SqlBackend for SqliteStore {
    type Db = Sqlite;

    fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock up front, so a transaction never fails midway
        // on a lock it could not upgrade.
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

#[async_trait]
impl Store for SqliteStore {
    #[instrument(level = "debug", skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = %message.seller_id))]
    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome> {
        self.committer.create_message(message.clone()).await
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = %request.seller_id))]
    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<MessageId>> {
        self.committer.mark_read(*request).await
    }

    #[instrument(level = "debug", skip_all, fields(seller_id = ?seller_id))]
    async fn events_after(&self, after: EventCursor, seller_id: Option<SellerId>, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        // A seller's replay never reads the support inbox's operator-side kinds.
        let filter = if seller_id.is_some() { format!("AND e.seller_id = $3 AND {SELLER_EVENT_KINDS}") } else { String::new() };
        let sql = format!(
            "SELECT e.seq, 0, e.seller_id, e.kind, e.sent_by, e.read_at, e.message_ids, \
             m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at, {EVENT_NOTE_COLUMNS} \
             FROM events e LEFT JOIN messages m ON m.id = e.message_id LEFT JOIN chat_notes n ON n.id = e.note_id \
             WHERE e.seq > $1 {filter} ORDER BY e.seq LIMIT $2"
        );
        // One writer commits in insert order, so `seq` alone orders the feed (tx = 0).
        let mut query = sqlx::query(&sql).bind(after.seq).bind(limit);
        if let Some(seller_id) = seller_id {
            query = query.bind(seller_id.get());
        }
        let rows = query.fetch_all(&self.readers).await?;
        Ok(rows.iter().map(RecordRow::event).collect::<Result<_, _>>()?)
    }

    #[instrument(level = "debug", skip_all)]
    async fn last_event_position(&self) -> StoreResult<EventCursor> {
        let seq = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.readers).await?;
        Ok(EventCursor { tx: 0, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::is_in_memory;

    #[test]
    fn in_memory_urls_are_told_apart_from_files() {
        for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite:", "sqlite:file:shared?mode=memory&cache=shared"] {
            assert!(is_in_memory(url), "{url}");
        }
        for url in ["sqlite://marketchat.db", "sqlite:///var/lib/marketchat/chat.db?mode=rwc", "sqlite://memory.db"] {
            assert!(!is_in_memory(url), "{url}");
        }
    }
}
