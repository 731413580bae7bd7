//! Storage: one `Store` trait that the rest of the service talks to, and its
//! implementations. Rows come back as the plain records below, so nothing above this
//! module depends on sqlx.
//!
//! `Store` is made of one trait per area (sellers, keys, accounts, webhooks, chats,
//! settings): each area's module holds its trait and the one implementation of it that
//! every SQL back end shares (see `sql`). What the dialects do their own way (the write
//! path, the event feed, migrations, cross-node wake-ups), `sqlite/` and `postgres/`
//! implement as `Store` itself.
//!
//! # Chat counters
//!
//! A chat row carries counters that reads use instead of counting messages. Both back
//! ends keep them by this one rule, in the transaction that makes the change:
//!
//! - Storing a message: `message_count` + 1, which is the message's `seq`; the other
//!   side's unread counter + 1 (`unread_by_seller` for an `Admin` message,
//!   `unread_by_operator` for a `Seller` one); `last_message_id` = the message; one
//!   `message_created` event. SQLite does this in the trigger `messages_after_insert`
//!   (migrations/sqlite 0003, remade in 0008), PostgreSQL in the insert statement of
//!   `postgres/writes.rs`. A replayed client mutation ID or an unknown seller changes
//!   nothing.
//! - Marking messages read: that unread counter - as many as were unread, and one
//!   `messages_read` event when any were (`chats::ChatWrites::mark_read_in`, both).
//! - Retention removing messages: `removed_count` + as many; each unread counter - the
//!   removed ones still unread; `last_message_id` = NULL when the newest went; their
//!   events go with them (`ChatStore::remove_before`, both).
//!
//! So `message_count - removed_count` is the chat's stored messages, `unread_by_*` its
//! stored unread messages of the other side, and `last_message_id` its newest message
//! (NULL when it has none). `tests/api/parity.rs` runs the same operations on both back
//! ends and checks that they keep the same counters, by this rule.

mod accounts;
mod chats;
mod keys;
mod postgres;
mod sellers;
mod settings;
mod sql;
mod sqlite;
mod webhooks;

pub use accounts::AccountStore;
pub use chats::ChatStore;
pub use keys::KeyStore;
pub use postgres::PostgresStore;
pub use sellers::SellerStore;
pub use settings::SettingStore;
pub use sqlite::SqliteStore;
pub use webhooks::WebhookStore;

use crate::domain::cursor::{ChatCursor, EventCursor, SellerCursor};
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

impl NewMessage {
    /// The message as stored under row number `id` at position `seq`.
    fn stored(&self, id: i64, seq: i64) -> MessageRecord {
        let (sender_label, body) = (self.sender_label.clone(), self.body.clone());
        MessageRecord { id, seller_id: self.seller_id, seq, sent_by: self.sent_by, sender_label, body, created_at: self.now, read_at: None }
    }
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

/// Everything the service needs from storage: the areas every SQL back end shares (its
/// supertraits) and what each dialect does its own way (below). Implementations must make
/// each method atomic: a failed call leaves nothing half-written.
#[async_trait]
pub trait Store: SellerStore + KeyStore + AccountStore + WebhookStore + ChatStore + SettingStore + Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Stores a message, updates the chat's counters and records a `MessageCreated`
    /// event, all in one transaction; or returns the original message of a repeated
    /// `client_mutation_id` (recording nothing).
    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome>;
    /// Marks the other side's unread messages read; returns the IDs it changed.
    /// Records a `MessagesRead` event in the same transaction when any changed.
    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<i64>>;
    /// Committed events after `after` in feed order; only `seller_id`'s if given. Never
    /// returns an event while one that sorts before it could still commit.
    async fn events_after(&self, after: EventCursor, seller_id: Option<i64>, limit: i64) -> StoreResult<Vec<StoredEvent>>;
    /// The newest readable feed position (`EventCursor::START` when empty).
    async fn last_event_position(&self) -> StoreResult<EventCursor>;
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
