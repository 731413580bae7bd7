//! API keys (their hashes): what storage offers for them, and the statements every SQL
//! back end runs for it, written once.

use crate::domain::ids::{KeyId, SellerId};
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, RecordRow, RowsAffected, KEY_COLUMNS};
use super::records::{ApiKeyRecord, StoreResult};
use async_trait::async_trait;
use tracing::instrument;

/// API keys (a part of [`Store`](super::Store)).
#[async_trait]
pub trait KeyStore {
    /// Stores an API key's hash.
    async fn create_api_key(&self, hash: &str, seller_id: Option<SellerId>, label: Option<&str>, now: UnixMillis) -> StoreResult<ApiKeyRecord>;
    /// The key with this hash, revoked or not.
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Records a use of the key.
    async fn touch_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<()>;
    /// All keys, oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key; false when there is no such key.
    async fn revoke_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<bool>;
}

every_backend! {
    #[async_trait]
    impl KeyStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_api_key(&self, hash: &str, seller_id: Option<SellerId>, label: Option<&str>, now: UnixMillis) -> StoreResult<ApiKeyRecord> {
            let id: i64 = sqlx::query_scalar("INSERT INTO api_keys (key_hash, seller_id, label, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(hash)
                .bind(seller_id.map(SellerId::get))
                .bind(label)
                .bind(now.get())
                .fetch_one(self.writer())
                .await?;
            Ok(ApiKeyRecord { id: KeyId::from(id), seller_id, label: label.map(str::to_owned), created_at: now, revoked_at: None, last_used_at: None })
        }

        #[instrument(level = "debug", skip_all)]
        async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
            let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
                .bind(hash)
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::api_key).transpose()?)
        }

        #[instrument(level = "debug", skip_all, fields(key_id = %key_id))]
        async fn touch_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<()> {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now.get()).bind(key_id.get()).execute(self.writer()).await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
            let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id")).fetch_all(self.readers()).await?;
            Ok(rows.iter().map(RecordRow::api_key).collect::<Result<_, _>>()?)
        }

        #[instrument(level = "debug", skip_all, fields(key_id = %key_id))]
        async fn revoke_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<bool> {
            let result = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(now.get())
                .bind(key_id.get())
                .execute(self.writer())
                .await?;
            Ok(result.rows_affected() == 1)
        }
    }
}
