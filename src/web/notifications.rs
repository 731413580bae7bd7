//! E-mail notification settings for portal users (`GET`/`PUT /account/notifications`,
//! with the session cookie and CSRF header, or the embedded chat's bearer session), and
//! the one-click unsubscribe page (RFC 8058: `POST /unsubscribe?u=…&t=…` switches e-mails
//! off without a login; `GET` shows a page that asks first, since mail scanners follow links).

use crate::api::{identify, ApiError, ErrorCode, IdentifyError};
use crate::domain::html::escape_html;
use crate::service::{AuthService, NotificationService};
use axum::extract::{FromRef, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// What the notification routes share.
#[derive(Clone)]
pub struct NotificationState {
    /// Resolves session cookies and bearer sessions.
    pub auth: AuthService,
    /// Opt-outs and unsubscribe tokens.
    pub notifications: NotificationService,
}

/// The notification routes.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    NotificationState: FromRef<S>,
{
    Router::new()
        .route("/account/notifications", get(settings).put(update_settings))
        .route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
}

/// `PUT /account/notifications` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsUpdate {
    email_notifications: bool,
}

/// The portal user behind the request (an API key has no settings).
async fn user_id(state: &NotificationState, headers: &HeaderMap) -> Result<i64, ApiError> {
    let authenticated = identify(&state.auth, headers, true).await.map_err(|error| match error {
        error if error.is_lookup_failure() => ApiError::new(ErrorCode::Internal, "service unavailable"),
        IdentifyError::MissingCsrfHeader => ApiError::new(ErrorCode::Forbidden, error.to_string()),
        _ => ApiError::new(ErrorCode::Unauthenticated, "log in to change your settings"),
    })?;
    authenticated.user.map(|user| user.id).ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "settings belong to portal users, not API keys"))
}

fn internal(error: crate::service::ServiceError) -> ApiError {
    tracing::error!(%error, "notification settings failed");
    ApiError::new(ErrorCode::Internal, "service unavailable")
}

/// `GET /account/notifications`: `{ "emailNotifications": bool }`.
async fn settings(State(state): State<NotificationState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let user_id = user_id(&state, &headers).await?;
    let enabled = state.notifications.email_enabled(user_id).await.map_err(internal)?;
    Ok(Json(json!({ "emailNotifications": enabled })).into_response())
}

/// `PUT /account/notifications` with `{ "emailNotifications": bool }`.
async fn update_settings(State(state): State<NotificationState>, headers: HeaderMap, Json(update): Json<SettingsUpdate>) -> Result<Response, ApiError> {
    let user_id = user_id(&state, &headers).await?;
    state.notifications.set_email_enabled(user_id, update.email_notifications).await.map_err(internal)?;
    Ok(Json(json!({ "emailNotifications": update.email_notifications })).into_response())
}

/// The query of an unsubscribe link.
#[derive(Deserialize)]
struct UnsubscribeLink {
    u: i64,
    t: String,
}

/// A small page.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/portal/portal.css\"></head>\n<body><main class=\"login\"><h1>{title}</h1>\n{body_html}\n</main></body></html>\n",
        title = escape_html(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

fn invalid_link() -> Response {
    page(StatusCode::FORBIDDEN, "This link is not valid", "<p>The unsubscribe link is incomplete or was changed. Use the link from the e-mail, or switch e-mails off in the portal's settings.</p>")
}

/// `GET /unsubscribe?u=…&t=…`: asks before switching e-mails off.
async fn unsubscribe_page(State(state): State<NotificationState>, link: Result<Query<UnsubscribeLink>, axum::extract::rejection::QueryRejection>) -> Response {
    let Ok(Query(link)) = link else { return invalid_link() };
    match state.notifications.token_holds(link.u, &link.t).await {
        Ok(true) => {
            let action = format!("/unsubscribe?u={}&amp;t={}", link.u, escape_html(&link.t));
            page(
                StatusCode::OK,
                "Stop notification e-mails?",
                &format!(
                    "<p>You will no longer get e-mails about unread chat messages. You can switch them on again in the portal's settings.</p>\
                     <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                     <button class=\"primary\" type=\"submit\" data-testid=\"unsubscribe-confirm\">Stop e-mails</button></form>"
                ),
            )
        }
        Ok(false) => invalid_link(),
        Err(error) => internal(error).into_response(),
    }
}

/// `POST /unsubscribe?u=…&t=…` (RFC 8058 one-click, or the page's button): switches the
/// user's e-mails off when the signature holds; 403 when it does not.
async fn unsubscribe(State(state): State<NotificationState>, link: Result<Query<UnsubscribeLink>, axum::extract::rejection::QueryRejection>) -> Response {
    let Ok(Query(link)) = link else { return invalid_link() };
    match state.notifications.unsubscribe(link.u, &link.t).await {
        Ok(true) => {
            tracing::info!(user_id = link.u, "unsubscribed from notification e-mails");
            page(StatusCode::OK, "You are unsubscribed", "<p data-testid=\"unsubscribed\">You will no longer get notification e-mails. You can switch them on again in the portal's settings.</p>")
        }
        Ok(false) => invalid_link(),
        Err(error) => internal(error).into_response(),
    }
}
