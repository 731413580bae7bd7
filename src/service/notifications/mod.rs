//! E-mail notifications (SPEC §13): nobody misses a reply because they were not looking.
//!
//! Like webhooks, they come from the durable event feed. A worker ([`worker`]) keeps one
//! cursor into the feed (moved by compare-and-set, so of several nodes one applies each
//! batch) and turns events into *unread stretches*: an Admin message opens the seller
//! side's stretch of that chat (unless one is open) and the seller reading ends it; a
//! Seller message opens the operator side's and an Admin reply ends it. A stretch still
//! open at its due time (`--notify-after-mins` after its first message) becomes one
//! e-mail per recipient, written then (up to five of the messages, plain text and HTML)
//! with a stable `Message-ID`; the sender claims due e-mails one node at a time, retries
//! with back-off while the SMTP server is down or refuses for now, and records every
//! attempt. An e-mail sent but not recorded (a crash in between) is sent again with the
//! same `Message-ID`, which mail systems take as the same e-mail.
//!
//! Each user can switch e-mails off ([`NotificationService::set_email_enabled`]) in the
//! portals or with the signed one-click link every e-mail carries (RFC 8058).
//!
//! - `smtp`: the SMTP transport and how an e-mail is put on the wire.
//! - `worker`: deriving stretches, writing e-mails and sending them.

mod smtp;
mod worker;

pub use smtp::{SmtpSecurity, SmtpTarget};
pub use worker::{spawn_worker, NotificationSettings};

use super::clock::Clock;
use super::error::ServiceError;
use crate::domain::notification::{unsubscribe_token, verify_unsubscribe_token};
use crate::store::{EmailSummary, Store, WaitingStretch};
use rand::RngCore;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Settings key of the key unsubscribe links are signed with (made on first use, shared
/// by every node through the database).
const SIGNING_KEY_SETTING: &str = "notification_signing_key";

/// What the portals, the unsubscribe page, the CLI and the worker ask of notifications.
#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn Store>,
    clock: Clock,
    /// The signing key, read once.
    key: Arc<OnceCell<Vec<u8>>>,
}

impl NotificationService {
    /// Notifications over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock, key: Arc::default() }
    }

    /// The key unsubscribe links are signed with.
    async fn signing_key(&self) -> Result<&[u8], ServiceError> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let mut candidate = [0_u8; 32];
                rand::thread_rng().fill_bytes(&mut candidate);
                let stored = self.store.setting_or_insert(SIGNING_KEY_SETTING, &hex::encode(candidate)).await?;
                Ok::<_, ServiceError>(hex::decode(stored.trim()).unwrap_or_else(|_| stored.into_bytes()))
            })
            .await?;
        Ok(key)
    }

    /// The one-click unsubscribe link of a user, under `public_url`.
    pub async fn unsubscribe_url(&self, public_url: &str, user_id: i64) -> Result<String, ServiceError> {
        let token = unsubscribe_token(self.signing_key().await?, user_id);
        Ok(format!("{public_url}/unsubscribe?u={user_id}&t={token}"))
    }

    /// Whether `token` is the user's unsubscribe token.
    pub async fn token_holds(&self, user_id: i64, token: &str) -> Result<bool, ServiceError> {
        Ok(verify_unsubscribe_token(self.signing_key().await?, user_id, token))
    }

    /// One-click unsubscribe: switches the user's e-mails off when the token holds;
    /// false (nothing changed) when it does not.
    pub async fn unsubscribe(&self, user_id: i64, token: &str) -> Result<bool, ServiceError> {
        if !self.token_holds(user_id, token).await? {
            return Ok(false);
        }
        self.set_email_enabled(user_id, false).await
    }

    /// Whether the user gets e-mails.
    pub async fn email_enabled(&self, user_id: i64) -> Result<bool, ServiceError> {
        Ok(!self.store.opted_out(user_id).await?)
    }

    /// Switches the user's e-mails on or off; false when there is no such user.
    pub async fn set_email_enabled(&self, user_id: i64, enabled: bool) -> Result<bool, ServiceError> {
        Ok(self.store.set_opted_out(user_id, !enabled, self.clock.now()).await?)
    }

    /// Stretches waiting for their due time, and the unsent e-mails with the newest
    /// `recent` others (for `marketchat notifications`).
    pub async fn listing(&self, recent: i64) -> Result<(Vec<WaitingStretch>, Vec<EmailSummary>), ServiceError> {
        Ok((self.store.waiting_stretches(1_000).await?, self.store.list_emails(recent).await?))
    }
}
