//! `disk`: free space where FlowSync writes: the data directory (database, WAL, certificates)
//! and the backup directory. Enough means room for the next backup and the database's growth:
//! twice the newest archive and twice the SQLite database, plus 16 MiB. Less fails; less than
//! 10 % of the filesystem free warns.

use std::path::{Path, PathBuf};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome, system};

const MARGIN: u64 = 16 * 1024 * 1024;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let newest_archive = crate::backup::list(&config.backup.dir)
        .ok()
        .and_then(|l| l.first().map(|a| a.bytes))
        .unwrap_or(0);
    let db_bytes: u64 = config
        .sqlite_path()
        .map(|p| crate::db::sqlite_files(&p).iter().map(|f| size(f)).sum())
        .unwrap_or(0);
    let need = 2 * newest_archive + 2 * db_bytes + MARGIN;
    let places: Vec<(&str, PathBuf)> = vec![
        ("data", config.server.data_dir.clone()),
        ("backups", config.backup.dir.clone()),
    ];
    let mut parts = Vec::new();
    let mut worst = Outcome::ok("");
    for (what, dir) in places {
        let Some(d) = system::disk(&dir) else {
            parts.push(format!("{what} {}: cannot tell", dir.display()));
            continue;
        };
        let pct = if d.total > 0 {
            d.free as f64 * 100.0 / d.total as f64
        } else {
            0.0
        };
        parts.push(format!(
            "{what} {}: {} free ({pct:.0} %)",
            dir.display(),
            crate::timefmt::bytes(d.free)
        ));
        if d.free < need {
            worst = Outcome::fail(
                "",
                format!(
                    "free space in {} (needs {} for the next backup and growth); prune old archives (backup.keep) or grow the disk",
                    dir.display(),
                    crate::timefmt::bytes(need)
                ),
            );
        } else if pct < 10.0 && worst.status == crate::doctor::Status::Ok {
            worst = Outcome::warn(
                "",
                format!(
                    "less than 10 % free where {} is; plan more space",
                    dir.display()
                ),
            );
        }
    }
    worst.detail = parts.join("; ");
    worst
}
