//! Real-time rooms over Socket.io (`/socket.io/`): handshake authentication, presence, relay of
//! WebRTC signaling, chat, hands, media state, the presenter, host powers and the
//! server-authoritative timer. Handlers are generic over the socketioxide adapter so the same
//! code serves one process and (with the Redis adapter) several.
//!
//! Socket.io rooms used: `r:<room id>` (everyone in a FlowSync room) and `p:<participant id>`
//! (every socket of one participant), so a relay addresses a participant, never a socket id.

pub mod admission;
mod connection;
mod events;
pub mod head;
pub mod presence;
pub mod protocol;
mod timer;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use socketioxide::adapter::Adapter;
use socketioxide::handler::ConnectHandler;
use socketioxide::{SocketIo, TransportType};
use tokio_util::sync::CancellationToken;

use crate::app::SharedApp;
use crate::live::LiveEvent;
use crate::rooms::service::MessageView;
use crate::state::StateStore;
use presence::{LiveRooms, Presence, RedisPresence};
use protocol::server;

/// Largest Socket.io message accepted (an SDP offer of a 10-person mesh fits many times over).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Bytes tungstenite reads from a WebSocket at a time, and the buffer every socket keeps for it
/// (engineioxide's default is 4 KiB). tungstenite zero-fills the whole buffer before each read,
/// so it is resident for every idle socket; signaling frames are a few hundred bytes, and a
/// larger frame (an SDP offer) gets room for all of it before it is read. With 1 KiB:
/// 25.0 → 22.0 KiB per idle socket, and at 12,000 relays/s the server used no more CPU (41–43 %
/// against 45–51 % with 4 KiB; 512 bytes saved another 0.5 KiB but cost CPU).
/// `scripts/bench.sh idle` and `relay`, README → Performance.
pub const WS_READ_BUFFER: usize = 1024;

/// Shared by every handler (socketioxide state).
pub struct Hub {
    pub app: SharedApp,
    pub live: Presence,
    /// Socket handshakes and goodbyes doing database work at once. After a restart every client
    /// comes back within a second or two, and when a server stops or a network drops thousands
    /// leave at once; unbounded, thousands of them queued on the database pool, timed out and
    /// retried (the reconnect herd took 25 s to get back in, `scripts/bench.sh restart`).
    /// Bounded, each finishes quickly and the rest wait their turn.
    pub connection_work: tokio::sync::Semaphore,
    /// Set when this process, alone with its connections (no Redis), closes every socket to
    /// stop: disconnects then skip their per-socket work and the seats are released at once.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Sessions that have not authenticated yet (see [`admission`]).
    pub admission: Arc<admission::Admission>,
}

