//! What the statements both back ends share stand on: the [`SqlBackend`] trait a back
//! end implements (its pools), the [`Dialect`] fragments where the two SQL dialects
//! differ, the [`every_backend!`] impls that run the statements, and how a row of either
//! dialect becomes a record.
//!
//! Shared statements use `$N` placeholders, which sqlx's SQLite driver reads as well as
//! PostgreSQL does. They live in the per-area modules (sellers, keys, accounts, webhooks,
//! chats, settings), each an area trait of `Store` with one impl for every back end.
//!
//! Records carry the domain's typed IDs and times (`SellerId`, `MessageId`, `Seq`,
//! `UnixMillis` …), which know nothing of sqlx: statements bind their numbers (`.get()`)
//! and [`RecordRow::typed`] wraps the numbers read back.

use super::records::{ApiKeyRecord, ChatRecord, ChatStatus, ChatSupport, EventKind, IdpIdentity, MessageRecord, NoteRecord, OperatorUserRecord, SellerRecord, StoredEvent, UserRecord};
use crate::domain::time::UnixMillis;
use crate::domain::cursor::EventCursor;
use crate::domain::ids::MessageId;
use crate::domain::Side;
use sqlx::{ColumnIndex, Database, Decode, Encode, Pool, Row, Transaction, Type};
use std::future::Future;

/// What differs between the two SQL dialects inside the statements both back ends share
/// (implemented by sqlx's database types, in each dialect's module).
pub(super) trait Dialect: Database<QueryResult: RowsAffected> {
    /// The SQL function `f(haystack, needle)` giving the needle's 1-based position in
    /// the haystack, 0 when absent (SQLite's `instr`, PostgreSQL's `strpos`).
    const POSITION: &'static str;
    /// Whether `SELECT … FOR UPDATE [SKIP LOCKED]` locks rows (PostgreSQL, where several
    /// nodes write at once); SQLite's write transaction holds the whole database instead.
    const ROW_LOCKS: bool;
    /// Whether a query may name the index it must use (SQLite's `INDEXED BY`, which the
    /// chat list uses so each filter combination has the index its migration names).
    const INDEX_HINTS: bool;
    /// A statement run first in a read transaction so that every statement in it reads
    /// one snapshot (`None`: the dialect's read transactions already do).
    const READ_SNAPSHOT: Option<&'static str>;
    /// `GREATEST_OF(events, webhooks, notifier)` in this dialect: the largest of three columns.
    const GREATEST_OF_POSITIONS: &'static str;
    /// A query of the value `table`'s ID counter last handed out (0: none yet).
    fn id_counter(table: &str) -> String;
    /// Statements raising `table`'s ID counter to `$1` (the last value handed out).
    fn raise_id_counter(table: &str) -> Vec<String>;
    /// How a `messages_read` event stores its message IDs.
    type MessageIds: for<'q> Encode<'q, Self> + for<'r> Decode<'r, Self> + Type<Self> + Send;
    /// The IDs as stored.
    fn store_ids(ids: &[i64]) -> Result<Self::MessageIds, sqlx::Error>;
    /// The IDs as read back.
    fn read_ids(stored: Self::MessageIds) -> Result<Vec<i64>, sqlx::Error>;
}

/// How many rows a statement changed (each sqlx database's result says so, through no
/// common trait).
pub(super) trait RowsAffected {
    /// The number of rows changed.
    fn rows_affected(&self) -> u64;
}

/// A SQL back end: a `Store` whose areas (its supertraits: sellers, keys, accounts,
/// webhooks, chats, settings) come from the statements both back ends share, run on the
/// pools this trait gives them. What the dialects do differently (the write path, the
/// event feed, cross-node wake-ups) each implements as `Store` itself.
pub(super) trait SqlBackend: Send + Sync + 'static {
    /// The sqlx database, with its dialect's fragments.
    type Db: Dialect;
    /// The pool reads run on.
    fn readers(&self) -> &Pool<Self::Db>;
    /// The pool single-statement writes run on.
    fn writer(&self) -> &Pool<Self::Db>;
    /// Begins a write transaction.
    fn begin_write(&self) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Db>>> + Send;
}

