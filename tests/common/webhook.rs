//! Webhooks from the receiving end: a local HTTP(S) receiver that answers as a test tells
//! it to and records what arrived, and the delivery attempts the server recorded.

use crate::common::app::TestApp;
use crate::common::ca::TestCa;
use crate::common::db::fetch_rows;
use crate::common::wait::poll_until;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a test waits for deliveries or attempts it expects.
const DELIVERY_WAIT: Duration = Duration::from_secs(15);

/// What a webhook receiver got: headers that matter and the raw body.
#[derive(Debug, Clone)]
pub struct Received {
    /// `X-Marketchat-Event-Id`.
    pub event_id: String,
    /// `X-Marketchat-Timestamp`.
    pub timestamp: String,
    /// `X-Marketchat-Signature`.
    pub signature: String,
    /// The body as sent.
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
}

/// One recorded webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The endpoint's URL.
    pub url: String,
    /// The HTTP status answered, if any.
    pub status: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// A local HTTP(S) receiver for webhook deliveries.
pub struct Receiver {
    /// Its URL.
    pub url: String,
    /// Every request answered, in arrival order (read through [`Receiver::received_so_far`]).
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests that arrived (counted before any delay, so a test sees one in flight).
    pub arrived: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

/// How a [`Receiver`] answers.
#[derive(Clone, Default)]
pub struct ReceiverBehaviour {
    /// The first this many requests get `failure_status` (500 when 0), the rest 200.
    pub failures: usize,
    /// The status of a failure.
    pub failure_status: u16,
    /// Never answer.
    pub hang: bool,
    /// Wait this long before answering the first request.
    pub delay_first: Option<Duration>,
    /// Answer every request `307` to this location.
    pub redirect: Option<String>,
    /// Serve HTTPS with this certificate chain and PKCS#8 key (DER).
    pub tls: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

impl TestApp {
    /// Every webhook attempt recorded so far, oldest first.
    pub async fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        const ATTEMPTS: &str = "SELECT e.url, a.status, a.error FROM webhook_attempts a \
            JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints e ON e.id = d.endpoint_id ORDER BY a.id";
        let rows: Vec<(String, Option<i64>, Option<String>)> = fetch_rows(&self.database_url, ATTEMPTS).await;
        rows.into_iter().map(|(url, status, error)| WebhookAttempt { url, status, error }).collect()
    }

    /// Waits (at most 15 s) until `done` holds for the recorded webhook attempts; returns them.
    pub async fn wait_for_webhook_attempts(&self, done: impl Fn(&[WebhookAttempt]) -> bool) -> Vec<WebhookAttempt> {
        let attempts = poll_until(DELIVERY_WAIT, || self.webhook_attempts(), |attempts| done(attempts)).await;
        assert!(done(&attempts), "the expected webhook attempts were never recorded: {attempts:?}");
        attempts
    }
}

impl Receiver {
    /// Answers 500 to the first `failures` requests, then 200; with `hang`, never answers.
    pub async fn start(failures: usize, hang: bool) -> Self {
        Self::serve(ReceiverBehaviour { failures, hang, ..Default::default() }).await
    }

    /// Answers every request `307 Temporary Redirect` to `location`.
    pub async fn redirecting_to(location: &str) -> Self {
        Self::serve(ReceiverBehaviour { redirect: Some(location.to_owned()), ..Default::default() }).await
    }

    /// An HTTPS receiver (`https://127.0.0.1:PORT/hook`) whose certificate `ca` issued;
    /// answers 200.
    pub async fn start_https(ca: &TestCa) -> Self {
        Self::serve(ReceiverBehaviour { tls: Some(ca.issue_localhost()), ..Default::default() }).await
    }

    /// A receiver that behaves as told.
    pub async fn serve(behaviour: ReceiverBehaviour) -> Self {
        use axum::http::{header::LOCATION, HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let arrived: Arc<AtomicUsize> = Arc::default();
        let (log, count) = (received.clone(), arrived.clone());
        let answers = behaviour.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (log, count, behaviour) = (log.clone(), count.clone(), answers.clone());
                async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    if behaviour.hang {
                        tokio::time::sleep(Duration::from_secs(3_600)).await;
                    }
                    if let (0, Some(delay)) = (n, behaviour.delay_first) {
                        tokio::time::sleep(delay).await;
                    }
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let mut log = log.lock().unwrap();
                    let answered = match &behaviour.redirect {
                        Some(_) => 307,
                        None if log.len() < behaviour.failures => if behaviour.failure_status == 0 { 500 } else { behaviour.failure_status },
                        None => 200,
                    };
                    log.push(Received {
                        event_id: header("x-marketchat-event-id"),
                        timestamp: header("x-marketchat-timestamp"),
                        signature: header("x-marketchat-signature"),
                        body,
                        answered,
                    });
                    let status = StatusCode::from_u16(answered).unwrap();
                    match behaviour.redirect {
                        Some(location) => (status, [(LOCATION, location)]).into_response(),
                        None => status.into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (url, task) = match behaviour.tls {
            None => (format!("http://{addr}/hook"), tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            })),
            Some((chain, key)) => (format!("https://{addr}/hook"), tokio::spawn(serve_tls(listener, app, chain, key))),
        };
        Self { url, received, arrived, _task: task }
    }

    /// Waits (at most 15 s) until `done` holds for what was received; returns it.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let received = poll_until(DELIVERY_WAIT, || async { self.received_so_far() }, |received| done(received)).await;
        assert!(done(&received), "the receiver never got what was expected: {received:?}");
        received
    }

    /// Every request answered so far, in arrival order.
    pub fn received_so_far(&self) -> Vec<Received> {
        self.received.lock().expect("receiver log").clone()
    }
}

/// Serves `app` over TLS with the given certificate chain and PKCS#8 key (DER).
async fn serve_tls(listener: tokio::net::TcpListener, app: axum::Router, chain: Vec<Vec<u8>>, key: Vec<u8>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::rustls;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = chain.into_iter().map(rustls::pki_types::CertificateDer::from).collect();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that rejects the certificate ends the handshake: nothing to serve.
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
