//! The co-working ritual over Socket.io: goals for the current work block (`set-goal`,
//! `clear-goal`), the check-in its owners are asked for when the block ends
//! (`check-in-requested`, answered with `check-in`), what a joining page is told of them,
//! everyone's status (`set-status`) and the host's focus rules (`set-focus-policy`).
//! The rules are in `rooms::rituals`, the storage in `db::rituals`; block numbers come from
//! the timer (`rooms::timer`), whose compare-and-set makes each block end exactly once.

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::protocol::{self, GoalView, server};
use super::session::{Session, system_line};
use super::{Hub, broadcast, participant_key, room_key};
use crate::clock::now_ms;
use crate::db;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::rituals;
use crate::rooms::service::RoomView;
use crate::rooms::timer::{BlockEnd, Phase, TimerState};
use crate::rooms::{FocusInput, TimerSettings};

/// The room's timer as it is now (a phase that has just run out counts as ended, even if the
/// timer loop has not written that yet).
async fn timer_now(hub: &Hub, room_id: &str) -> Result<TimerState, ApiError> {
    let (mut state, _, settings) = hub.app.stored_timer(room_id).await?;
    state.complete_due(now_ms(), &settings);
    Ok(state)
}

/// Tells the room about one participant's goal of `block` (`None`: cleared).
async fn announce<A: Adapter>(io: &SocketIo<A>, me: &Session, block: u64, goal: Option<&GoalView>) {
    let body = json!({ "participant_id": me.participant_id, "block": block, "goal": goal });
    broadcast(io, room_key(&me.room_id), server::GOAL_UPDATED, &body).await;
}

/// `set-goal`: the sender's goal for the current work block, or during a break the next one.
pub async fn set_goal<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    me: &Session,
    data: Value,
) -> Result<Value, ApiError> {
    let set: protocol::SetGoal = protocol::parse(protocol::client::SET_GOAL, data)?;
    let text = rituals::goal_text(&set.text)?;
    // The block can end between reading the timer and writing the goal: the goal then goes to
    // the next block, as if it had been sent a moment later.
    for _ in 0..3 {
        let block = timer_now(hub, &me.room_id).await?.block;
        let row = db::rituals::set_goal(
            &hub.app.db,
            &me.room_id,
            block,
            &me.participant_id,
            &me.display_name,
            &text,
        )
        .await?;
        if let Some(row) = row {
            let goal = GoalView::from(&row);
            announce(io, me, block, Some(&goal)).await;
            return Ok(json!({ "goal": goal }));
        }
    }
    Err(ApiError::new(
        ErrorCode::Unavailable,
        "the work block is changing; try again",
    ))
}

/// `clear-goal`: removes the sender's goal for the current (or next) block.
pub async fn clear_goal<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    me: &Session,
) -> Result<Value, ApiError> {
    let block = timer_now(hub, &me.room_id).await?.block;
    let cleared =
        db::rituals::clear_goal(&hub.app.db, &me.room_id, block, &me.participant_id).await?;
    if cleared {
        announce(io, me, block, None).await;
    }
    Ok(json!({ "cleared": cleared }))
}

/// `check-in`: how an ended block went. Written to the chat as a system line
/// ("Ana ✓ Draft the intro") and to the goal; answered once.
pub async fn check_in<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    me: &Session,
    data: Value,
) -> Result<Value, ApiError> {
    let c: protocol::CheckIn = protocol::parse(protocol::client::CHECK_IN, data)?;
    let note = rituals::note_text(c.note.as_deref())?;
    let row = db::rituals::check_in(
        &hub.app.db,
        &me.room_id,
        c.block,
        &me.participant_id,
        c.outcome.as_str(),
        note.as_deref(),
    )
    .await?;
    let Some(row) = row else {
        let goal = db::rituals::goal(&hub.app.db, &me.room_id, c.block, &me.participant_id).await?;
        let why = match goal {
            None => format!("you set no goal for block {}", c.block),
            Some(g) if g.ended_at.is_none() => {
                format!("block {} has not ended yet", c.block)
            }
            Some(_) => format!("you have already checked in for block {}", c.block),
        };
        return Err(ApiError::validation(why).with_status(409));
    };
    let line = rituals::check_in_line(&me.display_name, c.outcome, &row.body, note.as_deref());
    system_line(hub, me, &line).await;
    let goal = GoalView::from(&row);
    announce(io, me, c.block, Some(&goal)).await;
    Ok(json!({ "goal": goal }))
}

