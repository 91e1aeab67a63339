//! `flowsync migrate`: apply pending migrations with progress, or show (`--status`) or preview
//! (`--dry-run`) them.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Cli, CmdResult, Failure, exit, stdout_is_terminal};
use crate::db::{Db, migrate};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync migrate                     # apply pending migrations
  flowsync migrate --status --json     # applied and pending migrations, for scripts
  flowsync migrate --dry-run           # what would be applied, changing nothing")]
pub struct Opts {
    /// List applied and pending migrations and exit
    #[arg(long, conflicts_with = "dry_run")]
    status: bool,
    /// Show what would be applied without changing the database
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
    /// Do not back up a database with data before migrating it
    #[arg(long)]
    no_backup: bool,
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    let loaded = cli.load_config(Vec::new())?;
    let mut config = loaded.config;
    config.backup.before_migrate = !opts.no_backup;
    config.backup.config_file = loaded.file.clone();
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let status = migrate::status(&db)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    if opts.status || opts.dry_run {
        let pending = status.pending();
        if opts.json {
            let doc = serde_json::json!({
                "backend": db.backend(),
                "current_version": status.current_version(),
                "pending": pending.len(),
                "dry_run": opts.dry_run,
                "migrations": status.migrations,
                "unknown_applied": status.unknown_applied,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?
            );
        } else if opts.dry_run {
            if pending.is_empty() {
                println!("nothing to apply: the database is up to date");
            }
            for m in &pending {
                println!("would apply {} {}", m.version, m.description);
            }
        } else {
            println!("{:<16} {:<8} DESCRIPTION", "VERSION", "STATE");
            for m in &status.migrations {
                let state = if m.failed {
                    "FAILED"
                } else if m.applied {
                    "applied"
                } else {
                    "pending"
                };
                println!("{:<16} {:<8} {}", m.version, state, m.description);
            }
            for v in &status.unknown_applied {
                println!("{v:<16} {:<8} (applied by a newer flowsync)", "unknown");
            }
        }
        db.close().await;
        return Ok(());
    }

    let total = status.pending().len();
    let pre_backup = if total > 0 {
        crate::backup::before_migrate(&db, &config).await.map_err(|e| {
            let busy = e.downcast_ref::<crate::backup::Busy>().is_some();
            Failure::new(
                if busy { exit::BUSY } else { exit::FAILED },
                e.context("backing up before migrating failed (run with --no-backup to migrate without one)"),
            )
        })?
    } else {
        None
    };
    if let Some(b) = &pre_backup
        && !opts.json
    {
        println!("backed up to {} before migrating", b.archive.display());
    }
    let bar = (stdout_is_terminal() && !opts.json && total > 0).then(|| {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} migrating [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let applied = migrate::apply(&db, |i, _, m| {
        if let Some(b) = &bar {
            b.set_position(i as u64);
            b.set_message(format!("{} {}", m.version, m.description));
        }
    })
    .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let applied = applied?;
    let fixed = crate::db::fix_data_dir(&config)?;
    if opts.json {
        let doc = serde_json::json!({
            "applied": applied.iter().map(|(v, d)| serde_json::json!({"version": v, "millis": d.as_millis()})).collect::<Vec<_>>(),
            "backup": pre_backup.as_ref().map(|b| &b.archive),
            "chowned": fixed,
        });
        println!("{doc}");
    } else if applied.is_empty() {
        println!("database is up to date");
    } else {
        for (v, d) in &applied {
            println!("applied {v} in {} ms", d.as_millis());
        }
    }
    db.close().await;
    Ok(())
}
