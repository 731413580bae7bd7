//! The two back ends agree: the same operations leave the same chat counters and event
//! feed on SQLite (kept by a trigger) and PostgreSQL (kept by the insert CTE), both by
//! the rule in `src/store/mod.rs` ("Chat counters"); and the two migration sets make the
//! same tables and columns, apart from the differences `migrations/README.md` lists.
//! These tests use both back ends at once, so they need PostgreSQL in either binary.

use crate::common::db::postgres_admin_url;
use crate::common::requirements::require_postgres;
use marketchat::domain::cursor::EventCursor;
use marketchat::domain::ids::{MessageId, SellerId, Seq};
use marketchat::domain::time::UnixMillis;
use marketchat::domain::Side;
use marketchat::store::{self, ChatRecord, CreateOutcome, EventKind, MarkRead, NewMessage, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A fresh SQLite file and a fresh PostgreSQL database (dropped afterwards), migrated.
struct BothBackends {
    sqlite: Arc<dyn Store>,
    postgres: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    postgres_name: String,
}

impl BothBackends {
    async fn open() -> Self {
        use sqlx::Connection;
        require_postgres();
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = store::connect(&format!("sqlite://{}", dir.path().join("parity.db").display()), &Default::default()).await.expect("open SQLite");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let postgres_name = format!("mc_parity_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await.expect("PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {postgres_name}")).execute(&mut admin).await.expect("create database");
        let postgres = store::connect(&format!("{}/{postgres_name}", postgres_admin_url()), &Default::default()).await.expect("open PostgreSQL");
        Self { sqlite, postgres, _dir: dir, postgres_name }
    }

    /// Both stores, named for messages.
    fn each(&self) -> [(&'static str, &dyn Store); 2] {
        [("SQLite", &*self.sqlite), ("PostgreSQL", &*self.postgres)]
    }
}

impl Drop for BothBackends {
    fn drop(&mut self) {
        let name = self.postgres_name.clone();
        // Drop runs outside async: a small runtime of its own, on another thread.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

fn send(seller_id: SellerId, sent_by: Side, body: &str, now: i64, client_mutation_id: Option<&str>) -> NewMessage {
    let sender_label = (sent_by == Side::Admin).then(|| "ops".to_owned());
    let (client_mutation_id, now) = (client_mutation_id.map(str::to_owned), UnixMillis::new(now));
    NewMessage { seller_id, sent_by, sender_label, body: body.to_owned(), client_mutation_id, now, dedupe_since: UnixMillis::new(0) }
}

fn read(seller_id: SellerId, sent_by: Side, up_to_seq: Option<i64>, now: i64) -> MarkRead {
    MarkRead { seller_id, sent_by, up_to_seq: up_to_seq.map(Seq::new), now: UnixMillis::new(now) }
}

/// A chat's counters: message_count, unread_by_seller, unread_by_operator, and the last
/// message's (id, seq).
type Counters = (i64, i64, i64, Option<(MessageId, Seq)>);

fn counters(chat: &ChatRecord) -> Counters {
    (chat.message_count, chat.unread_by_seller, chat.unread_by_operator, chat.last_message.as_ref().map(|m| (m.id, m.seq)))
}

/// Every chat's counters, after checking that they follow the rule from the stored
/// messages: the count of messages, the unread ones of each side, the newest one.
async fn checked_counters(name: &str, store: &dyn Store, sellers: &[SellerId]) -> BTreeMap<SellerId, Counters> {
    let mut all = BTreeMap::new();
    for &seller in sellers {
        let chat = store.chat(seller).await.unwrap().unwrap_or_else(|| panic!("{name}: chat {seller}"));
        let messages = store.messages_oldest_first(seller, Seq::new(0), 1_000).await.unwrap();
        let unread = |side: Side| messages.iter().filter(|m| m.sent_by == side && m.read_at.is_none()).count() as i64;
        let newest = messages.last().map(|m| (m.id, m.seq));
        let recounted = (messages.len() as i64, unread(Side::Admin), unread(Side::Seller), newest);
        assert_eq!(counters(&chat), recounted, "{name}: chat {seller}'s counters follow from its messages");
        all.insert(seller, counters(&chat));
    }
    all
}

/// The feed as both back ends can be compared: each event's `seq` (the transaction part
/// of a position is PostgreSQL's alone), chat, kind and messages. Waits until `count`
/// events are readable (PostgreSQL shows an event once no older transaction runs).
async fn feed(name: &str, store: &dyn Store, count: usize) -> Vec<(i64, SellerId, String)> {
    let mut events = Vec::new();
    for _ in 0..200 {
        events = store.events_after(EventCursor::START, None, 1_000).await.unwrap();
        if events.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position), "{name}: feed order");
    events
        .into_iter()
        .map(|event| {
            let what = match event.kind {
                EventKind::MessageCreated(m) => format!("created {} #{} {:?}", m.id, m.seq, m.body),
                EventKind::MessagesRead { sent_by, read_at, message_ids } => format!("read {sent_by:?} at {}: {message_ids:?}", read_at.get()),
                EventKind::ChatUpdated => "chat updated".to_owned(),
                EventKind::NoteCreated(note) => format!("note {} {:?} by {}", note.id, note.body, note.author),
            };
            (event.position.seq, event.seller_id, what)
        })
        .collect()
}

/// One operation of the script both back ends run.
enum Operation {
    Send(NewMessage),
    MarkRead(MarkRead),
    RemoveBefore { cutoff: UnixMillis, limit: i64 },
}

/// Runs an operation; its answer as text, to compare across back ends.
async fn run(store: &dyn Store, operation: &Operation) -> String {
    match operation {
        Operation::Send(message) => match store.create_message(message).await.unwrap() {
            CreateOutcome::Created(m) => format!("created {} #{}", m.id, m.seq),
            CreateOutcome::Replayed(m) => format!("replayed {} #{}", m.id, m.seq),
        },
        Operation::MarkRead(request) => format!("read {:?}", store.mark_read(request).await.unwrap()),
        Operation::RemoveBefore { cutoff, limit } => format!("removed {}", store.remove_before(*cutoff, *limit).await.unwrap()),
    }
}

#[tokio::test]
async fn both_back_ends_keep_the_same_chat_counters_and_feed_for_the_same_operations() {
    use Operation::*;
    let both = BothBackends::open().await;
    let mut sellers = Vec::new();
    for (name, store) in both.each() {
        let created = vec![store.create_seller("Acme", UnixMillis::new(1)).await.unwrap().id, store.create_seller("Blue", UnixMillis::new(2)).await.unwrap().id];
        assert!(sellers.is_empty() || sellers == created, "{name}: seller IDs");
        sellers = created;
    }
    let (acme, blue) = (sellers[0], sellers[1]);
    // Steps, and how many events the feed holds after each.
    let script = [
        ("sends both ways", 4, vec![
            Send(send(acme, Side::Seller, "hello", 1_000, Some("m1"))),
            Send(send(acme, Side::Seller, "anyone?", 1_001, None)),
            Send(send(acme, Side::Admin, "hi Acme", 1_002, None)),
            Send(send(blue, Side::Admin, "welcome", 1_003, None)),
        ]),
        ("a repeated client mutation ID", 4, vec![Send(send(acme, Side::Seller, "hello", 1_004, Some("m1")))]),
        ("the operator reads part, then the rest, then nothing", 6, vec![
            MarkRead(read(acme, Side::Seller, Some(1), 1_500)),
            MarkRead(read(acme, Side::Seller, None, 1_501)),
            MarkRead(read(acme, Side::Seller, None, 1_502)),
        ]),
        ("the sellers read theirs", 8, vec![MarkRead(read(acme, Side::Admin, None, 3_000)), MarkRead(read(blue, Side::Admin, None, 3_001))]),
        ("a newer message", 9, vec![Send(send(acme, Side::Seller, "still there?", 5_000, None))]),
        // The 4 messages before 2 000 go in two batches with their events, then the 2
        // read events before it; the newer message and the later read events stay.
        ("retention", 3, vec![
            RemoveBefore { cutoff: UnixMillis::new(2_000), limit: 2 },
            RemoveBefore { cutoff: UnixMillis::new(2_000), limit: 10 },
            RemoveBefore { cutoff: UnixMillis::new(2_000), limit: 10 },
            RemoveBefore { cutoff: UnixMillis::new(2_000), limit: 10 },
        ]),
    ];
    for (step, feed_length, operations) in &script {
        let mut seen = Vec::new();
        for (name, store) in both.each() {
            let mut answers = Vec::new();
            for operation in operations {
                answers.push(run(store, operation).await);
            }
            let state = (answers, checked_counters(name, store, &sellers).await, feed(name, store, *feed_length).await);
            assert_eq!(state.2.len(), *feed_length, "{name}, {step}: the feed holds what happened");
            seen.push(state);
        }
        assert_eq!(seen[0].0, seen[1].0, "{step}: both back ends answer alike");
        assert_eq!(seen[0].1, seen[1].1, "{step}: the same counters");
        assert_eq!(seen[0].2, seen[1].2, "{step}: the same feed");
    }
    // A message for no seller changes nothing on either back end.
    for (name, store) in both.each() {
        let before = checked_counters(name, store, &sellers).await;
        assert!(store.create_message(&send(SellerId::from(9_999), Side::Seller, "lost", 6_000, None)).await.is_err(), "{name}: unknown seller");
        assert_eq!(checked_counters(name, store, &sellers).await, before, "{name}: nothing changed");
        assert_eq!(store.operator_unread_total().await.unwrap(), 1, "{name}: the newer message is unread");
    }
}

/// A column as both back ends can be compared: whether it may hold NULL, and its kind
/// of type (see `migrations/README.md` for how the dialects' types map).
type Column = (bool, &'static str);

/// The SQLite schema: table -> column -> column kind. The full-text index (the FTS5 table
/// `messages_fts` and its shadow tables) is left out: PostgreSQL indexes the same text
/// with an index, not a table (a documented difference, migrations/README.md).
async fn sqlite_columns(database: &std::path::Path) -> BTreeMap<String, BTreeMap<String, Column>> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display())).await.unwrap();
    let rows: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "SELECT t.name, c.name, c.type, c.\"notnull\", c.pk > 0 FROM sqlite_master t, pragma_table_info(t.name) c \
         WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND t.name NOT LIKE '_sqlx%' \
         AND t.name NOT LIKE 'messages_fts%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut tables: BTreeMap<String, BTreeMap<String, Column>> = BTreeMap::new();
    for (table, column, declared, not_null, primary_key) in rows {
        let kind = match declared.as_str() {
            "INTEGER" => "integer",
            "TEXT" => "text",
            "BOOLEAN" => "boolean",
            other => panic!("SQLite type {other} of {table}.{column} has no mapping"),
        };
        tables.entry(table).or_default().insert(column, (!(not_null || primary_key), kind));
    }
    tables
}

/// The PostgreSQL schema: table -> column -> column kind.
async fn postgres_columns(url: &str) -> BTreeMap<String, BTreeMap<String, Column>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut tables: BTreeMap<String, BTreeMap<String, Column>> = BTreeMap::new();
    for (table, column, data_type, nullable) in rows {
        let kind = match data_type.as_str() {
            "bigint" => "integer",
            "text" => "text",
            "boolean" => "boolean",
            "ARRAY" => "integer array",
            "xid8" => "transaction",
            "tsvector" => "tsvector",
            other => panic!("PostgreSQL type {other} of {table}.{column} has no mapping"),
        };
        tables.entry(table).or_default().insert(column, (nullable == "YES", kind));
    }
    tables
}

#[tokio::test]
async fn both_migration_sets_make_the_same_tables_and_columns() {
    let both = BothBackends::open().await;
    let sqlite = sqlite_columns(&both._dir.path().join("parity.db")).await;
    let mut postgres = postgres_columns(&format!("{}/{}", postgres_admin_url(), both.postgres_name)).await;
    // The documented differences (migrations/README.md): PostgreSQL orders the feed by
    // the writing transaction, and stores a read event's IDs as an array, not JSON text.
    // PostgreSQL stores the words of each message for its full-text index; SQLite keeps
    // them in its FTS5 table (left out above).
    let messages = postgres.get_mut("messages").expect("a messages table");
    assert_eq!(messages.remove("search_vector"), Some((true, "tsvector")), "messages.search_vector on PostgreSQL");
    let events = postgres.get_mut("events").expect("an events table");
    assert_eq!(events.remove("tx"), Some((false, "transaction")), "events.tx on PostgreSQL");
    assert_eq!(events.insert("message_ids".to_owned(), (true, "text")), Some((true, "integer array")), "events.message_ids on PostgreSQL");
    assert_eq!(sqlite.keys().collect::<Vec<_>>(), postgres.keys().collect::<Vec<_>>(), "the same tables");
    for (table, columns) in &sqlite {
        assert_eq!(columns, &postgres[table], "the columns of {table}");
    }
}

/// Messages whose words, case, accents and punctuation the two full-text indexes must
/// cut and fold alike.
const SEARCH_CORPUS: [&str; 16] = [
    "When will my remittance be paid?",
    "REMITTANCE paid on Friday — thanks!",
    "Le café est fermé jusqu'à lundi",
    "CAFE OLE: cafés, Café, caf\u{e9}",
    "Zürich, Señor Núñez, Ångström, Łódź, Dvořák, İstanbul",
    "e-mail me at billing@example.com or see https://example.com/path?x=1",
    "Invoice #3.14 and version 1.2.3, order_id 42, 1e5",
    "emoji 🙂 between🎉words and 🙂🙂",
    "Привет, как дела? ПРИВЕТ",
    "ελληνικά ΕΛΛΗΝΙΚΑ",
    "中文 日本語",
    "paid remittance, in the other order",
    "NEAR the AND gate OR NOT",
    "remit remitted remittances Remitting",
    "a\u{301}ccent combining and plain accent",
    "naïve résumé coöperate façade",
];

/// Queries both back ends must answer with the same messages.
const SEARCH_QUERIES: [&str; 28] = [
    "remittance", "paid remittance", "\"remittance be paid\"", "\"paid remittance\"", "remit*", "REMIT*", "cafe", "CAFÉ", "\"cafe ole\"",
    "zurich", "senor nunez", "angstrom", "łodz", "dvorak", "istanbul", "e-mail", "\"e mail\"", "billing example", "example*", "3.14", "1.2.3",
    "order_id", "1e5", "words", "привет", "ελληνικα", "naive resume", "near and or not",
];

#[tokio::test]
async fn both_back_ends_find_the_same_messages_for_the_same_search() {
    use marketchat::domain::search::SearchQuery;
    use marketchat::store::MessageSearch;
    let both = BothBackends::open().await;
    let mut found: Vec<Vec<Vec<String>>> = Vec::new();
    for (name, store) in both.each() {
        let acme = store.create_seller("Acme", UnixMillis::new(1)).await.unwrap().id;
        for (i, body) in SEARCH_CORPUS.iter().enumerate() {
            let side = if i % 3 == 0 { Side::Admin } else { Side::Seller };
            store.create_message(&send(acme, side, body, 1_000 + i as i64, None)).await.unwrap();
        }
        let mut answers = Vec::new();
        for raw in SEARCH_QUERIES {
            let search = MessageSearch { query: SearchQuery::parse(raw).unwrap(), seller_id: None, before: None, limit: 100 };
            let hits = store.search_messages(&search).await.unwrap_or_else(|e| panic!("{name}: {raw}: {e}"));
            let bodies: Vec<String> = hits.into_iter().map(|h| h.message.body).collect();
            // Every hit is highlighted where the engine found it: this module folds alike.
            for body in &bodies {
                assert!(!search.query.snippet(body).matches.is_empty(), "{name}: {raw:?} found {body:?} but no range marks it");
            }
            answers.push(bodies);
        }
        found.push(answers);
    }
    for (i, raw) in SEARCH_QUERIES.iter().enumerate() {
        assert_eq!(found[0][i], found[1][i], "SQLite and PostgreSQL differ on {raw:?}");
        assert!(!found[0][i].is_empty(), "{raw:?} finds something");
    }
}

#[tokio::test]
async fn both_indexes_fold_every_letter_of_the_fold_table_as_the_domain_does() {
    use marketchat::domain::search::{fold, FOLD_FROM};
    use sqlx::Connection;
    let both = BothBackends::open().await;
    // Each folded letter between two x's (upper and lower case both in the table).
    let words: Vec<String> = FOLD_FROM.chars().map(|c| format!("x{c}x")).collect();
    let body = words.join(" ");
    let mut expected: Vec<String> = words.iter().map(|w| fold(w)).collect();
    expected.sort();
    expected.dedup();
    for (_, store) in both.each() {
        let seller = store.create_seller("Acme", UnixMillis::new(1)).await.unwrap().id;
        store.create_message(&send(seller, Side::Seller, &body, 1_000, None)).await.unwrap();
    }
    let sqlite_path = both._dir.path().join("parity.db");
    let mut sqlite = sqlx::SqliteConnection::connect(&format!("sqlite://{}", sqlite_path.display())).await.unwrap();
    sqlx::query("CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, messages_fts, 'row')").execute(&mut sqlite).await.unwrap();
    let sqlite_terms: Vec<String> = sqlx::query_scalar("SELECT term FROM temp.vocabulary ORDER BY term").fetch_all(&mut sqlite).await.unwrap();
    let mut postgres = sqlx::PgConnection::connect(&format!("{}/{}", postgres_admin_url(), both.postgres_name)).await.unwrap();
    let postgres_terms: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT unnest(tsvector_to_array(search_vector)) AS term FROM messages ORDER BY term")
            .fetch_all(&mut postgres)
            .await
            .unwrap();
    let mut postgres_terms = postgres_terms;
    postgres_terms.sort();
    assert_eq!(sqlite_terms, expected, "SQLite's tokenizer folds as domain::search::fold");
    assert_eq!(postgres_terms, expected, "PostgreSQL's index expression folds as domain::search::fold");
}
