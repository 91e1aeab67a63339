//! The database: one enum over SQLite and PostgreSQL. Only this module knows SQL and which
//! backend runs; everything else calls the typed functions in its submodules.
//!
//! Queries are runtime-checked (`sqlx::query`) with `$n` placeholders that both backends accept,
//! written once and run against either pool by [`with_pool!`].

pub mod messages;
pub mod migrate;
pub mod models;
pub mod rooms;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::{DatabaseConfig, redact_url};

/// Runs the same body against whichever pool is live; the body is compiled once per backend.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => async { $body }.await,
            $crate::db::Db::Postgres($pool) => async { $body }.await,
        }
    };
}
pub(crate) use with_pool;

/// A connection pool to the configured backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// Connecting failed; the message names the database (password hidden) and what to check.
#[derive(Debug, thiserror::Error)]
#[error("cannot open database {url}: {reason}; {hint}")]
pub struct ConnectError {
    pub url: String,
    pub reason: String,
    pub hint: &'static str,
}

impl Db {
    /// Opens the pool and checks the database answers. SQLite files (and their directory) are
    /// created on first use.
    pub async fn connect(cfg: &DatabaseConfig) -> Result<Db, ConnectError> {
        let url = cfg.url.expose();
        let fail = |reason: String, hint| ConnectError {
            url: redact_url(url),
            reason,
            hint,
        };
        match Backend::of_url(url) {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| fail(e.to_string(), "check database.url"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                if let Some(dir) = opts.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        fail(
                            format!("cannot create {}: {e}", dir.display()),
                            "check server.data_dir and its permissions",
                        )
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts)
                    .await
                    .map_err(|e| {
                        fail(
                            e.to_string(),
                            "check server.data_dir / database.url and that the file is writable",
                        )
                    })?;
                Ok(Db::Sqlite(pool))
            }
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| fail(e.to_string(), "check database.url"))?;
                let pool = PgPoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts)
                    .await
                    .map_err(|e| {
                        fail(
                            e.to_string(),
                            "check database.url and that PostgreSQL is running and reachable",
                        )
                    })?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
        .context("database did not answer")
    }

    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// A server-wide random key by name, created on first use and shared by every instance.
    pub async fn server_secret(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        crate::auth::fill_random(&mut fresh);
        let fresh = hex::encode(fresh);
        let now = now_ms();
        let value: String = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&fresh)
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
        })
        .context("reading server secrets")?;
        hex::decode(value).context("server secret is not hex")
    }
}

/// The current time in unix milliseconds (the unit of every time column).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The database file and its WAL/SHM companions, for ownership fixes.
pub fn sqlite_files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        files.push(p.into());
    }
    files
}
