//! The GraphQL edge: two schemas over the chat service and the HTTP handlers that pick
//! one by credential. Authentication and error mapping happen here, once.

pub mod auth;
pub mod client_ip;
pub mod errors;
pub mod events;
pub mod limits;
pub mod operator;
pub mod rate_limit;
pub mod seller;
pub mod types;
pub mod ws;

use crate::app::AppState;
use crate::metrics::Metrics;
use crate::service::ChatService;
use crate::domain::Principal;
use crate::realtime::Broker;
use rate_limit::RateLimiter;
use async_graphql::Schema;
use auth::{identify, AuthError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use operator::{OperatorMutation, OperatorQuery, OperatorSchema, OperatorSubscription};
use seller::{SellerMutation, SellerQuery, SellerSchema, SellerSubscription};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 10;
/// Most field selections in one document (`__typename` and aliases included).
pub const MAX_FIELDS: u64 = 1_000;
/// Most items over all pages of one request (two full pages).
pub const MAX_ROWS: u64 = 1_000;
/// Most values one request may return: fields × page sizes, a message's text weighing
/// [`limits::TEXT_WEIGHT`] (a full page of 500 messages with every field fits).
pub const MAX_COST: u64 = 10_000;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Both API schemas and their SDL texts.
pub struct Schemas {
    /// The Seller API.
    pub seller: SellerSchema,
    /// The Operator API.
    pub operator: OperatorSchema,
    /// `schema.graphql` of the Seller API.
    pub seller_sdl: String,
    /// `schema.graphql` of the Operator API.
    pub operator_sdl: String,
}

impl Schemas {
    /// Builds both schemas over `service`.
    pub fn new(
        service: ChatService,
        metrics: Arc<Metrics>,
        broker: Arc<Broker>,
        limiter: Arc<RateLimiter>,
        introspection: bool,
        webhook_destinations: crate::webhooks::DestinationPolicy,
    ) -> Self {
        let document_limits = limits::DocumentLimits { max_depth: MAX_DEPTH, max_fields: MAX_FIELDS, max_rows: MAX_ROWS, max_cost: MAX_COST };
        let mut seller = Schema::build(SellerQuery, SellerMutation, SellerSubscription)
            .data(service.clone())
            .data(metrics.clone())
            .data(broker.clone())
            .data(limiter.clone())
            .extension(document_limits);
        let mut operator = Schema::build(OperatorQuery, OperatorMutation, OperatorSubscription)
            .data(service)
            .data(metrics)
            .data(broker)
            .data(limiter)
            .data(webhook_destinations)
            .extension(document_limits);
        if !introspection {
            seller = seller.disable_introspection();
            operator = operator.disable_introspection();
        }
        let (seller, operator) = (seller.finish(), operator.finish());
        let seller_sdl = seller.sdl();
        let operator_sdl = operator.sdl();
        Self { seller, operator, seller_sdl, operator_sdl }
    }
}

/// Which API a GraphQL path serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/graphql`: the credential decides.
    Either,
    /// `/graphql/seller`.
    Seller,
    /// `/graphql/operator`.
    Operator,
}

impl Endpoint {
    /// Whether `principal` may use this path; the refusal says why.
    pub fn admits(self, principal: &Principal) -> Result<(), &'static str> {
        match (self, principal) {
            (Endpoint::Seller, Principal::Operator { .. }) => Err("an operator key cannot use the Seller API"),
            (Endpoint::Operator, Principal::Seller { .. }) => Err("a seller key cannot use the Operator API"),
            _ => Ok(()),
        }
    }
}

/// A GraphQL-shaped error response with a status and `extensions.code`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// POST `/graphql`, `/graphql/seller`, `/graphql/operator`: authenticate, then run the
/// request on the schema the credential and path admit.
pub async fn execute(
    state: &AppState,
    endpoint: Endpoint,
    client_ip: IpAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(limited) = state.limiter.request_from(client_ip) {
        return rate_limited(limited);
    }
    let (principal, credential) = match identify(&state.service, &state.accounts, headers, true).await {
        Ok(authenticated) => authenticated,
        Err(AuthError::Store(error)) => {
            tracing::error!(%error, "authentication lookup failed");
            return error_response(StatusCode::SERVICE_UNAVAILABLE, errors::INTERNAL, "service unavailable: the database cannot be reached; try again shortly");
        }
        Err(error) => return error_response(StatusCode::UNAUTHORIZED, errors::UNAUTHENTICATED, &error.to_string()),
    };
    if let Err(message) = endpoint.admits(&principal) {
        return error_response(StatusCode::UNAUTHORIZED, errors::UNAUTHENTICATED, message);
    }
    if let Err(limited) = state.limiter.request_with(credential) {
        return rate_limited(limited);
    }
    let is_seller = matches!(principal, Principal::Seller { .. });
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024)
            } else {
                "could not read the request body".to_owned()
            };
            return error_response(status, "BAD_REQUEST", &message);
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the body is not a GraphQL request (JSON with a `query` string): {error}");
            return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    let request = request.data(principal).data(credential);
    let response = if is_seller {
        state.schemas.seller.execute(request).await
    } else {
        state.schemas.operator.execute(request).await
    };
    // A send over the limit (say, the 51st aliased chatMessageCreate) makes the whole
    // response a 429, so clients back off.
    let retry_after = response.errors.iter().find_map(|e| {
        let extensions = e.extensions.as_ref()?;
        (extensions.get("code")? == &async_graphql::Value::from(errors::RATE_LIMITED)).then(|| extensions.get("retryAfter").cloned())
    });
    let mut http = Json(response).into_response();
    if let Some(retry_after) = retry_after {
        *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let seconds = retry_after.map_or_else(|| "1".to_owned(), |v| v.to_string());
        if let Ok(value) = header::HeaderValue::from_str(&seconds) {
            http.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    http
}

/// HTTP 429 with `Retry-After` and a `RATE_LIMITED` GraphQL error.
pub fn rate_limited(limited: rate_limit::Limited) -> Response {
    let seconds = limited.retry_after_secs();
    let message = format!("rate limit exceeded; retry after {seconds} s");
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": errors::RATE_LIMITED, "retryAfter": seconds } }] });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

/// GET `/graphql/seller/schema.graphql`.
pub async fn seller_sdl(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schemas.seller_sdl.clone())
}

/// GET `/graphql/operator/schema.graphql`.
pub async fn operator_sdl(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schemas.operator_sdl.clone())
}
