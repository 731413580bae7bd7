//! The gate every operation sent over one socket passes before it runs.

use crate::api::error::{ApiError, ErrorCode};
use crate::api::state::ApiState;
use super::mailbox::Mailbox;
use crate::service::auth::{AuthError, Credential, CredentialCheck};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Operations (subscriptions, queries, mutations) in flight on one socket at most; a
/// client needing more opens another socket (within its credential's socket cap).
pub const MAX_OPERATIONS_PER_SOCKET: usize = 10;

/// What every operation sent over one socket passes before async-graphql sees it: the
/// credential must still hold (a revoked key or ended session writes nothing more),
/// the per-IP and per-key limits count it as they count an HTTP request, and at most
/// [`MAX_OPERATIONS_PER_SOCKET`] may be in flight.
pub struct OperationGate {
    pub state: ApiState,
    pub client_ip: IpAddr,
    pub credential: Credential,
    pub check: CredentialCheck,
    /// IDs of the operations in flight (until the server completes them).
    pub in_flight: Mutex<HashSet<String>>,
    /// Refusals to write to the client, as protocol `error` messages.
    pub refusals: Mailbox<String>,
    /// Cancelled when the socket must close; the code and reason say why.
    pub ended: CancellationToken,
    pub end_reason: Mutex<Option<(u16, &'static str)>>,
}

impl OperationGate {
    /// The frame to hand to the protocol, or `None` when it was refused.
    pub async fn admit(&self, frame: Vec<u8>) -> Option<Vec<u8>> {
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
    pub async fn credential_holds(&self) -> Result<bool, AuthError> {
        self.state.auth.still_valid(&self.check).await
    }

    /// The server completed operation `id`: it no longer counts against the cap.
    pub fn completed(&self, id: &str) {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Queues a protocol `error` for operation `id`; a client that lets refusals pile up
    /// unread is disconnected.
    fn refuse(&self, id: &str, error: ApiError) {
        let error = serde_json::json!({ "id": id, "type": "error", "payload": [error.to_json()] });
        if !self.refusals.try_push(error.to_string()) {
            self.end(1008, "too many refused operations");
        }
    }

    /// Closes the socket with `code` (the first reason given wins).
    pub fn end(&self, code: u16, reason: &'static str) {
        self.end_reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert((code, reason));
        self.ended.cancel();
    }

    pub fn end_reason(&self) -> (u16, &'static str) {
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

