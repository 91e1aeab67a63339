//! Rooms, participants and tokens: creation with atomic code allocation, seat-checked joins,
//! token lookup, closing rooms into tombstones, and the expiry sweep.

use anyhow::Context;

use super::models::{AuthRow, NewParticipant, NewRoom, ParticipantRow, RoomRow};
use super::{Db, now_ms, with_pool};

/// `last_seen_at` of a participant with a live connection: connected participants always hold
/// their seat, and one indexed range `last_seen_at >= cutoff` counts every seat (connected,
/// disconnected within the reconnect grace, and pending: joined over REST, not yet connected,
/// see [`super::models::NewParticipant::last_seen_at`]).
pub const CONNECTED: i64 = i64::MAX;

/// Selects a room with its seat count; `$1` is the lookup value, `$2` the seat cutoff
/// (a participant last seen after it, or connected, holds a seat). With two arguments, the
/// first names further columns (each followed by a comma).
macro_rules! room_select {
    ($where:literal) => {
        room_select!("", $where)
    };
    ($extra:literal, $where:literal) => {
        concat!(
            "SELECT r.id, r.code, r.name, r.password_hash, r.max_participants, r.timer_settings, \
             r.status, r.created_at, r.last_activity_at, r.expires_at, r.closed_at, r.tombstone_until, \
             r.standing, r.slug, r.host_link_generation, r.retention_days, ",
            $extra,
            "(SELECT COUNT(*) FROM participants p WHERE p.room_id = r.id AND p.revoked_at IS NULL \
              AND p.left_at IS NULL AND p.last_seen_at >= $2) AS seats \
             FROM rooms r WHERE ",
            $where
        )
    };
}

/// A room with its stored timer state (`None`: never started), read together.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomWithTimer {
    #[sqlx(flatten)]
    pub room: RoomRow,
    pub timer_state: Option<String>,
}

/// Outcome of [`join`].
#[derive(Debug)]
pub enum JoinOutcome {
    Joined,
    Full,
    Gone,
}

/// Outcome of [`create`].
#[derive(Debug)]
pub struct Created {
    pub code: String,
    pub name: String,
}

/// Inserts a room and its host (an operator's room has none). The code is allocated atomically: a unique-conflicting insert
/// inserts nothing and another code is drawn (never check-then-insert). A standing room's slug
/// is unique among rooms and tombstones: `None` when another has it.
pub async fn create(
    db: &Db,
    room: &NewRoom,
    host: Option<&NewParticipant>,
) -> anyhow::Result<Option<Created>> {
    let now = now_ms();
    let timer = serde_json::to_string(&room.timer)?;
    let (standing, slug, generation, retention) = match &room.standing {
        Some(s) => (
            1i64,
            Some(s.slug.as_str()),
            Some(1i64),
            Some(s.retention_days),
        ),
        None => (0, None, None, None),
    };
    for _ in 0..16 {
        let code = crate::rooms::new_code();
        let name = room.name.clone().unwrap_or_else(|| format!("Room {code}"));
        let inserted: Option<bool> = with_pool!(db.write(), |pool| {
            let mut tx = pool.begin().await?;
            if let Some(slug) = slug
                && slug_holder!(&mut *tx, slug).await?.is_some()
            {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(None);
            }
            let res = sqlx::query(
                "INSERT INTO rooms (id, code, name, password_hash, max_participants, timer_settings, \
                 status, created_at, last_activity_at, expires_at, standing, slug, \
                 host_link_generation, retention_days) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (code) DO NOTHING",
            )
            .bind(&room.id)
            .bind(&code)
            .bind(&name)
            .bind(&room.password_hash)
            .bind(room.max_participants)
            .bind(&timer)
            .bind(now)
            .bind(room.expires_at)
            .bind(standing)
            .bind(slug)
            .bind(generation)
            .bind(retention)
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 1 {
                if let Some(host) = host {
                    insert_participant!(&mut *tx, &room.id, host, now);
                }
                tx.commit().await?;
                Ok(Some(true))
            } else {
                tx.rollback().await?;
                Ok(Some(false))
            }
        })
        .context("creating room")?;
        match inserted {
            None => return Ok(None),
            Some(true) => return Ok(Some(Created { code, name })),
            Some(false) => {}
        }
    }
    anyhow::bail!("could not allocate a free room code after 16 attempts")
}

