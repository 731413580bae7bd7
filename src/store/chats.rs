//! Chats and their messages as read back, and retention: what storage offers for them,
//! and the statements every SQL back end runs for it, written once. Storing messages and
//! marking them read is each dialect's own write path (see the counter rule in the store
//! module); the statements those share are [`ChatWrites`].

use crate::domain::ids::{MessageId, SellerId, Seq};
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, Dialect, RecordRow, RowsAffected, CHAT_COLUMNS, CHAT_JOINS, CHAT_SELECT, MESSAGE_COLUMNS};
use super::records::{
    search_term, unread_column, ChatFilter, ChatListCursor, ChatListQuery, ChatRecord, ChatSort, ListPage, MarkRead, MessagePage, MessageRecord, NewMessage,
    StoreResult,
};
use crate::domain::Side;
use crate::domain::paging::{Direction, PageRequest};
use async_trait::async_trait;
use std::collections::HashMap;
use std::marker::PhantomData;
use tracing::instrument;

/// A message as retention reads it: id, seller_id, sent_by, read_at.
type RemovedRow = (i64, i64, String, Option<i64>);

/// Chats, messages as read back, and retention (a part of [`Store`](super::Store)).
#[async_trait]
pub trait ChatStore {
    /// One message by its row number.
    async fn message(&self, message_id: MessageId) -> StoreResult<Option<MessageRecord>>;
    /// A page of one thread by sequence number (cursor = seq), newest first.
    async fn list_messages(&self, seller_id: SellerId, page: &PageRequest<Seq>) -> StoreResult<MessagePage>;
    /// Whether the thread has messages on the other side of `seq` from a page:
    /// `newer` asks for seq ≥ `seq`, otherwise seq ≤ `seq`.
    async fn has_messages_beyond(&self, seller_id: SellerId, seq: Seq, newer: bool) -> StoreResult<bool>;
    /// Messages oldest first, after sequence number `after_seq`.
    async fn messages_oldest_first(&self, seller_id: SellerId, after_seq: Seq, limit: i64) -> StoreResult<Vec<MessageRecord>>;
    /// One chat with its counters.
    async fn chat(&self, seller_id: SellerId) -> StoreResult<Option<ChatRecord>>;
    /// Chats with at least one message that pass the query's filter, in its sort.
    async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>>;
    /// How many chats the list query would show in all.
    async fn count_chats(&self, filter: &ChatFilter, sort: ChatSort) -> StoreResult<i64>;
    /// Seller messages the operator has not read, over all chats, plus one for each chat
    /// marked unread that has none.
    async fn operator_unread_total(&self) -> StoreResult<i64>;
    /// Removes up to `limit` messages created before `cutoff` (Unix ms) with their events,
    /// keeping the chat counters right; then, when no such message is left, up to `limit`
    /// read events before `cutoff`. Returns how many rows went (0: nothing left to do).
    async fn remove_before(&self, cutoff: UnixMillis, limit: i64) -> StoreResult<u64>;
}

