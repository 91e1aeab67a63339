//! `database`: the configured database answers, with the server version.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let url = crate::config::redact_url(config.database.url.expose());
    let db = match ctx.db().await {
        Ok(db) => db,
        Err(e) if ctx.is_sqlite().is_some() => {
            return Outcome::fail(
                e,
                "run `flowsync migrate` (or start the service) to create it",
            );
        }
        Err(e) => {
            return Outcome::fail(
                e,
                "check database.url, that PostgreSQL runs (systemctl status postgresql) and accepts this user",
            );
        }
    };
    let started = std::time::Instant::now();
    match crate::db::probe::version(&db).await {
        Ok(v) => Outcome::ok(format!(
            "{v} at {url} answers in {} ms",
            started.elapsed().as_millis()
        )),
        Err(e) => Outcome::fail(format!("{url}: {e:#}"), "check the database server's log"),
    }
}
