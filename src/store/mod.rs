//! Storage: one `Store` trait that the rest of the service talks to, and its
//! implementations. Rows come back as the plain records below, so nothing above this
//! module depends on sqlx.

mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::domain::cursor::{ChatCursor, EventCursor, SellerCursor};
use crate::domain::paging::PageRequest;
use crate::domain::Side;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// A storage failure. Never shown to clients as is: the API edge logs it and answers
/// with a generic internal error.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the caller named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A group commit failed; every write in it was rolled back.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer task is gone (the store is shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
    /// The database URL names no backend we support.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    /// A `sqlite://` path that names no database this command may open.
    #[error("{0}")]
    NoDatabase(String),
    /// Another server holds the SQLite database's lock file.
    #[error("another marketchat server uses {0} (its lock file {0}.lock is held)")]
    InUse(String),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A callback run when events may have been committed (wakes the event broker).
pub type CommitHook = Arc<dyn Fn() + Send + Sync>;

/// How to open a database: connection limits for a database server (PostgreSQL; SQLite
/// ignores them) and what a SQLite file may be used for.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Most connections this node opens to the database.
    pub pool_size: u32,
    /// Longest a statement may run before the database cancels it.
    pub statement_timeout: Duration,
    /// Longest to wait for a connection (connecting, or from a busy pool) before failing.
    pub connect_timeout: Duration,
    /// Whether a missing SQLite file is created (only `serve`, `demo` and `migrate` do;
    /// other commands refuse a path with no database, so a typo cannot make an empty one).
    pub create_if_missing: bool,
    /// Whether to hold the SQLite file's exclusive lock file (`PATH.lock`) for the store's
    /// life, so a second server on the same file refuses to start.
    pub exclusive: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            pool_size: 10,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            create_if_missing: true,
            exclusive: false,
        }
    }
}

/// A seller account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerRecord {
    /// Row number.
    pub id: i64,
    /// Display name.
    pub business_name: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Global row number (the `ChatMessage-<n>` of its ID).
    pub id: i64,
    /// The seller whose thread holds it.
    pub seller_id: i64,
    /// Position in the thread, 1, 2, 3, … assigned inside the insert's transaction.
    pub seq: i64,
    /// Who sent it.
    pub sent_by: Side,
    /// For operator messages: the operator key's label or user's name.
    pub sender_label: Option<String>,
    /// The text.
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds when the other side read it.
    pub read_at: Option<i64>,
}

/// A chat with its maintained counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRecord {
    /// The seller this chat belongs to.
    pub seller: SellerRecord,
    /// Messages in the thread (not counting those removed by retention).
    pub message_count: i64,
    /// Operator messages the seller has not read.
    pub unread_by_seller: i64,
    /// Seller messages the operator has not read.
    pub unread_by_operator: i64,
    /// The newest message, if any.
    pub last_message: Option<MessageRecord>,
}

impl ChatRecord {
    /// Unread messages from the point of view of `reader`.
    pub fn unread_for(&self, reader: Side) -> i64 {
        match reader {
            Side::Admin => self.unread_by_operator,
            Side::Seller => self.unread_by_seller,
        }
    }
}

/// An API key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Row number.
    pub id: i64,
    /// `None` for an operator key.
    pub seller_id: Option<i64>,
    /// A free-text label, used as the operator's `sentBy`.
    pub label: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once revoked.
    pub revoked_at: Option<i64>,
    /// Unix milliseconds of the last authenticated request (updated at most once a minute).
    pub last_used_at: Option<i64>,
}

/// A portal user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Row number.
    pub id: i64,
    /// Lower-cased e-mail address (the login).
    pub email: String,
    /// Display name (an operator user's `sentBy`).
    pub name: String,
    /// argon2id hash (PHC string).
    pub password_hash: String,
    /// For a seller user, the seller.
    pub seller_id: Option<i64>,
    /// For an operator user, the role's name.
    pub role: Option<String>,
    /// Unix milliseconds, while the user is disabled (cannot log in).
    pub disabled_at: Option<i64>,
}

/// A live portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its user.
    pub user: UserRecord,
    /// Unix milliseconds of its last recorded use (written at most once a minute).
    pub last_used_at: i64,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Row number.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The HMAC signing secret.
    pub secret: String,
    /// Event types it receives (`chat_message.created`, `chat_message.read`).
    pub events: Vec<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms, once removed.
    pub removed_at: Option<i64>,
    /// Feed position up to which deliveries have been made.
    pub cursor: EventCursor,
}

