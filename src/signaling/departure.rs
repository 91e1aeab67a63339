//! A socket's end: a disconnect keeps the seat for the reconnect grace, and a participant who
//! does not come back (or leaves, or is kicked) departs: the room hears `user-left`, the chat
//! a system line, and a departing host hands the role to the longest-present participant.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State};

use super::protocol::server;
use super::session::{Session, system_line};
use super::{Hub, broadcast, room_key};
use crate::db;

/// A socket closed. With no socket left, the participant keeps its seat for the reconnect
/// grace; peers hear of the departure only when the grace runs out.
pub async fn on_disconnect<A: Adapter>(
    s: SocketRef<A>,
    io: SocketIo<A>,
    State(hub): State<Arc<Hub>>,
) {
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
        && let Err(e) = super::host::make_host(hub, io, room_id, &next.participant_id).await
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
        && let Err(e) = super::host::make_host(hub, io, &session.room_id, &next).await
    {
        tracing::warn!(error = %e, "could not hand the host role on");
    }
}
