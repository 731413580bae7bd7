//! Integration tests: every test starts the real server on port 0 with a fresh
//! database and talks to it over HTTP like a client would. This binary runs them on
//! SQLite; `tests/postgres` runs the same modules on PostgreSQL.

/// The backend this binary runs the suite on.
pub const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

mod abuse;
mod accounts;
mod bench;
mod cli;
mod crash;
mod errors;
mod helpers;
mod isolation;
mod limits;
mod operations;
mod operator_api;
mod paging;
mod parity;
mod portals;
mod realtime;
mod retention;
mod seller_api;
mod storage;
mod webhooks;
