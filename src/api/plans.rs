//! Subscription documents as the fan-out engine renders them: one [`DocumentPlan`] per
//! distinct (API, document, operation, variables), shared by every subscription that
//! asked the same. It renders an event by executing its document through async-graphql
//! against that one event, so the bytes are exactly those of a subscription's `next`
//! payload (aliases, fragments, `__typename`, the union, errors).

use super::resolvers::ChatEventsMode;
use crate::realtime::{EndReason, FeedEvent, Plan};
use async_graphql::{Executor, Request, Variables};
use tokio_util::bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// What a subscription asked: its document, operation and variables.
pub struct PlanSource {
    key: PlanKey,
    variables: Variables,
}

/// A [`PlanSource`] as a map key: the variables as JSON text.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PlanKey {
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl PlanSource {
    /// What `request` asks.
    pub fn of(request: &Request) -> Self {
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let key = PlanKey { query: request.query.clone(), operation_name: request.operation_name.clone(), variables };
        Self { key, variables: request.variables.clone() }
    }

    /// A request asking the same, in the engine's `mode` (none: as the client sent it).
    pub fn request(&self, mode: Option<ChatEventsMode>) -> Request {
        let mut request = Request::new(self.key.query.clone()).variables(self.variables.clone());
        if let Some(name) = &self.key.operation_name {
            request = request.operation_name(name.clone());
        }
        match mode {
            Some(mode) => request.data(mode),
            None => request,
        }
    }
}

/// Renders events of one API's schema `E` for one [`PlanSource`].
pub struct DocumentPlan<E> {
    schema: E,
    source: PlanSource,
}

impl<E: Executor> DocumentPlan<E> {
    /// The first response of the document in `mode`, as JSON.
    async fn execute(&self, mode: ChatEventsMode) -> Option<Bytes> {
        let mut responses = self.schema.execute_stream(self.source.request(Some(mode)), None);
        let response = responses.next().await?;
        match serde_json::to_vec(&response) {
            Ok(json) => Some(Bytes::from(json)),
            Err(error) => {
                tracing::error!(%error, "could not serialize a subscription event");
                None
            }
        }
    }
}

impl<E: Executor> Plan for DocumentPlan<E> {
    fn render<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(self.execute(ChatEventsMode::Render(event.clone())))
    }

    fn render_end(&self, reason: EndReason) -> BoxFuture<'_, Bytes> {
        Box::pin(async move { self.execute(ChatEventsMode::End(reason)).await.unwrap_or_else(|| Bytes::from_static(b"{\"data\":null}")) })
    }
}

/// The plans in use for one API, each kept while a subscription holds it.
#[derive(Default)]
pub struct Plans {
    by_source: Mutex<HashMap<PlanKey, Weak<dyn Plan>>>,
}

impl Plans {
    /// The plan for `source` over `schema`: the one in use, or a new one.
    pub fn intern<E: Executor>(&self, schema: &E, source: PlanSource) -> Arc<dyn Plan> {
        let mut by_source = self.by_source.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(plan) = by_source.get(&source.key).and_then(Weak::upgrade) {
            return plan;
        }
        // Forget unused plans now and then (when the map doubled since the last sweep).
        if by_source.len() >= 64 && by_source.len().is_power_of_two() {
            by_source.retain(|_, plan| plan.strong_count() > 0);
        }
        let key = source.key.clone();
        let plan: Arc<dyn Plan> = Arc::new(DocumentPlan { schema: schema.clone(), source });
        by_source.insert(key, Arc::downgrade(&plan));
        plan
    }

    /// Plans held by a subscription now.
    pub fn in_use(&self) -> usize {
        self.by_source.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().filter(|plan| plan.strong_count() > 0).count()
    }
}
