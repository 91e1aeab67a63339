//! What live connections change in the database: seats claimed and released, explicit leaves,
//! kicks, host changes, session records, and the timer's compare-and-set state.

use anyhow::Context;

use super::models::AuthRow;
use super::rooms::CONNECTED;
use super::{Backend, Db, now_ms, with_pool};

/// Why a token no longer works, for the handshake's error code.
pub async fn revoked_reason(db: &Db, token_hash: &str) -> anyhow::Result<Option<String>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT revoked_reason FROM participants WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await
    })
    .map(Option::flatten)
    .context("checking token")
}

/// A seat claimed by [`claim_seat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The participant was connected before (it has a session record), so this is not its
    /// first arrival.
    pub returning: bool,
    /// It has a session record still open (its connection was lost without a goodbye, as in a
    /// restart): the session goes on and none is opened.
    pub session_open: bool,
}

/// The seat claim as one SQLite `UPDATE`, for the participant `$key` selects (with `$4` free
/// for it): `$2` is the seat cutoff, `$3` [`CONNECTED`]. The seat rule is
/// [`super::rooms::join`]'s: a participant still holding its seat keeps it, another gets one
/// only while the room has fewer seats taken than it holds.
macro_rules! claim_update {
    ($key:literal) => {
        concat!(
            "UPDATE participants SET last_seen_at = $3, connections = connections + 1, left_at = NULL \
             WHERE revoked_at IS NULL AND ",
            $key,
            " AND ((left_at IS NULL AND last_seen_at >= $2) \
               OR (SELECT max_participants FROM rooms WHERE id = participants.room_id) > \
                  (SELECT COUNT(*) FROM participants s WHERE s.room_id = participants.room_id \
                   AND s.revoked_at IS NULL AND s.left_at IS NULL AND s.last_seen_at >= $2))"
        )
    };
}

/// What a claim returns besides the claim itself ([`Claimed`]), told by the same statement to
/// spare the handshake queries.
macro_rules! claimed_flags {
    () => {
        "EXISTS (SELECT 1 FROM room_sessions WHERE participant_id = participants.id), \
         EXISTS (SELECT 1 FROM room_sessions WHERE participant_id = participants.id AND left_at IS NULL)"
    };
}

