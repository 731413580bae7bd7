//! The `marketchat` command line: clap definitions and what each command does.

use crate::app;
use crate::config::{DatabaseFlags, ServerConfig};
use crate::demo::Demo;
use crate::domain::ids::{user_gid, GlobalId, IdKind, KeyId, RowId, SellerId, Seq, WebhookId};
use crate::domain::keys;
use crate::domain::time::UnixMillis;
use crate::domain::wire::WireMessage;
use crate::service::accounts::NewUserKind;
use crate::service::webhooks::{self, DestinationPolicy};
use crate::service::provisioning::{SellerChange, SellerRef};
use crate::service::{Accounts, ChatService, Clock, NotificationService, Provisioning, ServiceError, WebhookService};
use crate::store::{self, DatabaseSettings, Store};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::sync::Arc;

/// marketchat: in-app chat between a marketplace operator and its sellers.
#[derive(Debug, Parser)]
#[command(name = "marketchat", version, about)]
pub struct Cli {
    /// Log lines as plain text or as JSON objects (one a line, for log shippers).
    #[arg(long, global = true, env = "MARKETCHAT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// The database, given before the command (as older releases took it); overrides the
    /// command's own `--database-url` and `MARKETCHAT_DATABASE_URL`.
    #[arg(long = "database-url", id = "database_url_before_command", value_name = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colour only when stderr is a terminal).
    Text,
    /// One JSON object a line.
    Json,
}

/// Which database a command uses (every command but `demo`, which makes its own).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database: sqlite://PATH (embedded) or postgres://… (scale-out).
    #[arg(long, global = true, env = "MARKETCHAT_DATABASE_URL", default_value = "sqlite://marketchat.db")]
    pub database_url: String,
    /// Database connection settings.
    #[command(flatten)]
    pub settings: DatabaseFlags,
}