/// A Rust type the shared statements both bind and read on database `DB`.
pub(super) trait Value<DB: Database>: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T> Value<DB> for T where T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

/// An impl for every SQL back end, with the sqlx bounds generic statements need written
/// once (Rust does not carry bounds on sqlx's types over from a trait to the code using
/// it, so each impl would otherwise repeat them): `impl Trait for B { … }` over every
/// [`SqlBackend`] `B`, or `impl Type<DB> { … }` over every [`Dialect`] `DB`.
macro_rules! every_backend {
    ($(#[$attr:meta])* impl $trait:ident for B { $($body:tt)* }) => {
        $crate::store::sql::every_backend!(@bounded B::Db, [$(#[$attr])* impl<B: $crate::store::sql::SqlBackend> $trait for B] { $($body)* });
    };
    ($(#[$attr:meta])* impl $type:ident<DB> { $($body:tt)* }) => {
        $crate::store::sql::every_backend!(@bounded DB, [$(#[$attr])* impl<DB: $crate::store::sql::Dialect> $type<DB>] { $($body)* });
    };
    (@bounded $db:ty, [$($header:tt)*] { $($body:tt)* }) => {
        $($header)*
        where
            for<'c> &'c mut <$db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = $db>,
            for<'q> <$db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, $db>,
            usize: sqlx::ColumnIndex<<$db as sqlx::Database>::Row>,
            <$db as sqlx::Database>::Row: $crate::store::sql::RecordRow,
            i64: $crate::store::sql::Value<$db>,
            Option<i64>: $crate::store::sql::Value<$db>,
            bool: $crate::store::sql::Value<$db>,
            String: $crate::store::sql::Value<$db>,
            Option<String>: $crate::store::sql::Value<$db>,
            for<'s> &'s str: sqlx::Encode<'s, $db> + sqlx::Type<$db>,
            for<'s> Option<&'s str>: sqlx::Encode<'s, $db> + sqlx::Type<$db>,
        {
            $($body)*
        }
    };
}
pub(super) use every_backend;

/// Columns of a message row, in the order [`RecordRow::message`] reads them.
pub(super) const MESSAGE_COLUMNS: &str = "id, seller_id, seq, sent_by, sender_label, body, created_at, read_at";

/// A chat's columns with its seller, last message and assignee, in the order
/// [`RecordRow::chat`] reads them (the seller's external ID after the message's columns,
/// then the support inbox's), for `FROM` [`CHAT_JOINS`].
pub(super) const CHAT_COLUMNS: &str = "c.seller_id, s.business_name, s.created_at, c.message_count - c.removed_count, \
     c.unread_by_seller, c.unread_by_operator, \
     m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at, s.external_id, \
     c.status, c.awaiting_since, c.marked_unread_at, u.id, u.name, u.email, u.role";

/// What [`CHAT_COLUMNS`] reads from, after `FROM chats c` (and any index hint).
pub(super) const CHAT_JOINS: &str =
    "JOIN sellers s ON s.id = c.seller_id LEFT JOIN messages m ON m.id = c.last_message_id LEFT JOIN users u ON u.id = c.assignee_id";

/// A chat joined with its seller, last message and assignee (see [`CHAT_COLUMNS`]).
pub(super) const CHAT_SELECT: &str = "SELECT c.seller_id, s.business_name, s.created_at, c.message_count - c.removed_count, \
     c.unread_by_seller, c.unread_by_operator, \
     m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at, s.external_id, \
     c.status, c.awaiting_since, c.marked_unread_at, u.id, u.name, u.email, u.role \
     FROM chats c JOIN sellers s ON s.id = c.seller_id LEFT JOIN messages m ON m.id = c.last_message_id LEFT JOIN users u ON u.id = c.assignee_id";

/// The note columns of an event row, after its message's (`LEFT JOIN chat_notes n`).
pub(super) const EVENT_NOTE_COLUMNS: &str = "n.id, n.seller_id, n.body, n.author, n.created_at";

/// The event kinds a seller sees (its subscription and replay); the support inbox's
/// `chat_updated` and `note_created` are operator side only.
pub(super) const SELLER_EVENT_KINDS: &str = "e.kind IN ('message_created', 'messages_read')";

/// Columns of a note row, in the order [`RecordRow::note`] reads them.
pub(super) const NOTE_COLUMNS: &str = "id, seller_id, body, author, created_at";

/// Columns of a user row, in the order [`RecordRow::user`] reads them.
pub(super) const USER_COLUMNS: &str = "u.id, u.email, u.name, u.password_hash, u.seller_id, u.role, u.disabled_at, u.external_id, u.oidc_issuer, u.oidc_subject";

/// Columns of an API key row, in the order [`RecordRow::api_key`] reads them.
pub(super) const KEY_COLUMNS: &str = "id, seller_id, label, created_at, revoked_at, last_used_at, admin";

/// Columns of a seller row, in the order [`RecordRow::seller`] reads them.
pub(super) const SELLER_COLUMNS: &str = "id, business_name, created_at, external_id";

/// Records read out of a row the same way on both back ends (dialects differ in SQL,
/// not in how a row becomes a record).
pub(super) trait RecordRow {
    /// A message from the columns starting at `offset` (see [`MESSAGE_COLUMNS`]).
    fn message(&self, offset: usize) -> Result<MessageRecord, sqlx::Error>;
    /// A chat (see [`CHAT_SELECT`]).
    fn chat(&self) -> Result<ChatRecord, sqlx::Error>;
    /// A seller (see [`SELLER_COLUMNS`]).
    fn seller(&self) -> Result<SellerRecord, sqlx::Error>;
    /// A portal user (see [`USER_COLUMNS`]).
    fn user(&self) -> Result<UserRecord, sqlx::Error>;
    /// An API key (see [`KEY_COLUMNS`]).
    fn api_key(&self) -> Result<ApiKeyRecord, sqlx::Error>;
    /// An event of the feed: its `seq`, `tx` (as a number), seller_id, kind, sent_by,
    /// read_at and message_ids, then its message's columns (see [`MESSAGE_COLUMNS`]), then
    /// its note's (see [`NOTE_COLUMNS`]; `n.` of [`EVENT_NOTE_COLUMNS`]).
    fn event(&self) -> Result<StoredEvent, sqlx::Error>;
    /// A note from the columns starting at `offset` (see [`NOTE_COLUMNS`]).
    fn note(&self, offset: usize) -> Result<NoteRecord, sqlx::Error>;
    /// A stored number as the domain type it stands for (an ID, a position, a time).
    fn typed<T: From<i64>>(&self, at: usize) -> Result<T, sqlx::Error>;
    /// A nullable stored number as the domain type it stands for.
    fn typed_opt<T: From<i64>>(&self, at: usize) -> Result<Option<T>, sqlx::Error>;
}

impl<R: Row> RecordRow for R
where
    R::Database: Dialect,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
{
    fn message(&self, at: usize) -> Result<MessageRecord, sqlx::Error> {
        let (id, seller_id, seq, sent_by) = (self.typed(at)?, self.typed(at + 1)?, self.typed(at + 2)?, side_from_db(self.try_get(at + 3)?)?);
        let (sender_label, body, created_at, read_at) = (self.try_get(at + 4)?, self.try_get(at + 5)?, self.typed(at + 6)?, self.typed_opt(at + 7)?);
        Ok(MessageRecord { id, seller_id, seq, sent_by, sender_label, body, created_at, read_at })
    }

    fn chat(&self) -> Result<ChatRecord, sqlx::Error> {
        let last_id: Option<i64> = self.try_get(6)?;
        let (message_count, unread_by_seller, unread_by_operator) = (self.try_get(3)?, self.try_get(4)?, self.try_get(5)?);
        let last_message = last_id.map(|_| self.message(6)).transpose()?;
        let status: &str = self.try_get(15)?;
        let status = ChatStatus::parse(status).ok_or_else(|| sqlx::Error::Decode(format!("unknown chat status {status:?}").into()))?;
        let (awaiting_since, marked_unread_at) = (self.typed_opt(16)?, self.typed_opt::<UnixMillis>(17)?);
        let assignee = match self.try_get::<Option<i64>, _>(18)? {
            None => None,
            Some(id) => Some(OperatorUserRecord {
                id,
                name: self.try_get(19)?,
                email: self.try_get::<Option<String>, _>(20)?.unwrap_or_default(),
                role: self.try_get::<Option<String>, _>(21)?.unwrap_or_default(),
            }),
        };
        let support = ChatSupport { status, assignee, awaiting_since, marked_unread: marked_unread_at.is_some() };
        Ok(ChatRecord { seller: seller_at(self, 14)?, message_count, unread_by_seller, unread_by_operator, last_message, support })
    }

    fn seller(&self) -> Result<SellerRecord, sqlx::Error> {
        seller_at(self, 3)
    }

    fn user(&self) -> Result<UserRecord, sqlx::Error> {
        let (id, email, name, password_hash) = (self.try_get(0)?, self.try_get(1)?, self.try_get(2)?, self.try_get(3)?);
        let (seller_id, role, disabled_at, external_id) = (self.typed_opt(4)?, self.try_get(5)?, self.typed_opt(6)?, self.try_get(7)?);
        let (issuer, subject): (Option<String>, Option<String>) = (self.try_get(8)?, self.try_get(9)?);
        let identity = issuer.zip(subject).map(|(issuer, subject)| IdpIdentity { issuer, subject });
        Ok(UserRecord { id, email, name, password_hash, seller_id, role, disabled_at, external_id, identity })
    }

    fn api_key(&self) -> Result<ApiKeyRecord, sqlx::Error> {
        let (id, seller_id, label, admin) = (self.typed(0)?, self.typed_opt(1)?, self.try_get(2)?, self.try_get(6)?);
        Ok(ApiKeyRecord { id, seller_id, admin, label, created_at: self.typed(3)?, revoked_at: self.typed_opt(4)?, last_used_at: self.typed_opt(5)? })
    }

    fn event(&self) -> Result<StoredEvent, sqlx::Error> {
        let kind = match self.try_get::<&str, _>(3)? {
            "message_created" => EventKind::MessageCreated(self.message(7)?),
            "chat_updated" => EventKind::ChatUpdated,
            "note_created" => EventKind::NoteCreated(self.note(15)?),
            _ => EventKind::MessagesRead {
                sent_by: side_from_db(self.try_get(4)?)?,
                read_at: self.typed(5)?,
                message_ids: R::Database::read_ids(self.try_get(6)?)?.into_iter().map(MessageId::from).collect(),
            },
        };
        Ok(StoredEvent { position: EventCursor { tx: self.try_get(1)?, seq: self.try_get(0)? }, seller_id: self.typed(2)?, kind })
    }

    fn note(&self, at: usize) -> Result<NoteRecord, sqlx::Error> {
        let (id, seller_id, body, author, created_at) = (self.try_get(at)?, self.typed(at + 1)?, self.try_get(at + 2)?, self.try_get(at + 3)?, self.typed(at + 4)?);
        Ok(NoteRecord { id, seller_id, body, author, created_at })
    }

    fn typed<T: From<i64>>(&self, at: usize) -> Result<T, sqlx::Error> {
        Ok(T::from(self.try_get::<i64, _>(at)?))
    }

    fn typed_opt<T: From<i64>>(&self, at: usize) -> Result<Option<T>, sqlx::Error> {
        Ok(self.try_get::<Option<i64>, _>(at)?.map(T::from))
    }
}

/// A seller from the first three columns (id, business name, creation time) and its
/// external ID from column `external_id_at`.
fn seller_at<R: Row + RecordRow>(row: &R, external_id_at: usize) -> Result<SellerRecord, sqlx::Error>
where
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let (id, business_name, created_at) = (row.typed(0)?, row.try_get(1)?, row.typed(2)?);
    Ok(SellerRecord { id, business_name, created_at, external_id: row.try_get(external_id_at)? })
}

/// Reads a stored `sent_by`.
pub(super) fn side_from_db(raw: &str) -> Result<Side, sqlx::Error> {
    Side::parse(raw).ok_or_else(|| sqlx::Error::Decode(format!("unknown sent_by {raw:?}").into()))
}
