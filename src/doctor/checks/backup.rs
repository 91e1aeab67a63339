//! `backup`: the newest archive in `backup.dir` is recent (the timer runs daily) and the last
//! verification did not fail. A database with no rooms yet needs no backup.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

const WARN_AGE: i64 = 2 * 86_400;
const FAIL_AGE: i64 = 7 * 86_400;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let dir = &config.backup.dir;
    let hint =
        "`flowsync backup` now; `systemctl enable --now flowsync-backup.timer` runs it daily";
    let archives = match crate::backup::list(dir) {
        Ok(a) => a,
        Err(e) if dir.exists() => {
            return Outcome::fail(
                format!("cannot read {}: {e:#}", dir.display()),
                "check its permissions",
            );
        }
        Err(_) => Vec::new(),
    };
    let good = archives.iter().find(|a| a.state != "failed");
    let Some(newest) = good else {
        if let Some(bad) = archives.first() {
            return Outcome::fail(
                format!(
                    "the only archives in {} failed verification, newest {}",
                    dir.display(),
                    bad.name
                ),
                hint,
            );
        }
        let empty = match ctx.db().await {
            Ok(db) => !crate::backup::has_data(&db).await.unwrap_or(true),
            Err(_) => false,
        };
        return if empty {
            Outcome::ok(format!(
                "no archive in {} yet; the database holds no rooms",
                dir.display()
            ))
        } else {
            Outcome::warn(format!("no archive in {}", dir.display()), hint)
        };
    };
    let detail = format!(
        "newest {} ({} old, {}, {} archives)",
        newest.name,
        crate::timefmt::age(newest.age_seconds),
        newest.state,
        archives.len()
    );
    if newest.age_seconds > FAIL_AGE {
        Outcome::fail(detail, hint)
    } else if newest.age_seconds > WARN_AGE || archives.first().is_some_and(|a| a.state == "failed")
    {
        Outcome::warn(detail, hint)
    } else {
        Outcome::ok(detail)
    }
}
