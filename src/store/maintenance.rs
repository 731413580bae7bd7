//! Maintenance: checking that every stored counter equals what the rows it summarises
//! say, and recomputing them (`marketchat check [--repair]`), with the statements every
//! SQL back end shares written once. The database's own integrity check and the backup
//! copy differ per dialect and are `Store` methods (`sqlite/maintenance.rs`,
//! `postgres/maintenance.rs`).
//!
//! What is derived, and so checked (the counter rule is in the store module's docs):
//!
//! - per chat: the total (`message_count - removed_count`) = its stored messages;
//!   `message_count` (the last `seq` handed out) ≥ its highest stored `seq`;
//!   `unread_by_seller` / `unread_by_operator` = the other side's stored messages with no
//!   `read_at`; `last_message_id` = the message with the highest `seq` (NULL when none);
//!   `awaiting_since` = `createdAt` of the first `Seller` message after the last `Admin`
//!   message (NULL when none), checked unless retention removed the chat's last `Admin`
//!   message (then what it waited since is gone with the removed rows);
//! - the event feed: each stored message has exactly one `message_created` event (not
//!   repairable: a new event would come after positions clients already hold);
//! - ID counters, which must never hand a value out twice: the messages' ID counter ≥ the
//!   highest message ID; the events' counter ≥ the highest event position and every feed
//!   cursor kept for webhooks and e-mail notifications.
//!
//! Not derived, so not checked: `status`, `assignee_id`, `opened_at` and
//! `marked_unread_at` (state the support inbox sets), and the statistics tables
//! (`support_days`, `support_agent_days`, `support_responses`, `support_resolutions`),
//! which keep history that retention removes from `messages` on purpose.

use super::records::StoreResult;
use super::sql::{every_backend, Dialect};
use crate::domain::ids::SellerId;
use crate::domain::time::UnixMillis;
use async_trait::async_trait;
use tracing::instrument;

/// One stored value that disagrees with the rows it summarises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterMismatch {
    /// The chat it belongs to; `None` for a database-wide value.
    pub seller_id: Option<SellerId>,
    /// Which value, as stored (`unread_by_operator`, `events ID counter`, …).
    pub counter: String,
    /// What is stored.
    pub stored: String,
    /// What the rows say it must be.
    pub expected: String,
    /// Whether `repair_counters` can recompute it.
    pub repairable: bool,
}

/// Checking and recomputing derived values (a part of `Store`).
#[async_trait]
pub trait MaintenanceStore {
    /// Every derived value that disagrees with the rows, read in one snapshot.
    async fn counter_mismatches(&self) -> StoreResult<Vec<CounterMismatch>>;
    /// Recomputes every repairable mismatch in one write transaction; returns what it
    /// changed (a second check then finds only what is not repairable).
    async fn repair_counters(&self) -> StoreResult<Vec<CounterMismatch>>;
    /// How many chats and stored messages there are (for the check's summary).
    async fn chat_and_message_totals(&self) -> StoreResult<(i64, i64)>;
    /// Notification e-mails due by `now` and neither sent nor given up (a monitoring
    /// gauge; read through the sender's queue index).
    async fn due_email_backlog(&self, now: UnixMillis) -> StoreResult<i64>;
}

/// Per chat: what is stored, then what the messages say (see [`ChatFacts`]).
const CHAT_FACTS: &str = "SELECT c.seller_id, c.message_count, c.removed_count, c.unread_by_seller, c.unread_by_operator, \
     c.last_message_id, c.awaiting_since, \
     (SELECT COUNT(*) FROM messages m WHERE m.seller_id = c.seller_id), \
     (SELECT COALESCE(MAX(m.seq), 0) FROM messages m WHERE m.seller_id = c.seller_id), \
     (SELECT COUNT(*) FROM messages m WHERE m.seller_id = c.seller_id AND m.sent_by = 'Admin' AND m.read_at IS NULL), \
     (SELECT COUNT(*) FROM messages m WHERE m.seller_id = c.seller_id AND m.sent_by = 'Seller' AND m.read_at IS NULL), \
     (SELECT m.id FROM messages m WHERE m.seller_id = c.seller_id ORDER BY m.seq DESC LIMIT 1), \
     (SELECT MAX(m.seq) FROM messages m WHERE m.seller_id = c.seller_id AND m.sent_by = 'Admin'), \
     (SELECT m.created_at FROM messages m WHERE m.seller_id = c.seller_id AND m.sent_by = 'Seller' \
        AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a WHERE a.seller_id = c.seller_id AND a.sent_by = 'Admin'), 0) \
        ORDER BY m.seq LIMIT 1) \
     FROM chats c ORDER BY c.seller_id";

