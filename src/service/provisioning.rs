//! Provisioning: how the marketplace keeps marketchat's sellers and their API keys in step
//! with its own (the Operator API's `sellerUpsert`, `sellerApiKeyCreate`, `apiKeyRevoke`,
//! `seller`, `apiKeys`, and the CLI's `seller create|update` and `key create|list|revoke`).
//! Who may call it is decided above (`Principal::may_provision`); the rules on what may
//! be stored live here and in `domain::provisioning`.

use super::clock::Clock;
use super::error::ServiceError;
use crate::domain::ids::{KeyId, SellerId};
use crate::domain::keys::{generate_key, KeyOwner};
use crate::domain::provisioning::{BusinessName, ExternalId, KeyLabel};
use crate::store::{ApiKeyRecord, KeyListQuery, ListPage, SellerRecord, Store, StoreError};
use std::sync::Arc;
use tracing::instrument;

/// Which seller a caller means: by row number, or by the marketplace's own ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SellerRef {
    /// The seller's row ID (from its global ID).
    Id(SellerId),
    /// The seller's external ID, as given (trimmed before the lookup).
    ExternalId(String),
}

/// What `seller update` changes; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct SellerChange {
    /// A new business name.
    pub business_name: Option<String>,
    /// A new external ID (unique among sellers).
    pub external_id: Option<String>,
}

/// What `sellerUpsert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The seller as stored now.
    pub seller: SellerRecord,
    /// True when the seller was created by this call, false when it existed.
    pub created: bool,
}

/// A new API key: the stored record and the secret, which is shown only this once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The key as stored (never the secret).
    pub key: ApiKeyRecord,
    /// The secret the client sends.
    pub secret: String,
}

/// Provisioning use cases over a store.
#[derive(Clone)]
pub struct Provisioning {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl Provisioning {
    /// Provisioning over `store`, reading the time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Creates the seller with this external ID, or renames the one that has it: a
    /// nightly sync may call it for every seller every night. Invalid input changes nothing.
    #[instrument(skip_all)]
    pub async fn upsert_seller(&self, external_id: &str, business_name: &str) -> Result<Upserted, ServiceError> {
        let external_id = parse_external_id(external_id)?;
        let business_name = parse_business_name(business_name)?;
        let (seller, created) = self.store.upsert_seller(external_id.as_str(), business_name.as_str(), self.clock.now()).await?;
        if created {
            tracing::info!(seller_id = %seller.id, "provisioning: seller created");
        }
        Ok(Upserted { seller, created })
    }

    /// Creates a seller (and its empty chat), with the marketplace's own ID if given;
    /// an external ID another seller has is an `externalId` error.
    #[instrument(skip_all)]
    pub async fn create_seller(&self, business_name: &str, external_id: Option<&str>) -> Result<SellerRecord, ServiceError> {
        let business_name = parse_business_name(business_name)?;
        let now = self.clock.now();
        let Some(raw) = external_id else {
            return Ok(self.store.create_seller(business_name.as_str(), now).await?);
        };
        let external_id = parse_external_id(raw)?;
        self.store
            .create_seller_with_external_id(business_name.as_str(), external_id.as_str(), now)
            .await?
            .ok_or_else(|| taken(&external_id))
    }

    /// Renames a seller and/or sets its external ID; a `seller` error when there is no
    /// such seller, an `externalId` error when another seller has that external ID.
    #[instrument(skip_all)]
    pub async fn update_seller(&self, seller: &SellerRef, change: &SellerChange) -> Result<SellerRecord, ServiceError> {
        let business_name = change.business_name.as_deref().map(parse_business_name).transpose()?;
        let external_id = change.external_id.as_deref().map(parse_external_id).transpose()?;
        if business_name.is_none() && external_id.is_none() {
            return Err(ServiceError::invalid("base", "nothing to change: give a new business name or external ID"));
        }
        let Some(found) = self.seller(seller).await? else {
            return Err(ServiceError::invalid("seller", "does not exist"));
        };
        let name = business_name.as_ref().map(BusinessName::as_str);
        match self.store.update_seller(found.id, name, external_id.as_ref().map(ExternalId::as_str)).await {
            Ok(Some(updated)) => Ok(updated),
            Ok(None) => Err(ServiceError::invalid("seller", "does not exist")),
            Err(StoreError::Duplicate(_)) => Err(external_id.as_ref().map_or_else(|| ServiceError::invalid("externalId", "is taken"), taken)),
            Err(error) => Err(error.into()),
        }
    }

    /// The seller a caller names; `None` when there is none (a blank external ID names none).
    #[instrument(skip_all)]
    pub async fn seller(&self, seller: &SellerRef) -> Result<Option<SellerRecord>, ServiceError> {
        Ok(match seller {
            SellerRef::Id(seller_id) => self.store.seller(*seller_id).await?,
            SellerRef::ExternalId(raw) => match ExternalId::parse(raw) {
                Ok(external_id) => self.store.seller_by_external_id(external_id.as_str()).await?,
                Err(_) => None,
            },
        })
    }

