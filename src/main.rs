#![forbid(unsafe_code)]

use clap::Parser;
use marketchat::cli::{one_line, run, usage_error_line, Cli, LogFormat};
use std::io::IsTerminal as _;
use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

/// jemalloc: per idle subscription and after bursts of connections it keeps less
/// memory than glibc's allocator (docs/benchmarks.md, part 2).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => match usage_error_line(&error) {
            // Usage errors: one line, exit 2 (help and --version print as clap does).
            Some(line) => {
                eprintln!("{line}");
                std::process::exit(2);
            }
            None => error.exit(),
        },
    };
    init_logs(cli.log_format);
    if let Err(error) = run(cli).await {
        eprintln!("error: {}", one_line(&error));
        std::process::exit(1);
    }
}

/// Logs to stderr as text (colour only on a terminal, and not with `NO_COLOR`) or JSON.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Libraries log frame payloads and headers (API keys, message text) at trace level:
    // only our own code may log at trace, whatever RUST_LOG says.
    let dependencies_at_most_debug = filter_fn(|meta| *meta.level() <= Level::DEBUG || meta.target().starts_with("marketchat"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let log = match format {
        LogFormat::Text => text.boxed(),
        LogFormat::Json => text.json().boxed(),
    };
    tracing_subscriber::registry().with(log.with_filter(filter).with_filter(dependencies_at_most_debug)).init();
}
