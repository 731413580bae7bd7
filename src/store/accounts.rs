//! Portal users and their login sessions: what storage offers for them, and the
//! statements every SQL back end runs for it, written once.

use crate::domain::ids::SellerId;
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, RecordRow, RowsAffected, USER_COLUMNS};
use super::records::{IdpIdentity, NewSession, NewSignIn, PendingSignIn, SessionKind, SessionRecord, StoreResult, UserRecord};
use async_trait::async_trait;
use sqlx::Row;
use std::marker::PhantomData;
use tracing::instrument;

/// Portal users and sessions (a part of [`Store`](super::Store)).
#[async_trait]
pub trait AccountStore {
    /// Creates a portal user; `None` when the e-mail address (or the identity) is taken.
    async fn create_user(&self, user: &UserRecord, now: UnixMillis) -> StoreResult<Option<UserRecord>>;
    /// The user signed in as this identity at the identity provider.
    async fn user_by_identity(&self, identity: &IdpIdentity) -> StoreResult<Option<UserRecord>>;
    /// Links an operator user that has no identity yet to `identity`; false when the user
    /// is gone, is a seller user or has an identity already.
    async fn link_identity(&self, user_id: i64, identity: &IdpIdentity) -> StoreResult<bool>;
    /// Sets an operator user's name and role, and their e-mail address unless another
    /// user logs in with it; returns the user as stored now.
    async fn refresh_operator_user(&self, user_id: i64, email: &str, name: &str, role: &str) -> StoreResult<Option<UserRecord>>;
    /// Stores a sign-in sent to the identity provider, deleting those expired at `now`.
    async fn save_pending_sign_in(&self, pending: &PendingSignIn, now: UnixMillis) -> StoreResult<()>;
    /// Takes (deletes and returns) the pending sign-in with this state hash: each can be
    /// taken once, by one node.
    async fn take_pending_sign_in(&self, state_hash: &str) -> StoreResult<Option<PendingSignIn>>;
    /// The user who logs in with this (lower-cased) e-mail address (never an embedded
    /// seller user, whose address is no login).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// The embedded seller user the marketplace knows as `external_id` at `seller_id`.
    async fn user_by_external_id(&self, seller_id: SellerId, external_id: &str) -> StoreResult<Option<UserRecord>>;
    /// Every portal user, by ID.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Disables a user (`Some(now)`: ends all their sessions in the same transaction) or
    /// enables one (`None`); false when there is no such user.
    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<UnixMillis>) -> StoreResult<bool>;
    /// Replaces a password user's password hash and ends their sessions; false when there
    /// is no such user (an embedded seller user has no password to replace).
    async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool>;
    /// Stores a session of `user_id`, last used `session.now`, in one transaction with
    /// ending the user's sessions that expired or went idle and, beyond the newest
    /// `keep_per_user`, the oldest ones.
    async fn create_session(&self, user_id: i64, session: &NewSession<'_>) -> StoreResult<()>;
    /// The session of `kind` and its user when it has not expired at `now` and was last
    /// used at or after `idle_since`.
    async fn session_user(&self, token_hash: &str, kind: SessionKind, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<Option<SessionRecord>>;
    /// Records a use of the session.
    async fn touch_session(&self, token_hash: &str, now: UnixMillis) -> StoreResult<()>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes sessions expired at `now` or unused since before `idle_since`; returns how many.
    async fn purge_sessions(&self, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<u64>;
    /// Stores a sign-in token.
    async fn create_sign_in(&self, sign_in: &NewSignIn) -> StoreResult<()>;
    /// Redeems a sign-in token, in one transaction: marks it used if it is unused and
    /// unexpired at `session.now` (one statement, so of concurrent redemptions on any
    /// number of nodes exactly one succeeds), creates or refreshes (name, e-mail) its
    /// seller user, and opens `session` for that user unless the user is disabled.
    /// `None` when the token is unknown, used, expired, or its user disabled.
    async fn redeem_sign_in(&self, token_hash: &str, session: &NewSession<'_>) -> StoreResult<Option<UserRecord>>;
    /// Deletes sign-in tokens expired at `now` (used or not); returns how many.
    async fn purge_sign_ins(&self, now: UnixMillis) -> StoreResult<u64>;
}

every_backend! {
    #[async_trait]
    impl AccountStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_user(&self, user: &UserRecord, now: UnixMillis) -> StoreResult<Option<UserRecord>> {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (email, name, password_hash, seller_id, role, created_at, oidc_issuer, oidc_subject) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.seller_id.map(|v| v.get()))
            .bind(&user.role)
            .bind(now.get())
            .bind(user.identity.as_ref().map(|identity| identity.issuer.as_str()))
            .bind(user.identity.as_ref().map(|identity| identity.subject.as_str()))
            .fetch_optional(self.writer())
            .await?;
            Ok(id.map(|id| UserRecord { id, ..user.clone() }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn user_by_identity(&self, identity: &IdpIdentity) -> StoreResult<Option<UserRecord>> {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.oidc_issuer = $1 AND u.oidc_subject = $2"))
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::user).transpose()?)
        }

        #[instrument(level = "debug", skip_all, fields(user_id = user_id))]
        async fn link_identity(&self, user_id: i64, identity: &IdpIdentity) -> StoreResult<bool> {
            let linked = sqlx::query(
                "UPDATE users SET oidc_issuer = $1, oidc_subject = $2 \
                 WHERE id = $3 AND seller_id IS NULL AND oidc_subject IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM users o WHERE o.oidc_issuer = $1 AND o.oidc_subject = $2)",
            )
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .bind(user_id)
            .execute(self.writer())
            .await?
            .rows_affected();
            Ok(linked == 1)
        }

        #[instrument(level = "debug", skip_all, fields(user_id = user_id))]
        async fn refresh_operator_user(&self, user_id: i64, email: &str, name: &str, role: &str) -> StoreResult<Option<UserRecord>> {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "UPDATE users SET name = $1, role = $2, \
                 email = CASE WHEN EXISTS (SELECT 1 FROM users o WHERE o.email = $3 AND o.id <> $4 AND o.external_id IS NULL) THEN email ELSE $3 END \
                 WHERE id = $4 AND seller_id IS NULL",
            )
            .bind(name)
            .bind(role)
            .bind(email)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1")).bind(user_id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok(row.as_ref().map(RecordRow::user).transpose()?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn save_pending_sign_in(&self, pending: &PendingSignIn, now: UnixMillis) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query("DELETE FROM sso_sign_ins WHERE expires_at <= $1").bind(now.get()).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sso_sign_ins (state_hash, browser_hash, nonce, pkce_verifier, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&pending.state_hash)
                .bind(&pending.browser_hash)
                .bind(&pending.nonce)
                .bind(&pending.pkce_verifier)
                .bind(pending.expires_at.get())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn take_pending_sign_in(&self, state_hash: &str) -> StoreResult<Option<PendingSignIn>> {
            let row = sqlx::query(
                "DELETE FROM sso_sign_ins WHERE state_hash = $1 RETURNING state_hash, browser_hash, nonce, pkce_verifier, expires_at",
            )
            .bind(state_hash)
            .fetch_optional(self.writer())
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(PendingSignIn {
                state_hash: row.try_get(0)?,
                browser_hash: row.try_get(1)?,
                nonce: row.try_get(2)?,
                pkce_verifier: row.try_get(3)?,
                expires_at: row.typed(4)?,
            }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1 AND u.external_id IS NULL"))
                .bind(email)
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::user).transpose()?)
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn user_by_external_id(&self, seller_id: SellerId, external_id: &str) -> StoreResult<Option<UserRecord>> {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.seller_id = $1 AND u.external_id = $2"))
                .bind(seller_id.get())
                .bind(external_id)
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::user).transpose()?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
            let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id")).fetch_all(self.readers()).await?;
            Ok(rows.iter().map(RecordRow::user).collect::<Result<Vec<_>, _>>()?)
        }

        #[instrument(level = "debug", skip_all, fields(user_id = %user_id))]
        async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<UnixMillis>) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                .bind(disabled_at.map(|v| v.get()))
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if disabled_at.is_some() {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(changed == 1)
        }

        #[instrument(level = "debug", skip_all, fields(user_id = %user_id))]
        async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND external_id IS NULL")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed == 1)
        }

        #[instrument(level = "debug", skip_all, fields(user_id = %user_id))]
        async fn create_session(&self, user_id: i64, session: &NewSession<'_>) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            SessionWrites::<B::Db>::open_in(&mut *tx, user_id, session).await?;
            tx.commit().await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn session_user(&self, token_hash: &str, kind: SessionKind, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<Option<SessionRecord>> {
            let row = sqlx::query(&format!(
                "SELECT {USER_COLUMNS}, s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.kind = $2 AND s.expires_at > $3 AND s.last_used_at >= $4"
            ))
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(now.get())
            .bind(idle_since.get())
            .fetch_optional(self.readers())
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(SessionRecord { user: row.user()?, last_used_at: row.typed(10)? }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn touch_session(&self, token_hash: &str, now: UnixMillis) -> StoreResult<()> {
            sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE token_hash = $2 AND last_used_at < $1")
                .bind(now.get())
                .bind(token_hash)
                .execute(self.writer())
                .await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.writer()).await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn purge_sessions(&self, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<u64> {
            let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at < $2")
                .bind(now.get())
                .bind(idle_since.get())
                .execute(self.writer())
                .await?;
            Ok(result.rows_affected())
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %sign_in.seller_id))]
        async fn create_sign_in(&self, sign_in: &NewSignIn) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO seller_sign_ins (token_hash, seller_id, user_external_id, user_name, user_email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&sign_in.token_hash)
            .bind(sign_in.seller_id.get())
            .bind(&sign_in.user_external_id)
            .bind(&sign_in.user_name)
            .bind(&sign_in.user_email)
            .bind(sign_in.created_at.get())
            .bind(sign_in.expires_at.get())
            .execute(self.writer())
            .await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn redeem_sign_in(&self, token_hash: &str, session: &NewSession<'_>) -> StoreResult<Option<UserRecord>> {
            let mut tx = self.begin_write().await?;
            // The check and the mark are one statement: a concurrent redemption (on
            // PostgreSQL, from another node) waits for this row and then finds it used.
            let redeemed: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
                "UPDATE seller_sign_ins SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                 RETURNING seller_id, user_external_id, user_name, user_email",
            )
            .bind(session.now.get())
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((seller_id, external_id, name, email)) = redeemed else { return Ok(None) };
            let user = sqlx::query(
                "INSERT INTO users (email, name, password_hash, seller_id, role, created_at, external_id) \
                 VALUES ($1, $2, NULL, $3, NULL, $4, $5) \
                 ON CONFLICT (seller_id, external_id) WHERE external_id IS NOT NULL \
                 DO UPDATE SET name = excluded.name, email = excluded.email \
                 RETURNING id, email, name, password_hash, seller_id, role, disabled_at, external_id, oidc_issuer, oidc_subject",
            )
            .bind(&email)
            .bind(&name)
            .bind(seller_id)
            .bind(session.now.get())
            .bind(&external_id)
            .fetch_one(&mut *tx)
            .await?
            .user()?;
            if user.disabled_at.is_some() {
                // The token stays used: a disabled user's link is spent like any other.
                tx.commit().await?;
                return Ok(None);
            }
            SessionWrites::<B::Db>::open_in(&mut *tx, user.id, session).await?;
            tx.commit().await?;
            Ok(Some(user))
        }

        #[instrument(level = "debug", skip_all)]
        async fn purge_sign_ins(&self, now: UnixMillis) -> StoreResult<u64> {
            let result = sqlx::query("DELETE FROM seller_sign_ins WHERE expires_at <= $1").bind(now.get()).execute(self.writer()).await?;
            Ok(result.rows_affected())
        }
    }
}

/// The session statements logins and sign-ins share, inside their caller's transaction.
pub(super) struct SessionWrites<DB>(PhantomData<DB>);

every_backend! {
    impl SessionWrites<DB> {
        /// Stores `session` for `user_id` and ends the user's sessions that expired or went
        /// idle and, beyond the newest `keep_per_user`, the oldest ones.
        pub(super) async fn open_in(conn: &mut DB::Connection, user_id: i64, session: &NewSession<'_>) -> StoreResult<()> {
            if DB::ROW_LOCKS {
                // Concurrent logins of one user take turns, so the cap holds exactly.
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *conn).await?;
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_used_at < $3)")
                .bind(user_id)
                .bind(session.now.get())
                .bind(session.idle_since.get())
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at, kind) VALUES ($1, $2, $3, $4, $5)")
                .bind(session.token_hash)
                .bind(user_id)
                .bind(session.expires_at.get())
                .bind(session.now.get())
                .bind(session.kind.as_str())
                .execute(&mut *conn)
                .await?;
            // The newest `keep_per_user` stay (newest = latest expiry: every session lives
            // equally long); the rest end.
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND token_hash NOT IN \
                 (SELECT token_hash FROM sessions WHERE user_id = $1 ORDER BY expires_at DESC, token_hash DESC LIMIT $2)",
            )
            .bind(user_id)
            .bind(session.keep_per_user)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    }
}
