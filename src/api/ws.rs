//! GraphQL over WebSocket (graphql-transport-ws, the `graphql-ws` library's protocol).
//!
//! We read `connection_init` ourselves so that the credential in its payload picks the
//! schema (on `/graphql`) and a bad one closes with 4403 before anything is delivered;
//! then async-graphql speaks the protocol. We own the write loop, so a subscriber whose
//! socket stays unwritable, or who falls too far behind, is disconnected.

use super::auth::{identify, CredentialCheck};
use super::events::ConnectionControl;
use super::Endpoint;
use crate::app::AppState;
use crate::domain::Principal;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols as Protocols, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::{stream, SinkExt, Stream, StreamExt};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The subprotocol we speak.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// GET with `Upgrade: websocket` on a GraphQL path.
pub fn upgrade(state: Arc<AppState>, endpoint: Endpoint, client_ip: IpAddr, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if let Err(limited) = state.limiter.request_from(client_ip) {
        return super::rate_limited(limited);
    }
    let Ok(slot) = state.subscription_slots.clone().try_acquire_owned() else {
        return super::error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "too many open subscriptions; try again later");
    };
    let sockets = state.sockets.clone();
    // Keep only what the socket needs, not the whole upgrade request's headers.
    let cookie = same_origin_cookie(&headers);
    upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(1024)
        .on_upgrade(move |socket| {
            sockets.track_future(async move {
                serve_socket(state, endpoint, cookie, socket).await;
                drop(slot);
            })
        })
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

async fn serve_socket(state: Arc<AppState>, endpoint: Endpoint, cookie: HeaderMap, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (principal, check, init) = match accept_init(&state, endpoint, cookie, &mut incoming).await {
        Ok(accepted) => accepted,
        Err(Some((code, reason))) => return close(&mut sink, code, reason).await,
        Err(None) => return,
    };
    // Hand the protocol to async-graphql, replaying the init message we consumed.
    let incoming = stream::once(async move { init.into_bytes() }).chain(incoming.filter_map(|frame| async move {
        match frame {
            Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
            _ => None,
        }
    }));
    let control = ConnectionControl::default();
    let mut data = Data::default();
    data.insert(control.clone());
    let is_seller = matches!(principal, Principal::Seller { .. });
    data.insert(principal);
    let metrics = state.metrics.clone();
    metrics.live_connections.inc();
    if is_seller {
        let protocol = GraphQLWebSocket::new(state.schemas.seller.clone(), incoming, Protocols::GraphQLWS);
        pump(&state, protocol.connection_data(data), control, &check, &mut sink).await;
    } else {
        let protocol = GraphQLWebSocket::new(state.schemas.operator.clone(), incoming, Protocols::GraphQLWS);
        pump(&state, protocol.connection_data(data), control, &check, &mut sink).await;
    }
    metrics.live_connections.dec();
}

/// Reads `connection_init` and authenticates its credential (or the portal cookie);
/// returns the principal, how to re-check the credential later, and the message (to
/// replay to the protocol). On refusal: the close code and reason, or none when the
/// client already left. What it reads is freed before the connection settles in, so
/// idle connections stay small.
async fn accept_init(
    state: &AppState,
    endpoint: Endpoint,
    cookie: HeaderMap,
    incoming: &mut (impl Stream<Item = Result<Message, axum::Error>> + Unpin),
) -> Result<(Principal, CredentialCheck, String), Option<(u16, &'static str)>> {
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
    match (identify(&state.service, &state.accounts, &credentials, false).await, CredentialCheck::of(&credentials)) {
        (Ok((principal, _)), Some(check)) if endpoint.admits(&principal).is_ok() => Ok((principal, check, init)),
        _ => Err(Some((4403, "Forbidden"))),
    }
}

/// Writes the protocol's messages to the socket until either side ends, the server
/// shuts down, the subscriber is too slow, a write stalls past the timeout, or the
/// credential is revoked (re-checked every `ws_recheck`).
async fn pump(
    state: &AppState,
    messages: impl Stream<Item = WsMessage>,
    control: ConnectionControl,
    check: &CredentialCheck,
    sink: &mut (impl futures_util::Sink<Message> + Unpin),
) {
    let write_timeout = state.ws_write_timeout;
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + state.ws_recheck, state.ws_recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures_util::pin_mut!(messages);
    loop {
        let message = tokio::select! {
            biased;
            message = messages.next() => message,
            _ = control.0.cancelled() => {
                return close(sink, 1008, "subscriber too slow; reconnect with after: the last cursor").await;
            }
            _ = state.shutdown.cancelled() => return close(sink, 1001, "server shutting down").await,
            _ = recheck.tick() => {
                match check.holds(state.service.store(), state.service.now()).await {
                    Ok(true) => {}
                    Ok(false) => return close(sink, 4403, "Forbidden: the key was revoked or the session ended").await,
                    Err(error) => tracing::warn!(%error, "could not re-check a subscriber's credential; will retry"),
                }
                continue;
            }
        };
        let frame = match message {
            Some(WsMessage::Text(text)) => Message::Text(text.into()),
            Some(WsMessage::Close(code, reason)) => return close(sink, code, &reason).await,
            None => return close(sink, 1000, "").await,
        };
        match tokio::time::timeout(write_timeout, sink.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::info!("disconnecting a subscriber whose socket stayed unwritable");
                return;
            }
        }
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

async fn close(sink: &mut (impl futures_util::Sink<Message> + Unpin), code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
}