/// Messages without exactly one `message_created` event: seller, message, how many.
const MESSAGES_WITHOUT_ONE_EVENT: &str = "SELECT seller_id, id, created_events FROM (\
     SELECT m.seller_id, m.id, (SELECT COUNT(*) FROM events e WHERE e.message_id = m.id AND e.kind = 'message_created') AS created_events \
     FROM messages m) counted WHERE created_events <> 1 ORDER BY id LIMIT 1000";

/// The highest feed position anything refers to: stored events and the feed cursors of
/// webhook endpoints and the notifier.
const HIGHEST_EVENT_POSITION: &str = "SELECT GREATEST_OF FROM (SELECT \
     (SELECT COALESCE(MAX(seq), 0) FROM events) AS events, \
     (SELECT COALESCE(MAX(cursor_seq), 0) FROM webhook_endpoints) AS webhooks, \
     (SELECT COALESCE(MAX(cursor_seq), 0) FROM notification_cursor) AS notifier) positions";

/// One chat's row of [`CHAT_FACTS`].
type ChatFactsRow = (i64, i64, i64, i64, i64, Option<i64>, Option<i64>, i64, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>);

/// One chat: its stored counters and what its messages say.
#[derive(Debug)]
struct ChatFacts {
    seller_id: i64,
    /// The counters as stored in the chat row.
    stored: ChatCounters,
    /// Stored messages.
    messages: i64,
    /// Highest stored `seq` (0 when none).
    highest_seq: i64,
    /// Stored `Admin` messages with no `read_at`.
    admin_unread: i64,
    /// Stored `Seller` messages with no `read_at`.
    seller_unread: i64,
    /// The stored message with the highest `seq`.
    newest_id: Option<i64>,
    /// The last stored `Admin` message's `seq`.
    last_admin_seq: Option<i64>,
    /// `createdAt` of the first `Seller` message after it.
    waiting_since: Option<i64>,
}

impl From<ChatFactsRow> for ChatFacts {
    fn from(row: ChatFactsRow) -> Self {
        let (seller_id, message_count, removed_count, unread_by_seller, unread_by_operator, last_message_id, awaiting_since, messages, highest_seq, admin_unread, seller_unread, newest_id, last_admin_seq, waiting_since) = row;
        let stored = ChatCounters { message_count, removed_count, unread_by_seller, unread_by_operator, last_message_id, awaiting_since };
        Self { seller_id, stored, messages, highest_seq, admin_unread, seller_unread, newest_id, last_admin_seq, waiting_since }
    }
}

/// What a chat's counters must be, recomputed from its messages.
#[derive(Debug, PartialEq, Eq)]
struct ChatCounters {
    message_count: i64,
    removed_count: i64,
    unread_by_seller: i64,
    unread_by_operator: i64,
    last_message_id: Option<i64>,
    awaiting_since: Option<i64>,
}

impl ChatFacts {
    /// Whether `awaiting_since` can be told from the stored messages: unless retention
    /// removed messages and no `Admin` message is left (the wait began in removed rows).
    fn awaiting_is_derivable(&self) -> bool {
        self.stored.removed_count == 0 || self.last_admin_seq.is_some()
    }

    /// The counters the messages call for. `message_count` never goes down (a `seq` is
    /// never handed out twice); the removed count is what it has handed out beyond the
    /// stored messages.
    fn expected(&self) -> ChatCounters {
        let message_count = self.stored.message_count.max(self.highest_seq);
        ChatCounters {
            message_count,
            removed_count: message_count - self.messages,
            unread_by_seller: self.admin_unread,
            unread_by_operator: self.seller_unread,
            last_message_id: self.newest_id,
            awaiting_since: if self.awaiting_is_derivable() { self.waiting_since } else { self.stored.awaiting_since },
        }
    }

