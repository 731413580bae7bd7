//! The one place test helpers live: spawn the real server on port 0 with a fresh
//! database, create sellers and keys, and speak GraphQL over HTTP like a client.
// Shared by the SQLite and PostgreSQL test binaries; each uses a different part.
#![allow(dead_code)]

use marketchat::app::{self, AppState};
use marketchat::config::RateLimits;
use marketchat::config::ServerConfig;
use marketchat::domain::ids::seller_gid;
use marketchat::domain::keys::generate_key;
use marketchat::store::{self, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The brief's send mutation, verbatim.
pub const BRIEF_SEND: &str = r#"mutation SendMessgaeToOperator {
chatMessageCreate(
input: {
message: "Can you check to see when my remittance will be paid?"
}
) {
chatMessage {
id
}
errors {
field
messages
}
}
}"#;

/// The brief's list query, verbatim.
pub const BRIEF_LIST: &str = r#"query GetChatMessages {
chatMessages(first: 10, after: null) {
totalCount
pageInfo {
hasNextPage
endCursor
}
nodes {
id
createdAt
message
readAt
sentByType
}
}
}"#;

/// The brief's read mutation, verbatim.
pub const BRIEF_READ: &str = r#"mutation ConfirmReadOfChatMessage {
chatMessageRead(input: { sentBy: "Admin" }) {
errors {
messages
field
}
}
}"#;

/// Which database a test binary runs the suite on (its root module sets `BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server at `MARKETCHAT_TEST_POSTGRES`
    /// (default `postgres://postgres@127.0.0.1:5432`); never skipped: unreachable fails.
    Postgres,
}

/// A fresh, empty database for one test; removed when dropped.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

fn postgres_admin_url() -> String {
    std::env::var("MARKETCHAT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Ends the whole test run at once with one line saying what to start or install,
/// instead of letting every test that needs `what` fail with its own wall of errors.
pub fn require(available: bool, what: &str) {
    if !available {
        use std::io::Write;
        // Straight to the process's stderr: the harness captures `eprintln!` of a test.
        let _ = writeln!(std::io::stderr(), "error: the test suite needs {what}");
        std::process::exit(2);
    }
}

/// Checks once per test binary that PostgreSQL answers (the PostgreSQL suite, the
/// bench's PostgreSQL scenario and the multi-node tests need it).
pub fn require_postgres() {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let admin = postgres_admin_url();
        let reachable = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgConnection::connect(&format!("{admin}/postgres")))
                    .await
                    .is_ok_and(|connected| connected.is_ok())
            })
        })
        .join()
        .unwrap_or(false);
        require(
            reachable,
            &format!("PostgreSQL at {} (start it, or set MARKETCHAT_TEST_POSTGRES)", postgres_admin_url()),
        );
    });
}

/// Checks that Debian's `chromium` and `chromedriver` are installed (the portal tests).
pub fn require_chromium() {
    let installed = |program: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    require(
        installed("chromium") && installed("chromedriver"),
        "Chromium and chromedriver (apt-get install chromium chromium-driver)",
    );
}

impl TestDatabase {
    /// Creates a database on this binary's backend.
    pub async fn create() -> Self {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("temp dir");
        match crate::BACKEND {
            Backend::Sqlite => Self { url: format!("sqlite://{}", dir.path().join("test.db").display()), postgres_name: None, _dir: dir },
            Backend::Postgres => {
                require_postgres();
                static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let name = format!("mc_test_{}_{n}", std::process::id());
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin} ({e}); start it or set MARKETCHAT_TEST_POSTGRES"));
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
                Self { url: format!("{admin}/{name}"), postgres_name: Some(name), _dir: dir }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs outside async: use a small runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A running server with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The store the server uses, for setup and for asserting on stored rows.
    pub store: Arc<dyn Store>,
    /// The database URL (for CLI tests on the same database).
    pub database_url: String,
    client: reqwest::Client,
    /// Stops an in-process server when dropped (`None` for a node process).
    _shutdown: Option<oneshot::Sender<()>>,
    /// The database, when this app owns it.
    _database: Option<TestDatabase>,
    /// The settings the server runs with (kept across `restart`).
    config: ServerConfig,
    /// The running in-process server's state (`None` for a node process).
    state: Option<Arc<AppState>>,
}

/// A seller created for a test: its row number, global ID and one key.
pub struct TestSeller {
    /// Row number.
    pub id: i64,
    /// Global ID.
    pub gid: String,
    /// A seller API key.
    pub key: String,
}

impl TestApp {
    /// Starts a server with default settings, rate limits off (the tests of rate limits
    /// turn them on; most tests send faster than a real client would).
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config()).await
    }

