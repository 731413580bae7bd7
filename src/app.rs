//! Builds the router and shared state, and runs the server until shutdown.

use crate::api::client_ip::{ClientIp, TrustedProxies};
use crate::api::{self, Endpoint, Schemas};
use crate::accounts::Accounts;
use crate::config::ServerConfig;
use crate::webhooks::WebhookSettings;
use crate::metrics::{Metrics, PathLabels, RequestLabels};
use crate::service::{system_clock, ChatService};
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use crate::listener::{CappedListener, ClientAddr};

use crate::realtime::Broker;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use crate::api::rate_limit::RateLimiter;
use tokio::sync::Semaphore;

/// Everything a request handler may need; one per running server.
pub struct AppState {
    /// Chat use cases over the store.
    pub service: ChatService,
    /// The two GraphQL schemas.
    pub schemas: Schemas,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Real-time fan-out to subscribers.
    pub broker: Arc<Broker>,
    /// Cancelled when the server begins to shut down (closes subscriptions).
    pub shutdown: CancellationToken,
    /// How long a subscriber's socket may stay unwritable.
    pub ws_write_timeout: Duration,
    /// How often an open subscription re-checks its credential.
    pub ws_recheck: Duration,
    /// Per-node rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Open subscription sockets; at capacity new ones are refused.
    pub subscription_slots: Arc<Semaphore>,
    /// Open subscription sockets per credential, capped.
    pub sockets_per_credential: Arc<crate::api::ws::SocketsPerCredential>,
    /// Upgraded WebSocket tasks, which the HTTP server no longer tracks; shutdown waits
    /// for them so every subscriber gets its close frame.
    pub sockets: TaskTracker,
    /// Longest an HTTP request may take.
    pub request_timeout: Duration,
    /// Most TCP connections open at once.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers (and longest an idle
    /// keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// Portal users and sessions.
    pub accounts: Arc<Accounts>,
    /// Webhook delivery settings.
    pub webhooks: WebhookSettings,
    /// Messages older than this are removed (none when `None`).
    pub retention: Option<Duration>,
}

/// How long shutdown waits for subscriber sockets to take their close frames.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How often the event tailer looks for events committed by other processes.
const EVENT_POLL_INTERVAL: Duration = Duration::from_millis(200);

impl AppState {
    /// State over `store` with the settings in `config`.
    pub fn new(store: Arc<dyn Store>, config: &ServerConfig) -> Self {
        let store_for_accounts = store.clone();
        let metrics = Arc::new(Metrics::default());
        let broker = Broker::new(config.event_buffer, EVENT_POLL_INTERVAL, metrics.clone());
        let wake = broker.clone();
        let service = ChatService::new(store, config.message_rules(), system_clock()).with_commit_hook(Arc::new(move || wake.wake()));
        let limiter = Arc::new(RateLimiter::new(&config.rate_limits));
        let schemas = Schemas::new(service.clone(), metrics.clone(), broker.clone(), limiter.clone(), config.introspection, config.webhook_destinations());
        Self {
            service,
            schemas,
            metrics,
            broker,
            shutdown: CancellationToken::new(),
            ws_write_timeout: Duration::from_secs(config.ws_write_timeout_secs),
            ws_recheck: Duration::from_secs(config.ws_recheck_secs),
            limiter,
            trusted_proxies: config.trusted_proxies.clone(),
            subscription_slots: Arc::new(Semaphore::new(config.max_subscriptions)),
            sockets_per_credential: crate::api::ws::SocketsPerCredential::new(config.max_sockets_per_credential),
            sockets: TaskTracker::new(),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            max_connections: config.connection_cap(),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            accounts: Arc::new(Accounts::new(store_for_accounts)),
            webhooks: config.webhook_settings(),
            retention: config.retention_days.map(|days| Duration::from_secs(u64::from(days) * 86_400)),
        }
    }
}

/// The HTTP routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/graphql", graphql_path(Endpoint::Either))
        .route("/graphql/seller", graphql_path(Endpoint::Seller))
        .route("/graphql/operator", graphql_path(Endpoint::Operator))
        .route("/graphql/seller/schema.graphql", get(api::seller_sdl))
        .route("/graphql/operator/schema.graphql", get(api::operator_sdl))
        .route("/", get(crate::web::landing_page))
        .route("/docs/api", get(crate::web::api_docs))
        .route("/seller/", get(crate::web::seller_page))
        .route("/operator/", get(crate::web::operator_page))
        .route("/seller", get(|| async { axum::response::Redirect::permanent("/seller/") }))
        .route("/operator", get(|| async { axum::response::Redirect::permanent("/operator/") }))
        .route("/portal/{file}", get(crate::web::portal_asset))
        .route("/session", get(crate::web::current_user))
        .route("/login", post(crate::web::login))
        .route("/logout", post(crate::web::logout))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.request_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), record_request))
        .layer(middleware::from_fn(security_headers))
        // Spans carry method, path and status; bodies (message text, keys) are never logged.
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// One GraphQL path: POST runs a request, GET upgrades to a subscription socket.
fn graphql_path(endpoint: Endpoint) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(state): State<Arc<AppState>>,
              ClientIp(client): ClientIp,
              headers: HeaderMap,
              body: Result<Bytes, BytesRejection>| async move { api::execute(&state, endpoint, client, &headers, body).await },
    )
    .get(
        move |State(state): State<Arc<AppState>>,
              ClientIp(client): ClientIp,
              headers: HeaderMap,
              upgrade: WebSocketUpgrade| async move { api::ws::upgrade(state, endpoint, client, headers, upgrade) },
    )
}

