//! `flowsync backup` (make, `verify`, `list`) and `flowsync restore`: progress bars on a
//! terminal, one summary line otherwise (`-q` for none, so cron mails only on trouble),
//! `--json` for scripts. The work itself is in `crate::backup`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Cli, CmdResult, Failure, exit, stdout_is_terminal};
use crate::backup::{self, Dest, Lock, Progress};
use crate::db::Db;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  flowsync backup                                  # into backup.dir, then prune to backup.keep
  flowsync -q backup                               # for cron: silent unless something fails
  flowsync backup --output /mnt/usb/               # another directory (retention applies there)
  flowsync backup --encrypt-with /root/backup.pass # age-encrypted with the passphrase in that file
  flowsync backup verify /var/backups/flowsync/flowsync-0.1.0-20261126T031500Z.tar.gz
  flowsync backup list --json

Exit codes: 0 done, 1 failed (the message says why; no archive is left that looks complete),
2 usage or config error, 3 database unreachable, 5 another backup or restore is running."
)]
pub struct Opts {
    #[command(subcommand)]
    action: Option<Action>,
    /// Directory for the archive (default backup.dir), or a file path ending in .tar.gz / .age
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Include generated secrets, secret config keys and TLS private keys (backup.include_secrets)
    #[arg(long)]
    include_secrets: bool,
    /// Encrypt the archive (age, scrypt) with the passphrase in FILE (first line)
    #[arg(long, value_name = "FILE")]
    encrypt_with: Option<PathBuf>,
    /// Archives to keep in the directory (backup.keep)
    #[arg(long, value_name = "N")]
    keep: Option<u32>,
    /// Also keep the newest archive of each of the last N days (backup.keep_daily)
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Also keep the newest archive of each of the last N weeks (backup.keep_weekly)
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Check an archive: manifest, every checksum, row and row count, and a test restore
    Verify(VerifyOpts),
    /// List the archives in backup.dir with age, size and verification state
    List(ListOpts),
}

