//! Webhooks: each registered endpoint gets every chat event of the types it chose, as a
//! signed JSON POST. The outbox is the durable `events` table (written in the same
//! transaction as each change): a worker turns new events into one delivery row per
//! endpoint, then sends due deliveries, retrying with exponential back-off and jitter
//! for at least 24 hours. Every attempt is recorded; nothing is lost across restarts.
//! Deliveries reach public addresses only unless private ones are allowed ([`destination`])
//! and never follow redirects.

pub mod destination;

use crate::api::types::format_time;
use crate::domain::ids::{message_gid, seller_gid};
use crate::store::{AttemptOutcome, DeliveryRecord, EventKind, NewDelivery, Store, StoredEvent, WebhookRecord};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
pub use destination::DestinationPolicy;
use tokio_util::sync::CancellationToken;

/// A message was sent.
pub const MESSAGE_CREATED: &str = "chat_message.created";
/// Messages were marked read.
pub const MESSAGES_READ: &str = "chat_message.read";
/// Deliveries are retried until this long after the event (then given up).
pub const RETRY_FOR_MS: i64 = 48 * 60 * 60 * 1000;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;
/// How long a claimed delivery is reserved for the worker that claimed it.
const LEASE_MS: i64 = 5 * 60 * 1000;

/// Parses `--events`: a comma-separated list of event types (default: all).
pub fn parse_event_types(raw: Option<&str>) -> Result<Vec<String>, String> {
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
pub fn check_url(raw: &str, policy: DestinationPolicy) -> Result<String, String> {
    policy.check_registration(raw)?;
    Ok(raw.trim().to_owned())
}

/// A new signing secret (shown once).
pub fn new_secret() -> String {
    crate::domain::keys::generate_secret(&mut rand::thread_rng(), "whsec_").secret
}

/// `sha256=HEX` of HMAC-SHA256 with `secret` over `TIMESTAMP.BODY`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The event's type, ID and JSON body as delivered.
pub fn delivery_of(event: &StoredEvent) -> (&'static str, NewDelivery) {
    let event_id = format!("evt_{}_{}", event.position.tx, event.position.seq);
    let (event_type, occurred_at, data) = match &event.kind {
        EventKind::MessageCreated(m) => (
            MESSAGE_CREATED,
            m.created_at,
            json!({ "message": {
                "id": message_gid(m.id), "message": m.body, "sentByType": m.sent_by.as_str(),
                "sentBy": m.sender_label, "createdAt": format_time(m.created_at),
            } }),
        ),
        EventKind::MessagesRead { sent_by, read_at, message_ids } => (
            MESSAGES_READ,
            *read_at,
            json!({ "sentByType": sent_by.as_str(), "readAt": format_time(*read_at),
                    "messageIds": message_ids.iter().map(|id| message_gid(*id)).collect::<Vec<_>>() }),
        ),
    };
    let body = json!({
        "id": event_id, "type": event_type, "occurredAt": format_time(occurred_at),
        "sellerId": seller_gid(event.seller_id), "data": data,
    });
    (event_type, NewDelivery { event_id, body: body.to_string() })
}

/// The delay before attempt `attempts + 1`: `base · 2^attempts`, at most an hour, ±25 %.
pub fn backoff_ms(base_ms: i64, attempts: i64) -> i64 {
    let exponential = base_ms.saturating_mul(1_i64 << attempts.clamp(0, 30)).min(MAX_BACKOFF_MS);
    let jitter: f64 = rand::thread_rng().gen_range(0.75..1.25);
    ((exponential as f64) * jitter) as i64
}

/// Worker settings.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// First retry delay; later ones double.
    pub retry_base: Duration,
    /// Longest an endpoint may take to answer.
    pub timeout: Duration,
    /// How often the worker looks for work.
    pub poll: Duration,
    /// Which destinations deliveries may reach.
    pub destinations: DestinationPolicy,
}

/// The delivery client: the destination policy on every resolved address, no redirects,
/// no proxy (a proxy would resolve, and reach, the destination out of the policy's sight).
fn delivery_client(settings: WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(destination::PublicResolver { policy: settings.destinations }))
        .build()
}