    /// Starts a server with `config` (its `bind` is ignored: port 0 on loopback).
    pub async fn spawn_with(config: ServerConfig) -> Self {
        let database = TestDatabase::create().await;
        let database_url = database.url.clone();
        let store = store::connect(&database_url, &Default::default()).await.expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown, state) = Self::serve(store.clone(), config.clone(), listener);
        let client = reqwest::Client::new();
        Self { base, store, database_url, client, _shutdown: Some(shutdown), _database: Some(database), config, state: Some(state) }
    }

    fn serve(store: Arc<dyn Store>, config: ServerConfig, listener: tokio::net::TcpListener) -> (oneshot::Sender<()>, Arc<AppState>) {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = app::launch(&config, store, listener, async move {
            let _ = stopped.await;
        });
        (shutdown, server.state().clone())
    }

    /// The in-process server's state, to assert on what it holds in memory.
    pub fn state(&self) -> &AppState {
        self.state.as_deref().expect("an in-process server")
    }

    /// Runs `statements` in order on one fresh connection to the test's database
    /// (setup the API cannot do, such as ageing a row); the first failure is returned.
    pub async fn execute_sql(&self, statements: &[&str]) -> Result<u64, String> {
        use sqlx::Connection;
        let mut affected = 0;
        if self.database_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.map_err(|e| e.to_string())?;
            for statement in statements {
                affected = sqlx::query(statement).execute(&mut conn).await.map_err(|e| e.to_string())?.rows_affected();
            }
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await.map_err(|e| e.to_string())?;
            for statement in statements {
                affected = sqlx::query(statement).execute(&mut conn).await.map_err(|e| e.to_string())?.rows_affected();
            }
        }
        Ok(affected)
    }

    /// The first column of the first row `query` returns, as a number.
    pub async fn query_i64(&self, query: &str) -> i64 {
        use sqlx::Connection;
        if self.database_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.expect("connect");
            sqlx::query_scalar(query).fetch_one(&mut conn).await.expect("query")
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await.expect("connect");
            sqlx::query_scalar(query).fetch_one(&mut conn).await.expect("query")
        }
    }

    /// Restarts the server with other settings.
    pub async fn restart_with(&mut self, config: ServerConfig) {
        self.config = config;
        self.restart(async {}).await;
    }

    /// Stops the server (clients see their connections close), runs `while_down`, then
    /// starts a new server on the same address and database.
    pub async fn restart<F: std::future::Future<Output = ()>>(&mut self, while_down: F) {
        drop(self._shutdown.take());
        let addr = self.base.trim_start_matches("http://").to_owned();
        // The old server lets go of the port once its connections have closed.
        let mut listener = None;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if let Ok(bound) = tokio::net::TcpListener::bind(&addr).await {
                listener = Some(bound);
                break;
            }
        }
        let listener = listener.expect("the port is free again");
        while_down.await;
        let (shutdown, state) = Self::serve(self.store.clone(), self.config.clone(), listener);
        self._shutdown = Some(shutdown);
        self.state = Some(state);
    }

    /// A client of a server running elsewhere (a node process) on `store`'s database.
    pub fn remote(base: String, store: Arc<dyn Store>, database_url: String) -> Self {
        Self { base, store, database_url, client: reqwest::Client::new(), _shutdown: None, _database: None, config: ServerConfig::default(), state: None }
    }

    /// Every webhook attempt recorded so far, oldest first.
    pub async fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        const ATTEMPTS: &str = "SELECT e.url, a.status, a.error FROM webhook_attempts a \
            JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints e ON e.id = d.endpoint_id ORDER BY a.id";
        use sqlx::Connection;
        let rows: Vec<(String, Option<i64>, Option<String>)> = match crate::BACKEND {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.expect("open database");
                sqlx::query_as(ATTEMPTS).fetch_all(&mut conn).await.expect("read attempts")
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url).await.expect("open database");
                sqlx::query_as(ATTEMPTS).fetch_all(&mut conn).await.expect("read attempts")
            }
        };
        rows.into_iter().map(|(url, status, error)| WebhookAttempt { url, status, error }).collect()
    }

    /// Waits (at most 15 s) until `done` holds for the recorded webhook attempts; returns them.
    pub async fn wait_for_webhook_attempts(&self, done: impl Fn(&[WebhookAttempt]) -> bool) -> Vec<WebhookAttempt> {
        for _ in 0..300 {
            let attempts = self.webhook_attempts().await;
            if done(&attempts) {
                return attempts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the expected webhook attempts were never recorded: {:?}", self.webhook_attempts().await);
    }

    /// Creates a seller with one API key.
    pub async fn seller(&self, name: &str) -> TestSeller {
        let seller = self.store.create_seller(name, now()).await.expect("create seller");
        let key = self.seller_key(seller.id).await;
        TestSeller { id: seller.id, gid: seller_gid(seller.id), key }
    }

    /// Another key for an existing seller.
    pub async fn seller_key(&self, seller_id: i64) -> String {
        let key = generate_key(&mut rand::thread_rng());
        self.store.create_api_key(&key.hash, Some(seller_id), None, now()).await.expect("create key");
        key.secret
    }

    /// A new operator key with `label`.
    pub async fn operator_key(&self, label: &str) -> String {
        let key = generate_key(&mut rand::thread_rng());
        self.store.create_api_key(&key.hash, None, Some(label), now()).await.expect("create key");
        key.secret
    }

    /// POSTs a GraphQL request with `MARKETPLACER-API-KEY: key` to `path`.
    pub async fn graphql(&self, path: &str, key: &str, query: &str, variables: Value) -> (StatusCode, Value) {
        let body = json!({ "query": query, "variables": variables });
        let request = self.client.post(format!("{}{path}", self.base)).header("MARKETPLACER-API-KEY", key).json(&body);
        Self::read(request).await
    }

    /// Sends a prepared request and returns its status and JSON body.
    pub async fn read(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, body)
    }

    /// A request builder for `path` (for header and body experiments).
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// A GET of `path`.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("request");
        (response.status(), response.text().await.expect("body"))
    }

    /// Seller API request that must succeed at the HTTP level; returns `data`.
    pub async fn as_seller(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql("/graphql/seller", key, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Operator API request that must succeed at the HTTP level; returns `data`.
    pub async fn as_operator(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql("/graphql/operator", key, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Sends `text` as the seller; returns the payload.
    pub async fn seller_sends(&self, key: &str, text: &str) -> Value {
        let data = self.as_seller(key, SELLER_SEND, json!({ "message": text })).await;
        data["chatMessageCreate"].clone()
    }

    /// Sends `text` into `seller_gid`'s thread as the operator; returns the payload.
    pub async fn operator_sends(&self, key: &str, seller_gid: &str, text: &str) -> Value {
        let data = self.as_operator(key, OPERATOR_SEND, json!({ "sellerId": seller_gid, "message": text })).await;
        data["chatMessageCreate"].clone()
    }

    /// Messages stored in `seller_id`'s thread, counted from the rows themselves.
    pub async fn stored_messages(&self, seller_id: i64) -> i64 {
        let mut count = 0;
        let mut after = 0;
        loop {
            let batch = self.store.messages_oldest_first(seller_id, after, 500).await.expect("read rows");
            let Some(last) = batch.last() else { return count };
            after = last.seq;
            count += batch.len() as i64;
        }
    }
}

/// Seller send with variables.
pub const SELLER_SEND: &str = "mutation($message: String!, $cmid: String) {
  chatMessageCreate(input: { message: $message, clientMutationId: $cmid }) {
    chatMessage { id message sentByType createdAt readAt sentBy }
    errors { field messages }
    clientMutationId
  }
}";

/// Operator send with variables.
pub const OPERATOR_SEND: &str = "mutation($sellerId: ID!, $message: String!, $cmid: String) {
  chatMessageCreate(input: { sellerId: $sellerId, message: $message, clientMutationId: $cmid }) {
    chatMessage { id message sentByType createdAt readAt sentBy seller { id businessName } }
    errors { field messages }
    clientMutationId
  }
}";

/// Seller page query with all four Relay arguments as variables.
pub const SELLER_PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  chatMessages(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id message sentByType readAt sentBy }
    edges { cursor node { id } }
  }
}";

