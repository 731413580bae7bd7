//! The embedded seller chat (SPEC §11): the page a marketplace frames (`/embed/seller`,
//! with a sign-in token in its fragment), the script that draws the launcher
//! (`/embed.js`, `<marketchat-seller-chat token="…">`), and the exchange of a sign-in
//! token for a bearer session the page keeps in memory (`POST /embed/session`).
//!
//! Only the embed page may be framed, and only by `--embed-origins`; its page carries
//! those origins, the only ones it posts the unread count to.

use super::policy::{policy_with_frame_ancestors, Framable};
use crate::domain::html::escape_html;
use crate::api::{ApiError, ClientIp, ErrorCode, RateLimiter};
use crate::config::{EmbedOrigins, TrustedProxies};
use crate::domain::sign_in::EMBED_SELLER_PATH;
use crate::service::accounts::sign_in::EmbedSession;
use crate::service::Accounts;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What a refused sign-in says: the same for an unknown, used or expired token, so
/// nothing about the token or its user is revealed.
pub const SIGN_IN_EXPIRED: &str = "sign-in link expired";

/// What the embed routes share: sign-ins, the per-IP limit, and the page as served.
#[derive(Clone)]
pub struct EmbedState {
    /// Redeems sign-in tokens.
    accounts: Arc<Accounts>,
    /// The per-client-IP request limit.
    limiter: Arc<RateLimiter>,
    /// The page's HTML, rendered once with the origins it may post to.
    html: Arc<str>,
    /// Its `Content-Security-Policy`, with `frame-ancestors` set to the origins.
    policy: HeaderValue,
}

impl EmbedState {
    /// The embed routes' state for `--embed-origins` `origins`.
    pub fn new(accounts: Arc<Accounts>, limiter: Arc<RateLimiter>, origins: &EmbedOrigins) -> Self {
        let listed = escape_html(&origins.origins().join(" "));
        let html = include_str!("assets/embed-seller.html").replace("{{EMBED_ORIGINS}}", &listed);
        let policy = HeaderValue::from_str(&policy_with_frame_ancestors(&origins.frame_ancestors()))
            .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'none'"));
        Self { accounts, limiter, html: html.into(), policy }
    }
}

/// The embed routes.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    EmbedState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    Router::new()
        .route(EMBED_SELLER_PATH, get(embed_page))
        .route("/embed.js", get(embed_script))
        .route("/embed/session", post(exchange))
}

/// `GET /embed/seller`: the chat filling its frame; framable by `--embed-origins` only.
async fn embed_page(State(state): State<EmbedState>) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        state.html.to_string(),
    )
        .into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, state.policy.clone());
    response.extensions_mut().insert(Framable);
    response
}

/// `GET /embed.js`: defines `<marketchat-seller-chat>`. Any site may load it (it holds
/// no secret); a token still has to come from the marketplace's back end.
async fn embed_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::HeaderName::from_static("cross-origin-resource-policy"), "cross-origin"),
        ],
        include_str!("assets/embed.js"),
    )
        .into_response()
}

/// `POST /embed/session` body.
#[derive(Deserialize)]
struct ExchangeRequest {
    token: String,
}

/// `POST /embed/session`: a sign-in token → a bearer session for the page's memory (no
/// cookie: third-party cookies are not assumed, and a cookie would need the CSRF guard).
/// Limited per client IP like every API request; a token that does not redeem gets 401
/// [`SIGN_IN_EXPIRED`], whatever the reason.
async fn exchange(State(state): State<EmbedState>, ClientIp(client): ClientIp, Json(request): Json<ExchangeRequest>) -> Result<Response, ApiError> {
    state.limiter.request_from(client)?;
    let redeemed = state.accounts.redeem_sign_in(&request.token).await.map_err(|error| {
        tracing::error!(%error, "could not redeem a sign-in token");
        ApiError::new(ErrorCode::Internal, "service unavailable")
    })?;
    let EmbedSession { token, user, expires_at } = redeemed.ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, SIGN_IN_EXPIRED))?;
    let body = json!({
        "session": token,
        "expiresAt": expires_at.to_rfc3339(),
        "user": { "name": user.name, "sellerId": user.seller_id.map(|id| id.gid()) },
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
