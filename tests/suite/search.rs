//! SPEC §12 `messageSearch`: full-text over message bodies with the store's own index —
//! words in any order, "exact phrase", `prefix*`, case- and accent-insensitive, newest
//! first with keyset pages, an optional seller, snippets with match ranges; hostile
//! queries are plain text or `BAD_USER_INPUT`, never a server error; retention takes
//! messages out of the index; only operator credentials that may chat can search.

use crate::common::app::{now, test_config, TestApp, TestSeller};
use crate::common::db::{backend, Backend};
use crate::common::graphql::error_code;
use crate::common::wait::wait_until;
use marketchat::config::ServerConfig;
use marketchat::domain::time::UnixMillis;
use marketchat::domain::users::OperatorRole;
use marketchat::domain::Side;
use marketchat::store::NewMessage;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// `messageSearch` with every field a client reads.
const SEARCH: &str = "query($q: String!, $s: ID, $first: Int, $after: String) {
  messageSearch(query: $q, sellerId: $s, first: $first, after: $after) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { cursor chatMessage { id message sentByType } seller { id businessName } snippet matches { start length } }
    edges { cursor node { cursor } }
  }
}";

impl TestApp {
    /// Runs `messageSearch` with `variables` as the operator key `key`; returns the
    /// connection (the request must succeed).
    async fn search(&self, key: &str, variables: Value) -> Value {
        self.as_operator(key, SEARCH, variables).await["messageSearch"].clone()
    }

    /// The texts of the hits of one search for `query`.
    async fn found(&self, key: &str, query: &str) -> Vec<String> {
        hit_texts(&self.search(key, json!({ "q": query, "first": 100 })).await)
    }
}

/// The message texts of a search page, in order.
fn hit_texts(connection: &Value) -> Vec<String> {
    let nodes = connection["nodes"].as_array().unwrap_or_else(|| panic!("nodes: {connection}"));
    nodes.iter().map(|n| n["chatMessage"]["message"].as_str().unwrap().to_owned()).collect()
}

/// The characters of `snippet` a `{start, length}` range covers.
fn highlighted(snippet: &str, range: &Value) -> String {
    let start = range["start"].as_u64().unwrap() as usize;
    let length = range["length"].as_u64().unwrap() as usize;
    snippet.chars().skip(start).take(length).collect()
}

/// A seller with messages sent through the API, oldest first.
async fn seller_with(app: &TestApp, name: &str, texts: &[&str]) -> TestSeller {
    let seller = app.seller(name).await;
    for text in texts {
        app.seller_sends(&seller.key, text).await;
    }
    seller
}

#[tokio::test]
async fn words_in_any_order_exact_phrases_and_prefixes_are_found_newest_first() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    seller_with(
        &app,
        "Acme",
        &["When will my remittance be paid?", "The remittance was paid on Friday", "Paid in full, remittance advice attached", "Nothing to see here"],
    )
    .await;
    assert_eq!(
        app.found(&op, "paid remittance").await,
        ["Paid in full, remittance advice attached", "The remittance was paid on Friday", "When will my remittance be paid?"],
        "every word, any order, newest first"
    );
    assert_eq!(app.found(&op, "\"remittance was paid\"").await, ["The remittance was paid on Friday"], "an exact phrase");
    assert_eq!(app.found(&op, "\"paid remittance\"").await, Vec::<String>::new(), "a phrase keeps its order");
    assert_eq!(app.found(&op, "remit*").await.len(), 3, "a prefix");
    assert_eq!(app.found(&op, "remit").await.len(), 0, "no prefix without the star");
    assert_eq!(app.found(&op, "fri* \"in full\"").await, Vec::<String>::new(), "all terms must occur");
}

