//! `messageSearch`'s objects (Operator API only): a hit with its message, seller,
//! snippet and match ranges, and the connection of hits. A hit's cursor is its message's
//! global ID.

use super::connection::PageInfo;
use super::message::MessageView;
use super::operator::{OperatorChatMessage, SellerObject};
use crate::domain::search::TextRange as DomainRange;
use crate::service::{SearchHit, SearchPage};
use async_graphql::SimpleObject;

/// A range of characters (Unicode scalar values) within a snippet.
#[derive(SimpleObject, Clone, Debug)]
pub struct TextRange {
    /// Offset of the first character, from 0.
    pub start: i32,
    /// How many characters.
    pub length: i32,
}

impl From<DomainRange> for TextRange {
    fn from(range: DomainRange) -> Self {
        // A snippet holds at most 200 characters, so both fit.
        Self { start: range.start as i32, length: range.length as i32 }
    }
}

/// A message that matched a search.
#[derive(SimpleObject, Clone)]
pub struct MessageSearchHit {
    /// Its position: pass it as `after` for the older hits.
    pub cursor: String,
    /// The message.
    pub chat_message: OperatorChatMessage,
    /// The seller whose chat holds it.
    pub seller: SellerObject,
    /// Plain text of at most 200 characters around the first match ("…" where the body
    /// was cut).
    pub snippet: String,
    /// Every match within `snippet`, in characters, to highlight.
    pub matches: Vec<TextRange>,
}

impl From<SearchHit> for MessageSearchHit {
    fn from(hit: SearchHit) -> Self {
        Self {
            cursor: hit.message.id.gid(),
            snippet: hit.snippet.text,
            matches: hit.snippet.matches.into_iter().map(TextRange::from).collect(),
            seller: SellerObject(hit.seller),
            chat_message: OperatorChatMessage::from_record(hit.message),
        }
    }
}

/// One edge of a search: a hit and its cursor.
#[derive(SimpleObject, Clone)]
pub struct MessageSearchEdge {
    /// The hit's cursor.
    pub cursor: String,
    /// The hit.
    pub node: MessageSearchHit,
}

/// A page of search hits, newest first.
#[derive(SimpleObject)]
pub struct MessageSearchConnection {
    /// Where this page lies in the results.
    pub page_info: PageInfo,
    /// The hits of this page.
    pub nodes: Vec<MessageSearchHit>,
    /// The hits with their cursors.
    pub edges: Vec<MessageSearchEdge>,
}

impl MessageSearchConnection {
    /// The connection over a page of hits; `has_previous_page` when it was asked for
    /// with a cursor.
    pub fn new(page: SearchPage, has_previous_page: bool) -> Self {
        let nodes: Vec<MessageSearchHit> = page.hits.into_iter().map(MessageSearchHit::from).collect();
        let edges: Vec<MessageSearchEdge> = nodes.iter().map(|hit| MessageSearchEdge { cursor: hit.cursor.clone(), node: hit.clone() }).collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page,
            start_cursor: nodes.first().map(|hit| hit.cursor.clone()),
            end_cursor: nodes.last().map(|hit| hit.cursor.clone()),
        };
        Self { page_info, nodes, edges }
    }
}