#[derive(Debug, Args)]
struct VerifyOpts {
    /// The archive
    file: PathBuf,
    /// Skip the test restore into a scratch SQLite database (which checks keys, references and
    /// required fields the way a restore will)
    #[arg(long)]
    quick: bool,
    /// The test restore is the default now; accepted for existing scripts
    #[arg(long, hide = true)]
    restore_test: bool,
    /// Passphrase file for an encrypted archive
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ListOpts {
    /// Directory to list (default backup.dir)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync restore backup.tar.gz                          # into the configured, empty database
  flowsync restore backup.tar.gz --force                  # replace existing data (backed up first)
  FLOWSYNC_DATABASE__URL=postgres://flowsync@localhost/flowsync flowsync restore sqlite-backup.tar.gz
                                                          # move from SQLite to PostgreSQL
  flowsync restore backup.tar.gz --restore-config --restore-tls

Stop `flowsync serve` first. Exit codes: 0 done, 1 failed (the archive is checked completely
before the database is touched), 2 usage or config error, 3 database unreachable, 4 the
database holds data and --force was not given, 5 another backup or restore is running.")]
pub struct RestoreOpts {
    /// The archive
    file: PathBuf,
    /// Replace a database that holds data (it is backed up into backup.dir first)
    #[arg(long)]
    force: bool,
    /// Passphrase file for an encrypted archive
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Also write the archived config file to the config path in use (--config or
    /// /etc/flowsync/flowsync.toml)
    #[arg(long)]
    restore_config: bool,
    /// Also write the archived certificates into <data_dir>/tls
    #[arg(long)]
    restore_tls: bool,
    #[arg(long)]
    json: bool,
}

/// Progress bars on a terminal; nothing otherwise.
struct Bars {
    on: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    fn new(on: bool) -> Self {
        Bars { on, bar: None }
    }
}

impl Progress for Bars {
    fn start(&mut self, what: &str, total: u64) {
        if !self.on {
            return;
        }
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<14} [{bar:30}] {human_pos}/{human_len} {per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_message(what.to_owned());
        self.bar = Some(b);
    }
    fn update(&mut self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Lock failures are exit code 5; everything else 1.
fn locked(data_dir: &std::path::Path) -> Result<Lock, Failure> {
    Lock::acquire(data_dir).map_err(|e| {
        let code = if e.downcast_ref::<backup::Busy>().is_some() {
            5
        } else {
            1
        };
        Failure::new(code, e)
    })
}

fn passphrase(path: &Option<PathBuf>) -> Result<Option<age::secrecy::SecretString>, Failure> {
    path.as_deref()
        .map(backup::read_passphrase)
        .transpose()
        .map_err(|e| Failure::new(exit::USAGE, e))
}

fn print_json(v: &impl serde::Serialize) -> CmdResult {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(anyhow::Error::from)?
    );
    Ok(())
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    match &opts.action {
        Some(Action::Verify(v)) => return verify(cli, v).await,
        Some(Action::List(l)) => return list(cli, l),
        None => {}
    }
    let loaded = cli.load_config(Vec::new())?;
    let config = loaded.config;
    let pass = passphrase(&opts.encrypt_with)?;
    let _lock = locked(&config.server.data_dir)?;
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let mut bars = Bars::new(stdout_is_terminal() && !opts.json && !cli.quiet);
    let mut policy = backup::policy(&config);
    if let Some(k) = opts.keep {
        if k == 0 {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("--keep must be at least 1"),
            ));
        }
        policy.keep = k;
    }
    policy.keep_daily = opts.keep_daily.unwrap_or(policy.keep_daily);
    policy.keep_weekly = opts.keep_weekly.unwrap_or(policy.keep_weekly);
    let result = backup::create(
        &db,
        backup::CreateOptions {
            dest: opts
                .output
                .clone()
                .map(Dest::parse)
                .unwrap_or_else(|| Dest::Dir(config.backup.dir.clone())),
            include_secrets: opts.include_secrets || config.backup.include_secrets,
            passphrase: pass,
            config_file: loaded.file.clone(),
            data_dir: config.server.data_dir.clone(),
            retention: policy,
            progress: &mut bars,
        },
    )
    .await;
    bars.finish();
    db.close().await;
    let created = result?;
    if opts.json {
        return print_json(&created);
    }
    if !cli.quiet {
        let rows: u64 = created.rows.values().sum();
        println!(
            "backup {}: {rows} rows, {}, {:.1} s, verified{}{}",
            created.archive.display(),
            crate::timefmt::bytes(created.bytes),
            created.millis as f64 / 1000.0,
            if created.encrypted { ", encrypted" } else { "" },
            if created.pruned.is_empty() {
                String::new()
            } else {
                format!("; pruned {} old", created.pruned.len())
            }
        );
    }
    Ok(())
}

async fn verify(cli: &Cli, opts: &VerifyOpts) -> CmdResult {
    let pass = passphrase(&opts.passphrase_file)?;
    let mut bars = Bars::new(stdout_is_terminal() && !opts.json && !cli.quiet);
    let dir = opts.file.parent().map(|p| p.to_path_buf());
    let result = backup::verify(&opts.file, pass.as_ref(), &mut bars);
    bars.finish();
    if let Some(d) = &dir {
        backup::record_state(
            d,
            &opts.file,
            result.as_ref().err().map(|e| format!("{e:#}")),
        );
    }
    let manifest = result?;
    let mut test = None;
    if !opts.quick {
        let scratch = tempfile::tempdir().map_err(anyhow::Error::from)?;
        let scratch_db = crate::config::DatabaseConfig {
            url: crate::config::Secret::new(format!(
                "sqlite://{}",
                scratch.path().join("restore-test.db").display()
            )),
            max_connections: 4,
            auto_migrate: true,
        };
        let db = Db::connect(&scratch_db)
            .await
            .map_err(|e| Failure::new(exit::FAILED, e))?;
        let restored = backup::restore(
            &db,
            &opts.file,
            backup::RestoreOptions {
                passphrase: pass.clone(),
                force: false,
                progress: &mut bars,
            },
        )
        .await;
        bars.finish();
        db.close().await;
        let restored = restored
            .map_err(|e| Failure::new(exit::FAILED, e.context("the test restore failed")))?;
        for t in &manifest.tables {
            let got = restored.rows.get(&t.name).copied().unwrap_or(0);
            if got != t.rows {
                return Err(Failure::new(
                    exit::FAILED,
                    anyhow::anyhow!(
                        "test restore: {} has {got} rows, the manifest says {}",
                        t.name,
                        t.rows
                    ),
                ));
            }
        }
        test = Some(restored);
    }
    if opts.json {
        return print_json(&serde_json::json!({
            "archive": opts.file,
            "ok": true,
            "manifest": manifest,
            "restore_test": test,
        }));
    }
    if !cli.quiet {
        println!(
            "ok: {} — flowsync {}, schema {}, {} backend, {} rows in {} tables, created {}{}",
            opts.file.display(),
            manifest.flowsync_version,
            manifest
                .schema_version
                .map_or("none".into(), |v| v.to_string()),
            serde_json::to_value(manifest.backend)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            manifest.total_rows(),
            manifest.tables.len(),
            manifest.created_at,
            if test.is_some() {
                "; test restore matched every row count"
            } else {
                ""
            }
        );
        if !manifest.omitted.is_empty() {
            println!(
                "left out (no --include-secrets): {}",
                manifest.omitted.join(", ")
            );
        }
    }
    Ok(())
}

fn list(cli: &Cli, opts: &ListOpts) -> CmdResult {
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => cli.load_config(Vec::new())?.config.backup.dir,
    };
    let all = backup::list(&dir)?;
    if opts.json {
        return print_json(&serde_json::json!({ "dir": dir, "archives": all }));
    }
    if all.is_empty() {
        println!("no archives in {}", dir.display());
        return Ok(());
    }
    println!("{:<52} {:>10} {:>6}  STATE", "ARCHIVE", "SIZE", "AGE");
    for a in &all {
        println!(
            "{:<52} {:>10} {:>6}  {}",
            a.name,
            crate::timefmt::bytes(a.bytes),
            crate::timefmt::age(a.age_seconds),
            a.state
        );
    }
    Ok(())
}

pub async fn restore(cli: &Cli, opts: &RestoreOpts) -> CmdResult {
    let loaded = cli.load_config(Vec::new())?;
    let config = loaded.config;
    let pass = passphrase(&opts.passphrase_file)?;
    let _lock = locked(&config.server.data_dir)?;
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let mut bars = Bars::new(stdout_is_terminal() && !opts.json && !cli.quiet);
    let mut safety = None;
    let has_data = backup::has_data(&db)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    if has_data && !opts.force {
        db.close().await;
        return Err(Failure::new(exit::REFUSED, backup::NotEmpty));
    }
    if has_data {
        // Verify first, so a bad archive never costs the current data even under --force.
        backup::verify(&opts.file, pass.as_ref(), &mut bars)?;
        bars.finish();
        let created = backup::create(
            &db,
            backup::CreateOptions {
                dest: Dest::Dir(config.backup.dir.clone()),
                include_secrets: config.backup.include_secrets,
                passphrase: None,
                config_file: loaded.file.clone(),
                data_dir: config.server.data_dir.clone(),
                // Prune nothing here: the archive being restored may be the oldest one kept.
                retention: backup::retention::Policy {
                    keep: u32::MAX,
                    keep_daily: 0,
                    keep_weekly: 0,
                },
                progress: &mut bars,
            },
        )
        .await
        .map_err(|e| {
            Failure::new(
                exit::FAILED,
                e.context("backing up the current data before replacing it"),
            )
        })?;
        bars.finish();
        safety = Some(created.archive);
    }
    let result = backup::restore(
        &db,
        &opts.file,
        backup::RestoreOptions {
            passphrase: pass.clone(),
            force: opts.force,
            progress: &mut bars,
        },
    )
    .await;
    bars.finish();
    db.close().await;
    let restored = result.map_err(|e| match &safety {
        Some(s) => e.context(format!(
            "the restore failed and the database is unchanged (the restore is one transaction); its data is also saved in {}",
            s.display()
        )),
        None => e.context("the restore failed and the database is unchanged"),
    })?;
    let mut written = Vec::new();
    if opts.restore_config {
        let target = cli
            .config
            .clone()
            .or(loaded.file.clone())
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CONFIG_PATH));
        written.extend(backup::extract(
            &opts.file,
            pass.as_ref(),
            "config/flowsync.toml",
            &target,
            opts.force,
        )?);
    }
    if opts.restore_tls {
        let tls = config.server.data_dir.join("tls");
        written.extend(backup::extract(
            &opts.file,
            pass.as_ref(),
            "tls/",
            &tls,
            opts.force,
        )?);
    }
    // Certificates and keys go to the service user; the config file keeps its owner (root).
    let tls_dir = config.server.data_dir.join("tls");
    let owned: Vec<&std::path::Path> = written
        .iter()
        .filter(|p| p.starts_with(&tls_dir))
        .map(|p| p.as_path())
        .collect();
    crate::ownership::hand_to_service_user(&owned)?;
    crate::db::fix_data_dir(&config)?;
    if opts.json {
        return print_json(&serde_json::json!({
            "restored": restored,
            "safety_backup": safety,
            "written": written,
        }));
    }
    if !cli.quiet {
        let rows: u64 = restored.rows.values().sum();
        println!(
            "restored {} ({rows} rows) into the {} database in {:.1} s{}",
            opts.file.display(),
            serde_json::to_value(restored.backend_to)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            restored.millis as f64 / 1000.0,
            if restored.migrated_after.is_empty() {
                String::new()
            } else {
                format!(
                    ", then migrated to {}",
                    restored.migrated_after.last().copied().unwrap_or_default()
                )
            }
        );
        if let Some(s) = &safety {
            println!("the data it replaced is in {}", s.display());
        }
        for w in &written {
            println!("wrote {}", w.display());
        }
    }
    Ok(())
}
