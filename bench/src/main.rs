//! marketchat-bench: starts marketchat on loopback, drives it over real HTTP and
//! WebSockets with bounded counts, prints a table and writes JSON.
//!
//! `cargo run --release --bin marketchat-bench -- [SCENARIO…] [--quick] [--json FILE]`
//! Scenarios: send, history, read, chats, inbox, fanout, marketplace, idle, postgres, search
//! (default: all). Floors always run.

#![forbid(unsafe_code)]

/// The server binary's allocator, so the servers under test (run in-process by a child
/// of this binary) allocate as `marketchat serve` does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod procfs;
mod scenarios;
mod server;
mod stats;

use anyhow::{bail, Result};
use clap::Parser;
use marketchat::config::{RateLimits, ServerConfig};
use scenarios::{Bench, Scale};
use std::path::PathBuf;
use stats::Row;

/// Every scenario, in run order.
const SCENARIOS: [&str; 10] = ["send", "history", "read", "chats", "inbox", "fanout", "marketplace", "idle", "postgres", "search"];

/// marketchat-bench: measured speed of marketchat on this machine.
#[derive(Parser)]
struct Args {
    /// Scenarios to run (default: all): send, history, read, chats, inbox, fanout,
    /// marketplace, idle, postgres, search.
    scenarios: Vec<String>,
    /// Smaller counts: every scenario in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    let runtime = tokio::runtime::Runtime::new()?;
    match argv.next().as_deref() {
        Some("serve-child") => return runtime.block_on(serve_child(argv.next().unwrap_or_default())),
        Some("hello-child") => return runtime.block_on(hello_child()),
        _ => {}
    }
    let args = Args::parse();
    for scenario in &args.scenarios {
        if !SCENARIOS.contains(&scenario.as_str()) {
            bail!("unknown scenario {scenario:?} (known: {})", SCENARIOS.join(", "));
        }
    }
    let fd_limit = server::raise_fd_limit();
    runtime.block_on(run(args, fd_limit))
}

async fn run(args: Args, fd_limit: u64) -> Result<()> {
    let wanted = |name: &str| args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == name);
    let bench = Bench::new(Scale { quick: args.quick })?;
    eprintln!("marketchat-bench ({} run, {} cores, open-file limit {fd_limit})", if args.quick { "quick" } else { "full" }, cores());
    let (mut rows, _per_commit, batched, hello) = bench.floors().await?;
    if wanted("send") {
        rows.extend(bench.send(hello, batched).await?);
    }
    if wanted("history") {
        rows.extend(bench.history().await?);
    }
    if wanted("read") {
        rows.extend(bench.read().await?);
    }
    if wanted("chats") {
        rows.extend(bench.chat_list().await?);
    }
    if wanted("inbox") {
        rows.extend(bench.inbox().await?);
    }
    if wanted("fanout") {
        rows.extend(bench.fanout().await?);
    }
    if wanted("marketplace") {
        rows.extend(bench.marketplace().await?);
    }
    if wanted("idle") {
        rows.extend(bench.idle(fd_limit).await?);
    }
    if wanted("postgres") {
        rows.extend(bench.postgres(hello).await?);
    }
    if wanted("search") {
        rows.extend(bench.search().await?);
    }
    stats::print_table(&rows);
    if let Some(path) = &args.json {
        write_json(path, &rows, args.quick)?;
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn write_json(path: &PathBuf, rows: &[Row], quick: bool) -> Result<()> {
    let report = serde_json::json!({
        "quick": quick,
        "cores": cores(),
        "results": rows,
    });
    std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

/// Child mode: the real server on a database, on a free loopback port.
async fn serve_child(database_url: String) -> Result<()> {
    // What the server logs at RUST_LOG's level (the bench sets it), on stderr.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    let store = marketchat::store::connect(&database_url, &Default::default()).await?;
    // Rate limits off, as SPEC §6 allows for benchmarks: the bench sends as fast as it can.
    // Every simulated client of a scenario shares one key, so the per-key socket cap is
    // lifted along with the rate limits.
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse()?,
        rate_limits: RateLimits::off(),
        max_sockets_per_credential: usize::MAX,
        ..ServerConfig::default()
    };
    let shutdown = marketchat::app::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    marketchat::app::launch(&config, store, listener, shutdown).stopped().await?;
    Ok(())
}

/// Child mode: the floor, an axum hello-world answering a small JSON body.
async fn hello_child() -> Result<()> {
    use axum::routing::post;
    let app = axum::Router::new().route("/hello", post(|| async { axum::Json(serde_json::json!({ "data": { "ok": true } })) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
