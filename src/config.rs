//! Server settings from flags and environment, in one struct.

mod embedding;
mod notifications;
mod proxies;
mod rate_limits;
mod sso;

pub use embedding::{EmbedOrigins, PublicUrl};
pub use notifications::{NotificationFlags, PageUrl, SmtpUrl};
pub use proxies::TrustedProxies;
pub use rate_limits::{Rate, RateLimits};
pub use sso::{SsoFlags, CALLBACK_PATH};

use crate::domain::message::{MessageRules, SensitivePolicy, DEFAULT_MAX_MESSAGE_CHARS};
use clap::builder::TypedValueParser as _;
use clap::Args;
use std::net::SocketAddr;

/// Files kept free for everything but client connections (database files and pool,
/// the listener, logs, webhook requests).
pub const RESERVED_FILES: usize = 128;

/// Raises the soft open-file limit to the hard limit where allowed; returns the soft
/// limit now in force (1,024 when it cannot be read).
pub fn raise_open_file_limit() -> usize {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
        Err(error) => {
            tracing::debug!(%error, "could not raise the open-file limit");
            open_file_limit()
        }
    }
}

/// The soft open-file limit in force (1,024 when it cannot be read).
pub fn open_file_limit() -> usize {
    rlimit::Resource::NOFILE.get().map_or(1_024, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
}

/// Flags shared by `serve` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MARKETCHAT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Longest message, in characters.
    #[arg(long, env = "MARKETCHAT_MAX_MESSAGE_CHARS", default_value_t = DEFAULT_MAX_MESSAGE_CHARS, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_message_chars: usize,
    /// What to do with messages containing card numbers or IBANs.
    #[arg(long, env = "MARKETCHAT_SENSITIVE_DATA", default_value = "reject", value_parser = clap::builder::EnumValueParser::<SensitivePolicyFlag>::new().map(SensitivePolicy::from))]
    pub sensitive_data: SensitivePolicy,
    /// Live events buffered per subscriber before it counts as too slow and is cut off.
    #[arg(long, env = "MARKETCHAT_EVENT_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub event_buffer: usize,
    /// Seconds a subscriber's socket may stay unwritable before it is disconnected.
    #[arg(long, env = "MARKETCHAT_WS_WRITE_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_write_timeout_secs: u64,
    /// Seconds between re-checks of a subscription's credential (a revoked key or ended
    /// session closes the socket with 4403 within this time).
    #[arg(long, env = "MARKETCHAT_WS_RECHECK", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_recheck_secs: u64,
    /// Proxies (IPs or CIDR ranges, comma-separated) whose `X-Forwarded-For` names the
    /// client for per-IP rate limits and whose `X-Forwarded-Proto` makes the session cookie
    /// `Secure`; by default nobody's is believed.
    #[arg(long, env = "MARKETCHAT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Rate limits: `key=N/10s,ip=N/10s,send=N/10s,login=N/1m` (a limit left out is off), or `off`.
    #[arg(long, env = "MARKETCHAT_RATE_LIMITS", default_value = "key=750/10s,ip=600/10s,send=50/10s,login=10/1m")]
    pub rate_limits: RateLimits,
    /// Whether GraphQL introspection (`__schema`, `__type`) is answered.
    #[arg(long, env = "MARKETCHAT_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Seconds an HTTP request may take before it is answered 408.
    #[arg(long, env = "MARKETCHAT_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// First webhook retry delay in milliseconds; each later one doubles (at most 1 h).
    #[arg(long, env = "MARKETCHAT_WEBHOOK_RETRY_BASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_retry_base_ms: u64,
    /// Milliseconds a webhook endpoint may take to answer.
    #[arg(long, env = "MARKETCHAT_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_timeout_ms: u64,
    /// Let webhooks reach loopback, private, link-local and other non-public addresses
    /// (refused by default, at registration and on every resolved address).
    #[arg(long, env = "MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// A PEM bundle of extra CA certificates HTTPS webhook endpoints may chain to, on top
    /// of the system's trust store and the bundle named by `SSL_CERT_FILE`.
    #[arg(long, env = "MARKETCHAT_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// Remove messages (and their events) older than this many days, in small batches;
    /// off when not given.
    #[arg(long, env = "MARKETCHAT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
    /// Most TCP connections open at once; more wait to be accepted. Default: what the
    /// process's open-file limit allows (raised to its hard limit at start), less a reserve.
    #[arg(long, env = "MARKETCHAT_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers; an idle keep-alive
    /// connection is closed after as long.
    #[arg(long, env = "MARKETCHAT_HEADER_READ_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Most subscription WebSockets open at once; more are refused with 503.
    #[arg(long, env = "MARKETCHAT_MAX_SUBSCRIPTIONS", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_subscriptions: usize,
    /// Most subscription WebSockets one API key or portal user may hold open at once.
    #[arg(long, env = "MARKETCHAT_MAX_SOCKETS_PER_CREDENTIAL", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_sockets_per_credential: usize,
    /// Where clients reach this server, e.g. `https://chat.example.com`: makes links absolute
    /// (a sign-in's `url`), and the identity provider sends operator staff back to
    /// `<public URL>/operator/sso/callback`. Without it, such links are paths (and single
    /// sign-on cannot be configured).
    #[arg(long, env = "MARKETCHAT_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,
    /// Origins of the marketplace pages that may frame the embedded seller chat
    /// (`https://seller.example.com,…`): its `Content-Security-Policy: frame-ancestors`, and
    /// the only origins it tells the unread count to. Empty: no page may frame it.
    #[arg(long, env = "MARKETCHAT_EMBED_ORIGINS", default_value = "")]
    pub embed_origins: EmbedOrigins,
    /// Operator single sign-on.
    #[command(flatten)]
    pub sso: SsoFlags,
    /// E-mail notifications.
    #[command(flatten)]
    pub notifications: NotificationFlags,
}

