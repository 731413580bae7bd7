//! Operations (SPEC §14): an online backup of a SQLite database, and the consistency
//! check — the database's own integrity checks and every stored counter against the rows
//! it summarises (`store::MaintenanceStore` lists which) — with its repair.

use crate::domain::time::UnixMillis;
use crate::store::{CounterMismatch, Store, StoreError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Why a backup was not made (nothing is left at the target).
#[derive(Debug, Error)]
pub enum BackupError {
    /// The target exists: a backup never overwrites a file.
    #[error("{0} exists; a backup never overwrites a file (remove it or choose another name)")]
    TargetExists(PathBuf),
    /// The target's directory does not exist.
    #[error("directory {0} does not exist")]
    NoDirectory(PathBuf),
    /// Writing, syncing or renaming the file failed.
    #[error("could not write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The database could not make the copy (or refuses to: PostgreSQL).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A finished backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How many messages it holds.
    pub messages: i64,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The database's own integrity problems, one line each.
    pub integrity: Vec<String>,
    /// Stored counters that disagree with the rows.
    pub mismatches: Vec<CounterMismatch>,
    /// Chats checked.
    pub chats: i64,
    /// Messages stored.
    pub messages: i64,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_sound(&self) -> bool {
        self.integrity.is_empty() && self.mismatches.is_empty()
    }

    /// One line per problem: integrity first, then counters.
    pub fn problem_lines(&self) -> Vec<String> {
        let integrity = self.integrity.iter().map(|line| format!("integrity: {line}"));
        integrity.chain(self.mismatches.iter().map(mismatch_line)).collect()
    }
}

/// A mismatch as one line: `chat SELLER_GID: COUNTER stored S, expected E`.
pub fn mismatch_line(mismatch: &CounterMismatch) -> String {
    let place = mismatch.seller_id.map_or_else(|| "database".to_owned(), |id| format!("chat {}", id.gid()));
    let repair = if mismatch.repairable { "" } else { " (not repairable: restore from a backup)" };
    format!("{place}: {} stored {}, expected {}{repair}", mismatch.counter, mismatch.stored, mismatch.expected)
}

/// How long a scrape waits for the database before reporting it down.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The database's health at one scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Whether the database answered.
    pub database_up: bool,
    /// Notification e-mails due but unsent.
    pub notification_backlog: Option<i64>,
}

/// Backups and consistency checks over one store.
pub struct Operations {
    store: Arc<dyn Store>,
}

impl Operations {
    /// Operations on `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Checks integrity and every derived counter, reading one snapshot for the counters.
    pub async fn check(&self) -> Result<CheckReport, StoreError> {
        let integrity = self.store.integrity_problems().await?;
        let mismatches = self.store.counter_mismatches().await?;
        let (chats, messages) = self.store.chat_and_message_totals().await?;
        Ok(CheckReport { integrity, mismatches, chats, messages })
    }

    /// What `/metrics` reports at each scrape besides the counters: whether the database
    /// answers (within 2 s), and how many notification e-mails are due but unsent (`None`
    /// when the database did not answer).
    pub async fn health(&self, now: UnixMillis) -> Health {
        let answered = tokio::time::timeout(HEALTH_TIMEOUT, self.store.ping()).await;
        if !matches!(answered, Ok(Ok(()))) {
            return Health { database_up: false, notification_backlog: None };
        }
        let backlog = tokio::time::timeout(HEALTH_TIMEOUT, self.store.due_email_backlog(now)).await;
        Health { database_up: true, notification_backlog: backlog.ok().and_then(Result::ok) }
    }

    /// Recomputes every repairable counter in one transaction; returns what it changed.
    pub async fn repair(&self) -> Result<Vec<CounterMismatch>, StoreError> {
        self.store.repair_counters().await
    }

    /// Copies the live database to `target`: into a temporary file (0600) beside it,
    /// synced, then renamed into place and the directory synced, so `target` is either
    /// absent or a whole copy. Refuses an existing `target`.
    pub async fn backup(&self, target: &Path) -> Result<BackupSummary, BackupError> {
        if target.exists() {
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if !directory.is_dir() {
            return Err(BackupError::NoDirectory(directory));
        }
        let file_name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".to_owned());
        let temporary = directory.join(format!(".{file_name}.partial-{}", std::process::id()));
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| BackupError::Io { path, source }
        };
        create_private_empty(&temporary).map_err(io_error(&temporary))?;
        let written = self.write_copy(&temporary, target, &directory).await;
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }

    /// The copy into `temporary`, then the syncs and the rename to `target`.
    async fn write_copy(&self, temporary: &Path, target: &Path, directory: &Path) -> Result<BackupSummary, BackupError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| BackupError::Io { path, source }
        };
        let messages = self.store.backup_into(temporary).await?;
        std::fs::File::open(temporary).and_then(|file| file.sync_all()).map_err(io_error(temporary))?;
        if target.exists() {
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        std::fs::rename(temporary, target).map_err(io_error(target))?;
        std::fs::File::open(directory).and_then(|dir| dir.sync_all()).map_err(io_error(directory))?;
        let bytes = std::fs::metadata(target).map_err(io_error(target))?.len();
        tracing::info!(path = %target.display(), bytes, messages, "backup written");
        Ok(BackupSummary { path: target.to_owned(), bytes, messages })
    }
}

/// Creates an empty file readable and writable by its owner only.
fn create_private_empty(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}
