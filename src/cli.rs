//! The `marketchat` command line: clap definitions and what each command does.

use crate::accounts::{Accounts, NewUserKind};
use crate::app::{self, AppState};
use crate::config::ServerConfig;
use crate::demo;
use crate::domain::ids::{seller_gid, GlobalId, IdKind};
use crate::domain::keys::generate_key;
use crate::webhooks;
use crate::service::{system_clock, ChatService};
use crate::store::{self, DatabaseSettings, Store};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::sync::Arc;

/// marketchat: in-app chat between a marketplace operator and its sellers.
#[derive(Debug, Parser)]
#[command(name = "marketchat", version, about)]
pub struct Cli {
    /// Database: sqlite://PATH (embedded) or postgres://… (scale-out).
    #[arg(long, global = true, env = "MARKETCHAT_DATABASE_URL", default_value = "sqlite://marketchat.db")]
    pub database_url: String,
    /// Database connection settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServerConfig),
    /// Run the server on a temporary database with demo data, keys printed.
    Demo(ServerConfig),
    /// Apply database migrations.
    Migrate,
    /// Manage sellers.
    #[command(subcommand)]
    Seller(SellerCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage webhook endpoints.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Manage portal users.
    #[command(subcommand)]
    User(UserCommand),
    /// Change settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Print one seller's thread as JSON Lines, oldest first.
    Export {
        /// The seller's ID.
        #[arg(long)]
        seller: String,
    },
}

/// `marketchat seller …`
#[derive(Debug, Subcommand)]
pub enum SellerCommand {
    /// Create a seller (and its empty chat); prints its ID.
    Create {
        /// The business name.
        #[arg(long)]
        name: String,
    },
    /// List sellers: `ID<TAB>NAME` a line.
    List,
}

/// Who a new key belongs to.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeyOwner {
    /// An operator key.
    #[arg(long)]
    operator: bool,
    /// A key of this seller (its ID).
    #[arg(long)]
    seller: Option<String>,
}

/// `marketchat key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key, which is shown only this once.
    Create {
        /// Whose key.
        #[command(flatten)]
        owner: KeyOwner,
        /// A label; on operator keys it is the `sentBy` of messages sent with it.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its ID.
    Revoke {
        /// The key's ID, as `key list` prints it.
        key_id: String,
    },
}

/// `marketchat webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint; prints `ID<TAB>SECRET` (the secret is shown only now).
    Add {
        /// The http(s) URL deliveries are POSTed to.
        url: String,
        /// Event types, comma-separated: chat_message.created, chat_message.read (default: both).
        #[arg(long)]
        events: Option<String>,
        /// Allow a loopback, private or other non-public destination (as `serve --webhook-allow-private`).
        #[arg(long, env = "MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
        webhook_allow_private: bool,
    },
    /// List endpoints (never their secrets).
    List,
    /// Remove an endpoint.
    Remove {
        /// The endpoint's ID.
        id: String,
    },
    /// The endpoint's latest delivery attempts, newest first, one a line:
    /// `TIME<TAB>STATUS<TAB>ERROR<TAB>NEXT_RETRY<TAB>EVENT_ID` (`-` where there is none).
    Deliveries {
        /// The endpoint's ID, as `webhook list` prints it.
        id: String,
        /// How many attempts to show.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
}

/// Who a new portal user belongs to.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct UserOwner {
    /// An operator user (requires --role).
    #[arg(long, requires = "role")]
    operator: bool,
    /// A user of this seller (its ID).
    #[arg(long)]
    seller: Option<String>,
}

/// `marketchat user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a portal user; the password is read from stdin (first line). Prints the ID.
    Create {
        /// Operator or seller.
        #[command(flatten)]
        owner: UserOwner,
        /// Operator role: customer-support, marketing, finance, webmaster, full-admin, viewer.
        #[arg(long, value_parser = clap::value_parser!(String))]
        role: Option<String>,
        /// Login e-mail address.
        #[arg(long)]
        email: String,
        /// Display name (operator users: shown as `sentBy` to the operator side).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `marketchat settings …`
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Set a setting.
    Set {
        /// The setting.
        #[arg(value_enum)]
        name: SettingName,
        /// `true` or `false`.
        #[arg(action = clap::ArgAction::Set)]
        value: bool,
    },
}

