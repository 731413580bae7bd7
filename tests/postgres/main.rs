//! The integration suite on PostgreSQL: the same test modules as `tests/api`, each test
//! on a fresh database of the server at `MARKETCHAT_TEST_POSTGRES` (dropped afterwards),
//! plus tests of several nodes sharing one database. PostgreSQL being unreachable
//! fails these tests; they never skip.

/// The backend this binary runs the suite on.
pub const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[path = "../api/abuse.rs"]
mod abuse;
#[path = "../api/accounts.rs"]
mod accounts;
#[path = "../api/cli.rs"]
mod cli;
#[path = "../api/crash.rs"]
mod crash;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/isolation.rs"]
mod isolation;
#[path = "../api/limits.rs"]
mod limits;
mod multinode;
#[path = "../api/operations.rs"]
mod operations;
#[path = "../api/operator_api.rs"]
mod operator_api;
#[path = "../api/paging.rs"]
mod paging;
#[path = "../api/realtime.rs"]
mod realtime;
#[path = "../api/retention.rs"]
mod retention;
#[path = "../api/seller_api.rs"]
mod seller_api;
#[path = "../api/storage.rs"]
mod storage;
mod tls;
#[path = "../api/webhooks.rs"]
mod webhooks;
