//! Chat use cases: sending and marking read (with the rules on who may write), and the
//! reads both APIs page through (threads, chats, sellers, the event feed's position).

use crate::domain::ids::{MessageId, SellerId, Seq};
use super::clock::Clock;
use super::error::ServiceError;
use super::settings::ChatSwitch;
use super::support::SupportService;
use crate::domain::cursor::EventCursor;
use crate::domain::message::{MessageBody, MessageRules};
use crate::domain::paging::{Direction, PageRequest};
use crate::domain::wire::WireMessage;
use crate::domain::{side_to_mark_read, Principal, Side};
use crate::store::{
    ChatFilter, ChatListQuery, ChatRecord, ChatSort, CommitHook, CreateOutcome, ListPage, MarkRead, MessageRecord, NewMessage, SellerListQuery, SellerRecord, Store,
    StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;

pub(super) mod search;

/// How long a `clientMutationId` keeps returning the message it created.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest accepted `clientMutationId`.
pub const MAX_CLIENT_MUTATION_ID_CHARS: usize = 255;

/// One page of a thread, newest first, with the Relay page flags.
#[derive(Debug, Clone)]
pub struct ThreadPage {
    /// The messages, newest first.
    pub messages: Vec<MessageRecord>,
    /// More messages follow the page's last one.
    pub has_next_page: bool,
    /// Messages precede the page's first one.
    pub has_previous_page: bool,
}

/// Chat use cases over a store.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    rules: MessageRules,
    clock: Clock,
    switch: ChatSwitch,
    on_commit: CommitHook,
}

impl ChatService {
    /// A service over `store` applying `rules`, reading the time from `clock`.
    pub fn new(store: Arc<dyn Store>, rules: MessageRules, clock: Clock) -> Self {
        let switch = ChatSwitch::new(store.clone());
        Self { store, rules, clock, switch, on_commit: Arc::new(|| {}) }
    }

    /// The same service, calling `hook` after each commit that adds events.
    pub fn with_commit_hook(mut self, hook: CommitHook) -> Self {
        self.on_commit = hook;
        self
    }

    /// The "Enable in-app chat" switch this service obeys (the event broker watches it).
    pub fn switch(&self) -> &ChatSwitch {
        &self.switch
    }

