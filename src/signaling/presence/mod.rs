//! Who is in each room right now: participants with live sockets or inside their reconnect
//! grace, their hands and media state, and the presenter. In-process for one instance; in
//! Redis when several instances share rooms. Every operation that must not race (arriving,
//! leaving, taking the presenter role) is atomic in both.

mod local;
mod redis;

pub use local::{LiveRoom, LiveRooms, Present};
pub use redis::{RELAY_TARGET_TTL, RedisPresence, SyncState};

/// How often an instance refreshes its presence heartbeat. Far more often than the key's
/// lifetime requires: the heartbeat is also how an instance notices that Redis came back
/// without its data, and presence is rebuilt on the next beat after that.
pub fn redis_heartbeat_every() -> std::time::Duration {
    std::time::Duration::from_secs(2)
}

/// A participant with sockets on this instance, as presence is rebuilt from after an outage.
#[derive(Debug, Clone)]
pub struct Seat {
    pub room_id: String,
    pub participant_id: String,
    pub display_name: String,
    pub role: String,
    /// When it arrived (ms), which orders succession.
    pub since: i64,
    pub sockets: u32,
}

use super::protocol::ParticipantView;
use crate::errors::ApiError;

/// Result of a socket arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The participant was not present: announce it.
    pub arrived: bool,
    /// Sockets it already had (a replaced connection).
    pub had_sockets: u32,
}

/// Result of a socket closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Closed {
    /// That was its last socket: the reconnect grace starts.
    pub last: bool,
    pub epoch: u64,
    /// It was presenting and is not any more.
    pub stopped_presenting: bool,
}

/// Result of a departure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Departure {
    /// False when someone else already recorded this departure (announce once).
    pub departed: bool,
    pub was_host: bool,
    pub was_presenter: bool,
    /// The longest-present participant left, who takes over from a departing host.
    pub successor: Option<String>,
}

/// What a client is answered when presence (Redis, or the in-process rooms) failed.
pub fn unavailable(e: anyhow::Error) -> ApiError {
    ApiError::unavailable("presence", format!("{e:#}"))
}

pub enum Presence {
    Local(LiveRooms),
    Redis(RedisPresence),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            Presence::Local($p) => $body,
            Presence::Redis($p) => $body,
        }
    };
}

impl Presence {
    pub async fn arrive(
        &self,
        room: &str,
        pid: &str,
        template: Present,
    ) -> anyhow::Result<Arrival> {
        dispatch!(self, p => p.arrive(room, pid, template).await)
    }

    /// One participant as peers see it.
    pub async fn participant(
        &self,
        room: &str,
        pid: &str,
    ) -> anyhow::Result<Option<ParticipantView>> {
        dispatch!(self, p => p.participant(room, pid).await)
    }

    /// Everyone present (longest-present first) and the presenter.
    pub async fn snapshot(
        &self,
        room: &str,
    ) -> anyhow::Result<(Vec<ParticipantView>, Option<String>)> {
        dispatch!(self, p => p.snapshot(room).await)
    }

    pub async fn socket_closed(&self, room: &str, pid: &str) -> anyhow::Result<Closed> {
        dispatch!(self, p => p.socket_closed(room, pid).await)
    }

    /// Still without sockets, and not reconnected since `epoch`.
    pub async fn still_gone(&self, room: &str, pid: &str, epoch: u64) -> anyhow::Result<bool> {
        dispatch!(self, p => p.still_gone(room, pid, epoch).await)
    }

    pub async fn depart(&self, room: &str, pid: &str) -> anyhow::Result<Departure> {
        dispatch!(self, p => p.depart(room, pid).await)
    }

    pub async fn is_present(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        match self {
            // Every relay asks: a lookup, without building the participant's view.
            Presence::Local(p) => Ok(p.contains(room, pid)),
            Presence::Redis(p) => p.is_present(room, pid).await,
        }
    }

    /// Whether a relay may go to `pid`: [`Self::is_present`], except that in Redis mode a "present"
    /// answer is reused for a second (`RedisPresence::relay_target_present` says why that is safe).
    pub async fn relay_target_present(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        match self {
            Presence::Local(_) => self.is_present(room, pid).await,
            Presence::Redis(p) => p.relay_target_present(room, pid).await,
        }
    }

    pub async fn is_host(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        Ok(self
            .participant(room, pid)
            .await?
            .is_some_and(|p| p.role == "host"))
    }

    pub async fn set_media(
        &self,
        room: &str,
        pid: &str,
        audio: bool,
        video: bool,
    ) -> anyhow::Result<()> {
        let flags = [("audio", i64::from(audio)), ("video", i64::from(video))];
        dispatch!(self, p => p.set_flags(room, pid, &flags).await)
    }

    /// Raises the hand (at `raised_at`, server ms, which orders the queue) or lowers it (None).
    pub async fn set_hand(
        &self,
        room: &str,
        pid: &str,
        raised_at: Option<i64>,
    ) -> anyhow::Result<()> {
        dispatch!(self, p => p.set_flags(room, pid, &[("hand", raised_at.unwrap_or(0))]).await)
    }

    /// What the participant shows (`auto`, focusing, on break, away).
    pub async fn set_status(
        &self,
        room: &str,
        pid: &str,
        status: super::protocol::Status,
    ) -> anyhow::Result<()> {
        dispatch!(self, p => p.set_flags(room, pid, &[("status", status.code())]).await)
    }

    /// Takes the presenter role unless someone else holds it.
    pub async fn start_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        dispatch!(self, p => p.start_presenting(room, pid).await)
    }

    /// Gives the presenter role up; false if `pid` was not presenting.
    pub async fn stop_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        dispatch!(self, p => p.stop_presenting(room, pid).await)
    }

    /// Records the new host in the live roles.
    pub async fn set_host(&self, room: &str, pid: &str) -> anyhow::Result<()> {
        dispatch!(self, p => p.set_host(room, pid).await)
    }

    pub async fn remove_room(&self, room: &str) -> anyhow::Result<()> {
        dispatch!(self, p => p.remove_room(room).await)
    }
}
