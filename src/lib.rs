//! marketchat: in-app chat between a marketplace operator and its sellers, with
//! Marketplacer-compatible Seller and Operator GraphQL APIs.
//!
//! # Layout
//!
//! Every import points down this list (`scripts/import_graph.py` checks it):
//! - [`domain`]: pure rules (IDs, cursors, paging, message bodies, the sensitive-data
//!   guard, who may mark what read, how data is written out). No I/O.
//! - [`store`]: the `Store` trait and its SQLite and PostgreSQL implementations; all SQL
//!   lives there.
//! - [`service`]: the use cases (chat, authentication, accounts, webhooks, retention),
//!   applying domain rules and calling the store; nothing above names the store but the
//!   application, which hands it to the services and workers.
//! - [`config`]: the server's settings, from flags and environment.
//! - `realtime`: the event broker: tails the durable feed, fans out, replays.
//! - [`api`]: the two GraphQL schemas, authentication, rate limits and the HTTP and
//!   WebSocket handlers; `web`: the portals' pages and login.
//! - [`app`]: shared state, the router, serving and graceful shutdown ([`app::launch`]).
//! - [`cli`] (with `demo`): the command line.
//!
//! `metrics` and `listener` (the accept loop with a cap on open connections) sit beside
//! the domain and depend on nothing else here.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
mod demo;
pub mod domain;
mod listener;
mod metrics;
mod realtime;
pub mod service;
pub mod store;
mod web;
