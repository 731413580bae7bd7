//! The integration suite (tests/suite) on SQLite: a file in a temporary directory per test.

mod common;
mod suite;
