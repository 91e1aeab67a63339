//! Room events for live connections. REST handlers and operators publish here; the signaling
//! layer subscribes and forwards to the sockets of the room.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::db::models::MessageRow;

/// A seat taken over REST whose live connection has not arrived: shown to the room as
/// "joining…" until it arrives (`user-joined`) or lapses after `expires_in_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub participant_id: String,
    pub display_name: String,
    pub expires_in_ms: i64,
}

/// Something every live participant of a room must hear about.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// The room was ended (host, operator) or expired: disconnect everyone.
    RoomEnded {
        room_id: String,
        reason: &'static str,
    },
    /// A chat message was stored (e.g. posted over REST).
    Message {
        room_id: String,
        message: MessageRow,
    },
    /// Someone took a seat over REST; the room sees them "joining…" until their socket arrives
    /// or the pending seat lapses.
    Pending { room_id: String, seat: PendingView },
}

#[derive(Debug, Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<LiveEvent>,
}

impl LiveHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        LiveHub { tx }
    }

    /// Publishes an event; having no subscribers is normal.
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new()
    }
}