    /// Whether the database answers.
    #[instrument(skip_all)]
    pub async fn ready(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Whether the operator has in-app chat switched on (default: on).
    pub async fn chat_enabled(&self) -> Result<bool, ServiceError> {
        self.switch.enabled().await
    }

    /// Switches in-app chat on or off.
    #[instrument(skip_all)]
    pub async fn set_chat_enabled(&self, enabled: bool) -> Result<(), ServiceError> {
        self.switch.set(enabled).await?;
        // Wakes the event tailer, which tells other nodes: their seller subscriptions
        // learn of the change without waiting for their next poll.
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
    #[instrument(skip_all)]
    pub async fn send_message(
        &self,
        principal: &Principal,
        seller_id: SellerId,
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
        let now = self.clock.now();
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
            dedupe_since: now.minus(DEDUPE_WINDOW),
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
    #[instrument(skip_all)]
    pub async fn mark_read(
        &self,
        principal: &Principal,
        seller_id: SellerId,
        sent_by: &str,
        up_to: Option<MessageId>,
    ) -> Result<Vec<MessageId>, ServiceError> {
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
        let request = MarkRead { seller_id, sent_by: side, up_to_seq, now: self.clock.now() };
        let ids = self.store.mark_read(&request).await?;
        if !ids.is_empty() {
            (self.on_commit)();
        }
        Ok(ids)
    }

    /// One seller's chat with its counters.
    #[instrument(skip_all)]
    pub async fn chat(&self, seller_id: SellerId) -> Result<Option<ChatRecord>, ServiceError> {
        Ok(self.store.chat(seller_id).await?)
    }

    /// Messages in one seller's thread (0 for an unknown seller).
    pub async fn message_count(&self, seller_id: SellerId) -> Result<i64, ServiceError> {
        Ok(self.chat(seller_id).await?.map_or(0, |chat| chat.message_count))
    }

    /// One seller.
    #[instrument(skip_all)]
    pub async fn seller(&self, seller_id: SellerId) -> Result<Option<SellerRecord>, ServiceError> {
        Ok(self.store.seller(seller_id).await?)
    }

    /// One message by its row number.
    #[instrument(skip_all)]
    pub async fn message(&self, message_id: MessageId) -> Result<Option<MessageRecord>, ServiceError> {
        Ok(self.store.message(message_id).await?)
    }

    /// Up to `limit` of one thread's messages, oldest first, after sequence number
    /// `after_seq` (the export's batches).
    #[instrument(skip_all)]
    pub async fn messages_oldest_first(&self, seller_id: SellerId, after_seq: Seq, limit: i64) -> Result<Vec<MessageRecord>, ServiceError> {
        Ok(self.store.messages_oldest_first(seller_id, after_seq, limit).await?)
    }

    /// One page of `seller_id`'s thread. The flag for the requested direction comes from
    /// the page query; the other from one indexed existence check beyond the cursor.
    #[instrument(skip_all)]
    pub async fn thread_page(&self, seller_id: SellerId, page: &PageRequest<Seq>) -> Result<ThreadPage, ServiceError> {
        let found = self.store.list_messages(seller_id, page).await?;
        let beyond_cursor = match page.cursor {
            None => false,
            Some(seq) => self.store.has_messages_beyond(seller_id, seq, page.direction == Direction::Forward).await?,
        };
        let (has_next_page, has_previous_page) = match page.direction {
            Direction::Forward => (found.has_more, beyond_cursor),
            Direction::Backward => (beyond_cursor, found.has_more),
        };
        Ok(ThreadPage { messages: found.messages, has_next_page, has_previous_page })
    }

    /// Chats with at least one message, most recently active first.
    #[instrument(skip_all)]
    pub async fn chats(&self, query: &ChatListQuery) -> Result<ListPage<ChatRecord>, ServiceError> {
        Ok(self.store.list_chats(query).await?)
    }

    /// How many chats the chat list shows in all for these filters (in `sort`, which
    /// leaves out chats not waiting when it is `WaitingLongest`).
    #[instrument(skip_all)]
    pub async fn count_chats(&self, filter: &ChatFilter, sort: ChatSort) -> Result<i64, ServiceError> {
        Ok(self.store.count_chats(filter, sort).await?)
    }

    /// The support inbox's use cases over the same store, rules, clock and commit hook.
    pub fn support(&self) -> SupportService {
        SupportService::new(self.store.clone(), self.rules, self.clock.clone(), self.on_commit.clone())
    }

    /// Sellers by business name.
    #[instrument(skip_all)]
    pub async fn sellers(&self, query: &SellerListQuery) -> Result<ListPage<SellerRecord>, ServiceError> {
        Ok(self.store.list_sellers(query).await?)
    }

    /// How many sellers match `search`.
    #[instrument(skip_all)]
    pub async fn count_sellers(&self, search: Option<&str>) -> Result<i64, ServiceError> {
        Ok(self.store.count_sellers(search).await?)
    }

    /// Seller messages the operator has not read, over all chats.
    #[instrument(skip_all)]
    pub async fn operator_unread_total(&self) -> Result<i64, ServiceError> {
        Ok(self.store.operator_unread_total().await?)
    }

    /// The event feed's newest readable position.
    #[instrument(skip_all)]
    pub async fn event_cursor(&self) -> Result<EventCursor, ServiceError> {
        Ok(self.store.last_event_position().await?)
    }
}

impl<'a> From<&'a MessageRecord> for WireMessage<'a> {
    fn from(message: &'a MessageRecord) -> Self {
        WireMessage {
            id: message.id,
            seller_id: message.seller_id,
            sent_by: message.sent_by,
            sender_label: message.sender_label.as_deref(),
            body: &message.body,
            created_at: message.created_at,
            read_at: message.read_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::UnixMillis;
    use crate::store;
    use std::sync::atomic::{AtomicI64, Ordering};

    async fn service_with_clock(clock: Arc<AtomicI64>) -> (ChatService, SellerId, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("service.db").display());
        let store = store::connect(&url, &Default::default()).await.unwrap();
        let seller = store.create_seller("Acme", UnixMillis::new(0)).await.unwrap();
        let service = ChatService::new(store, MessageRules::default(), Clock::from_fn(move || UnixMillis::new(clock.load(Ordering::SeqCst))));
        (service, seller.id, dir)
    }

    #[tokio::test]
    async fn a_client_mutation_id_dedupes_for_24_hours_then_may_be_reused() {
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let (service, seller_id, _dir) = service_with_clock(clock.clone()).await;
        let seller = Principal::Seller { seller_id };
        let first = service.send_message(&seller, seller_id, "hello", Some("token")).await.unwrap();
        assert!(matches!(first, CreateOutcome::Created(_)));

        clock.fetch_add(DEDUPE_WINDOW.as_millis() as i64 - 1, Ordering::SeqCst);
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
        let operator = Principal::Operator { label: None, role: None, admin_key: false, user_id: None };
        let a = service.send_message(&seller, seller_id, "a", Some("t")).await.unwrap();
        let b = service.send_message(&operator, seller_id, "b", Some("t")).await.unwrap();
        assert!(matches!(b, CreateOutcome::Created(_)));
        assert_ne!(a.message().id, b.message().id);
    }
}