/// `set-status`: what the sender shows on their tile and in People (`auto` follows the timer).
pub async fn set_status<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    me: &Session,
    data: Value,
) -> Result<Value, ApiError> {
    let s: protocol::SetStatus = protocol::parse(protocol::client::SET_STATUS, data)?;
    hub.live
        .set_status(&me.room_id, &me.participant_id, s.status)
        .await
        .map_err(super::presence::unavailable)?;
    let body = json!({ "participant_id": me.participant_id, "status": s.status });
    broadcast(io, room_key(&me.room_id), server::STATUS_CHANGED, &body).await;
    Ok(json!({}))
}

/// `set-focus-policy` (the host's, checked by the caller): changes the room's focus rules;
/// everyone's page applies them from the `room-updated` that follows.
pub async fn set_focus_policy<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    me: &Session,
    data: Value,
) -> Result<Value, ApiError> {
    let change: FocusInput = protocol::parse(protocol::client::SET_FOCUS_POLICY, data)?;
    let mut room = hub.app.active_room_with_timer(&me.room_id).await?.room;
    let mut settings: TimerSettings =
        serde_json::from_str(&room.timer_settings).map_err(ApiError::internal)?;
    settings.focus = settings.focus.with(change);
    room.timer_settings = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    if !db::rituals::set_timer_settings(&hub.app.db, &me.room_id, &room.timer_settings).await? {
        return Err(ApiError::new(ErrorCode::RoomExpired, "this room has ended"));
    }
    let view = RoomView::from_row(&room);
    broadcast(
        io,
        room_key(&me.room_id),
        server::ROOM_UPDATED,
        &json!({ "room": view }),
    )
    .await;
    Ok(json!({ "room": view }))
}

/// After the timer change that ended `ends` was saved: records each block, closes its goals
/// and asks each goal's owner (on every instance, every tab) to check in, once.
pub async fn blocks_ended<A: Adapter>(
    hub: &Hub,
    io: &SocketIo<A>,
    room_id: &str,
    ends: &[BlockEnd],
) {
    if ends.is_empty() {
        return;
    }
    // Who worked through it: the people in the room now (the block ended a moment ago).
    let people: Vec<String> = match hub.live.snapshot(room_id).await {
        Ok((present, _)) => present.into_iter().map(|p| p.display_name).collect(),
        Err(e) => {
            tracing::warn!(room = %room_id, error = %format!("{e:#}"), "could not list who finished a work block");
            Vec::new()
        }
    };
    for end in ends {
        let closed = match db::rituals::end_block(&hub.app.db, room_id, end, &people).await {
            Ok(closed) => closed,
            Err(e) => {
                tracing::warn!(room = %room_id, error = %format!("{e:#}"), "could not record the end of a work block");
                continue;
            }
        };
        for goal in &closed {
            let body = json!({ "block": end.block, "goal": GoalView::from(goal) });
            broadcast(
                io,
                participant_key(&goal.participant_id),
                server::CHECK_IN_REQUESTED,
                &body,
            )
            .await;
        }
    }
}

/// What `room-joined` tells of the ritual: the goals of the block goals are set for now, and
/// during a break the joiner's own unanswered goal of the block that just ended (so a page
/// reloaded during the break still offers the check-in).
pub async fn snapshot(
    hub: &Hub,
    room_id: &str,
    participant_id: &str,
    state: &TimerState,
) -> Result<(Vec<GoalView>, Option<GoalView>), ApiError> {
    let goals = db::rituals::goals_of_block(&hub.app.db, room_id, state.block)
        .await?
        .iter()
        .map(GoalView::from)
        .collect();
    let mut check_in = None;
    if state.phase != Phase::Work && state.block > 0 {
        let last = db::rituals::goal(&hub.app.db, room_id, state.block - 1, participant_id).await?;
        check_in = last
            .filter(|g| g.ended_at.is_some() && g.outcome.is_none())
            .map(|g| GoalView::from(&g));
    }
    Ok((goals, check_in))
}
