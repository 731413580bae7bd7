//! Parsed GraphQL documents kept by their text, so a client repeating the same document
//! (a send loop, a page walk) is parsed once. Only parsing is saved: the document limits
//! (which depend on the variables) and validation still run on every request. The cache
//! is bounded in entries and in document size, so unique documents cannot grow it.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most documents kept per schema.
pub const MAX_CACHED_DOCUMENTS: usize = 128;
/// Longest document text (bytes) that is kept; longer ones are parsed every time.
pub const MAX_CACHED_DOCUMENT_BYTES: usize = 2 * 1024;

/// The cache, shared by every request of one schema.
#[derive(Clone, Default)]
pub struct DocumentCache {
    documents: Arc<Mutex<HashMap<Box<str>, ExecutableDocument>>>,
}

impl DocumentCache {
    /// How many documents are kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no document is kept.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, ExecutableDocument>> {
        self.documents.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.lock().get(query).cloned()
    }

    fn keep(&self, query: &str, document: &ExecutableDocument) {
        if query.len() > MAX_CACHED_DOCUMENT_BYTES {
            return;
        }
        let mut documents = self.lock();
        if documents.len() >= MAX_CACHED_DOCUMENTS && !documents.contains_key(query) {
            // Any entry makes room: a bound, not a policy, since repeated documents come
            // back at once.
            if let Some(victim) = documents.keys().next().cloned() {
                documents.remove(&victim);
            }
        }
        documents.insert(query.into(), document.clone());
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for DocumentCache {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self.get(query) {
            return Ok(document);
        }
        let document = next.run(ctx, query, variables).await?;
        self.keep(query, &document);
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    struct Query;

    #[Object]
    impl Query {
        async fn echo(&self, text: String) -> String {
            text
        }
    }

    fn schema(cache: &DocumentCache) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription).extension(cache.clone()).finish()
    }

    #[tokio::test]
    async fn a_repeated_document_is_kept_once_and_answers_with_its_own_variables() {
        let cache = DocumentCache::default();
        let schema = schema(&cache);
        let query = "query($t: String!) { echo(text: $t) }";
        for text in ["one", "two"] {
            let request = async_graphql::Request::new(query).variables(Variables::from_json(serde_json::json!({ "t": text })));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            assert_eq!(response.data.into_json().unwrap()["echo"], text);
        }
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn unparsable_and_oversized_documents_are_not_kept_and_the_cache_stays_bounded() {
        let cache = DocumentCache::default();
        let schema = schema(&cache);
        assert!(!schema.execute("{ echo(").await.errors.is_empty());
        let long = format!("{{ echo(text: \"{}\") }}", "x".repeat(MAX_CACHED_DOCUMENT_BYTES));
        assert!(schema.execute(long.as_str()).await.errors.is_empty());
        assert!(cache.is_empty());
        for i in 0..MAX_CACHED_DOCUMENTS + 10 {
            let response = schema.execute(format!("{{ echo(text: \"{i}\") }}").as_str()).await;
            assert_eq!(response.data.into_json().unwrap()["echo"], i.to_string());
        }
        assert_eq!(cache.len(), MAX_CACHED_DOCUMENTS);
    }

    #[tokio::test]
    async fn an_invalid_document_is_refused_each_time_even_once_kept() {
        let cache = DocumentCache::default();
        let schema = schema(&cache);
        // Parses (so it is kept) but does not validate: validation runs on every request.
        for _ in 0..2 {
            let response = schema.execute("{ nope }").await;
            assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
        }
        assert_eq!(cache.len(), 1);
    }
}
