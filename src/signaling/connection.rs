//! A socket's life: the handshake (token, kick, seat), `room-joined`, replacing an older
//! connection of the same participant, disconnects with a reconnect grace, and departures
//! (which may hand the host role on).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use super::presence::Present;
use super::protocol::{Auth, server};
use super::{Hub, broadcast, disconnect_all, participant_key, room_key};
use crate::clock::{ms, now_ms};
use crate::db;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::MessageType;
use crate::rooms::service::RoomView;

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
    fn new() -> Self {
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

/// A refused handshake; the client's `connect_error` message is `CODE: explanation`.
#[derive(Debug)]
pub struct Refused(ApiError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

/// Connect middleware: a valid token, not kicked, with a seat.
pub async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Auth>,
    State(hub): State<Arc<Hub>>,
) -> Result<(), Refused> {
    let token = auth.map(|a| a.token).map_err(|_| {
        Refused(ApiError::new(
            ErrorCode::Unauthorized,
            "connect with auth: {token}",
        ))
    })?;
    // Never closed, so acquiring cannot fail.
    let _turn = hub.connection_work.acquire().await.ok();
    let hash = crate::auth::token_hash(&token);
    let cutoff = now_ms() - ms(hub.app.config().rooms.reconnect_grace);
    let claimed = db::live::claim_by_token(&hub.app.db, &hash, cutoff)
        .await
        .map_err(|e| Refused(ApiError::from(e)))?;
    let Some((who, seat)) = claimed else {
        // Refused. Why, from the database (the token cache may not know yet that a room
        // expired): a token that does not work, a kicked participant, or a full room.
        let valid = db::rooms::auth(&hub.app.db, &hash)
            .await
            .map_err(|e| Refused(ApiError::from(e)))?;
        if valid.is_some() {
            return Err(Refused(ApiError::new(
                ErrorCode::RoomFull,
                "the room is full",
            )));
        }
        let kicked = db::live::revoked_reason(&hub.app.db, &hash)
            .await
            .ok()
            .flatten()
            .as_deref()
            == Some("kicked");
        return Err(Refused(if kicked {
            ApiError::new(ErrorCode::Kicked, "the host removed you from this room")
        } else {
            crate::rooms::service::invalid_token()
        }));
    };
    // Authenticated: the session no longer counts against the caps on unauthenticated ones.
    let parts = s.req_parts();
    if let Some(axum::extract::ConnectInfo(peer)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        && let Some(key) = hub.admission.key(*peer, &parts.headers)
    {
        hub.admission.authenticated(key);
    }
    // Behind an Arc: every event reads it, and extensions hand out clones.
    s.extensions.insert(Arc::new(Session {
        participant_id: who.participant_id,
        room_id: who.room_id,
        room_code: who.room_code,
        display_name: who.display_name,
        gone: AtomicBool::new(false),
        bucket: Mutex::new(Bucket::new()),
    }));
    s.extensions.insert(Handshake {
        role: who.role,
        seat,
    });
    Ok(())
}

/// What the handshake learnt for [`on_connect`].
#[derive(Clone)]
struct Handshake {
    /// The role at handshake time (the live room holds the current one).
    role: String,
    seat: db::live::Claimed,
}

/// After the handshake: join the Socket.io rooms, replace an older connection, announce a
/// newcomer, send the snapshot.
pub async fn on_connect<A: Adapter>(s: SocketRef<A>, io: SocketIo<A>, State(hub): State<Arc<Hub>>) {
    let _turn = hub.connection_work.acquire().await.ok();
    // Removed, not read: it is needed only here, and extensions last as long as the socket.
    let (Some(session), Some(Handshake { role, seat })) = (
        s.extensions.get::<Arc<Session>>(),
        s.extensions.remove::<Handshake>(),
    ) else {
        let _ = s.disconnect();
        return;
    };
    // Only a guest who arrives may find the room without a host (a reconnect within the grace
    // was already there when the host left, and so was handed the role or saw it kept).
    let may_take_host = role != "host";
    let template = Present {
        display_name: session.display_name.clone(),
        role,
        hand_raised_at: None,
        audio: true,
        video: true,
        status: 0,
        sockets: 1,
        since: now_ms(),
        epoch: 1,
    };
    let arrival = match hub
        .live
        .arrive(&session.room_id, &session.participant_id, template)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "presence unavailable; refusing the socket");
            let body = serde_json::json!({ "code": "UNAVAILABLE", "message": "presence is unavailable; reconnect shortly" });
            let _ = s.emit(server::ERROR, &body);
            let _ = s.disconnect();
            return;
        }
    };
    let me = participant_key(&session.participant_id);
    if arrival.had_sockets > 0 {
        // The same token connected again (a second tab, or a reload racing the old socket).
        broadcast(
            &io,
            me.clone(),
            server::SESSION_REPLACED,
            &serde_json::json!({}),
        )
        .await;
        disconnect_all(&io, me.clone()).await;
    }
    s.join([room_key(&session.room_id), me]);
    super::events::register(&s, &session);
    s.on_disconnect(on_disconnect::<A>);

    if arrival.arrived {
        let view = hub
            .live
            .participant(&session.room_id, &session.participant_id)
            .await
            .ok()
            .flatten();
        if s.to(room_key(&session.room_id))
            .emit(server::USER_JOINED, &view)
            .await
            .is_err()
        {
            let _ = s
                .to(room_key(&session.room_id))
                .local()
                .emit(server::USER_JOINED, &view)
                .await;
        }
        // After a restart, the session its lost connection left open goes on.
        if !seat.session_open
            && let Err(e) =
                db::live::open_session(&hub.app.db, &session.room_id, &session.participant_id).await
        {
            tracing::warn!(error = %format!("{e:#}"), "could not record the session");
        }
        if !seat.returning {
            system_line(&hub, &session, &format!("{} joined", session.display_name)).await;
        }
    }
    if may_take_host
        && arrival.arrived
        && let Err(e) =
            super::events::take_vacant_host(&hub, &io, &session.room_id, &session.participant_id)
                .await
    {
        tracing::warn!(error = %e, "could not hand the host role of a hostless room on");
    }
    if let Err(e) = send_snapshot(&hub, &s, &session).await {
        tracing::warn!(error = %e, "could not send the room snapshot");
        let _ = s.disconnect();
        return;
    }
    if let Some(expires_at) = hub.app.activity_due(&session.room_id, now_ms())
        && let Err(e) = db::lifecycle::touch(&hub.app.db, &session.room_id, expires_at).await
    {
        tracing::warn!(error = %format!("{e:#}"), "could not record room activity");
    }
}

