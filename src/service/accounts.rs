//! Portal accounts: creating users, logging in and out, signing the marketplace's seller
//! users in to the embedded chat ([`sign_in`]), and ending old sessions. Passwords are
//! argon2id hashes; sessions are random tokens stored only as SHA-256 hashes (checked, on
//! each use, by [`super::auth`]).

mod hashing;
mod lockout;
pub mod sign_in;

pub use hashing::{HashPool, HashPoolError};
pub use lockout::{Lockout, LockoutKey};

use crate::domain::ids::SellerId;
use crate::domain::time::UnixMillis;
use super::clock::Clock;
use crate::domain::keys::{generate_secret, hash_key};
use crate::domain::users::OperatorRole;
use crate::domain::Principal;
use crate::store::{IdpIdentity, NewSession, SessionKind, Store, StoreError, UserRecord};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// How long a login lasts at most.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A session unused for this long has ended.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);
/// A session's last use is written at most this often, so reads stay reads.
pub const SESSION_TOUCH_RESOLUTION: Duration = Duration::from_secs(60);
/// Sessions one user may hold; a login beyond it ends the oldest.
pub const MAX_SESSIONS_PER_USER: i64 = 20;
/// Failed logins per address and client IP checked before back-off begins.
pub const MAX_FAILED_LOGINS: u32 = lockout::FREE_ATTEMPTS;
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest e-mail address (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest display name kept from an identity provider, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why an account operation failed.
#[derive(Debug, Error)]
pub enum AccountError {
    /// Wrong e-mail or password (indistinguishable on purpose).
    #[error("wrong e-mail address or password")]
    BadCredentials,
    /// Too many failed logins for this address from this client lately.
    #[error("too many failed logins; try again later")]
    TooManyAttempts {
        /// When the next attempt will be checked.
        retry_after: Duration,
    },
    /// Every core is busy hashing passwords.
    #[error("the server is busy; try again shortly")]
    Busy,
    /// An e-mail address or password longer than any account can have.
    #[error("{0}")]
    TooLong(String),
    /// Input that cannot make a user.
    #[error("{0}")]
    Invalid(String),
    /// Right password, but operator users must sign in through the identity provider.
    #[error("password login is switched off for operator staff: sign in with your identity provider")]
    PasswordLoginOff,
    /// A first single sign-on whose e-mail address belongs to a user who may not be
    /// linked to it automatically (see [`Accounts::sign_in_with_identity`]).
    #[error("a user with this e-mail address exists already and is not linked to this sign-in; ask an administrator")]
    AccountExists,
    /// The user is disabled.
    #[error("this user is disabled")]
    Disabled,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HashPoolError> for AccountError {
    fn from(error: HashPoolError) -> Self {
        match error {
            HashPoolError::Busy => AccountError::Busy,
            HashPoolError::Failed(message) => AccountError::Invalid(message),
        }
    }
}

/// Who a new user is.
pub enum NewUserKind {
    /// An operator user with a role.
    Operator(OperatorRole),
    /// A user of one seller account.
    Seller(SellerId),
}

/// What a verified ID token says about the person signing in.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// Who they are at the identity provider.
    pub identity: IdpIdentity,
    /// The `email` claim, if any.
    pub email: Option<String>,
    /// Whether the provider says it checked that the address is theirs (`email_verified`).
    pub email_verified: bool,
    /// The `name` claim, if any.
    pub name: Option<String>,
    /// The role the provider's role claim names (viewer when missing or unknown).
    pub role: OperatorRole,
}

/// How often expired and idle sessions are deleted.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3_600);

/// Account use cases over a store.
pub struct Accounts {
    store: Arc<dyn Store>,
    clock: Clock,
    lockout: Lockout,
    hasher: HashPool,
    /// Whether operator users may log in with a password (`--password-login`); seller
    /// users always may.
    operator_password_login: bool,
}

/// The principal a portal user acts as; none (fail closed) for a user that is neither
/// a seller user nor an operator user with a known role.
pub fn principal_of(user: &UserRecord) -> Option<Principal> {
    match (user.seller_id, &user.role) {
        (Some(seller_id), _) => Some(Principal::Seller { seller_id }),
        (None, Some(role)) => match role.parse::<OperatorRole>() {
            Ok(role) => Some(Principal::Operator { label: Some(user.name.clone()), role: Some(role), admin_key: false, user_id: Some(user.id) }),
            Err(_) => {
                tracing::warn!(user_id = user.id, "a portal user has an unknown stored role; refused");
                None
            }
        },
        (None, None) => None,
    }
}

impl Accounts {
    /// Accounts over `store`, reading the time from `clock` and hashing on one thread per core.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock, lockout: Lockout::default(), hasher: HashPool::per_core(), operator_password_login: true }
    }

    /// The same, with operator password login on or off.
    pub fn with_operator_password_login(mut self, allowed: bool) -> Self {
        self.operator_password_login = allowed;
        self
    }

    /// Whether operator users may log in with a password.
    pub fn operator_password_login(&self) -> bool {
        self.operator_password_login
    }

    /// Creates a user with an argon2id hash of `password`.
    #[instrument(skip_all)]
    pub async fn create_user(&self, email: &str, name: Option<&str>, password: &str, kind: NewUserKind) -> Result<UserRecord, AccountError> {
        check_lengths(email, password)?;
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() < 3 {
            return Err(AccountError::Invalid(format!("{email:?} is not an e-mail address")));
        }
        check_password_strength(password)?;
        let (seller_id, role) = match kind {
            NewUserKind::Operator(role) => (None, Some(role.as_str().to_owned())),
            NewUserKind::Seller(seller_id) => {
                if self.store.seller(seller_id).await?.is_none() {
                    return Err(AccountError::Invalid("no such seller".to_owned()));
                }
                (Some(seller_id), None)
            }
        };
        let password_hash = self.hasher.hash(password.to_owned()).await?;
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&email).to_owned();
        let user = UserRecord { id: 0, email: Some(email.clone()), name, password_hash: Some(password_hash), seller_id, role, disabled_at: None, external_id: None, identity: None };
        self.store
            .create_user(&user, self.clock.now())
            .await?
            .ok_or_else(|| AccountError::Invalid(format!("a user with e-mail address {email} exists already")))
    }

    /// Checks a password tried from `client`; on success returns a new session token
    /// and the user. Oversized input is refused before anything else; the attempt is
    /// counted against (address, client) before the password is checked; unknown
    /// addresses (and users without a password) are checked against a dummy hash so they
    /// take as long. With operator password login off, an operator user's right password
    /// is refused with [`AccountError::PasswordLoginOff`] (a wrong one stays
    /// [`AccountError::BadCredentials`], so the answer tells nobody without the password
    /// who is an operator user).
    #[instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str, client: IpAddr) -> Result<(String, UserRecord), AccountError> {
        check_lengths(email, password)?;
        let email = email.trim().to_lowercase();
        let key = LockoutKey::new(&email, client);
        self.lockout.reserve(key).map_err(|retry_after| AccountError::TooManyAttempts { retry_after })?;
        let user = self.store.user_by_email(&email).await?;
        let verified = self.hasher.verify(user.as_ref().and_then(|u| u.password_hash.clone()), password.to_owned()).await?;
        let Some(user) = user.filter(|_| verified) else {
            return Err(AccountError::BadCredentials);
        };
        if user.disabled_at.is_some() || principal_of(&user).is_none() {
            return Err(AccountError::BadCredentials);
        }
        self.lockout.succeeded(key);
        if user.seller_id.is_none() && !self.operator_password_login {
            return Err(AccountError::PasswordLoginOff);
        }
        let token = self.start_session(&user).await?;
        Ok((token, user))
    }

    /// Starts a portal session for `user` (by the same rules for every way of signing
    /// in: lifetime, idle timeout, sessions per user); returns the cookie's token.
    pub(crate) async fn start_session(&self, user: &UserRecord) -> Result<String, AccountError> {
        let token = generate_secret(&mut rand::thread_rng(), "mcs_");
        self.store.create_session(user.id, &new_session(&token.hash, SessionKind::Portal, self.clock.now())).await?;
        Ok(token.secret)
    }

    /// Signs in an operator user whom the identity provider vouched for; returns a new
    /// session token and the user. The user is found by (issuer, subject). On the first
    /// sign-in they are created, unless a user already has the e-mail address: that user
    /// is linked only when it is an operator user not linked to another identity and the
    /// provider says the address is verified; otherwise [`AccountError::AccountExists`].
    /// Every sign-in refreshes the name, the role (from the provider's role claim) and,
    /// when no other user has it, the e-mail address. Disabled users stay refused.
    #[instrument(skip_all)]
    pub async fn sign_in_with_identity(&self, verified: &VerifiedIdentity) -> Result<(String, UserRecord), AccountError> {
        let email = verified.email.as_deref().and_then(normalised_email);
        let name = verified.name.as_deref().map(|n| n.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>().trim().to_owned());
        let name = name.filter(|n| !n.is_empty());
        let user = match self.store.user_by_identity(&verified.identity).await? {
            Some(user) => user,
            None => self.first_sign_in(verified, email.as_deref()).await?,
        };
        if user.seller_id.is_some() {
            return Err(AccountError::AccountExists);
        }
        if user.disabled_at.is_some() {
            return Err(AccountError::Disabled);
        }
        let email = email.or_else(|| user.email.clone()).unwrap_or_else(|| placeholder_email(&verified.identity));
        let name = name.unwrap_or_else(|| email.clone());
        let user = self
            .store
            .refresh_operator_user(user.id, &email, &name, verified.role.as_str())
            .await?
            .ok_or(AccountError::AccountExists)?;
        let token = self.start_session(&user).await?;
        Ok((token, user))
    }

    /// The user for an identity seen for the first time: an existing operator user
    /// linked by a verified e-mail address, or a new one.
    async fn first_sign_in(&self, verified: &VerifiedIdentity, email: Option<&str>) -> Result<UserRecord, AccountError> {
        let identity = &verified.identity;
        let email = match email {
            Some(email) => email.to_owned(),
            None => placeholder_email(identity),
        };
        if let Some(existing) = self.store.user_by_email(&email).await? {
            let linkable = existing.seller_id.is_none() && existing.identity.is_none() && verified.email_verified;
            if linkable && self.store.link_identity(existing.id, identity).await? {
                tracing::info!(user_id = existing.id, "linked an operator user to their identity provider account (verified e-mail address)");
            }
            // Linked now, or by a sign-in that raced this one; anything else is refused.
            return self.store.user_by_identity(identity).await?.ok_or(AccountError::AccountExists);
        }
        let user = UserRecord {
            id: 0,
            email: Some(email.clone()),
            name: email,
            password_hash: None,
            seller_id: None,
            role: Some(verified.role.as_str().to_owned()),
            disabled_at: None,
            external_id: None,
            identity: Some(identity.clone()),
        };
        match self.store.create_user(&user, self.clock.now()).await? {
            Some(user) => {
                tracing::info!(user_id = user.id, role = %verified.role, "created an operator user at their first single sign-on");
                Ok(user)
            }
            // A sign-in of the same person that raced this one created them; or the
            // address was taken meanwhile.
            None => self.store.user_by_identity(identity).await?.ok_or(AccountError::AccountExists),
        }
    }

    /// Gives a user a new password and ends their sessions; false when there is no such
    /// user or it is an embedded seller user (who signs in through the marketplace).
    #[instrument(skip_all)]
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<bool, AccountError> {
        check_lengths("", password)?;
        check_password_strength(password)?;
        let password_hash = self.hasher.hash(password.to_owned()).await?;
        Ok(self.store.set_user_password(user_id, &password_hash).await?)
    }

    /// Every portal user, operator and seller, in creation order.
    #[instrument(skip_all)]
    pub async fn users(&self) -> Result<Vec<UserRecord>, AccountError> {
        Ok(self.store.list_users().await?)
    }

    /// Disables a user (ending their sessions) or enables them again; false when there
    /// is no such user.
    #[instrument(skip_all)]
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<bool, AccountError> {
        let at = disabled.then(|| self.clock.now());
        Ok(self.store.set_user_disabled(user_id, at).await?)
    }

    /// Ends a session.
    #[instrument(skip_all)]
    pub async fn logout(&self, token: &str) -> Result<(), AccountError> {
        Ok(self.store.delete_session(&hash_key(token)).await?)
    }

    /// Deletes expired and idle sessions and expired sign-in tokens; returns how many.
    #[instrument(skip_all)]
    pub async fn purge_sessions(&self) -> Result<u64, AccountError> {
        let now = self.clock.now();
        let sessions = self.store.purge_sessions(now, now.minus(SESSION_IDLE_TIMEOUT)).await?;
        Ok(sessions + self.store.purge_sign_ins(now).await?)
    }

    /// Deletes expired and idle sessions (and expired sign-in tokens) at start and then
    /// every hour, until `stop`.
    pub fn spawn_session_purge(self: Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.purge_sessions().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "ended expired and idle portal sessions"),
                    Err(error) => tracing::warn!(%error, "could not purge portal sessions; will retry"),
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(SESSION_PURGE_INTERVAL) => {}
                }
            }
        })
    }

    /// (address, client IP) pairs with failed logins held in memory now.
    pub fn tracked_failures(&self) -> usize {
        self.lockout.len()
    }
}