/// A delivery to queue for an endpoint.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The event ID receivers de-duplicate by.
    pub event_id: String,
    /// The JSON body to POST.
    pub body: String,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Row number.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event ID (the same on every attempt).
    pub event_id: String,
    /// The JSON body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When the delivery was queued (Unix ms).
    pub created_at: i64,
}

/// One recorded delivery attempt, as `webhook deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it was made (Unix ms).
    pub attempted_at: i64,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When the delivery is tried next (Unix ms), for a delivery's latest attempt while
    /// it is still pending.
    pub next_retry_at: Option<i64>,
    /// The event delivered.
    pub event_id: String,
}

/// An attempt row as both stores read it: attempted_at, status, error, event_id,
/// delivery id, whether the delivery is pending, its next attempt time.
type AttemptRow = (i64, Option<i64>, Option<String>, String, i64, bool, i64);

/// The SQL listing an endpoint's latest attempts, newest first, with the back end's
/// placeholders for the endpoint ID and the limit.
fn latest_attempts_sql(endpoint: &str, limit: &str) -> String {
    format!(
        "SELECT a.attempted_at, a.status, a.error, d.event_id, d.id, \
         (d.delivered_at IS NULL AND d.failed_at IS NULL), d.next_attempt_at \
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
         WHERE d.endpoint_id = {endpoint} ORDER BY a.id DESC LIMIT {limit}"
    )
}

/// Attempt rows, newest first, to records: the first (newest) row of a pending delivery
/// carries its next attempt time.
fn attempts_from_rows(rows: Vec<AttemptRow>) -> Vec<AttemptRecord> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .map(|(attempted_at, status, error, event_id, delivery_id, pending, next_attempt_at)| AttemptRecord {
            attempted_at,
            status: status.and_then(|s| u16::try_from(s).ok()),
            error,
            next_retry_at: (seen.insert(delivery_id) && pending).then_some(next_attempt_at),
            event_id,
        })
        .collect()
}

/// What one delivery attempt decided.
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome {
    /// A 2xx answer: done.
    Delivered,
    /// Try again at this time (Unix ms).
    Retry(i64),
    /// Stop trying.
    GiveUp,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The thread.
    pub seller_id: i64,
    /// Who sends it.
    pub sent_by: Side,
    /// Operator key label or user name.
    pub sender_label: Option<String>,
    /// Validated text.
    pub body: String,
    /// The client's idempotency token.
    pub client_mutation_id: Option<String>,
    /// Unix milliseconds.
    pub now: i64,
    /// A repeated `client_mutation_id` newer than this (Unix ms) returns the original.
    pub dedupe_since: i64,
}

/// What storing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new message was stored.
    Created(MessageRecord),
    /// The client retried: this is the message its `client_mutation_id` created before.
    Replayed(MessageRecord),
}

impl CreateOutcome {
    /// The message, whichever way it came.
    pub fn message(&self) -> &MessageRecord {
        match self {
            CreateOutcome::Created(m) | CreateOutcome::Replayed(m) => m,
        }
    }
}

/// Which messages to mark read.
#[derive(Debug, Clone, Copy)]
pub struct MarkRead {
    /// The thread.
    pub seller_id: i64,
    /// Whose messages are being read (the other side's).
    pub sent_by: Side,
    /// Only messages at or before this position in the thread.
    pub up_to_seq: Option<i64>,
    /// Unix milliseconds to record as `readAt`.
    pub now: i64,
}

/// What happened in a chat, as the durable event feed records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A message was stored.
    MessageCreated(MessageRecord),
    /// Messages of `sent_by` were marked read at `read_at`.
    MessagesRead {
        /// Whose messages were read.
        sent_by: Side,
        /// The `readAt` that was set (Unix ms).
        read_at: i64,
        /// The messages that changed, ascending.
        message_ids: Vec<i64>,
    },
}

/// One entry of the event feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the feed (see [`EventCursor`] for the order).
    pub position: EventCursor,
    /// The chat it happened in.
    pub seller_id: i64,
    /// What happened.
    pub kind: EventKind,
}

/// A page of a thread, in list order (newest first).
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    /// The messages, newest first.
    pub messages: Vec<MessageRecord>,
    /// Whether more messages lie beyond the page in the requested direction.
    pub has_more: bool,
}

/// The operator's chat-list query.
#[derive(Debug, Clone, Default)]
pub struct ChatListQuery {
    /// Page size.
    pub limit: i64,
    /// Continue after this cursor.
    pub after: Option<ChatCursor>,
    /// Only chats with unread seller messages.
    pub unread_only: bool,
    /// Case-folded substring of the business name.
    pub search: Option<String>,
}

