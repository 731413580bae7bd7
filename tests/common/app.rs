//! The server under test: the real app started in-process on port 0 with a fresh database
//! (or a node process's address), with the sellers and keys a test sets up through its store.

use crate::common::db::{self, TestDatabase};
use crate::common::log::init_in_process_logging;
use crate::common::wait::poll_until;
use marketchat::config::RateLimits;
use marketchat::app::{self, AppState};
use marketchat::config::ServerConfig;
use marketchat::domain::ids::{SellerId, Seq};
use marketchat::domain::time::UnixMillis;
use marketchat::domain::keys::{generate_key, KeyOwner};
use marketchat::store::{self, ApiKeyRecord, KeyListQuery, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The store the server uses, for setup and for asserting on stored rows.
    pub store: Arc<dyn Store>,
    /// The database URL (for CLI tests on the same database).
    pub database_url: String,
    /// The HTTP client requests go through (connections are reused).
    pub(super) client: reqwest::Client,
    /// Stops an in-process server when dropped (`None` for a node process).
    shutdown: Option<oneshot::Sender<()>>,
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
    pub id: SellerId,
    /// Global ID.
    pub gid: String,
    /// A seller API key.
    pub key: String,
}

/// The settings tests start from: the defaults, with rate limits off (the tests of rate
/// limits turn them on; most tests send faster than a real client would) and webhooks
/// allowed to reach private addresses (test receivers listen on loopback).
pub fn test_config() -> ServerConfig {
    ServerConfig { rate_limits: RateLimits::off(), webhook_allow_private: true, ..ServerConfig::default() }
}

/// Unix milliseconds now.
pub fn now() -> UnixMillis {
    UnixMillis::new(chrono::Utc::now().timestamp_millis())
}

impl TestApp {
    /// Starts a server with [`test_config`].
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config()).await
    }

    /// Starts a server with `config` (its `bind` is ignored: port 0 on loopback).
    pub async fn spawn_with(config: ServerConfig) -> Self {
        Self::spawn_on(Self::bind().await, config).await
    }

    /// A listener on a free loopback port, for a server started later with [`Self::spawn_on`]
    /// (when its address must be known first, e.g. to register it at an identity provider).
    pub async fn bind() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").await.expect("bind")
    }

    /// Starts a server with `config` on `listener`.
    pub async fn spawn_on(listener: TcpListener, config: ServerConfig) -> Self {
        let database = TestDatabase::create().await;
        let database_url = database.url.clone();
        let store = store::connect(&database_url, &Default::default()).await.expect("open store");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown, state) = Self::serve(store.clone(), config.clone(), listener);
        let client = reqwest::Client::new();
        Self { base, store, database_url, client, shutdown: Some(shutdown), _database: Some(database), config, state: Some(state) }
    }

    fn serve(store: Arc<dyn Store>, config: ServerConfig, listener: TcpListener) -> (oneshot::Sender<()>, Arc<AppState>) {
        init_in_process_logging();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = app::launch(&config, store, listener, async move {
            let _ = stopped.await;
        });
        (shutdown, server.state().clone())
    }

    /// A client of a server running elsewhere (a node process) on `store`'s database.
    pub fn remote(base: String, store: Arc<dyn Store>, database_url: String) -> Self {
        Self { base, store, database_url, client: reqwest::Client::new(), shutdown: None, _database: None, config: ServerConfig::default(), state: None }
    }

    /// The in-process server's state, to assert on what it holds in memory.
    pub fn state(&self) -> &AppState {
        self.state.as_deref().expect("an in-process server")
    }

    /// Restarts the server with other settings.
    pub async fn restart_with(&mut self, config: ServerConfig) {
        self.config = config;
        self.restart(async {}).await;
    }

    /// Stops the server (clients see their connections close), runs `while_down`, then
    /// starts a new server on the same address and database.
    pub async fn restart(&mut self, while_down: impl Future<Output = ()>) {
        drop(self.shutdown.take());
        let addr = self.base.trim_start_matches("http://").to_owned();
        // The old server lets go of the port once it has stopped.
        let bound = poll_until(Duration::from_secs(5), || TcpListener::bind(&addr), Result::is_ok).await;
        let listener = bound.expect("the port is free again");
        while_down.await;
        let (shutdown, state) = Self::serve(self.store.clone(), self.config.clone(), listener);
        self.shutdown = Some(shutdown);
        self.state = Some(state);
    }

    /// Runs `statements` in order on one fresh connection to the test's database
    /// (setup the API cannot do, such as ageing a row); the first failure is returned.
    pub async fn execute_sql(&self, statements: &[&str]) -> Result<u64, String> {
        db::execute_sql(&self.database_url, statements).await
    }

    /// The first column of the first row `query` returns, as a number.
    pub async fn query_i64(&self, query: &str) -> i64 {
        db::query_i64(&self.database_url, query).await
    }

    /// Creates a seller with one API key.
    pub async fn seller(&self, name: &str) -> TestSeller {
        let seller = self.store.create_seller(name, now()).await.expect("create seller");
        let key = self.seller_key(seller.id).await;
        TestSeller { id: seller.id, gid: seller.id.gid(), key }
    }

    /// Another key for an existing seller.
    pub async fn seller_key(&self, seller_id: SellerId) -> String {
        let key = generate_key(&mut rand::thread_rng());
        self.store.create_api_key(&key.hash, KeyOwner::Seller(seller_id), None, now()).await.expect("create key");
        key.secret
    }

    /// A new operator key with `label`.
    pub async fn operator_key(&self, label: &str) -> String {
        let key = generate_key(&mut rand::thread_rng());
        self.store.create_api_key(&key.hash, KeyOwner::Operator { admin: false }, Some(label), now()).await.expect("create key");
        key.secret
    }

    /// A new operator admin key (may call the provisioning API) with `label`.
    pub async fn admin_key(&self, label: &str) -> String {
        let key = generate_key(&mut rand::thread_rng());
        self.store.create_api_key(&key.hash, KeyOwner::Operator { admin: true }, Some(label), now()).await.expect("create key");
        key.secret
    }

    /// Every stored API key, oldest first.
    pub async fn api_keys(&self) -> Vec<ApiKeyRecord> {
        let query = KeyListQuery { limit: 10_000, after: None, seller_id: None };
        self.store.list_api_keys(&query).await.expect("list keys").items
    }

    /// Messages stored in `seller_id`'s thread, counted from the rows themselves.
    pub async fn stored_messages(&self, seller_id: SellerId) -> i64 {
        let mut count = 0;
        let mut after = Seq::new(0);
        loop {
            let batch = self.store.messages_oldest_first(seller_id, after, 500).await.expect("read rows");
            let Some(last) = batch.last() else { return count };
            after = last.seq;
            count += batch.len() as i64;
        }
    }
}
