//! Chats and their messages as read back, and retention: what storage offers for them,
//! and the statements every SQL back end runs for it, written once. Storing messages and
//! marking them read is each dialect's own write path (see the counter rule in the store
//! module); the statements those share are [`ChatWrites`].

use crate::domain::ids::{MessageId, SellerId, Seq};
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, Dialect, RecordRow, RowsAffected, CHAT_SELECT, MESSAGE_COLUMNS};
use super::records::{search_term, unread_column, ChatListQuery, ChatRecord, ListPage, MarkRead, MessagePage, MessageRecord, NewMessage, StoreResult};
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
    /// Chats with at least one message, most recently active first.
    async fn list_chats(&self, query: &ChatListQuery) -> StoreResult<ListPage<ChatRecord>>;
    /// How many chats the list query would show in all.
    async fn count_chats(&self, unread_only: bool, search: Option<&str>) -> StoreResult<i64>;
    /// Seller messages the operator has not read, over all chats.
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
            let search = search_term(query.search.as_deref());
            // Literal filters (not bound flags) so SQLite can pick the matching partial index.
            let mut sql = format!("{CHAT_SELECT} WHERE c.last_message_id IS NOT NULL AND c.last_message_id < $1");
            if query.unread_only {
                sql.push_str(" AND c.unread_by_operator > 0");
            }
            if search.is_some() {
                sql.push_str(&format!(" AND {}(s.name_key, $3) > 0", B::Db::POSITION));
            }
            sql.push_str(" ORDER BY c.last_message_id DESC LIMIT $2");
            let mut statement = sqlx::query(&sql).bind(query.after.map_or(i64::MAX, |c| c.last_message_id.get())).bind(query.limit + 1);
            if let Some(term) = search {
                statement = statement.bind(term);
            }
            let rows = statement.fetch_all(self.readers()).await?;
            let items = rows.iter().map(RecordRow::chat).collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage::from_overfetch(items, query.limit))
        }

        #[instrument(level = "debug", skip_all)]
        async fn count_chats(&self, unread_only: bool, search: Option<&str>) -> StoreResult<i64> {
            let count = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM chats c JOIN sellers s ON s.id = c.seller_id \
                 WHERE c.last_message_id IS NOT NULL AND (NOT $1 OR c.unread_by_operator > 0) \
                 AND (CAST($2 AS TEXT) IS NULL OR {position}(s.name_key, $2) > 0)",
                position = B::Db::POSITION,
            ))
            .bind(unread_only)
            .bind(search_term(search))
            .fetch_one(self.readers())
            .await?;
            Ok(count)
        }

        #[instrument(level = "debug", skip_all)]
        async fn operator_unread_total(&self) -> StoreResult<i64> {
            let total = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(unread_by_operator), 0) AS BIGINT) FROM chats").fetch_one(self.readers()).await?;
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
            if ids.is_empty() {
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
