//! The plain values that cross the store's edge: records read back, what to write,
//! list queries, how to open a database, and the store's error. No sqlx types, so the
//! layers above never depend on the driver.

use crate::domain::cursor::{ChatCursor, EventCursor, SellerCursor, WaitCursor};
pub use crate::domain::support::{ChatSort, ChatStatus};
use crate::domain::ids::{KeyId, MessageId, SellerId, Seq, WebhookId};
use crate::domain::time::UnixMillis;
use crate::domain::Side;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

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
    /// A unique value (named) that another row holds already; nothing was written.
    #[error("another row has this {0} already")]
    Duplicate(&'static str),
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
    /// The backup copy failed its check (`PRAGMA quick_check`).
    #[error("the backup copy failed its check: {0}")]
    BackupCheckFailed(String),
    /// `backup` makes copies of SQLite databases only.
    #[error("marketchat backup copies SQLite databases only; back up PostgreSQL with pg_dump (pg_dump --format=custom --file=marketchat.dump DATABASE_URL) or your provider's snapshots, see docs/operations.md")]
    BackupUnsupported,
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
    pub id: SellerId,
    /// Display name.
    pub business_name: String,
    /// Creation time, Unix milliseconds.
    pub created_at: UnixMillis,
    /// The marketplace's own ID for this seller (unique when set).
    pub external_id: Option<String>,
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Global row number (the `ChatMessage-<n>` of its ID).
    pub id: MessageId,
    /// The seller whose thread holds it.
    pub seller_id: SellerId,
    /// Position in the thread, 1, 2, 3, … assigned inside the insert's transaction.
    pub seq: Seq,
    /// Who sent it.
    pub sent_by: Side,
    /// For operator messages: the operator key's label or user's name.
    pub sender_label: Option<String>,
    /// The text.
    pub body: String,
    /// Unix milliseconds.
    pub created_at: UnixMillis,
    /// Unix milliseconds when the other side read it.
    pub read_at: Option<UnixMillis>,
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
    /// The support inbox's view of the chat (operator side only).
    pub support: ChatSupport,
}

/// A chat's support-inbox state (SPEC §12): never shown to its seller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatSupport {
    /// Open or resolved.
    pub status: ChatStatus,
    /// The operator user it is assigned to.
    pub assignee: Option<OperatorUserRecord>,
    /// createdAt of the oldest Seller message after the last Admin message.
    pub awaiting_since: Option<UnixMillis>,
    /// Whether the operator marked it unread (`chatMarkUnread`) and has not read it since.
    pub marked_unread: bool,
}

/// An operator portal user as the support inbox shows it (assignee, `operatorUsers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUserRecord {
    /// Row number (the `OperatorUser-<n>` of its ID).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// The §8 role name.
    pub role: String,
}

/// An internal note beside a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRecord {
    /// Row number.
    pub id: i64,
    /// The chat.
    pub seller_id: SellerId,
    /// The text.
    pub body: String,
    /// The user's name or the API key's label.
    pub author: String,
    /// Unix milliseconds.
    pub created_at: UnixMillis,
}

/// A saved reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReplyRecord {
    /// Row number.
    pub id: i64,
    /// Its title (listed by it).
    pub title: String,
    /// The text inserted into the composer.
    pub body: String,
}

/// What `supportStats` reads for a period: the rows of the small statistics tables.
#[derive(Debug, Clone, Default)]
pub struct SupportFacts {
    /// Per UTC day number (Unix ms / 86 400 000): Seller messages, Admin messages, chats
    /// opened, chats resolved; days without any are left out.
    pub days: Vec<(i64, i64, i64, i64, i64)>,
    /// First responses: (agent, milliseconds waited).
    pub responses: Vec<(String, i64)>,
    /// Resolutions: (agent, milliseconds from opening to resolving, if it was opened).
    pub resolutions: Vec<(String, Option<i64>)>,
    /// Admin messages per agent.
    pub agent_messages: Vec<(String, i64)>,
}

impl ChatRecord {
    /// Unread messages from the point of view of `reader`.
    pub fn unread_for(&self, reader: Side) -> i64 {
        match reader {
            // A chat the operator marked unread counts at least one (operator side only).
            Side::Admin if self.support.marked_unread => self.unread_by_operator.max(1),
            Side::Admin => self.unread_by_operator,
            Side::Seller => self.unread_by_seller,
        }
    }
}

