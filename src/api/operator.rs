//! The Operator API (`/graphql/operator`): every seller's chat, one operator persona.

use super::access::{ensure_admin, ensure_may_chat, ensure_operator, ensure_settings_permission};
use super::objects::event::to_union;
use super::objects::inbox::{ChatNoteCreatePayload, ChatNoteCreated, ChatPayload, ChatUpdated};
use super::objects::support::{ChatNote, ChatSortValue, ChatStatusValue, OperatorUser, SavedReply, SavedReplyDeletePayload, SavedReplyPayload, SupportStats};
use crate::domain::cursor::WaitCursor;
use crate::domain::ids::{OperatorUserId, SavedReplyId};
use crate::domain::support::{ChatSort, ChatStatus, Period};
use crate::domain::time::UnixMillis;
use crate::domain::Principal;
use crate::realtime::FeedEvent;
use crate::store::{ChatFilter, ChatListCursor, EventKind};
use super::context::ApiContext;
use super::error::{ApiError, Result};
use super::objects::connection::{message_page, Connection, TotalCount};
use super::objects::event::{ChatMessageCreated, ChatMessagesRead};
use super::objects::message::MessageView;
use super::objects::operator::{ChatObject, ChatSettings, OperatorChatMessage, SellerObject, WebhookEndpoint};
use super::objects::payload::{into_payload, ChatMessageCreatePayload, ChatMessageReadPayload, ValidationError};
use super::objects::search::MessageSearchConnection;
use super::objects::provisioning::{
    ApiKeyCreatePayload, ApiKeyObject, ApiKeyRevokeInput, ApiKeyRevokePayload, SellerApiKeyCreateInput, SellerUpsertInput, SellerUpsertPayload,
};
use super::resolvers::{chat_events, create_message, current_cursor, mark_read};
use crate::domain::cursor::{ChatCursor, SellerCursor};
use crate::domain::ids::{GlobalId, IdKind, KeyId, MessageId, SellerId, WebhookId};
use crate::domain::keys::KeyOwner;
use crate::domain::paging::{PageArgs, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::domain::search::{SearchQuery, DEFAULT_SEARCH_PAGE, MAX_SEARCH_PAGE};
use crate::domain::sign_in::embed_url;
use crate::service::accounts::sign_in::SignInRequest;
use crate::service::provisioning::SellerRef;
use crate::service::ServiceError;
use crate::store::{ChatListQuery, ChatRecord, KeyListQuery, SellerListQuery, SellerRecord};
use async_graphql::{Context, InputObject, Interface, Object, Schema, SimpleObject, Subscription, Union, ID};
use futures_util::Stream;

/// The Operator API schema.
pub type OperatorSchema = Schema<OperatorQuery, OperatorMutation, OperatorSubscription>;

/// Decodes a `sellerId` argument of a query.
fn seller_argument(raw: &ID) -> Result<SellerId> {
    GlobalId::decode_as::<SellerId>(raw).map_err(|e| ApiError::bad_argument("sellerId", e))
}

/// Objects the operator can fetch by global ID.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID"))]
pub enum OperatorNode {
    /// A message in any thread.
    ChatMessage(OperatorChatMessage),
    /// A seller's chat.
    Chat(ChatObject),
    /// A seller.
    Seller(SellerObject),
    /// An operator user who may chat.
    OperatorUser(OperatorUser),
    /// An internal note.
    ChatNote(ChatNote),
    /// A saved reply.
    SavedReply(SavedReply),
}

/// Operator API queries.
pub struct OperatorQuery;

#[Object(name = "Query")]
impl OperatorQuery {
    /// Chats with at least one message that pass every filter given, most recently
    /// active first or (`sort: WAITING_LONGEST`) oldest `awaitingReplySince` first, which
    /// leaves out chats not waiting for a reply. `assignedToMe` needs a portal user.
    #[allow(clippy::too_many_arguments)]
    async fn chats(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
        search: Option<String>,
        status: Option<ChatStatusValue>,
        assigned_to_me: Option<bool>,
        unassigned: Option<bool>,
        awaiting_reply: Option<bool>,
        sort: Option<ChatSortValue>,
    ) -> Result<Connection<ChatObject>> {
        ensure_operator(ctx)?;
        let sort = ChatSort::from(sort.unwrap_or_default());
        let args = PageArgs { first, after: after.as_deref(), ..Default::default() };
        let page = match sort {
            ChatSort::RecentActivity => args.parse(|raw| ChatCursor::decode(raw).map(ChatListCursor::Recent)),
            ChatSort::WaitingLongest => args.parse(|raw| WaitCursor::decode(raw).map(ChatListCursor::Waiting)),
        }
        .map_err(ApiError::bad_input)?;
        let assignee = match (assigned_to_me.unwrap_or(false), unassigned.unwrap_or(false)) {
            (true, true) => return Err(ApiError::bad_input("give at most one of `assignedToMe` and `unassigned`")),
            (true, false) => match ctx.data_unchecked::<Principal>() {
                Principal::Operator { user_id: Some(user_id), .. } => Some(Some(*user_id)),
                _ => return Err(ApiError::bad_argument("assignedToMe", "needs a signed-in operator user; an API key has no assigned chats")),
            },
            (false, true) => Some(None),
            (false, false) => None,
        };
        let filter = ChatFilter {
            unread_only: unread_only.unwrap_or(false),
            search,
            status: status.map(ChatStatus::from),
            assignee,
            awaiting_reply: awaiting_reply.unwrap_or(false),
        };
        let query = ChatListQuery { limit: page.limit, after: page.cursor, filter: filter.clone(), sort };
        let found = ApiContext::of(ctx).chat.chats(&query).await?;
        let cursor_of = move |chat: &ChatRecord| match sort {
            ChatSort::RecentActivity => ChatCursor { last_message_id: chat.last_message.as_ref().map_or(MessageId::from(0), |m| m.id) }.encode(),
            ChatSort::WaitingLongest => {
                WaitCursor { awaiting_since: chat.support.awaiting_since.map_or(0, UnixMillis::get), seller_id: chat.seller.id }.encode()
            }
        };
        Ok(Connection::new(TotalCount::Chats(filter, sort), found.items, cursor_of, ChatObject).with_flags(found.has_more, page.cursor.is_some()))
    }

    /// Operator users a chat may be assigned to (every role but Viewer), by name.
    async fn operator_users(&self, ctx: &Context<'_>) -> Result<Vec<OperatorUser>> {
        ensure_support(ctx)?;
        let users = ApiContext::of(ctx).support.operator_users().await?;
        Ok(users.into_iter().map(OperatorUser::from).collect())
    }

    /// Saved replies, by title.
    async fn saved_replies(&self, ctx: &Context<'_>) -> Result<Vec<SavedReply>> {
        ensure_support(ctx)?;
        let replies = ApiContext::of(ctx).support.saved_replies().await?;
        Ok(replies.into_iter().map(SavedReply::from).collect())
    }

    /// The support team's figures for a period (RFC 3339 times or dates `YYYY-MM-DD`,
    /// a date `to` meaning the end of that day; at most 366 days).
    async fn support_stats(&self, ctx: &Context<'_>, from: String, to: String) -> Result<SupportStats> {
        ensure_support(ctx)?;
        let period = Period::parse(&from, &to).map_err(ApiError::bad_input)?;
        Ok(ApiContext::of(ctx).support.stats(period).await?.into())
    }

    /// One seller's chat; null for an unknown seller.
    async fn chat(&self, ctx: &Context<'_>, seller_id: ID) -> Result<Option<ChatObject>> {
        ensure_operator(ctx)?;
        let chat = ApiContext::of(ctx).chat.chat(seller_argument(&seller_id)?).await?;
        Ok(chat.map(ChatObject))
    }

    /// One seller's thread, newest first.
    async fn chat_messages(
        &self,
        ctx: &Context<'_>,
        seller_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<OperatorChatMessage>> {
        ensure_operator(ctx)?;
        let seller_id = seller_argument(&seller_id)?;
        let chat_service = &ApiContext::of(ctx).chat;
        let Some(chat) = chat_service.chat(seller_id).await? else {
            return Err(ApiError::bad_argument("sellerId", "does not exist"));
        };
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        message_page(chat_service, seller_id, TotalCount::Known(chat.message_count), args).await
    }

    /// All sellers by business name.
    async fn sellers(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>, search: Option<String>) -> Result<Connection<SellerObject>> {
        ensure_operator(ctx)?;
        let page = PageArgs { first, after: after.as_deref(), ..Default::default() }.parse(SellerCursor::decode).map_err(ApiError::bad_input)?;
        let has_previous = page.cursor.is_some();
        let query = SellerListQuery { limit: page.limit, after: page.cursor, search: search.clone() };
        let found = ApiContext::of(ctx).chat.sellers(&query).await?;
        let cursor_of = |s: &SellerRecord| SellerCursor { name_key: s.business_name.to_lowercase(), seller_id: s.id }.encode();
        Ok(Connection::new(TotalCount::Sellers { search }, found.items, cursor_of, SellerObject).with_flags(found.has_more, has_previous))
    }

    /// Seller messages the operator has not read, over all chats.
    async fn chat_unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        ensure_operator(ctx)?;
        Ok(ApiContext::of(ctx).chat.operator_unread_total().await?)
    }

    /// Full-text search over the messages of every chat (or of `sellerId`'s), newest
    /// first: words in any order, `"exact phrase"`, `prefix*`; case- and
    /// accent-insensitive. `first` default 20, at most 100; `after` is a hit's cursor.
    async fn message_search(
        &self,
        ctx: &Context<'_>,
        query: String,
        seller_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MessageSearchConnection> {
        ensure_operator(ctx)?;
        ensure_may_chat(ctx, "search messages")?;
        let query = SearchQuery::parse(&query).map_err(|e| ApiError::bad_argument("query", e))?;
        let seller_id = seller_id.as_ref().map(seller_argument).transpose()?;
        let first = first.map_or(DEFAULT_SEARCH_PAGE, i64::from);
        if !(0..=MAX_SEARCH_PAGE).contains(&first) {
            return Err(ApiError::bad_argument("first", format!("must be between 0 and {MAX_SEARCH_PAGE}")));
        }
        let after = after
            .map(|raw| GlobalId::decode_as::<MessageId>(&raw))
            .transpose()
            .map_err(|_| ApiError::bad_argument("after", "is not a valid cursor"))?;
        let page = ApiContext::of(ctx).chat.search_messages(query, seller_id, first, after).await?;
        Ok(MessageSearchConnection::new(page, after.is_some()))
    }

    /// The event feed's current position: read it before loading chats, then pass it as
    /// `chatEvents(after:)` so nothing sent in between is missed.
    async fn chat_event_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        ensure_operator(ctx)?;
        current_cursor(ctx).await
    }

    /// Registered webhook endpoints (Full Admins and operator API keys).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        ensure_settings_permission(ctx)?;
        let endpoints = ApiContext::of(ctx).webhooks.endpoints().await?;
        Ok(endpoints.into_iter().map(WebhookEndpoint::from).collect())
    }

    /// The operator's settings.
    async fn chat_settings(&self, ctx: &Context<'_>) -> Result<ChatSettings> {
        ensure_operator(ctx)?;
        let chat_enabled = ApiContext::of(ctx).chat.chat_enabled().await?;
        Ok(ChatSettings { chat_enabled })
    }

    /// One seller, by exactly one of its global `id` or the marketplace's `externalId`;
    /// null when there is none (admin credentials only).
    async fn seller(&self, ctx: &Context<'_>, id: Option<ID>, external_id: Option<String>) -> Result<Option<SellerObject>> {
        ensure_admin(ctx)?;
        let seller = match (id, external_id) {
            (Some(id), None) => SellerRef::Id(GlobalId::decode_as::<SellerId>(&id).map_err(|e| ApiError::bad_argument("id", e))?),
            (None, Some(external_id)) => SellerRef::ExternalId(external_id),
            _ => return Err(ApiError::bad_input("give exactly one of `id` and `externalId`")),
        };
        Ok(ApiContext::of(ctx).provisioning.seller(&seller).await?.map(SellerObject))
    }

    /// API keys, oldest first, never their secrets (admin credentials only): the keys of
    /// the seller `sellerId`, or every key (operator and sellers) without it. At most
    /// `first` (default 50, at most 500) after the key `after`; page on with the last
    /// key's `id` until a page comes back shorter than `first`.
    async fn api_keys(&self, ctx: &Context<'_>, seller_id: Option<ID>, first: Option<i32>, after: Option<ID>) -> Result<Vec<ApiKeyObject>> {
        ensure_admin(ctx)?;
        let limit = i64::from(first.unwrap_or(DEFAULT_PAGE_SIZE as i32));
        if !(0..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::bad_argument("first", format!("must be between 0 and {MAX_PAGE_SIZE}")));
        }
        let seller_id = seller_id.as_ref().map(seller_argument).transpose()?;
        let after = after.map(|id| GlobalId::decode_as::<KeyId>(&id)).transpose().map_err(|e| ApiError::bad_argument("after", e))?;
        let query = KeyListQuery { limit, after, seller_id };
        let page = ApiContext::of(ctx).provisioning.api_keys(&query).await?;
        Ok(page.items.into_iter().map(ApiKeyObject::from).collect())
    }

    /// Any message, chat or seller by global ID.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OperatorNode>> {
        ensure_operator(ctx)?;
        let id = GlobalId::decode(&id).map_err(|e| ApiError::bad_argument("id", e))?;
        let chat = &ApiContext::of(ctx).chat;
        let node = match id.kind {
            IdKind::ChatMessage => chat.message(MessageId::from(id.number)).await?.map(|m| OperatorNode::ChatMessage(OperatorChatMessage::from_record(m))),
            IdKind::Chat => chat.chat(SellerId::from(id.number)).await?.map(|c| OperatorNode::Chat(ChatObject(c))),
            IdKind::Seller => chat.seller(SellerId::from(id.number)).await?.map(|s| OperatorNode::Seller(SellerObject(s))),
            IdKind::OperatorUser => ApiContext::of(ctx).support.operator_user(id.number).await?.map(|u| OperatorNode::OperatorUser(u.into())),
            IdKind::ApiKey | IdKind::WebhookEndpoint | IdKind::SellerUser | IdKind::ChatNote | IdKind::SavedReply => None,
        };
        Ok(node)
    }
}

