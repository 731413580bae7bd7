//! Credentials in requests: the API key headers (which also carry the embedded chat's
//! bearer session token) and the portal's session cookie (which a request must back with
//! a CSRF header), resolved by [`AuthService`].

use crate::service::auth::{self, Authenticated, AuthService, Presented};
use axum::http::{header, HeaderMap};
use thiserror::Error;

/// The Marketplacer-compatible key header (header names are case-insensitive).
pub const API_KEY_HEADER: &str = "marketplacer-api-key";
/// The portal's session cookie.
pub const SESSION_COOKIE: &str = "marketchat_session";
/// The header cookie-authenticated requests must carry (CSRF guard), with this value.
pub const CSRF_HEADER: (&str, &str) = ("x-requested-with", "marketchat");

/// Why a request is not authenticated.
#[derive(Debug, Error)]
pub enum IdentifyError {
    /// No key header at all.
    #[error("an API key is required (MARKETPLACER-API-KEY or Authorization: Bearer)")]
    Missing,
    /// A session cookie without the CSRF header.
    #[error("cookie-authenticated requests must send the header X-Requested-With: marketchat")]
    MissingCsrfHeader,
    /// The credential does not hold, or could not be looked up.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
}

impl IdentifyError {
    /// Whether looking the credential up failed (rather than the credential).
    pub fn is_lookup_failure(&self) -> bool {
        matches!(self, IdentifyError::Auth(error) if error.is_lookup_failure())
    }
}

/// The presented key: `MARKETPLACER-API-KEY` wins over `Authorization: Bearer`, since
/// `Authorization` may then carry a password-protected site's Basic credentials.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        return value.to_str().ok().map(str::trim);
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session token in the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    named_cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name`, if the request carries it.
pub fn named_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Resolves a bearer credential (an API key, or an embed session token: no cookie, so no
/// CSRF header) or, failing that, a portal session cookie (which must come with the CSRF
/// header when `require_csrf_header`), recording its use.
pub async fn identify(auth: &AuthService, headers: &HeaderMap, require_csrf_header: bool) -> Result<Authenticated, IdentifyError> {
    if let Some(key) = presented_key(headers) {
        if key.is_empty() {
            return Err(IdentifyError::Missing);
        }
        return Ok(auth.authenticate(Presented::bearer(key)).await?);
    }
    let token = session_cookie(headers).ok_or(IdentifyError::Missing)?;
    if require_csrf_header && headers.get(CSRF_HEADER.0).and_then(|v| v.to_str().ok()) != Some(CSRF_HEADER.1) {
        return Err(IdentifyError::MissingCsrfHeader);
    }
    Ok(auth.authenticate(Presented::Session(token)).await?)
}