/// The code of the room (or tombstone) that holds `slug`, on either backend's executor.
macro_rules! slug_holder {
    ($exec:expr, $slug:expr) => {
        sqlx::query_scalar::<_, String>("SELECT code FROM rooms WHERE slug = $1")
            .bind($slug)
            .fetch_optional($exec)
    };
}
use slug_holder;

/// The code of the room (or tombstone) whose readable link is `/r/<slug>`.
pub async fn code_by_slug(db: &Db, slug: &str) -> anyhow::Result<Option<String>> {
    with_pool!(db.read(), |pool| slug_holder!(pool, slug).await).context("looking up a slug")
}

/// Outcome of [`make_standing`].
#[derive(Debug, PartialEq, Eq)]
pub enum StandingOutcome {
    Done,
    SlugTaken,
    /// No open room has this id.
    Gone,
}

/// Makes an open room standing (or changes its slug or retention): it no longer expires by
/// idleness, and gets a host link unless it has one.
pub async fn make_standing(
    db: &Db,
    room_id: &str,
    standing: &super::models::Standing,
) -> anyhow::Result<StandingOutcome> {
    with_pool!(db.write(), |pool| {
        let mut tx = pool.begin().await?;
        if let Some(holder) = slug_holder!(&mut *tx, &standing.slug).await? {
            let own: Option<String> =
                sqlx::query_scalar("SELECT code FROM rooms WHERE id = $1 AND slug = $2")
                    .bind(room_id)
                    .bind(&standing.slug)
                    .fetch_optional(&mut *tx)
                    .await?;
            if own.as_deref() != Some(holder.as_str()) {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(StandingOutcome::SlugTaken);
            }
        }
        let n = sqlx::query(
            "UPDATE rooms SET standing = 1, slug = $2, retention_days = $3, expires_at = $4, \
             host_link_generation = COALESCE(host_link_generation, 1) \
             WHERE id = $1 AND status = 'active' AND expires_at > $5",
        )
        .bind(room_id)
        .bind(&standing.slug)
        .bind(standing.retention_days)
        .bind(super::models::NEVER)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if n == 1 {
            StandingOutcome::Done
        } else {
            StandingOutcome::Gone
        })
    })
    .context("making a room standing")
}

/// Invalidates a room's host link and makes a new one: its new generation.
pub async fn rotate_host_link(db: &Db, room_id: &str) -> anyhow::Result<Option<i64>> {
    with_pool!(db.write(), |pool| {
        sqlx::query_scalar::<_, i64>(
            "UPDATE rooms SET host_link_generation = COALESCE(host_link_generation, 0) + 1 \
             WHERE id = $1 AND status = 'active' AND standing = 1 RETURNING host_link_generation",
        )
        .bind(room_id)
        .fetch_optional(pool)
        .await
    })
    .context("rotating the host link")
}

macro_rules! insert_participant {
    ($exec:expr, $room_id:expr, $p:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO participants (id, room_id, display_name, role, device_id, token_hash, \
             created_at, last_seen_at, connections) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        )
        .bind(&$p.id)
        .bind($room_id)
        .bind(&$p.display_name)
        .bind($p.role)
        .bind(&$p.device_id)
        .bind(&$p.token_hash)
        .bind($now)
        .bind($p.last_seen_at)
        .execute($exec)
        .await?
    };
}
use insert_participant;

/// A room by its (normalised) code, with seats counted against `seat_cutoff_ms`.
pub async fn by_code(db: &Db, code: &str, seat_cutoff_ms: i64) -> anyhow::Result<Option<RoomRow>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, RoomRow>(room_select!("r.code = $1"))
            .bind(code)
            .bind(seat_cutoff_ms)
            .fetch_optional(pool)
            .await
    })
    .context("looking up room")
}

