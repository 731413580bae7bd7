//! Message search (`messageSearch`): a page of hits, newest first, each with the snippet
//! and match ranges a client highlights (computed here, with the engines' folding).

use super::ChatService;
use crate::domain::ids::{MessageId, SellerId};
use crate::domain::search::{SearchQuery, Snippet};
use crate::service::error::ServiceError;
use crate::store::{MessageRecord, MessageSearch, SellerRecord};
use tracing::instrument;

/// One message that matched a search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The message.
    pub message: MessageRecord,
    /// Its seller.
    pub seller: SellerRecord,
    /// Where in its body the terms are.
    pub snippet: Snippet,
}

/// A page of search hits, newest first.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The hits.
    pub hits: Vec<SearchHit>,
    /// Older hits follow the last one.
    pub has_next_page: bool,
}

impl ChatService {
    /// Up to `first` messages holding every term of `query`, newest first, older than
    /// `after` (the previous page's last message), only in `seller_id`'s chat if given.
    /// Message IDs only grow, so a walk through the pages never repeats or skips a hit
    /// while messages arrive.
    #[instrument(skip_all)]
    pub async fn search_messages(
        &self,
        query: SearchQuery,
        seller_id: Option<SellerId>,
        first: i64,
        after: Option<MessageId>,
    ) -> Result<SearchPage, ServiceError> {
        let search = MessageSearch { query, seller_id, before: after, limit: first + 1 };
        let mut found = self.store.search_messages(&search).await?;
        let has_next_page = found.len() as i64 > first;
        found.truncate(first as usize);
        let hits = found
            .into_iter()
            .map(|hit| SearchHit { snippet: search.query.snippet(&hit.message.body), message: hit.message, seller: hit.seller })
            .collect();
        Ok(SearchPage { hits, has_next_page })
    }
}
