//! Presence in Redis, shared by every instance. Per room: a sorted set of present participants
//! (score = arrival time, so the lowest is the longest-present), one hash per participant, and
//! the presenter. Socket counts are kept per instance (`s:<instance>` fields) and only counted
//! while that instance's heartbeat key lives, so a crashed instance's sockets stop holding
//! anyone present. Every key has a TTL, refreshed on use; Lua scripts make each change atomic.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use redis::aio::ConnectionManager;

use super::super::protocol::{ParticipantView, Status};
use super::{Arrival, Closed, Departure, Present, Seat};

mod scripts;
use scripts::*;

/// Presence keys outlive any realistic gap in activity but never linger forever.
const KEY_TTL_MS: i64 = 24 * 3600 * 1000;
/// An instance is alive while its heartbeat key exists.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(15);

/// How long a "present" answer for a relay target is reused without asking Redis again.
///
/// Every offer, answer and ICE candidate checks that its target is in the sender's room; in
/// Redis mode that was a round trip per relay, on the path whose latency the bench measures.
/// A participant who departed on another instance may still be relayed to for this long; the
/// relay then reaches no socket (a departed participant's sockets are closed), so nothing
/// crosses rooms. Departures on this instance forget the answer at once.
pub const RELAY_TARGET_TTL: Duration = Duration::from_secs(1);

/// Recent "present" answers for relay targets: participant id → (room, when confirmed).
/// Participant ids are unique across rooms; the room is kept to check the sender's room.
#[derive(Default)]
struct RelayTargets {
    confirmed: HashMap<Box<str>, (Box<str>, Instant)>,
    /// When expired answers were last swept out (at most once per [`RELAY_TARGET_TTL`]).
    swept: Option<Instant>,
}

impl RelayTargets {
    fn fresh(&self, room: &str, pid: &str, now: Instant) -> bool {
        self.confirmed
            .get(pid)
            .is_some_and(|(r, at)| &**r == room && now.duration_since(*at) < RELAY_TARGET_TTL)
    }

    fn confirm(&mut self, room: &str, pid: &str, now: Instant) {
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) >= RELAY_TARGET_TTL)
        {
            self.confirmed
                .retain(|_, (_, at)| now.duration_since(*at) < RELAY_TARGET_TTL);
            self.swept = Some(now);
        }
        self.confirmed.insert(pid.into(), (room.into(), now));
    }
}

pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
    instance: String,
    relay_targets: Mutex<RelayTargets>,
    /// Set while Redis may not hold this instance's participants as they are (it failed or
    /// lost its data); cleared by [`RedisPresence::resync`].
    stale: Arc<AtomicBool>,
}

/// Whether presence in Redis matches this instance's sockets, for `/readyz`.
pub struct SyncState(Arc<AtomicBool>);

impl crate::readiness::Probe for SyncState {
    fn check(&self) -> crate::readiness::ProbeFuture<'_> {
        let stale = self.0.load(Ordering::Relaxed);
        Box::pin(async move {
            if stale {
                anyhow::bail!("presence is being rebuilt in Redis after an outage")
            }
            Ok(())
        })
    }
}