/// The settings tests start from: the defaults, with rate limits off and webhooks
/// allowed to reach private addresses (test receivers listen on loopback).
pub fn test_config() -> ServerConfig {
    ServerConfig { rate_limits: RateLimits::off(), webhook_allow_private: true, ..ServerConfig::default() }
}

/// Unix milliseconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The `errors` of a payload as (field, first message) pairs.
pub fn payload_errors(payload: &Value) -> Vec<(String, String)> {
    payload["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["messages"][0].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `extensions.code` of the first GraphQL error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// The messages of a page, as their texts.
pub fn texts(connection: &Value) -> Vec<String> {
    connection["nodes"].as_array().expect("nodes").iter().map(|n| n["message"].as_str().expect("text").to_owned()).collect()
}

/// The subscription both APIs answer, selecting the fields they share.
pub const CHAT_EVENTS: &str = "subscription($after: String) {
  chatEvents(after: $after) {
    __typename
    ... on ChatMessageCreated { cursor chatMessage { id message sentByType } }
    ... on ChatMessagesRead { cursor sellerId sentByType readAt messageIds }
  }
}";

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client over a real socket.
pub struct WsClient {
    ws: WsStream,
}

/// How a socket ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The connection dropped without a close frame.
    Dropped,
}

impl TestApp {
    /// Opens a WebSocket on `path` with the graphql-transport-ws subprotocol.
    pub async fn websocket(&self, path: &str) -> WsClient {
        WsClient::connect(&self.base, path).await
    }

