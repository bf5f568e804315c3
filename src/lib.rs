//! pollchat: a chat server on one thread and one readiness-polling event loop.
//!
//! Start reading at `server/mod.rs` ([`server::Server::run`]), which walks from `accept` to `write`;
//! docs/architecture.md is the guided tour.

pub mod ban_list;
pub mod bench;
pub mod chat;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod flood;
pub mod host_limit;
pub mod http;
pub mod irc;
pub mod line_reader;
pub mod metrics;
pub mod protocol;
pub mod resp;
pub mod server;
pub mod socket;
pub mod text;
pub mod tls;
pub mod websocket;
