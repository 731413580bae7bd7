//! Builds the shared state and the router (the API's and the portals' routes merged, with
//! the layers every response passes), and runs the server until shutdown.

use crate::api::{self, ApiContext, ApiState, RateLimiter};
use crate::config::{ServerConfig, TrustedProxies};
use crate::listener::{CappedListener, ClientAddr};
use crate::metrics::{Metrics, PathLabels, RequestLabels};
use crate::realtime::Broker;
use crate::service::notifications::{self, NotificationSettings};
use crate::service::webhooks::{self, WebhookSettings};
use crate::service::{retention, Accounts, AuthService, ChatService, Clock, NotificationService, Operations, Provisioning, SsoService, WebhookService};
use crate::store::Store;
use crate::web::{self, EmbedState, Framable, NotificationState, WebState, CONTENT_SECURITY_POLICY};
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Everything one running server shares between requests and background tasks.
pub struct AppState {
    /// The GraphQL endpoints' state.
    api: ApiState,
    /// The portals' state.
    web: WebState,
    /// The embedded seller chat's state.
    embed: EmbedState,
    /// Notification settings and unsubscribe links.
    notify: NotificationState,
    /// Portal users and sessions.
    pub accounts: Arc<Accounts>,
    /// Operator single sign-on, when configured.
    sso: Option<Arc<SsoService>>,
    /// Proxies whose forwarding headers name the client.
    trusted_proxies: TrustedProxies,
    /// Chat use cases (readiness asks it whether the database answers).
    chat: ChatService,
    /// Prometheus metrics.
    metrics: Arc<Metrics>,
    /// Real-time fan-out to subscribers.
    broker: Arc<Broker>,
    /// The store the background workers use.
    store: Arc<dyn Store>,
    /// The one source of the current time.
    clock: Clock,
    /// Cancelled when the server begins to shut down (closes subscriptions, stops workers).
    shutdown: CancellationToken,
    /// Longest an HTTP request may take.
    request_timeout: Duration,
    /// Most TCP connections open at once.
    max_connections: usize,
    /// Longest a client may take to send a request's headers (and longest an idle
    /// keep-alive connection stays open).
    header_read_timeout: Duration,
    /// Webhook delivery settings.
    webhooks: WebhookSettings,
    /// Messages older than this are removed (none when `None`).
    retention: Option<Duration>,
    /// E-mail notifications (none without `--smtp-url`).
    notifications: Option<NotificationSettings>,
}

impl FromRef<Arc<AppState>> for ApiState {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.api.clone()
    }
}

impl FromRef<Arc<AppState>> for WebState {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.web.clone()
    }
}

impl FromRef<Arc<AppState>> for EmbedState {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.embed.clone()
    }
}

impl FromRef<Arc<AppState>> for NotificationState {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.notify.clone()
    }
}

impl FromRef<Arc<AppState>> for TrustedProxies {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.trusted_proxies.clone()
    }
}

/// How long shutdown waits for subscriber sockets to take their close frames.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How often the event tailer looks for events committed by other processes.
const EVENT_POLL_INTERVAL: Duration = Duration::from_millis(200);

impl AppState {
    /// State over `store` with the settings in `config`, reading the time from `clock`.
    fn new(config: &ServerConfig, store: Arc<dyn Store>, clock: Clock) -> Self {
        let metrics = Arc::new(Metrics::default());
        metrics.max_subscriptions.set(i64::try_from(config.max_subscriptions).unwrap_or(i64::MAX));
        let chat = ChatService::new(store.clone(), config.message_rules(), clock.clone());
        let broker = Broker::new(store.clone(), chat.switch().clone(), config.event_buffer, EVENT_POLL_INTERVAL, metrics.clone());
        let wake = broker.clone();
        let chat = chat.with_commit_hook(Arc::new(move || wake.wake()));
        let limiter = Arc::new(RateLimiter::new(&config.rate_limits));
        let auth = AuthService::new(store.clone(), clock.clone());
        let accounts = Arc::new(Accounts::new(store.clone(), clock.clone()).with_operator_password_login(config.sso.password_login));
        let sso = sso_service(config, &accounts, &store, &clock);
        let shutdown = CancellationToken::new();
        let context = ApiContext {
            chat: chat.clone(),
            support: chat.support(),
            webhooks: WebhookService::new(store.clone(), clock.clone(), config.webhook_destinations()),
            provisioning: Provisioning::new(store.clone(), clock.clone()),
            broker: broker.clone(),
            limiter: limiter.clone(),
            metrics: metrics.clone(),
            accounts: accounts.clone(),
            public_url: config.public_url.as_ref().map(|url| url.as_str().to_owned()),
        };
        Self {
            api: ApiState::new(config, context, auth.clone(), shutdown.clone()),
            notify: NotificationState { auth: auth.clone(), notifications: NotificationService::new(store.clone(), clock.clone()) },
            embed: EmbedState::new(accounts.clone(), limiter.clone(), &config.embed_origins),
            web: WebState { accounts: accounts.clone(), auth, limiter, sso: sso.clone() },
            accounts,
            sso,
            trusted_proxies: config.trusted_proxies.clone(),
            chat,
            metrics,
            broker,
            store,
            clock,
            shutdown,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            max_connections: config.connection_cap(),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            webhooks: config.webhook_settings(),
            retention: config.retention_days.map(|days| Duration::from_secs(u64::from(days) * 86_400)),
            notifications: notification_settings(config),
        }
    }
}

