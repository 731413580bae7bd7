//! The database under test: which back end this run uses, a fresh database per test, and
//! plain SQL on it for what the API cannot set up or show (ageing a row, counting rows).

use crate::common::requirements::{require_postgres, stop_run};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Which database a run of the suite uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server at `MARKETCHAT_TEST_POSTGRES`
    /// (default `postgres://postgres@127.0.0.1:5432`); never skipped: unreachable fails.
    Postgres,
}

impl Backend {
    /// Its name, as `MARKETCHAT_TEST_BACKEND` and the test binaries spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// This run's back end: `MARKETCHAT_TEST_BACKEND` when set, else the test binary's name
/// (tests/sqlite.rs and tests/postgres.rs run the same suite).
pub fn backend() -> Backend {
    static CHOSEN: OnceLock<Backend> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        crate::common::requirements::start_watchdog();
        let chosen = std::env::var("MARKETCHAT_TEST_BACKEND").ok().filter(|name| !name.is_empty());
        let chosen = chosen.unwrap_or_else(|| env!("CARGO_CRATE_NAME").to_owned());
        [Backend::Sqlite, Backend::Postgres]
            .into_iter()
            .find(|backend| backend.name() == chosen)
            .unwrap_or_else(|| stop_run(&format!("unknown back end {chosen:?}: set MARKETCHAT_TEST_BACKEND to sqlite or postgres")))
    })
}

/// Whether this run's back end is `needed`. When it is not, says why the calling test does
/// not apply (once per `reason`, on the run's stderr), and the test returns untested.
pub fn runs_on(needed: Backend, reason: &'static str) -> bool {
    if backend() == needed {
        return true;
    }
    static SAID: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(PoisonError::into_inner);
    if !said.contains(&reason) {
        said.push(reason);
        // Straight to the process's stderr: the harness captures `eprintln!` of a passing test.
        let _ = writeln!(std::io::stderr(), "note: {reason}; those tests pass without running on {}", backend().name());
    }
    false
}

/// The PostgreSQL server the suite creates its databases on (`MARKETCHAT_TEST_POSTGRES`).
pub fn postgres_admin_url() -> String {
    std::env::var("MARKETCHAT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh, empty database for one test; removed when dropped.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    /// The PostgreSQL database to drop afterwards (`None` on SQLite).
    postgres_name: Option<String>,
    /// Holds the SQLite file (and nothing on PostgreSQL) until the test ends.
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    /// Creates a database on this run's back end.
    pub async fn create() -> Self {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("temp dir");
        match backend() {
            Backend::Sqlite => Self { url: format!("sqlite://{}", dir.path().join("test.db").display()), postgres_name: None, _dir: dir },
            Backend::Postgres => {
                require_postgres();
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let name = format!("mc_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
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

/// Evaluates `$work` (a `Result<_, sqlx::Error>` that may `.await`) with `$conn` a fresh
/// connection to the database at `$url`, in whichever dialect the URL names.
macro_rules! on_connection {
    ($url:expr, |$conn:ident| $work:expr) => {{
        use sqlx::Connection;
        if $url.starts_with("sqlite:") {
            match sqlx::SqliteConnection::connect($url).await {
                Ok(mut $conn) => $work,
                Err(error) => Err(error),
            }
        } else {
            match sqlx::PgConnection::connect($url).await {
                Ok(mut $conn) => $work,
                Err(error) => Err(error),
            }
        }
    }};
}

/// Runs `statements` in order on one fresh connection to `url`; the rows the last one
/// affected, or the first failure.
pub async fn execute_sql(url: &str, statements: &[&str]) -> Result<u64, String> {
    let affected = on_connection!(url, |conn| async {
        let mut affected = 0;
        for statement in statements {
            affected = sqlx::query(statement).execute(&mut conn).await?.rows_affected();
        }
        Ok::<_, sqlx::Error>(affected)
    }
    .await);
    affected.map_err(|e| e.to_string())
}

/// The first column of the first row `query` returns on `url`, as a number.
pub async fn query_i64(url: &str, query: &str) -> i64 {
    on_connection!(url, |conn| sqlx::query_scalar(query).fetch_one(&mut conn).await).expect("query")
}

/// Every row `query` returns on `url`.
pub async fn fetch_rows<Row>(url: &str, query: &str) -> Vec<Row>
where
    Row: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    on_connection!(url, |conn| sqlx::query_as(query).fetch_all(&mut conn).await).expect("query")
}
