//! Prometheus metrics, held in application state (no global registry), rendered on `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (never the raw URL, to keep cardinality bounded).
    pub path: String,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// The route pattern.
    pub path: String,
}

/// Labels of a created message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SideLabels {
    /// `Admin` or `Seller`.
    pub sent_by: String,
}

/// Labels of a webhook delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `delivered`, `failed` (retried later) or `gave_up`.
    pub outcome: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests served, by route and status.
    pub http_requests: Family<RequestLabels, Counter>,
    /// Request latency, by route.
    pub http_latency: Family<PathLabels, Histogram>,
    /// Messages stored (not counting idempotent replays), by side.
    pub messages_created: Family<SideLabels, Counter>,
    /// Subscription WebSocket connections open now (authenticated).
    pub live_connections: Gauge,
    /// Events delivered to subscribers (replayed or live).
    pub events_delivered: Counter,
    /// Events rendered for subscribers (once per distinct subscription document live).
    pub events_rendered: Counter,
    /// Webhook delivery attempts, by outcome.
    pub webhook_deliveries: Family<DeliveryLabels, Counter>,
    /// Active webhook endpoints whose latest attempt failed.
    pub webhook_failing_endpoints: Gauge,
    /// Notification e-mail attempts, by outcome (`sent`, `failed` and retried, `gave_up`).
    pub notification_emails: Family<DeliveryLabels, Counter>,
    /// 1 when the database answered at the latest scrape (what `/readyz` asks), else 0.
    pub database_up: Gauge,
    /// Notification e-mails due and not yet sent (nor given up), at the latest scrape.
    pub notification_backlog: Gauge,
    /// The node's cap on open subscription sockets (`--max-subscriptions`).
    pub max_subscriptions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("marketchat");
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_latency = Family::<PathLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let messages_created = Family::<SideLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", http_latency.clone());
        registry.register("messages_created", "Chat messages stored", messages_created.clone());
        let live_connections = Gauge::default();
        let events_delivered = Counter::default();
        registry.register("live_connections", "Open subscription connections", live_connections.clone());
        registry.register("events_delivered", "Chat events delivered to subscribers", events_delivered.clone());
        let events_rendered = Counter::default();
        registry.register("events_rendered", "Chat events rendered for subscribers (once per distinct subscription document)", events_rendered.clone());
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        let webhook_failing_endpoints = Gauge::default();
        registry.register("webhook_deliveries", "Webhook delivery attempts by outcome (delivered, failed, gave_up)", webhook_deliveries.clone());
        registry.register("webhook_failing_endpoints", "Webhook endpoints whose latest attempt failed", webhook_failing_endpoints.clone());
        let notification_emails = Family::<DeliveryLabels, Counter>::default();
        registry.register("notification_emails", "Notification e-mail attempts by outcome (sent, failed, gave_up)", notification_emails.clone());
        let database_up = Gauge::default();
        let notification_backlog = Gauge::default();
        let max_subscriptions = Gauge::default();
        registry.register("database_up", "1 when the database answered at this scrape (as /readyz asks), else 0", database_up.clone());
        registry.register("notification_backlog", "Notification e-mails due and not yet sent or given up", notification_backlog.clone());
        registry.register("max_subscriptions", "Open subscription sockets this node accepts (--max-subscriptions)", max_subscriptions.clone());
        Self {
            registry,
            http_requests,
            http_latency,
            messages_created,
            live_connections,
            events_delivered,
            events_rendered,
            webhook_deliveries,
            webhook_failing_endpoints,
            notification_emails,
            database_up,
            notification_backlog,
            max_subscriptions,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