/// The seller-list query.
#[derive(Debug, Clone, Default)]
pub struct SellerListQuery {
    /// Page size.
    pub limit: i64,
    /// Continue after this cursor.
    pub after: Option<SellerCursor>,
    /// Case-folded substring of the business name.
    pub search: Option<String>,
}

/// A page of a list with a forward `has_more` flag.
#[derive(Debug, Clone, Default)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether more follow.
    pub has_more: bool,
}

/// Everything the service needs from storage. Implementations must make each method
/// atomic: a failed call leaves nothing half-written.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a seller and its empty chat.
    async fn create_seller(&self, business_name: &str, now: i64) -> StoreResult<SellerRecord>;
    /// Creates a seller carrying the marketplace's own ID; `None` when a seller has that
    /// external ID already.
    async fn create_seller_with_external_id(&self, business_name: &str, external_id: &str, now: i64) -> StoreResult<Option<SellerRecord>>;
    /// Renames a seller; `None` when there is no such seller.
    async fn rename_seller(&self, seller_id: i64, business_name: &str) -> StoreResult<Option<SellerRecord>>;
    /// One seller.
    async fn seller(&self, seller_id: i64) -> StoreResult<Option<SellerRecord>>;
    /// Sellers by folded name.
    async fn list_sellers(&self, query: &SellerListQuery) -> StoreResult<ListPage<SellerRecord>>;
    /// How many sellers match `search`.
    async fn count_sellers(&self, search: Option<&str>) -> StoreResult<i64>;

    /// Stores an API key's hash.
    async fn create_api_key(&self, hash: &str, seller_id: Option<i64>, label: Option<&str>, now: i64) -> StoreResult<ApiKeyRecord>;
    /// The key with this hash, revoked or not.
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Records a use of the key.
    async fn touch_api_key(&self, key_id: i64, now: i64) -> StoreResult<()>;
    /// All keys, oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key; false when there is no such key.
    async fn revoke_api_key(&self, key_id: i64, now: i64) -> StoreResult<bool>;

    /// Creates a portal user; `None` when the e-mail address is taken.
    async fn create_user(&self, user: &UserRecord, now: i64) -> StoreResult<Option<UserRecord>>;
    /// The user with this (lower-cased) e-mail address.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Every portal user, by ID.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Disables a user (`Some(now)`: ends all their sessions in the same transaction) or
    /// enables one (`None`); false when there is no such user.
    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<i64>) -> StoreResult<bool>;
    /// Replaces a user's password hash and ends their sessions; false when there is no such user.
    async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool>;
    /// Stores a login session, last used `now`, in one transaction with ending the user's
    /// sessions that expired or were unused since before `idle_since` and, beyond the
    /// newest `keep_per_user`, the oldest ones.
    async fn create_session(&self, token_hash: &str, user_id: i64, now: i64, expires_at: i64, idle_since: i64, keep_per_user: i64) -> StoreResult<()>;
    /// The session and its user when it has not expired at `now` and was last used at or
    /// after `idle_since`.
    async fn session_user(&self, token_hash: &str, now: i64, idle_since: i64) -> StoreResult<Option<SessionRecord>>;
    /// Records a use of the session.
    async fn touch_session(&self, token_hash: &str, now: i64) -> StoreResult<()>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes sessions expired at `now` or unused since before `idle_since`; returns how many.
    async fn purge_sessions(&self, now: i64, idle_since: i64) -> StoreResult<u64>;

    /// Registers a webhook endpoint; it receives events from now on.
    async fn create_webhook(&self, url: &str, secret: &str, events: &[String], now: i64) -> StoreResult<WebhookRecord>;
    /// All endpoints, oldest first (removed ones too).
    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Removes an endpoint; false when there is no such active endpoint.
    async fn remove_webhook(&self, id: i64, now: i64) -> StoreResult<bool>;
    /// Queues deliveries for an endpoint and moves its cursor, in one transaction
    /// (a delivery already queued for the same event is not queued twice).
    async fn enqueue_deliveries(&self, endpoint_id: i64, deliveries: &[NewDelivery], cursor: EventCursor, now: i64) -> StoreResult<()>;
    /// Claims up to `limit` due deliveries of active endpoints until `lease_until`, so
    /// each attempt is made by one worker (row locks with SKIP LOCKED on PostgreSQL).
    async fn claim_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<DeliveryRecord>>;
    /// The latest `limit` attempts at delivering to an endpoint, newest first.
    async fn webhook_attempts(&self, endpoint_id: i64, limit: i64) -> StoreResult<Vec<AttemptRecord>>;
    /// Records an attempt and what follows from it.
    async fn record_attempt(&self, delivery_id: i64, now: i64, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) -> StoreResult<()>;

    /// Removes up to `limit` messages created before `cutoff` (Unix ms) with their events,
    /// keeping the chat counters right; then, when no such message is left, up to `limit`
    /// read events before `cutoff`. Returns how many rows went (0: nothing left to do).
    async fn remove_before(&self, cutoff: i64, limit: i64) -> StoreResult<u64>;

    /// A setting's stored value.
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores a setting.
    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()>;

    /// Stores a message, updates the chat's counters and records a `MessageCreated`
    /// event, all in one transaction; or returns the original message of a repeated
    /// `client_mutation_id` (recording nothing).
    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome>;
    /// One message by its row number.
    async fn message(&self, message_id: i64) -> StoreResult<Option<MessageRecord>>;
    /// A page of one thread by sequence number (cursor = seq), newest first.
    async fn list_messages(&self, seller_id: i64, page: &PageRequest<i64>) -> StoreResult<MessagePage>;
    /// Whether the thread has messages on the other side of `seq` from a page:
    /// `newer` asks for seq ≥ `seq`, otherwise seq ≤ `seq`.
    async fn has_messages_beyond(&self, seller_id: i64, seq: i64, newer: bool) -> StoreResult<bool>;
    /// Messages oldest first, after sequence number `after_seq`.
    async fn messages_oldest_first(&self, seller_id: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<MessageRecord>>;
    /// Marks the other side's unread messages read; returns the IDs it changed.
    /// Records a `MessagesRead` event in the same transaction when any changed.
    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<i64>>;

    /// Committed events after `after` in feed order; only `seller_id`'s if given. Never
    /// returns an event while one that sorts before it could still commit.
    async fn events_after(&self, after: EventCursor, seller_id: Option<i64>, limit: i64) -> StoreResult<Vec<StoredEvent>>;
    /// The newest readable feed position (`EventCursor::START` when empty).
    async fn last_event_position(&self) -> StoreResult<EventCursor>;

    /// One chat with its counters.
    async fn chat(&self, seller_id: i64) -> StoreResult<Option<ChatRecord>>;
    /// Chats with at least one message, most recently active first.
    async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>>;
    /// How many chats the list query would show in all.
    async fn count_chats(&self, unread_only: bool, search: Option<&str>) -> StoreResult<i64>;
    /// Seller messages the operator has not read, over all chats.
    async fn operator_unread_total(&self) -> StoreResult<i64>;

    /// Tells other nodes that events were committed (PostgreSQL NOTIFY; a wake-up only).
    async fn announce_commit(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Calls `wake` whenever another node announces a commit, until `stop`; `None` for a
    /// store that only one node writes to.
    fn spawn_commit_listener(&self, _wake: CommitHook, _stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}

/// Columns of a message row, in the order the row mappers read them.
const MESSAGE_COLUMNS: &str = "id, seller_id, seq, sent_by, sender_label, body, created_at, read_at";

/// A chat joined with its seller and last message, in the order the row mappers read them.
const CHAT_SELECT: &str = "SELECT c.seller_id, s.business_name, s.created_at, c.message_count - c.removed_count, \
     c.unread_by_seller, c.unread_by_operator, \
     m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at \
     FROM chats c JOIN sellers s ON s.id = c.seller_id LEFT JOIN messages m ON m.id = c.last_message_id";

/// Columns of a user row.
const USER_COLUMNS: &str = "u.id, u.email, u.name, u.password_hash, u.seller_id, u.role, u.disabled_at";

/// Columns of a webhook endpoint row.
const WEBHOOK_COLUMNS: &str = "id, url, secret, events, created_at, removed_at, cursor_tx, cursor_seq";

/// Columns of an API key row.
const KEY_COLUMNS: &str = "id, seller_id, label, created_at, revoked_at, last_used_at";

/// The chat counter of unread messages sent by `side`.
fn unread_column(side: Side) -> &'static str {
    match side {
        Side::Admin => "unread_by_seller",
        Side::Seller => "unread_by_operator",
    }
}

/// The case-folded search term, or `None` for no filter.
fn search_term(search: Option<&str>) -> Option<String> {
    search.map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase)
}

