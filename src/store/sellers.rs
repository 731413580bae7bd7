//! Sellers, each with its chat: what storage offers for them, and the statements every
//! SQL back end runs for it, written once.

use crate::domain::ids::SellerId;
use crate::domain::time::UnixMillis;
use super::sql::{every_backend, Dialect, RecordRow, SELLER_COLUMNS};
use super::records::{search_term, ListPage, SellerListQuery, SellerRecord, StoreError, StoreResult};
use async_trait::async_trait;
use tracing::instrument;

/// Sellers (a part of [`Store`](super::Store)).
#[async_trait]
pub trait SellerStore {
    /// Creates a seller and its empty chat.
    async fn create_seller(&self, business_name: &str, now: UnixMillis) -> StoreResult<SellerRecord>;
    /// Creates a seller carrying the marketplace's own ID; `None` when a seller has that
    /// external ID already.
    async fn create_seller_with_external_id(&self, business_name: &str, external_id: &str, now: UnixMillis) -> StoreResult<Option<SellerRecord>>;
    /// Creates the seller with this external ID (and its empty chat), or renames the one
    /// that has it; true when it was created. Concurrent calls with one external ID make
    /// one seller, and a call that changes nothing writes nothing.
    async fn upsert_seller(&self, external_id: &str, business_name: &str, now: UnixMillis) -> StoreResult<(SellerRecord, bool)>;
    /// Sets a seller's business name and/or external ID (`None`: unchanged); `None` when
    /// there is no such seller, [`StoreError::Duplicate`] when another seller has the
    /// external ID.
    async fn update_seller(&self, seller_id: SellerId, business_name: Option<&str>, external_id: Option<&str>) -> StoreResult<Option<SellerRecord>>;
    /// One seller.
    async fn seller(&self, seller_id: SellerId) -> StoreResult<Option<SellerRecord>>;
    /// The seller with this external ID.
    async fn seller_by_external_id(&self, external_id: &str) -> StoreResult<Option<SellerRecord>>;
    /// Sellers by folded name.
    async fn list_sellers(&self, query: &SellerListQuery) -> StoreResult<ListPage<SellerRecord>>;
    /// How many sellers match `search`.
    async fn count_sellers(&self, search: Option<&str>) -> StoreResult<i64>;
}

