//! Portal users and their login sessions: what storage offers for them, and the
//! statements every SQL back end runs for it, written once.

use crate::domain::time::UnixMillis;
use super::sql::{every_backend, Dialect, RecordRow, RowsAffected, USER_COLUMNS};
use super::records::{SessionRecord, StoreResult, UserRecord};
use async_trait::async_trait;
use tracing::instrument;

/// Portal users and sessions (a part of [`Store`](super::Store)).
#[async_trait]
pub trait AccountStore {
    /// Creates a portal user; `None` when the e-mail address is taken.
    async fn create_user(&self, user: &UserRecord, now: UnixMillis) -> StoreResult<Option<UserRecord>>;
    /// The user with this (lower-cased) e-mail address.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Every portal user, by ID.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Disables a user (`Some(now)`: ends all their sessions in the same transaction) or
    /// enables one (`None`); false when there is no such user.
    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<UnixMillis>) -> StoreResult<bool>;
    /// Replaces a user's password hash and ends their sessions; false when there is no such user.
    async fn set_user_password(&self, user_id: i64, password_hash: &str) -> StoreResult<bool>;
    /// Stores a login session, last used `now`, in one transaction with ending the user's
    /// sessions that expired or were unused since before `idle_since` and, beyond the
    /// newest `keep_per_user`, the oldest ones.
    async fn create_session(&self, token_hash: &str, user_id: i64, now: UnixMillis, expires_at: UnixMillis, idle_since: UnixMillis, keep_per_user: i64) -> StoreResult<()>;
    /// The session and its user when it has not expired at `now` and was last used at or
    /// after `idle_since`.
    async fn session_user(&self, token_hash: &str, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<Option<SessionRecord>>;
    /// Records a use of the session.
    async fn touch_session(&self, token_hash: &str, now: UnixMillis) -> StoreResult<()>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes sessions expired at `now` or unused since before `idle_since`; returns how many.
    async fn purge_sessions(&self, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<u64>;
}

every_backend! {
    #[async_trait]
    impl AccountStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_user(&self, user: &UserRecord, now: UnixMillis) -> StoreResult<Option<UserRecord>> {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (email, name, password_hash, seller_id, role, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.seller_id.map(|v| v.get()))
            .bind(&user.role)
            .bind(now.get())
            .fetch_optional(self.writer())
            .await?;
            Ok(id.map(|id| UserRecord { id, ..user.clone() }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1"))
                .bind(email)
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
            let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
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
        async fn create_session(&self, token_hash: &str, user_id: i64, now: UnixMillis, expires_at: UnixMillis, idle_since: UnixMillis, keep_per_user: i64) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            if B::Db::ROW_LOCKS {
                // Concurrent logins of one user take turns, so the cap holds exactly.
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_used_at < $3)")
                .bind(user_id)
                .bind(now.get())
                .bind(idle_since.get())
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id)
                .bind(expires_at.get())
                .bind(now.get())
                .execute(&mut *tx)
                .await?;
            // The newest `keep_per_user` stay (newest = latest expiry: every session lives
            // equally long); the rest end.
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND token_hash NOT IN \
                 (SELECT token_hash FROM sessions WHERE user_id = $1 ORDER BY expires_at DESC, token_hash DESC LIMIT $2)",
            )
            .bind(user_id)
            .bind(keep_per_user)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn session_user(&self, token_hash: &str, now: UnixMillis, idle_since: UnixMillis) -> StoreResult<Option<SessionRecord>> {
            let row = sqlx::query(&format!(
                "SELECT {USER_COLUMNS}, s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_used_at >= $3"
            ))
            .bind(token_hash)
            .bind(now.get())
            .bind(idle_since.get())
            .fetch_optional(self.readers())
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(SessionRecord { user: row.user()?, last_used_at: row.typed(7)? }))
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
    }
}
