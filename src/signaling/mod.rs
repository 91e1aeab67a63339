//! Real-time rooms over Socket.io (`/socket.io/`): handshake authentication, presence, relay of
//! WebRTC signaling, chat, hands, media state, the presenter, host powers and the
//! server-authoritative timer. Handlers are generic over the socketioxide adapter so the same
//! code serves one process and (with the Redis adapter) several.
//!
//! Socket.io rooms used: `r:<room id>` (everyone in a FlowSync room) and `p:<participant id>`
//! (every socket of one participant), so a relay addresses a participant, never a socket id.

pub mod admission;
mod connection;
mod departure;
mod events;
pub mod head;
mod host;
pub mod presence;
pub mod protocol;
mod pubsub;
mod rituals;
mod session;
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
/// `scripts/bench.sh idle` and `relay`, docs/performance.md.
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
    /// Client events being handled now; a stop waits (briefly) for them to be answered.
    pub in_flight: InFlight,
}

/// How long a stop waits for client events already being handled (a chat line being written)
/// to be answered before it closes the sockets.
const DRAIN_IN_FLIGHT: Duration = Duration::from_secs(3);

/// Counts client events being handled, so that a stop answers them before closing sockets: an
/// acknowledged line is stored, and a line whose acknowledgement never came is resent by the
/// client after it reconnects (its client id makes the resend harmless).
#[derive(Default)]
pub struct InFlight {
    running: std::sync::atomic::AtomicUsize,
    /// Set once the server stops: new events are refused (`UNAVAILABLE`), to be resent.
    pub closing: std::sync::atomic::AtomicBool,
    idle: tokio::sync::Notify,
}

/// One event being handled; dropped when it has been answered.
pub struct Running<'a>(&'a InFlight);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self
            .0
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    pub fn enter(&self) -> Running<'_> {
        self.running
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running(self)
    }

    /// Stops taking events and waits until those running have been answered, at most `max`.
    async fn drain(&self, max: Duration) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let n = self.running.load(std::sync::atomic::Ordering::SeqCst);
            if n == 0 {
                return;
            }
            tokio::select! {
                _ = idle => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(events = n, "client events still running at shutdown; closing anyway");
                    return;
                }
            }
        }
    }
}