every_backend! {
    #[async_trait]
    impl SellerStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn create_seller(&self, business_name: &str, now: UnixMillis) -> StoreResult<SellerRecord> {
            let mut tx = self.begin_write().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO sellers (business_name, name_key, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(business_name)
                .bind(business_name.to_lowercase())
                .bind(now.get())
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO chats (seller_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(SellerRecord { id: SellerId::from(id), business_name: business_name.to_owned(), created_at: now, external_id: None })
        }

        #[instrument(level = "debug", skip_all)]
        async fn create_seller_with_external_id(&self, business_name: &str, external_id: &str, now: UnixMillis) -> StoreResult<Option<SellerRecord>> {
            let mut tx = self.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO sellers (business_name, name_key, created_at, external_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(business_name)
            .bind(business_name.to_lowercase())
            .bind(now.get())
            .bind(external_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { return Ok(None) };
            sqlx::query("INSERT INTO chats (seller_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(SellerRecord { id: SellerId::from(id), business_name: business_name.to_owned(), created_at: now, external_id: Some(external_id.to_owned()) }))
        }

        #[instrument(level = "debug", skip_all)]
        async fn upsert_seller(&self, external_id: &str, business_name: &str, now: UnixMillis) -> StoreResult<(SellerRecord, bool)> {
            let mut tx = self.begin_write().await?;
            // Looked up first, so a sync that changes nothing writes nothing (and burns no
            // ID: PostgreSQL takes a sequence value even for an insert that conflicts).
            let existing = sqlx::query(&format!("SELECT {SELLER_COLUMNS} FROM sellers WHERE external_id = $1"))
                .bind(external_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(existing) = existing.as_ref().map(RecordRow::seller).transpose()? {
                if existing.business_name == business_name {
                    return Ok((existing, false));
                }
            } else {
                // Another writer may insert the same external ID meanwhile: the insert then
                // does nothing (PostgreSQL waits for that writer to commit first) and the
                // update below renames the seller it made.
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO sellers (business_name, name_key, created_at, external_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(business_name)
                .bind(business_name.to_lowercase())
                .bind(now.get())
                .bind(external_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = id {
                    sqlx::query("INSERT INTO chats (seller_id) VALUES ($1)").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    let seller = SellerRecord { id: SellerId::from(id), business_name: business_name.to_owned(), created_at: now, external_id: Some(external_id.to_owned()) };
                    return Ok((seller, true));
                }
            }
            let row = sqlx::query(&format!("UPDATE sellers SET business_name = $1, name_key = $2 WHERE external_id = $3 RETURNING {SELLER_COLUMNS}"))
                .bind(business_name)
                .bind(business_name.to_lowercase())
                .bind(external_id)
                .fetch_optional(&mut *tx)
                .await?;
            let seller = row.as_ref().map(RecordRow::seller).transpose()?.ok_or(StoreError::NotFound("seller"))?;
            tx.commit().await?;
            Ok((seller, false))
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn update_seller(&self, seller_id: SellerId, business_name: Option<&str>, external_id: Option<&str>) -> StoreResult<Option<SellerRecord>> {
            let result = sqlx::query(&format!(
                "UPDATE sellers SET business_name = COALESCE($1, business_name), name_key = COALESCE($2, name_key), \
                 external_id = COALESCE($3, external_id) WHERE id = $4 RETURNING {SELLER_COLUMNS}"
            ))
            .bind(business_name)
            .bind(business_name.map(str::to_lowercase))
            .bind(external_id)
            .bind(seller_id.get())
            .fetch_optional(self.writer())
            .await;
            match result {
                Ok(row) => Ok(row.as_ref().map(RecordRow::seller).transpose()?),
                Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(StoreError::Duplicate("external_id")),
                Err(error) => Err(error.into()),
            }
        }

        #[instrument(level = "debug", skip_all, fields(seller_id = %seller_id))]
        async fn seller(&self, seller_id: SellerId) -> StoreResult<Option<SellerRecord>> {
            let row = sqlx::query(&format!("SELECT {SELLER_COLUMNS} FROM sellers WHERE id = $1"))
                .bind(seller_id.get())
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::seller).transpose()?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn seller_by_external_id(&self, external_id: &str) -> StoreResult<Option<SellerRecord>> {
            let row = sqlx::query(&format!("SELECT {SELLER_COLUMNS} FROM sellers WHERE external_id = $1"))
                .bind(external_id)
                .fetch_optional(self.readers())
                .await?;
            Ok(row.as_ref().map(RecordRow::seller).transpose()?)
        }

        #[instrument(level = "debug", skip_all)]
        async fn list_sellers(&self, query: &SellerListQuery) -> StoreResult<ListPage<SellerRecord>> {
            let (after_name, after_id) = match &query.after {
                Some(cursor) => (cursor.name_key.as_str(), cursor.seller_id.get()),
                None => ("", 0),
            };
            let rows = sqlx::query(&format!(
                "SELECT {SELLER_COLUMNS} FROM sellers \
                 WHERE (name_key, id) > ($1, $2) AND (CAST($3 AS TEXT) IS NULL OR {position}(name_key, $3) > 0) \
                 ORDER BY name_key, id LIMIT $4",
                position = B::Db::POSITION,
            ))
            .bind(after_name)
            .bind(after_id)
            .bind(search_term(query.search.as_deref()))
            .bind(query.limit + 1)
            .fetch_all(self.readers())
            .await?;
            let items = rows.iter().map(RecordRow::seller).collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage::from_overfetch(items, query.limit))
        }

        #[instrument(level = "debug", skip_all)]
        async fn count_sellers(&self, search: Option<&str>) -> StoreResult<i64> {
            let count = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM sellers WHERE CAST($1 AS TEXT) IS NULL OR {position}(name_key, $1) > 0",
                position = B::Db::POSITION,
            ))
            .bind(search_term(search))
            .fetch_one(self.readers())
            .await?;
            Ok(count)
        }
    }
}
