//! The GraphQL edge: two schemas over the services, and the HTTP and WebSocket handlers
//! that pick one by credential and path. Authentication, rate limits and error mapping
//! happen here, once for both APIs.
//!
//! - `http`, `ws`: GraphQL over HTTP POST and over WebSocket (graphql-transport-ws).
//! - `auth`, `client_ip`, `rate_limit`, `socket_cap`, `limits`: request policy: who is
//!   calling, from where, how often, on how many sockets, and how large a document may be;
//!   `document_cache`: parsed documents kept by their text.
//! - `seller`, `operator`: the two API roots; `objects`: the types they return;
//!   `resolvers`: the resolver bodies they share; `access`: who may call what.
//! - `state`, `schemas`, `context`: what the routes and resolvers share.
//! - `error`: every error code a client can see, and the one error type that carries it.

mod access;
mod auth;
mod client_ip;
mod context;
mod document_cache;
mod error;
mod http;
mod limits;
mod objects;
mod operator;
mod plans;
mod rate_limit;
mod resolvers;
mod schemas;
mod seller;
mod socket_cap;
mod state;
pub mod ws;

pub use auth::{identify, named_cookie, session_cookie, IdentifyError, SESSION_COOKIE};
pub use client_ip::{ClientIp, ClientOverHttps};
pub use context::ApiContext;
pub use error::{ApiError, ErrorCode};
pub use http::MAX_BODY_BYTES;
pub use rate_limit::{Limited, RateLimiter};
pub use state::ApiState;

use crate::config::TrustedProxies;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use http::Endpoint;

/// The API's routes: the three GraphQL paths and the two schemas' SDL.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ApiState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    Router::new()
        .route("/graphql", graphql_path(Endpoint::Either))
        .route("/graphql/seller", graphql_path(Endpoint::Seller))
        .route("/graphql/operator", graphql_path(Endpoint::Operator))
        .route("/graphql/seller/schema.graphql", get(http::seller_sdl))
        .route("/graphql/operator/schema.graphql", get(http::operator_sdl))
}

/// One GraphQL path: POST runs a request, GET upgrades to a subscription socket.
fn graphql_path<S>(endpoint: Endpoint) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    ApiState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    post(
        move |State(state): State<ApiState>, ClientIp(client): ClientIp, headers: HeaderMap, body: Result<Bytes, BytesRejection>| async move {
            http::execute(&state, endpoint, client, &headers, body).await
        },
    )
    .get(move |State(state): State<ApiState>, ClientIp(client): ClientIp, headers: HeaderMap, upgrade: WebSocketUpgrade| async move {
        ws::upgrade(state, endpoint, client, headers, upgrade)
    })
}
