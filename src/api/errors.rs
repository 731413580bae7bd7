//! The API edge's error mapping: internal failures are logged and answered with a
//! generic message; client mistakes carry a machine-readable `extensions.code`.

use super::rate_limit::Limited;
use async_graphql::{Error, ErrorExtensions};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::fmt::Display;

/// `extensions.code` of a request without a valid credential for this API.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// `extensions.code` of an argument the client must fix (IDs, cursors, page sizes).
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
/// `extensions.code` of a request or send over a rate limit.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
/// `extensions.code` of a failure on our side.
pub const INTERNAL: &str = "INTERNAL_SERVER_ERROR";

/// A GraphQL error for a bad argument, carrying the reason.
pub fn bad_input(reason: impl Display) -> Error {
    Error::new(reason.to_string()).extend_with(|_, e| e.set("code", BAD_USER_INPUT))
}

/// A bad argument, prefixed with the argument's name.
pub fn bad_argument(argument: &str, reason: impl Display) -> Error {
    bad_input(format!("`{argument}` {reason}"))
}

/// Logs an internal failure and returns an error that reveals nothing of it.
pub fn internal(error: impl Display) -> Error {
    tracing::error!(%error, "request failed");
    Error::new("internal error").extend_with(|_, e| e.set("code", INTERNAL))
}

/// The error of a request whose credential does not admit it to this API.
pub fn unauthenticated() -> Error {
    Error::new("a valid API key for this API is required").extend_with(|_, e| e.set("code", UNAUTHENTICATED))
}

/// `extensions.code` of an operation the caller's role may not perform.
pub const FORBIDDEN: &str = "FORBIDDEN";

/// The error of an operation the caller is identified for but not permitted.
pub fn forbidden(reason: &str) -> Error {
    Error::new(format!("not permitted: {reason}")).extend_with(|_, e| e.set("code", FORBIDDEN))
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

/// HTTP 429 with `Retry-After` and a `RATE_LIMITED` GraphQL error.
pub fn rate_limited(limited: Limited) -> Response {
    let seconds = limited.retry_after_secs();
    let message = format!("rate limit exceeded; retry after {seconds} s");
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": RATE_LIMITED, "retryAfter": seconds } }] });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}
