//! E-mail notifications (SPEC §13): the notifier's cursor into the event feed, the unread
//! stretches it derives from the feed, the e-mails made of them and the users who opted
//! out; what storage offers for them, and the statements every SQL back end runs for it,
//! written once.

use super::records::{MessageRecord, StoreResult};
use super::sql::{every_backend, Dialect, RecordRow, RowsAffected, MESSAGE_COLUMNS};
use crate::domain::cursor::EventCursor;
use crate::domain::ids::{MessageId, SellerId};
use crate::domain::time::UnixMillis;
use crate::domain::Side;
use async_trait::async_trait;
use tracing::instrument;

/// Who a stretch tells: the seller's users (about unread Admin messages) or the operator's
/// staff (about Seller messages awaiting a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifiedSide {
    /// The seller's users.
    Seller,
    /// The operator's staff.
    Operator,
}

impl NotifiedSide {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifiedSide::Seller => "seller",
            NotifiedSide::Operator => "operator",
        }
    }

    fn parse(raw: &str) -> Self {
        if raw == "operator" {
            NotifiedSide::Operator
        } else {
            NotifiedSide::Seller
        }
    }
}

/// What one event of the feed does to the stretches, in feed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StretchChange {
    /// Opens a stretch for the chat and side unless one is open (one that came due
    /// without an e-mail ends first).
    Open {
        /// Who is told.
        side: NotifiedSide,
        /// The chat.
        seller_id: SellerId,
        /// The message that opens it.
        message_id: MessageId,
        /// When its e-mails are due.
        due_at: UnixMillis,
    },
    /// Ends the chat's open stretch of that side (the read, or the reply).
    End {
        /// Whose stretch.
        side: NotifiedSide,
        /// The chat.
        seller_id: SellerId,
    },
}

/// A stretch claimed at its due time.
#[derive(Debug, Clone)]
pub struct DueStretch {
    /// Row number.
    pub id: i64,
    /// Who is told.
    pub side: NotifiedSide,
    /// The chat.
    pub seller_id: SellerId,
    /// When it came due.
    pub due_at: UnixMillis,
}

/// A user an e-mail may go to.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The user's row number.
    pub user_id: i64,
    /// Their e-mail address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Whether they came through the marketplace's embed sign-in (§11).
    pub embedded: bool,
}

/// An e-mail to queue.
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// To whom.
    pub user_id: i64,
    /// Their address.
    pub recipient: String,
    /// The stable `Message-ID` (with angle brackets).
    pub message_id: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// The signed one-click unsubscribe link.
    pub unsubscribe_url: String,
}

/// A queued e-mail claimed for an attempt.
#[derive(Debug, Clone)]
pub struct EmailRecord {
    /// Row number.
    pub id: i64,
    /// Its address.
    pub recipient: String,
    /// Its `Message-ID`.
    pub message_id: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// The one-click unsubscribe link.
    pub unsubscribe_url: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: UnixMillis,
}

/// What an attempt at sending came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    /// The SMTP server took it.
    Sent,
    /// Try again at this time.
    Retry(UnixMillis),
    /// No more attempts.
    GiveUp,
}

/// An e-mail as `marketchat notifications` lists it.
#[derive(Debug, Clone)]
pub struct EmailSummary {
    /// Row number.
    pub id: i64,
    /// Who was told.
    pub side: NotifiedSide,
    /// The chat.
    pub seller_id: SellerId,
    /// The address.
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub state: &'static str,
    /// Attempts made.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: UnixMillis,
    /// When it was sent, or when it is next tried (pending), or when it was given up.
    pub at: UnixMillis,
    /// The latest attempt's error.
    pub last_error: Option<String>,
}

/// A stretch waiting for its due time, as `marketchat notifications` lists it.
#[derive(Debug, Clone)]
pub struct WaitingStretch {
    /// Row number.
    pub id: i64,
    /// Who would be told.
    pub side: NotifiedSide,
    /// The chat.
    pub seller_id: SellerId,
    /// When its e-mails are due.
    pub due_at: UnixMillis,
}

