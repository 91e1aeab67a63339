//! What a socket is once admitted (its session, stored in the socket's extensions), its
//! event budget, and the system chat lines written on its behalf (joins, departures, kicks).

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::Hub;
use crate::db;
use crate::rooms::MessageType;

/// What a socket is, stored in its extensions at the handshake (behind one `Arc`, so the flag
/// and the budget live inline: one allocation fewer per socket than each behind its own `Arc`).
pub struct Session {
    pub participant_id: String,
    pub room_id: String,
    pub room_code: String,
    pub display_name: String,
    /// Set on an explicit leave or a kick: the departure is already done.
    pub gone: AtomicBool,
    pub bucket: Mutex<Bucket>,
}

impl Session {
    /// A session for announcing the departure of someone with no socket here.
    pub fn departed(room_id: String, participant_id: String, display_name: String) -> Self {
        Session {
            participant_id,
            room_id,
            room_code: String::new(),
            display_name,
            gone: AtomicBool::new(true),
            bucket: Mutex::new(Bucket::new()),
        }
    }
}

/// Per-socket event budget: `BURST` events at once, refilled at `RATE` per second (a 10-person
/// join sends a few hundred ICE candidates in a second). A socket that keeps flooding after
/// `MAX_STRIKES` refusals is disconnected; the rest of the room is unaffected.
pub struct Bucket {
    tokens: f64,
    last: Instant,
    strikes: u32,
}

const BURST: f64 = 400.0;
const RATE: f64 = 200.0;
const MAX_STRIKES: u32 = 200;

/// Outcome of charging one event to a socket's budget.
pub enum Charge {
    Ok,
    Limited,
    Disconnect,
}

impl Bucket {
    pub fn new() -> Self {
        Bucket {
            tokens: BURST,
            last: Instant::now(),
            strikes: 0,
        }
    }

    pub fn charge(&mut self) -> Charge {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * RATE).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Charge::Ok;
        }
        self.strikes += 1;
        if self.strikes > MAX_STRIKES {
            Charge::Disconnect
        } else {
            Charge::Limited
        }
    }
}

/// Writes a `system` chat line (first join, leave, departure, kick) and sends it to the room.
pub async fn system_line(hub: &Hub, session: &Session, text: &str) {
    let row = hub
        .app
        .store_message(&db::messages::NewMessage {
            room_id: &session.room_id,
            participant_id: Some(&session.participant_id),
            sender_name: &session.display_name,
            kind: MessageType::System.as_str(),
            body: text,
            client_id: None,
        })
        .await;
    match row {
        Ok(message) => hub.app.live.publish(crate::live::LiveEvent::Message {
            room_id: session.room_id.clone(),
            message,
        }),
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not store a system line"),
    }
}
