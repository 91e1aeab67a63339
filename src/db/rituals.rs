//! Goals, check-ins, the work blocks they belong to and a room's focus rules (see `rooms::timer` for how blocks are
//! numbered and `rooms::rituals` for the rules). A goal is one row per participant and block;
//! it can change until its block ends, and is answered (checked in) at most once after.

use anyhow::Context;

use super::{Db, now_ms, with_pool};
use crate::rooms::timer::BlockEnd;

/// One goal as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GoalRow {
    pub room_id: String,
    pub block: i64,
    pub participant_id: String,
    pub display_name: String,
    pub body: String,
    pub set_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub checked_in_at: Option<i64>,
}

/// One work block that ended after running.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BlockRow {
    pub block: i64,
    pub ended_at: i64,
    pub completed: i64,
    /// JSON array of the display names present when it ended.
    pub people: String,
}

// The columns of `GoalRow`, spelled once for the statements below (static text, no formatting).
macro_rules! goal_columns {
    () => {
        "room_id, block, participant_id, display_name, body, set_at, ended_at, outcome, note, checked_in_at"
    };
}

/// Stores an open room's timer settings (its focus rules changed); false when the room is not
/// open.
pub async fn set_timer_settings(db: &Db, room_id: &str, settings: &str) -> anyhow::Result<bool> {
    with_pool!(db.write(), |pool| {
        sqlx::query("UPDATE rooms SET timer_settings = $2 WHERE id = $1 AND status = 'active'")
            .bind(room_id)
            .bind(settings)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
    })
    .context("changing the room's focus rules")
}

/// Sets (or replaces) a participant's goal for an open block. `None` when the block has
/// already ended (the timer moved on between reading it and this write).
pub async fn set_goal(
    db: &Db,
    room_id: &str,
    block: u64,
    participant_id: &str,
    display_name: &str,
    body: &str,
) -> anyhow::Result<Option<GoalRow>> {
    // A block that has ended is in `work_blocks` (written with the closing of its goals), so
    // a goal can never be added to it after its owners were asked to check in.
    let sql = concat!(
        "INSERT INTO goals (room_id, block, participant_id, display_name, body, set_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
         (SELECT 1 FROM work_blocks w WHERE w.room_id = $1 AND w.block = $2) \
         ON CONFLICT (room_id, block, participant_id) DO UPDATE \
         SET body = excluded.body, display_name = excluded.display_name, set_at = excluded.set_at \
         WHERE goals.ended_at IS NULL RETURNING ",
        goal_columns!()
    );
    with_pool!(db.write(), |pool| {
        sqlx::query_as::<_, GoalRow>(sql)
            .bind(room_id)
            .bind(block as i64)
            .bind(participant_id)
            .bind(display_name)
            .bind(body)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
    .context("setting a goal")
}

/// Clears a participant's goal of an open block; whether there was one.
pub async fn clear_goal(
    db: &Db,
    room_id: &str,
    block: u64,
    participant_id: &str,
) -> anyhow::Result<bool> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "DELETE FROM goals WHERE room_id = $1 AND block = $2 AND participant_id = $3 AND ended_at IS NULL",
        )
        .bind(room_id)
        .bind(block as i64)
        .bind(participant_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
    })
    .context("clearing a goal")
}

/// The goals of one block, in the order they were set.
pub async fn goals_of_block(db: &Db, room_id: &str, block: u64) -> anyhow::Result<Vec<GoalRow>> {
    let sql = concat!(
        "SELECT ",
        goal_columns!(),
        " FROM goals WHERE room_id = $1 AND block = $2 ORDER BY set_at"
    );
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, GoalRow>(sql)
            .bind(room_id)
            .bind(block as i64)
            .fetch_all(pool)
            .await
    })
    .context("reading a block's goals")
}

/// One participant's goal of one block.
pub async fn goal(
    db: &Db,
    room_id: &str,
    block: u64,
    participant_id: &str,
) -> anyhow::Result<Option<GoalRow>> {
    let sql = concat!(
        "SELECT ",
        goal_columns!(),
        " FROM goals WHERE room_id = $1 AND block = $2 AND participant_id = $3"
    );
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, GoalRow>(sql)
            .bind(room_id)
            .bind(block as i64)
            .bind(participant_id)
            .fetch_optional(pool)
            .await
    })
    .context("reading a goal")
}

/// Records an ended block (with `people`, the names present then) and closes its goals, in one
/// transaction; returns the goals closed now (whose owners are to be asked to check in). Run
/// once per block: by the timer change that won its compare-and-set.
pub async fn end_block(
    db: &Db,
    room_id: &str,
    end: &BlockEnd,
    people: &[String],
) -> anyhow::Result<Vec<GoalRow>> {
    let people = serde_json::to_string(people)?;
    let sql = concat!(
        "UPDATE goals SET ended_at = $3 WHERE room_id = $1 AND block = $2 AND ended_at IS NULL \
         RETURNING ",
        goal_columns!()
    );
    with_pool!(db.write(), |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO work_blocks (room_id, block, ended_at, completed, people) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, block) DO NOTHING",
        )
        .bind(room_id)
        .bind(end.block as i64)
        .bind(end.ended_at)
        .bind(i64::from(end.completed))
        .bind(&people)
        .execute(&mut *tx)
        .await?;
        let mut closed = sqlx::query_as::<_, GoalRow>(sql)
            .bind(room_id)
            .bind(end.block as i64)
            .bind(end.ended_at)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        closed.sort_by_key(|g| g.set_at);
        Ok::<_, sqlx::Error>(closed)
    })
    .context("ending a work block")
}

/// Answers the check-in of a participant's ended goal. `None` when there is no ended goal of
/// that block, or it was answered already.
pub async fn check_in(
    db: &Db,
    room_id: &str,
    block: u64,
    participant_id: &str,
    outcome: &str,
    note: Option<&str>,
) -> anyhow::Result<Option<GoalRow>> {
    let sql = concat!(
        "UPDATE goals SET outcome = $4, note = $5, checked_in_at = $6 \
         WHERE room_id = $1 AND block = $2 AND participant_id = $3 \
         AND ended_at IS NOT NULL AND outcome IS NULL RETURNING ",
        goal_columns!()
    );
    with_pool!(db.write(), |pool| {
        sqlx::query_as::<_, GoalRow>(sql)
            .bind(room_id)
            .bind(block as i64)
            .bind(participant_id)
            .bind(outcome)
            .bind(note)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
    .context("checking in")
}

/// The blocks that ended and the goals set in `[from, to)` (server ms), oldest first: a day
/// of the room's record.
pub async fn record(
    db: &Db,
    room_id: &str,
    from: i64,
    to: i64,
) -> anyhow::Result<(Vec<BlockRow>, Vec<GoalRow>)> {
    let goals_sql = concat!(
        "SELECT ",
        goal_columns!(),
        " FROM goals WHERE room_id = $1 AND set_at >= $2 AND set_at < $3 \
         ORDER BY block, set_at"
    );
    with_pool!(db.read(), |pool| {
        let blocks = sqlx::query_as::<_, BlockRow>(
            "SELECT block, ended_at, completed, people FROM work_blocks \
             WHERE room_id = $1 AND ended_at >= $2 AND ended_at < $3 ORDER BY block",
        )
        .bind(room_id)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
        let goals = sqlx::query_as::<_, GoalRow>(goals_sql)
            .bind(room_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
        Ok::<_, sqlx::Error>((blocks, goals))
    })
    .context("reading the room's record")
}
