//! GraphQL over WebSocket (graphql-transport-ws, the `graphql-ws` library's protocol).
//!
//! We read `connection_init` ourselves so that the credential in its payload picks the
//! schema (on `/graphql`) and a bad one closes with 4403 before anything is delivered;
//! then async-graphql speaks the protocol. We own both directions: every `subscribe`
//! passes the same gate as an HTTP request (credential still valid, per-IP and per-key
//! limits) plus a cap on operations in flight on the socket, and in the write loop a
//! subscriber whose socket stays unwritable, or who falls too far behind, is
//! disconnected. Frames are held to the HTTP body limit, and one credential may hold
//! only so many sockets.

use super::auth::identify;
use super::error::{ApiError, ErrorCode};
use super::http::{Endpoint, MAX_BODY_BYTES};
use super::resolvers::ConnectionControl;
use super::state::ApiState;
use crate::domain::Principal;
use crate::service::auth::{AuthError, Credential, CredentialCheck};
use std::collections::HashSet;
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols as Protocols, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
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
/// Operations (subscriptions, queries, mutations) in flight on one socket at most; a
/// client needing more opens another socket (within its credential's socket cap).
pub const MAX_OPERATIONS_PER_SOCKET: usize = 10;
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
    let (principal, credential, check, init) = match accept_init(&state, endpoint, cookie, &mut incoming).await {
        Ok(accepted) => accepted,
        Err(Some((code, reason))) => return close(&mut sink, code, reason).await,
        Err(None) => return,
    };
    let Some(_held) = state.sockets_per_credential.open(credential) else {
        return close(&mut sink, 1013, "too many open sockets for this credential; close one first").await;
    };
    let (refusals, refused) = mpsc::channel(REFUSAL_QUEUE);
    let gate = Arc::new(OperationGate {
        state: state.clone(),
        client_ip,
        credential,
        check,
        in_flight: Mutex::default(),
        refusals,
        ended: CancellationToken::new(),
        end_reason: Mutex::new(None),
    });
    // Hand the protocol to async-graphql, replaying the init message we consumed; every
    // later operation passes the gate first.
    let admitted = {
        let gate = gate.clone();
        incoming
            .take_while({
                let gate = gate.clone();
                move |frame| {
                    if frame.is_err() {
                        // Over the size limit or broken: end the socket, saying why.
                        gate.end(1009, "frame larger than the request body limit or malformed");
                    }
                    std::future::ready(frame.is_ok())
                }
            })
            .filter_map(move |frame| {
                let gate = gate.clone();
                async move {
                    let text = match frame {
                        Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                        Ok(Message::Binary(bytes)) => bytes.to_vec(),
                        _ => return None,
                    };
                    gate.admit(text).await
                }
            })
    };
    let incoming = stream::once(async move { init.into_bytes() }).chain(admitted);
    let control = ConnectionControl::default();
    let mut data = Data::default();
    data.insert(control.clone());
    let is_seller = matches!(principal, Principal::Seller { .. });
    data.insert(principal);
    // The send limit and role checks read these, exactly as for a request over HTTP.
    data.insert(credential);
    let metrics = state.metrics.clone();
    metrics.live_connections.inc();
    if is_seller {
        let protocol = GraphQLWebSocket::new(state.schemas.seller.clone(), incoming, Protocols::GraphQLWS);
        pump(&state, protocol.connection_data(data), control, &gate, refused, &mut sink).await;
    } else {
        let protocol = GraphQLWebSocket::new(state.schemas.operator.clone(), incoming, Protocols::GraphQLWS);
        pump(&state, protocol.connection_data(data), control, &gate, refused, &mut sink).await;
    }
    metrics.live_connections.dec();
}

