//! The notification worker: each round it turns new events into stretch changes, writes
//! the e-mails of stretches that came due, and sends due e-mails (each attempt on its
//! own task, retried with exponential back-off and jitter, recorded).

use super::smtp::{Mailer, SendFailure, SmtpTarget};
use super::preferences::NotificationService;
use crate::domain::cursor::EventCursor;
use crate::domain::notification::{delay_in_words, render, EmailContent, EmailKind, Quote, MAX_QUOTED_MESSAGES};
use crate::domain::users::OperatorRole;
use crate::domain::Side;
use crate::metrics::{DeliveryLabels, Metrics};
use crate::service::clock::Clock;
use crate::service::webhooks::backoff;
use crate::store::{ChatStatus, DueStretch, EmailOutcome, EmailRecord, EventKind, NewEmail, NotifiedSide, Recipient, Store, StoreError, StoredEvent, StretchChange};
use lettre::message::Mailbox;
use rand::RngCore;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// E-mails are retried until this long after they were written (then given up).
const RETRY_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// A stretch that came due longer ago than this (the notifier was off) sends nothing.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How much longer than an attempt's timeout a claim lasts.
const LEASE_MARGIN: Duration = Duration::from_secs(15);
/// Events read per round (more rounds follow at once while there are more).
const EVENT_BATCH: i64 = 500;

/// The worker's settings (from `--smtp-url`, `--mail-from`, `--public-url`,
/// `--seller-portal-url`, `--notify-after-mins`).
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// The SMTP server.
    pub smtp: SmtpTarget,
    /// The sender.
    pub mail_from: Mailbox,
    /// Where clients reach this server (links; no trailing slash).
    pub public_url: String,
    /// Where embedded seller users (§11) read their chat: the marketplace's page.
    pub seller_portal_url: Option<String>,
    /// How long messages wait unread (or unanswered) before an e-mail.
    pub delay: Duration,
    /// First retry delay; later ones double (at most an hour).
    pub retry_base: Duration,
    /// Longest one SMTP conversation may take.
    pub timeout: Duration,
    /// How often the worker looks for work.
    pub poll: Duration,
    /// Extra CA certificates the SMTP server may chain to (`--webhook-ca-file`).
    pub ca_file: Option<PathBuf>,
}

impl NotificationSettings {
    fn lease(&self) -> Duration {
        self.timeout + LEASE_MARGIN
    }

    /// The domain of the sender's address (for `Message-ID`s).
    fn mail_domain(&self) -> String {
        self.mail_from.email.domain().to_owned()
    }
}

/// What each round shares.
struct Worker {
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    service: NotificationService,
    mailer: Mailer,
    settings: NotificationSettings,
}

/// The notifier's cursor in the event feed. On a database's first start it is placed at
/// the feed's end: what was sent before is history and never mailed. The server places it
/// before serving its first request, so nothing sent through it counts as history.
pub async fn place_cursor(store: &dyn Store) -> Result<EventCursor, StoreError> {
    store.notification_cursor(store.last_event_position().await?).await
}

/// Starts the worker; it stops when `stop` is cancelled, after the attempts in flight.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    settings: NotificationSettings,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mailer = match Mailer::new(&settings.smtp, settings.mail_from.clone(), settings.timeout, settings.ca_file.as_deref()) {
            Ok(mailer) => mailer,
            Err(error) => {
                tracing::error!(%error, "e-mail notifications are off: the SMTP client could not be built");
                return;
            }
        };
        let service = NotificationService::new(store.clone(), clock.clone());
        let worker = Arc::new(Worker { store, clock, metrics, service, mailer, settings });
        let in_flight = TaskTracker::new();
        loop {
            if let Err(error) = worker.round(&in_flight).await {
                tracing::warn!(%error, "notification round failed");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(worker.settings.poll) => {}
            }
        }
        in_flight.close();
        if tokio::time::timeout(worker.settings.timeout + Duration::from_secs(2), in_flight.wait()).await.is_err() {
            tracing::warn!(attempts = in_flight.len(), "e-mails still being sent at stop; they are retried when their claims lapse");
        }
    })
}

/// A time as e-mails show it: `2 Dec 2026, 09:12 UTC`.
fn in_words(at: crate::domain::time::UnixMillis) -> String {
    chrono::DateTime::from_timestamp_millis(at.get()).map_or_else(|| at.to_rfc3339(), |time| time.format("%-d %b %Y, %H:%M UTC").to_string())
}

