//! One error vocabulary for the API edge: every `extensions.code` a client can see
//! ([`ErrorCode`]), and one error ([`ApiError`]) that answers as a GraphQL error (in a
//! response's `errors` or a WebSocket `error` message) or as a whole HTTP response.
//! Internal failures are logged and answered with a generic message; nothing of them
//! reaches the client.
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql turns any
//! `Display` error into a GraphQL error of its message alone, which would drop the code.

use super::auth::IdentifyError;
use super::rate_limit::Limited;
use crate::realtime::StreamError;
use crate::service::ServiceError;
use async_graphql::ErrorExtensions;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::fmt::Display;

/// Results of resolvers and handlers at the API edge.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Every `extensions.code` the API answers with. The status is that of an HTTP response
/// made of this error alone (errors of a GraphQL request that ran come in a 200 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credential for this API: `401 Unauthorized`.
    Unauthenticated,
    /// The caller's role may not do this: `403 Forbidden`.
    Forbidden,
    /// An argument the client must fix (IDs, cursors, page sizes): `400 Bad Request`.
    BadUserInput,
    /// A body that is not a GraphQL request: `400 Bad Request` (`413` when too large).
    BadRequest,
    /// Over a rate limit: `429 Too Many Requests`, with `Retry-After`.
    RateLimited,
    /// A document over the depth, field, row or cost limits: `400 Bad Request`.
    QueryTooComplex,
    /// More operations in flight on one socket than allowed: `429 Too Many Requests`.
    TooManyOperations,
    /// A subscriber fell too far behind and is cut off: `503 Service Unavailable`.
    SlowConsumer,
    /// In-app chat is switched off (seller subscriptions): `403 Forbidden`.
    ChatDisabled,
    /// The server is at capacity (subscription sockets): `503 Service Unavailable`.
    Unavailable,
    /// A failure on our side: `503 Service Unavailable`.
    Internal,
}

impl ErrorCode {
    /// The code as clients see it in `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::TooManyOperations => "TOO_MANY_OPERATIONS",
            ErrorCode::SlowConsumer => "SLOW_CONSUMER",
            ErrorCode::ChatDisabled => "CHAT_DISABLED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The status of an HTTP response made of this error alone.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::ChatDisabled => StatusCode::FORBIDDEN,
            ErrorCode::BadUserInput | ErrorCode::BadRequest | ErrorCode::QueryTooComplex => StatusCode::BAD_REQUEST,
            ErrorCode::RateLimited | ErrorCode::TooManyOperations => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::SlowConsumer | ErrorCode::Unavailable | ErrorCode::Internal => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error as the client sees it: a code, a message and, for limits, when to retry.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    status: StatusCode,
    retry_after: Option<RetryAfter>,
}

/// When a refused client may try again.
#[derive(Debug, Clone, Copy)]
struct RetryAfter {
    /// Whole seconds, sent as the `Retry-After` header of an HTTP response.
    seconds: u64,
    /// Whether `extensions.retryAfter` says it too.
    in_extensions: bool,
}

impl ApiError {
    /// An error with `code` and `message`, answered over HTTP with the code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status: code.status(), retry_after: None }
    }

    /// A bad argument, carrying the reason.
    pub fn bad_input(reason: impl Display) -> Self {
        Self::new(ErrorCode::BadUserInput, reason.to_string())
    }

    /// A bad argument, prefixed with the argument's name.
    pub fn bad_argument(argument: &str, reason: impl Display) -> Self {
        Self::bad_input(format!("`{argument}` {reason}"))
    }

    /// A request whose credential does not admit it to this API.
    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "a valid API key for this API is required")
    }

    /// An operation the caller is identified for but not permitted.
    pub fn forbidden(reason: &str) -> Self {
        Self::new(ErrorCode::Forbidden, format!("not permitted: {reason}"))
    }

    /// Logs an internal failure and returns an error that reveals nothing of it.
    pub fn internal(error: impl Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The database did not answer while a request was being admitted.
    pub fn database_unavailable() -> Self {
        Self::new(ErrorCode::Internal, "service unavailable: the database cannot be reached; try again shortly")
    }

    /// A request or operation over a request rate limit.
    pub fn rate_limited(limited: Limited) -> Self {
        let seconds = limited.retry_after_secs();
        Self::new(ErrorCode::RateLimited, format!("rate limit exceeded; retry after {seconds} s")).retrying_after(seconds, true)
    }

    /// A send over the send rate limit.
    pub fn send_rate_limited(limited: Limited) -> Self {
        let seconds = limited.retry_after_secs();
        Self::new(ErrorCode::RateLimited, format!("send rate limit exceeded; retry after {seconds} s")).retrying_after(seconds, true)
    }

    /// The same error, answered over HTTP with `status`.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same error, with a `Retry-After: seconds` header when answered over HTTP.
    pub fn with_retry_after_header(self, seconds: u64) -> Self {
        self.retrying_after(seconds, false)
    }

    fn retrying_after(mut self, seconds: u64, in_extensions: bool) -> Self {
        self.retry_after = Some(RetryAfter { seconds, in_extensions });
        self
    }

    /// The error as one entry of a GraphQL `errors` list: `message` and `extensions`.
    pub fn to_json(&self) -> Value {
        let mut extensions = json!({ "code": self.code.as_str() });
        if let Some(RetryAfter { seconds, in_extensions: true }) = self.retry_after {
            extensions["retryAfter"] = seconds.into();
        }
        json!({ "message": self.message, "extensions": extensions })
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, extensions| {
            extensions.set("code", self.code.as_str());
            if let Some(RetryAfter { seconds, in_extensions: true }) = self.retry_after {
                extensions.set("retryAfter", seconds);
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        error.extend()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "errors": [self.to_json()] }))).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.seconds));
        }
        response
    }
}

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        Self::rate_limited(limited)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid { field, message } => Self::bad_argument(field, message),
            internal => Self::internal(internal),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::TooSlow => Self::new(ErrorCode::SlowConsumer, error.to_string()),
            StreamError::ChatDisabled => Self::new(ErrorCode::ChatDisabled, error.to_string()),
            internal => Self::internal(internal),
        }
    }
}

impl From<IdentifyError> for ApiError {
    fn from(error: IdentifyError) -> Self {
        if error.is_lookup_failure() {
            tracing::error!(%error, "authentication lookup failed");
            return Self::database_unavailable();
        }
        Self::new(ErrorCode::Unauthenticated, error.to_string())
    }
}
