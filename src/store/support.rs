//! The support inbox (SPEC §12, operator side only): a chat's assignee, status and
//! mark-unread flag (each change with its `chat_updated` event, in one transaction),
//! internal notes (with `note_created`), saved replies, the operator users who may be
//! assigned, and the statistics tables `supportStats` reads. Written once for every SQL
//! back end; storing a message keeps its part of these in the dialects' write paths (see
//! "Chat counters" in the store module).

use super::chats::chat_updated_event;
use super::records::{ChatStatus, ListPage, NoteRecord, OperatorUserRecord, SavedReplyRecord, StoreResult, SupportFacts};
use super::sql::{every_backend, Dialect, RecordRow, RowsAffected, NOTE_COLUMNS};
use crate::domain::ids::SellerId;
use crate::domain::support::{Period, DAY_MILLIS};
use crate::domain::time::UnixMillis;
use async_trait::async_trait;
use std::marker::PhantomData;
use tracing::instrument;

/// Statistics rows are sharded per day by seller (see `support_days` in the migrations).
const DAY_SHARDS: i64 = 16;

/// The support inbox's storage (a part of [`Store`](super::Store)).
#[async_trait]
pub trait SupportStore {
    /// Assigns the chat to an operator user (`None`: unassigned) and records a
    /// `chat_updated` event; false when there is no such chat.
    async fn assign_chat(&self, seller_id: SellerId, assignee: Option<i64>, now: UnixMillis) -> StoreResult<bool>;
    /// Sets the chat's status; resolving records a resolution by `agent` (with the time
    /// since the chat opened), reopening opens it now. A change records a `chat_updated`
    /// event; false when there is no such chat.
    async fn set_chat_status(&self, seller_id: SellerId, status: ChatStatus, agent: &str, now: UnixMillis) -> StoreResult<bool>;
    /// Sets the operator's mark-unread flag (no message's `read_at` changes) and records a
    /// `chat_updated` event; false when there is no such chat.
    async fn mark_chat_unread(&self, seller_id: SellerId, now: UnixMillis) -> StoreResult<bool>;
    /// Adds a note with its `note_created` event; `None` when there is no such chat.
    async fn create_note(&self, seller_id: SellerId, body: &str, author: &str, now: UnixMillis) -> StoreResult<Option<NoteRecord>>;
    /// One page of the chat's notes, newest first, before note `before` (from the newest
    /// when `None`).
    async fn notes(&self, seller_id: SellerId, before: Option<i64>, limit: i64) -> StoreResult<ListPage<NoteRecord>>;
    /// Operator users who may chat (not Viewers, not disabled), by name.
    async fn operator_users(&self) -> StoreResult<Vec<OperatorUserRecord>>;
    /// One operator user who may chat.
    async fn operator_user(&self, user_id: i64) -> StoreResult<Option<OperatorUserRecord>>;
    /// Saved replies by title.
    async fn saved_replies(&self) -> StoreResult<Vec<SavedReplyRecord>>;
    /// Stores a saved reply.
    async fn create_saved_reply(&self, title: &str, body: &str, now: UnixMillis) -> StoreResult<SavedReplyRecord>;
    /// Changes the given parts of a saved reply; `None` when there is none with this ID.
    async fn update_saved_reply(&self, id: i64, title: Option<&str>, body: Option<&str>, now: UnixMillis) -> StoreResult<Option<SavedReplyRecord>>;
    /// Removes a saved reply; false when there was none with this ID.
    async fn delete_saved_reply(&self, id: i64) -> StoreResult<bool>;
    /// The statistics rows of a period (by their time indexes; never the messages).
    async fn support_facts(&self, period: Period) -> StoreResult<SupportFacts>;
}