/// Marks a participant connected (holding its seat for as long as it stays connected). A
/// participant that still holds its seat always gets it back; one whose seat lapsed (gone past
/// the reconnect grace, or left) gets a seat only if one is free — checked atomically as in
/// [`super::rooms::join`]. Returns `None` when the room is full.
pub async fn claim_seat(
    db: &Db,
    room_id: &str,
    participant_id: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Option<Claimed>> {
    match db {
        Db::Sqlite { write, .. } => {
            let claimed: Option<(bool, bool)> = sqlx::query_as(concat!(
                claim_update!("id = $1 AND room_id = $4"),
                " RETURNING ",
                claimed_flags!()
            ))
            .bind(participant_id)
            .bind(seat_cutoff_ms)
            .bind(CONNECTED)
            .bind(room_id)
            .fetch_optional(write)
            .await
            .context("claiming a seat")?;
            Ok(claimed.map(|(returning, session_open)| Claimed {
                returning,
                session_open,
            }))
        }
        Db::Postgres(pool) => {
            let run = async {
                let mut tx = pool.begin().await?;
                // Lock the room row first, as joins do, so seat counts are serialised per room.
                let max: Option<i64> = sqlx::query_scalar(
                    "SELECT max_participants FROM rooms WHERE id = $1 FOR UPDATE",
                )
                .bind(room_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(max) = max else {
                    return Ok::<_, sqlx::Error>(None);
                };
                let holds: Option<bool> = sqlx::query_scalar(
                    "SELECT (left_at IS NULL AND last_seen_at >= $2) FROM participants \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(participant_id)
                .bind(seat_cutoff_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(holds) = holds else { return Ok(None) };
                if !holds {
                    let seats: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM participants WHERE room_id = $1 AND revoked_at IS NULL \
                         AND left_at IS NULL AND last_seen_at >= $2",
                    )
                    .bind(room_id)
                    .bind(seat_cutoff_ms)
                    .fetch_one(&mut *tx)
                    .await?;
                    if seats >= max {
                        return Ok(None);
                    }
                }
                let (returning, session_open): (bool, bool) = sqlx::query_as(concat!(
                    "UPDATE participants SET last_seen_at = $2, connections = connections + 1, left_at = NULL \
                     WHERE id = $1 RETURNING ",
                    claimed_flags!()
                ))
                .bind(participant_id)
                .bind(CONNECTED)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(Claimed {
                    returning,
                    session_open,
                }))
            };
            run.await.context("claiming a seat")
        }
    }
}

/// A handshake's token check and seat claim in one: the participant a token names, if the
/// token works (not revoked, its room active) and a seat is had as in [`claim_seat`]. `None`
/// says neither why nor whether the token is good: the caller looks the token up to tell a
/// bad token from a full room. On SQLite this is one statement (a reconnect after a restart
/// finds the token cache empty); on PostgreSQL the lookup and the claim's transaction.
pub async fn claim_by_token(
    db: &Db,
    token_hash: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Option<(AuthRow, Claimed)>> {
    let now = now_ms();
    match db {
        Db::Sqlite { write, .. } => {
            let row: Option<(String, String, String, String, String, bool, bool)> =
                sqlx::query_as(concat!(
                    claim_update!(
                        "token_hash = $1 AND EXISTS (SELECT 1 FROM rooms r \
                         WHERE r.id = participants.room_id AND r.status = 'active' AND r.expires_at > $4)"
                    ),
                    " RETURNING id, room_id, (SELECT code FROM rooms WHERE id = participants.room_id), \
                     display_name, role, ",
                    claimed_flags!()
                ))
                .bind(token_hash)
                .bind(seat_cutoff_ms)
                .bind(CONNECTED)
                .bind(now)
                .fetch_optional(write)
                .await
                .context("claiming a seat")?;
            Ok(row.map(
                |(
                    participant_id,
                    room_id,
                    room_code,
                    display_name,
                    role,
                    returning,
                    session_open,
                )| {
                    (
                        AuthRow {
                            participant_id,
                            room_id,
                            room_code,
                            display_name,
                            role,
                        },
                        Claimed {
                            returning,
                            session_open,
                        },
                    )
                },
            ))
        }
        Db::Postgres(_) => {
            let Some(who) = super::rooms::auth(db, token_hash).await? else {
                return Ok(None);
            };
            let claimed = claim_seat(db, &who.room_id, &who.participant_id, seat_cutoff_ms).await?;
            Ok(claimed.map(|c| (who, c)))
        }
    }
}

/// One connection of a participant closed; with none left, the reconnect grace starts now.
pub async fn release_seat(db: &Db, participant_id: &str) -> anyhow::Result<()> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "UPDATE participants SET \
               last_seen_at = CASE WHEN connections > 1 THEN last_seen_at ELSE $2 END, \
               connections = CASE WHEN connections > 1 THEN connections - 1 ELSE 0 END \
             WHERE id = $1",
        )
        .bind(participant_id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())
    })
    .context("releasing a seat")
}

/// Connections that ended without a goodbye (their server crashed) count as closed at
/// `seen_at`, so the reconnect grace runs from then. `None` resets every participant — for a
/// single instance starting up, when no connection from before can still be open.
pub async fn reset_connections(
    db: &Db,
    participant_id: Option<&str>,
    seen_at: i64,
) -> anyhow::Result<u64> {
    let now = seen_at;
    with_pool!(db.write(), |pool| {
        match participant_id {
            Some(p) => sqlx::query("UPDATE participants SET connections = 0, last_seen_at = $2 WHERE id = $1 AND connections > 0")
                .bind(p)
                .bind(now)
                .execute(pool)
                .await,
            None => sqlx::query("UPDATE participants SET connections = 0, last_seen_at = $1 WHERE connections > 0")
                .bind(now)
                .execute(pool)
                .await,
        }
        .map(|r| r.rows_affected())
    })
    .context("resetting connections")
}

