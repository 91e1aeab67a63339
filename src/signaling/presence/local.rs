//! In-process presence for a single instance. Each room has its own lock; the map of rooms is
//! locked only to find or drop a room, never across I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::super::protocol::{ParticipantView, Status};
use super::{Arrival, Closed, Departure};

#[derive(Debug, Clone)]
pub struct Present {
    pub display_name: String,
    pub role: String,
    /// When the hand went up (server ms); None while it is down.
    pub hand_raised_at: Option<i64>,
    pub audio: bool,
    pub video: bool,
    /// `protocol::Status` as its code.
    pub status: i64,
    /// Live sockets (a reload briefly has two).
    pub sockets: u32,
    /// When the participant arrived (host succession picks the longest-present).
    pub since: i64,
    /// Bumped on every connect, so a pending departure can tell it was overtaken.
    pub epoch: u64,
}

#[derive(Debug, Default)]
pub struct LiveRoom {
    pub participants: BTreeMap<String, Present>,
    pub presenter: Option<String>,
}

impl LiveRoom {
    pub fn views(&self) -> Vec<ParticipantView> {
        let mut v: Vec<_> = self
            .participants
            .iter()
            .map(|(id, p)| self.view(id, p))
            .collect();
        v.sort_by_key(|p| {
            self.participants
                .get(&p.participant_id)
                .map(|x| x.since)
                .unwrap_or(0)
        });
        v
    }

    pub fn view(&self, id: &str, p: &Present) -> ParticipantView {
        ParticipantView {
            participant_id: id.to_owned(),
            display_name: p.display_name.clone(),
            role: p.role.clone(),
            hand_raised: p.hand_raised_at.is_some(),
            hand_raised_at: p.hand_raised_at,
            audio: p.audio,
            video: p.video,
            presenting: self.presenter.as_deref() == Some(id),
            status: Status::from_code(p.status),
        }
    }