/// Input of the operator's `chatMessageCreate`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageCreateInput")]
pub struct OperatorMessageCreateInput {
    /// The seller whose thread to write into.
    seller_id: ID,
    /// The text; surrounding whitespace is trimmed.
    message: String,
    /// Repeat it to retry safely: the first message it created is returned.
    client_mutation_id: Option<String>,
}

/// Input of the operator's `chatMessageRead`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageReadInput")]
pub struct OperatorMessageReadInput {
    /// The seller whose thread to mark.
    seller_id: ID,
    /// Whose messages to mark read: must be `"Seller"`.
    sent_by: String,
    /// Only messages up to and including this one.
    up_to: Option<ID>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `webhookEndpointCreate`.
#[derive(InputObject)]
pub struct WebhookEndpointCreateInput {
    /// An http(s) URL.
    url: String,
    /// `chat_message.created`, `chat_message.read` (default: both).
    events: Option<Vec<String>>,
}

/// Result of `webhookEndpointCreate`.
#[derive(SimpleObject)]
pub struct WebhookEndpointCreatePayload {
    /// The new endpoint.
    webhook_endpoint: Option<WebhookEndpoint>,
    /// Its signing secret, shown only in this answer.
    secret: Option<String>,
    /// What was wrong with the input.
    errors: Option<Vec<ValidationError>>,
}

/// Input of `webhookEndpointDelete`.
#[derive(InputObject)]
pub struct WebhookEndpointDeleteInput {
    /// The endpoint's ID.
    id: ID,
}

/// Result of `webhookEndpointDelete`.
#[derive(SimpleObject)]
pub struct WebhookEndpointDeletePayload {
    /// Whether an endpoint was removed.
    removed: bool,
    /// What was wrong with the input.
    errors: Option<Vec<ValidationError>>,
}

/// Input of `chatSettingsUpdate`.
#[derive(InputObject)]
pub struct ChatSettingsUpdateInput {
    /// "Enable in-app chat".
    chat_enabled: bool,
}

/// The marketplace's seller user to sign in to the embedded chat.
#[derive(InputObject)]
pub struct SellerSignInUserInput {
    /// The marketplace's ID of the user: with the seller, it names one marketchat user,
    /// created on first sign-in.
    external_id: String,
    /// Display name (refreshed on every sign-in).
    name: String,
    /// Contact address (refreshed on every sign-in); not a login.
    email: Option<String>,
}

/// Input of `sellerSignInCreate`: exactly one of `sellerId` and `externalId`.
#[derive(InputObject)]
pub struct SellerSignInCreateInput {
    /// The seller's ID.
    seller_id: Option<ID>,
    /// The seller's `externalId` (the marketplace's own seller ID).
    external_id: Option<String>,
    /// Who signs in.
    user: SellerSignInUserInput,
    /// How long the token may wait to be redeemed: 1 to 3600 seconds, default 300.
    ttl_seconds: Option<i32>,
}

/// Result of `sellerSignInCreate`.
#[derive(SimpleObject)]
pub struct SellerSignInCreatePayload {
    /// The single-use sign-in token, for `<marketchat-seller-chat token="…">`; shown only here.
    token: Option<String>,
    /// The embed page with the token in its fragment (`/embed/seller#token=…`), for an
    /// `<iframe src>`: absolute when the server knows its public URL.
    url: Option<String>,
    /// When the token can no longer be redeemed.
    expires_at: Option<String>,
    /// What was wrong with the input; no token was made when this is non-empty.
    errors: Option<Vec<ValidationError>>,
}

/// Operator API mutations.
pub struct OperatorMutation;

#[Object(name = "Mutation")]
impl OperatorMutation {
    /// Registers a webhook endpoint (Full Admins and operator API keys).
    async fn webhook_endpoint_create(&self, ctx: &Context<'_>, input: WebhookEndpointCreateInput) -> Result<WebhookEndpointCreatePayload> {
        ensure_settings_permission(ctx)?;
        let events = input.events.map(|events| events.join(","));
        let result = ApiContext::of(ctx).webhooks.register(&input.url, events.as_deref()).await;
        let (registered, errors) = into_payload(result)?;
        let (webhook_endpoint, secret) = registered.map(|(endpoint, secret)| (endpoint.into(), secret)).unzip();
        Ok(WebhookEndpointCreatePayload { webhook_endpoint, secret, errors })
    }

