//! The GraphQL object types, below the two API roots (`seller.rs`, `operator.rs`) that
//! return them. The generic ones (connections, edges, payloads, events) take their
//! GraphQL names from their item type ([`async_graphql::TypeName`]), so no shared type
//! names a per-API one.
//!
//! - [`message`]: the fields every `ChatMessage` has, and how an API wraps a message.
//! - [`seller`]: the Seller API's `ChatMessage`.
//! - [`operator`]: the Operator API's `ChatMessage`, `Chat`, `Seller`, webhook and
//!   settings objects.
//! - [`connection`]: Relay connections and the thread pages both APIs serve.
//! - [`payload`]: mutation payloads and their user-fixable `errors`.
//! - [`provisioning`]: `ApiKey` and the provisioning mutations' inputs and payloads.
//! - [`event`]: the `chatEvents` subscription's events.
//! - [`search`]: `messageSearch`'s hits and their connection (Operator API).
//! - [`support`]: the support inbox's objects (§12).
//! - [`inbox`]: the support inbox's payloads and operator-only events, which carry a `Chat`.

pub mod connection;
pub mod event;
pub mod inbox;
pub mod message;
pub mod operator;
pub mod payload;
pub mod provisioning;
pub mod search;
pub mod seller;
pub mod support;