    /// The participant present longest, other than `except`.
    pub fn longest_present(&self, except: &str) -> Option<String> {
        self.participants
            .iter()
            .filter(|(id, _)| id.as_str() != except)
            .min_by_key(|(id, p)| (p.since, (*id).clone()))
            .map(|(id, _)| id.clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
pub struct LiveRooms {
    rooms: Mutex<HashMap<String, Arc<Mutex<LiveRoom>>>>,
}

impl LiveRooms {
    /// Runs `f` on the room (created on first use).
    pub fn with<R>(&self, room_id: &str, f: impl FnOnce(&mut LiveRoom) -> R) -> R {
        let room = lock(&self.rooms)
            .entry(room_id.to_owned())
            .or_default()
            .clone();
        let mut guard = lock(&room);
        let out = f(&mut guard);
        let empty = guard.participants.is_empty();
        drop(guard);
        if empty {
            // Empty rooms drop their presence; the timer lives in the database.
            let mut rooms = lock(&self.rooms);
            if rooms
                .get(room_id)
                .is_some_and(|r| lock(r).participants.is_empty())
            {
                rooms.remove(room_id);
            }
        }
        out
    }

    /// Forgets a room (ended).
    pub fn remove(&self, room_id: &str) {
        lock(&self.rooms).remove(room_id);
    }

    #[cfg(test)]
    fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }
}

/// The [`super::Presence`] operations, each one atomic under the room's lock.
impl LiveRooms {
    pub async fn arrive(
        &self,
        room: &str,
        pid: &str,
        template: Present,
    ) -> anyhow::Result<Arrival> {
        Ok(self.with(room, |r| match r.participants.get_mut(pid) {
            Some(p) => {
                let had = p.sockets;
                p.sockets += 1;
                p.epoch += 1;
                Arrival {
                    arrived: false,
                    had_sockets: had,
                }
            }
            None => {
                r.participants.insert(pid.to_owned(), template);
                Arrival {
                    arrived: true,
                    had_sockets: 0,
                }
            }
        }))
    }

    /// Whether `pid` is present in `room` (read only: no room is created or dropped).
    pub fn contains(&self, room: &str, pid: &str) -> bool {
        let Some(r) = lock(&self.rooms).get(room).cloned() else {
            return false;
        };
        lock(&r).participants.contains_key(pid)
    }

    pub async fn participant(
        &self,
        room: &str,
        pid: &str,
    ) -> anyhow::Result<Option<ParticipantView>> {
        Ok(self.with(room, |r| r.participants.get(pid).map(|p| r.view(pid, p))))
    }

    pub async fn snapshot(
        &self,
        room: &str,
    ) -> anyhow::Result<(Vec<ParticipantView>, Option<String>)> {
        Ok(self.with(room, |r| (r.views(), r.presenter.clone())))
    }

    pub async fn socket_closed(&self, room: &str, pid: &str) -> anyhow::Result<Closed> {
        Ok(self.with(room, |r| {
            let Some(p) = r.participants.get_mut(pid) else {
                return Closed::default();
            };
            p.sockets = p.sockets.saturating_sub(1);
            let last = p.sockets == 0;
            let epoch = p.epoch;
            let stopped_presenting = last && r.presenter.as_deref() == Some(pid);
            if stopped_presenting {
                r.presenter = None;
            }
            Closed {
                last,
                epoch,
                stopped_presenting,
            }
        }))
    }

    pub async fn still_gone(&self, room: &str, pid: &str, epoch: u64) -> anyhow::Result<bool> {
        Ok(self.with(room, |r| {
            r.participants
                .get(pid)
                .is_some_and(|p| p.sockets == 0 && p.epoch == epoch)
        }))
    }

    pub async fn depart(&self, room: &str, pid: &str) -> anyhow::Result<Departure> {
        Ok(self.with(room, |r| {
            let Some(removed) = r.participants.remove(pid) else {
                return Departure::default();
            };
            let was_presenter = r.presenter.as_deref() == Some(pid);
            if was_presenter {
                r.presenter = None;
            }
            let was_host = removed.role == "host";
            Departure {
                departed: true,
                was_host,
                was_presenter,
                successor: r.longest_present(pid),
            }
        }))
    }

    pub async fn set_flags(
        &self,
        room: &str,
        pid: &str,
        flags: &[(&str, i64)],
    ) -> anyhow::Result<()> {
        self.with(room, |r| {
            if let Some(p) = r.participants.get_mut(pid) {
                for (name, value) in flags {
                    match *name {
                        "audio" => p.audio = *value != 0,
                        "video" => p.video = *value != 0,
                        "status" => p.status = *value,
                        _ => p.hand_raised_at = (*value != 0).then_some(*value),
                    }
                }
            }
        });
        Ok(())
    }

    pub async fn start_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        Ok(self.with(room, |r| match &r.presenter {
            Some(p) if p != pid => false,
            _ => {
                r.presenter = Some(pid.to_owned());
                true
            }
        }))
    }

    pub async fn stop_presenting(&self, room: &str, pid: &str) -> anyhow::Result<bool> {
        Ok(self.with(room, |r| {
            let mine = r.presenter.as_deref() == Some(pid);
            if mine {
                r.presenter = None;
            }
            mine
        }))
    }

    pub async fn set_host(&self, room: &str, pid: &str) -> anyhow::Result<()> {
        self.with(room, |r| {
            for (id, p) in r.participants.iter_mut() {
                p.role = if id == pid {
                    "host".into()
                } else {
                    "guest".into()
                };
            }
        });
        Ok(())
    }

    pub async fn remove_room(&self, room: &str) -> anyhow::Result<()> {
        self.remove(room);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(since: i64) -> Present {
        Present {
            display_name: "x".into(),
            role: "guest".into(),
            hand_raised_at: None,
            audio: true,
            video: true,
            status: 0,
            sockets: 1,
            since,
            epoch: 0,
        }
    }

    #[tokio::test]
    async fn longest_present_and_cleanup() {
        let rooms = LiveRooms::default();
        rooms.with("r", |r| {
            r.participants.insert("p_host".into(), present(1));
            r.participants.insert("p_b".into(), present(5));
            r.participants.insert("p_a".into(), present(3));
        });
        assert_eq!(
            rooms.with("r", |r| r.longest_present("p_host")),
            Some("p_a".into())
        );
        assert!(rooms.participant("r", "p_b").await.unwrap().is_some());
        rooms.with("r", |r| r.participants.clear());
        assert_eq!(rooms.room_count(), 0, "empty rooms are dropped");
    }
}