/// An API key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Row number.
    pub id: KeyId,
    /// `None` for an operator key.
    pub seller_id: Option<SellerId>,
    /// An operator key made with `--admin` (may call the provisioning API).
    pub admin: bool,
    /// A free-text label, used as the operator's `sentBy`.
    pub label: Option<String>,
    /// Unix milliseconds.
    pub created_at: UnixMillis,
    /// Unix milliseconds, once revoked.
    pub revoked_at: Option<UnixMillis>,
    /// Unix milliseconds of the last authenticated request (updated at most once a minute).
    pub last_used_at: Option<UnixMillis>,
}

/// A portal user, or an embedded seller user (one with an `external_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Row number.
    pub id: i64,
    /// Lower-cased e-mail address: the login of a password user, a contact address (or
    /// none) of an embedded seller user.
    pub email: Option<String>,
    /// Display name (an operator user's `sentBy`).
    pub name: String,
    /// argon2id hash (PHC string); `None` for a user who never logs in with a password.
    pub password_hash: Option<String>,
    /// For a seller user, the seller.
    pub seller_id: Option<SellerId>,
    /// For an operator user, the role's name.
    pub role: Option<String>,
    /// Unix milliseconds, while the user is disabled (cannot log in).
    pub disabled_at: Option<UnixMillis>,
    /// For an embedded seller user, the marketplace's ID of the user (unique per seller).
    pub external_id: Option<String>,
    /// Who the user is at the operator's identity provider, once they signed in there.
    pub identity: Option<IdpIdentity>,
}

/// A person's account at an OpenID Connect identity provider: the issuer and its stable,
/// never reassigned subject ID (`sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpIdentity {
    /// The issuer URL, exactly as the ID token's `iss`.
    pub issuer: String,
    /// The ID token's `sub`.
    pub subject: String,
}

/// A sign-in sent to the identity provider and not yet come back (single use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// SHA-256 of the `state` parameter.
    pub state_hash: String,
    /// SHA-256 of the cookie that binds the sign-in to the browser that started it.
    pub browser_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// When the callback stops being accepted.
    pub expires_at: UnixMillis,
}

/// Which credential a session is: each is accepted only the way it was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A portal login's `HttpOnly` cookie.
    Portal,
    /// An embedded chat's bearer token, held in the page's memory.
    Embed,
}

impl SessionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Portal => "portal",
            SessionKind::Embed => "embed",
        }
    }
}

/// A session to store: its token's hash, its kind and its lifetime, and how many of its
/// user's sessions may stay open.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// SHA-256 of the session token.
    pub token_hash: &'a str,
    /// Cookie or bearer.
    pub kind: SessionKind,
    /// The session counts as used now.
    pub now: UnixMillis,
    /// When it ends however it is used.
    pub expires_at: UnixMillis,
    /// The user's sessions unused since before this have ended and are removed.
    pub idle_since: UnixMillis,
    /// Sessions one user may hold; beyond it the oldest end.
    pub keep_per_user: i64,
}

/// A sign-in token to store (SPEC §11): who is signed in when it is redeemed.
#[derive(Debug, Clone)]
pub struct NewSignIn {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The seller the user belongs to.
    pub seller_id: SellerId,
    /// The marketplace's ID of the user.
    pub user_external_id: String,
    /// The user's display name (refreshed on redemption).
    pub user_name: String,
    /// The user's contact address (refreshed on redemption).
    pub user_email: Option<String>,
    /// When it was minted.
    pub created_at: UnixMillis,
    /// Not redeemable from then on.
    pub expires_at: UnixMillis,
}

/// A live portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its user.
    pub user: UserRecord,
    /// Unix milliseconds of its last recorded use (written at most once a minute).
    pub last_used_at: UnixMillis,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Row number.
    pub id: WebhookId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The HMAC signing secret.
    pub secret: String,
    /// Event types it receives (`chat_message.created`, `chat_message.read`).
    pub events: Vec<String>,
    /// Unix ms.
    pub created_at: UnixMillis,
    /// Unix ms, once removed.
    pub removed_at: Option<UnixMillis>,
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
    pub endpoint_id: WebhookId,
    /// The event ID (the same on every attempt).
    pub event_id: String,
    /// The JSON body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When the delivery was queued (Unix ms).
    pub created_at: UnixMillis,
}

/// One recorded delivery attempt, as `webhook deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it was made (Unix ms).
    pub attempted_at: UnixMillis,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When the delivery is tried next (Unix ms), for a delivery's latest attempt while
    /// it is still pending.
    pub next_retry_at: Option<UnixMillis>,
    /// The event delivered.
    pub event_id: String,
}

