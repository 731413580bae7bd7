//! The application service: applies the domain rules to each use case and calls the
//! store. Both GraphQL APIs (and the CLI) go through here, so the rules live once.

use crate::domain::message::{MessageBody, MessageRules};
use crate::domain::{side_to_mark_read, Principal, Side};
use crate::store::{CommitHook, CreateOutcome, MarkRead, NewMessage, Store, StoreError};
use std::sync::Arc;
use thiserror::Error;

/// Settings key of the operator's "Enable in-app chat" switch.
pub const CHAT_ENABLED_SETTING: &str = "chat_enabled";
/// How long a `clientMutationId` keeps returning the message it created.
pub const DEDUPE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest accepted `clientMutationId`.
pub const MAX_CLIENT_MUTATION_ID_CHARS: usize = 255;

/// Why a use case failed.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The caller can fix this: it goes into the payload's `errors`.
    #[error("{field} {message}")]
    Invalid {
        /// The input field, or `base`.
        field: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// Storage failed; logged, never shown.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// A user-fixable error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid { field, message: message.into() }
    }
}

/// Where the current time comes from (tests may fix it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock in Unix milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// Chat use cases over a store.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    rules: MessageRules,
    clock: Clock,
    on_commit: CommitHook,
}

impl ChatService {
    /// A service over `store` applying `rules`.
    pub fn new(store: Arc<dyn Store>, rules: MessageRules, clock: Clock) -> Self {
        Self { store, rules, clock, on_commit: Arc::new(|| {}) }
    }

    /// The same service, calling `hook` after each commit that adds events.
    pub fn with_commit_hook(mut self, hook: CommitHook) -> Self {
        self.on_commit = hook;
        self
    }

    /// The store, shared (for the event broker).
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The store, for read-only queries that need no rules.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Now, in Unix milliseconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Whether the operator has in-app chat switched on (default: on).
    pub async fn chat_enabled(&self) -> Result<bool, ServiceError> {
        Ok(self.store.setting(CHAT_ENABLED_SETTING).await?.as_deref() != Some("false"))
    }

    /// Switches in-app chat on or off.
    pub async fn set_chat_enabled(&self, enabled: bool) -> Result<(), ServiceError> {
        self.store.set_setting(CHAT_ENABLED_SETTING, if enabled { "true" } else { "false" }).await?;
        (self.on_commit)();
        Ok(())
    }

    /// Sellers may write only while chat is enabled; the operator always may.
    async fn ensure_may_write(&self, principal: &Principal) -> Result<(), ServiceError> {
        if principal.side() == Side::Seller && !self.chat_enabled().await? {
            return Err(ServiceError::invalid("base", "In-app chat is not enabled"));
        }
        Ok(())
    }

    /// Sends `raw` into `seller_id`'s thread as `principal`.
    pub async fn send_message(
        &self,
        principal: &Principal,
        seller_id: i64,
        raw: &str,
        client_mutation_id: Option<&str>,
    ) -> Result<CreateOutcome, ServiceError> {
        self.ensure_may_write(principal).await?;
        let body = MessageBody::parse(raw, &self.rules).map_err(|e| ServiceError::invalid("message", e.to_string()))?;
        if client_mutation_id.is_some_and(|id| id.chars().count() > MAX_CLIENT_MUTATION_ID_CHARS) {
            return Err(ServiceError::invalid(
                "clientMutationId",
                format!("is too long (maximum is {MAX_CLIENT_MUTATION_ID_CHARS} characters)"),
            ));
        }
        let now = self.now();
        let sender_label = match principal {
            Principal::Operator { label, .. } => label.clone(),
            Principal::Seller { .. } => None,
        };
        let message = NewMessage {
            seller_id,
            sent_by: principal.side(),
            sender_label,
            body: body.into_string(),
            client_mutation_id: client_mutation_id.map(str::to_owned),
            now,
            dedupe_since: now - DEDUPE_WINDOW_MS,
        };
        match self.store.create_message(&message).await {
            Err(StoreError::NotFound(_)) => Err(ServiceError::invalid("sellerId", "does not exist")),
            Ok(outcome) => {
                if matches!(outcome, CreateOutcome::Created(_)) {
                    (self.on_commit)();
                }
                Ok(outcome)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Marks the other side's messages in `seller_id`'s thread read, optionally only up
    /// to and including the message `up_to`; returns the IDs that changed.
    pub async fn mark_read(
        &self,
        principal: &Principal,
        seller_id: i64,
        sent_by: &str,
        up_to: Option<i64>,
    ) -> Result<Vec<i64>, ServiceError> {
        let side = side_to_mark_read(principal.side(), sent_by).map_err(|e| ServiceError::invalid("sentBy", e.to_string()))?;
        self.ensure_may_write(principal).await?;
        let up_to_seq = match up_to {
            None => None,
            Some(message_id) => match self.store.message(message_id).await? {
                Some(message) if message.seller_id == seller_id => Some(message.seq),
                _ => return Err(ServiceError::invalid("upTo", "is not a message in this chat")),
            },
        };
        if principal.side() == Side::Admin && self.store.seller(seller_id).await?.is_none() {
            return Err(ServiceError::invalid("sellerId", "does not exist"));
        }
        let request = MarkRead { seller_id, sent_by: side, up_to_seq, now: self.now() };
        let ids = self.store.mark_read(&request).await?;
        if !ids.is_empty() {
            (self.on_commit)();
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;
    use std::sync::atomic::{AtomicI64, Ordering};

    async fn service_with_clock(clock: Arc<AtomicI64>) -> (ChatService, i64, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("service.db").display());
        let store = store::connect(&url, &Default::default()).await.unwrap();
        let seller = store.create_seller("Acme", 0).await.unwrap();
        let service = ChatService::new(store, MessageRules::default(), Arc::new(move || clock.load(Ordering::SeqCst)));
        (service, seller.id, dir)
    }

    #[tokio::test]
    async fn a_client_mutation_id_dedupes_for_24_hours_then_may_be_reused() {
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let (service, seller_id, _dir) = service_with_clock(clock.clone()).await;
        let seller = Principal::Seller { seller_id };
        let first = service.send_message(&seller, seller_id, "hello", Some("token")).await.unwrap();
        assert!(matches!(first, CreateOutcome::Created(_)));

        clock.fetch_add(DEDUPE_WINDOW_MS - 1, Ordering::SeqCst);
        let retry = service.send_message(&seller, seller_id, "hello", Some("token")).await.unwrap();
        assert_eq!(retry, CreateOutcome::Replayed(first.message().clone()));

        clock.fetch_add(2, Ordering::SeqCst);
        let later = service.send_message(&seller, seller_id, "hello again", Some("token")).await.unwrap();
        let CreateOutcome::Created(later) = later else { panic!("expired token creates a new message") };
        assert_ne!(later.id, first.message().id);
        let again = service.send_message(&seller, seller_id, "x", Some("token")).await.unwrap();
        assert_eq!(again, CreateOutcome::Replayed(later));
    }

    #[tokio::test]
    async fn a_replayed_token_on_the_other_side_is_a_different_message() {
        let clock = Arc::new(AtomicI64::new(0));
        let (service, seller_id, _dir) = service_with_clock(clock).await;
        let seller = Principal::Seller { seller_id };
        let operator = Principal::Operator { label: None, role: None };
        let a = service.send_message(&seller, seller_id, "a", Some("t")).await.unwrap();
        let b = service.send_message(&operator, seller_id, "b", Some("t")).await.unwrap();
        assert!(matches!(b, CreateOutcome::Created(_)));
        assert_ne!(a.message().id, b.message().id);
    }
}
