//! The SQLite write path's own statements: storing messages inside a transaction the
//! group committer owns (see `group_commit`); marking messages read is shared
//! ([`ChatWrites`]).

use crate::store::chats::ChatWrites;
use crate::store::records::{CreateOutcome, NewMessage, StoreError, StoreResult};
use sqlx::{Sqlite, SqliteConnection};
use std::sync::OnceLock;

/// Statements per round trip to the connection's worker thread when storing messages
/// without a `client_mutation_id`, largest first: a run is cut into chunks of these sizes
/// (each size one cached multi-statement query).
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// Stores one message, numbering its parameters from `$first` and tagging its returned
/// row with `tag`. Counters, last message and the event follow from the insert trigger
/// `messages_after_insert` (migration 0003, remade in 0008), which keeps the counter rule
/// (see the store module); no chat row means no such seller, and nothing is inserted.
fn insert_statement(first: usize, tag: usize) -> String {
    let p = |i: usize| first + i;
    format!(
        "INSERT INTO messages (seller_id, seq, sent_by, sender_label, body, created_at, client_mutation_id) \
         SELECT seller_id, message_count + 1, ${}, ${}, ${}, ${}, ${} FROM chats WHERE seller_id = ${} RETURNING id, seq, {tag};",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    )
}

/// The query storing `CHUNKS[i]` messages, built once.
fn chunk_query(i: usize) -> &'static str {
    static QUERIES: OnceLock<Vec<String>> = OnceLock::new();
    &QUERIES.get_or_init(|| CHUNKS.iter().map(|&size| (0..size).map(|tag| insert_statement(1 + 6 * tag, tag)).collect()).collect())[i]
}

/// Stores a message inside the caller's transaction (see `create_message`).
pub(super) async fn insert_message(tx: &mut SqliteConnection, message: &NewMessage) -> StoreResult<CreateOutcome> {
    if let Some(token) = &message.client_mutation_id {
        if let Some(earlier) = ChatWrites::<Sqlite>::replayable(&mut *tx, message, token).await? {
            return Ok(CreateOutcome::Replayed(earlier));
        }
    }
    insert_messages(tx, &[message]).await?.remove(0)
}

/// Stores messages without a `client_mutation_id` in order inside the caller's
/// transaction, several statements per round trip; one outcome per message (an unknown
/// seller is `NotFound`). A database error fails them all (the transaction is then rolled
/// back by the caller).
pub(super) async fn insert_messages(tx: &mut SqliteConnection, messages: &[&NewMessage]) -> Result<Vec<StoreResult<CreateOutcome>>, StoreError> {
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut rest = messages;
    while !rest.is_empty() {
        let i = CHUNKS.iter().position(|&size| size <= rest.len()).unwrap_or(CHUNKS.len() - 1);
        let (chunk, after) = rest.split_at(CHUNKS[i]);
        let mut query = sqlx::query_as::<Sqlite, (i64, i64, i64)>(chunk_query(i));
        for message in chunk {
            query = query
                .bind(message.sent_by.as_str())
                .bind(&message.sender_label)
                .bind(&message.body)
                .bind(message.now.get())
                .bind(&message.client_mutation_id)
                .bind(message.seller_id.get());
        }
        let mut stored: Vec<Option<(i64, i64)>> = vec![None; chunk.len()];
        for (id, seq, tag) in query.fetch_all(&mut *tx).await? {
            if let Some(slot) = usize::try_from(tag).ok().and_then(|tag| stored.get_mut(tag)) {
                *slot = Some((id, seq));
            }
        }
        outcomes.extend(chunk.iter().zip(stored).map(|(message, stored)| {
            let (id, seq) = stored.ok_or(StoreError::NotFound("seller"))?;
            Ok(CreateOutcome::Created(message.stored(id, seq)))
        }));
        rest = after;
    }
    Ok(outcomes)
}