#[tokio::test]
async fn search_ignores_case_and_accents_and_ranges_highlight_the_matches() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    seller_with(&app, "Café Olé", &["Le CAFÉ est fermé 🙂 jusqu'à lundi", "Remittance for Zürich", "naïve résumé"]).await;
    assert_eq!(app.found(&op, "cafe").await, ["Le CAFÉ est fermé 🙂 jusqu'à lundi"]);
    assert_eq!(app.found(&op, "Café FERME").await, ["Le CAFÉ est fermé 🙂 jusqu'à lundi"]);
    assert_eq!(app.found(&op, "zurich REMITTANCE").await, ["Remittance for Zürich"]);
    assert_eq!(app.found(&op, "remittance").await, ["Remittance for Zürich"], "Remittance finds remittance");
    assert_eq!(app.found(&op, "\"naive resume\"").await, ["naïve résumé"]);

    let page = app.search(&op, json!({ "q": "lundi cafe" })).await;
    let hit = &page["nodes"][0];
    let snippet = hit["snippet"].as_str().unwrap();
    assert_eq!(snippet, "Le CAFÉ est fermé 🙂 jusqu'à lundi", "a short body is its own snippet");
    let matches = hit["matches"].as_array().unwrap();
    let words: Vec<String> = matches.iter().map(|m| highlighted(snippet, m)).collect();
    assert_eq!(words, ["CAFÉ", "lundi"], "ranges count characters, after the emoji too");
    assert_eq!(hit["seller"]["businessName"], "Café Olé");
    assert_eq!(hit["cursor"], hit["chatMessage"]["id"], "a hit's cursor is its message's ID");
}

#[tokio::test]
async fn a_long_message_gives_a_short_snippet_around_the_first_match() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let body = format!("{} the remittance is late {}", "lorem ipsum dolor ".repeat(30), "sit amet ".repeat(60));
    seller_with(&app, "Acme", &[&body]).await;
    let page = app.search(&op, json!({ "q": "remittance" })).await;
    let hit = &page["nodes"][0];
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(snippet.chars().count() <= 200, "{snippet}");
    assert!(snippet.starts_with('…') && snippet.ends_with('…'), "{snippet}");
    assert_eq!(highlighted(snippet, &hit["matches"][0]), "remittance");
    assert_eq!(hit["chatMessage"]["message"], body.trim(), "the message itself is whole");
}

#[tokio::test]
async fn pages_walk_every_hit_once_while_new_messages_arrive() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let texts: Vec<String> = (0..25).map(|i| format!("invoice number {i}")).collect();
    let seller = seller_with(&app, "Acme", &texts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = app.search(&op, json!({ "q": "invoice", "first": 10, "after": after })).await;
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        let edges: Vec<&Value> = page["edges"].as_array().unwrap().iter().collect();
        let nodes = page["nodes"].as_array().unwrap();
        assert_eq!(edges.len(), nodes.len());
        for (edge, node) in edges.iter().zip(nodes) {
            assert_eq!(edge["cursor"], node["cursor"]);
        }
        seen.extend(hit_texts(&page));
        pages += 1;
        // A message sent between pages is newer than every cursor: it never shows up
        // in the walk, and nothing is skipped or repeated.
        app.seller_sends(&seller.key, &format!("invoice sent during page {pages}")).await;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = texts.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "newest first, no duplicate, no gap");
    assert_eq!(pages, 3);
    let default_page = app.search(&op, json!({ "q": "invoice" })).await;
    assert_eq!(default_page["nodes"].as_array().unwrap().len(), 20, "first defaults to 20");
    assert_eq!(hit_texts(&default_page)[0], "invoice sent during page 3");
}

