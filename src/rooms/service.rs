//! Room operations shared by the REST API, the operator CLI and (later) signaling: create, look
//! up, join, authenticate, post, end, sweep. Each takes the `App` and returns typed results or
//! an [`ApiError`] with its code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::TimerSettings;
pub use super::create::CreateRoom;
use super::create::{insert_room, make_standing, plan_room};
use super::timer::TimerState;
use crate::app::App;
use crate::clock::{ms, now_ms};
use crate::config::CreatePolicy;
use crate::db;
use crate::db::messages::NewMessage;
use crate::db::models::{AuthRow, MessageRow, NewParticipant, RoomRow, RoomState};
use crate::db::rooms::{JoinOutcome, RoomWithTimer};
use crate::errors::{ApiError, ErrorCode};
use crate::ice::{IceServer, ice_servers};
use crate::live::{LiveEvent, PendingView};
use crate::metrics::Metrics;
use crate::state::RateDecision;
use crate::timefmt::rfc3339;

mod chat;
pub use chat::{MessageView, StoredChat};

/// Room activity (which postpones expiry) is written at most this often per room.
const ACTIVITY_RESOLUTION_MS: i64 = 60_000;

/// How long a token lookup is cached; revocations also invalidate it directly.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);

/// Who is creating a room, for `rooms.create_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creator {
    /// Someone on the web (the create link, if they have one, is in the request).
    Public,
    /// The operator: the admin socket or token, or the CLI.
    Operator,
}

/// `POST /api/rooms/{code}/join` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRoom {
    pub display_name: String,
    pub password: Option<String>,
    pub device_id: Option<String>,
}

/// A room as the public sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RoomView {
    pub code: String,
    pub name: String,
    pub has_password: bool,
    pub max_participants: i64,
    pub participant_count: i64,
    pub created_at: String,
    /// When the room expires unless used; `null` for a standing room.
    pub expires_at: Option<String>,
    pub timer: Option<TimerSettings>,
    /// A standing room never expires by idleness and keeps its chat `retention_days`.
    pub standing: bool,
    /// Its readable link is `/r/<slug>` (standing rooms).
    pub slug: Option<String>,
    pub retention_days: Option<i64>,
}

impl RoomView {
    pub fn from_row(r: &RoomRow) -> Self {
        let standing = r.is_standing();
        RoomView {
            code: r.code.clone(),
            name: r.name.clone(),
            has_password: r.password_hash.is_some(),
            max_participants: r.max_participants,
            participant_count: r.seats,
            created_at: rfc3339(r.created_at),
            expires_at: (!standing).then(|| rfc3339(r.expires_at)),
            timer: r.timer(),
            standing,
            slug: r.slug.clone().filter(|_| standing),
            retention_days: r.retention_days.filter(|_| standing),
        }
    }
}

/// `GET /api/rooms/{code}`: the room, and for the lobby who is inside now. Names are shown
/// only for rooms anyone with the link may join: behind a room password, only the count.
#[derive(Debug, Clone, Serialize)]
pub struct RoomLookup {
    #[serde(flatten)]
    pub room: RoomView,
    /// Names of the people connected now, in the order they joined; `null` for a room with a
    /// password.
    pub inside: Option<Vec<String>>,
}

/// What creating or joining a room answers: the token is shown this once.
#[derive(Debug, Serialize)]
pub struct Joined {
    pub room_code: String,
    pub room: RoomView,
    pub participant_id: String,
    pub token: String,
    pub role: &'static str,
    pub ice_servers: Vec<IceServer>,
    /// A standing room's host-link key, shown to its creator (the link is the room's link with
    /// `#host=<key>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

/// What a per-address limit counts: the address itself for IPv4 (and IPv4-mapped IPv6), the
/// network of `v6_prefix` bits for IPv6, where one subscriber usually holds a whole /64.
pub fn rate_subject(ip: std::net::IpAddr, v6_prefix: u8) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, v6_prefix.min(128))
                .map(|n| n.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        },
    }
}

fn not_in_room() -> ApiError {
    ApiError::new(
        ErrorCode::NotInRoom,
        "you are not in the room: connect to it first (the room page does); a seat that was never \
         connected, or that lapsed or left, cannot read or post",
    )
}

/// A token that names no live participant of an active room.
pub fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "this token is not valid (revoked, or the room ended); join the room again",
    )
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorCode::RoomExpired,
        "this room has ended or expired; create a new room",
    )
}

/// Whether people can still use the room; 410 for a tombstone.
fn check_active(room: &RoomRow) -> Result<(), ApiError> {
    match room.state(now_ms()) {
        RoomState::Active => Ok(()),
        RoomState::Gone => Err(gone()),
    }
}

