//! The integration suite: every test starts the real server on port 0 with a fresh
//! database and talks to it over HTTP and WebSockets like a client would.
//!
//! Two test binaries run it, each on the back end it is named after: `tests/sqlite.rs` and
//! `tests/postgres.rs` (`MARKETCHAT_TEST_BACKEND=sqlite|postgres` overrides the name), so
//! `cargo test` runs every test on both. The few tests of one back end only (several nodes
//! on one database, TLS to the database) say on the other why they do not apply.
//! `TEST_LOG=1` makes the servers a test starts log (see `common::log`).

mod abuse;
mod accounts;
mod backup;
mod cli;
mod crash;
mod credential_cache;
mod embed;
mod errors;
mod inbox;
mod inbox_portal;
mod isolation;
mod limits;
mod multinode;
mod notifications;
mod operations;
mod operator_api;
mod paging;
mod parity;
mod portals;
mod provisioning;
mod realtime;
mod retention;
mod search;
mod seller_api;
mod sso;
mod storage;
mod tls;
mod webhooks;
