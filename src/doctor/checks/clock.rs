//! `clock`: the system clock is synchronised. Asked of timedatectl (systemd) or chrony; where
//! neither can tell (containers), the clock is compared with the database server's or Redis's,
//! which is what matters when several instances share one timer. Certificates and TURN
//! credentials carry times too, so a large offset fails.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::db::Db;
use crate::doctor::{Context, Outcome, system};

const WARN: Duration = Duration::from_secs(1);
const FAIL: Duration = Duration::from_secs(30);

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Our clock minus theirs, in seconds, corrected by half the round trip.
async fn offset_vs_postgres(db: &Db) -> Option<f64> {
    let before = now_secs();
    let theirs = crate::db::probe::clock_secs(db).await.ok()??;
    let after = now_secs();
    Some((before + after) / 2.0 - theirs)
}

async fn offset_vs_redis(url: &str) -> Option<f64> {
    let mut conn = super::redis::connect(url).await.ok()?;
    let before = now_secs();
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.ok()?;
    let after = now_secs();
    Some((before + after) / 2.0 - (s as f64 + us as f64 / 1e6))
}

async fn check(ctx: &Context) -> Outcome {
    match system::clock_synchronised().await {
        Some(true) => return Outcome::ok("synchronised (NTP)"),
        Some(false) => {
            return Outcome::warn(
                "the system clock is not synchronised",
                "enable time sync: `timedatectl set-ntp true` (systemd-timesyncd) or install chrony",
            );
        }
        None => {}
    }
    let mut offset = None;
    if let Ok(db) = ctx.db().await
        && let Some(o) = offset_vs_postgres(&db).await
    {
        offset = Some(("PostgreSQL", o));
    }
    if offset.is_none()
        && let Ok(config) = &ctx.config
        && let Some(url) = &config.redis.url
        && let Some(o) = offset_vs_redis(url.expose()).await
    {
        offset = Some(("Redis", o));
    }
    let Some((against, secs)) = offset else {
        return Outcome::skip(
            "no timedatectl or chrony status here, and no database or Redis server clock to compare with",
        );
    };
    let abs = Duration::from_secs_f64(secs.abs());
    let detail = format!(
        "offset {:+.0} ms against the {against} server (no NTP status available here)",
        secs * 1000.0
    );
    let hint = "synchronise the clocks of this host and the database/Redis host (NTP)";
    if abs >= FAIL {
        Outcome::fail(detail, hint)
    } else if abs >= WARN {
        Outcome::warn(detail, hint)
    } else {
        Outcome::ok(detail)
    }
}