/// Reads a stored `sent_by`.
fn side_from_db(raw: &str) -> Result<Side, sqlx::Error> {
    Side::parse(raw).ok_or_else(|| sqlx::Error::Decode(format!("unknown sent_by {raw:?}").into()))
}

fn webhook_from_parts(
    id: i64,
    url: String,
    secret: String,
    events: String,
    created_at: i64,
    removed_at: Option<i64>,
    cursor: (i64, i64),
) -> WebhookRecord {
    let events = events.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    WebhookRecord { id, url, secret, events, created_at, removed_at, cursor: EventCursor { tx: cursor.0, seq: cursor.1 } }
}

impl<T> ListPage<T> {
    /// A page from `limit + 1` fetched rows: the extra row only says that more follow.
    fn from_overfetch(mut items: Vec<T>, limit: i64) -> Self {
        let has_more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        Self { items, has_more }
    }
}

/// Opens the store a database URL names and applies migrations.
pub async fn connect(database_url: &str, settings: &DatabaseSettings) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if database_url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open_with(database_url, settings).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Arc::new(PostgresStore::open(database_url, settings).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    tracing::debug!(database = %without_password(database_url), "opened the database");
    store.migrate().await?;
    Ok(store)
}

/// A database URL fit for logs: any password replaced by `***`.
pub fn without_password(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => database_url.to_owned(),
    }
}

