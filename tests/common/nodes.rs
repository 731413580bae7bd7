//! Servers as separate processes (`marketchat serve`), for what an in-process server cannot
//! show: SIGKILL and SIGTERM, its log output, and several nodes sharing one database.

use crate::common::app::TestApp;
use crate::common::db::TestDatabase;
use crate::common::log::test_log_filter;
use marketchat::store::{self, Store};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;

/// A `marketchat serve` process; SIGKILLed when dropped.
pub struct NodeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl NodeProcess {
    /// Starts a node on `database_url` and waits for its `listening on` line.
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    /// Starts a node with extra environment variables; it logs only with TEST_LOG set
    /// (to the run's stderr, at the level TEST_LOG's servers use).
    pub fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        match test_log_filter() {
            Some(filter) => Self::spawn(database_url, &filter, env, Stdio::inherit()),
            None => Self::spawn(database_url, "warn", env, Stdio::null()),
        }
    }

    /// Starts a node whose log (stderr) goes to `log`; `RUST_LOG` may be set in `env`.
    pub fn start_logging(database_url: &str, env: &[(&str, &str)], log: impl Into<Stdio>) -> Self {
        Self::spawn(database_url, "warn", env, log)
    }

    fn spawn(database_url: &str, log_filter: &str, env: &[(&str, &str)], log: impl Into<Stdio>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_marketchat"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("MARKETCHAT_DATABASE_URL", database_url)
            .env("MARKETCHAT_RATE_LIMITS", "off")
            // Webhook receivers in tests listen on loopback.
            .env("MARKETCHAT_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", log_filter)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("read the node's first line");
        let base = line.trim().strip_prefix("listening on ").expect("listening line").to_owned();
        Self { child, base }
    }

    /// SIGKILL: the process dies at once, mid-request or not.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status once it has stopped.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
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
    /// `count` nodes on a fresh database of this run's back end.
    pub async fn start(count: usize) -> Self {
        Self::start_with(count, &[]).await
    }

    /// `count` nodes with extra environment variables on a fresh database.
    pub async fn start_with(count: usize, env: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create().await;
        let store = store::connect(&database.url, &Default::default()).await.expect("open store");
        let nodes = (0..count).map(|_| NodeProcess::start_with(&database.url, env)).collect();
        Self { nodes, store, database }
    }

    /// A client of node `index`.
    pub fn app(&self, index: usize) -> TestApp {
        TestApp::remote(self.nodes[index].base.clone(), self.store.clone(), self.database.url.clone())
    }
}
