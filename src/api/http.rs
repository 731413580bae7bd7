//! GraphQL over HTTP: a POST runs a request on the schema the credential and path admit;
//! the SDL of each schema.

use super::auth::identify;
use super::error::{ApiError, ErrorCode, Result};
use super::state::ApiState;
use crate::domain::Principal;
use crate::service::auth::Authenticated;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::IpAddr;

/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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

/// POST `/graphql`, `/graphql/seller`, `/graphql/operator`: authenticate, then run the
/// request on the schema the credential and path admit.
pub async fn execute(state: &ApiState, endpoint: Endpoint, client_ip: IpAddr, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response> {
    state.limiter.request_from(client_ip)?;
    let Authenticated { principal, credential, .. } = identify(&state.auth, headers, true).await?;
    endpoint.admits(&principal).map_err(|message| ApiError::new(ErrorCode::Unauthenticated, message))?;
    state.limiter.request_with(credential)?;
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024)
        } else {
            "could not read the request body".to_owned()
        };
        ApiError::new(ErrorCode::BadRequest, message).with_status(status)
    })?;
    let request: async_graphql::Request = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(ErrorCode::BadRequest, format!("the body is not a GraphQL request (JSON with a `query` string): {error}"))
    })?;
    let is_seller = matches!(principal, Principal::Seller { .. });
    let request = request.data(principal).data(credential);
    let response = if is_seller {
        state.schemas.seller.execute(request).await
    } else {
        state.schemas.operator.execute(request).await
    };
    // A send over the limit (say, the 51st aliased chatMessageCreate) makes the whole
    // response a 429, so clients back off.
    let rate_limited = async_graphql::Value::from(ErrorCode::RateLimited.as_str());
    let retry_after = response.errors.iter().find_map(|e| {
        let extensions = e.extensions.as_ref()?;
        (extensions.get("code")? == &rate_limited).then(|| extensions.get("retryAfter").cloned())
    });
    let mut http = Json(response).into_response();
    if let Some(retry_after) = retry_after {
        *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let seconds = retry_after.map_or_else(|| "1".to_owned(), |v| v.to_string());
        if let Ok(value) = header::HeaderValue::from_str(&seconds) {
            http.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    Ok(http)
}

/// GET `/graphql/seller/schema.graphql`.
pub async fn seller_sdl(State(state): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schemas.seller_sdl.clone())
}

/// GET `/graphql/operator/schema.graphql`.
pub async fn operator_sdl(State(state): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schemas.operator_sdl.clone())
}
