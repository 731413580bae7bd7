//! Who a credential is: an API key (stored as its SHA-256 hash), a portal session token
//! (from the cookie) or an embed session token (a bearer secret of the embedded seller
//! chat). One rule decides whether a credential holds: the key is not revoked; the
//! session has not ended, expired or gone idle, was presented the way it was handed out
//! (a cookie session never as a bearer token, nor the reverse), and its user is enabled
//! with a known role. Requests use it through [`AuthService::authenticate`] (which
//! records the use), open subscriptions through [`AuthService::still_valid`] (which does not).

use super::accounts::{principal_of, SESSION_IDLE_TIMEOUT, SESSION_TOUCH_RESOLUTION};
use super::clock::Clock;
use crate::domain::keys::hash_key;
use crate::domain::sign_in::EMBED_SESSION_PREFIX;
use crate::domain::Principal;
use crate::store::{ApiKeyRecord, SessionKind, SessionRecord, Store, StoreError, UserRecord};
use crate::domain::ids::KeyId;
use crate::domain::time::UnixMillis;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::instrument;

/// An API key's last use is written at most this often, so reads stay reads.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// A secret a client presented.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// An API key.
    ApiKey(&'a str),
    /// A portal session token (from the session cookie).
    Session(&'a str),
    /// An embed session token (a bearer secret held in the embedded chat's memory).
    EmbedSession(&'a str),
}

impl<'a> Presented<'a> {
    /// A secret sent as a bearer credential (`Authorization: Bearer` or the key header):
    /// an embed session token by its prefix, else an API key.
    pub fn bearer(secret: &'a str) -> Self {
        if secret.starts_with(EMBED_SESSION_PREFIX) {
            Presented::EmbedSession(secret)
        } else {
            Presented::ApiKey(secret)
        }
    }

    /// What to look the credential up by, now and on later re-checks.
    fn check(self) -> CredentialCheck {
        match self {
            Presented::ApiKey(key) => CredentialCheck::ApiKey(hash_key(key)),
            Presented::Session(token) => CredentialCheck::Session(hash_key(token), SessionKind::Portal),
            Presented::EmbedSession(token) => CredentialCheck::Session(hash_key(token), SessionKind::Embed),
        }
    }
}

/// The credential a request was made with: what the key and send rate limits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An API key (its row number).
    ApiKey(KeyId),
    /// A portal user's session (the user's row number).
    User(i64),
}

/// What a long-lived connection re-checks later: the stored hash of the credential it
/// was opened with, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// An API key's hash.
    ApiKey(String),
    /// A session token's hash, and the kind of session it must be.
    Session(String, SessionKind),
}

/// A credential that holds.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who acts.
    pub principal: Principal,
    /// What the rate limits count.
    pub credential: Credential,
    /// How to re-check the credential later.
    pub check: CredentialCheck,
    /// The user, for a session.
    pub user: Option<UserRecord>,
}

/// Why a credential does not hold.
#[derive(Debug, Error)]
pub enum AuthError {
    /// A key that is unknown or revoked (indistinguishable on purpose).
    #[error("the API key is not valid")]
    Invalid,
    /// A session that expired, went idle or was logged out, or whose user may not act.
    #[error("the session has expired; log in again")]
    SessionExpired,
    /// The lookup itself failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// Whether looking the credential up failed (rather than the credential).
    pub fn is_lookup_failure(&self) -> bool {
        matches!(self, AuthError::Store(_))
    }
}

/// A credential found live, with what it was found by.
enum Live {
    Key(ApiKeyRecord),
    Session(SessionRecord, Principal),
}

/// Authentication over a store.
#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl AuthService {
    /// Authentication over `store`, reading the time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Resolves a presented credential to the principal it acts for, recording its use
    /// (at most once a minute per key or session).
    #[instrument(skip_all)]
    pub async fn authenticate(&self, presented: Presented<'_>) -> Result<Authenticated, AuthError> {
        let check = presented.check();
        let now = self.clock.now();
        match (self.live(&check, now).await?, &check) {
            (Some(Live::Key(key)), _) => {
                if key.last_used_at.is_none_or(|at| now.since(at) >= LAST_USED_RESOLUTION) {
                    self.store.touch_api_key(key.id, now).await?;
                }
                let principal = match key.seller_id {
                    Some(seller_id) => Principal::Seller { seller_id },
                    None => Principal::Operator { label: key.label, role: None, admin_key: key.admin, user_id: None },
                };
                Ok(Authenticated { principal, credential: Credential::ApiKey(key.id), check, user: None })
            }
            (Some(Live::Session(session, principal)), CredentialCheck::Session(hash, _)) => {
                if now.since(session.last_used_at) >= SESSION_TOUCH_RESOLUTION {
                    self.store.touch_session(hash, now).await?;
                }
                let credential = Credential::User(session.user.id);
                Ok(Authenticated { principal, credential, check, user: Some(session.user) })
            }
            (_, CredentialCheck::ApiKey(_)) => Err(AuthError::Invalid),
            (_, CredentialCheck::Session(..)) => Err(AuthError::SessionExpired),
        }
    }

    /// Whether a credential authenticated earlier still holds, by the same rule; checking
    /// does not count as using it.
    #[instrument(skip_all)]
    pub async fn still_valid(&self, check: &CredentialCheck) -> Result<bool, AuthError> {
        Ok(self.live(check, self.clock.now()).await?.is_some())
    }

    /// The one rule: the credential `check` names, if it holds at `now`.
    async fn live(&self, check: &CredentialCheck, now: UnixMillis) -> Result<Option<Live>, StoreError> {
        match check {
            CredentialCheck::ApiKey(hash) => Ok(self.store.api_key_by_hash(hash).await?.filter(|key| key.revoked_at.is_none()).map(Live::Key)),
            CredentialCheck::Session(hash, kind) => {
                let session = self.store.session_user(hash, *kind, now, now.minus(SESSION_IDLE_TIMEOUT)).await?;
                Ok(session
                    .filter(|session| session.user.disabled_at.is_none())
                    .and_then(|session| principal_of(&session.user).map(|principal| Live::Session(session, principal))))
            }
        }
    }
}
