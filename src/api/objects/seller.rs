//! The Seller API's `ChatMessage`: the shared fields, with `sentBy` always null.

use super::message::{MessageFields, MessageView};
use crate::store::MessageRecord;
use crate::api::error::Result;
use async_graphql::{Context, MergedObject, ID};
use std::sync::Arc;

/// `ChatMessage` on the Seller API: the shared fields, with `sentBy` always null.
#[derive(MergedObject, Clone)]
#[graphql(name = "ChatMessage")]
pub struct SellerChatMessage(MessageFields);

impl SellerChatMessage {
    /// Global ID (for the `Node` interface).
    pub async fn id(&self, ctx: &Context<'_>) -> Result<ID> {
        self.0.id(ctx).await
    }
}

impl MessageView for SellerChatMessage {
    fn from_record(record: MessageRecord) -> Self {
        SellerChatMessage(MessageFields { record: Arc::new(record), reveal_sender: false })
    }
}