async fn send_snapshot<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    session: &Session,
) -> Result<(), ApiError> {
    let found = hub.app.active_room_with_timer(&session.room_id).await?;
    let room = found.room;
    let (state, _) = super::timer::parse(found.timer_state.as_deref(), &room.timer_settings)?;
    let timer = state.view(now_ms());
    let (goals, check_in) =
        super::rituals::snapshot(hub, &session.room_id, &session.participant_id, &state).await?;
    let (participants, presenter) = hub
        .live
        .snapshot(&session.room_id)
        .await
        .map_err(super::presence::unavailable)?;
    let me = participants
        .iter()
        .find(|p| p.participant_id == session.participant_id)
        .cloned();
    // Seats taken over REST whose sockets have not arrived: only when the room counts more
    // seats than people present is there any to look up.
    let pending = if room.seats > participants.len() as i64 {
        hub.app.pending_seats(&session.room_id).await?
    } else {
        Vec::new()
    };
    let ice = crate::ice::ice_servers(
        &hub.app.config().turn,
        &session.participant_id,
        (now_ms() / 1000) as u64,
    );
    let body = serde_json::json!({
        "self": me,
        "participants": participants,
        "pending": pending,
        "timer": timer,
        "goals": goals,
        "check_in": check_in,
        "presenter_id": presenter,
        "room": RoomView::from_row(&room),
        "ice_servers": ice,
        "server_time": now_ms(),
    });
    s.emit(server::ROOM_JOINED, &body)
        .map_err(ApiError::internal)
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

/// A socket closed. With no socket left, the participant keeps its seat for the reconnect
/// grace; peers hear of the departure only when the grace runs out.
async fn on_disconnect<A: Adapter>(s: SocketRef<A>, io: SocketIo<A>, State(hub): State<Arc<Hub>>) {
    let Some(session) = s.extensions.get::<Arc<Session>>() else {
        return;
    };
    if hub.stopping.load(Ordering::SeqCst) {
        // Shutting down: every seat is released in one statement afterwards (`attach`), and
        // nobody stays to hear of departures.
        return;
    }
    {
        let _turn = hub.connection_work.acquire().await.ok();
        if let Err(e) = db::live::release_seat(&hub.app.db, &session.participant_id).await {
            tracing::warn!(error = %format!("{e:#}"), "could not release a seat");
        }
    }
    if session.gone.load(Ordering::SeqCst) {
        return;
    }
    let closed = match hub
        .live
        .socket_closed(&session.room_id, &session.participant_id)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            // Redis missed this close; presence is rebuilt from the sockets still here when
            // it answers again, and the reaper departs whoever is then gone.
            tracing::warn!(error = %format!("{e:#}"), "presence unavailable at disconnect");
            if let super::presence::Presence::Redis(p) = &hub.live {
                p.mark_stale();
            }
            return;
        }
    };
    if closed.stopped_presenting {
        // A presenter whose connection dropped is no longer sharing a screen.
        broadcast(
            &io,
            room_key(&session.room_id),
            server::PRESENTER_CHANGED,
            &serde_json::json!({ "presenter_id": null }),
        )
        .await;
    }
    if !closed.last {
        return;
    }
    let grace = hub.app.config().rooms.reconnect_grace;
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        // Boxed, so what waits out the grace is the sleep and a few pointers: after a network
        // drop thousands of these wait at once, and inline each held the whole departure's
        // future (15 KiB, heaptrack) for the grace.
        Box::pin(after_grace(hub, io, session, closed.epoch)).await;
    });
}

