//! Storage: one `Store` trait that the rest of the service talks to, and its
//! implementations. Rows come back as the plain records below, so nothing above this
//! module depends on sqlx.
//!
//! `Store` is made of one trait per area (sellers, keys, accounts, webhooks, chats,
//! settings, search): each area's module holds its trait and the one implementation of it that
//! every SQL back end shares (see `sql`); `search` has one statement per dialect, each
//! over its own full-text index. What the dialects do their own way (the write
//! path, the event feed, migrations, cross-node wake-ups), `sqlite/` and `postgres/`
//! implement as `Store` itself.
//!
//! # Chat counters
//!
//! A chat row carries counters that reads use instead of counting messages. Both back
//! ends keep them by this one rule, in the transaction that makes the change:
//!
//! - Storing a message: `message_count` + 1, which is the message's `seq`; the other
//!   side's unread counter + 1 (`unread_by_seller` for an `Admin` message,
//!   `unread_by_operator` for a `Seller` one); `last_message_id` = the message; one
//!   `message_created` event. The support inbox's part (SPEC §12): a `Seller` message
//!   sets `awaiting_since` when it is NULL, sets `opened_at` when it is NULL (counting a
//!   chat opened in `support_days`) and sets `status` to open (a resolved chat reopens,
//!   with no event of its own); an `Admin` message clears `awaiting_since`, adding a
//!   `support_responses` row (waited since, answered now, its `sender_label`) when it was
//!   set, and counts in `support_agent_days`; either side counts in `support_days` (per
//!   UTC day and shard). These statistics rows are read from the chat as it was before
//!   the message. SQLite does this in the trigger `messages_after_insert`
//!   (migrations/sqlite 0003, remade in 0008), PostgreSQL in the insert statement of
//!   `postgres/writes.rs`. A replayed client mutation ID or an unknown seller changes
//!   nothing.
//! - Marking messages read: that unread counter - as many as were unread, and one
//!   `messages_read` event when any were (`chats::ChatWrites::mark_read_in`, both).
//!   The operator reading clears `marked_unread_at` too, with a `chat_updated` event
//!   when no message changed.
//! - The support inbox's own changes (`support::SupportStore`, both): assigning,
//!   changing the status (resolving adds a `support_resolutions` row and clears
//!   `opened_at`) and marking unread, each with one `chat_updated` event; a note with
//!   one `note_created` event.
//! - Retention removing messages: `removed_count` + as many; each unread counter - the
//!   removed ones still unread; `last_message_id` = NULL when the newest went; their
//!   events go with them (`ChatStore::remove_before`, both).
//!
//! So `message_count - removed_count` is the chat's stored messages, `unread_by_*` its
//! stored unread messages of the other side, and `last_message_id` its newest message
//! (NULL when it has none). `tests/api/parity.rs` runs the same operations on both back
//! ends and checks that they keep the same counters, by this rule.

mod accounts;
mod chats;
mod contract;
mod keys;
mod maintenance;
mod notifications;
mod postgres;
mod records;
mod search;
mod sellers;
mod settings;
mod sql;
mod sqlite;
mod support;
mod webhooks;

pub use accounts::AccountStore;
pub use chats::ChatStore;
pub use contract::Store;
pub use keys::KeyStore;
pub use maintenance::{CounterMismatch, MaintenanceStore};
pub use notifications::{DueStretch, EmailOutcome, EmailRecord, EmailSummary, NewEmail, NotificationStore, NotifiedSide, Recipient, StretchChange, WaitingStretch};
pub use postgres::PostgresStore;
pub use records::*;
pub use search::{MessageHit, MessageSearch, SearchStore};
pub use sellers::SellerStore;
pub use settings::SettingStore;
pub use sqlite::SqliteStore;
pub use support::SupportStore;
pub use webhooks::WebhookStore;

use std::sync::Arc;

/// Opens the store a database URL names and applies migrations.
pub async fn connect(database_url: &str, settings: &DatabaseSettings) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if database_url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open_with(database_url, settings).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Arc::new(PostgresStore::open(database_url, settings).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    tracing::debug!(database = %without_password(database_url), "opened the database");
    store.migrate().await?;
    Ok(store)
}

/// Whether `marketchat backup` can copy the database a URL names (SQLite only): told
/// from the URL, so a PostgreSQL URL is refused before connecting (or migrating) at all.
pub fn can_back_up(database_url: &str) -> bool {
    database_url.starts_with("sqlite:")
}

/// A database URL fit for logs: any password replaced by `***`.
pub fn without_password(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => database_url.to_owned(),
    }
}
