//! Group commit for SQLite: writes that arrive while a transaction is being written
//! share the next transaction, so many messages cost one fsync. A lone writer is never
//! delayed: the committer takes whatever is queued at that moment, even one write, and
//! stores a run of messages several statements per round trip to the connection's worker
//! thread.
//! Nobody is answered before the COMMIT is durable. The expected refusals (an unknown
//! seller) write nothing, so they share a batch safely; if a statement fails for any
//! other reason the batch is rolled back and each write retried in a transaction of its
//! own, so one bad write never takes others down with it.

use crate::domain::ids::MessageId;
use super::writes::{insert_message, insert_messages};
use crate::store::chats::ChatWrites;
use crate::store::records::{CreateOutcome, MarkRead, NewMessage, StoreError, StoreResult};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction takes.
const MAX_BATCH: usize = 512;
/// Writes waiting for the committer before senders wait too.
const QUEUE_DEPTH: usize = 4096;

enum WriteOp {
    Create(NewMessage, oneshot::Sender<StoreResult<CreateOutcome>>),
    Read(MarkRead, oneshot::Sender<StoreResult<Vec<MessageId>>>),
}

impl WriteOp {
    /// The message, if this stores one without a `client_mutation_id` (nothing to replay).
    fn plain_message(&self) -> Option<&NewMessage> {
        match self {
            WriteOp::Create(message, _) if message.client_mutation_id.is_none() => Some(message),
            _ => None,
        }
    }
}

enum Applied {
    Create(StoreResult<CreateOutcome>),
    Read(StoreResult<Vec<MessageId>>),
}

/// The handle writers use; the committer task runs until every handle is dropped.
pub(super) struct GroupCommitter {
    queue: mpsc::Sender<WriteOp>,
}

impl GroupCommitter {
    /// Starts the committer on `writer` (a one-connection pool).
    pub(super) fn start(writer: SqlitePool) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(writer, pending));
        Self { queue }
    }

    /// Stores a message in the next group transaction.
    pub(super) async fn create_message(&self, message: NewMessage) -> StoreResult<CreateOutcome> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(WriteOp::Create(message, reply)).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Marks messages read in the next group transaction.
    pub(super) async fn mark_read(&self, request: MarkRead) -> StoreResult<Vec<MessageId>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(WriteOp::Read(request, reply)).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(writer: SqlitePool, mut pending: mpsc::Receiver<WriteOp>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = pending.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match pending.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        commit_batch(&writer, &mut batch).await;
    }
}

/// Applies and commits one batch, then answers every writer in it.
async fn commit_batch(writer: &SqlitePool, batch: &mut Vec<WriteOp>) {
    let applied = match apply_all(writer, batch).await {
        Ok(applied) => applied,
        Err(_) if batch.len() > 1 => {
            // Isolate the failure: every write alone, in its own transaction.
            let mut applied = Vec::with_capacity(batch.len());
            for op in batch.iter() {
                applied.push(apply_alone(writer, op).await);
            }
            applied
        }
        Err(error) => return fail_all(batch, &error.to_string()),
    };
    for (op, result) in batch.drain(..).zip(applied) {
        // A writer that gave up waiting is fine: its write is committed all the same.
        match (op, result) {
            (WriteOp::Create(_, reply), Applied::Create(result)) => drop(reply.send(result)),
            (WriteOp::Read(_, reply), Applied::Read(result)) => drop(reply.send(result)),
            _ => unreachable!("results are zipped with their own operations"),
        }
    }
}

/// All writes of the batch in one transaction; any database error aborts it whole.
async fn apply_all(writer: &SqlitePool, batch: &[WriteOp]) -> Result<Vec<Applied>, StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut applied = Vec::with_capacity(batch.len());
    while applied.len() < batch.len() {
        let rest = &batch[applied.len()..];
        // A run of plain messages goes in a few round trips; anything else one by one,
        // in arrival order.
        let run: Vec<&NewMessage> = rest.iter().map_while(WriteOp::plain_message).collect();
        if !run.is_empty() {
            applied.extend(insert_messages(&mut tx, &run).await?.into_iter().map(Applied::Create));
            continue;
        }
        match apply(&mut tx, &rest[0]).await {
            Applied::Create(Err(StoreError::Database(error))) | Applied::Read(Err(StoreError::Database(error))) => {
                return Err(StoreError::Database(error));
            }
            result => applied.push(result),
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// One write in its own transaction.
async fn apply_alone(writer: &SqlitePool, op: &WriteOp) -> Applied {
    let result = async {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let applied = apply(&mut tx, op).await;
        if applied.error().is_none() {
            tx.commit().await?;
        }
        Ok::<_, StoreError>(applied)
    };
    match result.await {
        Ok(applied) => applied,
        Err(error) => Applied::failed(op, error),
    }
}

async fn apply(tx: &mut Transaction<'static, Sqlite>, op: &WriteOp) -> Applied {
    match op {
        WriteOp::Create(message, _) => Applied::Create(insert_message(tx, message).await),
        WriteOp::Read(request, _) => Applied::Read(ChatWrites::<Sqlite>::mark_read_in(tx, request).await),
    }
}

impl Applied {
    fn error(&self) -> Option<&StoreError> {
        match self {
            Applied::Create(Err(error)) | Applied::Read(Err(error)) => Some(error),
            _ => None,
        }
    }

    fn failed(op: &WriteOp, error: StoreError) -> Self {
        match op {
            WriteOp::Create(..) => Applied::Create(Err(error)),
            WriteOp::Read(..) => Applied::Read(Err(error)),
        }
    }
}

fn fail_all(batch: &mut Vec<WriteOp>, reason: &str) {
    for op in batch.drain(..) {
        let error = || StoreError::CommitFailed(reason.to_owned());
        match op {
            WriteOp::Create(_, reply) => drop(reply.send(Err(error()))),
            WriteOp::Read(_, reply) => drop(reply.send(Err(error()))),
        }
    }
}
