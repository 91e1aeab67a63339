//! Rows as the database returns them (portable column types: TEXT, BIGINT).

use crate::rooms::TimerSettings;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub max_participants: i64,
    pub timer_settings: String,
    pub status: String,
    pub created_at: i64,
    pub last_activity_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    pub tombstone_until: Option<i64>,
    /// 1 for a standing room (never expires by idleness), else 0.
    pub standing: i64,
    /// A standing room's readable link: `/r/<slug>`.
    pub slug: Option<String>,
    /// Which host link is valid (derived from it and the server's link key); `None`: none.
    pub host_link_generation: Option<i64>,
    /// A standing room keeps its chat this many days.
    pub retention_days: Option<i64>,
    /// Seats taken: connected, or disconnected within the reconnect grace.
    pub seats: i64,
}

/// Whether people can still use a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    Active,
    /// Ended by its host or an operator, or idle past its expiry: a tombstone.
    Gone,
}

/// `expires_at` of a standing room: it never expires by idleness.
pub const NEVER: i64 = i64::MAX;

impl RoomRow {
    pub fn is_standing(&self) -> bool {
        self.standing != 0
    }

    pub fn state(&self, now_ms: i64) -> RoomState {
        if self.status == "active" && self.expires_at > now_ms {
            RoomState::Active
        } else {
            RoomState::Gone
        }
    }

    pub fn timer(&self) -> Option<TimerSettings> {
        serde_json::from_str(&self.timer_settings).ok()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParticipantRow {
    pub id: String,
    pub room_id: String,
    pub display_name: String,
    pub role: String,
    pub device_id: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub connections: i64,
    pub left_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

/// What a bearer token resolves to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct AuthRow {
    pub participant_id: String,
    pub room_id: String,
    pub room_code: String,
    pub display_name: String,
    pub role: String,
}

impl AuthRow {
    pub fn is_host(&self) -> bool {
        self.role == "host"
    }
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub room_id: String,
    pub participant_id: Option<String>,
    pub sender_name: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

/// A new participant about to be inserted.
#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub id: String,
    pub display_name: String,
    pub role: &'static str,
    pub device_id: Option<String>,
    pub token_hash: String,
    /// The `last_seen_at` it starts with. Until its first live connection a participant holds
    /// a *pending* seat: the service back-dates this so that the reconnect grace counted from
    /// it ends `rooms.pending_seat_grace` after the join, and a seat taken over REST but never
    /// connected lapses in seconds instead of a whole grace.
    pub last_seen_at: i64,
}

/// A new room about to be inserted (its code is chosen by [`super::rooms::create`]).
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub id: String,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub max_participants: i64,
    pub timer: TimerSettings,
    pub expires_at: i64,
    /// A standing room: its slug and chat retention ([`NEVER`] expires).
    pub standing: Option<Standing>,
}

/// What makes a room standing.
#[derive(Debug, Clone)]
pub struct Standing {
    pub slug: String,
    pub retention_days: i64,
}
