//! E-mail notification flags (SPEC §13): `--smtp-url` switches them on, with
//! `--mail-from`, `--public-url` (links), `--notify-after-mins` and `--seller-portal-url`.
//! Settings that cannot work are refused at start.

use super::embedding::PublicUrl;
use crate::service::notifications::{NotificationSettings, SmtpSecurity, SmtpTarget};
use clap::Args;
use lettre::message::Mailbox;
use std::str::FromStr;
use std::time::Duration;

/// The `--smtp-url` value: `smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=true]` or
/// `smtps://…` (user and password percent-encoded).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(SmtpTarget);

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SmtpUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let refused = |why: &str| format!("--smtp-url must look like smtp://HOST:PORT, smtp://HOST:587?starttls=true or smtps://USER:PASSWORD@HOST:465 ({why})");
        let url = url::Url::parse(raw.trim()).map_err(|error| refused(&error.to_string()))?;
        let tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(refused("the scheme is smtp or smtps")),
        };
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or_else(|| refused("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if url.path() != "/" && !url.path().is_empty() || url.fragment().is_some() {
            return Err(refused("no path or fragment"));
        }
        let mut starttls = false;
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref()) {
                ("starttls", "true") => starttls = true,
                ("starttls", "false") => starttls = false,
                _ => return Err(refused(&format!("unknown option {name}={value}; only starttls=true|false"))),
            }
        }
        if tls && starttls {
            return Err(refused("smtps:// is TLS already; starttls=true is for smtp://"));
        }
        let security = match (tls, starttls) {
            (true, _) => SmtpSecurity::Tls,
            (false, true) => SmtpSecurity::StartTls,
            (false, false) => SmtpSecurity::Plain,
        };
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Plain => 25,
        });
        let decode = |text: &str| percent_decode(text).ok_or_else(|| refused("the user or password is not valid percent-encoded UTF-8"));
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(password)) => Some((decode(user)?, decode(password)?)),
            (_, None) => return Err(refused("a user needs a password")),
        };
        Ok(Self(SmtpTarget { host, port, security, credentials }))
    }
}

/// Percent-decoded UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An absolute http(s) URL (the marketplace's seller page may carry a query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageUrl(String);

impl FromStr for PageUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(raw.trim()).map_err(|error| format!("{raw:?} is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must be an http:// or https:// URL without credentials"));
        }
        Ok(Self(url.to_string()))
    }
}

/// E-mail notification flags.
#[derive(Debug, Clone, Args)]
pub struct NotificationFlags {
    /// The SMTP server e-mail notifications go through: `smtp://HOST:PORT`, with
    /// `?starttls=true` to require STARTTLS, or `smtps://HOST:465`; a user and password
    /// (percent-encoded) go in the URL. Without it, no e-mail is sent or queued.
    #[arg(long, env = "MARKETCHAT_SMTP_URL")]
    pub smtp_url: Option<SmtpUrl>,
    /// The sender of notification e-mails, e.g. `Marketplace <chat@example.com>`.
    #[arg(long, env = "MARKETCHAT_MAIL_FROM", value_parser = parse_mailbox)]
    pub mail_from: Option<Mailbox>,
    /// Minutes messages stay unread (or a seller waits for a reply) before an e-mail.
    #[arg(long, env = "MARKETCHAT_NOTIFY_AFTER_MINS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub notify_after_mins: u64,
    /// The same delay in seconds, overriding `--notify-after-mins` (for tests and trials).
    #[arg(long, env = "MARKETCHAT_NOTIFY_AFTER_SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub notify_after_secs: Option<u64>,
    /// First retry delay of an e-mail in milliseconds; each later one doubles (at most 1 h).
    #[arg(long, env = "MARKETCHAT_NOTIFY_RETRY_BASE_MS", hide = true, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub notify_retry_base_ms: u64,
    /// Where embedded seller users (who sign in through the marketplace, SPEC §11) read
    /// their chat: the link in their e-mails. Others get `<public URL>/seller/`.
    #[arg(long, env = "MARKETCHAT_SELLER_PORTAL_URL")]
    pub seller_portal_url: Option<PageUrl>,
}

