//! Portal accounts: creating users, logging in and out, and turning a session into the
//! principal the APIs act for. Passwords are argon2id hashes; sessions are random tokens
//! stored only as SHA-256 hashes.

use crate::domain::keys::{generate_secret, hash_key};
use crate::domain::users::OperatorRole;
use crate::domain::Principal;
use crate::store::{Store, StoreError, UserRecord};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long a login lasts.
pub const SESSION_LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;
/// Failed logins allowed per e-mail address within `FAILURE_WINDOW`.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// The window failed logins are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why an account operation failed.
#[derive(Debug, Error)]
pub enum AccountError {
    /// Wrong e-mail or password (indistinguishable on purpose).
    #[error("wrong e-mail address or password")]
    BadCredentials,
    /// Too many failed logins for this address lately.
    #[error("too many failed logins; try again later")]
    TooManyAttempts,
    /// Input that cannot make a user.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who a new user is.
pub enum NewUserKind {
    /// An operator user with a role.
    Operator(OperatorRole),
    /// A user of one seller account.
    Seller(i64),
}

/// Account use cases over a store.
pub struct Accounts {
    store: Arc<dyn Store>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The principal a portal user acts as.
pub fn principal_of(user: &UserRecord) -> Option<Principal> {
    match (user.seller_id, &user.role) {
        (Some(seller_id), _) => Some(Principal::Seller { seller_id }),
        (None, Some(role)) => Some(Principal::Operator { label: Some(user.name.clone()), role: role.parse().ok() }),
        (None, None) => None,
    }
}

impl Accounts {
    /// Accounts over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, failures: Mutex::new(HashMap::new()) }
    }

    /// Creates a user with an argon2id hash of `password`.
    pub async fn create_user(&self, email: &str, name: Option<&str>, password: &str, kind: NewUserKind) -> Result<UserRecord, AccountError> {
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() < 3 {
            return Err(AccountError::Invalid(format!("{email:?} is not an e-mail address")));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AccountError::Invalid(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
        }
        let (seller_id, role) = match kind {
            NewUserKind::Operator(role) => (None, Some(role.as_str().to_owned())),
            NewUserKind::Seller(seller_id) => {
                if self.store.seller(seller_id).await?.is_none() {
                    return Err(AccountError::Invalid("no such seller".to_owned()));
                }
                (Some(seller_id), None)
            }
        };
        let password = password.to_owned();
        let password_hash = tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await
        .map_err(|e| AccountError::Invalid(e.to_string()))?
        .map_err(|e| AccountError::Invalid(e.to_string()))?;
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&email).to_owned();
        let user = UserRecord { id: 0, email: email.clone(), name, password_hash, seller_id, role };
        self.store
            .create_user(&user, now_ms())
            .await?
            .ok_or_else(|| AccountError::Invalid(format!("a user with e-mail address {email} exists already")))
    }

    /// Checks a password; on success returns a new session token and the user.
    pub async fn login(&self, email: &str, password: &str) -> Result<(String, UserRecord), AccountError> {
        let email = email.trim().to_lowercase();
        self.check_attempts(&email)?;
        let user = self.store.user_by_email(&email).await?;
        let verified = match &user {
            Some(user) => {
                let (hash, password) = (user.password_hash.clone(), password.to_owned());
                tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                })
                .await
                .unwrap_or(false)
            }
            None => false,
        };
        let Some(user) = user.filter(|_| verified) else {
            self.record_failure(&email);
            return Err(AccountError::BadCredentials);
        };
        let token = generate_secret(&mut rand::thread_rng(), "mcs_");
        self.store.create_session(&token.hash, user.id, now_ms() + SESSION_LIFETIME_MS).await?;
        Ok((token.secret, user))
    }

    /// The user of a live session token.
    pub async fn session(&self, token: &str) -> Result<Option<UserRecord>, AccountError> {
        Ok(self.store.session_user(&hash_key(token), now_ms()).await?)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), AccountError> {
        Ok(self.store.delete_session(&hash_key(token)).await?)
    }

    fn check_attempts(&self, email: &str) -> Result<(), AccountError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(email) {
            Some((count, since)) if *count >= MAX_FAILED_LOGINS && since.elapsed() < FAILURE_WINDOW => Err(AccountError::TooManyAttempts),
            _ => Ok(()),
        }
    }

    fn record_failure(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(email.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}
