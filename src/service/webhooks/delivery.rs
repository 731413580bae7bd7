//! Delivering events to webhook endpoints: a worker turns new events of the durable feed
//! into one delivery row per endpoint, then sends due deliveries as signed JSON POSTs,
//! retrying with exponential back-off and jitter; every attempt is recorded.

use crate::domain::ids::WebhookId;
use super::destination::{self, DestinationPolicy};
use super::endpoints::{MESSAGES_READ, MESSAGE_CREATED};
use super::tls;
use crate::domain::wire::WireMessage;
use crate::metrics::{DeliveryLabels, Metrics};
use crate::service::clock::Clock;
use crate::store::{AttemptOutcome, DeliveryRecord, EventKind, NewDelivery, Store, StoredEvent, WebhookRecord};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Deliveries are retried until this long after the event (then given up).
pub const RETRY_FOR: Duration = Duration::from_secs(48 * 60 * 60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// How much longer than an attempt's timeout a claim lasts (time to record the attempt);
/// a delivery whose worker died is tried again this long after its timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(15);
/// The longest a stop waits, beyond the webhook timeout, for attempts in flight.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// `sha256=HEX` of HMAC-SHA256 with `secret` over `TIMESTAMP.BODY`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The event's type, ID and JSON body as delivered; `None` for the support inbox's
/// operator-side events, which webhooks never carry.
pub fn delivery_of(event: &StoredEvent) -> Option<(&'static str, NewDelivery)> {
    let event_id = format!("evt_{}_{}", event.position.tx, event.position.seq);
    let (event_type, occurred_at, data) = match &event.kind {
        EventKind::MessageCreated(m) => (MESSAGE_CREATED, m.created_at, json!({ "message": WireMessage::from(m).to_event_json() })),
        EventKind::MessagesRead { sent_by, read_at, message_ids } => (
            MESSAGES_READ,
            *read_at,
            json!({ "sentByType": sent_by.as_str(), "readAt": read_at.to_rfc3339(),
                    "messageIds": message_ids.iter().map(|id| id.gid()).collect::<Vec<_>>() }),
        ),
        EventKind::ChatUpdated | EventKind::NoteCreated(_) => return None,
    };
    let body = json!({
        "id": event_id, "type": event_type, "occurredAt": occurred_at.to_rfc3339(),
        "sellerId": event.seller_id.gid(), "data": data,
    });
    Some((event_type, NewDelivery { event_id, body: body.to_string() }))
}

/// The delay before attempt `attempts + 1`: `base · 2^attempts`, at most an hour, ±25 %.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exponential = base.saturating_mul(1_u32 << attempts.clamp(0, 30)).min(MAX_BACKOFF);
    exponential.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// First retry delay; later ones double.
    pub retry_base: Duration,
    /// Longest an endpoint may take to answer.
    pub timeout: Duration,
    /// How often the worker looks for work.
    pub poll: Duration,
    /// Which destinations deliveries may reach.
    pub destinations: DestinationPolicy,
    /// A PEM bundle of extra root certificates HTTPS endpoints may chain to (besides the
    /// system's trust store and `SSL_CERT_FILE`).
    pub ca_file: Option<PathBuf>,
}

impl WebhookSettings {
    /// How long a claimed delivery is reserved for the worker that claimed it: the
    /// attempt's timeout and a small margin.
    pub fn lease(&self) -> Duration {
        self.timeout + LEASE_MARGIN
    }
}

/// The delivery client: the destination policy on every resolved address, no redirects,
/// no proxy (a proxy would resolve, and reach, the destination out of the policy's sight).
fn delivery_client(settings: &WebhookSettings) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
    for root in tls::trusted_roots(settings.ca_file.as_deref())? {
        match reqwest::Certificate::from_der(&root) {
            Ok(certificate) => builder = builder.add_root_certificate(certificate),
            Err(error) => tracing::debug!(%error, "skipping an unusable root certificate"),
        }
    }
    builder
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(destination::PublicResolver { policy: settings.destinations }))
        .build()
        .map_err(|error| error.to_string())
}

