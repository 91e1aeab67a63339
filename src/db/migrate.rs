//! Schema migrations, embedded in the binary: one folder per backend under `migrations/`, kept
//! in lockstep (the same versions in both). Applied one at a time so callers can show progress.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::migrate::{Migration, Migrator};

use super::{Db, with_pool};

pub(crate) static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

fn migrator(db: &Db) -> &'static Migrator {
    match db {
        Db::Sqlite { .. } => &SQLITE,
        Db::Postgres(_) => &POSTGRES,
    }
}

/// One migration and whether this database has it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
    /// Applied but failed half-way (needs manual repair).
    pub failed: bool,
}

/// What the database has versus what this binary carries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub migrations: Vec<MigrationState>,
    /// Versions applied to the database that this binary does not know: the database was
    /// migrated by a newer FlowSync.
    pub unknown_applied: Vec<i64>,
}

impl Status {
    pub fn pending(&self) -> Vec<&MigrationState> {
        self.migrations.iter().filter(|m| !m.applied).collect()
    }

    /// The newest applied version: the schema version recorded in backups.
    pub fn current_version(&self) -> Option<i64> {
        self.migrations
            .iter()
            .filter(|m| m.applied)
            .map(|m| m.version)
            .max()
    }
}

/// Reads `_sqlx_migrations` (absent on a fresh database) and compares with the embedded set.
pub async fn status(db: &Db) -> anyhow::Result<Status> {
    let table_exists: i64 = match db {
        Db::Sqlite { read: pool, .. } => sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(pool)
        .await,
        Db::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()",
            )
            .fetch_one(pool)
            .await
        }
    }
    .context("reading migration state")?;
    let applied: BTreeMap<i64, bool> = if table_exists > 0 {
        with_pool!(db.read(), |pool| {
            sqlx::query_as::<_, (i64, bool)>("SELECT version, success FROM _sqlx_migrations")
                .fetch_all(pool)
                .await
        })
        .context("reading applied migrations")?
        .into_iter()
        .collect()
    } else {
        BTreeMap::new()
    };
    let known = migrator(db);
    let migrations = known
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.get(&m.version) == Some(&true),
            failed: applied.get(&m.version) == Some(&false),
        })
        .collect();
    let unknown_applied = applied
        .keys()
        .copied()
        .filter(|v| !known.version_exists(*v))
        .collect();
    Ok(Status {
        migrations,
        unknown_applied,
    })
}

/// Applies every pending migration, calling `on_step` before each with its position.
pub async fn apply(
    db: &Db,
    on_step: impl FnMut(usize, usize, &Migration),
) -> anyhow::Result<Vec<(i64, Duration)>> {
    apply_until(db, None, on_step).await
}

/// Applies pending migrations up to and including `version` (a restore first rebuilds the
/// schema an archive was taken at, then migrates forward).
pub async fn apply_to(db: &Db, version: i64) -> anyhow::Result<Vec<(i64, Duration)>> {
    apply_until(db, Some(version), |_, _, _| {}).await
}

async fn apply_until(
    db: &Db,
    until: Option<i64>,
    mut on_step: impl FnMut(usize, usize, &Migration),
) -> anyhow::Result<Vec<(i64, Duration)>> {
    let st = status(db).await?;
    if let Some(v) = st.unknown_applied.first() {
        anyhow::bail!(
            "the database has migration {v}, which this flowsync does not know: it was migrated by a newer version; install that version or restore a backup"
        );
    }
    if let Some(m) = st.migrations.iter().find(|m| m.failed) {
        anyhow::bail!(
            "migration {} ({}) failed part-way earlier; repair the database or restore a backup before migrating",
            m.version,
            m.description
        );
    }
    let known = migrator(db);
    let pending: Vec<&Migration> = known
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| until.is_none_or(|u| m.version <= u))
        .filter(|m| {
            st.migrations
                .iter()
                .any(|s| s.version == m.version && !s.applied)
        })
        .collect();
    let mut done = Vec::new();
    for (i, m) in pending.iter().enumerate() {
        on_step(i, pending.len(), m);
        let started = Instant::now();
        with_pool!(db.write(), |pool| known.run_to(m.version, pool).await)
            .with_context(|| format!("applying migration {} ({})", m.version, m.description))?;
        done.push((m.version, started.elapsed()));
    }
    Ok(done)
}
