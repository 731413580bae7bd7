//! The use cases. Each service applies the domain rules to one area and calls the store;
//! everything above (both GraphQL APIs, the portals, the CLI and the background workers)
//! goes through here, so each rule is written once and nothing above names the store.
//!
//! - [`chat`]: sending, marking read, reading threads, chats and sellers, message search.
//! - [`ChatSwitch`]: the operator's "Enable in-app chat" switch, one owner for every reader.
//! - [`auth`]: API keys and portal sessions, checked by one rule on every request and on
//!   every re-check of an open subscription.
//! - [`accounts`]: portal users, logins and sessions.
//! - [`provisioning`]: creating and renaming sellers, and their API keys, for the
//!   marketplace's sync (Operator API) and the CLI.
//! - [`webhooks`]: registering endpoints and delivering events to them.
//! - [`support`]: the support inbox (assignment, status, notes, saved replies, stats).
//! - [`notifications`]: e-mail notifications of unread and unanswered messages, and
//!   opting out of them.
//! - [`operations`]: the online backup and the consistency check (`backup`, `check`).
//! - [`retention`]: removing messages older than the retention period.
//! - [`sso`]: operator single sign-on with the marketplace's OpenID Connect provider.

pub mod accounts;
pub(crate) mod auth;
mod chat;
mod clock;
mod error;
pub mod notifications;
pub mod operations;
pub mod provisioning;
pub(crate) mod retention;
mod settings;
pub mod sso;
pub mod support;
pub(crate) mod webhooks;

pub use accounts::Accounts;
pub use auth::AuthService;
pub use chat::ChatService;
pub use chat::search::{SearchHit, SearchPage};
pub use clock::Clock;
pub use error::ServiceError;
pub use notifications::NotificationService;
pub use operations::Operations;
pub use provisioning::Provisioning;
pub use settings::{ChatSwitch, CHAT_ENABLED_SETTING};
pub use sso::SsoService;
pub use support::SupportService;
pub use webhooks::WebhookService;
