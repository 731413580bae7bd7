//! marketchat: in-app chat between a marketplace operator and its sellers, with
//! Marketplacer-compatible Seller and Operator GraphQL APIs.
//!
//! Layout, from the inside out:
//! - [`domain`]: pure rules (IDs, cursors, paging, message bodies, the sensitive-data
//!   guard, who may mark what read). No I/O.
//! - [`store`]: the `Store` trait and its SQLite implementation; all SQL lives there.
//! - [`service`]: the use cases, applying domain rules and calling the store.
//! - [`api`]: the two GraphQL schemas, authentication and the HTTP handlers.
//! - [`realtime`]: the event broker: tails the durable feed, fans out, replays.
//! - [`listener`]: the accept loop with a cap on open connections.
//! - [`app`]: router, shared state, serving and graceful shutdown.
//! - [`cli`], [`config`], [`demo`]: the command line.

#![forbid(unsafe_code)]

pub mod api;
pub mod accounts;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod listener;
pub mod domain;
pub mod metrics;
pub mod realtime;
pub mod service;
pub mod store;
pub mod web;
pub mod webhooks;