    /// Creates an API key for `owner`; a seller that does not exist is a `sellerId` error.
    #[instrument(skip_all)]
    pub async fn create_api_key(&self, owner: KeyOwner, label: Option<&str>) -> Result<CreatedKey, ServiceError> {
        let label = KeyLabel::parse_optional(label).map_err(|e| ServiceError::invalid("label", e.to_string()))?;
        if let KeyOwner::Seller(seller_id) = owner {
            if self.store.seller(seller_id).await?.is_none() {
                return Err(ServiceError::invalid("sellerId", "does not exist"));
            }
        }
        let new = generate_key(&mut rand::thread_rng());
        let key = self.store.create_api_key(&new.hash, owner, label.as_ref().map(KeyLabel::as_str), self.clock.now()).await?;
        tracing::info!(key_id = %key.id, seller_id = key.seller_id.map(SellerId::get), admin = key.admin, "provisioning: API key created");
        Ok(CreatedKey { key, secret: new.secret })
    }

    /// Revokes a key at once (requests with it are refused from now on, and its open
    /// subscriptions close at their next re-check); revoking it again changes nothing.
    /// A key that does not exist is an `id` error.
    #[instrument(skip_all)]
    pub async fn revoke_api_key(&self, key_id: KeyId) -> Result<ApiKeyRecord, ServiceError> {
        let key = self.store.revoke_api_key(key_id, self.clock.now()).await?.ok_or_else(|| ServiceError::invalid("id", "does not exist"))?;
        tracing::info!(key_id = %key_id, seller_id = key.seller_id.map(SellerId::get), "provisioning: API key revoked");
        Ok(key)
    }

    /// One page of API keys, oldest first (never their secrets): one seller's, or every
    /// key when `query.seller_id` is `None`. An unknown seller is a `sellerId` error.
    #[instrument(skip_all)]
    pub async fn api_keys(&self, query: &KeyListQuery) -> Result<ListPage<ApiKeyRecord>, ServiceError> {
        if let Some(seller_id) = query.seller_id {
            if self.store.seller(seller_id).await?.is_none() {
                return Err(ServiceError::invalid("sellerId", "does not exist"));
            }
        }
        Ok(self.store.list_api_keys(query).await?)
    }
}

fn parse_business_name(raw: &str) -> Result<BusinessName, ServiceError> {
    BusinessName::parse(raw).map_err(|e| ServiceError::invalid("businessName", e.to_string()))
}

fn parse_external_id(raw: &str) -> Result<ExternalId, ServiceError> {
    ExternalId::parse(raw).map_err(|e| ServiceError::invalid("externalId", e.to_string()))
}

/// The error for an external ID another seller has.
fn taken(external_id: &ExternalId) -> ServiceError {
    ServiceError::invalid("externalId", format!("{:?} belongs to another seller", external_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    async fn provisioning() -> (Provisioning, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("provisioning.db").display());
        let store = store::connect(&url, &Default::default()).await.unwrap();
        (Provisioning::new(store, Clock::system()), dir)
    }

    #[tokio::test]
    async fn an_upsert_creates_then_renames_and_a_repeat_changes_nothing() {
        let (service, _dir) = provisioning().await;
        let first = service.upsert_seller(" mp-1 ", "Acme").await.unwrap();
        assert!(first.created);
        assert_eq!(first.seller.external_id.as_deref(), Some("mp-1"));
        let renamed = service.upsert_seller("mp-1", " Acme Outdoor ").await.unwrap();
        assert_eq!((renamed.created, renamed.seller.id, renamed.seller.business_name.as_str()), (false, first.seller.id, "Acme Outdoor"));
        let again = service.upsert_seller("mp-1", "Acme Outdoor").await.unwrap();
        assert_eq!(again, renamed);
    }

    #[tokio::test]
    async fn update_sets_names_and_external_ids_but_never_takes_anothers() {
        let (service, _dir) = provisioning().await;
        let acme = service.create_seller("Acme", Some("mp-1")).await.unwrap();
        let blue = service.create_seller("Blue", None).await.unwrap();
        let change = SellerChange { external_id: Some("mp-1".to_owned()), ..Default::default() };
        let refused = service.update_seller(&SellerRef::Id(blue.id), &change).await.unwrap_err();
        assert!(matches!(&refused, ServiceError::Invalid { field: "externalId", message } if message.contains("mp-1")), "{refused}");
        let by_external = SellerRef::ExternalId("mp-1".to_owned());
        let rename = SellerChange { business_name: Some("Acme Outdoor".to_owned()), external_id: Some("mp-9".to_owned()) };
        let updated = service.update_seller(&by_external, &rename).await.unwrap();
        assert_eq!((updated.id, updated.business_name.as_str(), updated.external_id.as_deref()), (acme.id, "Acme Outdoor", Some("mp-9")));
        let missing = service.update_seller(&SellerRef::Id(SellerId::from(999)), &rename).await.unwrap_err();
        assert!(matches!(missing, ServiceError::Invalid { field: "seller", .. }));
        let nothing = service.update_seller(&SellerRef::Id(acme.id), &SellerChange::default()).await.unwrap_err();
        assert!(matches!(nothing, ServiceError::Invalid { field: "base", .. }));
    }
}
