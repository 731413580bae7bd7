//! The two schemas, built once per server over the same context, and the limits every
//! document is held to.

use super::context::ApiContext;
use super::document_cache::DocumentCache;
use super::limits::DocumentLimits;
use super::operator::{OperatorMutation, OperatorQuery, OperatorSchema, OperatorSubscription};
use super::seller::{SellerMutation, SellerQuery, SellerSchema, SellerSubscription};
use async_graphql::Schema;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 10;
/// Most field selections in one document (`__typename` and aliases included).
pub const MAX_FIELDS: u64 = 1_000;
/// Most items over all pages of one request (two full pages).
pub const MAX_ROWS: u64 = 1_000;
/// Most values one request may return: fields × page sizes, a message's text weighing
/// [`super::limits::TEXT_WEIGHT`] (a full page of 500 messages with every field fits).
pub const MAX_COST: u64 = 10_000;

/// Both API schemas and their SDL texts.
pub struct Schemas {
    /// The Seller API.
    pub seller: SellerSchema,
    /// The Operator API.
    pub operator: OperatorSchema,
    /// `schema.graphql` of the Seller API.
    pub seller_sdl: String,
    /// `schema.graphql` of the Operator API.
    pub operator_sdl: String,
}

impl Schemas {
    /// Builds both schemas over `context`; `introspection` says whether they answer
    /// `__schema` and `__type`.
    pub fn new(context: ApiContext, introspection: bool) -> Self {
        let document_limits = DocumentLimits { max_depth: MAX_DEPTH, max_fields: MAX_FIELDS, max_rows: MAX_ROWS, max_cost: MAX_COST };
        // The limits wrap the cache: they measure every request's document (page sizes
        // may come from its variables), cached or freshly parsed.
        let mut seller = Schema::build(SellerQuery, SellerMutation, SellerSubscription)
            .data(context.clone())
            .extension(document_limits)
            .extension(DocumentCache::default());
        let mut operator = Schema::build(OperatorQuery, OperatorMutation, OperatorSubscription)
            .data(context)
            .extension(document_limits)
            .extension(DocumentCache::default());
        if !introspection {
            seller = seller.disable_introspection();
            operator = operator.disable_introspection();
        }
        let (seller, operator) = (seller.finish(), operator.finish());
        let seller_sdl = seller.sdl();
        let operator_sdl = operator.sdl();
        Self { seller, operator, seller_sdl, operator_sdl }
    }
}
