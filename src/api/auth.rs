//! API key authentication: header extraction, hash lookup, revocation, last use.

use crate::accounts::{live_session, AccountError, Accounts};
use crate::domain::keys::hash_key;
use crate::domain::Principal;
use crate::service::ChatService;
use crate::store::{Store, StoreError};
use axum::http::{header, HeaderMap};
use thiserror::Error;

/// The Marketplacer-compatible key header (header names are case-insensitive).
pub const API_KEY_HEADER: &str = "marketplacer-api-key";
/// Last use is written at most this often per key, so reads stay reads.
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Why a request is not authenticated.
#[derive(Debug, Error)]
pub enum AuthError {
    /// No key header at all.
    #[error("an API key is required (MARKETPLACER-API-KEY or Authorization: Bearer)")]
    Missing,
    /// A key that is unknown or revoked (indistinguishable on purpose).
    #[error("the API key is not valid")]
    Invalid,
    /// A session cookie without the CSRF header.
    #[error("cookie-authenticated requests must send the header X-Requested-With: marketchat")]
    MissingCsrfHeader,
    /// A session that expired or was logged out.
    #[error("the session has expired; log in again")]
    SessionExpired,
    /// The lookup itself failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// The credential a request was made with: what the key and send rate limits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An API key (its row number).
    ApiKey(i64),
    /// A portal user's session (the user's row number).
    User(i64),
}

/// The portal's session cookie.
pub const SESSION_COOKIE: &str = "marketchat_session";
/// The header cookie-authenticated requests must carry (CSRF guard), with this value.
pub const CSRF_HEADER: (&str, &str) = ("x-requested-with", "marketchat");

/// The session token in the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == SESSION_COOKIE).then_some(value))
}

/// Resolves an API key or, failing that, a portal session cookie (which must come with
/// the CSRF header when `require_csrf_header`).
pub async fn identify(
    service: &ChatService,
    accounts: &Accounts,
    headers: &HeaderMap,
    require_csrf_header: bool,
) -> Result<(Principal, Credential), AuthError> {
    if presented_key(headers).is_some() {
        return authenticate(service, headers).await;
    }
    let token = session_cookie(headers).ok_or(AuthError::Missing)?;
    if require_csrf_header && headers.get(CSRF_HEADER.0).and_then(|v| v.to_str().ok()) != Some(CSRF_HEADER.1) {
        return Err(AuthError::MissingCsrfHeader);
    }
    let session = accounts.session(token).await.map_err(|e| match e {
        AccountError::Store(error) => AuthError::Store(error),
        _ => AuthError::Invalid,
    })?;
    let (user, principal) = session.ok_or(AuthError::SessionExpired)?;
    Ok((principal, Credential::User(user.id)))
}

/// Resolves the request's key to a principal and its credential, recording its use.
pub async fn authenticate(service: &ChatService, headers: &HeaderMap) -> Result<(Principal, Credential), AuthError> {
    let key = presented_key(headers).filter(|k| !k.is_empty()).ok_or(AuthError::Missing)?;
    let record = service.store().api_key_by_hash(&hash_key(key)).await?;
    let record = record.filter(|r| r.revoked_at.is_none()).ok_or(AuthError::Invalid)?;
    let now = service.now();
    if record.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
        service.store().touch_api_key(record.id, now).await?;
    }
    let principal = match record.seller_id {
        Some(seller_id) => Principal::Seller { seller_id },
        None => Principal::Operator { label: record.label, role: None },
    };
    Ok((principal, Credential::ApiKey(record.id)))
}

/// What a long-lived connection re-checks later: the stored hash of the credential it
/// was opened with (never the secret itself), the same one `identify` would pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// An API key's hash.
    ApiKey(String),
    /// A portal session token's hash.
    Session(String),
}

impl CredentialCheck {
    /// The credential `identify` resolves for these headers.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        match presented_key(headers) {
            Some(key) => Some(Self::ApiKey(hash_key(key))),
            None => session_cookie(headers).map(|token| Self::Session(hash_key(token))),
        }
    }

    /// Whether the credential still holds: the key is not revoked; the session is live
    /// by the same rule requests use ([`live_session`]: not ended, expired or idle, and
    /// its user may act). Re-checking does not count as using the session.
    pub async fn holds(&self, store: &dyn Store, now: i64) -> Result<bool, StoreError> {
        Ok(match self {
            Self::ApiKey(hash) => store.api_key_by_hash(hash).await?.is_some_and(|key| key.revoked_at.is_none()),
            Self::Session(hash) => live_session(store, hash, now).await?.is_some(),
        })
    }
}
