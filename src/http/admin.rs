//! `/api/admin`: the operator API behind `flowsync rooms` (loopback or admin token). Ending a
//! room here reaches its live participants, which a direct database write could not.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{ApiQuery, Operator};
use crate::app::SharedApp;
use crate::clock::now_ms;
use crate::db;
use crate::db::models::{ParticipantRow, RoomRow};
use crate::errors::{ApiError, ErrorCode};
use crate::timefmt::rfc3339;

/// A room as operators see it (the same shape `flowsync rooms --json` prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminRoom {
    pub code: String,
    pub name: String,
    pub status: String,
    pub has_password: bool,
    pub participant_count: i64,
    pub max_participants: i64,
    pub created_at: String,
    pub last_activity_at: String,
    /// `null` for a standing room: it never expires by idleness.
    pub expires_at: Option<String>,
    pub closed_at: Option<String>,
    pub tombstone_until: Option<String>,
    #[serde(default)]
    pub standing: bool,
    /// A standing room's readable link is `/r/<slug>`.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub retention_days: Option<i64>,
}

impl AdminRoom {
    pub fn from_row(r: &RoomRow) -> Self {
        let status = if r.status == "active" && r.expires_at <= now_ms() {
            "expiring"
        } else {
            r.status.as_str()
        };
        AdminRoom {
            code: r.code.clone(),
            name: r.name.clone(),
            status: status.to_owned(),
            has_password: r.password_hash.is_some(),
            participant_count: r.seats,
            max_participants: r.max_participants,
            created_at: rfc3339(r.created_at),
            last_activity_at: rfc3339(r.last_activity_at),
            expires_at: (!r.is_standing()).then(|| rfc3339(r.expires_at)),
            closed_at: r.closed_at.map(rfc3339),
            tombstone_until: r.tombstone_until.map(rfc3339),
            standing: r.is_standing(),
            slug: r.slug.clone(),
            retention_days: r.retention_days,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminParticipant {
    pub participant_id: String,
    pub display_name: String,
    pub role: String,
    pub connected: bool,
    pub joined_at: String,
    pub last_seen_at: String,
    pub left_at: Option<String>,
    pub revoked: Option<String>,
}

impl AdminParticipant {
    pub fn from_row(p: &ParticipantRow) -> Self {
        AdminParticipant {
            participant_id: p.id.clone(),
            display_name: p.display_name.clone(),
            role: p.role.clone(),
            connected: p.connections > 0,
            joined_at: rfc3339(p.created_at),
            last_seen_at: rfc3339(p.last_seen_at),
            left_at: p.left_at.map(rfc3339),
            revoked: p.revoked_reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminRoomDetail {
    #[serde(flatten)]
    pub room: AdminRoom,
    pub participants: Vec<AdminParticipant>,
    /// A standing room's host link: whoever opens it becomes host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    all: bool,
}

/// Reads rooms for operators (shared with the CLI when no server runs).
pub async fn list_rooms(
    app_db: &db::Db,
    grace_ms: i64,
    all: bool,
) -> anyhow::Result<Vec<AdminRoom>> {
    Ok(db::rooms::list(app_db, now_ms() - grace_ms, all)
        .await?
        .iter()
        .map(AdminRoom::from_row)
        .collect())
}

pub async fn list(
    State(app): State<SharedApp>,
    _op: Operator,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Vec<AdminRoom>>, ApiError> {
    let grace = crate::clock::ms(app.config().rooms.reconnect_grace);
    Ok(Json(list_rooms(&app.db, grace, p.all).await?))
}

pub async fn show(
    State(app): State<SharedApp>,
    _op: Operator,
    Path(code): Path<String>,
) -> Result<Json<AdminRoomDetail>, ApiError> {
    let room = app.find_room(&code).await?;
    let participants = db::rooms::participants(&app.db, &room.id).await?;
    let host_link = crate::rooms::team::current_host_key(&app.link_key, &room)
        .map(|k| crate::rooms::team::host_link(&app.config().public_url(), &room, &k));
    Ok(Json(AdminRoomDetail {
        room: AdminRoom::from_row(&room),
        participants: participants
            .iter()
            .map(AdminParticipant::from_row)
            .collect(),
        host_link,
    }))
}

/// Ends a room for everyone; 410 when it had already ended or expired.
pub async fn end(
    State(app): State<SharedApp>,
    _op: Operator,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let room = app.find_room(&code).await?;
    if app.end_room(&room.id, &room.code, "ended").await? {
        Ok(Json(
            serde_json::json!({ "ended": true, "code": room.code }),
        ))
    } else {
        Err(ApiError::new(
            ErrorCode::RoomExpired,
            "this room had already ended or expired",
        ))
    }
}

/// Runs the expiry sweep now (it also runs every minute on its own).
pub async fn sweep(
    State(app): State<SharedApp>,
    _op: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = crate::sweeper::sweep_once(&app)
        .await
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(serde_json::json!({
        "expired": r.expired,
        "tombstones_deleted": r.tombstones_deleted,
        "messages_purged": r.messages_purged,
        "skipped": r.skipped,
    })))
}