/// An e-mail address from an identity provider, lower-cased, when it looks like one.
fn normalised_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    (email.len() <= MAX_EMAIL_BYTES && email.contains('@') && email.len() >= 3 && !email.chars().any(char::is_control)).then_some(email)
}

/// The stored address of a user whose provider sends no e-mail address: unique per
/// identity, and under the reserved `.invalid` domain, so it is nobody's real address.
fn placeholder_email(identity: &IdpIdentity) -> String {
    let digest = hash_key(&format!("{}\n{}", identity.issuer, identity.subject));
    format!("sso-{}@users.invalid", &digest[..24])
}

/// A session of `kind` starting `now`, by the rules every session follows: its lifetime,
/// the idle timeout and the per-user cap.
fn new_session(token_hash: &str, kind: SessionKind, now: UnixMillis) -> NewSession<'_> {
    NewSession {
        token_hash,
        kind,
        now,
        expires_at: now.plus(SESSION_LIFETIME),
        idle_since: now.minus(SESSION_IDLE_TIMEOUT),
        keep_per_user: MAX_SESSIONS_PER_USER,
    }
}

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`].
fn check_password_strength(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

/// Refuses an e-mail address or password longer than any account can have.
fn check_lengths(email: &str, password: &str) -> Result<(), AccountError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(AccountError::TooLong(format!("the e-mail address is longer than {MAX_EMAIL_BYTES} bytes")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::TooLong(format!("the password is longer than {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(seller_id: Option<SellerId>, role: Option<&str>) -> UserRecord {
        UserRecord {
            id: 7,
            email: Some("u@example.test".to_owned()),
            name: "U".to_owned(),
            password_hash: None,
            seller_id,
            role: role.map(str::to_owned),
            disabled_at: None,
            external_id: None,
            identity: None,
        }
    }

    #[test]
    fn an_unknown_stored_role_gives_no_principal_rather_than_api_key_rights() {
        assert_eq!(principal_of(&user(None, Some("root"))), None);
        assert_eq!(principal_of(&user(None, Some(""))), None);
        assert_eq!(principal_of(&user(None, Some("Full-Admin"))), None, "roles are stored exactly");
        assert_eq!(principal_of(&user(None, None)), None);
        assert_eq!(
            principal_of(&user(None, Some("viewer"))),
            Some(Principal::Operator { label: Some("U".to_owned()), role: Some(OperatorRole::Viewer), admin_key: false, user_id: Some(7) })
        );
        assert_eq!(principal_of(&user(Some(SellerId::from(3)), None)), Some(Principal::Seller { seller_id: SellerId::from(3) }));
    }

    #[test]
    fn oversized_addresses_and_passwords_are_refused() {
        assert!(check_lengths(&"a".repeat(MAX_EMAIL_BYTES), &"p".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(matches!(check_lengths(&"a".repeat(MAX_EMAIL_BYTES + 1), "p"), Err(AccountError::TooLong(_))));
        assert!(matches!(check_lengths("a@b", &"p".repeat(MAX_PASSWORD_BYTES + 1)), Err(AccountError::TooLong(_))));
    }
}
