//! The integration suite (tests/suite) on PostgreSQL: a fresh database per test on the
//! server at `MARKETCHAT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`),
//! dropped afterwards. PostgreSQL being unreachable ends the run; it is never skipped.

mod common;
mod suite;