/// Settings that can be changed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SettingName {
    /// Whether sellers can use in-app chat.
    ChatEnabled,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    let open = |url: &str| open(url.to_owned(), cli.database.clone());
    match cli.command {
        Command::Serve(config) => {
            let store = open(&cli.database_url).await?;
            serve(store, config, |_| Ok(())).await
        }
        Command::Demo(config) => demo::run(config).await,
        Command::Migrate => open(&cli.database_url).await.map(drop),
        Command::Seller(command) => seller(&*open(&cli.database_url).await?, command).await,
        Command::Key(command) => key(&*open(&cli.database_url).await?, command).await,
        Command::Webhook(command) => webhook(&*open(&cli.database_url).await?, command).await,
        Command::User(UserCommand::Create { owner, role, email, name }) => {
            let kind = match (owner.seller, role) {
                (Some(raw), _) => NewUserKind::Seller(seller_argument(&raw)?),
                (None, Some(role)) => NewUserKind::Operator(role.parse().map_err(|e: String| anyhow::anyhow!(e))?),
                (None, None) => bail!("--operator needs --role"),
            };
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let accounts = Accounts::new(open(&cli.database_url).await?);
            let user = accounts.create_user(&email, name.as_deref(), password, kind).await?;
            println!("{}", user.id);
            Ok(())
        }
        Command::Settings(SettingsCommand::Set { name: SettingName::ChatEnabled, value }) => {
            let service = ChatService::new(open(&cli.database_url).await?, Default::default(), system_clock());
            Ok(service.set_chat_enabled(value).await?)
        }
        Command::Export { seller } => export(&*open(&cli.database_url).await?, &seller).await,
    }
}

/// Opens the store and applies migrations.
pub async fn open(database_url: String, settings: DatabaseSettings) -> Result<Arc<dyn Store>> {
    store::connect(&database_url, &settings).await.with_context(|| "could not open the database".to_owned())
}