impl Hub {
    fn new(app: SharedApp, live: Presence) -> Hub {
        Hub {
            admission: admission::Admission::new(&app.config()),
            app,
            live,
            connection_work: tokio::sync::Semaphore::new(CONNECTION_WORK),
            stopping: std::sync::atomic::AtomicBool::new(false),
            in_flight: InFlight::default(),
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
            let in_rooms = crate::db::live::open_sessions(&app.db).await?;
            let n =
                crate::db::live::reset_connections(&app.db, None, crate::clock::now_ms()).await?;
            if n > 0 {
                tracing::info!(
                    participants = n,
                    "connections left open by an earlier run now count as disconnected"
                );
            }
            let hub = Arc::new(Hub::new(app.clone(), Presence::Local(LiveRooms::default())));
            let (layer, io) = builder(hub.clone()).build_layer();
            io.ns("/", connection::on_connect.with(connection::authenticate));
            tokio::spawn(depart_unreturned(
                hub.clone(),
                io.clone(),
                in_rooms,
                stop.clone(),
            ));
            spawn_background(hub.clone(), io.clone(), stop);
            Ok(Attached {
                router: with_socket_io(outer, layer, &hub),
                shutdown: Box::new(move || {
                    Box::pin(async move {
                        // The goodbyes are one statement instead of one per socket: what the
                        // next start would do anyway (above), and the drain of 15,000 sockets
                        // took 1.3-2 s of seat releases (`scripts/bench.sh restart`).
                        hub.in_flight.drain(DRAIN_IN_FLIGHT).await;
                        hub.stopping
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                        shut_down(&io).await;
                        let now = crate::clock::now_ms();
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
            let config = socketioxide_redis::RedisAdapterConfig::new()
                .with_prefix(format!("{}sio", redis_state.prefix()))
                .with_stream_buffer(REDIS_STREAM_BUFFER);
            let driver = pubsub::PubSub::connect(&url, stop.clone())
                .await
                .context("cannot start the Socket.io Redis adapter (Redis must be 7+ and the URL must ask for ?protocol=resp3)")?;
            app.readiness
                .register("redis_pubsub", Arc::new(driver.clone()));
            let adapter = socketioxide_redis::RedisAdapterCtr::new_with_driver(driver, config);
            let presence = RedisPresence::new(
                redis_state.connection(),
                redis_state.prefix(),
                &app.instance_id,
            );
            let _ = presence.heartbeat().await?;
            app.readiness
                .register("presence", Arc::new(presence.sync_state()));
            let hub = Arc::new(Hub::new(app.clone(), Presence::Redis(presence)));
            let (layer, io) = builder(hub.clone())
                .with_adapter::<socketioxide_redis::CustomRedisAdapter<_, pubsub::PubSub>>(adapter)
                .build_layer();
            io.ns("/", connection::on_connect.with(connection::authenticate))
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot start the Socket.io namespace over Redis: {e}")
                })?;
            tokio::spawn(heartbeat(hub.clone(), io.clone(), stop.clone()));
            tokio::spawn(reap_crashed(hub.clone(), io.clone(), stop.clone()));
            let router = with_socket_io(outer, layer, &hub);
            spawn_background(hub.clone(), io.clone(), stop);
            Ok(Attached {
                router,
                shutdown: Box::new(move || {
                    Box::pin(async move {
                        hub.in_flight.drain(DRAIN_IN_FLIGHT).await;
                        shut_down(&io).await
                    })
                }),
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
        let grace = crate::clock::ms(app.config().rooms.reconnect_grace);
        match p.reap(crate::clock::now_ms(), grace).await {
            Ok(gone) => {
                for (room_id, participant_id, display_name) in gone {
                    tracing::info!(participant = %participant_id, "reaping a participant whose server stopped");
                    // Its grace has already run out: the seat is free now.
                    let seen = crate::clock::now_ms() - grace;
                    let _ =
                        crate::db::live::reset_connections(&app.db, Some(&participant_id), seen)
                            .await;
                    let session = session::Session::departed(room_id, participant_id, display_name);
                    departure::depart(&hub, &io, &session, "left").await;
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "presence reaper failed"),
        }
        let _ = app.state.unlock("presence-reaper", &app.instance_id).await;
    }
}

/// Without Redis, the reconnect grace of everyone in a room when the previous run stopped
/// lived in that process. Whoever has not come back once the grace has passed since this start
/// departs now, as they would have then: the room hears they left, and a departed host's role
/// passes to the longest-present participant.
async fn depart_unreturned<A: Adapter>(
    hub: Arc<Hub>,
    io: SocketIo<A>,
    in_rooms: Vec<(String, String, String)>,
    stop: CancellationToken,
) {
    if in_rooms.is_empty() {
        return;
    }
    let grace = hub.app.config().rooms.reconnect_grace;
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(grace) => {}
    }
    for (room_id, participant_id, display_name) in in_rooms {
        departure::depart_absent(&hub, &io, &room_id, &participant_id, &display_name).await;
    }
}

fn spawn_background<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    tokio::spawn(forward_room_events(hub.clone(), io.clone(), stop.clone()));
    tokio::spawn(timer::run(hub, io, stop));
}

/// Keeps this instance's sockets counted in Redis presence, and puts them back when Redis lost
/// them: after Redis restarted (empty, or with counts that missed the sockets that closed while
/// it was away) the heartbeat finds its key gone or its last attempt failed, and this
/// instance's participants are written again from the sockets it holds (see
/// [`RedisPresence::resync`]). Until then `/readyz` reports presence as being rebuilt.
async fn heartbeat<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    let Presence::Redis(p) = &hub.live else {
        return;
    };
    let mut tick = tokio::time::interval(presence::redis_heartbeat_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match p.heartbeat().await {
            Ok(true) => {}
            // The key this instance keeps alive was gone: Redis lost its data.
            Ok(false) => p.mark_stale(),
            Err(e) => {
                if !p.is_stale() {
                    tracing::warn!(error = %format!("{e:#}"), "presence heartbeat failed; presence is rebuilt when Redis answers again");
                }
                p.mark_stale();
                continue;
            }
        }
        if !p.is_stale() {
            continue;
        }
        let here = local_seats(&hub, &io).await;
        match p.resync(&here).await {
            Ok(()) => {
                p.mark_synced();
                tracing::info!(
                    participants = here.len(),
                    "presence rebuilt in Redis from this instance's sockets"
                );
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not rebuild presence yet");
            }
        }
    }
}

/// The participants with sockets on this instance, with their socket counts, role and when
/// they arrived (from the database, which holds the current role).
async fn local_seats<A: Adapter>(hub: &Hub, io: &SocketIo<A>) -> Vec<presence::Seat> {
    let mut counts: std::collections::HashMap<String, (Arc<session::Session>, u32)> =
        std::collections::HashMap::new();
    for s in io.local().sockets() {
        if let Some(session) = s.extensions.get::<Arc<session::Session>>()
            && !session.gone.load(std::sync::atomic::Ordering::SeqCst)
        {
            counts
                .entry(session.participant_id.clone())
                .or_insert_with(|| (session.clone(), 0))
                .1 += 1;
        }
    }
    let mut seats = Vec::with_capacity(counts.len());
    for (pid, (session, sockets)) in counts {
        let (role, since) = crate::db::live::seat_role(&hub.app.db, &pid)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| ("guest".into(), crate::clock::now_ms()));
        seats.push(presence::Seat {
            room_id: session.room_id.clone(),
            participant_id: pid,
            display_name: session.display_name.clone(),
            role,
            since,
            sockets,
        });
    }
    seats
}

/// Who a broadcast reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every instance took it (or there is only this one).
    Everywhere,
    /// Only this instance's sockets got it: the link to the other instances (Redis) failed.
    ThisInstance,
}

/// Sends an event to Socket.io room `to` on every instance. This instance's sockets get it
/// whatever happens to Redis (the adapter publishes first and, when that fails, delivers
/// nothing), and the answer says whether the other instances could be told.
pub async fn broadcast<A: Adapter, T: serde::Serialize + ?Sized>(
    io: &SocketIo<A>,
    to: String,
    event: &'static str,
    body: &T,
) -> Reach {
    match io.to(to.clone()).emit(event, body).await {
        Err(socketioxide::BroadcastError::Adapter(e)) => {
            tracing::debug!(error = %e, event, "broadcast reached only this instance");
            let _ = io.local().to(to).emit(event, body).await;
            Reach::ThisInstance
        }
        // Delivered; a socket that is closing or not reading is its own client's concern.
        _ => Reach::Everywhere,
    }
}

/// Closes the sockets in Socket.io room `to` on every instance, and on this one even when
/// Redis cannot carry the request to the others.
pub async fn disconnect_all<A: Adapter>(io: &SocketIo<A>, to: String) {
    if io.to(to.clone()).disconnect().await.is_err() {
        let _ = io.local().to(to).disconnect().await;
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
                broadcast(&io, room_key(&room_id), server::CHAT_MESSAGE, &view).await;
            }
            Ok(LiveEvent::Pending { room_id, seat }) => {
                broadcast(&io, room_key(&room_id), server::PARTICIPANT_PENDING, &seat).await;
            }
            Ok(LiveEvent::RoomEnded { room_id, reason }) => {
                let room = room_key(&room_id);
                let body = serde_json::json!({ "reason": reason });
                broadcast(&io, room.clone(), server::ROOM_ENDED, &body).await;
                let _ = hub.live.remove_room(&room_id).await;
                // Give the goodbye a moment to leave the socket queues before closing them.
                tokio::time::sleep(Duration::from_millis(50)).await;
                disconnect_all(&io, room).await;
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
