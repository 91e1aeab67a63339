//! A socket's arrival: the handshake (token, kick, seat), `room-joined`, replacing an older
//! connection of the same participant, and the host role for an arrival in a room without one.
//! Disconnects and departures are in `departure`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use super::presence::Present;
use super::protocol::{Auth, server};
use super::session::{Bucket, Session, system_line};
use super::{Hub, broadcast, disconnect_all, participant_key, room_key};
use crate::clock::{ms, now_ms};
use crate::db;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::service::RoomView;

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
    s.on_disconnect(super::departure::on_disconnect::<A>);

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
            super::host::take_vacant_host(&hub, &io, &session.room_id, &session.participant_id)
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
    let (state, _) =
        crate::rooms::timer::stored(found.timer_state.as_deref(), &room.timer_settings)?;
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