    /// Removes a webhook endpoint (Full Admins and operator API keys).
    async fn webhook_endpoint_delete(&self, ctx: &Context<'_>, input: WebhookEndpointDeleteInput) -> Result<WebhookEndpointDeletePayload> {
        ensure_settings_permission(ctx)?;
        let id = match GlobalId::decode_as::<WebhookId>(&input.id) {
            Ok(id) => id,
            Err(error) => return Ok(WebhookEndpointDeletePayload { removed: false, errors: Some(vec![ValidationError::new("id", error.to_string())]) }),
        };
        let removed = ApiContext::of(ctx).webhooks.remove(id).await?;
        Ok(WebhookEndpointDeletePayload { removed, errors: None })
    }

    /// Mints a single-use sign-in token for the embedded seller chat, for the seller user
    /// who is logged in to the marketplace's own portal (operator admin keys and Full
    /// Admin users only).
    async fn seller_sign_in_create(&self, ctx: &Context<'_>, input: SellerSignInCreateInput) -> Result<SellerSignInCreatePayload> {
        ensure_admin(ctx)?;
        let context = ApiContext::of(ctx);
        let request = SignInRequest {
            seller_id: input.seller_id.as_ref().map(|id| id.as_str()),
            seller_external_id: input.external_id.as_deref(),
            user_external_id: &input.user.external_id,
            user_name: &input.user.name,
            user_email: input.user.email.as_deref(),
            ttl_seconds: input.ttl_seconds,
        };
        let (issued, errors) = into_payload(context.accounts.create_sign_in(&request).await)?;
        Ok(SellerSignInCreatePayload {
            url: issued.as_ref().map(|issued| embed_url(context.public_url.as_deref(), &issued.token)),
            expires_at: issued.as_ref().map(|issued| issued.expires_at.to_rfc3339()),
            token: issued.map(|issued| issued.token),
            errors,
        })
    }