/// What one delivery attempt decided.
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome {
    /// A 2xx answer: done.
    Delivered,
    /// Try again at this time (Unix ms).
    Retry(UnixMillis),
    /// Stop trying.
    GiveUp,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The thread.
    pub seller_id: SellerId,
    /// Who sends it.
    pub sent_by: Side,
    /// Operator key label or user name.
    pub sender_label: Option<String>,
    /// Validated text.
    pub body: String,
    /// The client's idempotency token.
    pub client_mutation_id: Option<String>,
    /// Unix milliseconds.
    pub now: UnixMillis,
    /// A repeated `client_mutation_id` newer than this (Unix ms) returns the original.
    pub dedupe_since: UnixMillis,
}

impl NewMessage {
    /// The message as stored under row number `id` at position `seq`.
    pub(super) fn stored(&self, id: i64, seq: i64) -> MessageRecord {
        let (sender_label, body) = (self.sender_label.clone(), self.body.clone());
        let (id, seq) = (MessageId::from(id), Seq::from(seq));
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
    pub seller_id: SellerId,
    /// Whose messages are being read (the other side's).
    pub sent_by: Side,
    /// Only messages at or before this position in the thread.
    pub up_to_seq: Option<Seq>,
    /// Unix milliseconds to record as `readAt`.
    pub now: UnixMillis,
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
        read_at: UnixMillis,
        /// The messages that changed, ascending.
        message_ids: Vec<MessageId>,
    },
    /// The chat's support state changed (assign, status, mark-unread, or the operator's
    /// mark-unread flag was cleared): operator side only.
    ChatUpdated,
    /// An internal note was added: operator side only.
    NoteCreated(NoteRecord),
}

impl EventKind {
    /// Whether a seller may see this event (its subscription, replay and webhooks).
    pub fn seller_visible(&self) -> bool {
        matches!(self, EventKind::MessageCreated(_) | EventKind::MessagesRead { .. })
    }
}

/// One entry of the event feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the feed (see [`EventCursor`] for the order).
    pub position: EventCursor,
    /// The chat it happened in.
    pub seller_id: SellerId,
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
    /// Continue after this cursor (of the same sort).
    pub after: Option<ChatListCursor>,
    /// Which chats.
    pub filter: ChatFilter,
    /// In which order.
    pub sort: ChatSort,
}

/// Which chats the operator's chat list (and its `totalCount`) shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatFilter {
    /// Only chats with unread seller messages or marked unread.
    pub unread_only: bool,
    /// Case-folded substring of the business name.
    pub search: Option<String>,
    /// Only chats with this status.
    pub status: Option<ChatStatus>,
    /// Only chats assigned to this user, or (`Some(None)`) unassigned ones.
    pub assignee: Option<Option<i64>>,
    /// Only chats with a Seller message waiting for a reply.
    pub awaiting_reply: bool,
}

/// A position in the chat list, in the list's sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatListCursor {
    /// `RECENT_ACTIVITY`.
    Recent(ChatCursor),
    /// `WAITING_LONGEST`.
    Waiting(WaitCursor),
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

/// The API-key-list query: oldest first, keyset-paged by row number.
#[derive(Debug, Clone, Default)]
pub struct KeyListQuery {
    /// Page size.
    pub limit: i64,
    /// Continue after this key (from the start when `None`).
    pub after: Option<KeyId>,
    /// Only this seller's keys; every key (operator and sellers) when `None`.
    pub seller_id: Option<SellerId>,
}

/// A page of a list with a forward `has_more` flag.
#[derive(Debug, Clone, Default)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether more follow.
    pub has_more: bool,
}

/// The chat counter of unread messages sent by `side`.
pub(super) fn unread_column(side: Side) -> &'static str {
    match side {
        Side::Admin => "unread_by_seller",
        Side::Seller => "unread_by_operator",
    }
}

/// The case-folded search term, or `None` for no filter.
pub(super) fn search_term(search: Option<&str>) -> Option<String> {
    search.map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase)
}

impl<T> ListPage<T> {
    /// A page from `limit + 1` fetched rows: the extra row only says that more follow.
    pub(super) fn from_overfetch(mut items: Vec<T>, limit: i64) -> Self {
        let has_more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        Self { items, has_more }
    }
}