impl RedisPresence {
    pub fn new(conn: ConnectionManager, prefix: &str, instance: &str) -> Self {
        RedisPresence {
            conn,
            prefix: prefix.to_owned(),
            instance: instance.to_owned(),
            relay_targets: Mutex::default(),
            stale: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The readiness probe of this presence.
    pub fn sync_state(&self) -> SyncState {
        SyncState(self.stale.clone())
    }

    /// Redis may have missed changes (an operation failed, or it lost its data).
    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    pub fn mark_synced(&self) {
        self.stale.store(false, Ordering::Relaxed);
    }

    /// Makes Redis hold this instance's participants as its sockets say: each of `here` with its
    /// exact socket count (recreated when Redis lost it, with hands down and media on until
    /// the participant changes them), and no count left for participants whose sockets here
    /// closed while Redis was away (the reaper departs them after the grace when no other
    /// instance holds them).
    pub async fn resync(&self, here: &[Seat]) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let script = redis::Script::new(RESYNC);
        for seat in here {
            let _created: i64 = script
                .key(self.participant_key(&seat.room_id, &seat.participant_id))
                .key(self.index_key(&seat.room_id))
                .key(self.rooms_key())
                .arg(&self.instance)
                .arg(&seat.participant_id)
                .arg(&seat.display_name)
                .arg(&seat.role)
                .arg(seat.since)
                .arg(KEY_TTL_MS)
                .arg(&seat.room_id)
                .arg(seat.sockets)
                .invoke_async(&mut conn)
                .await
                .context("presence resync")?;
        }
        let mine: HashSet<(&str, &str)> = here
            .iter()
            .map(|s| (s.room_id.as_str(), s.participant_id.as_str()))
            .collect();
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.rooms_key())
            .query_async(&mut conn)
            .await
            .context("presence resync")?;
        let field = format!("s:{}", self.instance);
        for room in rooms {
            for pid in self.members(&room).await? {
                if !mine.contains(&(room.as_str(), pid.as_str())) {
                    let _: i64 = redis::cmd("HDEL")
                        .arg(self.participant_key(&room, &pid))
                        .arg(&field)
                        .query_async(&mut conn)
                        .await
                        .context("presence resync")?;
                }
            }
        }
        Ok(())
    }

    fn relay_targets(&self) -> MutexGuard<'_, RelayTargets> {
        // The cache holds no invariant a panicking holder could break.
        self.relay_targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `pid` is present in `room` (a participant inside its reconnect grace is), asked of
    /// Redis.
    pub async fn is_present(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        redis::cmd("HEXISTS")
            .arg(self.participant_key(room, pid))
            .arg("name")
            .query_async(&mut conn)
            .await
            .context("presence lookup")
    }

    /// Whether `pid` is present in `room`, for a relay: one HEXISTS, or a "present" answer
    /// from the last [`RELAY_TARGET_TTL`].
    pub async fn relay_target_present(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        if self.relay_targets().fresh(room, pid, Instant::now()) {
            return Ok(true);
        }
        let present = self.is_present(room, pid).await?;
        if present {
            self.relay_targets().confirm(room, pid, Instant::now());
        }
        Ok(present)
    }

    fn heartbeat_prefix(&self) -> String {
        format!("{}inst:", self.prefix)
    }

    fn participant_key(&self, room: &str, pid: &str) -> String {
        format!("{}live:{room}:p:{pid}", self.prefix)
    }

    fn index_key(&self, room: &str) -> String {
        format!("{}live:{room}:idx", self.prefix)
    }

    fn rooms_key(&self) -> String {
        format!("{}live:rooms", self.prefix)
    }

    fn presenter_key(&self, room: &str) -> String {
        format!("{}live:{room}:presenter", self.prefix)
    }

    fn script(body: &str) -> redis::Script {
        redis::Script::new(&format!("{LIVE_TOTAL}\n{body}"))
    }

    /// Participant ids present in a room, longest-present first.
    async fn members(&self, room: &str) -> anyhow::Result<Vec<String>> {
        let mut conn = self.conn.clone();
        redis::cmd("ZRANGE")
            .arg(self.index_key(room))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .context("presence members")
    }

