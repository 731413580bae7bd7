//! The SQLite write path's own statement: storing a message inside a transaction the
//! group committer owns (see `group_commit`); marking messages read is shared
//! ([`ChatWrites`]).

use crate::store::chats::ChatWrites;
use crate::store::records::{CreateOutcome, NewMessage, StoreError, StoreResult};
use sqlx::{Sqlite, SqliteConnection};

/// Stores a message inside the caller's transaction (see `create_message`).
pub(super) async fn insert_message(tx: &mut SqliteConnection, message: &NewMessage) -> StoreResult<CreateOutcome> {
    if let Some(token) = &message.client_mutation_id {
        if let Some(earlier) = ChatWrites::<Sqlite>::replayable(&mut *tx, message, token).await? {
            return Ok(CreateOutcome::Replayed(earlier));
        }
    }
    // Counters, last message and the event follow from the insert trigger
    // `messages_after_insert` (migration 0003, remade in 0008), which keeps the counter
    // rule (see the store module); no chat row means no such seller, and nothing is inserted.
    let inserted: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO messages (seller_id, seq, sent_by, sender_label, body, created_at, client_mutation_id) \
         SELECT seller_id, message_count + 1, $1, $2, $3, $4, $5 FROM chats WHERE seller_id = $6 RETURNING id, seq",
    )
    .bind(message.sent_by.as_str())
    .bind(&message.sender_label)
    .bind(&message.body)
    .bind(message.now.get())
    .bind(&message.client_mutation_id)
    .bind(message.seller_id.get())
    .fetch_optional(&mut *tx)
    .await?;
    let (id, seq) = inserted.ok_or(StoreError::NotFound("seller"))?;
    Ok(CreateOutcome::Created(message.stored(id, seq)))
}