impl App {
    fn seat_cutoff(&self) -> i64 {
        now_ms() - ms(self.config().rooms.reconnect_grace)
    }

    /// The `last_seen_at` a participant joining over REST starts with: its seat lapses
    /// `rooms.pending_seat_grace` from now unless its live connection arrives first (see
    /// [`NewParticipant::last_seen_at`]).
    /// `last_seen_at` for a seat taken over REST: back-dated so that, until its socket
    /// arrives, the seat lapses after `rooms.pending_seat_grace` (never later than a
    /// disconnected seat would, when the reconnect grace is the shorter of the two).
    fn pending_seen_at(&self) -> i64 {
        let rooms = &self.config().rooms;
        let grace = ms(rooms.reconnect_grace);
        now_ms() - grace + ms(rooms.pending_seat_grace).min(grace)
    }

    fn next_expiry(&self) -> i64 {
        now_ms() + ms(self.config().rooms.idle_expiry)
    }

    /// Counts a hit against a per-address limit; 429 with `Retry-After` when over. IPv6
    /// addresses count by their `server.rate_limit_ipv6_prefix` network (a subscriber's /64
    /// is one address).
    pub async fn check_rate(
        &self,
        scope: &str,
        ip: std::net::IpAddr,
        rate: crate::config::Rate,
    ) -> Result<(), ApiError> {
        let who = rate_subject(ip, self.config().server.rate_limit_ipv6_prefix);
        self.check_rate_key(&format!("{scope}:{who}"), rate).await
    }

    /// Counts a hit against the limit named `key` (an address, a participant, a room).
    pub async fn check_rate_key(
        &self,
        key: &str,
        rate: crate::config::Rate,
    ) -> Result<(), ApiError> {
        self.rate_decision(self.state.rate_limit(key, rate).await)
    }

    fn rate_decision(&self, decision: anyhow::Result<RateDecision>) -> Result<(), ApiError> {
        match decision {
            Ok(RateDecision::Allowed) => Ok(()),
            Ok(RateDecision::Limited { retry_after_secs }) => {
                Metrics::inc(&self.metrics.rate_limited);
                Err(ApiError::rate_limited(retry_after_secs))
            }
            Err(e) => Err(ApiError::unavailable("the state store", format!("{e:#}"))),
        }
    }

    /// A participant's chat message budget (`rooms.message_rate_per_participant`), shared by
    /// REST posts and Socket.io `chat-message`.
    pub async fn check_message_rate(&self, participant_id: &str) -> Result<(), ApiError> {
        let rate = self.config().rooms.message_rate_per_participant;
        self.check_rate_key(&format!("chat:{participant_id}"), rate)
            .await
    }

