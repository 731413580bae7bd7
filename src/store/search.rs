//! Full-text message search (`messageSearch`): what storage offers for it, and what the
//! dialects' statements (`sqlite/search.rs`, `postgres/search.rs`) share; each runs over
//! its own index (SQLite: the FTS5 table `messages_fts`,
//! migrations/sqlite 0014; PostgreSQL: the GIN index `messages_search` over the stored
//! generated column `messages.search_vector`, migrations/postgres 0011). Both indexes
//! follow inserts and retention's deletes by themselves (triggers, a generated column),
//! so the write paths know nothing of search. The engine query text comes from
//! [`SearchQuery`], which quotes every word: user text never reaches `MATCH` or
//! `to_tsquery` as syntax.

use super::records::{MessageRecord, SellerRecord, StoreResult};
use super::sql::{RecordRow, SqlBackend};
use crate::domain::ids::{MessageId, SellerId};
use crate::domain::search::SearchQuery;
use async_trait::async_trait;

/// One page of a message search: newest first, after a message, perhaps in one chat.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// What to look for.
    pub query: SearchQuery,
    /// Only this seller's chat.
    pub seller_id: Option<SellerId>,
    /// Only messages older than this one (the previous page's last hit).
    pub before: Option<MessageId>,
    /// Most hits.
    pub limit: i64,
}

/// A message that matched, with its seller.
#[derive(Debug, Clone)]
pub struct MessageHit {
    /// The message.
    pub message: MessageRecord,
    /// Its seller.
    pub seller: SellerRecord,
}

/// Full-text search over message bodies (a part of [`Store`](super::Store)).
#[async_trait]
pub trait SearchStore {
    /// Messages whose body holds every term, newest (highest id) first, at most `limit`.
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<MessageHit>>;
}

/// The seller's then the message's columns, in the order [`hit`] reads them.
pub(super) const HIT_COLUMNS: &str = "s.id, s.business_name, s.created_at, s.external_id, \
     m.id, m.seller_id, m.seq, m.sent_by, m.sender_label, m.body, m.created_at, m.read_at";

/// A hit from a row of [`HIT_COLUMNS`].
pub(super) fn hit<R: RecordRow>(row: &R) -> Result<MessageHit, sqlx::Error> {
    Ok(MessageHit { seller: row.seller()?, message: row.message(4)? })
}

/// `AND m.seller_id = $4` when the search is in one chat (a literal filter, so each
/// shape gets its own plan).
pub(super) fn seller_filter(search: &MessageSearch) -> &'static str {
    if search.seller_id.is_some() {
        " AND m.seller_id = $4"
    } else {
        ""
    }
}

/// Where the page starts: below the cursor's message id, or the top.
pub(super) fn upper_bound(search: &MessageSearch) -> i64 {
    search.before.map_or(i64::MAX, MessageId::get)
}

/// Runs a search statement with `$1` the engine's query text, `$2` the upper bound, `$3`
/// the limit and `$4` the seller (when filtered).
pub(super) async fn run<B>(backend: &B, sql: &str, engine_query: String, search: &MessageSearch) -> StoreResult<Vec<MessageHit>>
where
    B: SqlBackend,
    for<'c> &'c mut <B::Db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = B::Db>,
    for<'q> <B::Db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as sqlx::Database>::Row: RecordRow,
    i64: super::sql::Value<B::Db>,
    Option<i64>: super::sql::Value<B::Db>,
    String: super::sql::Value<B::Db>,
{
    let mut statement = sqlx::query(sql).bind(engine_query).bind(upper_bound(search)).bind(search.limit);
    if let Some(seller_id) = search.seller_id {
        statement = statement.bind(seller_id.get());
    }
    let rows = statement.fetch_all(backend.readers()).await?;
    Ok(rows.iter().map(hit).collect::<Result<_, _>>()?)
}
