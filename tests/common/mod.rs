//! What every test shares, one module per job. Tests start the real server (in-process on
//! port 0, or as a process) on a fresh database of this run's back end and talk to it the
//! way clients do.

pub mod app;
pub mod browser;
pub mod ca;
pub mod cli;
pub mod db;
pub mod host;
pub mod graphql;
pub mod log;
pub mod nodes;
pub mod oidc;
pub mod requirements;
pub mod session;
pub mod smtp;
pub mod wait;
pub mod webhook;
pub mod ws;
