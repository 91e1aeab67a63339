//! The database: one enum over SQLite and PostgreSQL. Only this module knows SQL and which
//! backend runs; everything else calls the typed functions in its submodules.
//!
//! Queries are runtime-checked (`sqlx::query`) with `$n` placeholders that both backends accept,
//! written once and run against either pool by [`with_pool!`].

pub mod certs;
pub mod dump;
pub mod group_commit;
pub mod lifecycle;
pub mod live;
pub mod messages;
pub mod migrate;
pub mod models;
pub mod probe;
pub mod provision;
pub mod rituals;
pub mod rooms;
pub mod space;
pub mod tables;

// The clock is a leaf (`crate::clock`); db's modules reach it through here.
pub(crate) use crate::clock::now_ms;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::{DatabaseConfig, redact_url};

/// A failed database or storage operation as clients see it, so `?` turns one into an answer:
/// connectivity problems and a full disk are `UNAVAILABLE` (503, worth retrying), anything else
/// a logged `INTERNAL` (500). Only `db/` looks inside the error for sqlx's kinds.
impl From<anyhow::Error> for crate::errors::ApiError {
    fn from(e: anyhow::Error) -> Self {
        if space::is_disk_full(&e) {
            return Self::unavailable("storage (the server's disk is full)", format!("{e:#}"));
        }
        let transient = e.chain().any(|c| {
            c.downcast_ref::<sqlx::Error>().is_some_and(|s| {
                matches!(
                    s,
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::Io(_)
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                )
            })
        });
        if transient {
            Self::unavailable("the database", format!("{e:#}"))
        } else {
            Self::internal(format!("{e:#}"))
        }
    }
}

/// SQLite's `cache_size` for reader connections: negative means KiB (see `Db::connect`).
const READER_CACHE_KIB: &str = "-512";

/// Runs the same body against a [`PoolRef`] (`db.read()` or `db.write()`); the body is
/// compiled once per backend.
macro_rules! with_pool {
    ($pool_ref:expr, |$pool:ident| $body:expr) => {
        match $pool_ref {
            $crate::db::PoolRef::Sqlite($pool) => async { $body }.await,
            $crate::db::PoolRef::Postgres($pool) => async { $body }.await,
        }
    };
}
pub(crate) use with_pool;

/// Connection pools to the configured backend.
///
/// SQLite allows one writer at a time; letting several pooled connections race for the write
/// lock makes them sleep in SQLite's busy handler (hundreds of ms under load). So writes go
/// through a pool of exactly one connection, where they queue fairly in async code, while reads
/// use the other connections (WAL lets them run alongside the writer).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

/// One pool of a [`Db`], for [`with_pool!`].
#[derive(Clone, Copy, Debug)]
pub enum PoolRef<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

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

/// Creates a directory (and missing parents) readable by its owner only (0700), whatever the
/// umask; an existing one is left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Makes the SQLite file's directory (0700) and the file itself (0600) when they do not exist
/// yet, whatever the umask: the database holds the link-signing key and the embedded TURN
/// secret. SQLite gives its `-wal` and `-shm` files the database file's mode. A database file
/// (or its `-wal`/`-shm`) that others may read, left by an older run, loses the others' bits;
/// group bits are left alone (the package shares the data directory with the `flowsync`
/// group on purpose). An existing directory keeps its mode (the package and `init` set it).
fn private_database_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
        return Ok(());
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_private_dir(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o007 != 0
        {
            let mode = meta.permissions().mode() & 0o770;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot restrict {} to its owner", file.display()))?;
        }
    }
    Ok(())
}

