//! The SMTP side of notifications: the transport `--smtp-url` describes (TLS verified
//! against the same roots as webhooks: the system's store, `SSL_CERT_FILE` and
//! `--webhook-ca-file`), and how a queued e-mail goes on the wire (plain text and HTML
//! alternatives, its stable `Message-ID`, RFC 8058 one-click unsubscribe headers,
//! `Auto-Submitted: auto-generated`).

use crate::service::webhooks::tls;
use crate::store::EmailRecord;
use lettre::message::header::{ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: plain (loopback relays, tests).
    Plain,
    /// `smtp://…?starttls=true`: upgraded with STARTTLS, which is required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

/// Where e-mails go: the parsed `--smtp-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// User name and password, if the server wants a login.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpTarget {
    /// Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// The `List-Unsubscribe` header: the one-click link in angle brackets.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(raw: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(raw.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `List-Unsubscribe-Post: List-Unsubscribe=One-Click` header (RFC 8058).
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_raw: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies are not sent back.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_raw: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// Worth another try later (the server is down, busy, or answered 4xx).
    #[error("{0}")]
    Transient(String),
    /// Will never go (a 5xx answer, an address that is not one).
    #[error("{0}")]
    Permanent(String),
}

/// Sends e-mails through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `target`, sending as `from`; TLS trusts the webhook roots and `ca_file`.
    pub fn new(target: &SmtpTarget, from: Mailbox, timeout: Duration, ca_file: Option<&Path>) -> Result<Self, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone()).port(target.port).timeout(Some(timeout));
        if target.security != SmtpSecurity::Plain {
            let mut parameters = TlsParameters::builder(target.host.clone()).certificate_store(CertificateStore::None);
            for root in tls::trusted_roots(ca_file)? {
                match Certificate::from_der(root.to_vec()) {
                    Ok(certificate) => parameters = parameters.add_root_certificate(certificate),
                    Err(error) => tracing::debug!(%error, "skipping an unusable root certificate"),
                }
            }
            let parameters = parameters.build_rustls().map_err(|error| format!("SMTP TLS settings: {error}"))?;
            builder = builder.tls(if target.security == SmtpSecurity::Tls { Tls::Wrapper(parameters) } else { Tls::Required(parameters) });
        }
        if let Some((user, password)) = &target.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), from })
    }

    /// Sends one queued e-mail.
    pub async fn send(&self, email: &EmailRecord) -> Result<(), SendFailure> {
        let message = self.message(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendFailure::Permanent(one_line(&error))),
            Err(error) => Err(SendFailure::Transient(one_line(&error))),
        }
    }

    /// The e-mail as it goes on the wire.
    fn message(&self, email: &EmailRecord) -> Result<Message, SendFailure> {
        let to: Mailbox = email.recipient.parse().map_err(|error| SendFailure::Permanent(format!("bad recipient address: {error}")))?;
        let part = |content_type: ContentType, body: &str| {
            SinglePart::builder().header(content_type).header(ContentTransferEncoding::Base64).body(body.to_owned())
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .header(ListUnsubscribe(format!("<{}>", email.unsubscribe_url)))
            .header(ListUnsubscribePost)
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative().singlepart(part(ContentType::TEXT_PLAIN, &email.text_body)).singlepart(part(ContentType::TEXT_HTML, &email.html_body)))
            .map_err(|error| SendFailure::Permanent(error.to_string()))
    }
}

/// An SMTP error on one line, with its causes.
fn one_line(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