    /// Each stored counter that differs from what the messages call for.
    fn mismatches(&self) -> Vec<CounterMismatch> {
        let (stored, expected) = (&self.stored, self.expected());
        let mut found = Vec::new();
        let mut differs = |counter: &str, stored: String, expected: String| {
            if stored != expected {
                found.push(CounterMismatch { seller_id: Some(SellerId::from(self.seller_id)), counter: counter.to_owned(), stored, expected, repairable: true });
            }
        };
        let shown = |value: Option<i64>| value.map_or_else(|| "none".to_owned(), |v| v.to_string());
        differs("message_count (last seq handed out)", stored.message_count.to_string(), expected.message_count.to_string());
        differs(
            "total messages (message_count - removed_count)",
            (stored.message_count - stored.removed_count).to_string(),
            self.messages.to_string(),
        );
        differs("unread_by_seller", stored.unread_by_seller.to_string(), expected.unread_by_seller.to_string());
        differs("unread_by_operator", stored.unread_by_operator.to_string(), expected.unread_by_operator.to_string());
        differs("last_message_id", shown(stored.last_message_id), shown(expected.last_message_id));
        differs("awaiting_since", shown(stored.awaiting_since), shown(expected.awaiting_since));
        found
    }
}

/// A database-wide ID counter that is lower than a value it has handed out.
fn id_counter_mismatch(table: &str, stored: i64, highest: i64) -> Option<CounterMismatch> {
    (stored < highest).then(|| CounterMismatch {
        seller_id: None,
        counter: format!("{table} ID counter"),
        stored: stored.to_string(),
        expected: format!("at least {highest}"),
        repairable: true,
    })
}

every_backend! {
    #[async_trait]
    impl MaintenanceStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn counter_mismatches(&self) -> StoreResult<Vec<CounterMismatch>> {
            // One read transaction: every statement sees the same snapshot, however many
            // messages commit meanwhile.
            let mut tx = self.readers().begin().await?;
            if let Some(snapshot) = <B::Db as Dialect>::READ_SNAPSHOT {
                sqlx::query(snapshot).execute(&mut *tx).await?;
            }
            let chats: Vec<ChatFactsRow> = sqlx::query_as(CHAT_FACTS).fetch_all(&mut *tx).await?;
            let mut found: Vec<CounterMismatch> = chats.into_iter().map(ChatFacts::from).flat_map(|chat| chat.mismatches()).collect();
            let unevented: Vec<(i64, i64, i64)> = sqlx::query_as(MESSAGES_WITHOUT_ONE_EVENT).fetch_all(&mut *tx).await?;
            found.extend(unevented.into_iter().map(|(seller_id, message_id, events)| CounterMismatch {
                seller_id: Some(SellerId::from(seller_id)),
                counter: format!("message_created events of message {message_id}"),
                stored: events.to_string(),
                expected: "1".to_owned(),
                repairable: false,
            }));
            for (table, highest) in id_counter_needs::<B::Db>(&mut tx).await? {
                let stored: i64 = sqlx::query_scalar(&<B::Db as Dialect>::id_counter(table)).fetch_one(&mut *tx).await?;
                found.extend(id_counter_mismatch(table, stored, highest));
            }
            tx.rollback().await?;
            Ok(found)
        }

        #[instrument(level = "debug", skip_all)]
        async fn repair_counters(&self) -> StoreResult<Vec<CounterMismatch>> {
            let mut tx = self.begin_write().await?;
            if B::Db::ROW_LOCKS {
                // Every writer locks its chat's row first: holding them all, nothing that
                // changes a counter commits while the counters are recomputed.
                sqlx::query("SELECT seller_id FROM chats ORDER BY seller_id FOR UPDATE").execute(&mut *tx).await?;
            }
            let chats: Vec<ChatFactsRow> = sqlx::query_as(CHAT_FACTS).fetch_all(&mut *tx).await?;
            let mut fixed = Vec::new();
            for chat in chats.into_iter().map(ChatFacts::from) {
                let mismatches = chat.mismatches();
                if mismatches.is_empty() {
                    continue;
                }
                let expected = chat.expected();
                sqlx::query(
                    "UPDATE chats SET message_count = $1, removed_count = $2, unread_by_seller = $3, unread_by_operator = $4, \
                     last_message_id = $5, awaiting_since = $6 WHERE seller_id = $7",
                )
                .bind(expected.message_count)
                .bind(expected.removed_count)
                .bind(expected.unread_by_seller)
                .bind(expected.unread_by_operator)
                .bind(expected.last_message_id)
                .bind(expected.awaiting_since)
                .bind(chat.seller_id)
                .execute(&mut *tx)
                .await?;
                fixed.extend(mismatches);
            }
            for (table, highest) in id_counter_needs::<B::Db>(&mut tx).await? {
                let stored: i64 = sqlx::query_scalar(&<B::Db as Dialect>::id_counter(table)).fetch_one(&mut *tx).await?;
                if let Some(mismatch) = id_counter_mismatch(table, stored, highest) {
                    for statement in <B::Db as Dialect>::raise_id_counter(table) {
                        sqlx::query(&statement).bind(highest).execute(&mut *tx).await?;
                    }
                    fixed.push(mismatch);
                }
            }
            tx.commit().await?;
            Ok(fixed)
        }

        #[instrument(level = "debug", skip_all)]
        async fn chat_and_message_totals(&self) -> StoreResult<(i64, i64)> {
            let totals = sqlx::query_as("SELECT (SELECT COUNT(*) FROM chats), (SELECT COUNT(*) FROM messages)").fetch_one(self.readers()).await?;
            Ok(totals)
        }

        #[instrument(level = "debug", skip_all)]
        async fn due_email_backlog(&self, now: UnixMillis) -> StoreResult<i64> {
            let backlog = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notification_emails WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1",
            )
            .bind(now.get())
            .fetch_one(self.readers())
            .await?;
            Ok(backlog)
        }
    }
}

