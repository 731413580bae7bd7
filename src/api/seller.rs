//! The Seller API (`/graphql/seller`): one seller's view of its single thread.

use super::access::calling_seller;
use super::context::ApiContext;
use super::error::{ApiError, Result};
use super::objects::connection::{message_page, Connection, TotalCount};
use super::objects::event::{ChatMessageCreated, ChatMessagesRead};
use super::objects::message::MessageView;
use super::objects::payload::{ChatMessageCreatePayload, ChatMessageReadPayload};
use super::objects::seller::SellerChatMessage;
use super::objects::event::to_union;
use crate::realtime::FeedEvent;
use super::resolvers::{chat_events, create_message, current_cursor, mark_read};
use crate::domain::ids::{GlobalId, IdKind, MessageId};
use crate::domain::paging::PageArgs;
use crate::domain::Side;
use async_graphql::{Context, InputObject, Interface, Object, Schema, Subscription, Union, ID};
use futures_util::Stream;

/// The Seller API schema.
pub type SellerSchema = Schema<SellerQuery, SellerMutation, SellerSubscription>;

/// Objects a seller can fetch by global ID: only its own messages.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID"))]
pub enum SellerNode {
    /// One of the caller's messages.
    ChatMessage(SellerChatMessage),
}

/// Seller API queries.
pub struct SellerQuery;

#[Object(name = "Query")]
impl SellerQuery {
    /// The caller's thread, newest first. `after` pages back in time.
    async fn chat_messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<SellerChatMessage>> {
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        let seller_id = calling_seller(ctx)?;
        message_page(&ApiContext::of(ctx).chat, seller_id, TotalCount::Thread(seller_id), args).await
    }

    /// Messages from the operator the caller has not read.
    async fn chat_unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let chat = ApiContext::of(ctx).chat.chat(calling_seller(ctx)?).await?;
        Ok(chat.map_or(0, |c| c.unread_for(Side::Seller)))
    }

    /// The event feed's current position: read it before loading history, then pass it
    /// as `chatEvents(after:)` so nothing sent in between is missed.
    async fn chat_event_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        calling_seller(ctx)?;
        current_cursor(ctx).await
    }

    /// One of the caller's messages by global ID; null for anything else.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SellerNode>> {
        let seller_id = calling_seller(ctx)?;
        let id = GlobalId::decode(&id).map_err(|e| ApiError::bad_argument("id", e))?;
        if id.kind != IdKind::ChatMessage {
            return Ok(None);
        }
        let message = ApiContext::of(ctx).chat.message(MessageId::from(id.number)).await?;
        Ok(message.filter(|m| m.seller_id == seller_id).map(|m| SellerNode::ChatMessage(SellerChatMessage::from_record(m))))
    }
}

/// Input of the seller's `chatMessageCreate`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageCreateInput")]
pub struct SellerMessageCreateInput {
    /// The text; surrounding whitespace is trimmed.
    message: String,
    /// Repeat it to retry safely: the first message it created is returned.
    client_mutation_id: Option<String>,
}

/// Input of the seller's `chatMessageRead`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageReadInput")]
pub struct SellerMessageReadInput {
    /// Whose messages to mark read: must be `"Admin"`.
    sent_by: String,
    /// Only messages up to and including this one.
    up_to: Option<ID>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Seller API mutations.
pub struct SellerMutation;

#[Object(name = "Mutation")]
impl SellerMutation {
    /// Sends a message to the operator.
    async fn chat_message_create(&self, ctx: &Context<'_>, input: SellerMessageCreateInput) -> Result<ChatMessageCreatePayload<SellerChatMessage>> {
        create_message(ctx, calling_seller(ctx)?, &input.message, input.client_mutation_id).await
    }

    /// Marks the operator's messages read.
    async fn chat_message_read(&self, ctx: &Context<'_>, input: SellerMessageReadInput) -> Result<ChatMessageReadPayload> {
        mark_read(ctx, calling_seller(ctx)?, &input.sent_by, input.up_to.as_ref(), input.client_mutation_id).await
    }
}

/// An event in the caller's thread.
#[derive(Union)]
#[graphql(name = "ChatEvent")]
pub enum SellerChatEvent {
    /// A message was sent (by either side).
    ChatMessageCreated(ChatMessageCreated<SellerChatMessage>),
    /// The operator read the caller's messages, or the caller read the operator's.
    ChatMessagesRead(ChatMessagesRead),
}

/// Seller API subscriptions.
pub struct SellerSubscription;

#[Subscription(name = "Subscription")]
impl SellerSubscription {
    /// Events of the caller's thread. `after`: the last cursor received, to resume
    /// without a gap (missed events are replayed first).
    async fn chat_events(&self, ctx: &Context<'_>, after: Option<String>) -> Result<impl Stream<Item = Result<SellerChatEvent>>> {
        // The seller's replay never reads the support inbox's events; `to_union` leaves
        // them out here as well.
        let wrap = |event: &FeedEvent| to_union(event, SellerChatEvent::ChatMessageCreated, SellerChatEvent::ChatMessagesRead);
        chat_events(ctx, || calling_seller(ctx).map(Some), after, wrap).await
    }
}
