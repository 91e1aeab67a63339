//! Client events: one dispatcher that charges the socket's budget, parses the typed payload,
//! runs the rule and always answers the acknowledgement.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::{BroadcastError, SocketError};

use super::departure::depart;
use super::host::make_host;
use super::presence::{Presence, unavailable as presence_error};
use super::protocol::{self, client, server};
use super::session::{Charge, Session};
use super::{Hub, Reach, broadcast, disconnect_all, participant_key, room_key};
use crate::clock::now_ms;
use crate::db;
use crate::db::models::AuthRow;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::MessageType;
use crate::rooms::service::MessageView;
use crate::rooms::timer::Command;

/// Registers the handlers of client events on a new socket. Relays (most of the traffic) have
/// their own entries; every other event goes through one fallback handler that dispatches on
/// the name, which keeps the per-socket handler table at three entries instead of eighteen
/// (1 KiB of every idle socket, measured with heaptrack). The fallback pays for a second scan
/// of the payload (socketioxide's `Event` extractor), which only rare events can afford.
/// Names that are not client events are answered with an error instead of being ignored.
///
/// The relay handlers hold the socket's session themselves: looking it up in the socket's
/// extensions (a lock and a map) was 4 % of the server's CPU at 24,000 relays/s (`perf`).
pub fn register<A: Adapter>(s: &SocketRef<A>, me: &Arc<Session>) {
    for event in [client::OFFER, client::ANSWER, client::ICE_CANDIDATE] {
        let me = me.clone();
        s.on(
            event,
            async move |s: SocketRef<A>,
                        TryData(data): TryData<protocol::RelayBody>,
                        ack: AckSender<A>,
                        io: SocketIo<A>,
                        State(hub): State<Arc<Hub>>| {
                // A small future of its own, spawned per event without the state of every
                // other rule.
                let result = relay(&hub, &io, &s, &me, event, data.ok()).await;
                answer(ack, result);
            },
        );
    }
    s.on_fallback(
        async move |s: SocketRef<A>,
                    Event(name): Event,
                    TryData(data): TryData<Value>,
                    ack: AckSender<A>,
                    io: SocketIo<A>,
                    State(hub): State<Arc<Hub>>| {
            let data = data.unwrap_or(Value::Null);
            let running = hub.in_flight.enter();
            let result = if hub.in_flight.closing.load(Ordering::SeqCst) {
                Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the server is restarting; send this again once reconnected",
                ))
            } else {
                match client::ALL.iter().find(|e| **e == name) {
                    Some(&event) => Box::pin(handle(&hub, &io, &s, event, data)).await,
                    None => Err(ApiError::validation(format!("unknown event {name}"))),
                }
            };
            answer(ack, result);
            drop(running);
        },
    );
}

/// Sends the acknowledgement (when the client asked for one): `{ok: true, ...}` or the error.
fn answer<A: Adapter>(ack: AckSender<A>, result: Result<Value, ApiError>) {
    let body = match result {
        Ok(extra) => protocol::ack_ok(extra),
        Err(e) => protocol::ack_err(&e),
    };
    let _ = ack.send(&body);
}

fn session<A: Adapter>(s: &SocketRef<A>) -> Result<Arc<Session>, ApiError> {
    s.extensions
        .get::<Arc<Session>>()
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "not authenticated"))
}

/// Host powers follow the current role in the live room (it changes with transfers).
async fn require_host(hub: &Hub, session: &Session) -> Result<(), ApiError> {
    let host = hub
        .live
        .is_host(&session.room_id, &session.participant_id)
        .await
        .map_err(presence_error)?;
    if host {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the host can do this",
        ))
    }
}

/// The sender's session, once its event budget allows the event and it has not left.
fn admit<A: Adapter>(s: &SocketRef<A>) -> Result<Arc<Session>, ApiError> {
    let me = session(s)?;
    charge(s, &me)?;
    Ok(me)
}

/// Charges one event to the sender's budget; refused when it is spent or the sender has left.
fn charge<A: Adapter>(s: &SocketRef<A>, me: &Session) -> Result<(), ApiError> {
    let charge = me
        .bucket
        .lock()
        .map(|mut b| b.charge())
        .unwrap_or(Charge::Ok);
    match charge {
        Charge::Ok => {}
        Charge::Limited => {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many events; slow down",
            ));
        }
        Charge::Disconnect => {
            tracing::warn!(participant = %me.participant_id, "disconnecting a socket that keeps flooding");
            let _ = s.clone().disconnect();
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many events; disconnected",
            ));
        }
    }
    if me.gone.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            ErrorCode::NotInRoom,
            "you have left this room",
        ));
    }
    Ok(())
}

