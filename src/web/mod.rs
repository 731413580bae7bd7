//! The portals: static pages and scripts embedded in the binary (no CDN, no build step),
//! and the server part: login, logout and who is logged in; the embedded seller chat
//! ([`embed`]); and the content policy every page is served with.

mod embed;
mod policy;

pub use embed::EmbedState;
pub use policy::{Framable, CONTENT_SECURITY_POLICY};

use crate::api::{session_cookie, ApiError, ClientIp, ClientOverHttps, ErrorCode, Limited, RateLimiter, SESSION_COOKIE};
use crate::config::TrustedProxies;
use crate::service::accounts::{AccountError, SESSION_LIFETIME};
use crate::service::auth::Presented;
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
    EmbedState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    Router::new()
        .merge(embed::router())
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
) -> Result<Response, ApiError> {
    state.limiter.login_from(client)?;
    let (token, user) = state.accounts.login(&request.email, &request.password, client).await.map_err(login_refused)?;
    let mut response = Json(json!({ "user": user_json(&user) })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie(&token, SESSION_LIFETIME.as_secs() as i64, https));
    Ok(response)
}

/// Why a login was refused, as the client sees it.
fn login_refused(error: AccountError) -> ApiError {
    match error {
        AccountError::TooManyAttempts { retry_after } => ApiError::new(ErrorCode::RateLimited, "too many failed logins from here; try again later")
            .with_retry_after_header(Limited { retry_after }.retry_after_secs()),
        AccountError::Busy => {
            ApiError::new(ErrorCode::Internal, "the server is busy checking passwords; try again shortly").with_retry_after_header(1)
        }
        AccountError::TooLong(message) => ApiError::new(ErrorCode::BadRequest, message),
        AccountError::Store(error) => {
            tracing::error!(%error, "login failed");
            ApiError::new(ErrorCode::Internal, "service unavailable")
        }
        error => ApiError::new(ErrorCode::Unauthenticated, error.to_string()),
    }
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
        "seller-chat.js" => asset("text/javascript; charset=utf-8", include_str!("assets/seller-chat.js")),
        "embed-seller.js" => asset("text/javascript; charset=utf-8", include_str!("assets/embed-seller.js")),
        "operator.js" => asset("text/javascript; charset=utf-8", include_str!("assets/operator.js")),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /session`: the logged-in portal user, or 401.
async fn current_user(State(state): State<WebState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_cookie(&headers).ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "not logged in"))?;
    let authenticated = state.auth.authenticate(Presented::Session(token)).await.map_err(|error| {
        if error.is_lookup_failure() {
            ApiError::new(ErrorCode::Internal, "service unavailable")
        } else {
            ApiError::new(ErrorCode::Unauthenticated, "the session has expired; log in again")
        }
    })?;
    Ok(Json(json!({ "user": authenticated.user.as_ref().map(user_json) })).into_response())
}

fn user_json(user: &UserRecord) -> serde_json::Value {
    json!({
        "name": user.name,
        "email": user.email,
        "kind": if user.seller_id.is_some() { "seller" } else { "operator" },
        "role": user.role,
        "sellerId": user.seller_id.map(|id| id.gid()),
    })
}