/// Binds, prints `listening on http://ADDR`, lets `announce` print more, and serves
/// until SIGTERM or Ctrl-C.
pub async fn serve(
    store: Arc<dyn Store>,
    config: ServerConfig,
    announce: impl FnOnce(std::net::SocketAddr) -> Result<()>,
) -> Result<()> {
    if let Some(path) = &config.webhook_ca_file {
        crate::webhooks::tls::read_pem_bundle(path).map_err(|e| anyhow::anyhow!(e))?;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("could not listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    announce(addr)?;
    std::io::stdout().flush()?;
    let open_files = crate::config::raise_open_file_limit();
    tracing::info!(%addr, open_files, max_connections = config.connection_cap(), "serving");
    let state = Arc::new(AppState::new(store, &config));
    app::serve(state, listener, app::shutdown_signal()).await?;
    Ok(())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Decodes a seller ID argument, accepting a global ID or a plain row number.
fn seller_argument(raw: &str) -> Result<i64> {
    parse_id(raw, IdKind::Seller)
}

fn parse_id(raw: &str, kind: IdKind) -> Result<i64> {
    if let Ok(number) = raw.parse::<i64>() {
        if number > 0 {
            return Ok(number);
        }
    }
    GlobalId::decode_as(raw, kind).map_err(|e| anyhow::anyhow!("{raw:?} {e}"))
}

async fn seller(store: &dyn Store, command: SellerCommand) -> Result<()> {
    match command {
        SellerCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("--name can't be blank");
            }
            let seller = store.create_seller(name, now()).await?;
            println!("{}", seller_gid(seller.id));
        }
        SellerCommand::List => {
            let mut query = store::SellerListQuery { limit: 500, ..Default::default() };
            let mut out = std::io::stdout().lock();
            loop {
                let page = store.list_sellers(&query).await?;
                for seller in &page.items {
                    writeln!(out, "{}\t{}", seller_gid(seller.id), seller.business_name)?;
                }
                match (page.has_more, page.items.last()) {
                    (true, Some(last)) => {
                        query.after = Some(crate::domain::cursor::SellerCursor {
                            name_key: last.business_name.to_lowercase(),
                            seller_id: last.id,
                        })
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

async fn key(store: &dyn Store, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Create { owner, label } => {
            let seller_id = match owner.seller {
                Some(raw) => {
                    let id = seller_argument(&raw)?;
                    if store.seller(id).await?.is_none() {
                        bail!("no seller with ID {raw}");
                    }
                    Some(id)
                }
                None => None,
            };
            let key = generate_key(&mut rand::thread_rng());
            store.create_api_key(&key.hash, seller_id, label.as_deref(), now()).await?;
            println!("{}", key.secret);
        }
        KeyCommand::List => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ID\tOWNER\tLABEL\tCREATED\tLAST USED\tSTATUS")?;
            for key in store.list_api_keys().await? {
                let owner = key.seller_id.map_or_else(|| "operator".to_owned(), |id| format!("seller {}", seller_gid(id)));
                let time = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), crate::api::types::format_time);
                let status = if key.revoked_at.is_some() { "revoked" } else { "active" };
                writeln!(
                    out,
                    "{}\t{owner}\t{}\t{}\t{}\t{status}",
                    GlobalId::new(IdKind::ApiKey, key.id).encode(),
                    key.label.as_deref().unwrap_or("-"),
                    time(Some(key.created_at)),
                    time(key.last_used_at),
                )?;
            }
        }
        KeyCommand::Revoke { key_id } => {
            let id = parse_id(&key_id, IdKind::ApiKey)?;
            if !store.revoke_api_key(id, now()).await? {
                bail!("no API key with ID {key_id}");
            }
        }
    }
    Ok(())
}

async fn export(store: &dyn Store, seller: &str) -> Result<()> {
    let seller_id = seller_argument(seller)?;
    if store.seller(seller_id).await?.is_none() {
        bail!("no seller with ID {seller}");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after_seq = 0;
    loop {
        let batch = store.messages_oldest_first(seller_id, after_seq, 500).await?;
        let Some(last) = batch.last() else { break };
        after_seq = last.seq;
        for message in &batch {
            serde_json::to_writer(&mut out, &crate::api::types::export_record(message))?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

async fn webhook(store: &dyn Store, command: WebhookCommand) -> Result<()> {
    match command {
        WebhookCommand::Add { url, events, webhook_allow_private } => {
            let policy = webhooks::DestinationPolicy { allow_private: webhook_allow_private };
            let url = webhooks::check_url(&url, policy).map_err(|e| anyhow::anyhow!(e))?;
            let events = webhooks::parse_event_types(events.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
            let secret = webhooks::new_secret();
            let endpoint = store.create_webhook(&url, &secret, &events, now()).await?;
            println!("{}\t{secret}", GlobalId::new(IdKind::WebhookEndpoint, endpoint.id).encode());
        }
        WebhookCommand::List => {
            let mut out = std::io::stdout().lock();
            for endpoint in store.list_webhooks().await? {
                let status = if endpoint.removed_at.is_some() { "removed" } else { "active" };
                let id = GlobalId::new(IdKind::WebhookEndpoint, endpoint.id).encode();
                writeln!(out, "{id}\t{}\t{}\t{status}", endpoint.url, endpoint.events.join(","))?;
            }
        }
        WebhookCommand::Remove { id } => {
            if !store.remove_webhook(parse_id(&id, IdKind::WebhookEndpoint)?, now()).await? {
                bail!("no active webhook endpoint with ID {id}");
            }
        }
        WebhookCommand::Deliveries { id, limit } => {
            let endpoint_id = parse_id(&id, IdKind::WebhookEndpoint)?;
            if !store.list_webhooks().await?.iter().any(|e| e.id == endpoint_id) {
                bail!("no webhook endpoint with ID {id}");
            }
            let dash = || "-".to_owned();
            let mut out = std::io::stdout().lock();
            for attempt in store.webhook_attempts(endpoint_id, limit).await? {
                let status = attempt.status.map_or_else(dash, |s| s.to_string());
                // One line per attempt, whatever the error says.
                let error = attempt.error.map_or_else(dash, |e| e.replace(['\t', '\n', '\r'], " "));
                let next_retry = attempt.next_retry_at.map_or_else(dash, crate::api::types::format_time);
                let time = crate::api::types::format_time(attempt.attempted_at);
                writeln!(out, "{time}\t{status}\t{error}\t{next_retry}\t{}", attempt.event_id)?;
            }
        }
    }
    Ok(())
}