/// An e-mail row as listed: id, side, seller, recipient, attempts, created, next, sent, failed, error.
type SummaryRow = (i64, String, i64, String, i64, i64, i64, Option<i64>, Option<i64>, Option<String>);

/// E-mail notifications (a part of [`Store`](super::Store)).
#[async_trait]
pub trait NotificationStore {
    /// The notifier's cursor, set to `head` the first time it is asked for (so it starts
    /// with what happens next).
    async fn notification_cursor(&self, head: EventCursor) -> StoreResult<EventCursor>;
    /// Moves the cursor from `from` to `to` and applies `changes`, in one transaction;
    /// false (and nothing changed) when another worker moved the cursor first.
    async fn apply_stretch_changes(&self, from: EventCursor, to: EventCursor, changes: &[StretchChange], now: UnixMillis) -> StoreResult<bool>;
    /// Claims up to `limit` open stretches due at `now` until `lease_until`.
    async fn claim_due_stretches(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<DueStretch>>;
    /// Queues a claimed stretch's e-mails (none: it is skipped), once: false when the
    /// stretch was queued, skipped or ended meanwhile.
    async fn queue_emails(&self, stretch_id: i64, emails: &[NewEmail], now: UnixMillis) -> StoreResult<bool>;
    /// The newest `limit` messages of `sent_by` in a chat that are unread, or (with
    /// `since`) those among the chat's newest `limit` created at or after it; newest first.
    async fn notified_messages(&self, seller_id: SellerId, sent_by: Side, since: Option<UnixMillis>, limit: i64) -> StoreResult<Vec<MessageRecord>>;
    /// Enabled seller users of `seller_id` with an e-mail address who did not opt out.
    async fn seller_recipients(&self, seller_id: SellerId) -> StoreResult<Vec<Recipient>>;
    /// Enabled operator users with an e-mail address who did not opt out, with their
    /// roles: only `assignee` when given.
    async fn operator_recipients(&self, assignee: Option<i64>) -> StoreResult<Vec<(Recipient, String)>>;
    /// Claims up to `limit` unsent e-mails due at `now` until `lease_until`.
    async fn claim_emails(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<EmailRecord>>;
    /// Records an attempt at sending (a sent or given-up e-mail keeps no body).
    async fn record_email_attempt(&self, email_id: i64, now: UnixMillis, error: Option<&str>, outcome: EmailOutcome) -> StoreResult<()>;
    /// Unsent e-mails and the newest `limit` others, newest first.
    async fn list_emails(&self, limit: i64) -> StoreResult<Vec<EmailSummary>>;
    /// Stretches waiting for their due time, soonest first.
    async fn waiting_stretches(&self, limit: i64) -> StoreResult<Vec<WaitingStretch>>;
    /// Whether the user switched e-mails off.
    async fn opted_out(&self, user_id: i64) -> StoreResult<bool>;
    /// Switches a user's e-mails off (`true`) or on; false when there is no such user.
    async fn set_opted_out(&self, user_id: i64, opted_out: bool, now: UnixMillis) -> StoreResult<bool>;
    /// The stored value of a setting, storing `candidate` first if it has none (every
    /// node ends up with the same value).
    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;
}

every_backend! {
    #[async_trait]
    impl NotificationStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn notification_cursor(&self, head: EventCursor) -> StoreResult<EventCursor> {
            let known: Option<(i64, i64)> = sqlx::query_as("SELECT cursor_tx, cursor_seq FROM notification_cursor WHERE id = 1").fetch_optional(self.writer()).await?;
            if let Some((tx, seq)) = known {
                return Ok(EventCursor { tx, seq });
            }
            sqlx::query("INSERT INTO notification_cursor (id, cursor_tx, cursor_seq) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(head.tx)
                .bind(head.seq)
                .execute(self.writer())
                .await?;
            let (tx, seq): (i64, i64) = sqlx::query_as("SELECT cursor_tx, cursor_seq FROM notification_cursor WHERE id = 1").fetch_one(self.writer()).await?;
            Ok(EventCursor { tx, seq })
        }

        #[instrument(level = "debug", skip_all, fields(changes = changes.len()))]
        async fn apply_stretch_changes(&self, from: EventCursor, to: EventCursor, changes: &[StretchChange], now: UnixMillis) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            // Compare and set: of two workers reading the same events, one applies them.
            let moved = sqlx::query("UPDATE notification_cursor SET cursor_tx = $1, cursor_seq = $2 WHERE id = 1 AND cursor_tx = $3 AND cursor_seq = $4")
                .bind(to.tx)
                .bind(to.seq)
                .bind(from.tx)
                .bind(from.seq)
                .execute(&mut *tx)
                .await?;
            if moved.rows_affected() != 1 {
                return Ok(false);
            }
            for change in changes {
                match change {
                    StretchChange::Open { side, seller_id, message_id, due_at } => {
                        // A stretch that came due without an e-mail (nobody to tell, nothing
                        // left to tell) gives way to the new one.
                        sqlx::query("UPDATE notification_stretches SET ended_at = $1 WHERE side = $2 AND seller_id = $3 AND ended_at IS NULL AND state = 'skipped'")
                            .bind(now.get())
                            .bind(side.as_str())
                            .bind(seller_id.get())
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "INSERT INTO notification_stretches (side, seller_id, first_message_id, due_at, created_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(side.as_str())
                        .bind(seller_id.get())
                        .bind(message_id.get())
                        .bind(due_at.get())
                        .bind(now.get())
                        .execute(&mut *tx)
                        .await?;
                    }
                    StretchChange::End { side, seller_id } => {
                        sqlx::query(
                            "UPDATE notification_stretches SET ended_at = $1, state = CASE WHEN state = 'waiting' THEN 'ended' ELSE state END \
                             WHERE side = $2 AND seller_id = $3 AND ended_at IS NULL",
                        )
                        .bind(now.get())
                        .bind(side.as_str())
                        .bind(seller_id.get())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(true)
        }

        #[instrument(level = "debug", skip_all)]
        async fn claim_due_stretches(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<DueStretch>> {
            let skip_locked = if B::Db::ROW_LOCKS { " FOR UPDATE SKIP LOCKED" } else { "" };
            let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(&format!(
                "UPDATE notification_stretches SET due_at = $1 WHERE id IN ( \
                   SELECT id FROM notification_stretches WHERE state = 'waiting' AND ended_at IS NULL AND due_at <= $2 \
                   ORDER BY due_at LIMIT $3{skip_locked}) \
                 RETURNING id, side, seller_id, due_at"
            ))
            .bind(lease_until.get())
            .bind(now.get())
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, side, seller_id, due_at)| DueStretch { id, side: NotifiedSide::parse(&side), seller_id: SellerId::from(seller_id), due_at: UnixMillis::from(due_at) })
                .collect())
        }

        #[instrument(level = "debug", skip_all, fields(stretch_id, emails = emails.len()))]
        async fn queue_emails(&self, stretch_id: i64, emails: &[NewEmail], now: UnixMillis) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let state = if emails.is_empty() { "skipped" } else { "queued" };
            let claimed = sqlx::query("UPDATE notification_stretches SET state = $1 WHERE id = $2 AND state = 'waiting' AND ended_at IS NULL")
                .bind(state)
                .bind(stretch_id)
                .execute(&mut *tx)
                .await?;
            if claimed.rows_affected() != 1 {
                return Ok(false);
            }
            for email in emails {
                sqlx::query(
                    "INSERT INTO notification_emails (stretch_id, user_id, recipient, message_id, subject, text_body, html_body, unsubscribe_url, created_at, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING",
                )
                .bind(stretch_id)
                .bind(email.user_id)
                .bind(&email.recipient)
                .bind(&email.message_id)
                .bind(&email.subject)
                .bind(&email.text_body)
                .bind(&email.html_body)
                .bind(&email.unsubscribe_url)
                .bind(now.get())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn notified_messages(&self, seller_id: SellerId, sent_by: Side, since: Option<UnixMillis>, limit: i64) -> StoreResult<Vec<MessageRecord>> {
            // Unread ones by the partial index `messages_unread`. Those since a time are the
            // newest of the thread (the waiting Seller messages follow the last Admin one):
            // the newest `limit` by `messages_by_thread`, filtered, never a scan of the thread.
            let query = match since {
                Some(_) => format!(
                    "SELECT {MESSAGE_COLUMNS} FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 ORDER BY seq DESC LIMIT $4) newest \
                     WHERE sent_by = $2 AND created_at >= $3 ORDER BY seq DESC"
                ),
                None => format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = $1 AND sent_by = $2 AND read_at IS NULL ORDER BY seq DESC LIMIT $3"),
            };
            let mut statement = sqlx::query(&query).bind(seller_id.get()).bind(sent_by.as_str());
            if let Some(since) = since {
                statement = statement.bind(since.get());
            }
            let rows = statement.bind(limit).fetch_all(self.readers()).await?;
            Ok(rows.iter().map(|r| r.message(0)).collect::<Result<_, _>>()?)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn seller_recipients(&self, seller_id: SellerId) -> StoreResult<Vec<Recipient>> {
            let rows: Vec<(i64, String, String, bool)> = sqlx::query_as(
                "SELECT u.id, u.email, u.name, u.external_id IS NOT NULL FROM users u \
                 WHERE u.seller_id = $1 AND u.disabled_at IS NULL AND u.email IS NOT NULL AND u.email <> '' \
                 AND NOT EXISTS (SELECT 1 FROM notification_opt_outs o WHERE o.user_id = u.id) ORDER BY u.id",
            )
            .bind(seller_id.get())
            .fetch_all(self.readers())
            .await?;
            Ok(rows.into_iter().map(|(user_id, email, name, embedded)| Recipient { user_id, email, name, embedded }).collect())
        }

        #[instrument(level = "debug", skip_all)]
        async fn operator_recipients(&self, assignee: Option<i64>) -> StoreResult<Vec<(Recipient, String)>> {
            let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
                "SELECT u.id, u.email, u.name, u.role FROM users u \
                 WHERE u.seller_id IS NULL AND u.role IS NOT NULL AND u.disabled_at IS NULL AND u.email IS NOT NULL AND u.email <> '' \
                 AND ($1 < 0 OR u.id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM notification_opt_outs o WHERE o.user_id = u.id) ORDER BY u.id",
            )
            .bind(assignee.unwrap_or(-1))
            .fetch_all(self.readers())
            .await?;
            Ok(rows.into_iter().map(|(user_id, email, name, role)| (Recipient { user_id, email, name, embedded: false }, role)).collect())
        }

        #[instrument(level = "debug", skip_all)]
        async fn claim_emails(&self, now: UnixMillis, lease_until: UnixMillis, limit: i64) -> StoreResult<Vec<EmailRecord>> {
            let skip_locked = if B::Db::ROW_LOCKS { " FOR UPDATE SKIP LOCKED" } else { "" };
            type Row = (i64, String, String, String, Option<String>, Option<String>, String, i64, i64);
            let rows: Vec<Row> = sqlx::query_as(&format!(
                "UPDATE notification_emails SET next_attempt_at = $1 WHERE id IN ( \
                   SELECT id FROM notification_emails WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
                   ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
                 RETURNING id, recipient, message_id, subject, text_body, html_body, unsubscribe_url, attempts, created_at"
            ))
            .bind(lease_until.get())
            .bind(now.get())
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, recipient, message_id, subject, text_body, html_body, unsubscribe_url, attempts, created_at)| EmailRecord {
                    id,
                    recipient,
                    message_id,
                    subject,
                    text_body: text_body.unwrap_or_default(),
                    html_body: html_body.unwrap_or_default(),
                    unsubscribe_url,
                    attempts,
                    created_at: UnixMillis::from(created_at),
                })
                .collect())
        }

        #[instrument(level = "debug", skip_all, fields(email_id))]
        async fn record_email_attempt(&self, email_id: i64, now: UnixMillis, error: Option<&str>, outcome: EmailOutcome) -> StoreResult<()> {
            let (sent_at, failed_at, next_attempt_at) = match outcome {
                EmailOutcome::Sent => (Some(now), None, now),
                EmailOutcome::Retry(at) => (None, None, at),
                EmailOutcome::GiveUp => (None, Some(now), now),
            };
            let done = !matches!(outcome, EmailOutcome::Retry(_));
            sqlx::query(
                "UPDATE notification_emails SET attempts = attempts + 1, sent_at = $1, failed_at = $2, next_attempt_at = $3, last_error = $4, \
                 text_body = CASE WHEN $5 THEN NULL ELSE text_body END, html_body = CASE WHEN $5 THEN NULL ELSE html_body END WHERE id = $6",
            )
            .bind(sent_at.map(|v| v.get()))
            .bind(failed_at.map(|v| v.get()))
            .bind(next_attempt_at.get())
            .bind(error)
            .bind(done)
            .bind(email_id)
            .execute(self.writer())
            .await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_emails(&self, limit: i64) -> StoreResult<Vec<EmailSummary>> {
            let columns = "e.id, s.side, s.seller_id, e.recipient, e.attempts, e.created_at, e.next_attempt_at, e.sent_at, e.failed_at, e.last_error";
            let sql = format!(
                "SELECT {columns} FROM notification_emails e JOIN notification_stretches s ON s.id = e.stretch_id WHERE e.sent_at IS NULL AND e.failed_at IS NULL \
                 UNION ALL \
                 SELECT * FROM (SELECT {columns} FROM notification_emails e JOIN notification_stretches s ON s.id = e.stretch_id \
                   WHERE e.sent_at IS NOT NULL OR e.failed_at IS NOT NULL ORDER BY e.created_at DESC LIMIT $1) recent"
            );
            let mut rows: Vec<SummaryRow> = sqlx::query_as(&sql).bind(limit).fetch_all(self.readers()).await?;
            rows.sort_by(|a, b| b.5.cmp(&a.5).then(b.0.cmp(&a.0)));
            Ok(rows
                .into_iter()
                .map(|(id, side, seller_id, recipient, attempts, created_at, next_attempt_at, sent_at, failed_at, last_error)| {
                    let (state, at) = match (sent_at, failed_at) {
                        (Some(at), _) => ("sent", at),
                        (None, Some(at)) => ("failed", at),
                        (None, None) => ("pending", next_attempt_at),
                    };
                    EmailSummary {
                        id,
                        side: NotifiedSide::parse(&side),
                        seller_id: SellerId::from(seller_id),
                        recipient,
                        state,
                        attempts,
                        created_at: UnixMillis::from(created_at),
                        at: UnixMillis::from(at),
                        last_error,
                    }
                })
                .collect())
        }

        #[instrument(level = "debug", skip_all)]
        async fn waiting_stretches(&self, limit: i64) -> StoreResult<Vec<WaitingStretch>> {
            let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT id, side, seller_id, due_at FROM notification_stretches WHERE state = 'waiting' AND ended_at IS NULL ORDER BY due_at LIMIT $1",
            )
            .bind(limit)
            .fetch_all(self.readers())
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, side, seller_id, due_at)| WaitingStretch { id, side: NotifiedSide::parse(&side), seller_id: SellerId::from(seller_id), due_at: UnixMillis::from(due_at) })
                .collect())
        }

        #[instrument(level = "debug", skip_all, fields(user_id))]
        async fn opted_out(&self, user_id: i64) -> StoreResult<bool> {
            Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM notification_opt_outs WHERE user_id = $1)").bind(user_id).fetch_one(self.readers()).await?)
        }

        #[instrument(level = "debug", skip_all, fields(user_id))]
        async fn set_opted_out(&self, user_id: i64, opted_out: bool, now: UnixMillis) -> StoreResult<bool> {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)").bind(user_id).fetch_one(self.writer()).await?;
            if !exists {
                return Ok(false);
            }
            let statement = if opted_out {
                sqlx::query("INSERT INTO notification_opt_outs (user_id, opted_out_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING").bind(user_id).bind(now.get())
            } else {
                sqlx::query("DELETE FROM notification_opt_outs WHERE user_id = $1").bind(user_id)
            };
            statement.execute(self.writer()).await?;
            Ok(true)
        }

        #[instrument(level = "debug", skip_all)]
        async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(candidate)
                .execute(self.writer())
                .await?;
            Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(self.writer()).await?)
        }
    }
}
