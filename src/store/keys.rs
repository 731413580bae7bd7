//! API keys (their hashes): what storage offers for them, and the statements every SQL
//! back end runs for it, written once.

use super::records::{ApiKeyRecord, KeyListQuery, ListPage, StoreResult};
use super::sql::{every_backend, RecordRow, KEY_COLUMNS};
use crate::domain::ids::{KeyId, SellerId};
use crate::domain::keys::KeyOwner;
use crate::domain::time::UnixMillis;
use async_trait::async_trait;
use tracing::instrument;

/// API keys (a part of [`Store`](super::Store)).
#[async_trait]
pub trait KeyStore {
    /// Stores an API key's hash.
    async fn create_api_key(&self, hash: &str, owner: KeyOwner, label: Option<&str>, now: UnixMillis) -> StoreResult<ApiKeyRecord>;
    /// The key with this hash, revoked or not.
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Records a use of the key.
    async fn touch_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<()>;
    /// One page of keys, oldest first (index `api_keys_by_seller` for one seller's).
    async fn list_api_keys(&self, query: &KeyListQuery) -> StoreResult<ListPage<ApiKeyRecord>>;
    /// Revokes a key (a revoked key keeps its first `revoked_at`); `None` when there is
    /// no such key.
    async fn revoke_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<Option<ApiKeyRecord>>;
}

every_backend! {
    #[async_trait]
    impl KeyStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_api_key(&self, hash: &str, owner: KeyOwner, label: Option<&str>, now: UnixMillis) -> StoreResult<ApiKeyRecord> {
            let (seller_id, admin) = (owner.seller_id(), owner.is_admin());
            let id: i64 = sqlx::query_scalar("INSERT INTO api_keys (key_hash, seller_id, label, created_at, admin) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(hash)
                .bind(seller_id.map(SellerId::get))
                .bind(label)
                .bind(now.get())
                .bind(admin)
                .fetch_one(self.writer())
                .await?;
            Ok(ApiKeyRecord { id: KeyId::from(id), seller_id, admin, label: label.map(str::to_owned), created_at: now, revoked_at: None, last_used_at: None })
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
        async fn list_api_keys(&self, query: &KeyListQuery) -> StoreResult<ListPage<ApiKeyRecord>> {
            let filter = if query.seller_id.is_some() { "seller_id = $3 AND" } else { "" };
            let statement = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE {filter} id > $1 ORDER BY id LIMIT $2");
            let mut statement = sqlx::query(&statement).bind(query.after.map_or(0, KeyId::get)).bind(query.limit + 1);
            if let Some(seller_id) = query.seller_id {
                statement = statement.bind(seller_id.get());
            }
            let rows = statement.fetch_all(self.readers()).await?;
            let items = rows.iter().map(RecordRow::api_key).collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage::from_overfetch(items, query.limit))
        }

        #[instrument(level = "debug", skip_all, fields(key_id = %key_id))]
        async fn revoke_api_key(&self, key_id: KeyId, now: UnixMillis) -> StoreResult<Option<ApiKeyRecord>> {
            let row = sqlx::query(&format!("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {KEY_COLUMNS}"))
                .bind(now.get())
                .bind(key_id.get())
                .fetch_optional(self.writer())
                .await?;
            Ok(row.as_ref().map(RecordRow::api_key).transpose()?)
        }
    }
}
