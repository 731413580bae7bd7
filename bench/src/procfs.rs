//! What the bench reads from /proc: CPU seconds of a process (utime + stime) and of the
//! PostgreSQL server's processes, and resident memory (VmRSS, VmHWM).

use anyhow::{Context, Result};
use std::collections::HashMap;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards), or `None` when
/// the process is gone.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of a process, in clock ticks (`None` when it is gone).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    // Fields 14 and 15 of stat(5); index 0 here is field 3.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// cutime + cstime: the CPU of a process's reaped children, in clock ticks.
fn children_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    Some(fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?)
}

/// The parent PID of a process.
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// A snapshot of every `postgres` process's CPU ticks, plus the postmaster's reaped
/// children (backends that ended between two snapshots are counted there).
pub struct PostgresCpu {
    per_process: HashMap<u32, u64>,
    reaped: u64,
}

impl PostgresCpu {
    /// Reads every process whose command is `postgres` (the postmaster and its children:
    /// backends, WAL writer, checkpointer, autovacuum …). Needs to see other users'
    /// processes in /proc, as root does.
    pub fn snapshot() -> Self {
        let mut per_process = HashMap::new();
        let mut reaped = 0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
            let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres");
            if !is_postgres {
                continue;
            }
            if let Some(ticks) = cpu_ticks(pid) {
                per_process.insert(pid, ticks);
            }
            // The postmaster: a postgres process whose parent is not one.
            let parent_is_postgres = parent(pid)
                .and_then(|ppid| std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok())
                .is_some_and(|comm| comm.trim() == "postgres");
            if !parent_is_postgres {
                reaped += children_ticks(pid).unwrap_or(0);
            }
        }
        Self { per_process, reaped }
    }

    /// Clock ticks spent by PostgreSQL since `earlier`: each process's growth (a new one's
    /// whole count) plus the growth of what the postmaster reaped.
    pub fn ticks_since(&self, earlier: &PostgresCpu) -> u64 {
        let live: u64 = self.per_process.iter().map(|(pid, now)| now.saturating_sub(earlier.per_process.get(pid).copied().unwrap_or(0))).sum();
        live + self.reaped.saturating_sub(earlier.reaped)
    }

    /// How many postgres processes were seen.
    pub fn processes(&self) -> usize {
        self.per_process.len()
    }
}

/// A `KEY:   N kB` line of /proc/PID/status, in KiB.
pub fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key}"))?;
    Ok(line.split_whitespace().nth(1).with_context(|| format!("bad {key}"))?.parse()?)
}

/// Samples a process's VmRSS every 20 ms in the background and keeps the largest.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(status_kib(pid, "VmRSS:").unwrap_or(0));
                if stopped.load(Ordering::Relaxed) {
                    return peak;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        Self { stop, task }
    }

    /// Stops sampling; the largest VmRSS seen, in KiB.
    pub async fn finish(self) -> Result<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(self.task.await?)
    }
}