/// An explicit leave: the seat is freed at once (the token still works to come back).
pub async fn mark_left(db: &Db, participant_id: &str) -> anyhow::Result<()> {
    let now = now_ms();
    with_pool!(db.write(), |pool| {
        sqlx::query("UPDATE participants SET left_at = $2, connections = 0, last_seen_at = $2 WHERE id = $1")
            .bind(participant_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
    })
    .context("recording a leave")
}

/// Revokes a participant's token (e.g. `kicked`); returns its hash for cache invalidation.
pub async fn revoke(
    db: &Db,
    room_id: &str,
    participant_id: &str,
    reason: &str,
) -> anyhow::Result<Option<String>> {
    let now = now_ms();
    with_pool!(db.write(), |pool| {
        sqlx::query_scalar::<_, String>(
            "UPDATE participants SET revoked_at = $3, revoked_reason = $4, connections = 0, last_seen_at = $3 \
             WHERE id = $1 AND room_id = $2 AND revoked_at IS NULL RETURNING token_hash",
        )
        .bind(participant_id)
        .bind(room_id)
        .bind(now)
        .bind(reason)
        .fetch_optional(pool)
        .await
    })
    .context("revoking a token")
}

/// Makes `new_host` the room's host and every other participant a guest; the token hashes
/// whose role changed (for the auth cache), or `None` when `new_host` is not a participant.
pub async fn set_host(
    db: &Db,
    room_id: &str,
    new_host: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    change_host(db, room_id, new_host, None)
        .await
        .context("changing the host")
}

/// Makes `participant` host of a room whose host holds no seat (it left, or its reconnect
/// grace ran out; a host connected, reconnecting within the grace, or still arriving with a
/// seat taken over REST holds one: `last_seen_at >= seat_cutoff_ms`), as [`set_host`] does;
/// `None` when the host holds a seat. Atomic: of two people arriving together in a hostless
/// room, one becomes host.
pub async fn claim_host(
    db: &Db,
    room_id: &str,
    participant: &str,
    seat_cutoff_ms: i64,
) -> anyhow::Result<Option<Vec<String>>> {
    change_host(db, room_id, participant, Some(seat_cutoff_ms))
        .await
        .context("taking the host role of a room without one")
}

/// [`set_host`], or with `only_if_hostless` ([`claim_host`]'s seat cutoff) only when no other
/// host holds a seat.
async fn change_host(
    db: &Db,
    room_id: &str,
    new_host: &str,
    only_if_hostless: Option<i64>,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    with_pool!(db.write(), |pool| {
        let mut tx = pool.begin().await?;
        if let Some(cutoff) = only_if_hostless {
            // Locks the room row (PostgreSQL) or takes the write lock (SQLite) first, so two
            // claims in the same room run one after the other and the second sees the first.
            sqlx::query("UPDATE rooms SET id = id WHERE id = $1")
                .bind(room_id)
                .execute(&mut *tx)
                .await?;
            let present_host: Option<String> = sqlx::query_scalar(
                "SELECT id FROM participants WHERE room_id = $1 AND role = 'host' AND id <> $2 \
                 AND revoked_at IS NULL AND left_at IS NULL AND last_seen_at >= $3 LIMIT 1",
            )
            .bind(room_id)
            .bind(new_host)
            .bind(cutoff)
            .fetch_optional(&mut *tx)
            .await?;
            if present_host.is_some() {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        let ok = sqlx::query("UPDATE participants SET role = 'host' WHERE id = $1 AND room_id = $2 AND revoked_at IS NULL")
            .bind(new_host)
            .bind(room_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !ok {
            tx.rollback().await?;
            return Ok(None);
        }
        let changed: Vec<String> = sqlx::query_scalar(
            "UPDATE participants SET role = 'guest' WHERE room_id = $1 AND id <> $2 AND role = 'host' RETURNING token_hash",
        )
        .bind(room_id)
        .bind(new_host)
        .fetch_all(&mut *tx)
        .await?;
        let mine: String = sqlx::query_scalar("SELECT token_hash FROM participants WHERE id = $1")
            .bind(new_host)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(
            changed.into_iter().chain(std::iter::once(mine)).collect(),
        ))
    })
}

/// Opens a session record unless one is open already (a reconnect after a restart finds the
/// record its lost connection left open: the session goes on).
pub async fn open_session(db: &Db, room_id: &str, participant_id: &str) -> anyhow::Result<()> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "INSERT INTO room_sessions (room_id, participant_id, joined_at) SELECT $1, $2, $3 \
             WHERE NOT EXISTS (SELECT 1 FROM room_sessions WHERE participant_id = $2 AND left_at IS NULL)",
        )
        .bind(room_id)
        .bind(participant_id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())
    })
    .context("recording a session")
}

/// Closes the participant's open session records; true when there was one (its departure has
/// not been announced yet).
pub async fn close_session(db: &Db, participant_id: &str) -> anyhow::Result<bool> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "UPDATE room_sessions SET left_at = $2 WHERE participant_id = $1 AND left_at IS NULL",
        )
        .bind(participant_id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
    })
    .context("closing a session")
}

/// The stored timer of a room: `(state JSON, version, settings JSON)`.
pub async fn timer_load(
    db: &Db,
    room_id: &str,
) -> anyhow::Result<Option<(Option<String>, i64, String)>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, (Option<String>, i64, String)>(
            "SELECT timer_state, timer_version, timer_settings FROM rooms WHERE id = $1 AND status = 'active'",
        )
        .bind(room_id)
        .fetch_optional(pool)
        .await
    })
    .context("reading the timer")
}