impl ServerConfig {
    /// The webhook worker's settings.
    pub fn webhook_settings(&self) -> crate::service::webhooks::WebhookSettings {
        crate::service::webhooks::WebhookSettings {
            retry_base: std::time::Duration::from_millis(self.webhook_retry_base_ms),
            timeout: std::time::Duration::from_millis(self.webhook_timeout_ms),
            poll: std::time::Duration::from_millis(200),
            destinations: self.webhook_destinations(),
            ca_file: self.webhook_ca_file.clone(),
        }
    }

    /// The connection cap: as configured, or what the open-file limit leaves after
    /// [`RESERVED_FILES`] for the database, logs and the listener.
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(|| open_file_limit().saturating_sub(RESERVED_FILES).max(16))
    }

    /// Which destinations webhooks may be registered for and delivered to.
    pub fn webhook_destinations(&self) -> crate::service::webhooks::DestinationPolicy {
        crate::service::webhooks::DestinationPolicy { allow_private: self.webhook_allow_private }
    }

    /// The single sign-on settings (`None`: off); an error names the flag to fix.
    pub fn sso_settings(&self) -> Result<Option<crate::service::sso::SsoSettings>, String> {
        self.sso.settings(self.public_url.as_ref())
    }

    /// The e-mail notification settings (`None`: off); an error names the flag to fix.
    pub fn notification_settings(&self) -> Result<Option<crate::service::notifications::NotificationSettings>, String> {
        self.notifications.settings(self.public_url.as_ref(), self.webhook_ca_file.as_deref())
    }

    /// The message rules these settings describe.
    pub fn message_rules(&self) -> MessageRules {
        MessageRules { max_chars: self.max_message_chars, sensitive: self.sensitive_data }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_message_chars: DEFAULT_MAX_MESSAGE_CHARS,
            sensitive_data: SensitivePolicy::Reject,
            event_buffer: 1024,
            ws_write_timeout_secs: 10,
            ws_recheck_secs: 30,
            trusted_proxies: TrustedProxies::default(),
            rate_limits: RateLimits::marketplacer(),
            introspection: true,
            request_timeout_secs: 30,
            max_subscriptions: 50_000,
            max_sockets_per_credential: 100,
            max_connections: None,
            header_read_timeout_secs: 15,
            webhook_retry_base_ms: 10_000,
            webhook_timeout_ms: 10_000,
            webhook_allow_private: false,
            webhook_ca_file: None,
            retention_days: None,
            public_url: None,
            embed_origins: EmbedOrigins::default(),
            sso: SsoFlags::default(),
            notifications: NotificationFlags::default(),
        }
    }
}

/// The `--sensitive-data` values: the domain's [`SensitivePolicy`], named and described
/// for the command line (the domain stays free of clap).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SensitivePolicyFlag {
    /// Refuse the message with an error that says why.
    Reject,
    /// Store it with the number masked.
    Redact,
    /// Store it as sent.
    Off,
}

impl From<SensitivePolicyFlag> for SensitivePolicy {
    fn from(flag: SensitivePolicyFlag) -> Self {
        match flag {
            SensitivePolicyFlag::Reject => SensitivePolicy::Reject,
            SensitivePolicyFlag::Redact => SensitivePolicy::Redact,
            SensitivePolicyFlag::Off => SensitivePolicy::Off,
        }
    }
}

/// Database connection flags, shared by every command that opens a database; they become
/// the store's [`DatabaseSettings`](crate::store::DatabaseSettings).
#[derive(Debug, Clone, Args)]
pub struct DatabaseFlags {
    /// Most connections this node opens to the database.
    #[arg(long = "db-pool-size", env = "MARKETCHAT_DB_POOL_SIZE", default_value_t = 10, global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: u32,
    /// Longest a statement may run before the database cancels it.
    #[arg(long = "db-statement-timeout-ms", env = "MARKETCHAT_DB_STATEMENT_TIMEOUT_MS", default_value = "5000", value_parser = parse_millis, global = true)]
    pub statement_timeout: std::time::Duration,
    /// Longest to wait for a connection (connecting, or from a busy pool) before failing.
    #[arg(long = "db-connect-timeout-ms", env = "MARKETCHAT_DB_CONNECT_TIMEOUT_MS", default_value = "3000", value_parser = parse_millis, global = true)]
    pub connect_timeout: std::time::Duration,
}

impl From<&DatabaseFlags> for crate::store::DatabaseSettings {
    fn from(flags: &DatabaseFlags) -> Self {
        Self {
            pool_size: flags.pool_size,
            statement_timeout: flags.statement_timeout,
            connect_timeout: flags.connect_timeout,
            ..Self::default()
        }
    }
}

/// A positive number of milliseconds (0 would mean "no time at all", never meant).
fn parse_millis(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(millis) => Ok(std::time::Duration::from_millis(millis)),
        Err(error) => Err(error.to_string()),
    }
}