/// A room by id with its timer state in one statement (the `room-joined` snapshot needs both).
pub async fn by_id_with_timer(
    db: &Db,
    room_id: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Option<RoomWithTimer>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, RoomWithTimer>(room_select!("r.timer_state, ", "r.id = $1"))
            .bind(room_id)
            .bind(seat_cutoff_ms)
            .fetch_optional(pool)
            .await
    })
    .context("looking up room")
}

/// Every room (active first, then tombstones), for operators.
pub async fn list(
    db: &Db,
    seat_cutoff_ms: i64,
    include_closed: bool,
) -> anyhow::Result<Vec<RoomRow>> {
    let flag = if include_closed { 1i64 } else { 0 };
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, RoomRow>(room_select!(
            "(r.status = 'active' OR $1 = 1) ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.created_at DESC"
        ))
        .bind(flag)
        .bind(seat_cutoff_ms)
        .fetch_all(pool)
        .await
    })
    .context("listing rooms")
}

/// How many rooms are open (a cheap count for `/metrics`, not a listing).
pub async fn count_active(db: &Db) -> anyhow::Result<i64> {
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE status = 'active' AND expires_at > $1")
            .bind(now_ms())
            .fetch_one(pool)
            .await
    })
    .context("counting rooms")
}

/// True when a host removed this device from the room.
pub async fn device_kicked(db: &Db, room_id: &str, device_id: &str) -> anyhow::Result<bool> {
    let n: i64 = with_pool!(db.read(), |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM participants WHERE room_id = $1 AND device_id = $2 \
             AND revoked_reason = 'kicked'",
        )
        .bind(room_id)
        .bind(device_id)
        .fetch_one(pool)
        .await
    })
    .context("checking kicked devices")?;
    Ok(n > 0)
}

/// Adds a participant if the room is active and has a free seat, atomically, and records the
/// join as room activity when `touch` (callers skip it when the room was active within the
/// last minute, to keep the hot path to one write).
///
/// - PostgreSQL: one transaction whose first statement locks the room row, so concurrent joins
///   to a room are serialised and the seat count that follows sees every committed join.
/// - SQLite: all writes go through one connection, so a single conditional `INSERT … SELECT …
///   WHERE seats < max` is already atomic; the transaction's extra round trips are not needed.
///
/// The server calls it through [`super::group_commit::JoinWriter`], which on SQLite writes joins
/// that arrive together in one transaction ([`join_many`]).
pub async fn join(db: &Db, j: &Join<'_>) -> anyhow::Result<JoinOutcome> {
    let now = now_ms();
    let Join {
        room_id,
        participant: p,
        seat_cutoff_ms,
        new_expires_at,
        ..
    } = *j;
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.acquire().await?;
            join_sqlite(&mut conn, j, now).await
        }
        Db::Postgres(pool) => {
            let run = async {
                let mut tx = pool.begin().await?;
                let max: Option<i64> = sqlx::query_scalar(
                    "UPDATE rooms SET last_activity_at = $2, expires_at = CASE WHEN standing = 1 THEN expires_at ELSE $3 END \
                     WHERE id = $1 AND status = 'active' AND expires_at > $2 RETURNING max_participants",
                )
                .bind(room_id)
                .bind(now)
                .bind(new_expires_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(max) = max else {
                    tx.rollback().await?;
                    return Ok::<_, sqlx::Error>(JoinOutcome::Gone);
                };
                let seats: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM participants p WHERE p.room_id = $1 AND p.revoked_at IS NULL \
                     AND p.left_at IS NULL AND p.last_seen_at >= $2",
                )
                .bind(room_id)
                .bind(seat_cutoff_ms)
                .fetch_one(&mut *tx)
                .await?;
                if !crate::rooms::has_free_seat(seats, max) {
                    tx.rollback().await?;
                    return Ok(JoinOutcome::Full);
                }
                insert_participant!(&mut *tx, room_id, p, now);
                tx.commit().await?;
                Ok(JoinOutcome::Joined)
            };
            run.await.context("joining room")
        }
    }
}

