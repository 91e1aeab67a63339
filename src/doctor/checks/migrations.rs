//! `migrations`: the database has every migration this binary carries, none failed half-way,
//! and none from a newer FlowSync. Fix: apply the pending ones (a backup is taken first when
//! the database holds data, as `flowsync migrate` does).

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { repair(ctx).await }.boxed()
}

async fn check(ctx: &Context) -> Outcome {
    let db = match ctx.db().await {
        Ok(db) => db,
        Err(_) => return Outcome::skip("the database is not reachable (see database)"),
    };
    let status = match crate::db::migrate::status(&db).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("cannot read the migration table: {e:#}"), ""),
    };
    if let Some(m) = status.migrations.iter().find(|m| m.failed) {
        return Outcome::fail(
            format!(
                "migration {} ({}) failed half-way",
                m.version, m.description
            ),
            "restore the backup taken before it (`flowsync backup list`), then `flowsync migrate`",
        );
    }
    if !status.unknown_applied.is_empty() {
        return Outcome::fail(
            format!(
                "the database has migrations this binary does not know ({:?}): a newer FlowSync migrated it",
                status.unknown_applied
            ),
            "install that newer FlowSync version again",
        );
    }
    let pending = status.pending();
    if pending.is_empty() {
        return Outcome::ok(format!(
            "schema at version {} ({} migrations applied)",
            status.current_version().unwrap_or(0),
            status.migrations.len()
        ));
    }
    let names: Vec<String> = pending
        .iter()
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    Outcome::fail(
        format!("{} pending: {}", pending.len(), names.join(", ")),
        "`flowsync doctor --fix` or `flowsync migrate` (a backup is taken first), then restart the service",
    )
}

async fn repair(ctx: &Context) -> anyhow::Result<String> {
    let config = ctx.config.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = ctx.db().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = config.clone();
    config.backup.config_file = ctx.config_file.clone();
    let backup = crate::backup::before_migrate(&db, &config).await?;
    let applied = crate::db::migrate::apply(&db, |_, _, _| {}).await?;
    let mut did = format!("applied {} migration(s)", applied.len());
    if let Some(created) = backup {
        did.push_str(&format!(
            " after backing up to {}",
            created.archive.display()
        ));
    }
    Ok(did)
}
