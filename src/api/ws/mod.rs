//! GraphQL over WebSocket (graphql-transport-ws, the `graphql-ws` library's protocol).
//!
//! We read `connection_init` ourselves so that the credential in its payload picks the
//! schema (on `/graphql`) and a bad one closes with 4403 before anything is delivered;
//! then [`connection`] speaks the protocol as async-graphql's driver did (same messages,
//! same close codes), running each operation through async-graphql on its own task and
//! handing each `chatEvents` subscription, once async-graphql checked it, to the fan-out
//! engine. We own both directions: every `subscribe` passes the same gate as an HTTP
//! request (credential still valid, per-IP and per-key limits) plus a cap on operations
//! in flight on the socket, and in the write loop a subscriber whose socket stays
//! unwritable, or who falls too far behind, is disconnected. Frames are held to the HTTP
//! body limit, and one credential may hold only so many sockets.

mod connection;
mod gate;
mod mailbox;

pub use gate::MAX_OPERATIONS_PER_SOCKET;

use super::auth::identify;
use super::error::{ApiError, ErrorCode};
use super::http::{Endpoint, MAX_BODY_BYTES};
use super::resolvers::ConnectionControl;
use super::state::ApiState;
use crate::domain::Principal;
use crate::service::auth::{Credential, CredentialCheck};
use connection::{close, Connection};
use gate::OperationGate;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;
use async_graphql::Data;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// The subprotocol we speak.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Refusals queued for the client at most; a client that fills the queue faster than
/// it reads is flooding and is disconnected.
const REFUSAL_QUEUE: usize = 16;

/// GET with `Upgrade: websocket` on a GraphQL path.
pub fn upgrade(state: ApiState, endpoint: Endpoint, client_ip: IpAddr, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Result<Response, ApiError> {
    state.limiter.request_from(client_ip)?;
    let slot = state
        .subscription_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "too many open subscriptions; try again later"))?;
    let sockets = state.sockets.clone();
    // Keep only what the socket needs, not the whole upgrade request's headers.
    let cookie = same_origin_cookie(&headers);
    Ok(upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(1024)
        // A frame, and so `connection_init` and every operation, is held to the HTTP body limit.
        .max_frame_size(MAX_BODY_BYTES)
        .max_message_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            sockets.track_future(async move {
                serve_socket(state, endpoint, client_ip, cookie, socket).await;
                drop(slot);
            })
        }))
}

/// The portal session cookie of a same-origin upgrade request (a page of another site
/// cannot use the cookie to open a subscription).
fn same_origin_cookie(headers: &HeaderMap) -> HeaderMap {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest));
    let mut cookie = HeaderMap::new();
    if origin_host.is_none() || origin_host == host {
        // A copy: a parsed header shares (and would keep alive) the request's read buffer.
        if let Some(value) = headers.get(axum::http::header::COOKIE).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
            cookie.insert(axum::http::header::COOKIE, value);
        }
    }
    cookie
}

async fn serve_socket(state: ApiState, endpoint: Endpoint, client_ip: IpAddr, cookie: HeaderMap, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    // Boxed: its state is freed once the connection settles in (an idle socket's task
    // then holds only the connection's loop).
    let (principal, credential, check) = match Box::pin(accept_init(&state, endpoint, cookie, &mut incoming)).await {
        Ok(accepted) => accepted,
        Err(Some((code, reason))) => return close(&mut sink, code, reason).await,
        Err(None) => return,
    };
    let Some(_held) = state.sockets_per_credential.open(credential) else {
        return close(&mut sink, 1013, "too many open sockets for this credential; close one first").await;
    };
    let gate = OperationGate {
        state: state.clone(),
        client_ip,
        credential,
        check,
        in_flight: Mutex::default(),
        refusals: mailbox::Mailbox::new(REFUSAL_QUEUE),
        ended: CancellationToken::new(),
        end_reason: Mutex::new(None),
    };
    let control = ConnectionControl::default();
    let mut data = Data::default();
    data.insert(control.clone());
    let is_seller = matches!(principal, Principal::Seller { .. });
    data.insert(principal);
    // The send limit and role checks read these, exactly as for a request over HTTP.
    data.insert(credential);
    let metrics = state.metrics.clone();
    metrics.live_connections.inc();
    let connection = Connection::new(&state, &gate, control, data);
    if is_seller {
        connection.run(&state.schemas.seller, &state.seller_plans, &mut sink, &mut incoming).await;
    } else {
        connection.run(&state.schemas.operator, &state.operator_plans, &mut sink, &mut incoming).await;
    }
    metrics.live_connections.dec();
}

/// Reads `connection_init` and authenticates its credential (or the portal cookie);
/// returns the principal, the credential and how to re-check it later. On refusal: the close code and reason, or none when the
/// client already left. What it reads is freed before the connection settles in, so
/// idle connections stay small.
async fn accept_init(
    state: &ApiState,
    endpoint: Endpoint,
    cookie: HeaderMap,
    incoming: &mut (impl Stream<Item = Result<Message, axum::Error>> + Unpin),
) -> Result<(Principal, Credential, CredentialCheck), Option<(u16, &'static str)>> {
    let first = tokio::select! {
        first = tokio::time::timeout(INIT_TIMEOUT, next_text(incoming)) => first,
        _ = state.shutdown.cancelled() => return Err(Some((1001, "server shutting down"))),
    };
    let init = match first {
        Err(_) => return Err(Some((4408, "Connection initialisation timeout"))),
        Ok(None) => return Err(None),
        Ok(Some(text)) => text,
    };
    let payload = match serde_json::from_str::<Value>(&init) {
        Ok(message) if message["type"] == "connection_init" => message.get("payload").cloned().unwrap_or(Value::Null),
        Ok(_) => return Err(Some((4401, "Unauthorized"))),
        Err(_) => return Err(Some((4400, "Invalid message"))),
    };
    // A key in the payload wins; otherwise the portal cookie of the upgrade request.
    let mut credentials = credential_headers(&payload);
    credentials.extend(cookie);
    match identify(&state.auth, &credentials, false).await {
        Ok(authenticated) if endpoint.admits(&authenticated.principal).is_ok() => {
            Ok((authenticated.principal, authenticated.credential, authenticated.check))
        }
        Err(error) if error.is_lookup_failure() => {
            // Not the client's fault: it may try again.
            tracing::warn!(%error, "could not look up a socket's credential");
            Err(Some((1011, "the database is unavailable; try again")))
        }
        _ => Err(Some((4403, "Forbidden"))),
    }
}

/// The next text frame's content; `None` once the client is gone.
async fn next_text(incoming: &mut (impl Stream<Item = Result<Message, axum::Error>> + Unpin)) -> Option<String> {
    while let Some(frame) = incoming.next().await {
        match frame.ok()? {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return String::from_utf8(bytes.to_vec()).ok(),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

/// The credential entries of a `connection_init` payload, as request headers, so the
/// same authentication applies as over HTTP.
fn credential_headers(payload: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(entries) = payload.as_object() {
        for (name, value) in entries {
            let (Ok(name), Some(Ok(value))) = (HeaderName::try_from(name.as_str()), value.as_str().map(HeaderValue::from_str)) else {
                continue;
            };
            headers.insert(name, value);
        }
    }
    headers
}

