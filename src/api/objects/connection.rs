//! Relay connections (`totalCount`, `pageInfo`, `nodes`, `edges`) over any item type,
//! named after it (`ChatMessageConnection`, `ChatEdge`, …), and the thread pages both
//! APIs serve.

use crate::domain::ids::SellerId;
use super::message::MessageView;
use crate::api::context::ApiContext;
use crate::api::error::{ApiError, Result};
use crate::domain::cursor::MessageCursor;
use crate::domain::paging::PageArgs;
use crate::service::ChatService;
use crate::store::{ChatFilter, ChatSort, MessageRecord};
use async_graphql::{Context, Object, OutputType, SimpleObject, TypeName};
use std::borrow::Cow;

/// Relay page information.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow the last one.
    pub has_next_page: bool,
    /// Items precede the first one.
    pub has_previous_page: bool,
    /// Cursor of the first item.
    pub start_cursor: Option<String>,
    /// Cursor of the last item.
    pub end_cursor: Option<String>,
}

/// One edge of a connection: a node and its cursor.
#[derive(SimpleObject, Clone)]
#[graphql(name_type)]
pub struct Edge<N: OutputType> {
    /// Opaque, stable position of the node.
    pub cursor: String,
    /// The item.
    pub node: N,
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", N::type_name()).into()
    }
}

/// How a connection learns its `totalCount`: known already, or counted only when asked.
#[derive(Clone, Debug)]
pub enum TotalCount {
    /// Maintained on a row (a thread's message count) and already read.
    Known(i64),
    /// A thread's message count, read from its chat row only when asked for.
    Thread(SellerId),
    /// Chats matching the list's filters, in its sort (`WAITING_LONGEST` counts only
    /// chats waiting for a reply).
    Chats(ChatFilter, ChatSort),
    /// Sellers matching `search`.
    Sellers {
        /// `search` as given.
        search: Option<String>,
    },
}

/// A Relay connection: `totalCount`, `pageInfo`, `nodes` and `edges`.
pub struct Connection<N: OutputType> {
    /// How to find the total.
    pub total: TotalCount,
    /// Page flags and cursors.
    pub page_info: PageInfo,
    /// The items with their cursors.
    pub edges: Vec<Edge<N>>,
}

impl<N: OutputType> TypeName for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", N::type_name()).into()
    }
}

impl<N: OutputType> Connection<N> {
    /// A connection over `items`, each paired with its cursor by `cursor_of`.
    pub fn new<T>(total: TotalCount, items: Vec<T>, cursor_of: impl Fn(&T) -> String, node_of: impl Fn(T) -> N) -> Self {
        let edges: Vec<Edge<N>> = items.into_iter().map(|item| Edge { cursor: cursor_of(&item), node: node_of(item) }).collect();
        let page_info = PageInfo {
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
            ..PageInfo::default()
        };
        Self { total, page_info, edges }
    }

    /// Sets the page flags.
    pub fn with_flags(mut self, has_next_page: bool, has_previous_page: bool) -> Self {
        self.page_info.has_next_page = has_next_page;
        self.page_info.has_previous_page = has_previous_page;
        self
    }
}

#[Object(name_type)]
impl<N: OutputType + Clone> Connection<N>
where
    Edge<N>: OutputType,
{
    /// Items in the whole list (not just this page).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let chat = &ApiContext::of(ctx).chat;
        let count = match &self.total {
            TotalCount::Known(count) => *count,
            TotalCount::Thread(seller_id) => chat.message_count(*seller_id).await?,
            TotalCount::Chats(filter, sort) => chat.count_chats(filter, *sort).await?,
            TotalCount::Sellers { search } => chat.count_sellers(search.as_deref()).await?,
        };
        Ok(count)
    }

    /// Where this page lies in the list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// The items of this page.
    async fn nodes(&self) -> Vec<N> {
        self.edges.iter().map(|edge| edge.node.clone()).collect()
    }

    /// The items with their cursors.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }
}

/// Reads one page of `seller_id`'s thread for the Relay arguments in `args`; `total`
/// says where `totalCount` comes from (a chat row the caller already has, or read lazily).
pub async fn message_page<M: MessageView>(chat: &ChatService, seller_id: SellerId, total: TotalCount, args: PageArgs<'_>) -> Result<Connection<M>> {
    let page = args
        .parse(|raw| MessageCursor::decode_for(raw, seller_id).map(|cursor| cursor.seq))
        .map_err(ApiError::bad_input)?;
    let found = chat.thread_page(seller_id, &page).await?;
    let cursor_of = |m: &MessageRecord| MessageCursor { seller_id, seq: m.seq }.encode();
    Ok(Connection::new(total, found.messages, cursor_of, M::from_record).with_flags(found.has_next_page, found.has_previous_page))
}
