//! What every resolver may use, put into both schemas once: the services, the event
//! broker, the rate limiter, the metrics and the server's public URL. The caller's principal and credential come
//! with each request instead.

use super::rate_limit::RateLimiter;
use crate::metrics::Metrics;
use crate::realtime::Broker;
use crate::service::{Accounts, ChatService, Provisioning, SupportService, WebhookService};
use async_graphql::Context;
use std::sync::Arc;

/// The schemas' shared data.
#[derive(Clone)]
pub struct ApiContext {
    /// Chat use cases.
    pub chat: ChatService,
    /// The support inbox's use cases (Operator API only).
    pub support: SupportService,
    /// Webhook endpoint use cases.
    pub webhooks: WebhookService,
    /// Sellers and their keys, for the marketplace's sync (admin credentials only).
    pub provisioning: Provisioning,
    /// Real-time fan-out, for subscriptions.
    pub broker: Arc<Broker>,
    /// The send limit.
    pub limiter: Arc<RateLimiter>,
    /// Counters of created messages.
    pub metrics: Arc<Metrics>,
    /// Users and sign-ins (the embedded seller chat's tokens).
    pub accounts: Arc<Accounts>,
    /// Where clients reach this server (`--public-url`), for absolute links.
    pub public_url: Option<String>,
}

impl ApiContext {
    /// The context of the schema `ctx` belongs to.
    pub fn of<'a>(ctx: &Context<'a>) -> &'a ApiContext {
        ctx.data_unchecked::<ApiContext>()
    }
}