    /// Looks a room up by a code as typed; 404 for unknown or malformed codes.
    pub async fn find_room(&self, code: &str) -> Result<RoomRow, ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorCode::RoomNotFound,
                "no room has this code; check the invite link",
            )
        };
        let code = super::normalize_code(code).ok_or_else(not_found)?;
        db::rooms::by_code(&self.db, &code, self.seat_cutoff())
            .await?
            .ok_or_else(not_found)
    }

    /// Like [`Self::find_room`], but 410 for ended or expired rooms (tombstones).
    pub async fn find_active_room(&self, code: &str) -> Result<RoomRow, ApiError> {
        let room = self.find_room(code).await?;
        check_active(&room)?;
        Ok(room)
    }

    /// An active room by id with its stored timer state, in one statement (a connecting
    /// socket's snapshot); 410 for a room that ended or expired or is gone.
    pub async fn active_room_with_timer(&self, room_id: &str) -> Result<RoomWithTimer, ApiError> {
        let found = db::rooms::by_id_with_timer(&self.db, room_id, self.seat_cutoff())
            .await?
            .ok_or_else(gone)?;
        check_active(&found.room)?;
        Ok(found)
    }

    /// A room's timer as stored: its state (a fresh timer when none was saved), the version
    /// compare-and-set writes check, and the room's timer settings.
    pub async fn stored_timer(
        &self,
        room_id: &str,
    ) -> Result<(TimerState, i64, TimerSettings), ApiError> {
        let (state, version, settings) = db::live::timer_load(&self.db, room_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::RoomExpired, "this room has ended"))?;
        let (state, settings) = super::timer::stored(state.as_deref(), &settings)?;
        Ok((state, version, settings))
    }

    /// Creates a room with its creator as host, if `rooms.create_policy` lets `by` create one.
    pub async fn create_room(&self, req: CreateRoom, by: Creator) -> Result<Joined, ApiError> {
        let config = self.config();
        self.may_create(by, req.create_key.as_deref()).await?;
        let display_name = super::display_name(&req.display_name)?;
        let device_id = super::device_id(req.device_id.as_deref())?;
        let password_hash = match super::password(req.password.as_deref())? {
            Some(p) => Some(self.passwords.hash(p).await?),
            None => None,
        };
        let plan = plan_room(&config, &req, self.next_expiry(), password_hash)?;
        let token = crate::auth::new_token();
        let host = NewParticipant {
            id: crate::auth::new_id("p"),
            display_name,
            role: "host",
            device_id,
            token_hash: crate::auth::token_hash(&token),
            last_seen_at: self.pending_seen_at(),
        };
        let row = insert_room(&self.db, plan, Some(&host)).await?;
        Metrics::inc(&self.metrics.rooms_created);
        tracing::info!(room = %row.code, standing = row.is_standing(), "room created");
        let mut joined = self.joined(&row, host.id, token, "host");
        joined.host_key = super::team::current_host_key(&self.link_key, &row);
        Ok(joined)
    }

    /// Makes an open room standing, or changes its slug or chat retention ([`make_standing`]):
    /// the room as the public sees it, and its host-link key.
    pub async fn make_standing(
        &self,
        room_id: &str,
        slug: Option<&str>,
        retention_days: Option<i64>,
    ) -> Result<(RoomView, Option<String>), ApiError> {
        let room = make_standing(&self.db, room_id, slug, retention_days).await?;
        tracing::info!(room = %room.code, "room made standing");
        let key = super::team::current_host_key(&self.link_key, &room);
        Ok((RoomView::from_row(&room), key))
    }

    /// Whether `by` may create a room under `rooms.create_policy`.
    async fn may_create(&self, by: Creator, create_key: Option<&str>) -> Result<(), ApiError> {
        let refused = |message: &str| ApiError::new(ErrorCode::CreateNotAllowed, message);
        match (self.config().rooms.create_policy, by) {
            (_, Creator::Operator) | (CreatePolicy::Open, _) => Ok(()),
            (CreatePolicy::Link, Creator::Public) => {
                let Some(key) = create_key.filter(|k| !k.is_empty()) else {
                    return Err(refused(
                        "creating rooms on this server needs the team's create link; ask whoever runs it",
                    ));
                };
                if super::team::create_secret_matches(&self.db, key).await? {
                    Ok(())
                } else {
                    Err(refused(
                        "this create link is not valid any more; ask whoever runs this server for the current one",
                    ))
                }
            }
            (CreatePolicy::Operator, Creator::Public) => Err(refused(
                "rooms on this server are created by its operator (`flowsync rooms create`); ask them for a room link",
            )),
        }
    }

    fn joined(
        &self,
        room: &RoomRow,
        participant_id: String,
        token: String,
        role: &'static str,
    ) -> Joined {
        let now_secs = (now_ms() / 1000) as u64;
        Joined {
            room_code: room.code.clone(),
            room: RoomView::from_row(room),
            ice_servers: ice_servers(&self.config().turn, &participant_id, now_secs),
            participant_id,
            token,
            role,
            host_key: None,
        }
    }

    pub async fn join_room(&self, code: &str, req: JoinRoom) -> Result<Joined, ApiError> {
        let display_name = super::display_name(&req.display_name)?;
        let device_id = super::device_id(req.device_id.as_deref())?;
        let room = self.find_active_room(code).await?;
        if let Some(device) = &device_id
            && db::rooms::device_kicked(&self.db, &room.id, device).await?
        {
            return Err(ApiError::new(
                ErrorCode::Kicked,
                "the host removed you from this room",
            ));
        }
        if let Some(phc) = &room.password_hash {
            // Wrong passwords from every address together are capped per room: once the
            // room's budget is spent, every attempt waits (even a right one, which cannot be
            // told apart without checking it), so guessing from many addresses is as slow.
            let failures = self.config().rooms.password_failures_per_room;
            let key = format!("pwfail:{}", room.id);
            self.rate_decision(self.state.rate_peek(&key, failures).await)?;
            let given = req.password.unwrap_or_default();
            if given.is_empty() || !self.passwords.verify(given, phc.clone()).await? {
                Metrics::inc(&self.metrics.password_failures);
                if let Ok(RateDecision::Limited { .. }) =
                    self.state.rate_limit(&key, failures).await
                {
                    tracing::warn!(room = %room.code, "wrong passwords reached rooms.password_failures_per_room; attempts now wait");
                }
                return Err(ApiError::new(
                    ErrorCode::WrongPassword,
                    "wrong room password",
                ));
            }
        }
        let token = crate::auth::new_token();
        let p = NewParticipant {
            id: crate::auth::new_id("p"),
            display_name,
            role: "guest",
            device_id,
            token_hash: crate::auth::token_hash(&token),
            last_seen_at: self.pending_seen_at(),
        };
        let expires_at = self.next_expiry();
        // Activity is recorded at most once a minute per room: expiry is measured in hours,
        // and this keeps a join to one write on the hot path.
        let touch = room.last_activity_at < now_ms() - ACTIVITY_RESOLUTION_MS;
        let participant_id = p.id.clone();
        let p_name = p.display_name.clone();
        let outcome = self
            .joins
            .join(&room.id, p, self.seat_cutoff(), expires_at, touch)
            .await?;
        match outcome {
            JoinOutcome::Joined => {
                Metrics::inc(&self.metrics.rooms_joined);
                self.live.publish(LiveEvent::Pending {
                    room_id: room.id.clone(),
                    seat: PendingView {
                        participant_id: participant_id.clone(),
                        display_name: p_name.clone(),
                        expires_in_ms: ms(self.config().rooms.pending_seat_grace),
                    },
                });
                let row = RoomRow {
                    seats: (room.seats + 1).min(room.max_participants),
                    expires_at: if touch { expires_at } else { room.expires_at },
                    ..room.clone()
                };
                Ok(self.joined(&row, participant_id, token, "guest"))
            }
            JoinOutcome::Full => Err(ApiError::new(
                ErrorCode::RoomFull,
                format!("the room is full ({} seats)", room.max_participants),
            )),
            JoinOutcome::Gone => Err(ApiError::new(
                ErrorCode::RoomExpired,
                "this room has ended or expired",
            )),
        }
    }

    /// Resolves a bearer token (cache first, then the database).
    pub async fn authenticate(&self, token: &str) -> Result<AuthRow, ApiError> {
        let hash = crate::auth::token_hash(token);
        match self.state.auth_get(&hash).await {
            Ok(Some(row)) => return Ok(row),
            Ok(None) => {}
            // A cache outage must not lock people out: fall through to the database.
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "token cache unavailable"),
        }
        let row = db::rooms::auth(&self.db, &hash)
            .await?
            .ok_or_else(invalid_token)?;
        if let Err(e) = self.state.auth_put(&hash, &row, AUTH_CACHE_TTL).await {
            tracing::warn!(error = %format!("{e:#}"), "token cache unavailable");
        }
        Ok(row)
    }

    /// Refuses a participant that is not in the room ([`db::rooms::in_room`]): a seat taken over
    /// REST and never connected, or one that lapsed or left, does not read or write the chat.
    pub async fn require_in_room(&self, participant_id: &str) -> Result<(), ApiError> {
        if db::rooms::in_room(&self.db, participant_id, self.seat_cutoff()).await? {
            Ok(())
        } else {
            Err(not_in_room())
        }
    }

    /// A room as its lobby shows it: see [`RoomLookup`].
    pub async fn lookup_room(&self, code: &str) -> Result<RoomLookup, ApiError> {
        let room = self.find_active_room(code).await?;
        let inside = if room.password_hash.is_some() {
            None
        } else {
            Some(db::rooms::names_inside(&self.db, &room.id).await?)
        };
        Ok(RoomLookup {
            room: RoomView::from_row(&room),
            inside,
        })
    }

    /// The room's pending seats, with how long each has left (for `room-joined`).
    pub async fn pending_seats(&self, room_id: &str) -> Result<Vec<PendingView>, ApiError> {
        let grace = ms(self.config().rooms.reconnect_grace);
        let now = now_ms();
        Ok(db::rooms::pending_seats(&self.db, room_id, now - grace)
            .await?
            .into_iter()
            .map(|p| PendingView {
                expires_in_ms: (p.last_seen_at + grace - now).max(0),
                participant_id: p.participant_id,
                display_name: p.display_name,
            })
            .collect())
    }

    /// Ends a room: tombstone, purge, revoke every token, tell live participants.
    /// `false` when it was not active (already ended or expired).
    pub async fn end_room(
        &self,
        room_id: &str,
        code: &str,
        status: &'static str,
    ) -> Result<bool, ApiError> {
        let until = now_ms() + ms(self.config().rooms.tombstone_ttl);
        let Some(hashes) = db::lifecycle::close(&self.db, room_id, status, until).await? else {
            return Ok(false);
        };
        if let Err(e) = self.state.auth_invalidate(&hashes).await {
            tracing::warn!(error = %format!("{e:#}"), "could not drop cached tokens; they lapse within a minute");
        }
        self.live.publish(LiveEvent::RoomEnded {
            room_id: room_id.to_owned(),
            reason: status,
        });
        match status {
            "expired" => Metrics::inc(&self.metrics.rooms_expired),
            _ => Metrics::inc(&self.metrics.rooms_ended),
        }
        tracing::info!(room = %code, status, "room closed");
        Ok(true)
    }
}
