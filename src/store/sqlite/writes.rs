//! The SQLite write path: storing a message and marking messages read, each inside a
//! transaction the group committer owns (see `group_commit`).

use crate::store::*;
use super::message_from_row;
use sqlx::SqliteConnection;

/// Stores a message inside the caller's transaction (see `create_message`).
pub(super) async fn insert_message(tx: &mut SqliteConnection, message: &NewMessage) -> StoreResult<CreateOutcome> {
    if let Some(token) = &message.client_mutation_id {
        let earlier = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seller_id = ? AND sent_by = ? AND client_mutation_id = ?"
        ))
        .bind(message.seller_id)
        .bind(message.sent_by.as_str())
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = earlier {
            let earlier = message_from_row(&row, 0)?;
            if earlier.created_at >= message.dedupe_since {
                return Ok(CreateOutcome::Replayed(earlier));
            }
            // An expired token may be reused: it no longer names the old message.
            sqlx::query("UPDATE messages SET client_mutation_id = NULL WHERE id = ?")
                .bind(earlier.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    // Counters, last message and the event follow from the insert trigger
    // (migration 0003); no chat row means no such seller, and nothing is inserted.
    let inserted: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO messages (seller_id, seq, sent_by, sender_label, body, created_at, client_mutation_id) \
         SELECT seller_id, message_count + 1, ?, ?, ?, ?, ? FROM chats WHERE seller_id = ? RETURNING id, seq",
    )
    .bind(message.sent_by.as_str())
    .bind(&message.sender_label)
    .bind(&message.body)
    .bind(message.now)
    .bind(&message.client_mutation_id)
    .bind(message.seller_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, seq) = inserted.ok_or(StoreError::NotFound("seller"))?;
    Ok(CreateOutcome::Created(MessageRecord {
        id,
        seller_id: message.seller_id,
        seq,
        sent_by: message.sent_by,
        sender_label: message.sender_label.clone(),
        body: message.body.clone(),
        created_at: message.now,
        read_at: None,
    }))
}

/// Marks messages read inside the caller's transaction (see `mark_read`).
pub(super) async fn mark_read_in(tx: &mut SqliteConnection, request: &MarkRead) -> StoreResult<Vec<i64>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE messages SET read_at = ? \
         WHERE seller_id = ? AND sent_by = ? AND read_at IS NULL AND seq <= ? RETURNING id",
    )
    .bind(request.now)
    .bind(request.seller_id)
    .bind(request.sent_by.as_str())
    .bind(request.up_to_seq.unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = ids;
    ids.sort_unstable();
    if !ids.is_empty() {
        let unread = unread_column(request.sent_by);
        sqlx::query(&format!("UPDATE chats SET {unread} = {unread} - ? WHERE seller_id = ?"))
            .bind(ids.len() as i64)
            .bind(request.seller_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO events (seller_id, kind, sent_by, read_at, message_ids, created_at) \
             VALUES (?, 'messages_read', ?, ?, ?, ?)",
        )
        .bind(request.seller_id)
        .bind(request.sent_by.as_str())
        .bind(request.now)
        .bind(serde_json::to_string(&ids).map_err(|e| sqlx::Error::Encode(e.into()))?)
        .bind(request.now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(ids)
}