impl DatabaseArgs {
    /// Opens an existing database (a missing SQLite file is an error).
    async fn open_existing(&self) -> Result<Arc<dyn Store>> {
        let settings = DatabaseSettings { create_if_missing: false, exclusive: false, ..DatabaseSettings::from(&self.settings) };
        open(self.database_url.clone(), settings).await
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (one server per SQLite file).
    Serve {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// Server settings.
        #[command(flatten)]
        config: ServerConfig,
    },
    /// Run the server on a temporary database with demo data, keys printed.
    Demo(ServerConfig),
    /// Apply database migrations (creating a SQLite database if there is none).
    Migrate(DatabaseArgs),
    /// Manage sellers.
    Seller {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// What to do.
        #[command(subcommand)]
        command: SellerCommand,
    },
    /// Manage API keys.
    Key {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// What to do.
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage webhook endpoints.
    Webhook {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// What to do.
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Manage portal users.
    User {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Change settings.
    Settings {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// What to do.
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Print one seller's thread as JSON Lines, oldest first.
    Export {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// The seller's ID.
        #[arg(long)]
        seller: String,
    },
    /// List e-mail notifications: stretches waiting for their due time, e-mails not yet
    /// sent (with their last error) and the most recent sent or given-up ones.
    Notifications {
        /// Which database.
        #[command(flatten)]
        database: DatabaseArgs,
        /// How many sent or given-up e-mails to list.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(0..=10_000))]
        recent: i64,
    },
}

impl Command {
    /// The database the command uses (`None` for `demo`).
    fn database_mut(&mut self) -> Option<&mut DatabaseArgs> {
        match self {
            Command::Demo(_) => None,
            Command::Serve { database, .. }
            | Command::Migrate(database)
            | Command::Seller { database, .. }
            | Command::Key { database, .. }
            | Command::Webhook { database, .. }
            | Command::User { database, .. }
            | Command::Settings { database, .. }
            | Command::Export { database, .. }
            | Command::Notifications { database, .. } => Some(database),
        }
    }
}

/// `marketchat seller …`
#[derive(Debug, Subcommand)]
pub enum SellerCommand {
    /// Create a seller (and its empty chat); prints its ID.
    Create {
        /// The business name.
        #[arg(long)]
        name: String,
        /// The marketplace's own ID for this seller (unique).
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Rename a seller and/or set its external ID; prints its ID.
    Update {
        /// Which seller.
        #[command(flatten)]
        seller: SellerTarget,
        /// What to change.
        #[command(flatten)]
        change: SellerUpdate,
    },
    /// List sellers: `ID<TAB>NAME` a line.
    List,
}

/// Which seller `seller update` changes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SellerTarget {
    /// The seller's ID.
    id: Option<String>,
    /// Find the seller by the marketplace's own ID instead.
    #[arg(long, value_name = "EXTERNAL_ID")]
    by_external_id: Option<String>,
}

/// What `seller update` changes (at least one).
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct SellerUpdate {
    /// The new business name.
    #[arg(long)]
    name: Option<String>,
    /// The marketplace's own ID for this seller (unique); replaces any it had.
    #[arg(long)]
    external_id: Option<String>,
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
        /// An operator admin key: it may also call the provisioning API (create and rename
        /// sellers, create, list and revoke their keys).
        #[arg(long, requires = "operator", conflicts_with = "seller")]
        admin: bool,
        /// A label; on operator keys it is the `sentBy` of messages sent with it.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (never their secrets):
    /// `ID<TAB>OWNER<TAB>LABEL<TAB>CREATED<TAB>LAST USED<TAB>STATUS<TAB>ADMIN` a line
    /// (ADMIN is `admin` for an operator admin key, else `-`).
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
    /// List endpoints (never their secrets): `ID<TAB>URL<TAB>EVENTS<TAB>STATUS` a line.
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
    /// Create a portal user; the password is read without echo from a terminal, else the
    /// first line of stdin. Prints the ID.
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
    /// List users: `ID<TAB>EMAIL<TAB>NAME<TAB>OWNER<TAB>ROLE<TAB>STATUS` a line (OWNER of a
    /// seller user signed in through the marketplace ends `external USER_ID`; EMAIL is `-`
    /// when there is none).
    List,
    /// Disable a user: they cannot log in, and their sessions end at once (open
    /// subscriptions close at their next re-check).
    Disable {
        /// The user's ID, as `user list` prints it.
        id: String,
    },
    /// Let a disabled user log in again.
    Enable {
        /// The user's ID.
        id: String,
    },
    /// Give a user a new password (read like `user create`'s); their sessions end.
    SetPassword {
        /// The user's ID.
        id: String,
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
pub async fn run(mut cli: Cli) -> Result<()> {
    if let Some(url) = cli.database_url.take() {
        match cli.command.database_mut() {
            Some(database) => database.database_url = url,
            None => bail!("demo uses a temporary database of its own; --database-url does not apply"),
        }
    }
    match cli.command {
        Command::Serve { database, config } => {
            refuse_bad_settings(&config)?;
            let settings = DatabaseSettings { create_if_missing: true, exclusive: true, ..DatabaseSettings::from(&database.settings) };
            let store = open(database.database_url, settings).await?;
            serve(store, config, |_| Ok(())).await
        }
        Command::Demo(config) => {
            refuse_bad_settings(&config)?;
            let demo = Demo::prepare().await?;
            serve(demo.store(), config, |addr| {
                demo.print_welcome(addr);
                Ok(())
            })
            .await
        }
        Command::Migrate(database) => {
            let settings = DatabaseSettings { create_if_missing: true, exclusive: false, ..DatabaseSettings::from(&database.settings) };
            open(database.database_url, settings).await.map(drop)
        }
        Command::Seller { database, command } => seller(database.open_existing().await?, command).await,
        Command::Key { database, command } => key(database.open_existing().await?, command).await,
        Command::Webhook { database, command } => webhook(database.open_existing().await?, command).await,
        Command::User { database, command } => user(database.open_existing().await?, command).await,
        Command::Settings { database, command: SettingsCommand::Set { name: SettingName::ChatEnabled, value } } => {
            let service = ChatService::new(database.open_existing().await?, Default::default(), Clock::system());
            Ok(service.set_chat_enabled(value).await?)
        }
        Command::Export { database, seller } => export(database.open_existing().await?, &seller).await,
        Command::Notifications { database, recent } => notifications(database.open_existing().await?, recent).await,
    }
}

/// Opens the store and applies migrations.
async fn open(database_url: String, settings: DatabaseSettings) -> Result<Arc<dyn Store>> {
    store::connect(&database_url, &settings).await.with_context(|| "could not open the database".to_owned())
}

/// An error as one line: its causes joined with `: `, leaving out any cause whose text
/// the line already holds (sqlx and our own errors repeat their source in their message),
/// and line breaks turned into spaces.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A clap error as one line (`error: …` without the usage block and hints), for
/// exit status 2; help and version requests are not errors and are returned as `None`.
pub fn usage_error_line(error: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        return None;
    }
    let rendered = error.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(if message.starts_with("error:") { message } else { format!("error: {message}") })
}

/// Reads a password: without echo when stdin is a terminal, else its first line.
fn read_password() -> Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").context("could not read the password");
    }
    let mut password = String::new();
    std::io::stdin().read_line(&mut password).context("could not read the password from stdin")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// Refuses settings that cannot work, before the database is opened or created.
fn refuse_bad_settings(config: &ServerConfig) -> Result<()> {
    if let Some(path) = &config.webhook_ca_file {
        webhooks::tls::read_pem_bundle(path).map_err(|e| anyhow::anyhow!(e))?;
    }
    config.sso_settings().map_err(|e| anyhow::anyhow!(e))?;
    config.notification_settings().map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

/// Binds, prints `listening on http://ADDR`, lets `announce` print more, and serves
/// until SIGTERM or Ctrl-C.
async fn serve(
    store: Arc<dyn Store>,
    config: ServerConfig,
    announce: impl FnOnce(std::net::SocketAddr) -> Result<()>,
) -> Result<()> {
    // Installed before the address is announced: whoever starts us may stop us at once.
    let shutdown = app::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("could not listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    announce(addr)?;
    std::io::stdout().flush()?;
    let open_files = crate::config::raise_open_file_limit();
    tracing::info!(%addr, open_files, max_connections = config.connection_cap(), "serving");
    app::launch(&config, store, listener, shutdown).stopped().await?;
    Ok(())
}

/// Decodes a seller ID argument, accepting a global ID or a plain row number.
fn seller_argument(raw: &str) -> Result<SellerId> {
    parse_id(raw)
}

/// Decodes a portal user ID argument: an `OperatorUser-…` or `SellerUser-…` global ID, or
/// a plain row number.
fn user_argument(raw: &str) -> Result<i64> {
    match (row_number(raw), GlobalId::decode(raw)) {
        (Some(number), _) => Ok(number),
        (None, Ok(GlobalId { kind: IdKind::OperatorUser | IdKind::SellerUser, number })) => Ok(number),
        _ => bail!("{raw:?} is not a user ID"),
    }
}

/// Decodes an ID argument of type `T`: its global ID or a plain row number.
fn parse_id<T: RowId>(raw: &str) -> Result<T> {
    match row_number(raw) {
        Some(number) => Ok(T::from(number)),
        None => GlobalId::decode_as::<T>(raw).map_err(|e| anyhow::anyhow!("{raw:?} {e}")),
    }
}

/// A positive plain row number.
fn row_number(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|number| *number > 0)
}

/// A service error as the command line says it: a user-fixable one names the flag.
fn cli_error(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::Invalid { field: "base", message } => anyhow::anyhow!(message),
        ServiceError::Invalid { field, message } => {
            let flag = match field {
                "businessName" => "--name",
                "externalId" => "--external-id",
                "sellerId" => "--seller",
                "label" => "--label",
                other => other,
            };
            anyhow::anyhow!("{flag} {message}")
        }
        internal => internal.into(),
    }
}

async fn user(store: Arc<dyn Store>, command: UserCommand) -> Result<()> {
    let accounts = Accounts::new(store, Clock::system());
    match command {
        UserCommand::Create { owner, role, email, name } => {
            let kind = match (owner.seller, role) {
                (Some(raw), _) => NewUserKind::Seller(seller_argument(&raw)?),
                (None, Some(role)) => NewUserKind::Operator(role.parse().map_err(|e: String| anyhow::anyhow!(e))?),
                (None, None) => bail!("--operator needs --role"),
            };
            let password = read_password()?;
            let user = accounts.create_user(&email, name.as_deref(), &password, kind).await?;
            println!("{}", user_gid(user.id, user.seller_id.is_some()));
        }
        UserCommand::List => {
            let mut out = std::io::stdout().lock();
            for user in accounts.users().await? {
                let mut owner = user.seller_id.map_or_else(|| "operator".to_owned(), |id| format!("seller {}", id.gid()));
                if let Some(external_id) = &user.external_id {
                    // An embedded seller user, signed in by the marketplace.
                    owner.push_str(&format!(" external {external_id}"));
                }
                let status = if user.disabled_at.is_some() { "disabled" } else { "active" };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{owner}\t{}\t{status}",
                    user_gid(user.id, user.seller_id.is_some()),
                    user.email.as_deref().unwrap_or("-"),
                    user.name,
                    user.role.as_deref().unwrap_or("-"),
                )?;
            }
        }
        UserCommand::Disable { id } => {
            if !accounts.set_disabled(user_argument(&id)?, true).await? {
                bail!("no user with ID {id}");
            }
        }
        UserCommand::Enable { id } => {
            if !accounts.set_disabled(user_argument(&id)?, false).await? {
                bail!("no user with ID {id}");
            }
        }
        UserCommand::SetPassword { id } => {
            let user_id = user_argument(&id)?;
            let password = read_password()?;
            if !accounts.set_password(user_id, &password).await? {
                bail!("no user with ID {id} logs in with a password (seller users the marketplace signs in have none)");
            }
        }
    }
    Ok(())
}

async fn seller(store: Arc<dyn Store>, command: SellerCommand) -> Result<()> {
    let provisioning = Provisioning::new(store.clone(), Clock::system());
    let chats = ChatService::new(store, Default::default(), Clock::system());
    match command {
        SellerCommand::Create { name, external_id } => {
            let seller = provisioning.create_seller(&name, external_id.as_deref()).await.map_err(cli_error)?;
            println!("{}", seller.id.gid());
        }
        SellerCommand::Update { seller, change } => {
            let (target, named) = match (seller.id, seller.by_external_id) {
                (Some(raw), _) => (SellerRef::Id(seller_argument(&raw)?), format!("ID {raw}")),
                (None, Some(external_id)) => (SellerRef::ExternalId(external_id.clone()), format!("external ID {external_id:?}")),
                (None, None) => bail!("name the seller by its ID or --by-external-id"),
            };
            let change = SellerChange { business_name: change.name, external_id: change.external_id };
            match provisioning.update_seller(&target, &change).await {
                Ok(updated) => println!("{}", updated.id.gid()),
                Err(ServiceError::Invalid { field: "seller", .. }) => bail!("no seller with {named}"),
                Err(error) => return Err(cli_error(error)),
            }
        }
        SellerCommand::List => {
            let mut query = store::SellerListQuery { limit: 500, ..Default::default() };
            let mut out = std::io::stdout().lock();
            loop {
                let page = chats.sellers(&query).await?;
                for seller in &page.items {
                    writeln!(out, "{}\t{}", seller.id.gid(), seller.business_name)?;
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

async fn key(store: Arc<dyn Store>, command: KeyCommand) -> Result<()> {
    let provisioning = Provisioning::new(store, Clock::system());
    match command {
        KeyCommand::Create { owner, admin, label } => {
            let key_owner = match &owner.seller {
                Some(raw) => keys::KeyOwner::Seller(seller_argument(raw)?),
                None => keys::KeyOwner::Operator { admin },
            };
            match provisioning.create_api_key(key_owner, label.as_deref()).await {
                Ok(created) => println!("{}", created.secret),
                Err(ServiceError::Invalid { field: "sellerId", .. }) => bail!("no seller with ID {}", owner.seller.unwrap_or_default()),
                Err(error) => return Err(cli_error(error)),
            }
        }
        KeyCommand::List => {
            let mut out = std::io::stdout().lock();
            let mut query = store::KeyListQuery { limit: 500, after: None, seller_id: None };
            loop {
                let page = provisioning.api_keys(&query).await?;
                for key in &page.items {
                    let owner = key.seller_id.map_or_else(|| "operator".to_owned(), |id| format!("seller {}", id.gid()));
                    let time = |t: Option<UnixMillis>| t.map_or_else(|| "-".to_owned(), UnixMillis::to_rfc3339);
                    let status = if key.revoked_at.is_some() { "revoked" } else { "active" };
                    let admin = if key.admin { "admin" } else { "-" };
                    writeln!(
                        out,
                        "{}\t{owner}\t{}\t{}\t{}\t{status}\t{admin}",
                        key.id.gid(),
                        key.label.as_deref().unwrap_or("-"),
                        time(Some(key.created_at)),
                        time(key.last_used_at),
                    )?;
                }
                match (page.has_more, page.items.last()) {
                    (true, Some(last)) => query.after = Some(last.id),
                    _ => break,
                }
            }
        }
        KeyCommand::Revoke { key_id } => {
            let id = parse_id::<KeyId>(&key_id)?;
            match provisioning.revoke_api_key(id).await {
                Ok(_) => {}
                Err(ServiceError::Invalid { field: "id", .. }) => bail!("no API key with ID {key_id}"),
                Err(error) => return Err(cli_error(error)),
            }
        }
    }
    Ok(())
}

async fn export(store: Arc<dyn Store>, seller: &str) -> Result<()> {
    let seller_id = seller_argument(seller)?;
    let chats = ChatService::new(store, Default::default(), Clock::system());
    if chats.seller(seller_id).await?.is_none() {
        bail!("no seller with ID {seller}");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after_seq = Seq::new(0);
    loop {
        let batch = chats.messages_oldest_first(seller_id, after_seq, 500).await?;
        let Some(last) = batch.last() else { break };
        after_seq = last.seq;
        for message in &batch {
            serde_json::to_writer(&mut out, &WireMessage::from(message).to_json())?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `marketchat notifications`: one line per waiting stretch (`waiting  SIDE  SELLER  due
/// TIME`), then one per e-mail, newest first (`ID  STATE  SIDE  SELLER  RECIPIENT
/// ATTEMPTS  CREATED  SENT/NEXT/GAVE-UP AT  LAST ERROR`), tab-separated.
async fn notifications(store: Arc<dyn Store>, recent: i64) -> Result<()> {
    let (waiting, emails) = NotificationService::new(store, Clock::system()).listing(recent).await?;
    let mut out = std::io::stdout().lock();
    for stretch in waiting {
        writeln!(out, "waiting\t{}\t{}\tdue {}", stretch.side.as_str(), stretch.seller_id.gid(), stretch.due_at.to_rfc3339())?;
    }
    for email in emails {
        let error = email.last_error.map_or_else(|| "-".to_owned(), |e| e.replace(['\t', '\n', '\r'], " "));
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{error}",
            email.id,
            email.state,
            email.side.as_str(),
            email.seller_id.gid(),
            email.recipient,
            email.attempts,
            email.created_at.to_rfc3339(),
            email.at.to_rfc3339()
        )?;
    }
    Ok(())
}

async fn webhook(store: Arc<dyn Store>, command: WebhookCommand) -> Result<()> {
    let endpoints = |allow_private| WebhookService::new(store.clone(), Clock::system(), DestinationPolicy { allow_private });
    match command {
        WebhookCommand::Add { url, events, webhook_allow_private } => {
            let (endpoint, secret) = match endpoints(webhook_allow_private).register(&url, events.as_deref()).await {
                Ok(registered) => registered,
                Err(ServiceError::Invalid { message, .. }) => bail!(message),
                Err(error) => return Err(error.into()),
            };
            println!("{}\t{secret}", endpoint.id.gid());
        }
        WebhookCommand::List => {
            let mut out = std::io::stdout().lock();
            for endpoint in endpoints(false).all_endpoints().await? {
                let status = if endpoint.removed_at.is_some() { "removed" } else { "active" };
                let id = endpoint.id.gid();
                writeln!(out, "{id}\t{}\t{}\t{status}", endpoint.url, endpoint.events.join(","))?;
            }
        }
        WebhookCommand::Remove { id } => {
            if !endpoints(false).remove(parse_id::<WebhookId>(&id)?).await? {
                bail!("no active webhook endpoint with ID {id}");
            }
        }
        WebhookCommand::Deliveries { id, limit } => {
            let endpoint_id = parse_id::<WebhookId>(&id)?;
            let service = endpoints(false);
            if !service.all_endpoints().await?.iter().any(|e| e.id == endpoint_id) {
                bail!("no webhook endpoint with ID {id}");
            }
            let dash = || "-".to_owned();
            let mut out = std::io::stdout().lock();
            for attempt in service.attempts(endpoint_id, limit).await? {
                let status = attempt.status.map_or_else(dash, |s| s.to_string());
                // One line per attempt, whatever the error says.
                let error = attempt.error.map_or_else(dash, |e| e.replace(['\t', '\n', '\r'], " "));
                let next_retry = attempt.next_retry_at.map_or_else(dash, UnixMillis::to_rfc3339);
                let time = attempt.attempted_at.to_rfc3339();
                writeln!(out, "{time}\t{status}\t{error}\t{next_retry}\t{}", attempt.event_id)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_database_error_reads_as_one_line_with_each_cause_once() {
        let io = std::io::Error::other("disk on fire\nreally");
        let error = anyhow::Error::from(StoreError::Database(sqlx::Error::Io(io))).context("could not open the database");
        assert_eq!(format!("{error:#}").matches("disk on fire").count(), 3, "the chain repeats its cause");
        assert_eq!(one_line(&error), "could not open the database: database error: error communicating with database: disk on fire really");
    }

    #[test]
    fn usage_errors_become_one_line_and_help_is_left_alone() {
        let missing = Cli::try_parse_from(["marketchat", "seller", "create"]).unwrap_err();
        assert_eq!(usage_error_line(&missing).as_deref(), Some("error: the following required arguments were not provided: --name <NAME>"));
        let range = Cli::try_parse_from(["marketchat", "serve", "--event-buffer", "0"]).unwrap_err();
        assert!(usage_error_line(&range).unwrap().starts_with("error: invalid value '0' for '--event-buffer <EVENT_BUFFER>'"));
        let help = Cli::try_parse_from(["marketchat", "--help"]).unwrap_err();
        assert_eq!(usage_error_line(&help), None);
    }

    #[test]
    fn the_database_url_may_come_before_the_command_as_before() {
        let mut cli = Cli::try_parse_from(["marketchat", "--database-url", "sqlite://before.db", "seller", "list"]).unwrap();
        let url = cli.database_url.take().unwrap();
        cli.command.database_mut().unwrap().database_url = url;
        let Command::Seller { database, .. } = cli.command else { panic!("seller") };
        assert_eq!(database.database_url, "sqlite://before.db");
        let after = Cli::try_parse_from(["marketchat", "seller", "list", "--database-url", "sqlite://after.db"]).unwrap();
        let Command::Seller { database, .. } = after.command else { panic!("seller") };
        assert_eq!(database.database_url, "sqlite://after.db");
    }

    #[test]
    fn only_an_operator_key_can_be_an_admin_key() {
        let admin = Cli::try_parse_from(["marketchat", "key", "create", "--operator", "--admin"]).unwrap();
        assert!(matches!(admin.command, Command::Key { command: KeyCommand::Create { admin: true, .. }, .. }));
        for refused in [&["marketchat", "key", "create", "--seller", "1", "--admin"][..], &["marketchat", "key", "create", "--admin"]] {
            assert!(Cli::try_parse_from(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