    /// Connects with `key`, waits for the ack, and subscribes to `chatEvents(after:)`.
    pub async fn subscribe(&self, path: &str, key: &str, after: Option<&str>) -> WsClient {
        WsClient::subscribe(&self.base, path, key, after).await
    }
}

impl WsClient {
    /// Wraps a socket the caller opened (for header experiments).
    pub fn from_stream(ws: WsStream) -> Self {
        Self { ws }
    }

    /// Opens a WebSocket on `base` + `path` with the graphql-transport-ws subprotocol.
    pub async fn connect(base: &str, path: &str) -> WsClient {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        WsClient { ws }
    }

    /// Connects with `key`, waits for the ack, and subscribes to `chatEvents(after:)`.
    pub async fn subscribe(base: &str, path: &str, key: &str, after: Option<&str>) -> WsClient {
        let mut client = Self::connect(base, path).await;
        client.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": key } })).await;
        let ack = client.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CHAT_EVENTS, "variables": { "after": after } } })).await;
        client
    }

    /// Opens a socket on `path` and completes `connection_init` with `key`.
    pub async fn initialised(base: &str, path: &str, key: &str) -> WsClient {
        let mut client = Self::connect(base, path).await;
        client.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": key } })).await;
        let ack = client.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Runs one query or mutation over the socket as operation `id`; returns the first
    /// message about it (`next` with the result, or `error`), or how the socket ended.
    pub async fn operation(&mut self, id: &str, query: &str, variables: Value) -> Result<Value, Ended> {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
        loop {
            let message = self.next_message().await?;
            if message["id"] == id && message["type"] != "complete" {
                return Ok(message);
            }
        }
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        self.ws.send(tokio_tungstenite::tungstenite::Message::text(message.to_string())).await.expect("ws send");
    }

    /// The next protocol message, or `Err` with how the socket ended (5 s at most).
    pub async fn next_message(&mut self) -> Result<Value, Ended> {
        self.next_message_within(5).await
    }

    /// The next protocol message, or `Err` with how the socket ended.
    pub async fn next_message_within(&mut self, seconds: u64) -> Result<Value, Ended> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
                let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("no message in time");
            match frame {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("JSON message")),
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame.map_or(1005, |f| f.code.into()))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// The next `chatEvents` event (fails on anything else).
    pub async fn next_event(&mut self) -> Value {
        let message = self.next_message().await.expect("an event");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["chatEvents"].clone()
    }

    /// Asserts nothing arrives for `millis`.
    pub async fn expect_silence(&mut self, millis: u64) {
        use futures_util::StreamExt;
        let next = tokio::time::timeout(std::time::Duration::from_millis(millis), self.ws.next()).await;
        assert!(next.is_err(), "expected silence, got {next:?}");
    }

    /// Waits for the socket to end and says how (skipping any messages before).
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next_message_within(10).await {
                return ended;
            }
        }
    }
}