/// The lowest value each ID counter may hold: messages' the highest message ID; events'
/// the highest feed position stored or held by a cursor.
async fn id_counter_needs<DB>(tx: &mut sqlx::Transaction<'static, DB>) -> StoreResult<Vec<(&'static str, i64)>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: super::sql::Value<DB>,
{
    let highest_message: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM messages").fetch_one(&mut **tx).await?;
    let positions = HIGHEST_EVENT_POSITION.replace("GREATEST_OF", DB::GREATEST_OF_POSITIONS);
    let highest_event: i64 = sqlx::query_scalar(&positions).fetch_one(&mut **tx).await?;
    Ok(vec![("messages", highest_message), ("events", highest_event)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(row: ChatFactsRow) -> ChatFacts {
        ChatFacts::from(row)
    }

    #[test]
    fn a_sound_chat_has_no_mismatch() {
        // 3 messages handed out, 1 removed by retention, one unread each way.
        let sound = chat((1, 3, 1, 1, 1, Some(30), Some(500), 2, 3, 1, 1, Some(30), Some(2), Some(500)));
        assert_eq!(sound.mismatches(), vec![]);
    }

    #[test]
    fn each_wrong_counter_is_one_mismatch_and_the_seq_counter_never_goes_down() {
        let wrong = chat((1, 9, 0, 4, 0, Some(7), None, 2, 2, 1, 1, Some(30), Some(1), Some(500)));
        let counters: Vec<String> = wrong.mismatches().into_iter().map(|m| m.counter).collect();
        assert_eq!(
            counters,
            ["total messages (message_count - removed_count)", "unread_by_seller", "unread_by_operator", "last_message_id", "awaiting_since"]
        );
        let expected = wrong.expected();
        assert_eq!((expected.message_count, expected.removed_count), (9, 7), "a seq handed out is never handed out again");
    }

    #[test]
    fn awaiting_since_is_left_alone_when_retention_removed_the_last_admin_message() {
        let removed = chat((1, 5, 3, 0, 2, Some(50), Some(100), 2, 5, 0, 2, Some(50), None, Some(400)));
        assert_eq!(removed.mismatches(), vec![]);
    }
}