#[tokio::test]
async fn seller_id_narrows_the_search_to_one_chat() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let acme = seller_with(&app, "Acme", &["refund please", "another refund"]).await;
    let blue = seller_with(&app, "Blue", &["refund for Blue"]).await;
    app.operator_sends(&op, &acme.gid, "Your refund is on its way").await;
    assert_eq!(app.found(&op, "refund").await.len(), 4);
    let only_acme = app.search(&op, json!({ "q": "refund", "s": acme.gid })).await;
    assert_eq!(hit_texts(&only_acme), ["Your refund is on its way", "another refund", "refund please"]);
    assert_eq!(only_acme["nodes"][0]["chatMessage"]["sentByType"], "Admin");
    let only_blue = app.search(&op, json!({ "q": "refund", "s": blue.gid })).await;
    assert_eq!(hit_texts(&only_blue), ["refund for Blue"]);
    assert!(only_blue["nodes"].as_array().unwrap().iter().all(|n| n["seller"]["id"] == blue.gid.as_str()));
    let (_, body) = app.graphql("/graphql/operator", &op, SEARCH, json!({ "q": "refund", "s": "nonsense" })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn arguments_out_of_range_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    seller_with(&app, "Acme", &["hello"]).await;
    let refused = [
        (json!({ "q": "" }), "query"),
        (json!({ "q": "   " }), "query"),
        (json!({ "q": "\" * - ( ) : ^" }), "query"),
        (json!({ "q": "a".repeat(501) }), "query"),
        (json!({ "q": "hello", "first": 101 }), "first"),
        (json!({ "q": "hello", "first": -1 }), "first"),
        (json!({ "q": "hello", "after": "not-a-cursor" }), "after"),
    ];
    for (variables, argument) in refused {
        let (status, body) = app.graphql("/graphql/operator", &op, SEARCH, variables.clone()).await;
        assert_eq!(status, StatusCode::OK, "{variables}: {body}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{argument}`")), "a clear message naming {argument}: {message}");
    }
    assert_eq!(app.search(&op, json!({ "q": "hello", "first": 100 })).await["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(app.search(&op, json!({ "q": "hello", "first": 0 })).await["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn hostile_queries_are_plain_text_or_bad_user_input_never_a_server_error() {
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    seller_with(&app, "Acme", &["NEAR the AND gate, OR NOT: (e-mail) x^2 \"quoted\" 3.14", "plain words"]).await;
    // Operators typed by users are words.
    assert_eq!(app.found(&op, "NEAR AND OR NOT").await.len(), 1);
    assert_eq!(app.found(&op, "-gate (e-mail) x^2").await.len(), 1);
    assert_eq!(app.found(&op, "\"quoted 3.14").await.len(), 1, "an unbalanced quote is dropped");
    assert_eq!(app.found(&op, "near* \"the and\"").await.len(), 1);
    assert_eq!(app.found(&op, "e-mail*").await.len(), 1);
    let fixed = [
        "\"", "\"\"", "*", "**", "\"*\"", "-", "--plain", "(", ")", "((plain", ":", "plain:", "^", "NEAR(plain words, 2)", "plain OR", "AND",
        "NOT plain", "plain -words", "'", "''plain'", "\\", "plain\\", "!plain", "plain & words", "plain | words", "<->", "plain <-> words",
        "plain:*", "plain:A", "{plain}", "plain\u{0}words", "💥", "plain 💥*", "ｐｌａｉｎ", "\u{301}plain", "plain\u{200b}words",
    ];
    let mut runner = TestRunner::deterministic();
    let alphabet = proptest::sample::select(vec!['"', '*', '-', '(', ')', ':', '^', '\'', '\\', '&', '|', '!', '<', '>', ' ', 'p', 'l', 'a', 'i', 'n', 'é', '🙂', '\u{0}', '\u{301}']);
    let strategy = (proptest::collection::vec(alphabet, 1..24), proptest::collection::vec(proptest::char::any(), 0..6));
    let generated: Vec<String> = (0..150)
        .map(|_| {
            let (chars, exotic) = strategy.new_tree(&mut runner).expect("value").current();
            chars.into_iter().chain(exotic).collect()
        })
        .collect();
    for query in fixed.iter().map(|q| (*q).to_owned()).chain(generated) {
        let (status, body) = app.graphql("/graphql/operator", &op, SEARCH, json!({ "q": query })).await;
        assert_eq!(status, StatusCode::OK, "{query:?}: {body}");
        match body.get("errors") {
            None => assert!(body["data"]["messageSearch"]["nodes"].is_array(), "{query:?}: {body}"),
            Some(_) => assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query:?}: {body}"),
        }
    }
}

#[tokio::test]
async fn retention_takes_removed_messages_out_of_the_index() {
    let mut app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let seller = app.seller("Acme").await;
    let old = now().minus(Duration::from_secs(40 * 86_400));
    let message = |body: &str, at: UnixMillis| NewMessage {
        seller_id: seller.id,
        sent_by: Side::Seller,
        sender_label: None,
        body: body.to_owned(),
        client_mutation_id: None,
        now: at,
        dedupe_since: UnixMillis::new(0),
    };
    app.store.create_message(&message("ancient remittance", old)).await.unwrap();
    app.store.create_message(&message("recent remittance", now())).await.unwrap();
    assert_eq!(app.found(&op, "remittance").await, ["recent remittance", "ancient remittance"]);

    app.restart_with(ServerConfig { retention_days: Some(30), ..test_config() }).await;
    wait_until(Duration::from_secs(10), || async { app.stored_messages(seller.id).await == 1 }).await;
    assert_eq!(app.found(&op, "remittance").await, ["recent remittance"]);
    assert_eq!(app.found(&op, "ancient").await, Vec::<String>::new());
    // The index itself no longer holds the removed message (not just the join dropping it).
    let indexed = match backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '\"ancient\"'",
        Backend::Postgres => "SELECT COUNT(*) FROM messages WHERE search_vector @@ to_tsquery('simple', 'ancient')",
    };
    assert_eq!(app.query_i64(indexed).await, 0);
}