    /// Changes settings (operator API keys and Full Admin users only).
    async fn chat_settings_update(&self, ctx: &Context<'_>, input: ChatSettingsUpdateInput) -> Result<ChatSettings> {
        ensure_settings_permission(ctx)?;
        ApiContext::of(ctx).chat.set_chat_enabled(input.chat_enabled).await?;
        Ok(ChatSettings { chat_enabled: input.chat_enabled })
    }

    /// Creates the seller with this `externalId` (and its empty chat) or renames the one
    /// that has it, so a nightly sync is idempotent (admin credentials only).
    async fn seller_upsert(&self, ctx: &Context<'_>, input: SellerUpsertInput) -> Result<SellerUpsertPayload> {
        ensure_admin(ctx)?;
        let result = ApiContext::of(ctx).provisioning.upsert_seller(&input.external_id, &input.business_name).await;
        let (upserted, errors) = into_payload(result)?;
        let created = upserted.as_ref().is_some_and(|u| u.created);
        let seller = upserted.map(|u| SellerObject(u.seller));
        Ok(SellerUpsertPayload { seller, created, errors, client_mutation_id: input.client_mutation_id })
    }

    /// Creates an API key for a seller; its `secret` is shown only in this answer (admin
    /// credentials only).
    async fn seller_api_key_create(&self, ctx: &Context<'_>, input: SellerApiKeyCreateInput) -> Result<ApiKeyCreatePayload> {
        ensure_admin(ctx)?;
        let result = match GlobalId::decode_as::<SellerId>(&input.seller_id) {
            Ok(seller_id) => ApiContext::of(ctx).provisioning.create_api_key(KeyOwner::Seller(seller_id), input.label.as_deref()).await,
            Err(error) => Err(ServiceError::invalid("sellerId", error.to_string())),
        };
        let (created, errors) = into_payload(result)?;
        let (api_key, secret) = created.map(|c| (ApiKeyObject::from(c.key), c.secret)).unzip();
        Ok(ApiKeyCreatePayload { api_key, secret, errors })
    }

