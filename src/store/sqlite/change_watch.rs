//! Whether anything but the group committer may have committed since a value was read
//! from storage, asked on every request without leaving the calling thread, so that
//! credentials and settings can be cached yet a change made by this process (a revoked
//! key, the chat switch) or by another (the `marketchat` CLI beside a server) is seen by
//! the next request.
//!
//! SQLite's `PRAGMA data_version` tells a connection whether any *other* connection
//! committed since it last looked. A private read-only connection (the probe) asks it on
//! each request; a change it sees moves the epoch, and values cached under an older
//! epoch are read again. The group committer's own commits (messages, read marks, which
//! never touch credentials or settings) must not move it, or every send would empty the
//! caches; but the probe cannot tell them from others. So the committer brackets each
//! batch ([`ChangeWatch::begin_batch`]): inside its write transaction, where nobody else
//! can commit, it moves the epoch if the probe sees anything new; while the batch commits
//! a change the probe sees is not trusted (the caller reads storage instead); after the
//! commit it re-reads the probe, and asks the writer connection itself (whose
//! `data_version` ignores its own commits, and every in-process write uses it) whether
//! another process committed in between ([`Batch::finish`]).

use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;
use std::sync::{Mutex, MutexGuard};

/// The epoch, and the probe connection that moves it.
pub(super) struct ChangeWatch {
    state: Mutex<State>,
}

struct State {
    probe: Probe,
    /// `data_version` when last seen by a request or the committer.
    last_seen: Option<i64>,
    /// Moves whenever something other than the group committer may have committed.
    epoch: u64,
    /// A batch is being committed: a change seen now may be the batch's own.
    committing: bool,
}

impl ChangeWatch {
    /// Watches the database file at `path`; `None` for an in-memory database (nothing
    /// else can see it, and a probe would open a different one) or when the probe cannot
    /// be opened (callers then always read storage).
    pub(super) fn open(path: &Path) -> Option<Self> {
        let probe = Probe::open(path).map_err(|error| tracing::warn!(%error, "no change probe: credentials and settings are read on every request")).ok()?;
        let mut state = State { probe, last_seen: None, epoch: 0, committing: false };
        state.last_seen = state.probe.data_version();
        Some(Self { state: Mutex::new(state) })
    }

    /// The epoch now, if values cached under it may be used: `None` while a change the
    /// probe sees could be the committing batch's own, or when the probe fails.
    pub(super) fn current(&self) -> Option<u64> {
        let mut state = self.lock();
        let seen = state.probe.data_version()?;
        if state.last_seen != Some(seen) {
            if state.committing {
                return None;
            }
            state.epoch += 1;
            state.last_seen = Some(seen);
        }
        Some(state.epoch)
    }

    /// Starts bracketing a batch; call inside the batch's write transaction, before any
    /// of its statements, while no other connection can commit.
    pub(super) fn begin_batch(&self) -> Batch<'_> {
        let mut state = self.lock();
        let seen = state.probe.data_version();
        if seen.is_none() || seen != state.last_seen {
            state.epoch += 1;
            state.last_seen = seen;
        }
        state.committing = true;
        Batch { watch: self, finished: false }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A batch being committed; [`Batch::finish`] ends it (dropping it unfinished moves the
/// epoch, to be safe).
pub(super) struct Batch<'a> {
    watch: &'a ChangeWatch,
    finished: bool,
}

impl Batch<'_> {
    /// What the probe sees once the batch's transaction has ended; read this before
    /// asking the writer connection whether another process committed.
    pub(super) fn seen_after_commit(&self) -> Option<i64> {
        self.watch.lock().probe.data_version()
    }

    /// Ends the batch: `seen` is [`Batch::seen_after_commit`]; `others_committed` says
    /// whether the writer connection's `data_version` moved between the start of the
    /// batch's transaction and after `seen` was read (`None`: it could not tell).
    pub(super) fn finish(mut self, seen: Option<i64>, others_committed: Option<bool>) {
        self.finished = true;
        let mut state = self.watch.lock();
        if seen.is_none() || others_committed != Some(false) {
            state.epoch += 1;
        }
        if seen.is_some() {
            state.last_seen = seen;
        }
        state.committing = false;
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.watch.lock();
            state.epoch += 1;
            state.committing = false;
        }
    }
}

/// A private read-only connection with `PRAGMA data_version` prepared.
struct Probe {
    db: *mut ffi::sqlite3,
    statement: *mut ffi::sqlite3_stmt,
}

// The connection is opened in multi-thread mode and only used under `ChangeWatch`'s
// mutex, one thread at a time.
unsafe impl Send for Probe {}

impl Probe {
    fn open(path: &Path) -> Result<Self, String> {
        let name = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        let mut probe = Probe { db: ptr::null_mut(), statement: ptr::null_mut() };
        let flags = ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `name` is a valid C string; `probe.db` receives the handle, which Drop
        // closes even when opening failed.
        let code = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut probe.db, flags, ptr::null()) };
        if code != ffi::SQLITE_OK {
            return Err(probe.error());
        }
        let sql = c"PRAGMA data_version";
        // SAFETY: `probe.db` is open; the statement is finalized in Drop.
        let code = unsafe { ffi::sqlite3_prepare_v2(probe.db, sql.as_ptr(), -1, &mut probe.statement, ptr::null_mut()) };
        if code != ffi::SQLITE_OK {
            return Err(probe.error());
        }
        Ok(probe)
    }

    /// `PRAGMA data_version`; `None` when SQLite cannot answer now (e.g. busy).
    fn data_version(&mut self) -> Option<i64> {
        // SAFETY: the statement belongs to the open connection; it is reset after each use.
        unsafe {
            let value = (ffi::sqlite3_step(self.statement) == ffi::SQLITE_ROW).then(|| ffi::sqlite3_column_int64(self.statement, 0));
            ffi::sqlite3_reset(self.statement);
            value
        }
    }

    fn error(&self) -> String {
        if self.db.is_null() {
            return "out of memory".to_owned();
        }
        // SAFETY: `db` is a handle sqlite3_open_v2 returned; the message is copied at once.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)).to_string_lossy().into_owned() }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: both are null or owned by this probe; finalizing null is a no-op.
        unsafe {
            ffi::sqlite3_finalize(self.statement);
            ffi::sqlite3_close(self.db);
        }
    }
}
