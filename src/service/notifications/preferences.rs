//! What users choose and what operators look at: opting out of e-mails (the portal
//! setting and the signed one-click unsubscribe link) and the list of notifications.

use crate::service::clock::Clock;
use crate::service::error::ServiceError;
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