/// One join for [`join`] and [`join_many`].
pub struct Join<'a> {
    pub room_id: &'a str,
    pub participant: &'a NewParticipant,
    pub seat_cutoff_ms: i64,
    pub new_expires_at: i64,
    pub touch: bool,
}

/// A join's statements on SQLite's one write connection: a single conditional `INSERT … SELECT
/// … WHERE seats < max` is atomic there (all writes go through that connection), and inside a
/// transaction it also sees the joins before it.
async fn join_sqlite(
    conn: &mut sqlx::SqliteConnection,
    j: &Join<'_>,
    now: i64,
) -> anyhow::Result<JoinOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO participants (id, room_id, display_name, role, device_id, token_hash, \
         created_at, last_seen_at, connections) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $9, 0 \
         WHERE (SELECT max_participants FROM rooms WHERE id = $2 AND status = 'active' AND expires_at > $7) \
         > (SELECT COUNT(*) FROM participants s WHERE s.room_id = $2 AND s.revoked_at IS NULL \
            AND s.left_at IS NULL AND s.last_seen_at >= $8)",
    )
    .bind(&j.participant.id)
    .bind(j.room_id)
    .bind(&j.participant.display_name)
    .bind(j.participant.role)
    .bind(&j.participant.device_id)
    .bind(&j.participant.token_hash)
    .bind(now)
    .bind(j.seat_cutoff_ms)
    .bind(j.participant.last_seen_at)
    .execute(&mut *conn)
    .await
    .context("joining room")?
    .rows_affected()
        == 1;
    if !inserted {
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM rooms WHERE id = $1 AND status = 'active' AND expires_at > $2",
        )
        .bind(j.room_id)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .context("joining room")?;
        return Ok(if active == 1 {
            JoinOutcome::Full
        } else {
            JoinOutcome::Gone
        });
    }
    if j.touch {
        sqlx::query("UPDATE rooms SET last_activity_at = $2, expires_at = CASE WHEN standing = 1 THEN expires_at ELSE $3 END WHERE id = $1 AND status = 'active'")
            .bind(j.room_id)
            .bind(now)
            .bind(j.new_expires_at)
            .execute(&mut *conn)
            .await
            .context("recording room activity")?;
    }
    Ok(JoinOutcome::Joined)
}

/// Several joins in one transaction on SQLite: one commit (one set of WAL frames for the table
/// and its indexes) instead of one each. Each sees the seats the ones before it took. On any
/// error the whole transaction is rolled back and the error returned, so the caller can retry
/// them one by one and a bad join fails alone. PostgreSQL has no batch: this is an error there.
pub async fn join_many(db: &Db, joins: &[Join<'_>]) -> anyhow::Result<Vec<JoinOutcome>> {
    let Db::Sqlite { write, .. } = db else {
        anyhow::bail!("join_many is for SQLite");
    };
    let now = now_ms();
    // Rolled back when dropped, so an error anywhere leaves none of the batch behind (some
    // errors, a full disk among them, end the transaction themselves).
    let mut tx = write
        .begin_with("BEGIN IMMEDIATE")
        .await
        .context("joining rooms")?;
    let mut outcomes = Vec::with_capacity(joins.len());
    for j in joins {
        outcomes.push(join_sqlite(&mut tx, j, now).await?);
    }
    tx.commit().await.context("joining rooms")?;
    Ok(outcomes)
}

/// Resolves a token hash to its participant, if the token is live and its room active.
pub async fn auth(db: &Db, token_hash: &str) -> anyhow::Result<Option<AuthRow>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, AuthRow>(
            "SELECT p.id AS participant_id, p.room_id, r.code AS room_code, p.display_name, p.role \
             FROM participants p JOIN rooms r ON r.id = p.room_id \
             WHERE p.token_hash = $1 AND p.revoked_at IS NULL AND r.status = 'active' AND r.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(pool)
        .await
    })
    .context("checking token")
}