    /// Keeps this instance's sockets counting; call more often than [`HEARTBEAT_TTL`]. False
    /// when the key was not there any more (the first call, or Redis lost its data).
    pub async fn heartbeat(&self) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let before: Option<String> = redis::cmd("SET")
            .arg(format!("{}{}", self.heartbeat_prefix(), self.instance))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64)
            .arg("GET")
            .query_async(&mut conn)
            .await
            .context("presence heartbeat")?;
        Ok(before.is_some())
    }

    pub async fn arrive(&self, room: &str, pid: &str, t: Present) -> anyhow::Result<Arrival> {
        let mut conn = self.conn.clone();
        let (arrived, had): (i64, i64) = Self::script(ARRIVE)
            .key(self.participant_key(room, pid))
            .key(self.index_key(room))
            .key(self.rooms_key())
            .arg(self.heartbeat_prefix())
            .arg(&self.instance)
            .arg(pid)
            .arg(&t.display_name)
            .arg(&t.role)
            .arg(t.since)
            .arg(KEY_TTL_MS)
            .arg(room)
            .invoke_async(&mut conn)
            .await
            .context("presence arrive")?;
        Ok(Arrival {
            arrived: arrived == 1,
            had_sockets: had.max(0) as u32,
        })
    }

    fn view(
        pid: &str,
        fields: &std::collections::HashMap<String, String>,
        presenter: Option<&str>,
    ) -> Option<ParticipantView> {
        let flag = |k: &str| fields.get(k).is_some_and(|v| v == "1");
        // The hand holds when it went up (ms), 0 while down.
        let hand = fields
            .get("hand")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&at| at > 0);
        Some(ParticipantView {
            participant_id: pid.to_owned(),
            display_name: fields.get("name")?.clone(),
            role: fields.get("role")?.clone(),
            hand_raised: hand.is_some(),
            hand_raised_at: hand,
            audio: flag("audio"),
            video: flag("video"),
            presenting: presenter == Some(pid),
            status: Status::from_code(
                fields
                    .get("status")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
        })
    }

    pub async fn participant(
        &self,
        room: &str,
        pid: &str,
    ) -> anyhow::Result<Option<ParticipantView>> {
        let mut conn = self.conn.clone();
        let (fields, presenter): (std::collections::HashMap<String, String>, Option<String>) =
            redis::pipe()
                .hgetall(self.participant_key(room, pid))
                .get(self.presenter_key(room))
                .query_async(&mut conn)
                .await
                .context("presence lookup")?;
        Ok(Self::view(pid, &fields, presenter.as_deref()))
    }

    pub async fn snapshot(
        &self,
        room: &str,
    ) -> anyhow::Result<(Vec<ParticipantView>, Option<String>)> {
        let mut conn = self.conn.clone();
        let (pids, presenter): (Vec<String>, Option<String>) = redis::pipe()
            .zrange(self.index_key(room), 0, -1)
            .get(self.presenter_key(room))
            .query_async(&mut conn)
            .await
            .context("presence snapshot")?;
        let mut pipe = redis::pipe();
        for pid in &pids {
            pipe.hgetall(self.participant_key(room, pid));
        }
        let all: Vec<std::collections::HashMap<String, String>> = if pids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn)
                .await
                .context("presence snapshot")?
        };
        let views = pids
            .iter()
            .zip(all.iter())
            .filter_map(|(pid, f)| Self::view(pid, f, presenter.as_deref()))
            .collect();
        Ok((views, presenter))
    }

    pub async fn socket_closed(&self, room: &str, pid: &str) -> anyhow::Result<Closed> {
        let mut conn = self.conn.clone();
        let (last, epoch, stopped): (i64, i64, i64) = Self::script(SOCKET_CLOSED)
            .key(self.participant_key(room, pid))
            .key(self.presenter_key(room))
            .arg(self.heartbeat_prefix())
            .arg(&self.instance)
            .arg(pid)
            .invoke_async(&mut conn)
            .await
            .context("presence socket closed")?;
        Ok(Closed {
            last: last == 1,
            epoch: epoch.max(0) as u64,
            stopped_presenting: stopped == 1,
        })
    }

    pub async fn still_gone(&self, room: &str, pid: &str, epoch: u64) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let gone: i64 = Self::script(STILL_GONE)
            .key(self.participant_key(room, pid))
            .arg(self.heartbeat_prefix())
            .arg(&self.instance)
            .arg(epoch)
            .invoke_async(&mut conn)
            .await
            .context("presence check")?;
        Ok(gone == 1)
    }

    pub async fn depart(&self, room: &str, pid: &str) -> anyhow::Result<Departure> {
        self.relay_targets().confirmed.remove(pid);
        let mut conn = self.conn.clone();
        let (departed, host, pres, succ): (i64, i64, i64, String) = Self::script(DEPART)
            .key(self.participant_key(room, pid))
            .key(self.index_key(room))
            .key(self.presenter_key(room))
            .arg(pid)
            .invoke_async(&mut conn)
            .await
            .context("presence depart")?;
        Ok(Departure {
            departed: departed == 1,
            was_host: host == 1,
            was_presenter: pres == 1,
            successor: (!succ.is_empty()).then_some(succ),
        })
    }

    pub async fn set_flags(
        &self,
        room: &str,
        pid: &str,
        flags: &[(&str, i64)],
    ) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let script = Self::script(SET_FLAGS);
        let mut inv = script.key(self.participant_key(room, pid));
        for (name, value) in flags {
            inv.arg(*name).arg(*value);
        }
        let _: i64 = inv
            .invoke_async(&mut conn)
            .await
            .context("presence update")?;
        Ok(())
    }

    pub async fn start_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let won: i64 = Self::script(START_PRESENTING)
            .key(self.presenter_key(room))
            .key(self.participant_key(room, pid))
            .arg(pid)
            .arg(KEY_TTL_MS)
            .invoke_async(&mut conn)
            .await
            .context("presenter")?;
        Ok(won == 1)
    }

    pub async fn stop_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let stopped: i64 = Self::script(STOP_PRESENTING)
            .key(self.presenter_key(room))
            .arg(pid)
            .invoke_async(&mut conn)
            .await
            .context("presenter")?;
        Ok(stopped == 1)
    }

    pub async fn set_host(&self, room: &str, pid: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let pids = self.members(room).await?;
        let mut pipe = redis::pipe();
        for p in &pids {
            // HSET only on hashes that still exist (a departed participant stays gone).
            pipe.cmd("EVAL")
                .arg(SET_FLAGS)
                .arg(1)
                .arg(self.participant_key(room, p))
                .arg("role")
                .arg(if p == pid { "host" } else { "guest" })
                .ignore();
        }
        let () = pipe
            .query_async(&mut conn)
            .await
            .context("presence roles")?;
        Ok(())
    }

    /// Participants left behind by instances that stopped without closing their sockets (a
    /// crash), gone for longer than `grace_ms`: `(room, participant, display name)`.
    pub async fn reap(
        &self,
        now_ms: i64,
        grace_ms: i64,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let mut conn = self.conn.clone();
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.rooms_key())
            .query_async(&mut conn)
            .await
            .context("presence reap")?;
        let mut out = Vec::new();
        for room in rooms {
            let pids = self.members(&room).await?;
            if pids.is_empty() {
                let _: i64 = redis::cmd("SREM")
                    .arg(self.rooms_key())
                    .arg(&room)
                    .query_async(&mut conn)
                    .await
                    .context("presence reap")?;
                continue;
            }
            for pid in pids {
                let due: i64 = Self::script(REAP_CHECK)
                    .key(self.participant_key(&room, &pid))
                    .arg(self.heartbeat_prefix())
                    .arg(&self.instance)
                    .arg(now_ms)
                    .arg(grace_ms)
                    .invoke_async(&mut conn)
                    .await
                    .context("presence reap")?;
                if due == 1 {
                    let name: Option<String> = redis::cmd("HGET")
                        .arg(self.participant_key(&room, &pid))
                        .arg("name")
                        .query_async(&mut conn)
                        .await
                        .context("presence reap")?;
                    out.push((room.clone(), pid, name.unwrap_or_default()));
                }
            }
        }
        Ok(out)
    }

    pub async fn remove_room(&self, room: &str) -> anyhow::Result<()> {
        self.relay_targets()
            .confirmed
            .retain(|_, (r, _)| &**r != room);
        let mut conn = self.conn.clone();
        let pids = self.members(room).await?;
        let mut keys: Vec<String> = pids.iter().map(|p| self.participant_key(room, p)).collect();
        keys.push(self.index_key(room));
        keys.push(self.presenter_key(room));
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .context("presence cleanup")?;
        let _: i64 = redis::cmd("SREM")
            .arg(self.rooms_key())
            .arg(room)
            .query_async(&mut conn)
            .await
            .context("presence cleanup")?;
        Ok(())
    }
}