every_backend! {
    #[async_trait]
    impl SupportStore for B {
        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn assign_chat(&self, seller_id: SellerId, assignee: Option<i64>, now: UnixMillis) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let changed = SupportWrites::<B::Db>::update_chat(&mut *tx, "assignee_id = $1", assignee, seller_id, now).await?;
            tx.commit().await?;
            Ok(changed)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn set_chat_status(&self, seller_id: SellerId, status: ChatStatus, agent: &str, now: UnixMillis) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let lock = if B::Db::ROW_LOCKS { " FOR UPDATE" } else { "" };
            let current: Option<(String, Option<i64>)> = sqlx::query_as(&format!("SELECT status, opened_at FROM chats WHERE seller_id = $1{lock}"))
                .bind(seller_id.get())
                .fetch_optional(&mut *tx)
                .await?;
            let Some((current, opened_at)) = current else {
                return Ok(false);
            };
            if current == status.as_str() {
                return Ok(true);
            }
            let (day, shard) = (now.get().div_euclid(DAY_MILLIS), seller_id.get() % DAY_SHARDS);
            match status {
                ChatStatus::Resolved => {
                    sqlx::query("INSERT INTO support_resolutions (seller_id, opened_at, resolved_at, agent) VALUES ($1, $2, $3, $4)")
                        .bind(seller_id.get())
                        .bind(opened_at)
                        .bind(now.get())
                        .bind(agent)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO support_days (day, shard, chats_resolved) VALUES ($1, $2, 1) \
                         ON CONFLICT (day, shard) DO UPDATE SET chats_resolved = support_days.chats_resolved + 1",
                    )
                    .bind(day)
                    .bind(shard)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE chats SET status = 'resolved', opened_at = NULL WHERE seller_id = $1").bind(seller_id.get()).execute(&mut *tx).await?;
                }
                ChatStatus::Open => {
                    sqlx::query(
                        "INSERT INTO support_days (day, shard, chats_opened) VALUES ($1, $2, 1) \
                         ON CONFLICT (day, shard) DO UPDATE SET chats_opened = support_days.chats_opened + 1",
                    )
                    .bind(day)
                    .bind(shard)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE chats SET status = 'open', opened_at = $1 WHERE seller_id = $2")
                        .bind(now.get())
                        .bind(seller_id.get())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            chat_updated_event::<B::Db>(&mut *tx, seller_id, now).await?;
            tx.commit().await?;
            Ok(true)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn mark_chat_unread(&self, seller_id: SellerId, now: UnixMillis) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let changed = SupportWrites::<B::Db>::update_chat(&mut *tx, "marked_unread_at = COALESCE(marked_unread_at, $1)", Some(now.get()), seller_id, now).await?;
            tx.commit().await?;
            Ok(changed)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn create_note(&self, seller_id: SellerId, body: &str, author: &str, now: UnixMillis) -> StoreResult<Option<NoteRecord>> {
            let mut tx = self.begin_write().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT seller_id FROM chats WHERE seller_id = $1").bind(seller_id.get()).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Ok(None);
            }
            let id: i64 = sqlx::query_scalar("INSERT INTO chat_notes (seller_id, body, author, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(seller_id.get())
                .bind(body)
                .bind(author)
                .bind(now.get())
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO events (seller_id, kind, note_id, created_at) VALUES ($1, 'note_created', $2, $3)")
                .bind(seller_id.get())
                .bind(id)
                .bind(now.get())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(NoteRecord { id, seller_id, body: body.to_owned(), author: author.to_owned(), created_at: now }))
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn notes(&self, seller_id: SellerId, before: Option<i64>, limit: i64) -> StoreResult<ListPage<NoteRecord>> {
            // chat_notes_by_chat (seller_id, id), read backwards.
            let rows = sqlx::query(&format!("SELECT {NOTE_COLUMNS} FROM chat_notes WHERE seller_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
                .bind(seller_id.get())
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit + 1)
                .fetch_all(self.readers())
                .await?;
            let notes = rows.iter().map(|r| r.note(0)).collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage::from_overfetch(notes, limit))
        }

        #[instrument(level = "debug", skip_all)]
        async fn operator_users(&self) -> StoreResult<Vec<OperatorUserRecord>> {
            let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
                "SELECT id, name, email, role FROM users \
                 WHERE seller_id IS NULL AND role IS NOT NULL AND role <> 'viewer' AND disabled_at IS NULL ORDER BY name, id",
            )
            .fetch_all(self.readers())
            .await?;
            Ok(rows.into_iter().map(operator_user).collect())
        }

        #[instrument(level = "debug", skip_all)]
        async fn operator_user(&self, user_id: i64) -> StoreResult<Option<OperatorUserRecord>> {
            let row: Option<(i64, String, Option<String>, String)> = sqlx::query_as(
                "SELECT id, name, email, role FROM users \
                 WHERE id = $1 AND seller_id IS NULL AND role IS NOT NULL AND role <> 'viewer' AND disabled_at IS NULL",
            )
            .bind(user_id)
            .fetch_optional(self.readers())
            .await?;
            Ok(row.map(operator_user))
        }

        #[instrument(level = "debug", skip_all)]
        async fn saved_replies(&self) -> StoreResult<Vec<SavedReplyRecord>> {
            let rows: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, title, body FROM saved_replies ORDER BY title_key, id").fetch_all(self.readers()).await?;
            Ok(rows.into_iter().map(|(id, title, body)| SavedReplyRecord { id, title, body }).collect())
        }

        #[instrument(level = "debug", skip_all)]
        async fn create_saved_reply(&self, title: &str, body: &str, now: UnixMillis) -> StoreResult<SavedReplyRecord> {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO saved_replies (title, title_key, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(title)
            .bind(title.to_lowercase())
            .bind(body)
            .bind(now.get())
            .fetch_one(self.writer())
            .await?;
            Ok(SavedReplyRecord { id, title: title.to_owned(), body: body.to_owned() })
        }

        #[instrument(level = "debug", skip_all)]
        async fn update_saved_reply(&self, id: i64, title: Option<&str>, body: Option<&str>, now: UnixMillis) -> StoreResult<Option<SavedReplyRecord>> {
            let row: Option<(i64, String, String)> = sqlx::query_as(
                "UPDATE saved_replies SET title = COALESCE($1, title), title_key = COALESCE($2, title_key), body = COALESCE($3, body), updated_at = $4 \
                 WHERE id = $5 RETURNING id, title, body",
            )
            .bind(title)
            .bind(title.map(str::to_lowercase))
            .bind(body)
            .bind(now.get())
            .bind(id)
            .fetch_optional(self.writer())
            .await?;
            Ok(row.map(|(id, title, body)| SavedReplyRecord { id, title, body }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn delete_saved_reply(&self, id: i64) -> StoreResult<bool> {
            let removed = sqlx::query("DELETE FROM saved_replies WHERE id = $1").bind(id).execute(self.writer()).await?.rows_affected();
            Ok(removed > 0)
        }

        #[instrument(level = "debug", skip_all)]
        async fn support_facts(&self, period: Period) -> StoreResult<SupportFacts> {
            let (first_day, last_day) = period.days();
            let (from, to) = (period.from.get(), period.to.get());
            // support_days' primary key (day, shard)
            let days: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT day, CAST(SUM(seller_messages) AS BIGINT), CAST(SUM(admin_messages) AS BIGINT), \
                 CAST(SUM(chats_opened) AS BIGINT), CAST(SUM(chats_resolved) AS BIGINT) \
                 FROM support_days WHERE day >= $1 AND day <= $2 GROUP BY day ORDER BY day",
            )
            .bind(first_day)
            .bind(last_day)
            .fetch_all(self.readers())
            .await?;
            // support_responses_by_time
            let responses: Vec<(String, i64)> =
                sqlx::query_as("SELECT agent, answered_at - waiting_since FROM support_responses WHERE answered_at >= $1 AND answered_at < $2")
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.readers())
                    .await?;
            // support_resolutions_by_time
            let resolutions: Vec<(String, Option<i64>)> =
                sqlx::query_as("SELECT agent, resolved_at - opened_at FROM support_resolutions WHERE resolved_at >= $1 AND resolved_at < $2")
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.readers())
                    .await?;
            // support_agent_days' primary key (day, agent)
            let agent_messages: Vec<(String, i64)> = sqlx::query_as(
                "SELECT agent, CAST(SUM(messages) AS BIGINT) FROM support_agent_days WHERE day >= $1 AND day <= $2 GROUP BY agent ORDER BY agent",
            )
            .bind(first_day)
            .bind(last_day)
            .fetch_all(self.readers())
            .await?;
            Ok(SupportFacts { days, responses, resolutions, agent_messages })
        }
    }
}

/// An operator user from (id, name, email, role).
fn operator_user((id, name, email, role): (i64, String, Option<String>, String)) -> OperatorUserRecord {
    OperatorUserRecord { id, name, email: email.unwrap_or_default(), role }
}

/// Support statements both dialects run alike inside a write transaction.
struct SupportWrites<DB>(PhantomData<DB>);

every_backend! {
    impl SupportWrites<DB> {
        /// Sets one column of `seller_id`'s chat (`set` binds `value` as `$1`) and records a
        /// `chat_updated` event; false, with nothing written, for an unknown chat.
        async fn update_chat(conn: &mut DB::Connection, set: &str, value: Option<i64>, seller_id: SellerId, now: UnixMillis) -> StoreResult<bool> {
            let changed = sqlx::query(&format!("UPDATE chats SET {set} WHERE seller_id = $2"))
                .bind(value)
                .bind(seller_id.get())
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            chat_updated_event::<DB>(&mut *conn, seller_id, now).await?;
            Ok(true)
        }
    }
}
