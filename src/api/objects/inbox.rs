//! The support inbox's objects that carry a `Chat` (SPEC §12): the mutations' payloads
//! and the two operator-only events, which read the chat as it is when delivered.

use super::operator::ChatObject;
use super::payload::ValidationError;
use super::support::ChatNote;
use crate::api::context::ApiContext;
use crate::api::error::{ApiError, Result};
use crate::domain::ids::SellerId;
use async_graphql::{Context, Object, SimpleObject};

/// Result of `chatAssign`, `chatStatusUpdate` and `chatMarkUnread`.
#[derive(SimpleObject)]
pub struct ChatPayload {
    /// The chat as it is now.
    pub chat: Option<ChatObject>,
    /// What was wrong with the input; nothing changed when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

/// Result of `chatNoteCreate`.
#[derive(SimpleObject)]
pub struct ChatNoteCreatePayload {
    /// The new note.
    pub note: Option<ChatNote>,
    /// Its chat.
    pub chat: Option<ChatObject>,
    /// What was wrong with the input; nothing was stored when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

/// The chat as it is when an operator-only event is delivered.
async fn chat_now(ctx: &Context<'_>, seller_id: SellerId) -> Result<ChatObject> {
    let chat = ApiContext::of(ctx).chat.chat(seller_id).await?;
    chat.map(ChatObject).ok_or_else(|| ApiError::internal("event of a chat that does not exist"))
}

/// A chat's assignee, status or mark-unread flag changed (operator subscriptions only).
pub struct ChatUpdated {
    /// Pass as `after` to resume after this event.
    pub cursor: String,
    /// The chat.
    pub seller_id: SellerId,
}

/// A chat's assignee, status or mark-unread flag changed (operator subscriptions only).
#[Object]
impl ChatUpdated {
    /// Pass as `after` to resume after this event.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The chat as it is now.
    async fn chat(&self, ctx: &Context<'_>) -> Result<ChatObject> {
        chat_now(ctx, self.seller_id).await
    }
}

/// A note was added to a chat (operator subscriptions only).
pub struct ChatNoteCreated {
    /// Pass as `after` to resume after this event.
    pub cursor: String,
    /// The note.
    pub note: ChatNote,
    /// Its chat.
    pub seller_id: SellerId,
}

/// A note was added to a chat (operator subscriptions only).
#[Object]
impl ChatNoteCreated {
    /// Pass as `after` to resume after this event.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The new note.
    async fn note(&self) -> &ChatNote {
        &self.note
    }

    /// The chat as it is now.
    async fn chat(&self, ctx: &Context<'_>) -> Result<ChatObject> {
        chat_now(ctx, self.seller_id).await
    }
}