/// Whether a write failed on a unique constraint (on either backend).
pub fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>().is_some_and(|s| {
            matches!(s, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
        })
    })
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
                    // Every commit is fsynced before it returns, so an acknowledged write
                    // survives a power loss or a kernel crash, not only a crash of FlowSync
                    // (with NORMAL the log was synced only at checkpoints, about a second
                    // later). Chat lines and joins are committed in groups (`group_commit`),
                    // so one fsync covers every write of a group.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                private_database_file(opts.get_filename()).map_err(|e| {
                    fail(
                        format!("{e:#}"),
                        "check server.data_dir and its permissions",
                    )
                })?;
                let hint = "check server.data_dir / database.url and that the file is writable";
                // The writer first: it creates the file and switches it to WAL.
                // Readers are nearly always active, so the automatic checkpoint after a commit
                // rarely completes and is retried (with an fsync) on every commit. The writer
                // does not checkpoint on commit; `checkpoint()` runs in the background instead.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts.clone().pragma("wal_autocheckpoint", "0"))
                    .await
                    .map_err(|e| fail(e.to_string(), hint))?;
                // Each connection has a page cache of its own (2 MiB by default), so seven
                // readers held seven copies of the hot pages: up to 14 MiB, growing with the
                // number of participants (about 1 KiB per socket at 5,000, heaptrack). Readers
                // keep 512 KiB each and read the rest from the kernel's page cache, which all
                // connections share and the kernel can reclaim; the writer keeps the default.
                let read = SqlitePoolOptions::new()
                    .max_connections(cfg.max_connections.max(2) - 1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts.pragma("cache_size", READER_CACHE_KIB))
                    .await
                    .map_err(|e| fail(e.to_string(), hint))?;
                Ok(Db::Sqlite { read, write })
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
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The pool for queries that only read.
    pub fn read(&self) -> PoolRef<'_> {
        match self {
            Db::Sqlite { read, .. } => PoolRef::Sqlite(read),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// The pool for statements and transactions that write.
    pub fn write(&self) -> PoolRef<'_> {
        match self {
            Db::Sqlite { write, .. } => PoolRef::Sqlite(write),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self.read(), |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
        .context("database did not answer")
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Copies the SQLite write-ahead log back into the database file (a no-op on PostgreSQL).
    /// Run periodically by the server; returns the WAL pages left uncopied (held by readers).
    ///
    /// It runs on a reader connection: a passive checkpoint does not need the write lock, and
    /// on the writer connection every write queued behind its copying and `fsync`.
    pub async fn checkpoint(&self) -> anyhow::Result<i64> {
        let Db::Sqlite { read, .. } = self else {
            return Ok(0);
        };
        let (_busy, log, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(read)
                .await
                .context("checkpointing the SQLite log")?;
        Ok((log - copied).max(0))
    }

    /// A server-wide random key by name, created on first use and shared by every instance.
    pub async fn server_secret(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        crate::auth::fill_random(&mut fresh);
        let fresh = hex::encode(fresh);
        let now = now_ms();
        let value: String = with_pool!(self.write(), |pool| {
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

    /// A secret [`Db::server_secret`] made earlier, without making one (doctor only reads).
    pub async fn existing_server_secret(&self, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let value: Option<String> = with_pool!(self.read(), |pool| {
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
        })
        .context("reading server secrets")?;
        value
            .map(|v| hex::decode(v).context("server secret is not hex"))
            .transpose()
    }

    /// Replaces a generated secret with a fresh one (rotation) and returns it.
    pub async fn rotate_server_secret(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        crate::auth::fill_random(&mut fresh);
        let value = hex::encode(fresh);
        with_pool!(self.write(), |pool| {
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = $2, created_at = $3",
            )
            .bind(name)
            .bind(&value)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
        })
        .context("rotating a server secret")?;
        Ok(fresh.to_vec())
    }
}

/// Hands the data directory and the SQLite files in it to the service user (see
/// `ownership`), for commands an administrator runs as root. Returns the paths changed.
pub fn fix_data_dir(config: &crate::config::Config) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut paths = vec![config.server.data_dir.clone()];
    if let Some(db) = config.sqlite_path() {
        paths.extend(sqlite_files(&db));
    }
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    crate::ownership::hand_to_service_user(&refs)
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
