//! Real-time rooms over Socket.io (`/socket.io/`): handshake authentication, presence, relay of
//! WebRTC signaling, chat, hands, media state, the presenter, host powers and the
//! server-authoritative timer. Handlers are generic over the socketioxide adapter so the same
//! code serves one process and (with the Redis adapter) several.
//!
//! Socket.io rooms used: `r:<room id>` (everyone in a FlowSync room) and `p:<participant id>`
//! (every socket of one participant), so a relay addresses a participant, never a socket id.

mod connection;
mod events;
pub mod presence;
pub mod protocol;
mod timer;

use std::sync::Arc;
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, TransportType};
use tokio_util::sync::CancellationToken;

use crate::app::SharedApp;
use crate::live::LiveEvent;
use crate::rooms::service::MessageView;
use presence::LiveRooms;
use protocol::server;

/// Largest Socket.io message accepted (an SDP offer of a 10-person mesh fits many times over).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Shared by every handler (socketioxide state).
pub struct Hub {
    pub app: SharedApp,
    pub live: LiveRooms,
}

pub fn room_key(room_id: &str) -> String {
    format!("r:{room_id}")
}

pub fn participant_key(participant_id: &str) -> String {
    format!("p:{participant_id}")
}

/// Builds the Socket.io layer and starts the background work that belongs to it (forwarding
/// room events, timer phase ends, activity of occupied rooms).
pub fn layer(app: SharedApp, stop: CancellationToken) -> (SocketIoLayer, SocketIo) {
    let hub = Arc::new(Hub {
        app,
        live: LiveRooms::default(),
    });
    let (layer, io) = SocketIo::builder()
        .with_state(hub.clone())
        .max_payload(MAX_MESSAGE as u64)
        .ws_max_message_size(MAX_MESSAGE)
        .ws_max_frame_size(MAX_MESSAGE)
        .transports([TransportType::Polling, TransportType::Websocket])
        .build_layer();
    io.ns("/", connection::on_connect.with(connection::authenticate));
    tokio::spawn(forward_room_events(hub.clone(), io.clone(), stop.clone()));
    tokio::spawn(timer::run(hub, io.clone(), stop));
    (layer, io)
}

use socketioxide::handler::ConnectHandler;

/// Room events published by REST handlers and operators reach the room's sockets here.
async fn forward_room_events<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    let mut rx = hub.app.live.subscribe();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = rx.recv() => e,
        };
        match event {
            Ok(LiveEvent::Message { room_id, message }) => {
                let view = MessageView::from(&message);
                let _ = io
                    .to(room_key(&room_id))
                    .emit(server::CHAT_MESSAGE, &view)
                    .await;
            }
            Ok(LiveEvent::RoomEnded { room_id, reason }) => {
                let room = room_key(&room_id);
                let _ = io
                    .to(room.clone())
                    .emit(server::ROOM_ENDED, &serde_json::json!({ "reason": reason }))
                    .await;
                hub.live.remove(&room_id);
                // Give the goodbye a moment to leave the socket queues before closing them.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = io.to(room).disconnect().await;
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "live event forwarder lagged");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Tells every client to reconnect shortly (with jitter) and closes all sockets, so a graceful
/// stop does not wait for long-lived connections.
pub async fn shut_down<A: Adapter>(io: &SocketIo<A>) {
    let body = serde_json::json!({ "reconnect_after_ms": 500, "jitter_ms": 2000 });
    let _ = io.local().emit(server::SERVER_RESTARTING, &body).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    io.close().await;
}
