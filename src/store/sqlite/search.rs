//! `messageSearch` on SQLite: the FTS5 table `messages_fts` (migrations/sqlite 0014).

use super::SqliteStore;
use crate::store::records::StoreResult;
use crate::store::search::{run, seller_filter, MessageHit, MessageSearch, SearchStore, HIT_COLUMNS};
use async_trait::async_trait;
use tracing::instrument;

#[async_trait]
impl SearchStore for SqliteStore {
    #[instrument(level = "debug", skip_all)]
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<MessageHit>> {
        // FTS5 walks its index in rowid order (= messages.id), newest first, and stops at
        // the limit: no sort, no scan of `messages`.
        let sql = format!(
            "SELECT {HIT_COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid JOIN sellers s ON s.id = m.seller_id \
             WHERE f.messages_fts MATCH $1 AND f.rowid < $2{} ORDER BY f.rowid DESC LIMIT $3",
            seller_filter(search),
        );
        run(self, &sql, search.query.fts5(), search).await
    }
}
