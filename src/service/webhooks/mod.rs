//! Webhooks: each registered endpoint gets every chat event of the types it chose, as a
//! signed JSON POST. The outbox is the durable `events` table (written in the same
//! transaction as each change): a worker turns new events into one delivery row per
//! endpoint, then sends due deliveries, retrying with exponential back-off and jitter
//! for at least 24 hours. Every attempt is recorded; nothing is lost across restarts.
//! Deliveries reach public addresses only unless private ones are allowed ([`destination`])
//! and never follow redirects. HTTPS endpoints are verified against the system's trust
//! store, the PEM bundle named by `SSL_CERT_FILE` and `--webhook-ca-file` ([`tls`]).
//! Every failed attempt is logged, counted and listed by `webhook deliveries ID`; a stop
//! waits for attempts in flight, and a claim lapses soon after its attempt's timeout.
//!
//! - `endpoints`: registering and removing endpoints, listing their attempts.
//! - `delivery`: the worker that delivers events.

mod delivery;
mod destination;
mod endpoints;
pub mod tls;

pub use delivery::{backoff, spawn_worker, WebhookSettings};
pub use destination::DestinationPolicy;
pub use endpoints::WebhookService;