/// What one event does to the stretches: an Admin message opens the seller side's and
/// ends the operator side's (it is the reply); a Seller message opens the operator
/// side's; the seller reading Admin messages ends the seller side's.
pub fn changes_of(event: &StoredEvent, delay: Duration) -> Vec<StretchChange> {
    let seller_id = event.seller_id;
    match &event.kind {
        EventKind::MessageCreated(message) => {
            let open = |side| StretchChange::Open { side, seller_id, message_id: message.id, due_at: message.created_at.plus(delay) };
            match message.sent_by {
                Side::Admin => vec![StretchChange::End { side: NotifiedSide::Operator, seller_id }, open(NotifiedSide::Seller)],
                Side::Seller => vec![open(NotifiedSide::Operator)],
            }
        }
        EventKind::MessagesRead { sent_by: Side::Admin, .. } => vec![StretchChange::End { side: NotifiedSide::Seller, seller_id }],
        _ => Vec::new(),
    }
}

impl Worker {
    async fn round(self: &Arc<Self>, in_flight: &TaskTracker) -> Result<(), crate::service::error::ServiceError> {
        self.derive().await?;
        let now = self.clock.now();
        for stretch in self.store.claim_due_stretches(now, now.plus(self.settings.lease()), 16).await? {
            if let Err(error) = self.write_emails(&stretch).await {
                tracing::warn!(%error, stretch_id = stretch.id, "could not write a notification's e-mails; tried again when its claim lapses");
            }
        }
        let now = self.clock.now();
        for email in self.store.claim_emails(now, now.plus(self.settings.lease()), 16).await? {
            let worker = self.clone();
            in_flight.spawn(async move { worker.attempt(email).await });
        }
        Ok(())
    }

    /// Applies the events after the cursor to the stretches.
    async fn derive(&self) -> Result<(), StoreError> {
        let mut cursor = place_cursor(self.store.as_ref()).await?;
        loop {
            let events = self.store.events_after(cursor, None, EVENT_BATCH).await?;
            let Some(last) = events.last().map(|e| e.position) else { return Ok(()) };
            let changes: Vec<StretchChange> = events.iter().flat_map(|event| changes_of(event, self.settings.delay)).collect();
            if !self.store.apply_stretch_changes(cursor, last, &changes, self.clock.now()).await? {
                // Another node applied them: start again from where it left the cursor.
                return Ok(());
            }
            cursor = last;
            if (events.len() as i64) < EVENT_BATCH {
                return Ok(());
            }
        }
    }

    /// Writes a due stretch's e-mails (or none, when it no longer needs any).
    async fn write_emails(&self, stretch: &DueStretch) -> Result<(), crate::service::error::ServiceError> {
        let now = self.clock.now();
        let emails = if now.since(stretch.due_at) > STALE_AFTER {
            tracing::info!(stretch_id = stretch.id, "a notification came due long ago (the notifier was off): not sent");
            Vec::new()
        } else {
            self.emails_of(stretch).await?
        };
        self.store.queue_emails(stretch.id, &emails, now).await?;
        Ok(())
    }