/// A `marketchat serve` process; SIGKILLed when dropped.
pub struct NodeProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl NodeProcess {
    /// Starts a node on `database_url` and waits for its `listening on` line.
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    /// Starts a node with extra environment variables.
    pub fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logging(database_url, env, std::process::Stdio::null())
    }

    /// Starts a node whose log (stderr) goes to `log`; `RUST_LOG` may be set in `env`.
    pub fn start_logging(database_url: &str, env: &[(&str, &str)], log: impl Into<std::process::Stdio>) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_marketchat"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("MARKETCHAT_DATABASE_URL", database_url)
            .env("MARKETCHAT_RATE_LIMITS", "off")
            // Webhook receivers in tests listen on loopback.
            .env("MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start node");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").expect("listening line").to_owned();
        Self { child, base }
    }

    /// SIGKILL: the process dies at once, mid-request or not.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status once it has stopped.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for node")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several nodes on one fresh database.
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<NodeProcess>,
    /// A store on the same database, for setup and assertions.
    pub store: Arc<dyn Store>,
    database: TestDatabase,
}

impl Cluster {
    /// `count` nodes on a fresh database of this binary's backend.
    pub async fn start(count: usize) -> Self {
        let database = TestDatabase::create().await;
        let store = store::connect(&database.url, &Default::default()).await.expect("open store");
        let nodes = (0..count).map(|_| NodeProcess::start(&database.url)).collect();
        Self { nodes, store, database }
    }

    /// A client of node `index`.
    pub fn app(&self, index: usize) -> TestApp {
        TestApp::remote(self.nodes[index].base.clone(), self.store.clone(), self.database.url.clone())
    }
}

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
    /// Every request answered, in arrival order.
    pub received: Arc<std::sync::Mutex<Vec<Received>>>,
    /// Requests that arrived (counted before any delay, so a test sees one in flight).
    pub arrived: Arc<std::sync::atomic::AtomicUsize>,
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
    pub delay_first: Option<std::time::Duration>,
    /// Answer every request `307` to this location.
    pub redirect: Option<String>,
    /// Serve HTTPS with this certificate chain and PKCS#8 key (DER).
    pub tls: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

/// A certificate authority made for one test (rcgen), and the certificates it issues.
pub struct TestCa {
    /// The CA certificate, PEM (what a trust store or `SSL_CERT_FILE` holds).
    pub pem: String,
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    /// A new CA called `name`.
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        Self { pem: certificate.pem(), certificate, key }
    }

    /// A server certificate for `localhost` and 127.0.0.1: (chain, PKCS#8 key), DER.
    pub fn issue_localhost(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let certificate = params.signed_by(&key, &self.certificate, &self.key).expect("server certificate");
        (vec![certificate.der().to_vec()], key.serialize_der())
    }

    /// Writes the CA certificate as a PEM file in `dir`; returns its path.
    pub fn write_pem(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, &self.pem).expect("write CA file");
        path
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
        let received: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
        let arrived: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (log, count) = (received.clone(), arrived.clone());
        let answers = behaviour.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (log, count, behaviour) = (log.clone(), count.clone(), answers.clone());
                async move {
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if behaviour.hang {
                        tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
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
        for _ in 0..300 {
            let received = self.received.lock().unwrap().clone();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the receiver never got what was expected: {:?}", self.received.lock().unwrap());
    }
}

/// Runs the `marketchat` binary on `database_url` with `args` (`RUST_LOG=warn` unless
/// `env` sets it), `stdin` written to its standard input, and waits at most 20 s (a
/// process still running then is killed, and its output returned as it is).
pub fn run_marketchat(database_url: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketchat"))
        .args(args)
        .env("MARKETCHAT_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run marketchat");
    if let Some(input) = stdin {
        let _ = writeln!(child.stdin.take().expect("stdin"), "{input}");
    }
    drop(child.stdin.take());
    for _ in 0..200 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
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