/// Starts the delivery worker; it stops when `stop` is cancelled.
pub fn spawn_worker(store: Arc<dyn Store>, settings: WebhookSettings, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match delivery_client(settings) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "webhook deliveries are off: the HTTP client could not be built");
                return;
            }
        };
        loop {
            if let Err(error) = run_once(&store, &client, settings).await {
                tracing::warn!(%error, "webhook worker round failed");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(settings.poll) => {}
            }
        }
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Queues new events for every active endpoint, then starts the due deliveries.
async fn run_once(store: &Arc<dyn Store>, client: &reqwest::Client, settings: WebhookSettings) -> Result<(), crate::store::StoreError> {
    let endpoints: HashMap<i64, WebhookRecord> =
        store.list_webhooks().await?.into_iter().filter(|e| e.removed_at.is_none()).map(|e| (e.id, e)).collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    for endpoint in endpoints.values() {
        let events = store.events_after(endpoint.cursor, None, 500).await?;
        let Some(last) = events.last().map(|e| e.position) else { continue };
        let deliveries: Vec<NewDelivery> = events
            .iter()
            .map(delivery_of)
            .filter(|(event_type, _)| endpoint.events.iter().any(|e| e == event_type))
            .map(|(_, delivery)| delivery)
            .collect();
        store.enqueue_deliveries(endpoint.id, &deliveries, last, now_ms()).await?;
    }
    let now = now_ms();
    for delivery in store.claim_deliveries(now, now + LEASE_MS, 32).await? {
        let Some(endpoint) = endpoints.get(&delivery.endpoint_id).cloned() else { continue };
        // Each attempt runs on its own: a slow endpoint delays nobody else.
        let (store, client) = (store.clone(), client.clone());
        tokio::spawn(async move { attempt(&store, &client, &endpoint, delivery, settings).await });
    }
    Ok(())
}

async fn attempt(store: &Arc<dyn Store>, client: &reqwest::Client, endpoint: &WebhookRecord, delivery: DeliveryRecord, settings: WebhookSettings) {
    let (status, error) = match send(client, endpoint, &delivery, settings.destinations).await {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        // Redirects are not followed: a 3xx is a failed attempt like any other status.
        Ok(response) => (Some(response.status().as_u16()), Some(format!("HTTP {}", response.status().as_u16()))),
        Err(failure) => (None, Some(failure.to_string())),
    };
    let now = now_ms();
    let outcome = match &error {
        None => AttemptOutcome::Delivered,
        Some(_) if now - delivery.created_at >= RETRY_FOR_MS => AttemptOutcome::GiveUp,
        Some(_) => AttemptOutcome::Retry(now + backoff_ms(settings.retry_base.as_millis() as i64, delivery.attempts)),
    };
    if let Err(error) = store.record_attempt(delivery.id, now, status, error.as_deref(), outcome).await {
        tracing::warn!(%error, "could not record a webhook attempt");
    }
}

/// Why an attempt got no HTTP answer.
#[derive(Debug, thiserror::Error)]
enum SendFailure {
    #[error("{0}")]
    InvalidUrl(String),
    #[error(transparent)]
    NotPublic(#[from] destination::NotPublic),
    #[error("timed out")]
    TimedOut,
    #[error("could not connect")]
    CouldNotConnect,
}

/// POSTs the signed delivery, if the destination is permitted.
async fn send(client: &reqwest::Client, endpoint: &WebhookRecord, delivery: &DeliveryRecord, policy: DestinationPolicy) -> Result<reqwest::Response, SendFailure> {
    let url = destination::parse_http_url(&endpoint.url).map_err(SendFailure::InvalidUrl)?;
    // The client connects to IP literals without asking the resolver: check them here.
    policy.check_ip_literal(&url)?;
    let timestamp = now_ms() / 1000;
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-marketchat-event-id", &delivery.event_id)
        .header("x-marketchat-timestamp", timestamp.to_string())
        .header("x-marketchat-signature", signature(&endpoint.secret, timestamp, &delivery.body))
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|error| {
            if destination::caused_by_refusal(&error) {
                SendFailure::NotPublic(destination::NotPublic)
            } else if error.is_timeout() {
                SendFailure::TimedOut
            } else {
                SendFailure::CouldNotConnect
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 style check against an independently computed value.
        let sig = signature("key", 1, "body");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert_ne!(sig, signature("key", 2, "body"));
        assert_ne!(sig, signature("other", 1, "body"));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempts in 0..5 {
            let delay = backoff_ms(1_000, attempts);
            let nominal = 1_000 << attempts;
            assert!(delay >= nominal * 3 / 4 && delay <= nominal * 5 / 4, "{attempts}: {delay}");
        }
        assert!(backoff_ms(1_000, 40) <= MAX_BACKOFF_MS * 5 / 4);
    }

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
