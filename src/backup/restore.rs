//! Restoring an archive into a database (of either backend, rebuilt at the archive's schema
//! version and migrated forward), extracting its files, and the pre-migration backup policy
//! that `migrate` and an auto-migrating `serve` apply.

use super::*;

pub struct RestoreOptions<'a> {
    pub passphrase: Option<SecretString>,
    /// Replace a database that holds data (the caller backs it up first).
    pub force: bool,
    pub progress: &'a mut dyn Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub archive: PathBuf,
    pub backend_from: crate::db::Backend,
    pub backend_to: crate::db::Backend,
    pub schema_version: Option<i64>,
    pub migrated_after: Vec<i64>,
    pub rows: BTreeMap<String, u64>,
    pub millis: u128,
}

/// The retention policy configured in `[backup]`.
pub fn policy(config: &crate::config::Config) -> retention::Policy {
    retention::Policy {
        keep: config.backup.keep,
        keep_daily: config.backup.keep_daily,
        keep_weekly: config.backup.keep_weekly,
    }
}

/// Before migrations run on a database that holds data, one backup into `backup.dir`, so an
/// upgrade can be undone. Returns None when there was nothing to back up or it is switched off.
pub async fn before_migrate(
    db: &Db,
    config: &crate::config::Config,
) -> anyhow::Result<Option<Created>> {
    if !config.backup.before_migrate || !has_data(db).await? {
        return Ok(None);
    }
    let _lock = Lock::acquire(&config.server.data_dir)?;
    let created = create(
        db,
        CreateOptions {
            dest: Dest::Dir(config.backup.dir.clone()),
            include_secrets: config.backup.include_secrets,
            passphrase: None,
            config_file: config.backup.config_file.clone(),
            data_dir: config.server.data_dir.clone(),
            retention: policy(config),
            progress: &mut Quiet,
        },
    )
    .await?;
    Ok(Some(created))
}

/// Whether any FlowSync table holds rows (generated server secrets do not count).
pub async fn has_data(db: &Db) -> anyhow::Result<bool> {
    let mut tx = begin_snapshot(db).await?;
    for t in TABLES.iter().filter(|t| !t.secret) {
        if !tx.columns(t).await?.is_empty() && tx.count(t.name).await? > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Loads an archive into `db`. The caller holds the [`Lock`] and has checked (or backed up)
/// existing data; the archive is verified completely before the database is touched.
pub async fn restore(db: &Db, path: &Path, opts: RestoreOptions<'_>) -> anyhow::Result<Restored> {
    let started = Instant::now();
    let manifest = verify(path, opts.passphrase.as_ref(), opts.progress)?;
    let status = migrate::status(db)
        .await
        .context("reading the database's migrations")?;
    if let Some(v) = manifest.schema_version
        && !status.migrations.iter().any(|m| m.version == v)
    {
        bail!(
            "the archive's schema version {v} is unknown to this flowsync {} (it was made by flowsync {}); install that version or newer to restore it",
            env!("CARGO_PKG_VERSION"),
            manifest.flowsync_version
        );
    }
    if has_data(db).await? && !opts.force {
        bail!(NotEmpty);
    }

    // Every row must fit its column before anything is dropped.
    let postgres = db.backend() == crate::db::Backend::Postgres;
    let mut archive = open(path, opts.passphrase.as_ref())?;
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some((t, spec)) = table_member(&manifest, &name)? else {
            continue;
        };
        tables::check_rows(
            spec,
            &t.columns,
            BufReader::with_capacity(1 << 20, entry),
            postgres,
        )?;
    }

    // All or nothing, in one transaction: drop FlowSync's tables (empty, or backed up by the
    // caller under --force), build the schema at the archive's version, load, migrate forward,
    // commit. Any failure (a row the schema refuses, a full disk, a killed process) leaves the
    // database as it was.
    let before: Vec<i64> = status
        .migrations
        .iter()
        .filter(|m| manifest.schema_version.is_none_or(|v| m.version > v))
        .map(|m| m.version)
        .collect();
    let mut tx = Tx::write(db).await?;
    tx.drop_schema().await?;
    tx.migrate(manifest.schema_version).await?;
    tx.clear().await?;
    let mut archive = open(path, opts.passphrase.as_ref())?;
    let mut rows = BTreeMap::new();
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some((t, spec)) = table_member(&manifest, &name)? else {
            continue;
        };
        opts.progress.start(&t.name, t.rows);
        let progress = &mut *opts.progress;
        let n = tx
            .load(
                spec,
                &t.columns,
                BufReader::with_capacity(1 << 20, entry),
                |d| progress.update(d),
            )
            .await?;
        opts.progress.finish();
        rows.insert(t.name.clone(), n);
    }
    tx.fix_sequences().await?;
    tx.migrate(None).await?;
    tx.commit().await.context("committing the restore")?;
    let migrated_after = if manifest.schema_version.is_some() {
        before
    } else {
        Vec::new()
    };
    Ok(Restored {
        archive: path.to_path_buf(),
        backend_from: manifest.backend,
        backend_to: db.backend(),
        schema_version: manifest.schema_version,
        migrated_after,
        rows,
        millis: started.elapsed().as_millis(),
    })
}

/// The manifest entry and table definition of a data member (None for other members).
pub(super) fn table_member<'m>(
    manifest: &'m Manifest,
    member: &str,
) -> anyhow::Result<Option<(&'m TableEntry, &'static tables::Table)>> {
    let Some(t) = manifest.tables.iter().find(|t| t.member == member) else {
        return Ok(None);
    };
    match tables::table(&t.name) {
        Some(spec) => Ok(Some((t, spec))),
        None => bail!(
            "the archive has a table {} this flowsync does not know",
            t.name
        ),
    }
}

/// The target database holds data and `--force` was not given.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database already holds rooms or messages; restore into an empty database, or pass --force to replace it (a backup of it is taken first)"
)]
pub struct NotEmpty;

/// Extracts one member (config or TLS material) to `to`; refuses to overwrite unless `force`.
pub fn extract(
    path: &Path,
    passphrase: Option<&SecretString>,
    prefix: &str,
    to: &Path,
    force: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut archive = open(path, passphrase)?;
    let mut written = Vec::new();
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let mut entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        // A file prefix ("config/flowsync.toml") names exactly one member.
        if !prefix.ends_with('/') && !rel.is_empty() {
            continue;
        }
        if prefix.ends_with('/') && rel.split('/').any(|c| c == ".." || c.is_empty()) {
            bail!("{}: unsafe member name {name}", path.display());
        }
        let target = if prefix.ends_with('/') {
            to.join(rel)
        } else {
            to.to_path_buf()
        };
        if target.exists() && !force {
            bail!("{} exists; pass --force to overwrite it", target.display());
        }
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut out = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode_0600()
            .open(&target)
            .with_context(|| format!("writing {}", target.display()))?;
        io::copy(&mut entry, &mut out).map_err(|e| corrupt(e, path))?;
        out.sync_all()?;
        written.push(target);
    }
    Ok(written)
}

/// A new file readable by its owner only (archives hold every chat message).
pub(super) fn create_private(path: &Path) -> anyhow::Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode_0600()
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

pub(super) trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}
