//! The registry: every check, in the order doctor runs them (what later checks depend on
//! comes first). One file per check; each exposes `run` and, when it has a safe repair, `fix`.

mod acme_account;
mod backup;
mod certificate;
mod clock;
mod config;
mod data_dir;
mod database;
mod disk;
mod dns;
mod migrations;
mod open_files;
mod ownership;
mod ports;
mod redis;
mod server;
mod systemd;
mod turn;

pub use open_files::HEADROOM;
pub use server::local as local_url;

use super::Check;

pub static REGISTRY: &[Check] = &[
    Check {
        name: "config",
        about: "the config file parses and validates, and is not readable by everyone",
        run: config::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "data-dir",
        about: "the data directory exists and the service user can use it",
        run: data_dir::run,
        fix: Some(data_dir::fix),
        fix_runs_to_end: false,
    },
    Check {
        name: "ownership",
        about: "everything in the data directory belongs to the service user",
        run: ownership::run,
        fix: Some(ownership::fix),
        fix_runs_to_end: false,
    },
    Check {
        name: "database",
        about: "the database answers (and its server version)",
        run: database::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "migrations",
        about: "the database schema matches this binary",
        run: migrations::run,
        fix: Some(migrations::fix),
        fix_runs_to_end: true,
    },
    Check {
        name: "redis",
        about: "Redis answers, and how fast (when configured)",
        run: redis::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "certificate",
        about: "certificate present, chain valid, names match, days left, next renewal",
        run: certificate::run,
        fix: Some(certificate::fix),
        fix_runs_to_end: false,
    },
    Check {
        name: "acme-account",
        about: "the ACME account is registered (tls.mode = acme)",
        run: acme_account::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "dns",
        about: "the domain resolves to this host's addresses",
        run: dns::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "ports",
        about: "the listen ports are free or held by FlowSync",
        run: ports::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "server",
        about: "the running server answers /readyz",
        run: server::run,
        fix: Some(server::fix),
        fix_runs_to_end: false,
    },
    Check {
        name: "turn",
        about: "the configured STUN/TURN servers answer a binding request",
        run: turn::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "clock",
        about: "the clock is synchronised",
        run: clock::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "open-files",
        about: "the open-file limit covers server.max_connections",
        run: open_files::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "disk",
        about: "free space in the data and backup directories",
        run: disk::run,
        fix: None,
        fix_runs_to_end: false,
    },
    Check {
        name: "systemd",
        about: "the units are installed, enabled and active",
        run: systemd::run,
        fix: Some(systemd::fix),
        fix_runs_to_end: false,
    },
    Check {
        name: "backup",
        about: "age of the last good backup",
        run: backup::run,
        fix: None,
        fix_runs_to_end: false,
    },
];