impl Hub {
    fn new(app: SharedApp, live: Presence) -> Hub {
        Hub {
            admission: admission::Admission::new(&app.config()),
            app,
            live,
            connection_work: tokio::sync::Semaphore::new(CONNECTION_WORK),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Messages from other instances (broadcasts, relays) that may wait for this one to handle
/// them. socketioxide-redis drops what does not fit, with a warning per message; its default
/// of 1,024 is a tenth of a second at 12,000 relays/s, so a pause of this instance lost relays
/// (`scripts/bench.sh scaleout`: 95 % delivered and thousands of warnings in a few seconds).
/// Slots are allocated as they fill, so the bound costs nothing until a backlog needs it.
const REDIS_STREAM_BUFFER: usize = 16 * 1024;

/// Handshakes and goodbyes doing database work at once (see [`Hub::connection_work`]).
const CONNECTION_WORK: usize = 32;

pub fn room_key(room_id: &str) -> String {
    format!("r:{room_id}")
}

pub fn participant_key(participant_id: &str) -> String {
    format!("p:{participant_id}")
}

/// The router with Socket.io in front of it, and how to close every socket on shutdown.
pub struct Attached {
    pub router: axum::Router,
    pub shutdown: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>,
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

fn builder(hub: Arc<Hub>) -> socketioxide::SocketIoBuilder {
    SocketIo::builder()
        .with_state(hub)
        .max_payload(MAX_MESSAGE as u64)
        .ws_max_message_size(MAX_MESSAGE)
        .ws_max_frame_size(MAX_MESSAGE)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .transports([TransportType::Polling, TransportType::Websocket])
        .connect_timeout(admission::AUTH_TIMEOUT)
}

/// `routes` behind the Socket.io layer, Socket.io request heads detached from hyper's read
/// buffer first (see [`head`]), new sessions counted until they authenticate (see
/// [`admission`]), and the security headers on Socket.io's own answers.
fn with_socket_io<A: Adapter>(
    routes: axum::Router,
    layer: socketioxide::layer::SocketIoLayer<A>,
    hub: &Hub,
) -> axum::Router {
    let admission = hub.admission.clone();
    routes
        .layer(layer)
        .layer(head::layer())
        .layer(axum::middleware::from_fn(move |req, next| {
            admission::limit(admission.clone(), req, next)
        }))
        .layer(axum::middleware::map_response(
            crate::http::socket_io_headers,
        ))
}

/// Puts Socket.io in front of `routes` and starts the background work that belongs to it
/// (forwarding room events, timer phase ends, presence heartbeats). With Redis configured,
/// broadcasts and presence are shared by every instance (socketioxide's Redis adapter).
pub async fn attach(
    app: SharedApp,
    routes: axum::Router,
    stop: CancellationToken,
) -> anyhow::Result<Attached> {
    // The layer wraps a router with a single fallback endpoint: applied per route it would
    // create one engine (and session table) per route.
    let outer = axum::Router::new().fallback_service(routes);
    match &app.state {
        StateStore::Memory(_) => {
            // Alone, this process owned every connection: any still marked open died with an
            // earlier run (a crash skips the goodbyes), so their reconnect grace starts now.
            let n = crate::db::live::reset_connections(&app.db, None, crate::db::now_ms()).await?;
            if n > 0 {
                tracing::info!(
                    participants = n,
                    "connections left open by an earlier run now count as disconnected"
                );
            }
            let hub = Arc::new(Hub::new(app.clone(), Presence::Local(LiveRooms::default())));
            let (layer, io) = builder(hub.clone()).build_layer();
            io.ns("/", connection::on_connect.with(connection::authenticate));
            spawn_background(hub.clone(), io.clone(), stop);
            Ok(Attached {
                router: with_socket_io(outer, layer, &hub),
                shutdown: Box::new(move || {
                    Box::pin(async move {
                        // The goodbyes are one statement instead of one per socket: what the
                        // next start would do anyway (above), and the drain of 15,000 sockets
                        // took 1.3-2 s of seat releases (`scripts/bench.sh restart`).
                        hub.stopping
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                        shut_down(&io).await;
                        let now = crate::db::now_ms();
                        if let Err(e) =
                            crate::db::live::reset_connections(&hub.app.db, None, now).await
                        {
                            tracing::warn!(error = %format!("{e:#}"), "could not release the seats at shutdown; the next start does");
                        }
                    })
                }),
            })
        }
        StateStore::Redis(redis_state) => {
            let url = app
                .config()
                .redis
                .url
                .clone()
                .map(|u| u.expose().clone())
                .unwrap_or_default();
            let client = redis::Client::open(url.as_str()).context("redis.url")?;
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}sio", redis_state.prefix()))
                .with_stream_buffer(REDIS_STREAM_BUFFER);
            let adapter = socketioxide_redis::RedisAdapterCtr::new_with_redis_config(&client, config)
                .await
                .context("cannot start the Socket.io Redis adapter (Redis must be 7+ and the URL must ask for ?protocol=resp3)")?;
            let presence = RedisPresence::new(
                redis_state.connection(),
                redis_state.prefix(),
                &app.instance_id,
            );
            presence.heartbeat().await?;
            let hub = Arc::new(Hub::new(app.clone(), Presence::Redis(presence)));
            let (layer, io) = builder(hub.clone())
                .with_adapter::<socketioxide_redis::RedisAdapter<_>>(adapter)
                .build_layer();
            io.ns("/", connection::on_connect.with(connection::authenticate))
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot start the Socket.io namespace over Redis: {e}")
                })?;
            tokio::spawn(heartbeat(hub.clone(), stop.clone()));
            tokio::spawn(reap_crashed(hub.clone(), io.clone(), stop.clone()));
            let router = with_socket_io(outer, layer, &hub);
            spawn_background(hub, io.clone(), stop);
            Ok(Attached {
                router,
                shutdown: Box::new(move || Box::pin(async move { shut_down(&io).await })),
            })
        }
    }
}

/// Departs participants whose instance died without closing their sockets (once the grace has
/// passed), under a lock so one instance does it. Their seats are released in the database.
async fn reap_crashed<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    let Presence::Redis(p) = &hub.live else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let app = &hub.app;
        match app
            .state
            .try_lock("presence-reaper", &app.instance_id, Duration::from_secs(30))
            .await
        {
            Ok(true) => {}
            _ => continue,
        }
        let grace = crate::db::ms(app.config().rooms.reconnect_grace);
        match p.reap(crate::db::now_ms(), grace).await {
            Ok(gone) => {
                for (room_id, participant_id, display_name) in gone {
                    tracing::info!(participant = %participant_id, "reaping a participant whose server stopped");
                    // Its grace has already run out: the seat is free now.
                    let seen = crate::db::now_ms() - grace;
                    let _ =
                        crate::db::live::reset_connections(&app.db, Some(&participant_id), seen)
                            .await;
                    let session =
                        connection::Session::departed(room_id, participant_id, display_name);
                    connection::depart(&hub, &io, &session, "left").await;
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "presence reaper failed"),
        }
        let _ = app.state.unlock("presence-reaper", &app.instance_id).await;
    }
}

fn spawn_background<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    tokio::spawn(forward_room_events(hub.clone(), io.clone(), stop.clone()));
    tokio::spawn(timer::run(hub, io, stop));
}

/// Keeps this instance's sockets counted in Redis presence.
async fn heartbeat(hub: Arc<Hub>, stop: CancellationToken) {
    let Presence::Redis(p) = &hub.live else {
        return;
    };
    let mut tick = tokio::time::interval(presence::redis_heartbeat_every());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = p.heartbeat().await {
                    tracing::warn!(error = %format!("{e:#}"), "presence heartbeat failed");
                }
            }
        }
    }
}

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
            Ok(LiveEvent::Pending { room_id, seat }) => {
                let _ = io
                    .to(room_key(&room_id))
                    .emit(server::PARTICIPANT_PENDING, &seat)
                    .await;
            }
            Ok(LiveEvent::RoomEnded { room_id, reason }) => {
                let room = room_key(&room_id);
                let _ = io
                    .to(room.clone())
                    .emit(server::ROOM_ENDED, &serde_json::json!({ "reason": reason }))
                    .await;
                let _ = hub.live.remove_room(&room_id).await;
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
