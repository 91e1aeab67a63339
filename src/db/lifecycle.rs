//! How rooms end: activity that keeps a room open, expiry, closing into a tombstone (its chat,
//! record, participants and sessions deleted, the code kept reserved), tombstones running out,
//! and a standing room's retention purge.

use anyhow::Context;

use super::{Db, now_ms, with_pool};

/// Deletes the chat lines of standing rooms older than each room's retention, and the goals
/// and work blocks of the same age (the record of the day is kept as long as the chat); how
/// many chat lines.
pub async fn purge_old_messages(db: &Db, now: i64) -> anyhow::Result<u64> {
    with_pool!(db.write(), |pool| {
        let lines = sqlx::query(
            "DELETE FROM room_messages WHERE created_at < $1 - 86400000 * \
             (SELECT r.retention_days FROM rooms r WHERE r.id = room_messages.room_id AND r.standing = 1)",
        )
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM goals WHERE set_at < $1 - 86400000 * \
             (SELECT r.retention_days FROM rooms r WHERE r.id = goals.room_id AND r.standing = 1)",
        )
        .bind(now)
        .execute(pool)
        .await?;
        sqlx::query(
            "DELETE FROM work_blocks WHERE ended_at < $1 - 86400000 * \
             (SELECT r.retention_days FROM rooms r WHERE r.id = work_blocks.room_id AND r.standing = 1)",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|_| lines)
    })
    .context("purging chat past its retention")
}

/// Records activity (a message, a live connection) so the room does not expire.
pub async fn touch(db: &Db, room_id: &str, new_expires_at: i64) -> anyhow::Result<()> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "UPDATE rooms SET last_activity_at = $2, \
             expires_at = CASE WHEN standing = 1 THEN expires_at ELSE $3 END \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(room_id)
        .bind(now_ms())
        .bind(new_expires_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
    .context("recording room activity")?;
    Ok(())
}

/// Turns a room into a tombstone (`ended` or `expired`): its messages, goals, work blocks,
/// participants (and so tokens) and sessions are deleted, the code stays reserved until
/// `tombstone_until`.
/// Returns the token hashes that stopped working, for cache invalidation; `None` when the
/// room was not active.
pub async fn close(
    db: &Db,
    room_id: &str,
    status: &'static str,
    tombstone_until: i64,
) -> anyhow::Result<Option<Vec<String>>> {
    let now = now_ms();
    with_pool!(db.write(), |pool| {
        let mut tx = pool.begin().await?;
        let res = sqlx::query(
            "UPDATE rooms SET status = $2, closed_at = $3, tombstone_until = $4, password_hash = NULL \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(room_id)
        .bind(status)
        .bind(now)
        .bind(tombstone_until)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok::<_, sqlx::Error>(None);
        }
        let hashes: Vec<String> =
            sqlx::query_scalar("SELECT token_hash FROM participants WHERE room_id = $1")
                .bind(room_id)
                .fetch_all(&mut *tx)
                .await?;
        for sql in [
            "DELETE FROM room_messages WHERE room_id = $1",
            "DELETE FROM goals WHERE room_id = $1",
            "DELETE FROM work_blocks WHERE room_id = $1",
        ] {
            sqlx::query(sql).bind(room_id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM room_sessions WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM participants WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(hashes))
    })
    .context("closing room")
}

/// Rooms whose idle expiry has passed but are still marked active: `(id, code)`.
pub async fn due_for_expiry(db: &Db, now: i64) -> anyhow::Result<Vec<(String, String)>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, (String, String)>(
            "SELECT id, code FROM rooms WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT 500",
        )
        .bind(now)
        .fetch_all(pool)
        .await
    })
    .context("finding expired rooms")
}

/// Deletes tombstones whose reservation has run out, freeing their codes. Returns how many.
pub async fn delete_old_tombstones(db: &Db, now: i64) -> anyhow::Result<u64> {
    with_pool!(db.write(), |pool| {
        sqlx::query("DELETE FROM rooms WHERE status <> 'active' AND tombstone_until <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
    .context("deleting old tombstones")
}