#[tokio::test]
async fn viewers_may_not_search_and_roles_that_may_chat_may() {
    let app = TestApp::spawn().await;
    seller_with(&app, "Acme", &["hello there"]).await;
    let viewer = app.operator_session(OperatorRole::Viewer).await;
    let (_, body) = crate::common::session::as_user(&app, "/graphql/operator", &viewer, SEARCH, json!({ "q": "hello" })).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("hello there"), "{body}");
    for role in [OperatorRole::CustomerSupport, OperatorRole::FullAdmin] {
        let cookie = app.operator_session(role).await;
        let (_, body) = crate::common::session::as_user(&app, "/graphql/operator", &cookie, SEARCH, json!({ "q": "hello" })).await;
        assert_eq!(hit_texts(&body["data"]["messageSearch"]), ["hello there"], "{role}: {body}");
    }
    let admin_key = app.admin_key("sync").await;
    assert_eq!(app.found(&admin_key, "hello").await, ["hello there"]);
}

#[tokio::test]
async fn the_query_plan_reads_the_full_text_index() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    for i in 0..50 {
        app.seller_sends(&seller.key, &format!("message {i} about remittance")).await;
    }
    match backend() {
        Backend::Sqlite => {
            // The statement of `SearchStore for SqliteStore` (src/store/search.rs).
            let plan: Vec<(i64, i64, i64, String)> = crate::common::db::fetch_rows(
                &app.database_url,
                "EXPLAIN QUERY PLAN SELECT s.id, m.id, m.body FROM messages_fts f JOIN messages m ON m.id = f.rowid \
                 JOIN sellers s ON s.id = m.seller_id WHERE f.messages_fts MATCH '\"remittance\" AND \"message\"' AND f.rowid < 9999 \
                 ORDER BY f.rowid DESC LIMIT 21",
            )
            .await;
            let steps: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
            assert!(steps.iter().any(|s| s.starts_with("SCAN f VIRTUAL TABLE INDEX")), "{steps:?}");
            assert!(!steps.iter().any(|s| s.contains("SCAN m") || s.contains("TEMP B-TREE")), "no scan of messages, no sort: {steps:?}");
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            // The statement of `SearchStore for PostgresStore` (src/store/search.rs) for the
            // messages older than the newest few thousand, with the same settings.
            sqlx::query("SET enable_seqscan = off").execute(&mut conn).await.unwrap();
            sqlx::query("SET enable_indexscan = off").execute(&mut conn).await.unwrap();
            let plan: Vec<String> = sqlx::query_scalar(
                "EXPLAIN SELECT s.id, m.id, m.body FROM messages m JOIN sellers s ON s.id = m.seller_id \
                 WHERE m.search_vector @@ to_tsquery('simple', '(''remittance'') & (''message'')') AND m.id + 0 < 9999 \
                 ORDER BY m.id DESC LIMIT 21",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert!(plan.iter().any(|line| line.contains("Bitmap Index Scan on messages_search")), "{plan:#?}");
        }
    }
}

#[tokio::test]
async fn hits_beyond_the_newest_thousands_of_messages_come_in_order_without_gaps() {
    // PostgreSQL checks the newest 4,000 messages row by row and reaches the older ones
    // through the index (src/store/search.rs): a walk must cross that edge seamlessly.
    let app = TestApp::spawn().await;
    let op = app.operator_key("ops").await;
    let seller = app.seller("Acme").await;
    let total = 4_300;
    let mut expected = Vec::new();
    for i in 0..total {
        let sparse = i % 250 == 0 || i < 15;
        let body = if sparse { format!("sparse needle {i}") } else { format!("hay {i}") };
        if sparse {
            expected.push(body.clone());
        }
        let store = &app.store;
        let message = NewMessage {
            seller_id: seller.id,
            sent_by: Side::Seller,
            sender_label: None,
            body,
            client_mutation_id: None,
            now: UnixMillis::new(1_000 + i),
            dedupe_since: UnixMillis::new(0),
        };
        // One at a time, so IDs follow the order of the sends.
        store.create_message(&message).await.unwrap();
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.search(&op, json!({ "q": "needle sparse", "first": 7, "after": after })).await;
        seen.extend(hit_texts(&page));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, expected, "every hit once, newest first, across the newest messages' edge");
    assert_eq!(app.found(&op, "hay").await.len(), 100, "a frequent word fills a page from the newest messages");
}
