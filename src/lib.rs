//! FlowSync: self-hosted video co-working rooms in one binary. See ARCHITECTURE.md for the
//! code map and its invariants; `cli` is the only module that prints to stdout.

pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod doctor;
pub mod errors;
pub mod http;
pub mod ice;
pub mod init;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod ownership;
pub mod readiness;
pub mod reload;
pub mod rooms;
pub mod server;
pub mod signaling;
pub mod state;
pub mod sweeper;
pub mod telemetry;
pub mod timefmt;
pub mod tls;
pub mod turn;