/// Stores a new timer state if nobody changed it since `version` was read. Returns whether
/// this caller's change won (the loser re-reads and retries or drops its change).
pub async fn timer_save(
    db: &Db,
    room_id: &str,
    version: i64,
    state: &str,
    ends_at: Option<i64>,
) -> anyhow::Result<bool> {
    with_pool!(db.write(), |pool| {
        sqlx::query(
            "UPDATE rooms SET timer_state = $3, timer_ends_at = $4, timer_version = timer_version + 1 \
             WHERE id = $1 AND timer_version = $2 AND status = 'active'",
        )
        .bind(room_id)
        .bind(version)
        .bind(state)
        .bind(ends_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
    })
    .context("saving the timer")
}

// The condition both backends' queries share, so they cannot drift apart.
macro_rules! timers_due_where {
    () => {
        " WHERE timer_ends_at IS NOT NULL AND timer_ends_at <= $1 AND status = 'active' LIMIT 200"
    };
}

/// The timer poll's query (every 100 ms, see `signaling::timer`), per backend. Without
/// statistics SQLite's planner prefers the equality on `status` (index `rooms_status_expires`),
/// which visits every active room on every poll (callgrind: 140,000 instructions a poll with 100
/// rooms); the partial index on `timer_ends_at` visits only the rooms whose phase has ended.
/// PostgreSQL plans from its statistics and finds that index by itself.
pub const TIMERS_DUE_SQLITE: &str = concat!(
    "SELECT id FROM rooms INDEXED BY rooms_timer_ends_at",
    timers_due_where!()
);
const TIMERS_DUE_POSTGRES: &str = concat!("SELECT id FROM rooms", timers_due_where!());

/// Active rooms whose running timer phase has ended by `now`.
pub async fn timers_due(db: &Db, now: i64) -> anyhow::Result<Vec<String>> {
    let sql = match db.backend() {
        Backend::Sqlite => TIMERS_DUE_SQLITE,
        Backend::Postgres => TIMERS_DUE_POSTGRES,
    };
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar::<_, String>(sql)
            .bind(now)
            .fetch_all(pool)
            .await
    })
    .context("finding due timers")
}

/// Whether `participant_id` is a (non-revoked) participant of the room.
pub async fn is_member(db: &Db, room_id: &str, participant_id: &str) -> anyhow::Result<bool> {
    let n: i64 = with_pool!(db.read(), |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM participants WHERE id = $1 AND room_id = $2 AND revoked_at IS NULL")
            .bind(participant_id)
            .bind(room_id)
            .fetch_one(pool)
            .await
    })
    .context("checking membership")?;
    Ok(n == 1)
}

/// A participant's current role and when its open session began (its creation when none is
/// open): what presence is rebuilt from after Redis lost it.
pub async fn seat_role(db: &Db, participant_id: &str) -> anyhow::Result<Option<(String, i64)>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as(
            "SELECT p.role, COALESCE((SELECT MIN(s.joined_at) FROM room_sessions s \
             WHERE s.participant_id = p.id AND s.left_at IS NULL), p.created_at) \
             FROM participants p WHERE p.id = $1",
        )
        .bind(participant_id)
        .fetch_optional(pool)
        .await
    })
    .context("reading a participant's role")
}

/// Participants whose session was open when this process started: they were in a room when
/// the previous run stopped. `(room id, participant id, display name)`.
pub async fn open_sessions(db: &Db) -> anyhow::Result<Vec<(String, String, String)>> {
    with_pool!(db.read(), |pool| {
        sqlx::query_as(
            "SELECT DISTINCT s.room_id, p.id, p.display_name FROM room_sessions s \
             JOIN participants p ON p.id = s.participant_id \
             JOIN rooms r ON r.id = s.room_id \
             WHERE s.left_at IS NULL AND r.status = 'active'",
        )
        .fetch_all(pool)
        .await
    })
    .context("reading open sessions")
}

/// Whether the participant holds the host role.
pub async fn is_host(db: &Db, participant_id: &str) -> anyhow::Result<bool> {
    with_pool!(db.read(), |pool| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM participants WHERE id = $1 AND role = 'host'",
        )
        .bind(participant_id)
        .fetch_one(pool)
        .await
    })
    .map(|n| n > 0)
    .context("reading the host")
}