every_backend! {
    #[async_trait]
    impl ChatStore for B {
        #[instrument(level = "debug", skip_all, fields(message_id = %message_id))]
        async fn message(&self, message_id: MessageId) -> StoreResult<Option<MessageRecord>> {
            let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"))
                .bind(message_id.get())
                .fetch_optional(self.readers())
                .await?;
            Ok(row.map(|r| r.message(0)).transpose()?)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn list_messages(&self, seller_id: SellerId, page: &PageRequest<Seq>) -> StoreResult<MessagePage> {
            let (sql, edge) = match page.direction {
                Direction::Forward => (
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"),
                    page.cursor.map_or(i64::MAX, Seq::get),
                ),
                Direction::Backward => (
                    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"),
                    page.cursor.map_or(0, Seq::get),
                ),
            };
            let rows = sqlx::query(&sql).bind(seller_id.get()).bind(edge).bind(page.limit + 1).fetch_all(self.readers()).await?;
            let mut messages = rows.iter().map(|r| r.message(0)).collect::<Result<Vec<_>, _>>()?;
            let has_more = messages.len() as i64 > page.limit;
            messages.truncate(page.limit as usize);
            if page.direction == Direction::Backward {
                messages.reverse();
            }
            Ok(MessagePage { messages, has_more })
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn has_messages_beyond(&self, seller_id: SellerId, seq: Seq, newer: bool) -> StoreResult<bool> {
            let sql = if newer {
                "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = $1 AND seq >= $2)"
            } else {
                "SELECT EXISTS (SELECT 1 FROM messages WHERE seller_id = $1 AND seq <= $2)"
            };
            Ok(sqlx::query_scalar(sql).bind(seller_id.get()).bind(seq.get()).fetch_one(self.readers()).await?)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn messages_oldest_first(&self, seller_id: SellerId, after_seq: Seq, limit: i64) -> StoreResult<Vec<MessageRecord>> {
            let rows = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"))
                .bind(seller_id.get())
                .bind(after_seq.get())
                .bind(limit)
                .fetch_all(self.readers())
                .await?;
            Ok(rows.iter().map(|r| r.message(0)).collect::<Result<_, _>>()?)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn chat(&self, seller_id: SellerId) -> StoreResult<Option<ChatRecord>> {
            let row = sqlx::query(&format!("{CHAT_SELECT} WHERE c.seller_id = $1")).bind(seller_id.get()).fetch_optional(self.readers()).await?;
            Ok(row.as_ref().map(RecordRow::chat).transpose()?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>> {
            let (sql, binds) = chat_list_sql::<B::Db>(&query.filter, query.sort, Some((query.after, query.limit + 1)));
            let mut statement = sqlx::query(&sql);
            for bind in binds {
                statement = match bind {
                    Bind::Int(value) => statement.bind(value),
                    Bind::Text(value) => statement.bind(value),
                };
            }
            let rows = statement.fetch_all(self.readers()).await?;
            let items = rows.iter().map(RecordRow::chat).collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage::from_overfetch(items, query.limit))
        }

        #[instrument(level = "debug", skip_all)]
        async fn count_chats(&self, filter: &ChatFilter, sort: ChatSort) -> StoreResult<i64> {
            let (sql, binds) = chat_list_sql::<B::Db>(filter, sort, None);
            let mut statement = sqlx::query_scalar(&sql);
            for bind in binds {
                statement = match bind {
                    Bind::Int(value) => statement.bind(value),
                    Bind::Text(value) => statement.bind(value),
                };
            }
            Ok(statement.fetch_one(self.readers()).await?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn operator_unread_total(&self) -> StoreResult<i64> {
            // A chat the operator marked unread counts one while it has no unread message.
            let total = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(unread_by_operator), 0) + COALESCE(SUM(CASE WHEN unread_by_operator = 0 AND marked_unread_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) FROM chats",
            )
            .fetch_one(self.readers())
            .await?;
            Ok(total)
        }

        #[instrument(level = "debug", skip_all)]
        async fn remove_before(&self, cutoff: UnixMillis, limit: i64) -> StoreResult<u64> {
            let mut tx = self.begin_write().await?;
            // Nodes removing at once each take rows the others have not locked.
            let skip_locked = if B::Db::ROW_LOCKS { " FOR UPDATE SKIP LOCKED" } else { "" };
            let rows: Vec<RemovedRow> = sqlx::query_as(&format!(
                "SELECT id, seller_id, sent_by, read_at FROM messages WHERE created_at < $1 ORDER BY created_at LIMIT $2{skip_locked}"
            ))
            .bind(cutoff.get())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                let removed = sqlx::query(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE kind = 'messages_read' AND created_at < $1 LIMIT $2)",
                )
                .bind(cutoff.get())
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
            // The counter rule's retention part (see the store module).
            for (seller_id, chat) in removed_by_chat(&rows) {
                sqlx::query(
                    "UPDATE chats SET removed_count = removed_count + $1, unread_by_seller = unread_by_seller - $2, \
                     unread_by_operator = unread_by_operator - $3, \
                     last_message_id = CASE WHEN last_message_id <= $4 THEN NULL ELSE last_message_id END WHERE seller_id = $5",
                )
                .bind(chat.count)
                .bind(chat.unread_by_seller)
                .bind(chat.unread_by_operator)
                .bind(chat.newest_id)
                .bind(seller_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(rows.len() as u64)
        }
    }
}

/// The write path's statements both dialects run alike, on database `DB`, inside the
/// transaction its write path owns (a group commit on SQLite, one per call on PostgreSQL).
pub(super) struct ChatWrites<DB>(PhantomData<DB>);

every_backend! {
    impl ChatWrites<DB> {
        /// The message stored under the client mutation ID `token` of `message`'s sender.
        pub(super) async fn by_client_mutation(conn: &mut DB::Connection, message: &NewMessage, token: &str) -> StoreResult<Option<MessageRecord>> {
            let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND sent_by = $2 AND client_mutation_id = $3"))
                .bind(message.seller_id.get())
                .bind(message.sent_by.as_str())
                .bind(token)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(row.map(|r| r.message(0)).transpose()?)
        }

        /// The earlier message a repeated client mutation ID names, while it may still be
        /// replayed; an expired ID is taken off its message, so a new one may carry it.
        pub(super) async fn replayable(conn: &mut DB::Connection, message: &NewMessage, token: &str) -> StoreResult<Option<MessageRecord>> {
            let Some(earlier) = Self::by_client_mutation(&mut *conn, message, token).await? else { return Ok(None) };
            if earlier.created_at >= message.dedupe_since {
                return Ok(Some(earlier));
            }
            sqlx::query("UPDATE messages SET client_mutation_id = NULL WHERE id = $1").bind(earlier.id.get()).execute(&mut *conn).await?;
            Ok(None)
        }

        /// Marks the other side's unread messages read and keeps the counter rule (see
        /// the store module): the unread counter drops by as many, and one
        /// `messages_read` event records them. Returns the IDs, ascending.
        pub(super) async fn mark_read_in(conn: &mut DB::Connection, request: &MarkRead) -> StoreResult<Vec<MessageId>> {
            // Concurrent readers (PostgreSQL) block on the same rows and re-check
            // `read_at IS NULL`, so each message is counted by exactly one of them.
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE messages SET read_at = $1 WHERE seller_id = $2 AND sent_by = $3 AND read_at IS NULL AND seq <= $4 RETURNING id",
            )
            .bind(request.now.get())
            .bind(request.seller_id.get())
            .bind(request.sent_by.as_str())
            .bind(request.up_to_seq.map_or(i64::MAX, Seq::get))
            .fetch_all(&mut *conn)
            .await?;
            ids.sort_unstable();
            // The operator reading a chat clears its mark-unread flag (operator side only);
            // when no message changed, the flag's end is the event.
            let flag_cleared = request.sent_by == Side::Seller
                && sqlx::query("UPDATE chats SET marked_unread_at = NULL WHERE seller_id = $1 AND marked_unread_at IS NOT NULL")
                    .bind(request.seller_id.get())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                    > 0;
            if ids.is_empty() {
                if flag_cleared {
                    chat_updated_event::<DB>(&mut *conn, request.seller_id, request.now).await?;
                }
                return Ok(Vec::new());
            }
            let unread = unread_column(request.sent_by);
            sqlx::query(&format!("UPDATE chats SET {unread} = {unread} - $1 WHERE seller_id = $2"))
                .bind(ids.len() as i64)
                .bind(request.seller_id.get())
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO events (seller_id, kind, sent_by, read_at, message_ids, created_at) VALUES ($1, 'messages_read', $2, $3, $4, $3)")
                .bind(request.seller_id.get())
                .bind(request.sent_by.as_str())
                .bind(request.now.get())
                .bind(DB::store_ids(&ids)?)
                .execute(&mut *conn)
                .await?;
            Ok(ids.into_iter().map(MessageId::from).collect())
        }
    }
}

/// One chat's share of a retention batch.
#[derive(Default)]
struct RemovedFromChat {
    count: i64,
    unread_by_seller: i64,
    unread_by_operator: i64,
    newest_id: i64,
}

/// Groups removed message rows by chat.
fn removed_by_chat(rows: &[RemovedRow]) -> HashMap<i64, RemovedFromChat> {
    let mut chats: HashMap<i64, RemovedFromChat> = HashMap::new();
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

/// A value bound to a chat-list statement.
pub(super) enum Bind {
    /// A number.
    Int(i64),
    /// A text.
    Text(String),
}

/// The chat list's statement for `filter` in `sort` with its bound values: a page
/// (`Some((after, limit))`) or the count. It drives from one index, picked by the first
/// filter that has one (the table in migrations sqlite/0013 and postgres/0010; SQLite is
/// told with `INDEXED BY`), and checks the other filters on the rows it yields.
pub(super) fn chat_list_sql<D: Dialect>(filter: &ChatFilter, sort: ChatSort, page: Option<(Option<ChatListCursor>, i64)>) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut bind = |value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    let mut conditions = vec!["c.last_message_id IS NOT NULL".to_owned()];
    if sort == ChatSort::WaitingLongest {
        conditions.push("c.awaiting_since IS NOT NULL".to_owned());
    }
    match filter.assignee {
        Some(Some(user_id)) => conditions.push(format!("c.assignee_id = {}", bind(Bind::Int(user_id)))),
        Some(None) => conditions.push("c.assignee_id IS NULL".to_owned()),
        None => {}
    }
    if let Some(status) = filter.status {
        conditions.push(format!("c.status = {}", bind(Bind::Text(status.as_str().to_owned()))));
    }
    if filter.unread_only {
        conditions.push("(c.unread_by_operator > 0 OR c.marked_unread_at IS NOT NULL)".to_owned());
    }
    if filter.awaiting_reply && sort == ChatSort::RecentActivity {
        conditions.push("c.awaiting_since IS NOT NULL".to_owned());
    }
    if let Some(term) = search_term(filter.search.as_deref()) {
        conditions.push(format!("{}(s.name_key, {}) > 0", D::POSITION, bind(Bind::Text(term))));
    }
    let index = match (sort, filter.assignee, filter.status.is_some()) {
        (ChatSort::RecentActivity, Some(Some(_)), _) => "chats_by_assignee_activity",
        (ChatSort::RecentActivity, Some(None), _) => "chats_unassigned_by_activity",
        (ChatSort::RecentActivity, None, true) => "chats_by_status_activity",
        (ChatSort::RecentActivity, None, false) if filter.unread_only => "chats_attention_by_activity",
        (ChatSort::RecentActivity, None, false) if filter.awaiting_reply => "chats_awaiting_by_activity",
        (ChatSort::RecentActivity, None, false) => "chats_by_activity",
        (ChatSort::WaitingLongest, Some(Some(_)), _) => "chats_by_assignee_wait",
        (ChatSort::WaitingLongest, Some(None), _) => "chats_unassigned_by_wait",
        (ChatSort::WaitingLongest, None, true) => "chats_by_status_wait",
        (ChatSort::WaitingLongest, None, false) => "chats_by_wait",
    };
    let hint = if D::INDEX_HINTS { format!(" INDEXED BY {index}") } else { String::new() };
    let Some((after, limit)) = page else {
        let sql = format!("SELECT COUNT(*) FROM chats c{hint} JOIN sellers s ON s.id = c.seller_id WHERE {}", conditions.join(" AND "));
        return (sql, binds);
    };
    let order = match (sort, after) {
        (ChatSort::RecentActivity, after) => {
            if let Some(ChatListCursor::Recent(cursor)) = after {
                conditions.push(format!("c.last_message_id < {}", bind(Bind::Int(cursor.last_message_id.get()))));
            }
            "c.last_message_id DESC"
        }
        (ChatSort::WaitingLongest, after) => {
            if let Some(ChatListCursor::Waiting(cursor)) = after {
                let since = bind(Bind::Int(cursor.awaiting_since));
                conditions.push(format!("(c.awaiting_since, c.seller_id) > ({since}, {})", bind(Bind::Int(cursor.seller_id.get()))));
            }
            "c.awaiting_since, c.seller_id"
        }
    };
    let limit = bind(Bind::Int(limit));
    let sql = format!("SELECT {CHAT_COLUMNS} FROM chats c{hint} {CHAT_JOINS} WHERE {} ORDER BY {order} LIMIT {limit}", conditions.join(" AND "));
    (sql, binds)
}

/// Records a `chat_updated` event for `seller_id` (the support inbox's changes).
pub(super) async fn chat_updated_event<DB: Dialect>(conn: &mut DB::Connection, seller_id: SellerId, now: UnixMillis) -> StoreResult<()>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: super::sql::Value<DB>,
{
    sqlx::query("INSERT INTO events (seller_id, kind, created_at) VALUES ($1, 'chat_updated', $2)")
        .bind(seller_id.get())
        .bind(now.get())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
