//! The portals: static pages and scripts embedded in the binary (no CDN, no build step),
//! and the server part: login, logout and who is logged in.

use crate::accounts::AccountError;
use crate::api::auth::{session_cookie, SESSION_COOKIE};
use crate::api::error_response;
use crate::app::AppState;
use crate::domain::ids::seller_gid;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `POST /login` body.
#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// Whether the client reached us over HTTPS (directly or through a proxy that says so).
fn behind_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

fn cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// `POST /login`: e-mail and password → session cookie and who logged in.
pub async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, Json(request): Json<LoginRequest>) -> Response {
    match state.accounts.login(&request.email, &request.password).await {
        Ok((token, user)) => {
            let body = json!({ "user": user_json(&user) });
            let mut response = Json(body).into_response();
            let max_age = crate::accounts::SESSION_LIFETIME_MS / 1000;
            response.headers_mut().insert(header::SET_COOKIE, cookie(&token, max_age, behind_https(&headers)));
            response
        }
        Err(AccountError::TooManyAttempts) => {
            error_response(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "too many failed logins; try again later")
        }
        Err(AccountError::Store(error)) => {
            tracing::error!(%error, "login failed");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR", "service unavailable")
        }
        Err(error) => error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &error.to_string()),
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = session_cookie(&headers) {
        if let Err(error) = state.accounts.logout(token).await {
            tracing::warn!(%error, "logout could not delete the session");
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, behind_https(&headers)));
    response
}

/// An embedded asset with its content type.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// `GET /seller/`.
pub async fn seller_page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/seller.html"))
}

/// `GET /operator/`.
pub async fn operator_page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/operator.html"))
}

/// `GET /portal/{file}`: the shared stylesheet and scripts.
pub async fn portal_asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match file.as_str() {
        "portal.css" => asset("text/css; charset=utf-8", include_str!("assets/portal.css")),
        "portal.js" => asset("text/javascript; charset=utf-8", include_str!("assets/portal.js")),
        "seller.js" => asset("text/javascript; charset=utf-8", include_str!("assets/seller.js")),
        "operator.js" => asset("text/javascript; charset=utf-8", include_str!("assets/operator.js")),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /session`: the logged-in portal user, or 401.
pub async fn current_user(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = session_cookie(&headers) else {
        return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "not logged in");
    };
    match state.accounts.session(token).await {
        Ok(Some(user)) => Json(json!({ "user": user_json(&user) })).into_response(),
        Ok(None) => error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "the session has expired; log in again"),
        Err(_) => error_response(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR", "service unavailable"),
    }
}

fn user_json(user: &crate::store::UserRecord) -> serde_json::Value {
    json!({
        "name": user.name,
        "email": user.email,
        "kind": if user.seller_id.is_some() { "seller" } else { "operator" },
        "role": user.role,
        "sellerId": user.seller_id.map(seller_gid),
    })
}
