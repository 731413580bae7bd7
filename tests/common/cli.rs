//! The `marketchat` command line run as a real process on a test's database.

use crate::common::wait::wait_until_blocking;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long a command may run before it is killed and its output taken as it is.
const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(20);

/// `marketchat` on `database_url`, logging only warnings and errors (`RUST_LOG=warn`); the
/// caller adds arguments and more environment, and runs it.
pub fn marketchat_command(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marketchat"));
    command.env("MARKETCHAT_DATABASE_URL", database_url).env("RUST_LOG", "warn");
    command
}

/// Runs `marketchat` on `database_url` with `args` (`RUST_LOG=warn` unless `env` sets it),
/// `stdin` written to its standard input, and waits at most 20 s (a process still running
/// then is killed, and its output returned as it is).
pub fn run_marketchat(database_url: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = marketchat_command(database_url)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run marketchat");
    if let Some(input) = stdin {
        let _ = writeln!(child.stdin.take().expect("stdin"), "{input}");
    }
    drop(child.stdin.take());
    wait_until_blocking(COMMAND_TIME_LIMIT, || child.try_wait().expect("wait").is_some());
    let _ = child.kill();
    child.wait_with_output().expect("output")
}
