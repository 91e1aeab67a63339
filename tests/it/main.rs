//! FlowSync's integration tests: one binary, so the suite links once. Each module covers a
//! feature against the real server (SQLite and PostgreSQL, in-process state and Redis) or the
//! built binary.

// Tests fail by panicking; unwrap/expect are how they say what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod acme;
mod architecture;
mod backup;
mod bench;
mod cli;
mod config;
mod connections;
mod control;
mod fuzz;
mod hardening;
mod init_doctor;
mod layers;
mod live_db;
mod messages_api;
mod ops_api;
mod presence;
mod rituals;
mod rooms_api;
mod state_store;
mod team_rooms;
mod tls;
mod turn;