    /// Revokes an API key at once (admin credentials only).
    async fn api_key_revoke(&self, ctx: &Context<'_>, input: ApiKeyRevokeInput) -> Result<ApiKeyRevokePayload> {
        ensure_admin(ctx)?;
        let result = match GlobalId::decode_as::<KeyId>(&input.id) {
            Ok(key_id) => ApiContext::of(ctx).provisioning.revoke_api_key(key_id).await,
            Err(error) => Err(ServiceError::invalid("id", error.to_string())),
        };
        let (revoked, errors) = into_payload(result)?;
        Ok(ApiKeyRevokePayload { api_key: revoked.map(ApiKeyObject::from), errors })
    }

    /// Sends a message into a seller's thread.
    async fn chat_message_create(&self, ctx: &Context<'_>, input: OperatorMessageCreateInput) -> Result<ChatMessageCreatePayload<OperatorChatMessage>> {
        ensure_operator(ctx)?;
        match GlobalId::decode_as::<SellerId>(&input.seller_id) {
            Ok(seller_id) => create_message(ctx, seller_id, &input.message, input.client_mutation_id).await,
            Err(error) => Ok(ChatMessageCreatePayload::invalid("sellerId", error, input.client_mutation_id)),
        }
    }

    /// Assigns a chat to an operator user who may chat, or (`assigneeId: null`) unassigns it.
    async fn chat_assign(&self, ctx: &Context<'_>, input: ChatAssignInput) -> Result<ChatPayload> {
        ensure_support(ctx)?;
        let result = match (decode_seller(&input.seller_id), input.assignee_id.as_ref().map(|id| GlobalId::decode_as::<OperatorUserId>(id)).transpose()) {
            (Err(error), _) => Err(error),
            (_, Err(error)) => Err(ServiceError::invalid("assigneeId", error.to_string())),
            (Ok(seller_id), Ok(assignee)) => ApiContext::of(ctx).support.assign(seller_id, assignee.map(OperatorUserId::get)).await,
        };
        let (chat, errors) = into_payload(result)?;
        Ok(ChatPayload { chat: chat.map(ChatObject), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Resolves or reopens a chat.
    async fn chat_status_update(&self, ctx: &Context<'_>, input: ChatStatusUpdateInput) -> Result<ChatPayload> {
        let principal = ensure_support(ctx)?;
        let result = match decode_seller(&input.seller_id) {
            Ok(seller_id) => ApiContext::of(ctx).support.set_status(principal, seller_id, input.status.into()).await,
            Err(error) => Err(error),
        };
        let (chat, errors) = into_payload(result)?;
        Ok(ChatPayload { chat: chat.map(ChatObject), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Adds an internal note to a chat (never shown to the seller).
    async fn chat_note_create(&self, ctx: &Context<'_>, input: ChatNoteCreateInput) -> Result<ChatNoteCreatePayload> {
        let principal = ensure_support(ctx)?;
        let result = match decode_seller(&input.seller_id) {
            Ok(seller_id) => ApiContext::of(ctx).support.create_note(principal, seller_id, &input.note).await,
            Err(error) => Err(error),
        };
        let (created, errors) = into_payload(result)?;
        let (note, chat) = created.map(|(note, chat)| (ChatNote::from(note), ChatObject(chat))).unzip();
        Ok(ChatNoteCreatePayload { note, chat, errors, client_mutation_id: input.client_mutation_id })
    }

    /// Marks a chat unread for the operator side only: no message's `readAt` changes
    /// (the seller's ticks stay); marking the chat read clears it.
    async fn chat_mark_unread(&self, ctx: &Context<'_>, input: ChatMarkUnreadInput) -> Result<ChatPayload> {
        ensure_support(ctx)?;
        let result = match decode_seller(&input.seller_id) {
            Ok(seller_id) => ApiContext::of(ctx).support.mark_unread(seller_id).await,
            Err(error) => Err(error),
        };
        let (chat, errors) = into_payload(result)?;
        Ok(ChatPayload { chat: chat.map(ChatObject), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Stores a saved reply.
    async fn saved_reply_create(&self, ctx: &Context<'_>, input: SavedReplyCreateInput) -> Result<SavedReplyPayload> {
        ensure_support(ctx)?;
        let (reply, errors) = into_payload(ApiContext::of(ctx).support.create_saved_reply(&input.title, &input.body).await)?;
        Ok(SavedReplyPayload { saved_reply: reply.map(SavedReply::from), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Changes a saved reply's title and/or body.
    async fn saved_reply_update(&self, ctx: &Context<'_>, input: SavedReplyUpdateInput) -> Result<SavedReplyPayload> {
        ensure_support(ctx)?;
        let result = match GlobalId::decode_as::<SavedReplyId>(&input.id) {
            Ok(id) => ApiContext::of(ctx).support.update_saved_reply(id.get(), input.title.as_deref(), input.body.as_deref()).await,
            Err(error) => Err(ServiceError::invalid("id", error.to_string())),
        };
        let (reply, errors) = into_payload(result)?;
        Ok(SavedReplyPayload { saved_reply: reply.map(SavedReply::from), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Removes a saved reply.
    async fn saved_reply_delete(&self, ctx: &Context<'_>, input: SavedReplyDeleteInput) -> Result<SavedReplyDeletePayload> {
        ensure_support(ctx)?;
        let result = match GlobalId::decode_as::<SavedReplyId>(&input.id) {
            Ok(id) => ApiContext::of(ctx).support.delete_saved_reply(id.get()).await,
            Err(error) => Err(ServiceError::invalid("id", error.to_string())),
        };
        let (deleted, errors) = into_payload(result)?;
        Ok(SavedReplyDeletePayload { deleted_id: deleted.map(|()| input.id.clone()), errors, client_mutation_id: input.client_mutation_id })
    }

    /// Marks a seller's messages read.
    async fn chat_message_read(&self, ctx: &Context<'_>, input: OperatorMessageReadInput) -> Result<ChatMessageReadPayload> {
        ensure_operator(ctx)?;
        match GlobalId::decode_as::<SellerId>(&input.seller_id) {
            Ok(seller_id) => mark_read(ctx, seller_id, &input.sent_by, input.up_to.as_ref(), input.client_mutation_id).await,
            Err(error) => Ok(ChatMessageReadPayload::invalid("sellerId", error, input.client_mutation_id)),
        }
    }
}

/// An event in any chat.
#[derive(Union)]
#[graphql(name = "ChatEvent")]
#[allow(clippy::enum_variant_names, reason = "the variants are the contract's GraphQL type names")]
pub enum OperatorChatEvent {
    /// A message was sent (by either side).
    ChatMessageCreated(ChatMessageCreated<OperatorChatMessage>),
    /// A seller read the operator's messages, or the operator read a seller's.
    ChatMessagesRead(ChatMessagesRead),
    /// A chat's assignee, status or mark-unread flag changed.
    ChatUpdated(ChatUpdated),
    /// A note was added to a chat.
    ChatNoteCreated(ChatNoteCreated),
}

/// Wraps any feed event in the operator's `ChatEvent` union.
fn operator_event(event: &FeedEvent) -> Option<OperatorChatEvent> {
    let cursor = event.position.encode();
    match &event.kind {
        EventKind::ChatUpdated => Some(OperatorChatEvent::ChatUpdated(ChatUpdated { cursor, seller_id: event.seller_id })),
        EventKind::NoteCreated(note) => {
            Some(OperatorChatEvent::ChatNoteCreated(ChatNoteCreated { cursor, note: ChatNote::from(note.clone()), seller_id: event.seller_id }))
        }
        _ => to_union(event, OperatorChatEvent::ChatMessageCreated, OperatorChatEvent::ChatMessagesRead),
    }
}

/// Decodes a `sellerId` mutation input.
fn decode_seller(raw: &ID) -> Result<SellerId, ServiceError> {
    GlobalId::decode_as::<SellerId>(raw).map_err(|e| ServiceError::invalid("sellerId", e.to_string()))
}

/// Refuses credentials that may not use the support inbox (Viewers: FORBIDDEN).
fn ensure_support<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    ensure_operator(ctx)?;
    ensure_may_chat(ctx, "use the support inbox")
}

/// Input of `chatAssign`.
#[derive(InputObject)]
pub struct ChatAssignInput {
    /// The chat's seller.
    seller_id: ID,
    /// An operator user who may chat; null unassigns.
    assignee_id: Option<ID>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `chatStatusUpdate`.
#[derive(InputObject)]
pub struct ChatStatusUpdateInput {
    /// The chat's seller.
    seller_id: ID,
    /// The new status.
    status: ChatStatusValue,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `chatNoteCreate`.
#[derive(InputObject)]
pub struct ChatNoteCreateInput {
    /// The chat's seller.
    seller_id: ID,
    /// 1 to 2000 characters after trimming (the message rules).
    note: String,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `chatMarkUnread`.
#[derive(InputObject)]
pub struct ChatMarkUnreadInput {
    /// The chat's seller.
    seller_id: ID,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `savedReplyCreate`.
#[derive(InputObject)]
pub struct SavedReplyCreateInput {
    /// 1 to 100 characters after trimming.
    title: String,
    /// 1 to 2000 characters after trimming (the message rules).
    body: String,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `savedReplyUpdate`.
#[derive(InputObject)]
pub struct SavedReplyUpdateInput {
    /// The saved reply.
    id: ID,
    /// A new title, if given.
    title: Option<String>,
    /// A new body, if given.
    body: Option<String>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Input of `savedReplyDelete`.
#[derive(InputObject)]
pub struct SavedReplyDeleteInput {
    /// The saved reply.
    id: ID,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Operator API subscriptions.
pub struct OperatorSubscription;

#[Subscription(name = "Subscription")]
impl OperatorSubscription {
    /// Events of every chat. `after`: the last cursor received, to resume without a
    /// gap (missed events are replayed first).
    async fn chat_events(&self, ctx: &Context<'_>, after: Option<String>) -> Result<impl Stream<Item = Result<OperatorChatEvent>>> {
        chat_events(ctx, || ensure_operator(ctx).map(|()| None), after, operator_event).await
    }
}