/// Whether a participant is in its room, and so may read and write its chat: not revoked, not
/// left, and either connected now or connected before and still within its reconnect grace
/// (`seat_cutoff_ms`). A participant that joined over REST and never connected is not: it
/// would read the room unseen.
pub async fn in_room(db: &Db, participant_id: &str, seat_cutoff_ms: i64) -> anyhow::Result<bool> {
    let n: i64 = with_pool!(db.read(), |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM participants p WHERE p.id = $1 AND p.revoked_at IS NULL \
             AND p.left_at IS NULL AND (p.connections > 0 OR (p.last_seen_at >= $2 \
             AND EXISTS (SELECT 1 FROM room_sessions s WHERE s.participant_id = p.id)))",
        )
        .bind(participant_id)
        .bind(seat_cutoff_ms)
        .fetch_one(pool)
        .await
    })
    .context("checking that the participant is in the room")?;
    Ok(n > 0)
}

/// The room of a participant who is in a live room, as [`in_room`] has it and the room still
/// active: who may use the embedded TURN relay.
pub async fn live_room_of(
    db: &Db,
    participant_id: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Option<String>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar(
            "SELECT p.room_id FROM participants p JOIN rooms r ON r.id = p.room_id \
             WHERE p.id = $1 AND r.status = 'active' AND p.revoked_at IS NULL \
             AND p.left_at IS NULL AND (p.connections > 0 OR (p.last_seen_at >= $2 \
             AND EXISTS (SELECT 1 FROM room_sessions s WHERE s.participant_id = p.id)))",
        )
        .bind(participant_id)
        .bind(seat_cutoff_ms)
        .fetch_optional(pool)
        .await
    })
    .context("checking that the participant is in a live room")
}

/// A seat taken over REST whose live connection has not arrived yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingSeat {
    pub participant_id: String,
    pub display_name: String,
    /// `last_seen_at`: the seat lapses at this plus the reconnect grace.
    pub last_seen_at: i64,
}

/// The pending seats of a room (joined, never connected, not lapsed), oldest first: the room
/// shows them ("joining…") so nobody holds a seat unseen.
pub async fn pending_seats(
    db: &Db,
    room_id: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Vec<PendingSeat>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, PendingSeat>(
            "SELECT p.id AS participant_id, p.display_name, p.last_seen_at FROM participants p \
             WHERE p.room_id = $1 AND p.revoked_at IS NULL AND p.left_at IS NULL \
             AND p.connections = 0 AND p.last_seen_at >= $2 \
             AND NOT EXISTS (SELECT 1 FROM room_sessions s WHERE s.participant_id = p.id) \
             ORDER BY p.created_at, p.id",
        )
        .bind(room_id)
        .bind(seat_cutoff_ms)
        .fetch_all(pool)
        .await
    })
    .context("listing pending seats")
}

/// The names of the people connected to a room now, in the order they joined (for the lobby).
pub async fn names_inside(db: &Db, room_id: &str) -> anyhow::Result<Vec<String>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar::<_, String>(
            "SELECT display_name FROM participants WHERE room_id = $1 AND revoked_at IS NULL \
             AND left_at IS NULL AND connections > 0 ORDER BY created_at, id",
        )
        .bind(room_id)
        .fetch_all(pool)
        .await
    })
    .context("listing who is in the room")
}

/// The participants of a room that have not been revoked, oldest first.
pub async fn participants(db: &Db, room_id: &str) -> anyhow::Result<Vec<ParticipantRow>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, ParticipantRow>(
            "SELECT id, room_id, display_name, role, device_id, created_at, last_seen_at, connections, \
             left_at, revoked_at, revoked_reason FROM participants WHERE room_id = $1 ORDER BY created_at, id",
        )
        .bind(room_id)
        .fetch_all(pool)
        .await
    })
    .context("listing participants")
}
