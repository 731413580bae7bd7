//! API key authentication: header extraction, hash lookup, revocation, last use.

use crate::domain::keys::hash_key;
use crate::domain::Principal;
use crate::service::ChatService;
use crate::store::StoreError;
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

/// The credential a request was made with (its API key's row number): what the key and
/// send rate limits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential(pub i64);

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
        None => Principal::Operator { label: record.label },
    };
    Ok((principal, Credential(record.id)))
}
