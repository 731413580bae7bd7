//! A small SMTP server on loopback for the notification tests: it speaks the real protocol
//! over TCP (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), records
//! every message it accepts, and can be told to answer `451` (try again later) instead.
//! A server that is "down" is simply one not started yet on its port ([`free_port`]);
//! [`SmtpServer::start_tls`] speaks the same over implicit TLS (`smtps://`).

use crate::common::ca::TestCa;
use crate::common::wait::poll_until;
use base64::Engine as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines joined with CRLF.
    pub data: String,
}

impl Mail {
    /// The headers, unfolded, as (name, value).
    pub fn headers(&self) -> Vec<(String, String)> {
        headers_of(self.data.split("\r\n\r\n").next().unwrap_or_default())
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// How many headers are named `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers().iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    /// The decoded body of the MIME part whose type starts with `content_type`
    /// (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let top = self.header("Content-Type")?;
        let boundary = top.split("boundary=").nth(1)?.trim_matches(|c| c == '"' || c == ';' || c == ' ').split('"').next()?.to_owned();
        let body = self.data.split_once("\r\n\r\n")?.1;
        body.split(&format!("--{boundary}")).find_map(|part| {
            let (head, content) = part.trim_start_matches("\r\n").split_once("\r\n\r\n")?;
            let headers = headers_of(head);
            let find = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_ascii_lowercase());
            if !find("Content-Type")?.starts_with(content_type) {
                return None;
            }
            let content = content.trim_end_matches("\r\n");
            Some(match find("Content-Transfer-Encoding").as_deref() {
                Some("base64") => {
                    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).expect("base64 part")).expect("UTF-8 part")
                }
                _ => content.to_owned(),
            })
        })
    }
}

fn headers_of(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

/// A free loopback port (for a server that is down now and started on it later).
pub async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A running SMTP server; it stops listening when dropped.
pub struct SmtpServer {
    /// The port it listens on.
    pub port: u16,
    received: Arc<Mutex<Vec<Mail>>>,
    refusing: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl SmtpServer {
    /// A server on a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// A server on `port` (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        Self::listen(port, None).await
    }

    /// A server speaking SMTP inside TLS from the first byte (`smtps://127.0.0.1:PORT`),
    /// with a certificate for loopback that `ca` issued.
    pub async fn start_tls(ca: &TestCa) -> Self {
        use tokio_rustls::rustls;
        let (chain, key) = ca.issue_localhost();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = chain.into_iter().map(rustls::pki_types::CertificateDer::from).collect();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        Self::listen(0, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn listen(port: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind the SMTP port");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let (store, refuse) = (received.clone(), refusing.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, refuse, tls) = (store.clone(), refuse.clone(), tls.clone());
                tokio::spawn(async move {
                    let _ = match tls {
                        // A client that refuses the certificate ends the handshake.
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => converse(stream, &store, &refuse).await,
                            Err(_) => Ok(()),
                        },
                        None => converse(stream, &store, &refuse).await,
                    };
                });
            }
        });
        Self { port, received, refusing, task }
    }

    /// `smtp://127.0.0.1:PORT` (for a [`Self::start`]ed server).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answer `451` to `MAIL FROM` (true) or accept again (false).
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Mail> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages have arrived (at most 60 s, for a heavily
    /// loaded machine; a quiet one delivers in about the notification delay); returns them
    /// all.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        let mails = poll_until(Duration::from_secs(60), || async { self.received() }, |mails| mails.len() >= count).await;
        assert!(mails.len() >= count, "expected {count} e-mails, got {}: {mails:#?}", mails.len());
        mails
    }

    /// The messages received within `window`: for asserting that no more arrive.
    pub async fn after(&self, window: Duration) -> Vec<Mail> {
        tokio::time::sleep(window).await;
        self.received()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP session.
async fn converse(stream: impl AsyncRead + AsyncWrite + Unpin, store: &Mutex<Vec<Mail>>, refusing: &AtomicBool) -> std::io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    write.write_all(b"220 smtp.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-smtp.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            }
            "MAIL" if refusing.load(Ordering::SeqCst) => b"451 4.3.0 try again later\r\n",
            "MAIL" => {
                from = address_in(&command);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address_in(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data: Vec<String> = Vec::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    data.push(text.strip_prefix('.').unwrap_or(text).to_owned());
                }
                store.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data: data.join("\r\n") });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address in `MAIL FROM:<…>` or `RCPT TO:<…>`.
fn address_in(command: &str) -> String {
    command.split('<').nth(1).and_then(|rest| rest.split('>').next()).unwrap_or_default().to_owned()
}
