//! The portals: static pages and scripts embedded in the binary (no CDN, no build step),
//! and the server part: login, logout and who is logged in.

use crate::api::{self, error_response, rate_limited, session_cookie, ClientIp, ClientOverHttps, Limited, RateLimiter, SESSION_COOKIE};
use crate::config::TrustedProxies;
use crate::domain::ids::seller_gid;
use crate::service::accounts::{AccountError, SESSION_LIFETIME_MS};
use crate::service::auth::{AuthError, Presented};
use crate::service::{Accounts, AuthService};
use crate::store::UserRecord;
use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What the portal routes share between requests.
#[derive(Clone)]
pub struct WebState {
    /// Portal users and logins.
    pub accounts: Arc<Accounts>,
    /// Resolves session cookies.
    pub auth: AuthService,
    /// The login limit per client IP.
    pub limiter: Arc<RateLimiter>,
}

/// The portals' routes: pages, assets, the API guide, login, logout and the session.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    Router::new()
        .route("/", get(landing_page))
        .route("/docs/api", get(api_docs))
        .route("/seller/", get(seller_page))
        .route("/operator/", get(operator_page))
        .route("/seller", get(|| async { Redirect::permanent("/seller/") }))
        .route("/operator", get(|| async { Redirect::permanent("/operator/") }))
        .route("/portal/{file}", get(portal_asset))
        .route("/session", get(current_user))
        .route("/login", post(login))
        .route("/logout", post(logout))
}

/// `POST /login` body.
#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

fn cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// `POST /login`: e-mail and password → session cookie and who logged in. Limited per
/// client IP (`login=` of `--rate-limits`) before anything else; the cookie is `Secure`
/// when a trusted proxy says the client used HTTPS.
async fn login(
    State(state): State<WebState>,
    ClientIp(client): ClientIp,
    ClientOverHttps(https): ClientOverHttps,
    Json(request): Json<LoginRequest>,
) -> Response {
    if let Err(limited) = state.limiter.login_from(client) {
        return rate_limited(limited);
    }
    match state.accounts.login(&request.email, &request.password, client).await {
        Ok((token, user)) => {
            let body = json!({ "user": user_json(&user) });
            let mut response = Json(body).into_response();
            let max_age = SESSION_LIFETIME_MS / 1000;
            response.headers_mut().insert(header::SET_COOKIE, cookie(&token, max_age, https));
            response
        }
        Err(AccountError::TooManyAttempts { retry_after }) => retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            api::RATE_LIMITED,
            "too many failed logins from here; try again later",
            Limited { retry_after }.retry_after_secs(),
        ),
        Err(AccountError::Busy) => {
            retry_later(StatusCode::SERVICE_UNAVAILABLE, api::INTERNAL, "the server is busy checking passwords; try again shortly", 1)
        }
        Err(AccountError::TooLong(message)) => error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
        Err(AccountError::Store(error)) => {
            tracing::error!(%error, "login failed");
            error_response(StatusCode::SERVICE_UNAVAILABLE, api::INTERNAL, "service unavailable")
        }
        Err(error) => error_response(StatusCode::UNAUTHORIZED, api::UNAUTHENTICATED, &error.to_string()),
    }
}

/// An error answer with `Retry-After: seconds`.
fn retry_later(status: StatusCode, code: &str, message: &str, seconds: u64) -> Response {
    let mut response = error_response(status, code, message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `POST /logout`: ends the session and clears the cookie.
async fn logout(State(state): State<WebState>, ClientOverHttps(https): ClientOverHttps, headers: HeaderMap) -> Response {
    if let Some(token) = session_cookie(&headers) {
        if let Err(error) = state.accounts.logout(token).await {
            tracing::warn!(%error, "logout could not delete the session");
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, https));
    response
}

/// An embedded asset with its content type.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// `GET /`: a small landing page linking the portals, the schemas and the API guide.
async fn landing_page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/index.html"))
}

/// `GET /docs/api`: the API guide (`docs/api.md`), as plain text so a browser shows it.
async fn api_docs() -> Response {
    asset("text/plain; charset=utf-8", include_str!("../../docs/api.md"))
}

/// `GET /seller/`.
async fn seller_page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/seller.html"))
}

/// `GET /operator/`.
async fn operator_page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/operator.html"))
}

/// `GET /portal/{file}`: the shared stylesheet and scripts.
async fn portal_asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "portal.css" => asset("text/css; charset=utf-8", include_str!("assets/portal.css")),
        "portal.js" => asset("text/javascript; charset=utf-8", include_str!("assets/portal.js")),
        "seller.js" => asset("text/javascript; charset=utf-8", include_str!("assets/seller.js")),
        "operator.js" => asset("text/javascript; charset=utf-8", include_str!("assets/operator.js")),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /session`: the logged-in portal user, or 401.
async fn current_user(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let Some(token) = session_cookie(&headers) else {
        return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "not logged in");
    };
    match state.auth.authenticate(Presented::Session(token)).await {
        Ok(authenticated) => Json(json!({ "user": authenticated.user.as_ref().map(user_json) })).into_response(),
        Err(AuthError::Store(_)) => error_response(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR", "service unavailable"),
        Err(_) => error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "the session has expired; log in again"),
    }
}

fn user_json(user: &UserRecord) -> serde_json::Value {
    json!({
        "name": user.name,
        "email": user.email,
        "kind": if user.seller_id.is_some() { "seller" } else { "operator" },
        "role": user.role,
        "sellerId": user.seller_id.map(seller_gid),
    })
}