/// `offer` / `answer` / `ice-candidate`: to participant `to` of the sender's room, as
/// `{from, ...}`. The body is relayed as it came (only `to` is read), without a typed copy.
async fn relay<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    s: &SocketRef<A>,
    me: &Session,
    event: &'static str,
    data: Option<protocol::RelayBody>,
) -> Result<Value, ApiError> {
    charge(s, me)?;
    let (to, mut body) = protocol::relay_parts(event, data)?;
    let present = to != me.participant_id
        && hub
            .live
            .relay_target_present(&me.room_id, &to)
            .await
            .map_err(presence_error)?;
    if !present {
        return Err(ApiError::new(
            ErrorCode::NotInRoom,
            "`to` is not a participant of your room",
        ));
    }
    let from = serde_json::value::to_raw_value(&me.participant_id).map_err(ApiError::internal)?;
    body.insert("from".into(), from);
    match deliver(hub, io, participant_key(&to), event, &body).await {
        Ok(()) => Ok(json!({})),
        // The receiver stopped reading and its queue is full: it is dropped (its client
        // reconnects and renegotiates), never allowed to hold up or fail the sender.
        Err(BroadcastError::Socket(errors))
            if errors
                .iter()
                .all(|e| matches!(e, SocketError::InternalChannelFull | SocketError::Closed)) =>
        {
            if errors
                .iter()
                .any(|e| matches!(e, SocketError::InternalChannelFull))
            {
                for sock in io.to(participant_key(&to)).sockets() {
                    let _ = sock.disconnect();
                }
                crate::metrics::Metrics::inc(&hub.app.metrics.slow_consumers_dropped);
                tracing::info!(participant = %to, "closed a signaling connection that stopped reading");
            }
            Ok(json!({}))
        }
        // Another instance could not be reached through Redis in time: the client may retry.
        Err(BroadcastError::Adapter(e)) => {
            Err(ApiError::unavailable("the relay to another instance", e))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Sends a relay to the sockets of participant room `target`. With the Redis adapter every
/// emit is published to every instance, so a target connected to this instance gets it
/// directly instead: with a room spread evenly over two instances about half its relays never
/// touch Redis (40 % in `scripts/bench.sh scaleout`, whose rooms of five are split three and
/// two), and with a room's participants on one instance none do (docs/performance.md).
async fn deliver<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    target: String,
    event: &'static str,
    body: &protocol::RelayBody,
) -> Result<(), BroadcastError> {
    let here = matches!(hub.live, Presence::Redis(_))
        && !io.local().to(target.clone()).sockets().is_empty();
    if here {
        io.local().to(target).emit(event, body).await
    } else {
        io.to(target).emit(event, body).await
    }
}

async fn handle<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    s: &SocketRef<A>,
    event: &'static str,
    data: Value,
) -> Result<Value, ApiError> {
    let me = admit(s)?;
    let room = room_key(&me.room_id);
    match event {
        client::CHAT_MESSAGE => {
            let chat: protocol::ChatIn = protocol::parse(event, data)?;
            let kind = MessageType::parse(&chat.kind)
                .filter(|k| *k != MessageType::System)
                .ok_or_else(|| ApiError::validation("type must be \"text\" or \"emoji\""))?;
            let who = AuthRow {
                participant_id: me.participant_id.clone(),
                room_id: me.room_id.clone(),
                room_code: me.room_code.clone(),
                display_name: me.display_name.clone(),
                role: String::new(),
            };
            // Stored before anyone hears of it.
            let stored = hub
                .app
                .store_chat(&who, &chat.message, kind, chat.client_id.as_deref())
                .await?;
            let view = MessageView::from(&stored.row);
            if !stored.fresh {
                // A resend: the room was sent this line when it was stored.
                return Ok(json!({ "message": view, "duplicate": true }));
            }
            let reach = broadcast(io, room, server::CHAT_MESSAGE, &view).await;
            Ok(chat_ack(view, reach))
        }
        client::MEDIA_STATE => {
            let m: protocol::MediaState = protocol::parse(event, data)?;
            hub.live
                .set_media(&me.room_id, &me.participant_id, m.audio, m.video)
                .await
                .map_err(presence_error)?;
            let body =
                json!({ "participant_id": me.participant_id, "audio": m.audio, "video": m.video });
            broadcast(io, room, server::MEDIA_STATE, &body).await;
            Ok(json!({}))
        }
        client::RAISE_HAND => {
            let h: protocol::RaiseHand = protocol::parse(event, data)?;
            // Raising a raised hand keeps its place in the queue.
            let current = hub
                .live
                .participant(&me.room_id, &me.participant_id)
                .await
                .map_err(presence_error)?
                .and_then(|p| p.hand_raised_at);
            let at = h.raised.then(|| current.unwrap_or_else(now_ms));
            hub.live
                .set_hand(&me.room_id, &me.participant_id, at)
                .await
                .map_err(presence_error)?;
            let body =
                json!({ "participant_id": me.participant_id, "raised": h.raised, "raised_at": at });
            broadcast(io, room, server::HAND_RAISED, &body).await;
            Ok(json!({}))
        }
        client::LOWER_HAND => {
            require_host(hub, &me).await?;
            let l: protocol::LowerHand = protocol::parse(event, data)?;
            let (present, _) = hub
                .live
                .snapshot(&me.room_id)
                .await
                .map_err(presence_error)?;
            let targets: Vec<_> = match (&l.participant_id, l.all) {
                (None, true) => present.iter().filter(|p| p.hand_raised).collect(),
                (Some(id), false) => {
                    let p = present
                        .iter()
                        .find(|p| &p.participant_id == id)
                        .ok_or_else(|| {
                            ApiError::new(ErrorCode::NotInRoom, "no such participant in your room")
                        })?;
                    vec![p].into_iter().filter(|p| p.hand_raised).collect()
                }
                _ => {
                    return Err(ApiError::validation(
                        "lower-hand takes either participant_id or all: true",
                    ));
                }
            };
            for p in &targets {
                hub.live
                    .set_hand(&me.room_id, &p.participant_id, None)
                    .await
                    .map_err(presence_error)?;
                let body = json!({
                    "participant_id": p.participant_id,
                    "raised": false,
                    "raised_at": null,
                    "lowered_by": me.participant_id,
                });
                broadcast(io, room.clone(), server::HAND_RAISED, &body).await;
            }
            Ok(json!({ "lowered": targets.len() }))
        }
        client::START_PRESENTING => {
            // Atomic check-and-set: two simultaneous starts cannot both win.
            let won = hub
                .live
                .start_presenting(&me.room_id, &me.participant_id)
                .await
                .map_err(presence_error)?;
            if !won {
                return Err(ApiError::new(
                    ErrorCode::PresenterExists,
                    "someone else is presenting",
                ));
            }
            let body = json!({ "presenter_id": me.participant_id });
            broadcast(io, room, server::PRESENTER_CHANGED, &body).await;
            Ok(json!({}))
        }
        client::STOP_PRESENTING => {
            if hub
                .live
                .stop_presenting(&me.room_id, &me.participant_id)
                .await
                .map_err(presence_error)?
            {
                let body = json!({ "presenter_id": null });
                broadcast(io, room, server::PRESENTER_CHANGED, &body).await;
            }
            Ok(json!({}))
        }
        client::START_TIMER
        | client::PAUSE_TIMER
        | client::RESUME_TIMER
        | client::RESET_TIMER
        | client::SKIP_TIMER => {
            require_host(hub, &me).await?;
            let cmd = match event {
                client::START_TIMER => {
                    let start: protocol::StartTimer = if data.is_null() {
                        Default::default()
                    } else {
                        protocol::parse(event, data)?
                    };
                    Command::Start(start.phase)
                }
                client::PAUSE_TIMER => Command::Pause,
                client::RESUME_TIMER => Command::Resume,
                client::RESET_TIMER => Command::Reset,
                _ => Command::Skip,
            };
            let view = super::timer::command(hub, io, &me.room_id, cmd).await?;
            Ok(json!({ "timer": view }))
        }
        client::KICK_PARTICIPANT => {
            require_host(hub, &me).await?;
            let t: protocol::Target = protocol::parse(event, data)?;
            if t.participant_id == me.participant_id {
                return Err(ApiError::validation(
                    "you cannot kick yourself; use leave-room or end-room",
                ));
            }
            let hash = db::live::revoke(&hub.app.db, &me.room_id, &t.participant_id, "kicked")
                .await?
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::NotInRoom, "no such participant in your room")
                })?;
            let _ = hub.app.state.auth_invalidate(&[hash]).await;
            let present = hub
                .live
                .participant(&me.room_id, &t.participant_id)
                .await
                .ok()
                .flatten();
            if present.is_none() {
                // A pending seat (joined over REST, never connected): the room showed it as
                // "joining…"; it is gone now. There was no arrival, so there is no departure.
                let body = json!({ "participant_id": t.participant_id });
                broadcast(io, room_key(&me.room_id), server::USER_LEFT, &body).await;
            }
            let name = present
                .map(|p| p.display_name)
                .unwrap_or_else(|| "a participant".into());
            let target = Session::departed(me.room_id.clone(), t.participant_id.clone(), name);
            let key = participant_key(&t.participant_id);
            let body = json!({ "reason": "removed by the host" });
            broadcast(io, key.clone(), server::KICKED, &body).await;
            // The kicked sockets must not start a reconnect grace when they close.
            for sock in io.to(key.clone()).sockets() {
                if let Some(sess) = sock.extensions.get::<Arc<Session>>() {
                    sess.gone.store(true, Ordering::SeqCst);
                }
            }
            depart(hub, io, &target, "kicked").await;
            disconnect_all(io, key).await;
            Ok(json!({}))
        }
        client::END_ROOM => {
            require_host(hub, &me).await?;
            hub.app
                .end_room(&me.room_id, &me.room_code, "ended")
                .await?;
            Ok(json!({}))
        }
        client::TRANSFER_HOST => {
            require_host(hub, &me).await?;
            let t: protocol::Target = protocol::parse(event, data)?;
            let present = hub
                .live
                .is_present(&me.room_id, &t.participant_id)
                .await
                .map_err(presence_error)?;
            if !present || t.participant_id == me.participant_id {
                return Err(ApiError::new(
                    ErrorCode::NotInRoom,
                    "the new host must be another participant in the room",
                ));
            }
            make_host(hub, io, &me.room_id, &t.participant_id).await?;
            Ok(json!({}))
        }
        client::CLAIM_HOST => {
            let c: protocol::ClaimHost = protocol::parse(event, data)?;
            let room = hub.app.active_room_with_timer(&me.room_id).await?.room;
            if !crate::rooms::team::host_key_matches(&hub.app.link_key, &room, &c.host_key) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this host link is not valid (it was rotated, or is for another room); ask the host or the operator for the current one",
                ));
            }
            if !hub
                .live
                .is_host(&me.room_id, &me.participant_id)
                .await
                .map_err(presence_error)?
            {
                make_host(hub, io, &me.room_id, &me.participant_id).await?;
            }
            Ok(json!({}))
        }
        client::HOST_LINK => {
            require_host(hub, &me).await?;
            let h: protocol::HostLink = protocol::parse(event, data)?;
            let mut room = hub.app.active_room_with_timer(&me.room_id).await?.room;
            if !room.is_standing() {
                return Err(ApiError::validation(
                    "only a standing room has a host link; make it standing first",
                ));
            }
            if h.rotate {
                room.host_link_generation =
                    db::rooms::rotate_host_link(&hub.app.db, &room.id).await?;
            }
            let host_key = crate::rooms::team::current_host_key(&hub.app.link_key, &room);
            Ok(json!({ "host_key": host_key }))
        }
        client::MAKE_STANDING => {
            require_host(hub, &me).await?;
            let m: protocol::MakeStanding = protocol::parse(event, data)?;
            let (room, host_key) = hub
                .app
                .make_standing(&me.room_id, m.slug.as_deref(), m.retention_days)
                .await?;
            broadcast(
                io,
                room_key(&me.room_id),
                server::ROOM_UPDATED,
                &json!({ "room": room }),
            )
            .await;
            Ok(json!({ "room": room, "host_key": host_key }))
        }
        client::LEAVE_ROOM => {
            me.gone.store(true, Ordering::SeqCst);
            db::live::mark_left(&hub.app.db, &me.participant_id).await?;
            depart(hub, io, &me, "left").await;
            let s = s.clone();
            // Disconnect after this acknowledgement has been sent.
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let _ = s.disconnect();
            });
            Ok(json!({}))
        }
        client::SET_GOAL => super::rituals::set_goal(hub, io, &me, data).await,
        client::CLEAR_GOAL => super::rituals::clear_goal(hub, io, &me).await,
        client::CHECK_IN => super::rituals::check_in(hub, io, &me, data).await,
        client::SET_FOCUS_POLICY => {
            require_host(hub, &me).await?;
            super::rituals::set_focus_policy(hub, io, &me, data).await
        }
        client::SET_STATUS => super::rituals::set_status(hub, io, &me, data).await,
        client::CLOCK => {
            let c: protocol::Clock = protocol::parse(event, data)?;
            Ok(json!({ "server_time": now_ms(), "client_time": c.client_time }))
        }
        _ => Err(ApiError::validation(format!("unknown event {event}"))),
    }
}

/// The acknowledgement of a chat line: the stored message, and a warning when it reached only
/// the people connected to this instance (the link to the others is down; they see it in the
/// history when they reconnect).
fn chat_ack(message: MessageView, reach: Reach) -> Value {
    match reach {
        Reach::Everywhere => json!({ "message": message }),
        Reach::ThisInstance => json!({
            "message": message,
            "warning": {
                "code": "PARTIAL_DELIVERY",
                "message": "stored, but some participants may not see it until they reconnect",
            },
        }),
    }
}