/// The row mappers both backends share, for their row type (dialects differ in SQL, not
/// in how a row becomes a record).
macro_rules! row_mappers {
    ($row:ty) => {
        fn message_from_row(row: &$row, offset: usize) -> Result<MessageRecord, sqlx::Error> {
            Ok(MessageRecord {
                id: row.try_get(offset)?,
                seller_id: row.try_get(offset + 1)?,
                seq: row.try_get(offset + 2)?,
                sent_by: side_from_db(row.try_get(offset + 3)?)?,
                sender_label: row.try_get(offset + 4)?,
                body: row.try_get(offset + 5)?,
                created_at: row.try_get(offset + 6)?,
                read_at: row.try_get(offset + 7)?,
            })
        }

        fn chat_from_row(row: &$row) -> Result<ChatRecord, sqlx::Error> {
            let last_id: Option<i64> = row.try_get(6)?;
            Ok(ChatRecord {
                seller: SellerRecord { id: row.try_get(0)?, business_name: row.try_get(1)?, created_at: row.try_get(2)? },
                message_count: row.try_get(3)?,
                unread_by_seller: row.try_get(4)?,
                unread_by_operator: row.try_get(5)?,
                last_message: last_id.map(|_| message_from_row(row, 6)).transpose()?,
            })
        }

        fn seller_from_row(row: &$row) -> Result<SellerRecord, sqlx::Error> {
            Ok(SellerRecord { id: row.try_get(0)?, business_name: row.try_get(1)?, created_at: row.try_get(2)? })
        }

        fn user_from_row(row: &$row) -> Result<UserRecord, sqlx::Error> {
            Ok(UserRecord {
                id: row.try_get(0)?,
                email: row.try_get(1)?,
                name: row.try_get(2)?,
                password_hash: row.try_get(3)?,
                seller_id: row.try_get(4)?,
                role: row.try_get(5)?,
                disabled_at: row.try_get(6)?,
            })
        }

        fn key_from_row(row: &$row) -> Result<ApiKeyRecord, sqlx::Error> {
            Ok(ApiKeyRecord {
                id: row.try_get(0)?,
                seller_id: row.try_get(1)?,
                label: row.try_get(2)?,
                created_at: row.try_get(3)?,
                revoked_at: row.try_get(4)?,
                last_used_at: row.try_get(5)?,
            })
        }
    };
}
pub(crate) use row_mappers;

/// One chat's share of a retention batch.
#[derive(Default)]
struct RemovedFromChat {
    count: i64,
    unread_by_seller: i64,
    unread_by_operator: i64,
    newest_id: i64,
}

/// Groups removed message rows `(id, seller_id, sent_by, read_at)` by chat.
fn removed_by_chat(rows: &[(i64, i64, String, Option<i64>)]) -> std::collections::HashMap<i64, RemovedFromChat> {
    let mut chats: std::collections::HashMap<i64, RemovedFromChat> = std::collections::HashMap::new();
    for (id, seller_id, sent_by, read_at) in rows {
        let chat = chats.entry(*seller_id).or_default();
        chat.count += 1;
        chat.newest_id = chat.newest_id.max(*id);
        if read_at.is_none() {
            match sent_by.as_str() {
                "Admin" => chat.unread_by_seller += 1,
                _ => chat.unread_by_operator += 1,
            }
        }
    }
    chats
}