/// What the worker shares with its attempts: where to record them and how they went.
struct Reporting {
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    /// Whether each active endpoint's latest attempt failed.
    failing: Mutex<HashMap<WebhookId, bool>>,
}

impl Reporting {
    /// Records that `endpoint_id`'s latest attempt failed (or not) and updates the gauge.
    fn set_failing(&self, endpoint_id: WebhookId, failed: bool) {
        let mut failing = self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failing.insert(endpoint_id, failed);
        self.publish(&failing);
    }

    /// Forgets endpoints that are no longer active.
    fn keep_only(&self, active: &HashMap<WebhookId, WebhookRecord>) {
        let mut failing = self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failing.retain(|id, _| active.contains_key(id));
        self.publish(&failing);
    }

    fn publish(&self, failing: &HashMap<WebhookId, bool>) {
        let count = failing.values().filter(|failed| **failed).count();
        self.metrics.webhook_failing_endpoints.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Reads each active endpoint's latest attempt, so the gauge is right from the start.
    async fn load(&self) -> Result<(), crate::store::StoreError> {
        for endpoint in self.store.list_webhooks().await?.into_iter().filter(|e| e.removed_at.is_none()) {
            if let Some(latest) = self.store.webhook_attempts(endpoint.id, 1).await?.first() {
                self.set_failing(endpoint.id, latest.error.is_some());
            }
        }
        Ok(())
    }
}

/// Starts the delivery worker; it stops when `stop` is cancelled, after the attempts in
/// flight have finished (each is bounded by the webhook timeout).
pub fn spawn_worker(
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    settings: WebhookSettings,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match delivery_client(&settings) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "webhook deliveries are off: the HTTP client could not be built");
                return;
            }
        };
        let reporting = Arc::new(Reporting { store, clock, metrics, failing: Mutex::default() });
        if let Err(error) = reporting.load().await {
            tracing::warn!(%error, "could not read the latest webhook attempts");
        }
        let in_flight = TaskTracker::new();
        loop {
            if let Err(error) = run_once(&reporting, &client, &settings, &in_flight).await {
                tracing::warn!(%error, "webhook worker round failed");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(settings.poll) => {}
            }
        }
        in_flight.close();
        if !in_flight.is_empty() {
            tracing::info!(attempts = in_flight.len(), "waiting for webhook attempts in flight");
        }
        if tokio::time::timeout(settings.timeout + STOP_GRACE, in_flight.wait()).await.is_err() {
            tracing::warn!(attempts = in_flight.len(), lease_secs = settings.lease().as_secs(), "webhook attempts still in flight at stop; they are retried when their claims lapse");
        }
    })
}

/// Queues new events for every active endpoint, then starts the due deliveries.
async fn run_once(reporting: &Arc<Reporting>, client: &reqwest::Client, settings: &WebhookSettings, in_flight: &TaskTracker) -> Result<(), crate::store::StoreError> {
    let (store, clock) = (&reporting.store, &reporting.clock);
    let endpoints: HashMap<WebhookId, WebhookRecord> =
        store.list_webhooks().await?.into_iter().filter(|e| e.removed_at.is_none()).map(|e| (e.id, e)).collect();
    reporting.keep_only(&endpoints);
    if endpoints.is_empty() {
        return Ok(());
    }
    for endpoint in endpoints.values() {
        let events = store.events_after(endpoint.cursor, None, 500).await?;
        let Some(last) = events.last().map(|e| e.position) else { continue };
        let deliveries: Vec<NewDelivery> = events
            .iter()
            .filter_map(delivery_of)
            .filter(|(event_type, _)| endpoint.events.iter().any(|e| e == event_type))
            .map(|(_, delivery)| delivery)
            .collect();
        store.enqueue_deliveries(endpoint.id, &deliveries, last, clock.now()).await?;
    }
    let now = clock.now();
    for delivery in store.claim_deliveries(now, now.plus(settings.lease()), 32).await? {
        let Some(endpoint) = endpoints.get(&delivery.endpoint_id).cloned() else { continue };
        // Each attempt runs on its own: a slow endpoint delays nobody else.
        let (reporting, client, settings) = (reporting.clone(), client.clone(), settings.clone());
        in_flight.spawn(async move { attempt(&reporting, &client, &endpoint, delivery, &settings).await });
    }
    Ok(())
}