/// Ready when the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.service.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// The portals' content policy: only our own scripts, styles and connections (no
/// inline script anywhere), and no page may frame ours.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response, pages and API alike.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.entry(name).or_insert(header::HeaderValue::from_static(value));
    }
    response
}

/// Counts and times every request by route pattern and status.
async fn record_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.http_latency.get_or_create(&PathLabels { path: path.clone() }).observe(started.elapsed().as_secs_f64());
    state.metrics.http_requests.get_or_create(&RequestLabels { path, status }).inc();
    tracing::debug!(status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// Serves on `listener` until `shutdown` resolves, then closes subscriptions and lets
/// in-flight requests finish. Runs the event tailer meanwhile.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = state.shutdown.clone();
    let store = state.service.shared_store();
    let tailer = state.broker.spawn_tailer(store.clone(), stop.clone());
    let broker = state.broker.clone();
    let listener_task = store.spawn_commit_listener(Arc::new(move || broker.wake_remote()), stop.clone());
    let webhook_worker = crate::webhooks::spawn_worker(store.clone(), state.metrics.clone(), state.webhooks.clone(), stop.clone());
    let retention = state.retention.map(|keep| spawn_retention(store.clone(), keep, stop.clone()));
    let session_purge = spawn_session_purge(state.accounts.clone(), stop.clone());
    let signal = {
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    };
    let listener = CappedListener::new(listener, state.max_connections);
    let sockets = state.sockets.clone();
    let header_read_timeout = state.header_read_timeout;
    let app = router(state);
    serve_connections(listener, app, header_read_timeout, signal).await;
    stop.cancel();
    sockets.close();
    if tokio::time::timeout(SOCKET_CLOSE_GRACE, sockets.wait()).await.is_err() {
        tracing::warn!(open = sockets.len(), "some subscriber sockets did not close in time");
    }
    let _ = tailer.await;
    let _ = webhook_worker.await;
    let _ = session_purge.await;
    if let Some(task) = retention {
        let _ = task.await;
    }
    if let Some(task) = listener_task {
        let _ = task.await;
    }
    Ok(())
}

/// Accepts connections and serves HTTP/1.1 (with WebSocket upgrades) and HTTP/2 on
/// each until `signal` resolves, then lets every connection finish gracefully. A
/// client must send a request's headers within `header_read_timeout`, and an idle
/// keep-alive connection is closed after as long (hyper starts that clock whenever it
/// waits for a request head), so half-sent requests cannot hold connections.
async fn serve_connections(mut listener: CappedListener, app: Router, header_read_timeout: Duration, signal: impl Future<Output = ()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(header_read_timeout).enable_connect_protocol();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            _ = &mut signal => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(ClientAddr(peer)));
            tower::ServiceExt::oneshot(app.clone(), request)
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Removes messages older than `keep` in batches of 500 (short transactions that never
/// hold up senders for long), then checks again every hour.
fn spawn_retention(store: Arc<dyn Store>, keep: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = chrono::Utc::now().timestamp_millis() - keep.as_millis() as i64;
            loop {
                match store.remove_before(cutoff, 500).await {
                    Ok(0) => break,
                    Ok(removed) => tracing::info!(removed, "retention removed old rows"),
                    Err(error) => {
                        tracing::warn!(%error, "retention failed; will retry");
                        break;
                    }
                }
                if stop.is_cancelled() {
                    return;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(3_600)) => {}
            }
        }
    })
}

/// Deletes expired and idle portal sessions at start and then every hour.
fn spawn_session_purge(accounts: Arc<Accounts>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match accounts.purge_sessions().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "ended expired and idle portal sessions"),
                Err(error) => tracing::warn!(%error, "could not purge portal sessions; will retry"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SESSION_PURGE_INTERVAL) => {}
            }
        }
    })
}

/// How often expired and idle sessions are deleted.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3_600);

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called (not
/// when first polled), so a signal sent right after the server says it is listening is
/// never taken by the default action (which would end the process at once).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let terminated = async {
                match terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = terminated => {},
                _ = interrupted => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
