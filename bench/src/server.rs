//! Servers under test run as child processes of the bench (the bench binary itself in a
//! child mode), so their memory can be read from /proc and their CPU is their own.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running child server; killed on drop.
pub struct ChildServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ChildServer {
    /// Starts `marketchat-bench <mode> [args…]` and waits for its `listening on` line.
    pub fn start(mode: &str, args: &[&str]) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(mode)
            .args(args)
            // MARKETCHAT_BENCH_SERVER_LOG (a RUST_LOG filter) shows more of what it logs.
            .env("RUST_LOG", std::env::var("MARKETCHAT_BENCH_SERVER_LOG").unwrap_or_else(|_| "error".to_owned()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not start the server under test")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("server under test did not start: {line:?}");
        };
        Ok(Self { base: addr.to_owned(), child })
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        crate::procfs::status_kib(self.pid(), "VmRSS:")
    }

    /// Peak resident memory of the server process since it started (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        crate::procfs::status_kib(self.pid(), "VmHWM:")
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this process's open-file limit as far as allowed (children inherit it); 0 when
/// the limit cannot be read.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}