/// What every operation sent over one socket passes before async-graphql sees it: the
/// credential must still hold (a revoked key or ended session writes nothing more),
/// the per-IP and per-key limits count it as they count an HTTP request, and at most
/// [`MAX_OPERATIONS_PER_SOCKET`] may be in flight.
struct OperationGate {
    state: ApiState,
    client_ip: IpAddr,
    credential: Credential,
    check: CredentialCheck,
    /// IDs of the operations in flight (until the server completes them).
    in_flight: Mutex<HashSet<String>>,
    /// Refusals to write to the client, as protocol `error` messages.
    refusals: mpsc::Sender<String>,
    /// Cancelled when the socket must close; the code and reason say why.
    ended: CancellationToken,
    end_reason: Mutex<Option<(u16, &'static str)>>,
}

impl OperationGate {
    /// The frame to hand to the protocol, or `None` when it was refused.
    async fn admit(&self, frame: Vec<u8>) -> Option<Vec<u8>> {
        if self.ended.is_cancelled() {
            return None;
        }
        let Some(id) = subscribe_id(&frame) else { return Some(frame) };
        match self.credential_holds().await {
            Ok(true) => {}
            Ok(false) => {
                self.end(4403, "Forbidden: the key was revoked or the session ended");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "could not check a socket's credential");
                self.refuse(&id, ApiError::database_unavailable());
                return None;
            }
        }
        let limits = &self.state.limiter;
        if let Err(limited) = limits.request_from(self.client_ip).and_then(|()| limits.request_with(self.credential)) {
            self.refuse(&id, ApiError::rate_limited(limited));
            return None;
        }
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if !in_flight.contains(&id) && in_flight.len() >= MAX_OPERATIONS_PER_SOCKET {
                drop(in_flight);
                let message = format!("at most {MAX_OPERATIONS_PER_SOCKET} operations may be in flight on one socket; complete one first");
                self.refuse(&id, ApiError::new(ErrorCode::TooManyOperations, message));
                return None;
            }
            in_flight.insert(id);
        }
        Some(frame)
    }

    /// Whether the socket's key is still unrevoked, or its session still live.
    async fn credential_holds(&self) -> Result<bool, AuthError> {
        self.state.auth.still_valid(&self.check).await
    }

    /// The server completed operation `id`: it no longer counts against the cap.
    fn completed(&self, id: &str) {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Queues a protocol `error` for operation `id`; a client that lets refusals pile up
    /// unread is disconnected.
    fn refuse(&self, id: &str, error: ApiError) {
        let error = serde_json::json!({ "id": id, "type": "error", "payload": [error.to_json()] });
        if self.refusals.try_send(error.to_string()).is_err() {
            self.end(1008, "too many refused operations");
        }
    }

    /// Closes the socket with `code` (the first reason given wins).
    fn end(&self, code: u16, reason: &'static str) {
        self.end_reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert((code, reason));
        self.ended.cancel();
    }

    fn end_reason(&self) -> (u16, &'static str) {
        self.end_reason.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or((1000, ""))
    }
}

/// The operation ID of a `subscribe` message (the protocol's only way to start one);
/// `None` for every other message, which passes untouched.
fn subscribe_id(frame: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        id: Option<String>,
    }
    let envelope: Envelope = serde_json::from_slice(frame).ok()?;
    // `start` is the older protocol's name; async-graphql accepts both.
    matches!(envelope.kind.as_ref(), "subscribe" | "start").then(|| envelope.id.unwrap_or_default())
}

/// The operation ID of a `complete` message the server sends (cheap prefix test first:
/// events are the hot path and are never parsed here).
fn completed_id(text: &str) -> Option<String> {
    if !text.starts_with(r#"{"type":"complete""#) {
        return None;
    }
    let message: Value = serde_json::from_str(text).ok()?;
    message["id"].as_str().map(str::to_owned)
}

/// Reads `connection_init` and authenticates its credential (or the portal cookie);
/// returns the principal, how to re-check the credential later, and the message (to
/// replay to the protocol). On refusal: the close code and reason, or none when the
/// client already left. What it reads is freed before the connection settles in, so
/// idle connections stay small.
async fn accept_init(
    state: &ApiState,
    endpoint: Endpoint,
    cookie: HeaderMap,
    incoming: &mut (impl Stream<Item = Result<Message, axum::Error>> + Unpin),
) -> Result<(Principal, Credential, CredentialCheck, String), Option<(u16, &'static str)>> {
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
            Ok((authenticated.principal, authenticated.credential, authenticated.check, init))
        }
        _ => Err(Some((4403, "Forbidden"))),
    }
}

/// Writes the protocol's messages and the gate's refusals to the socket until either
/// side ends, the server shuts down, the subscriber is too slow, a write stalls past
/// the timeout, the gate ends the socket, or the credential is revoked (re-checked
/// every `ws_recheck`, and before every operation by the gate).
async fn pump(
    state: &ApiState,
    messages: impl Stream<Item = WsMessage>,
    control: ConnectionControl,
    gate: &OperationGate,
    mut refused: mpsc::Receiver<String>,
    sink: &mut (impl futures_util::Sink<Message> + Unpin),
) {
    let write_timeout = state.ws_write_timeout;
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + state.ws_recheck, state.ws_recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures_util::pin_mut!(messages);
    loop {
        let frame = tokio::select! {
            biased;
            _ = gate.ended.cancelled() => {
                let (code, reason) = gate.end_reason();
                return close(sink, code, reason).await;
            }
            Some(refusal) = refused.recv() => Message::Text(refusal.into()),
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = completed_id(&text) {
                        gate.completed(&id);
                    }
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => return close(sink, code, &reason).await,
                None if gate.ended.is_cancelled() => {
                    let (code, reason) = gate.end_reason();
                    return close(sink, code, reason).await;
                }
                None => return close(sink, 1000, "").await,
            },
            _ = control.0.cancelled() => {
                return close(sink, 1008, "subscriber too slow; reconnect with after: the last cursor").await;
            }
            _ = state.shutdown.cancelled() => return close(sink, 1001, "server shutting down").await,
            _ = recheck.tick() => {
                match gate.credential_holds().await {
                    Ok(true) => {}
                    Ok(false) => return close(sink, 4403, "Forbidden: the key was revoked or the session ended").await,
                    Err(error) => tracing::warn!(%error, "could not re-check a subscriber's credential; will retry"),
                }
                continue;
            }
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
