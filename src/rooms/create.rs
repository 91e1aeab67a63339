//! Creating rooms and making them standing: a create request validated into a plan (capacity,
//! timer, name, and for a standing room its slug and retention), the insert with its first
//! participant, and the slug rules (a chosen slug must be free; one made from the name gets a
//! number when taken). Used by the REST API, signaling (`make-standing`) and the operator CLI.

use serde::Deserialize;

use super::TimerInput;
use crate::clock::now_ms;
use crate::db;
use crate::db::models::{NEVER, NewParticipant, NewRoom, RoomRow, RoomState, Standing};
use crate::errors::{ApiError, ErrorCode};

/// `POST /api/rooms` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: Option<String>,
    pub password: Option<String>,
    pub max_participants: Option<i64>,
    pub display_name: String,
    pub device_id: Option<String>,
    pub timer: Option<TimerInput>,
    /// A standing room: never expires by idleness, has `/r/<slug>` and a host link.
    #[serde(default)]
    pub standing: bool,
    /// A standing room's slug; made from its name when not given.
    pub slug: Option<String>,
    /// Days a standing room keeps its chat (default 30).
    pub retention_days: Option<i64>,
    /// The team's create-link secret, when `rooms.create_policy = "link"`.
    pub create_key: Option<String>,
}

/// A new room, validated from a create request: its capacity, timer, name and, for a standing
/// room, slug and retention (it then never expires by idleness).
pub fn plan_room(
    config: &crate::config::Config,
    req: &CreateRoom,
    expires_at: i64,
    password_hash: Option<String>,
) -> Result<RoomPlan, ApiError> {
    let rooms_cfg = &config.rooms;
    let max = req
        .max_participants
        .unwrap_or(i64::from(rooms_cfg.max_participants));
    let cap = i64::from(rooms_cfg.max_participants);
    if !(2..=cap).contains(&max) {
        return Err(ApiError::validation(format!(
            "max_participants must be between 2 and {cap}"
        )));
    }
    let timer = req
        .timer
        .clone()
        .unwrap_or_default()
        .resolve(rooms_cfg.timer)?;
    let name = super::room_name(req.name.as_deref())?;
    let (standing, slug_given) = if req.standing {
        let given = req.slug.as_deref().map(super::slug).transpose()?;
        let slug = given
            .clone()
            .unwrap_or_else(|| super::slug_from_name(name.as_deref().unwrap_or("room")));
        let retention_days = super::retention_days(req.retention_days)?;
        (
            Some(Standing {
                slug,
                retention_days,
            }),
            given.is_some(),
        )
    } else {
        if req.slug.is_some() || req.retention_days.is_some() {
            return Err(ApiError::validation(
                "slug and retention_days are for standing rooms (\"standing\": true)",
            ));
        }
        (None, false)
    };
    Ok(RoomPlan {
        room: NewRoom {
            id: crate::auth::new_id("r"),
            name,
            password_hash,
            max_participants: max,
            timer,
            expires_at: if standing.is_some() {
                NEVER
            } else {
                expires_at
            },
            standing,
        },
        slug_given,
    })
}

/// A room ready to insert ([`plan_room`]).
pub struct RoomPlan {
    room: NewRoom,
    /// The slug was chosen (a clash is an error), not made from the name (a clash gets a
    /// number: `design-team-2`).
    slug_given: bool,
}

/// Inserts a planned room, with its first participant as host when there is one (a room the
/// operator creates has none: its first arrival becomes host). Returns the row as written.
pub async fn insert_room(
    db: &db::Db,
    plan: RoomPlan,
    host: Option<&NewParticipant>,
) -> Result<RoomRow, ApiError> {
    let RoomPlan {
        mut room,
        slug_given,
    } = plan;
    let base = room.standing.as_ref().map(|s| s.slug.clone());
    let candidates = slug_candidates(base.as_deref().unwrap_or(""), slug_given);
    for slug in candidates {
        if let Some(standing) = room.standing.as_mut() {
            standing.slug = slug;
        }
        if let Some(created) = db::rooms::create(db, &room, host).await? {
            let now = now_ms();
            let standing = room.standing.take();
            return Ok(RoomRow {
                id: room.id,
                code: created.code,
                name: created.name,
                password_hash: room.password_hash,
                max_participants: room.max_participants,
                timer_settings: serde_json::to_string(&room.timer).map_err(ApiError::internal)?,
                status: "active".into(),
                created_at: now,
                last_activity_at: now,
                expires_at: room.expires_at,
                closed_at: None,
                tombstone_until: None,
                standing: i64::from(standing.is_some()),
                host_link_generation: standing.as_ref().map(|_| 1),
                retention_days: standing.as_ref().map(|s| s.retention_days),
                slug: standing.map(|s| s.slug),
                seats: i64::from(host.is_some()),
            });
        }
        // The slug is taken (by a room or a tombstone); an open room has none to clash.
        if room.standing.is_none() {
            break;
        }
    }
    Err(slug_taken(base.as_deref().unwrap_or("")))
}

/// The slugs to try, in order: the slug itself, then (unless it was chosen, when a clash is
/// an error) `slug-2` … `slug-20`.
fn slug_candidates(base: &str, chosen: bool) -> impl Iterator<Item = String> + '_ {
    let numbered = if chosen { 0..0 } else { 2..21 };
    std::iter::once(base.to_owned()).chain(numbered.map(move |n| format!("{base}-{n}")))
}

fn slug_taken(slug: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SlugTaken,
        format!(
            "the link /r/{slug} belongs to another room (or one that ended recently); choose another slug"
        ),
    )
}

/// Makes an open room standing, or changes its slug or chat retention: a slug given explicitly
/// must be free; one made from the name gets a number when taken. Returns the room as stored.
pub async fn make_standing(
    db: &db::Db,
    room_id: &str,
    slug: Option<&str>,
    retention_days: Option<i64>,
) -> Result<RoomRow, ApiError> {
    let room = db::rooms::by_id_with_timer(db, room_id, 0)
        .await?
        .map(|r| r.room)
        .filter(|r| r.state(now_ms()) == RoomState::Active)
        .ok_or_else(|| ApiError::new(ErrorCode::RoomExpired, "this room has ended or expired"))?;
    let given = slug.map(super::slug).transpose()?;
    let base = given
        .clone()
        .or(room.slug.clone())
        .unwrap_or_else(|| super::slug_from_name(&room.name));
    let retention_days = match retention_days {
        Some(d) => super::retention_days(Some(d))?,
        None => room.retention_days.unwrap_or(super::DEFAULT_RETENTION_DAYS),
    };
    for slug in slug_candidates(&base, given.is_some()) {
        let standing = Standing {
            slug,
            retention_days,
        };
        match db::rooms::make_standing(db, room_id, &standing).await? {
            db::rooms::StandingOutcome::Done => {
                return db::rooms::by_id_with_timer(db, room_id, 0)
                    .await?
                    .map(|r| r.room)
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::RoomExpired, "this room has ended or expired")
                    });
            }
            db::rooms::StandingOutcome::Gone => {
                return Err(ApiError::new(
                    ErrorCode::RoomExpired,
                    "this room has ended or expired",
                ));
            }
            db::rooms::StandingOutcome::SlugTaken => {}
        }
    }
    Err(slug_taken(&base))
}
