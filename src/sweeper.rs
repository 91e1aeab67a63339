//! The background sweeper: expires idle rooms (purging messages, tokens and sessions but keeping
//! the tombstone that reserves the code; standing rooms never expire by idleness), deletes
//! tombstones whose reservation ran out, deletes standing rooms' chat older than their
//! retention, and drops expired in-process state. Runs under a lock so several instances sweep once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::clock::now_ms;
use crate::db;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: Vec<String>,
    pub tombstones_deleted: u64,
    /// Chat lines of standing rooms older than their retention.
    pub messages_purged: u64,
    /// Another instance holds the sweep lock.
    pub skipped: bool,
}

const LOCK: &str = "sweeper";

/// Runs one sweep now.
pub async fn sweep_once(app: &App) -> anyhow::Result<SweepReport> {
    let _one_at_a_time = app.sweeping.lock().await;
    app.state.purge_expired();
    if !app
        .state
        .try_lock(LOCK, &app.instance_id, Duration::from_secs(120))
        .await?
    {
        return Ok(SweepReport {
            skipped: true,
            ..Default::default()
        });
    }
    let result = sweep_locked(app).await;
    if let Err(e) = app.state.unlock(LOCK, &app.instance_id).await {
        tracing::warn!(error = %format!("{e:#}"), "could not release the sweep lock; it lapses in 2 minutes");
    }
    result
}

async fn sweep_locked(app: &App) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = now_ms();
    for (id, code) in db::lifecycle::due_for_expiry(&app.db, now).await? {
        if app
            .end_room(&id, &code, "expired")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            report.expired.push(code);
        }
    }
    report.tombstones_deleted = db::lifecycle::delete_old_tombstones(&app.db, now).await?;
    report.messages_purged = db::lifecycle::purge_old_messages(&app.db, now).await?;
    if !report.expired.is_empty() || report.tombstones_deleted > 0 || report.messages_purged > 0 {
        tracing::info!(
            expired = report.expired.len(),
            rooms = %report.expired.join(","),
            tombstones_deleted = report.tombstones_deleted,
            messages_purged = report.messages_purged,
            "sweep purged expired rooms and old chat"
        );
    }
    Ok(report)
}

/// Sweeps every `every` until `stop` fires. The first sweep is one interval after start: an
/// expired room already answers 410 before it is swept, so nothing waits on it, and a start-up
/// burst of database work is avoided.
pub async fn run(app: std::sync::Arc<App>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = sweep_once(&app).await {
                    tracing::warn!(error = %format!("{e:#}"), "sweep failed; retrying next interval");
                }
            }
        }
    }
}