/// The reconnect grace ran out: unless the participant came back, it departs. Presence that no
/// longer knows the participant at all (Redis lost its data meanwhile) is not an answer: the
/// database says whether the departure is still to be announced.
async fn after_grace<A: Adapter>(
    hub: Arc<Hub>,
    io: SocketIo<A>,
    session: Arc<Session>,
    epoch: u64,
) {
    let still_gone = hub
        .live
        .still_gone(&session.room_id, &session.participant_id, epoch)
        .await;
    match still_gone {
        Ok(true) => depart(&hub, &io, &session, "left").await,
        Ok(false) => {
            depart_absent(
                &hub,
                &io,
                &session.room_id,
                &session.participant_id,
                &session.display_name,
            )
            .await
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "presence unavailable after a reconnect grace")
        }
    }
}

/// Announces the departure of someone presence does not hold and who did not come back: a
/// participant of a room when the server restarted without Redis (the grace timers died with
/// the old process), or one whose presence Redis lost. Announced once: only while the
/// participant's session is still open. A departing host hands the role to the
/// longest-present participant, as [`depart`] does.
pub async fn depart_absent<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    room_id: &str,
    participant_id: &str,
    display_name: &str,
) {
    if !matches!(
        hub.live.is_present(room_id, participant_id).await,
        Ok(false)
    ) {
        return;
    }
    match db::live::close_session(&hub.app.db, participant_id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not close a session");
            return;
        }
    }
    broadcast(
        io,
        room_key(room_id),
        server::USER_LEFT,
        &serde_json::json!({ "participant_id": participant_id }),
    )
    .await;
    let session = Session::departed(
        room_id.to_owned(),
        participant_id.to_owned(),
        display_name.to_owned(),
    );
    system_line(hub, &session, &format!("{display_name} left")).await;
    if !db::live::is_host(&hub.app.db, participant_id)
        .await
        .unwrap_or(false)
    {
        return;
    }
    let successor = match hub.live.snapshot(room_id).await {
        Ok((present, _)) => present.into_iter().next(),
        Err(_) => None,
    };
    if let Some(next) = successor
        && let Err(e) = super::events::make_host(hub, io, room_id, &next.participant_id).await
    {
        tracing::warn!(error = %e, "could not hand the host role on");
    }
}

/// Removes a participant from the room for good: peers get `user-left`, the chat a system
/// line, the session its end; a departing host hands the role to the longest-present participant.
pub async fn depart<A: Adapter>(hub: &Arc<Hub>, io: &SocketIo<A>, session: &Session, how: &str) {
    let departure = match hub
        .live
        .depart(&session.room_id, &session.participant_id)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "presence unavailable at departure");
            return;
        }
    };
    if !departure.departed {
        // Already announced (by another instance, or an earlier call).
        return;
    }
    let room = room_key(&session.room_id);
    broadcast(
        io,
        room.clone(),
        server::USER_LEFT,
        &serde_json::json!({ "participant_id": session.participant_id }),
    )
    .await;
    if departure.was_presenter {
        broadcast(
            io,
            room.clone(),
            server::PRESENTER_CHANGED,
            &serde_json::json!({ "presenter_id": null }),
        )
        .await;
    }
    let line = match how {
        "kicked" => format!("{} was removed by the host", session.display_name),
        _ => format!("{} left", session.display_name),
    };
    system_line(hub, session, &line).await;
    if let Err(e) = db::live::close_session(&hub.app.db, &session.participant_id).await {
        tracing::warn!(error = %format!("{e:#}"), "could not close the session");
    }
    if departure.was_host
        && let Some(next) = departure.successor
        && let Err(e) = super::events::make_host(hub, io, &session.room_id, &next).await
    {
        tracing::warn!(error = %e, "could not hand the host role on");
    }
}
