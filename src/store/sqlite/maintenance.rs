//! SQLite's part of maintenance: its own integrity checks, and the online backup
//! (`VACUUM INTO`, a consistent snapshot read beside the writer).

use crate::store::records::{StoreError, StoreResult};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use std::path::Path;

/// `PRAGMA integrity_check` (pages, indexes, the FTS index's structure) and
/// `PRAGMA foreign_key_check`: one line per problem.
pub(super) async fn integrity_problems(readers: &SqlitePool) -> StoreResult<Vec<String>> {
    let mut problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(readers).await?;
    problems.retain(|line| line != "ok");
    let dangling: Vec<(String, Option<i64>, String)> =
        sqlx::query_as("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check").fetch_all(readers).await?;
    problems.extend(dangling.into_iter().map(|(table, rowid, parent)| {
        format!("{table} row {} refers to a missing {parent} row", rowid.map_or_else(|| "?".to_owned(), |r| r.to_string()))
    }));
    Ok(problems)
}

/// Writes a snapshot of the database into the empty file at `path` with `VACUUM INTO`
/// on a reader connection (a read transaction: writers carry on meanwhile), then opens
/// the copy, checks it (`quick_check`) and counts its messages.
pub(super) async fn backup_into(readers: &SqlitePool, path: &Path) -> StoreResult<i64> {
    let target = path.to_str().ok_or_else(|| StoreError::NoDatabase(format!("{} is not a UTF-8 path", path.display())))?;
    sqlx::query("VACUUM INTO $1").bind(target).execute(readers).await?;
    // Immutable: the copy is only read here, and nothing (no -wal, no -shm) is made beside it.
    let options = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
    let mut copy = SqliteConnection::connect_with(&options).await?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut copy).await?;
    if check != "ok" {
        return Err(StoreError::BackupCheckFailed(check));
    }
    let messages = sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(&mut copy).await?;
    copy.close().await?;
    Ok(messages)
}