    async fn emails_of(&self, stretch: &DueStretch) -> Result<Vec<NewEmail>, crate::service::error::ServiceError> {
        let Some(chat) = self.store.chat(stretch.seller_id).await? else { return Ok(Vec::new()) };
        let business_name = chat.seller.business_name.clone();
        let (kind, messages, total, recipients) = match stretch.side {
            NotifiedSide::Seller => {
                let messages = self.store.notified_messages(stretch.seller_id, Side::Admin, None, MAX_QUOTED_MESSAGES as i64).await?;
                (EmailKind::UnreadForSeller, messages, chat.unread_by_seller, self.store.seller_recipients(stretch.seller_id).await?)
            }
            NotifiedSide::Operator => {
                // Answered, or resolved without an answer: nobody needs reminding.
                let Some(since) = chat.support.awaiting_since.filter(|_| chat.support.status != ChatStatus::Resolved) else { return Ok(Vec::new()) };
                let mut messages = self.store.notified_messages(stretch.seller_id, Side::Seller, Some(since), 100).await?;
                let total = messages.len() as i64;
                messages.truncate(MAX_QUOTED_MESSAGES);
                let assignee = chat.support.assignee.as_ref().map(|user| user.id);
                let staff = self.store.operator_recipients(assignee).await?;
                let chatting = staff.into_iter().filter(|(_, role)| OperatorRole::from_str(role).is_ok_and(OperatorRole::may_chat)).map(|(user, _)| user).collect();
                (EmailKind::AwaitingReply, messages, total, chatting)
            }
        };
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let quotes: Vec<Quote> = messages
            .iter()
            .rev()
            .map(|message| Quote {
                from: match message.sent_by {
                    Side::Admin => "Marketplace team".to_owned(),
                    Side::Seller => business_name.clone(),
                },
                at: in_words(message.created_at),
                body: message.body.clone(),
            })
            .collect();
        let delay = delay_in_words(self.settings.delay.as_secs());
        let mut emails = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let unsubscribe = self.service.unsubscribe_url(&self.settings.public_url, recipient.user_id).await?;
            let link = self.link_for(stretch.side, &recipient);
            let content = EmailContent {
                kind,
                recipient_name: &recipient.name,
                business_name: &business_name,
                quotes: &quotes,
                total,
                delay: &delay,
                link: &link,
                unsubscribe: &unsubscribe,
            };
            let rendered = render(&content);
            let mut nonce = [0_u8; 6];
            rand::thread_rng().fill_bytes(&mut nonce);
            emails.push(NewEmail {
                user_id: recipient.user_id,
                recipient: recipient.email,
                message_id: format!("<notify.{}.{}.{}@{}>", stretch.id, recipient.user_id, hex::encode(nonce), self.settings.mail_domain()),
                subject: rendered.subject,
                text_body: rendered.text,
                html_body: rendered.html,
                unsubscribe_url: unsubscribe,
            });
        }
        Ok(emails)
    }

    /// Where a recipient reads and replies: the operator portal, the seller portal, or
    /// for embedded seller users the marketplace's page (`--seller-portal-url`).
    fn link_for(&self, side: NotifiedSide, recipient: &Recipient) -> String {
        match (side, &self.settings.seller_portal_url) {
            (NotifiedSide::Operator, _) => format!("{}/operator/", self.settings.public_url),
            (NotifiedSide::Seller, Some(portal)) if recipient.embedded => portal.clone(),
            (NotifiedSide::Seller, _) => format!("{}/seller/", self.settings.public_url),
        }
    }

    /// One attempt at sending, recorded and counted.
    async fn attempt(&self, email: EmailRecord) {
        let result = self.mailer.send(&email).await;
        let now = self.clock.now();
        let (outcome, error, label) = match &result {
            Ok(()) => (EmailOutcome::Sent, None, "sent"),
            Err(SendFailure::Permanent(error)) => (EmailOutcome::GiveUp, Some(error.as_str()), "gave_up"),
            Err(SendFailure::Transient(error)) if now.since(email.created_at) >= RETRY_FOR => (EmailOutcome::GiveUp, Some(error.as_str()), "gave_up"),
            Err(SendFailure::Transient(error)) => (EmailOutcome::Retry(now.plus(backoff(self.settings.retry_base, email.attempts))), Some(error.as_str()), "failed"),
        };
        self.metrics.notification_emails.get_or_create(&DeliveryLabels { outcome: label.to_owned() }).inc();
        if let Some(error) = error {
            let domain = email.recipient.rsplit('@').next().unwrap_or_default();
            tracing::warn!(email_id = email.id, %domain, %error, attempt = email.attempts + 1, gave_up = matches!(outcome, EmailOutcome::GiveUp), "notification e-mail not sent");
        }
        if let Err(error) = self.store.record_email_attempt(email.id, now, error, outcome).await {
            tracing::warn!(%error, "could not record an e-mail attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cursor::EventCursor;
    use crate::domain::ids::{MessageId, SellerId, Seq};
    use crate::domain::time::UnixMillis;
    use crate::store::MessageRecord;

    fn created(sent_by: Side) -> StoredEvent {
        let message = MessageRecord {
            id: MessageId::from(9),
            seller_id: SellerId::from(3),
            seq: Seq::from(1),
            sent_by,
            sender_label: None,
            body: "hi".into(),
            created_at: UnixMillis::from(1_000),
            read_at: None,
        };
        StoredEvent { position: EventCursor { tx: 1, seq: 1 }, seller_id: SellerId::from(3), kind: EventKind::MessageCreated(message) }
    }

    #[test]
    fn an_admin_message_answers_the_seller_and_opens_the_sellers_stretch() {
        let seller_id = SellerId::from(3);
        let changes = changes_of(&created(Side::Admin), Duration::from_secs(60));
        assert_eq!(changes[0], StretchChange::End { side: NotifiedSide::Operator, seller_id });
        assert_eq!(changes[1], StretchChange::Open { side: NotifiedSide::Seller, seller_id, message_id: MessageId::from(9), due_at: UnixMillis::from(61_000) });
        let changes = changes_of(&created(Side::Seller), Duration::from_secs(60));
        assert!(matches!(changes[..], [StretchChange::Open { side: NotifiedSide::Operator, .. }]));
        let read = StoredEvent {
            position: EventCursor { tx: 1, seq: 2 },
            seller_id,
            kind: EventKind::MessagesRead { sent_by: Side::Admin, read_at: UnixMillis::from(2_000), message_ids: vec![] },
        };
        assert_eq!(changes_of(&read, Duration::from_secs(60)), vec![StretchChange::End { side: NotifiedSide::Seller, seller_id }]);
    }
}
