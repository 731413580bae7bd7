//! Embedded seller chat without a second password (SPEC §11): the marketplace's back end
//! mints a single-use sign-in token for one of its seller users (an operator admin
//! credential calls this through the Operator API); the embed page redeems it for a
//! bearer session of that user, created on first sign-in and keyed by (seller, the
//! marketplace's user ID). Tokens and sessions are stored only as SHA-256 hashes.

use super::{new_session, Accounts, SESSION_LIFETIME};
use crate::domain::keys::{generate_secret, hash_key};
use crate::domain::sign_in::{token_lifetime, SellerRef, SellerUserIdentity, SignInInputError, EMBED_SESSION_PREFIX, SIGN_IN_TOKEN_PREFIX};
use crate::service::ServiceError;
use crate::domain::time::UnixMillis;
use crate::store::{NewSignIn, SessionKind, StoreError, UserRecord};
use tracing::instrument;

/// What the marketplace asks for: whom to sign in, at which seller, for how long.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInRequest<'a> {
    /// The seller's global ID (exactly one of this and `seller_external_id`).
    pub seller_id: Option<&'a str>,
    /// The seller's `externalId`.
    pub seller_external_id: Option<&'a str>,
    /// The marketplace's ID of the user.
    pub user_external_id: &'a str,
    /// The user's display name.
    pub user_name: &'a str,
    /// The user's contact address.
    pub user_email: Option<&'a str>,
    /// How long the token lives (default 300 s, at most 3,600 s).
    pub ttl_seconds: Option<i32>,
}

/// A minted sign-in token.
#[derive(Debug, Clone)]
pub struct IssuedSignIn {
    /// The token; shown only now, stored only as a hash.
    pub token: String,
    /// From when it can no longer be redeemed.
    pub expires_at: UnixMillis,
}

/// A session opened by redeeming a sign-in token.
#[derive(Debug, Clone)]
pub struct EmbedSession {
    /// The bearer token (`mce_…`), for the page's memory only.
    pub token: String,
    /// The seller user it acts for.
    pub user: UserRecord,
    /// When it ends at the latest (it ends sooner when left idle).
    pub expires_at: UnixMillis,
}

/// Longest sign-in token looked up; anything longer cannot be one.
const MAX_TOKEN_BYTES: usize = 128;

impl From<SignInInputError> for ServiceError {
    fn from(error: SignInInputError) -> Self {
        ServiceError::invalid(error.field, error.message)
    }
}

impl Accounts {
    /// Mints a sign-in token for the marketplace's seller user in `request`. Errors name
    /// the input field: an unknown seller, a malformed user, a lifetime out of range, or
    /// a user who was disabled.
    #[instrument(skip_all)]
    pub async fn create_sign_in(&self, request: &SignInRequest<'_>) -> Result<IssuedSignIn, ServiceError> {
        let seller = SellerRef::parse(request.seller_id, request.seller_external_id)?;
        let user = SellerUserIdentity::parse(request.user_external_id, request.user_name, request.user_email)?;
        let lifetime = token_lifetime(request.ttl_seconds)?;
        let seller = match &seller {
            SellerRef::Id(id) => self.store.seller(*id).await?.ok_or_else(|| ServiceError::invalid("sellerId", "does not exist"))?,
            SellerRef::ExternalId(external_id) => self
                .store
                .seller_by_external_id(external_id)
                .await?
                .ok_or_else(|| ServiceError::invalid("externalId", "no seller has this externalId"))?,
        };
        let existing = self.store.user_by_external_id(seller.id, &user.external_id).await?;
        if existing.is_some_and(|existing| existing.disabled_at.is_some()) {
            return Err(ServiceError::invalid("user.externalId", "this user is disabled"));
        }
        let token = generate_secret(&mut rand::thread_rng(), SIGN_IN_TOKEN_PREFIX);
        let now = self.clock.now();
        let sign_in = NewSignIn {
            token_hash: token.hash,
            seller_id: seller.id,
            user_external_id: user.external_id,
            user_name: user.name,
            user_email: user.email,
            created_at: now,
            expires_at: now.plus(lifetime),
        };
        self.store.create_sign_in(&sign_in).await?;
        Ok(IssuedSignIn { token: token.secret, expires_at: sign_in.expires_at })
    }

    /// Redeems a sign-in token for an embed session; `None` when it is unknown, used,
    /// expired or its user disabled (indistinguishable on purpose). At most one
    /// redemption of a token succeeds, on any number of nodes.
    #[instrument(skip_all)]
    pub async fn redeem_sign_in(&self, token: &str) -> Result<Option<EmbedSession>, StoreError> {
        let token = token.trim();
        if !token.starts_with(SIGN_IN_TOKEN_PREFIX) || token.len() > MAX_TOKEN_BYTES {
            return Ok(None);
        }
        let session = generate_secret(&mut rand::thread_rng(), EMBED_SESSION_PREFIX);
        let now = self.clock.now();
        let user = self.store.redeem_sign_in(&hash_key(token), &new_session(&session.hash, SessionKind::Embed, now)).await?;
        Ok(user.map(|user| EmbedSession { token: session.secret, user, expires_at: now.plus(SESSION_LIFETIME) }))
    }
}