impl Default for NotificationFlags {
    fn default() -> Self {
        Self { smtp_url: None, mail_from: None, notify_after_mins: 10, notify_after_secs: None, notify_retry_base_ms: 30_000, seller_portal_url: None }
    }
}

fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.trim().parse::<Mailbox>().map_err(|error| format!("{raw:?} is not an e-mail address like \"Marketplace <chat@example.com>\": {error}"))
}

impl NotificationFlags {
    /// The worker's settings (`None`: no `--smtp-url`, notifications off); an error names
    /// the flag to fix.
    pub fn settings(&self, public_url: Option<&PublicUrl>, ca_file: Option<&std::path::Path>) -> Result<Option<NotificationSettings>, String> {
        let Some(SmtpUrl(smtp)) = &self.smtp_url else {
            return Ok(None);
        };
        let mail_from = self.mail_from.clone().ok_or("--smtp-url needs --mail-from (the sender of notification e-mails)")?;
        let public_url = public_url.ok_or("--smtp-url needs --public-url (e-mails link to the portals and to the unsubscribe page)")?;
        let delay = Duration::from_secs(self.notify_after_secs.unwrap_or(self.notify_after_mins * 60));
        Ok(Some(NotificationSettings {
            smtp: smtp.clone(),
            mail_from,
            public_url: public_url.as_str().to_owned(),
            seller_portal_url: self.seller_portal_url.as_ref().map(|url| url.0.clone()),
            delay,
            retry_base: Duration::from_millis(self.notify_retry_base_ms),
            timeout: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            ca_file: ca_file.map(std::path::Path::to_path_buf),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_name_host_port_security_and_credentials() {
        let SmtpUrl(plain) = "smtp://127.0.0.1:2525".parse().unwrap();
        assert_eq!((plain.host.as_str(), plain.port, plain.security, plain.credentials), ("127.0.0.1", 2525, SmtpSecurity::Plain, None));
        let SmtpUrl(ses) = "smtp://AKIA%2Fx:p%40ss%2Bw@email-smtp.eu-west-1.amazonaws.com:587?starttls=true".parse().unwrap();
        assert_eq!(ses.security, SmtpSecurity::StartTls);
        assert_eq!(ses.credentials, Some(("AKIA/x".to_owned(), "p@ss+w".to_owned())));
        let SmtpUrl(wrapped) = "smtps://smtp.postmarkapp.com".parse().unwrap();
        assert_eq!((wrapped.port, wrapped.security), (465, SmtpSecurity::Tls));
        assert!(!format!("{wrapped:?}{ses:?}").contains("p@ss"), "the password never shows");
        for bad in ["http://x.test", "smtp://", "smtp://x.test/path", "smtp://x.test?tls=1", "smtps://x.test?starttls=true", "smtp://user@x.test", "x.test:25"] {
            assert!(bad.parse::<SmtpUrl>().is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn smtp_needs_a_sender_and_a_public_url() {
        let flags = NotificationFlags { smtp_url: Some("smtp://127.0.0.1:25".parse().unwrap()), ..NotificationFlags::default() };
        let public: PublicUrl = "https://chat.example.com".parse().unwrap();
        assert!(flags.settings(Some(&public), None).unwrap_err().contains("--mail-from"));
        let flags = NotificationFlags { mail_from: Some(parse_mailbox("Chat <chat@example.com>").unwrap()), ..flags };
        assert!(flags.settings(None, None).unwrap_err().contains("--public-url"));
        let settings = flags.settings(Some(&public), None).unwrap().unwrap();
        assert_eq!(settings.delay, Duration::from_secs(600));
        assert!(NotificationFlags::default().settings(None, None).unwrap().is_none(), "off without --smtp-url");
        assert!(parse_mailbox("not an address").is_err());
    }
}
