//! What the GraphQL endpoints share between requests: the schemas, authentication, the
//! rate limiter, and the subscription sockets' settings and counters. The application
//! builds it once and hands it to the API's routes as their sub-state.

use super::context::ApiContext;
use super::rate_limit::RateLimiter;
use super::schemas::Schemas;
use super::socket_cap::SocketsPerCredential;
use super::plans::Plans;
use crate::config::ServerConfig;
use crate::realtime::Broker;
use crate::metrics::Metrics;
use crate::service::AuthService;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The GraphQL endpoints' state; clones share it.
#[derive(Clone)]
pub struct ApiState(Arc<Api>);

/// The GraphQL endpoints' shared parts.
pub struct Api {
    /// The two GraphQL schemas.
    pub schemas: Schemas,
    /// Resolves credentials, and re-checks those of open sockets.
    pub auth: AuthService,
    /// Per-node rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Counts open subscription sockets.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins to shut down (closes subscriptions).
    pub shutdown: CancellationToken,
    /// How long a subscriber's socket may stay unwritable.
    pub ws_write_timeout: Duration,
    /// How often an open subscription re-checks its credential.
    pub ws_recheck: Duration,
    /// Open subscription sockets; at capacity new ones are refused.
    pub subscription_slots: Arc<Semaphore>,
    /// Open subscription sockets per credential, capped.
    pub sockets_per_credential: Arc<SocketsPerCredential>,
    /// The fan-out engine subscriptions are registered with.
    pub broker: Arc<Broker>,
    /// Subscription documents in use on the Seller API, shared by equal subscriptions.
    pub seller_plans: Plans,
    /// Subscription documents in use on the Operator API.
    pub operator_plans: Plans,
    /// Upgraded WebSocket tasks, which the HTTP server no longer tracks; shutdown waits
    /// for them so every subscriber gets its close frame.
    pub sockets: TaskTracker,
}

impl ApiState {
    /// The endpoints' state for `config`: schemas over `context`, credentials checked by
    /// `auth`, sockets closed when `shutdown` is cancelled.
    pub fn new(config: &ServerConfig, context: ApiContext, auth: AuthService, shutdown: CancellationToken) -> Self {
        let (limiter, metrics, broker) = (context.limiter.clone(), context.metrics.clone(), context.broker.clone());
        Self(Arc::new(Api {
            schemas: Schemas::new(context, config.introspection),
            auth,
            limiter,
            metrics,
            shutdown,
            ws_write_timeout: Duration::from_secs(config.ws_write_timeout_secs),
            ws_recheck: Duration::from_secs(config.ws_recheck_secs),
            subscription_slots: Arc::new(Semaphore::new(config.max_subscriptions)),
            sockets_per_credential: SocketsPerCredential::new(config.max_sockets_per_credential),
            broker,
            seller_plans: Plans::default(),
            operator_plans: Plans::default(),
            sockets: TaskTracker::new(),
        }))
    }
}

impl Deref for ApiState {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.0
    }
}
