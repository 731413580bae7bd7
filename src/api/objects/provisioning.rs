//! The provisioning API's objects (Operator API, admin credentials only): `ApiKey` (never
//! its secret) and the inputs and payloads of `sellerUpsert`, `sellerApiKeyCreate` and
//! `apiKeyRevoke`.

use super::operator::SellerObject;
use super::payload::ValidationError;
use crate::domain::time::UnixMillis;
use crate::store::ApiKeyRecord;
use async_graphql::{InputObject, SimpleObject, ID};

/// An API key as the provisioning API shows it: never its secret.
#[derive(SimpleObject)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyObject {
    /// Global ID (pass it to `apiKeyRevoke`).
    id: ID,
    /// The label given at creation (an operator key's label is its `sentBy`).
    label: Option<String>,
    /// When it was created.
    created_at: String,
    /// When it was last used (recorded at most once a minute); null if never.
    last_used_at: Option<String>,
    /// When it was revoked; null while it works.
    revoked_at: Option<String>,
    /// The seller it belongs to; null for an operator key.
    seller_id: Option<ID>,
    /// Whether it is an operator admin key (may call the provisioning API).
    admin: bool,
}

impl From<ApiKeyRecord> for ApiKeyObject {
    fn from(key: ApiKeyRecord) -> Self {
        Self {
            id: ID(key.id.gid()),
            label: key.label,
            created_at: key.created_at.to_rfc3339(),
            last_used_at: key.last_used_at.map(UnixMillis::to_rfc3339),
            revoked_at: key.revoked_at.map(UnixMillis::to_rfc3339),
            seller_id: key.seller_id.map(|id| ID(id.gid())),
            admin: key.admin,
        }
    }
}

/// Input of `sellerUpsert`.
#[derive(InputObject)]
pub struct SellerUpsertInput {
    /// The marketplace's own ID for the seller (unique; trimmed; at most 255 characters).
    pub external_id: String,
    /// The seller's business name (trimmed; at most 255 characters).
    pub business_name: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Result of `sellerUpsert`.
#[derive(SimpleObject)]
pub struct SellerUpsertPayload {
    /// The seller as stored now; null when `errors` is set.
    pub seller: Option<SellerObject>,
    /// True when this call created the seller, false when it existed (and was renamed
    /// if the name differed) or nothing was written.
    pub created: bool,
    /// What was wrong with the input; nothing was written when this is set.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

/// Input of `sellerApiKeyCreate`.
#[derive(InputObject)]
pub struct SellerApiKeyCreateInput {
    /// The seller the key is for.
    pub seller_id: ID,
    /// A label to tell keys apart (at most 255 characters).
    pub label: Option<String>,
}

/// Result of `sellerApiKeyCreate`.
#[derive(SimpleObject)]
pub struct ApiKeyCreatePayload {
    /// The new key.
    pub api_key: Option<ApiKeyObject>,
    /// The key itself, to send as `MARKETPLACER-API-KEY`: shown only in this answer,
    /// stored only as a hash.
    pub secret: Option<String>,
    /// What was wrong with the input; nothing was created when this is set.
    pub errors: Option<Vec<ValidationError>>,
}

/// Input of `apiKeyRevoke`.
#[derive(InputObject)]
pub struct ApiKeyRevokeInput {
    /// The key's ID (from `apiKeys` or `sellerApiKeyCreate`).
    pub id: ID,
}

/// Result of `apiKeyRevoke`.
#[derive(SimpleObject)]
pub struct ApiKeyRevokePayload {
    /// The key, now revoked (revoking it again keeps the first `revokedAt`).
    pub api_key: Option<ApiKeyObject>,
    /// What was wrong with the input; nothing changed when this is set.
    pub errors: Option<Vec<ValidationError>>,
}
