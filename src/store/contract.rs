//! The `Store` trait: everything the services need from storage, as the areas every SQL
//! back end shares (its supertraits) plus what each dialect does its own way.

use crate::domain::ids::{MessageId, SellerId};
use super::records::{CommitHook, CreateOutcome, MarkRead, NewMessage, StoreResult, StoredEvent};
use super::accounts::AccountStore;
use super::chats::ChatStore;
use super::keys::KeyStore;
use super::maintenance::MaintenanceStore;
use super::notifications::NotificationStore;
use super::search::SearchStore;
use super::sellers::SellerStore;
use super::settings::SettingStore;
use super::support::SupportStore;
use super::webhooks::WebhookStore;
use crate::domain::cursor::EventCursor;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// Everything the service needs from storage: the areas every SQL back end shares (its
/// supertraits) and what each dialect does its own way (below). Implementations must make
/// each method atomic: a failed call leaves nothing half-written.
#[async_trait]
pub trait Store: SellerStore + KeyStore + AccountStore + WebhookStore + ChatStore + SettingStore + SupportStore + SearchStore + NotificationStore + MaintenanceStore + Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Stores a message, updates the chat's counters and records a `MessageCreated`
    /// event, all in one transaction; or returns the original message of a repeated
    /// `client_mutation_id` (recording nothing).
    async fn create_message(&self, message: &NewMessage) -> StoreResult<CreateOutcome>;
    /// Marks the other side's unread messages read; returns the IDs it changed.
    /// Records a `MessagesRead` event in the same transaction when any changed.
    async fn mark_read(&self, request: &MarkRead) -> StoreResult<Vec<MessageId>>;
    /// Committed events after `after` in feed order; only `seller_id`'s if given. Never
    /// returns an event while one that sorts before it could still commit.
    async fn events_after(&self, after: EventCursor, seller_id: Option<SellerId>, limit: i64) -> StoreResult<Vec<StoredEvent>>;
    /// The newest readable feed position (`EventCursor::START` when empty).
    async fn last_event_position(&self) -> StoreResult<EventCursor>;
    /// The database's own integrity checks (SQLite's `integrity_check` and
    /// `foreign_key_check`; on PostgreSQL, amcheck's B-tree checks when the extension is
    /// installed, and the event feed against the transaction counter): one line per
    /// problem, none when sound.
    async fn integrity_problems(&self) -> StoreResult<Vec<String>>;
    /// Writes a consistent copy of the live database into the empty file at `path`
    /// without holding up writers, and returns how many messages the copy holds.
    /// SQLite only: PostgreSQL refuses with [`super::StoreError::BackupUnsupported`].
    async fn backup_into(&self, path: &std::path::Path) -> StoreResult<i64>;
    /// Tells other nodes that events were committed (PostgreSQL NOTIFY; a wake-up only).
    async fn announce_commit(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Calls `wake` whenever another node announces a commit, until `stop`; `None` for a
    /// store that only one node writes to.
    fn spawn_commit_listener(&self, _wake: CommitHook, _stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}