/// The single sign-on service `config` asks for. `serve` checks the flags before it
/// starts; settings that are wrong here (a test's) are logged and leave sign-on off.
fn sso_service(config: &ServerConfig, accounts: &Arc<Accounts>, store: &Arc<dyn Store>, clock: &Clock) -> Option<Arc<SsoService>> {
    let built = config
        .sso_settings()
        .and_then(|settings| settings.map(|settings| SsoService::new(settings, accounts.clone(), store.clone(), clock.clone())).transpose());
    match built {
        Ok(sso) => sso.map(Arc::new),
        Err(error) => {
            tracing::error!(%error, "single sign-on is off: its settings are wrong");
            None
        }
    }
}

/// The e-mail notification settings `config` asks for. `serve` checks the flags before
/// it starts; settings that are wrong here (a test's) are logged and leave e-mails off.
fn notification_settings(config: &ServerConfig) -> Option<NotificationSettings> {
    config.notification_settings().unwrap_or_else(|error| {
        tracing::error!(%error, "e-mail notifications are off: their settings are wrong");
        None
    })
}

/// The HTTP routes: the API's and the portals', the operations endpoints, and the layers
/// every response passes.
fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(api::router())
        .merge(web::router())
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

/// Ready when the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.chat.ready().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// The metrics, with the database's health read at this scrape.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let health = Operations::new(state.store.clone()).health(state.clock.now()).await;
    state.metrics.database_up.set(i64::from(health.database_up));
    if let Some(backlog) = health.notification_backlog {
        state.metrics.notification_backlog.set(backlog);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// Security headers on every response, pages and API alike: no page may frame ours
/// (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), except the embed page, which
/// brings its own policy naming `--embed-origins` and is marked [`Framable`].
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let framable = response.extensions().get::<Framable>().is_some();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.entry(name).or_insert(header::HeaderValue::from_static(value));
    }
    if !framable {
        headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
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

/// A server started by [`launch`].
pub struct Server {
    state: Arc<AppState>,
    serving: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The running server's state (tests assert on what it holds in memory).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Waits until the server has shut down and every worker has stopped.
    pub async fn stopped(self) -> std::io::Result<()> {
        self.serving.await.map_err(std::io::Error::other)?
    }
}

/// Starts the server over `store` with the settings in `config` on `listener` (bound
/// already, so a test may use port 0), until `shutdown` resolves; then subscriptions
/// close and in-flight requests finish. The background workers (event tailer, webhook
/// deliveries, e-mail notifications, retention, session purge) run meanwhile.
pub fn launch(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Server {
    let state = Arc::new(AppState::new(config, store, Clock::system()));
    let serving = tokio::spawn(serve(state.clone(), listener, shutdown));
    Server { state, serving }
}

/// Serves `state` on `listener` until `shutdown` resolves, with the workers running.
async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let stop = state.shutdown.clone();
    if state.notifications.is_some() {
        if let Err(error) = notifications::place_cursor(state.store.as_ref()).await {
            tracing::warn!(%error, "could not place the e-mail notifier's cursor before serving; its first round will");
        }
    }
    let tailer = state.broker.spawn_tailer(stop.clone());
    let remote_listener = state.broker.spawn_remote_listener(stop.clone());
    let webhook_worker = webhooks::spawn_worker(state.store.clone(), state.clock.clone(), state.metrics.clone(), state.webhooks.clone(), stop.clone());
    let notifier = state.notifications.clone().map(|settings| notifications::spawn_worker(state.store.clone(), state.clock.clone(), state.metrics.clone(), settings, stop.clone()));
    let retention = state.retention.map(|keep| retention::spawn(state.store.clone(), state.clock.clone(), keep, stop.clone()));
    let session_purge = state.accounts.clone().spawn_session_purge(stop.clone());
    let discovery = state.sso.clone().map(|sso| sso.spawn_discovery(stop.clone()));
    let signal = {
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    };
    let listener = CappedListener::new(listener, state.max_connections);
    let sockets = state.api.sockets.clone();
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
    if let Some(task) = discovery {
        let _ = task.await;
    }
    if let Some(task) = retention {
        let _ = task.await;
    }
    if let Some(task) = notifier {
        let _ = task.await;
    }
    if let Some(task) = remote_listener {
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
