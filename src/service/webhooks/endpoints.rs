//! Registering webhook endpoints, the same for the Operator API and the CLI: which URLs
//! and event types are accepted, the signing secret (shown once), removal, and each
//! endpoint's latest delivery attempts.

use crate::domain::ids::WebhookId;
use super::destination::DestinationPolicy;
use crate::service::clock::Clock;
use crate::service::error::ServiceError;
use crate::store::{AttemptRecord, Store, WebhookRecord};
use std::sync::Arc;
use tracing::instrument;

/// A message was sent.
pub const MESSAGE_CREATED: &str = "chat_message.created";
/// Messages were marked read.
pub const MESSAGES_READ: &str = "chat_message.read";

/// Parses a comma-separated list of event types (default: all).
fn parse_event_types(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(vec![MESSAGE_CREATED.to_owned(), MESSAGES_READ.to_owned()]);
    };
    raw.split(',')
        .map(str::trim)
        .map(|e| match e {
            MESSAGE_CREATED | MESSAGES_READ => Ok(e.to_owned()),
            other => Err(format!("unknown event type {other:?} ({MESSAGE_CREATED}, {MESSAGES_READ})")),
        })
        .collect()
}

/// Checks an endpoint URL at registration: absolute http(s), and a destination `policy`
/// permits (see [`DestinationPolicy::check_registration`]).
fn check_url(raw: &str, policy: DestinationPolicy) -> Result<String, String> {
    policy.check_registration(raw)?;
    Ok(raw.trim().to_owned())
}

/// A new signing secret (shown once).
fn new_secret() -> String {
    crate::domain::keys::generate_secret(&mut rand::thread_rng(), "whsec_").secret
}

/// Webhook endpoint use cases over a store.
#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn Store>,
    clock: Clock,
    destinations: DestinationPolicy,
}

impl WebhookService {
    /// Endpoints in `store`, registered only for destinations `destinations` permits.
    pub fn new(store: Arc<dyn Store>, clock: Clock, destinations: DestinationPolicy) -> Self {
        Self { store, clock, destinations }
    }

    /// Registers an endpoint for `url` receiving `events` (comma-separated; default: all)
    /// from now on; returns it with its signing secret. A bad URL or event type is an
    /// [`ServiceError::Invalid`] on `url` or `events`.
    #[instrument(skip_all)]
    pub async fn register(&self, url: &str, events: Option<&str>) -> Result<(WebhookRecord, String), ServiceError> {
        let url = check_url(url, self.destinations).map_err(|message| ServiceError::invalid("url", message))?;
        let events = parse_event_types(events).map_err(|message| ServiceError::invalid("events", message))?;
        let secret = new_secret();
        let from = self.store.last_event_position().await?;
        let endpoint = self.store.create_webhook(&url, &secret, &events, from, self.clock.now()).await?;
        Ok((endpoint, secret))
    }

    /// The active endpoints, oldest first.
    #[instrument(skip_all)]
    pub async fn endpoints(&self) -> Result<Vec<WebhookRecord>, ServiceError> {
        let all = self.store.list_webhooks().await?;
        Ok(all.into_iter().filter(|e| e.removed_at.is_none()).collect())
    }

    /// Every endpoint, removed ones too, oldest first.
    #[instrument(skip_all)]
    pub async fn all_endpoints(&self) -> Result<Vec<WebhookRecord>, ServiceError> {
        Ok(self.store.list_webhooks().await?)
    }

    /// Removes an endpoint; false when there is no such active endpoint.
    #[instrument(skip_all)]
    pub async fn remove(&self, endpoint_id: WebhookId) -> Result<bool, ServiceError> {
        Ok(self.store.remove_webhook(endpoint_id, self.clock.now()).await?)
    }

    /// The latest `limit` attempts at delivering to an endpoint, newest first.
    #[instrument(skip_all)]
    pub async fn attempts(&self, endpoint_id: WebhookId, limit: i64) -> Result<Vec<AttemptRecord>, ServiceError> {
        Ok(self.store.webhook_attempts(endpoint_id, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_urls_are_checked() {
        assert_eq!(parse_event_types(None).unwrap().len(), 2);
        assert_eq!(parse_event_types(Some("chat_message.read")).unwrap(), vec![MESSAGES_READ.to_owned()]);
        assert!(parse_event_types(Some("chat_message.deleted")).is_err());
        let policy = DestinationPolicy::default();
        assert_eq!(check_url(" https://hooks.example.com/x ", policy).as_deref(), Ok("https://hooks.example.com/x"));
        assert!(check_url("ftp://x", policy).is_err() && check_url("http://", policy).is_err());
        assert!(check_url("http://127.0.0.1:9/hook", policy).is_err());
        assert!(check_url("http://127.0.0.1:9/hook", DestinationPolicy { allow_private: true }).is_ok());
    }
}
