//! The PostgreSQL write path: storing a message (one CTE that keeps the chat counters)
//! and marking messages read (the statements of [`ChatWrites`]), each its own
//! transaction on the shared pool.

use crate::domain::ids::MessageId;
use crate::domain::Side;
use crate::store::chats::ChatWrites;
use crate::store::records::{unread_column, CreateOutcome, MarkRead, NewMessage, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool, Postgres};

/// Stores a message (see `Store::create_message`): one statement, or with a client
/// mutation ID one transaction, retried as a replay when another node won the race.
pub(super) async fn create_message(pool: &PgPool, message: &NewMessage) -> StoreResult<CreateOutcome> {
    if let Some(outcome) = try_insert(pool, message).await? {
        return Ok(outcome);
    }
    // Lost a race on the client mutation ID: the winner's message is the answer.
    let token = message.client_mutation_id.as_deref().unwrap_or_default();
    let mut conn = pool.acquire().await?;
    let earlier = ChatWrites::<Postgres>::by_client_mutation(&mut conn, message, token).await?;
    earlier.map(CreateOutcome::Replayed).ok_or(StoreError::NotFound("message"))
}

/// Marks the other side's messages read (see `Store::mark_read`) in one transaction.
pub(super) async fn mark_read(pool: &PgPool, request: &MarkRead) -> StoreResult<Vec<MessageId>> {
    let mut tx = pool.begin().await?;
    let ids = ChatWrites::<Postgres>::mark_read_in(&mut tx, request).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Stores a message in one statement: the chat row is locked and bumped (the new seq,
/// the unread counter, the last message, and the support inbox's waiting time, opening
/// and status), the message and its event are inserted, and so are the statistics rows
/// (`support_responses`, `support_days`, `support_agent_days`) — the counter rule (see
/// the store module) that SQLite's insert trigger keeps. `locked` reads the chat as it
/// was before this message (the statistics need it; `RETURNING` gives only the new row).
/// With a client mutation ID the insert does nothing on a conflict, no row comes back,
/// and the statistics rows, which join the inserted message, are not written either.
fn insert_statement(sent_by: Side) -> String {
    let unread = unread_column(sent_by);
    let (support, counts, answered) = match sent_by {
        Side::Admin => (
            "awaiting_since = NULL",
            "0, 1, 0",
            "response AS (INSERT INTO support_responses (seller_id, waiting_since, answered_at, agent) \
                          SELECT chat.seller_id, chat.was_awaiting, $5, COALESCE($3, 'operator') FROM chat, message \
                          WHERE chat.was_awaiting IS NOT NULL), \
             agent_day AS (INSERT INTO support_agent_days (day, agent, messages) \
                           SELECT $5 / 86400000, COALESCE($3, 'operator'), 1 FROM message \
                           ON CONFLICT (day, agent) DO UPDATE SET messages = support_agent_days.messages + 1), ",
        ),
        Side::Seller => (
            "awaiting_since = COALESCE(c.awaiting_since, $5), opened_at = COALESCE(c.opened_at, $5), status = 'open'",
            "1, 0, CASE WHEN chat.was_opened IS NULL THEN 1 ELSE 0 END",
            "",
        ),
    };
    format!(
        "WITH new_id AS (SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id), \
         locked AS (SELECT seller_id, awaiting_since, opened_at FROM chats WHERE seller_id = $1 FOR UPDATE), \
         chat AS (UPDATE chats c SET message_count = c.message_count + 1, {unread} = c.{unread} + 1, \
                  last_message_id = (SELECT id FROM new_id), {support} \
                  FROM locked WHERE c.seller_id = locked.seller_id \
                  RETURNING c.seller_id, c.message_count, c.last_message_id, locked.awaiting_since AS was_awaiting, locked.opened_at AS was_opened), \
         message AS (INSERT INTO messages (id, seller_id, seq, sent_by, sender_label, body, created_at, client_mutation_id) \
                     SELECT last_message_id, seller_id, message_count, $2, $3, $4, $5, $6 FROM chat \
                     ON CONFLICT (seller_id, sent_by, client_mutation_id) WHERE client_mutation_id IS NOT NULL DO NOTHING \
                     RETURNING id, seller_id, seq, created_at), \
         event AS (INSERT INTO events (seller_id, kind, message_id, created_at) \
                   SELECT seller_id, 'message_created', id, created_at FROM message), \
         {answered}\
         day AS (INSERT INTO support_days (day, shard, seller_messages, admin_messages, chats_opened) \
                 SELECT $5 / 86400000, chat.seller_id % 16, {counts} FROM chat, message \
                 ON CONFLICT (day, shard) DO UPDATE SET seller_messages = support_days.seller_messages + excluded.seller_messages, \
                 admin_messages = support_days.admin_messages + excluded.admin_messages, \
                 chats_opened = support_days.chats_opened + excluded.chats_opened) \
         SELECT (SELECT count(*) FROM chat), message.id, message.seq FROM (SELECT 1) AS one LEFT JOIN message ON true"
    )
}

/// What the insert statement found: no chat, a conflict, or the new message's (id, seq).
enum Inserted {
    NoSuchChat,
    Conflict,
    Stored(i64, i64),
}

async fn run_insert(conn: &mut PgConnection, message: &NewMessage) -> StoreResult<Inserted> {
    let (chats, id, seq): (i64, Option<i64>, Option<i64>) = sqlx::query_as(&insert_statement(message.sent_by))
        .bind(message.seller_id.get())
        .bind(message.sent_by.as_str())
        .bind(&message.sender_label)
        .bind(&message.body)
        .bind(message.now.get())
        .bind(&message.client_mutation_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(match (chats, id, seq) {
        (0, _, _) => Inserted::NoSuchChat,
        (_, Some(id), Some(seq)) => Inserted::Stored(id, seq),
        _ => Inserted::Conflict,
    })
}

/// One write attempt; `Ok(None)` when another node stored the same client mutation ID
/// concurrently (the caller then returns that message).
async fn try_insert(pool: &PgPool, message: &NewMessage) -> StoreResult<Option<CreateOutcome>> {
    let Some(token) = &message.client_mutation_id else {
        // The common case is one statement in its own implicit transaction.
        let mut conn = pool.acquire().await?;
        return match run_insert(&mut conn, message).await? {
            Inserted::Stored(id, seq) => Ok(Some(CreateOutcome::Created(message.stored(id, seq)))),
            Inserted::NoSuchChat => Err(StoreError::NotFound("seller")),
            Inserted::Conflict => Err(StoreError::CommitFailed("unexpected conflict without a client mutation ID".to_owned())),
        };
    };
    let mut tx = pool.begin().await?;
    if let Some(earlier) = ChatWrites::<Postgres>::replayable(&mut tx, message, token).await? {
        return Ok(Some(CreateOutcome::Replayed(earlier)));
    }
    match run_insert(&mut tx, message).await? {
        Inserted::Stored(id, seq) => {
            tx.commit().await?;
            Ok(Some(CreateOutcome::Created(message.stored(id, seq))))
        }
        Inserted::NoSuchChat => Err(StoreError::NotFound("seller")),
        // Another node committed the same token meanwhile: undo the counter bump.
        Inserted::Conflict => Ok(None),
    }
}
