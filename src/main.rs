use clap::Parser;
use marketchat::cli::{run, Cli};
use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Libraries log frame payloads and headers (API keys, message text) at trace level:
    // only our own code may log at trace, whatever RUST_LOG says.
    let dependencies_at_most_debug = filter_fn(|meta| *meta.level() <= Level::DEBUG || meta.target().starts_with("marketchat"));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter).with_filter(dependencies_at_most_debug);
    tracing_subscriber::registry().with(log).init();
    if let Err(error) = run(Cli::parse()).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
