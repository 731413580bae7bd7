//! The portals: static pages and scripts embedded in the binary (no CDN, no build step),
//! and the server part: login, logout and who is logged in; operator single sign-on
//! (`/operator/sso/start` and `/operator/sso/callback`, over [`SsoService`]); the embedded
//! seller chat ([`embed`]); notification settings and one-click unsubscribe
//! ([`notifications`]); and the content policy every page is served with.

mod embed;
mod notifications;
mod policy;

pub use embed::EmbedState;
pub use notifications::NotificationState;
pub use policy::{Framable, CONTENT_SECURITY_POLICY};

use crate::api::{named_cookie, session_cookie, ApiError, ClientIp, ClientOverHttps, ErrorCode, Limited, RateLimiter, SESSION_COOKIE};
use crate::domain::html::escape_html;
use crate::config::TrustedProxies;
use crate::service::accounts::{AccountError, SESSION_LIFETIME};
use crate::service::auth::Presented;
use crate::service::sso::{CallbackParams, SignInProblem, SsoError, SIGN_IN_TTL};
use crate::service::{Accounts, AuthService, SsoService};
use crate::store::UserRecord;
use axum::extract::{FromRef, Path, Query, RawQuery, State};
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
    /// Operator single sign-on, when configured.
    pub sso: Option<Arc<SsoService>>,
}

/// The portals' routes: pages, assets, the API guide, login, logout and the session.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebState: FromRef<S>,
    EmbedState: FromRef<S>,
    NotificationState: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    Router::new()
        .merge(embed::router())
        .merge(notifications::router())
        .route("/", get(landing_page))
        .route("/docs/api", get(api_docs))
        .route("/seller/", get(seller_page))
        .route("/operator/", get(operator_page))
        .route("/seller", get(|| async { Redirect::permanent("/seller/") }))
        .route("/operator", get(|| async { Redirect::permanent("/operator/") }))
        .route("/portal/{file}", get(portal_asset))
        .route("/session", get(current_user))
        .route("/operator/sso/start", get(sso_start))
        .route("/operator/sso/callback", get(sso_callback))
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
    let login = state.accounts.login(&request.email, &request.password, client).await;
    let (token, user) = login.map_err(|error| login_refused(error, state.sso.as_deref()))?;
    let mut response = Json(json!({ "user": user_json(&user) })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie(&token, SESSION_LIFETIME.as_secs() as i64, https));
    Ok(response)
}

/// Why a login was refused, as the client sees it.
fn login_refused(error: AccountError, sso: Option<&SsoService>) -> ApiError {
    match error {
        AccountError::PasswordLoginOff => {
            let how = sso.map_or_else(|| "single sign-on".to_owned(), |sso| format!("“Sign in with {}”", sso.display_name()));
            ApiError::new(ErrorCode::Forbidden, format!("password login is switched off for operator staff: use {how} instead"))
        }
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

/// `GET /operator/`: the page, with "Sign in with …" when single sign-on is on, without
/// the password form when operator password login is off, and the message for a failed
/// sign-in (`?sso_error=CODE`; only known codes are shown, never text from the URL).
async fn operator_page(State(state): State<WebState>, RawQuery(query): RawQuery) -> Response {
    let problem = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "sso_error")
        .and_then(|(_, code)| SignInProblem::from_code(&code));
    let page = operator_login_page(state.sso.as_deref().map(SsoService::display_name), state.accounts.operator_password_login(), problem);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], page).into_response()
}

/// The operator page with its sign-in options filled in.
fn operator_login_page(sso_name: Option<&str>, password_login: bool, problem: Option<SignInProblem>) -> String {
    let page = include_str!("assets/operator.html");
    let sso_button = sso_name.map_or_else(String::new, |name| {
        let or = if password_login { "\n  <p class=\"or\">or</p>" } else { "" };
        format!("<a class=\"button primary sso\" href=\"/operator/sso/start\" data-testid=\"sso-start\">Sign in with {}</a>{or}", escape_html(name))
    });
    let message = problem.map_or_else(String::new, |problem| escape_html(&problem.message(sso_name.unwrap_or("your identity provider"))));
    let mut page = page.replacen("<!-- sign-in-options -->", &sso_button, 1).replacen("<!-- sign-in-error -->", &message, 1);
    if !password_login {
        if let (Some(start), Some(end)) = (page.find("<!-- password-login -->"), page.find("<!-- /password-login -->")) {
            page.replace_range(start..end + "<!-- /password-login -->".len(), "");
        }
    }
    page
}


/// The cookie binding a sign-in at the identity provider to the browser that started it.
/// `SameSite=Lax`: the provider sends the browser back with a cross-site navigation,
/// on which `Strict` cookies are withheld.
const SSO_COOKIE: &str = "marketchat_sso";

fn sso_cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SSO_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/operator/sso/; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// A redirect back to the operator page that shows `problem`, ending the binding cookie.
fn sign_in_failed(problem: SignInProblem, https: bool) -> Response {
    let mut response = Redirect::to(&format!("/operator/?sso_error={}", problem.code())).into_response();
    response.headers_mut().append(header::SET_COOKIE, sso_cookie("", 0, https));
    response
}

/// `GET /operator/sso/start`: sends the browser to the identity provider (state, nonce,
/// PKCE S256), with a cookie binding the sign-in to it. Limited per client IP like
/// `/login`. 404 when single sign-on is off.
async fn sso_start(State(state): State<WebState>, ClientIp(client): ClientIp, ClientOverHttps(https): ClientOverHttps) -> Result<Response, ApiError> {
    let Some(sso) = state.sso else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    state.limiter.login_from(client)?;
    match sso.start().await {
        Ok(started) => {
            let mut response = Redirect::to(&started.redirect_to).into_response();
            response.headers_mut().append(header::SET_COOKIE, sso_cookie(&started.browser_token, SIGN_IN_TTL.as_secs() as i64, https));
            Ok(response)
        }
        Err(error) => {
            log_sign_in_failure(&error);
            Ok(sign_in_failed(error.problem(), https))
        }
    }
}

/// `GET /operator/sso/callback`: where the identity provider sends the browser back.
/// A valid answer starts a portal session exactly as `/login` does (same cookie, same
/// rules) and goes on to `/operator/`; anything else goes to `/operator/` with the
/// problem shown, and no session.
async fn sso_callback(
    State(state): State<WebState>,
    ClientOverHttps(https): ClientOverHttps,
    headers: HeaderMap,
    params: Result<Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(sso) = state.sso else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(Query(params)) = params else { return sign_in_failed(SignInProblem::Invalid, https) };
    let browser = named_cookie(&headers, SSO_COOKIE);
    match sso.finish(&params, browser).await {
        Ok((token, user)) => {
            tracing::info!(user_id = user.id, "operator signed in with single sign-on");
            let mut response = Redirect::to("/operator/").into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie(&token, SESSION_LIFETIME.as_secs() as i64, https));
            response.headers_mut().append(header::SET_COOKIE, sso_cookie("", 0, https));
            response
        }
        Err(error) => {
            log_sign_in_failure(&error);
            sign_in_failed(error.problem(), https)
        }
    }
}

/// Logs why a sign-in failed: what we must fix as errors, what a person or the
/// provider did as information.
fn log_sign_in_failure(error: &SsoError) {
    match error.problem() {
        SignInProblem::Internal | SignInProblem::Unavailable | SignInProblem::Invalid => tracing::warn!(%error, "single sign-on failed"),
        _ => tracing::info!(%error, "single sign-on refused"),
    }
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