async fn attempt(reporting: &Reporting, client: &reqwest::Client, endpoint: &WebhookRecord, delivery: DeliveryRecord, settings: &WebhookSettings) {
    let (status, error) = match send(client, &reporting.clock, endpoint, &delivery, settings.destinations).await {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        // Redirects are not followed: a 3xx is a failed attempt like any other status.
        Ok(response) => (Some(response.status().as_u16()), Some(format!("HTTP {}", response.status().as_u16()))),
        Err(failure) => (None, Some(failure.to_string())),
    };
    let now = reporting.clock.now();
    let outcome = match &error {
        None => AttemptOutcome::Delivered,
        Some(_) if now.since(delivery.created_at) >= RETRY_FOR => AttemptOutcome::GiveUp,
        Some(_) => AttemptOutcome::Retry(now.plus(backoff(settings.retry_base, delivery.attempts))),
    };
    report(reporting, endpoint, &delivery, status, error.as_deref(), outcome);
    if let Err(error) = reporting.store.record_attempt(delivery.id, now, status, error.as_deref(), outcome).await {
        tracing::warn!(%error, "could not record a webhook attempt");
    }
}

/// Logs a failed attempt (the endpoint's host, the status or error: never the secret,
/// the body or the rest of the URL), counts the attempt and updates the failing gauge.
fn report(reporting: &Reporting, endpoint: &WebhookRecord, delivery: &DeliveryRecord, status: Option<u16>, error: Option<&str>, outcome: AttemptOutcome) {
    let label = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Retry(_) => "failed",
        AttemptOutcome::GiveUp => "gave_up",
    };
    reporting.metrics.webhook_deliveries.get_or_create(&DeliveryLabels { outcome: label.to_owned() }).inc();
    reporting.set_failing(endpoint.id, error.is_some());
    let Some(error) = error else { return };
    let host = url::Url::parse(&endpoint.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let endpoint_id = endpoint.id.gid();
    let next_retry_in_ms = match outcome {
        AttemptOutcome::Retry(at) => Some(at.since(reporting.clock.now()).as_millis()),
        _ => None,
    };
    tracing::warn!(endpoint = %endpoint_id, %host, status, %error, attempt = delivery.attempts + 1, event_id = %delivery.event_id, next_retry_in_ms, gave_up = matches!(outcome, AttemptOutcome::GiveUp), "webhook delivery failed");
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
    #[error("TLS certificate problem: {0}")]
    Certificate(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("could not connect")]
    CouldNotConnect,
}

/// POSTs the signed delivery, if the destination is permitted.
async fn send(
    client: &reqwest::Client,
    clock: &Clock,
    endpoint: &WebhookRecord,
    delivery: &DeliveryRecord,
    policy: DestinationPolicy,
) -> Result<reqwest::Response, SendFailure> {
    let url = destination::parse_http_url(&endpoint.url).map_err(SendFailure::InvalidUrl)?;
    // The client connects to IP literals without asking the resolver: check them here.
    policy.check_ip_literal(&url)?;
    let timestamp = clock.now().get() / 1000;
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
            } else if let Some(tls) = tls::tls_error(&error) {
                match tls {
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => SendFailure::Certificate(tls.to_string()),
                    other => SendFailure::Tls(other.to_string()),
                }
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
            let delay = backoff(Duration::from_secs(1), attempts).as_millis();
            let nominal = 1_000 << attempts;
            assert!(delay >= nominal * 3 / 4 && delay <= nominal * 5 / 4, "{attempts}: {delay}");
        }
        assert!(backoff(Duration::from_secs(1), 40) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
