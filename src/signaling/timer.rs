//! The timer service: host commands and phase ends applied to the database state with
//! compare-and-set (so concurrent changes, or several instances, apply each change exactly
//! once), then announced as `timer-update`. Phase ends are found by polling the indexed
//! `timer_ends_at` column, which also picks timers up after a restart. The change that ends a
//! work block hands it to `rituals` (check-ins), so each block ends once.

use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use tokio_util::sync::CancellationToken;

use super::protocol::server;
use super::{Hub, room_key};
use crate::clock::now_ms;
use crate::db;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::timer::{Command, TimerState, TimerView};

/// How often due phase ends are looked for (the worst-case delay of a `completed` update;
/// clients count down from `ends_at` and are not delayed by it).
const POLL: Duration = Duration::from_millis(100);

async fn save(
    hub: &Hub,
    room_id: &str,
    version: i64,
    state: &TimerState,
) -> Result<bool, ApiError> {
    let json = serde_json::to_string(state).map_err(ApiError::internal)?;
    db::live::timer_save(
        &hub.app.db,
        room_id,
        version,
        &json,
        state
            .ends_at
            .filter(|_| state.status == crate::rooms::timer::Status::Running),
    )
    .await
    .map_err(ApiError::from)
}

/// Applies a host command and tells the room.
pub async fn command<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    room_id: &str,
    cmd: Command,
) -> Result<TimerView, ApiError> {
    for _ in 0..5 {
        let (mut state, version, settings) = hub.app.stored_timer(room_id).await?;
        let now = now_ms();
        state.complete_due(now, &settings);
        state
            .apply(cmd, now, &settings)
            .map_err(|e| ApiError::validation(e.0.to_owned()).with_status(409))?;
        if save(hub, room_id, version, &state).await? {
            let view = state.view(now_ms());
            super::broadcast(io, room_key(room_id), server::TIMER_UPDATE, &view).await;
            super::rituals::blocks_ended(hub, io, room_id, &state.ended).await;
            return Ok(view);
        }
    }
    Err(ApiError::new(
        ErrorCode::Unavailable,
        "the timer is changing too fast; try again",
    ))
}

/// Advances one room's timer if its phase has ended; announces it if this call won.
async fn complete<A: Adapter>(hub: &Hub, io: &SocketIo<A>, room_id: &str) -> Result<(), ApiError> {
    let (mut state, version, settings) = hub.app.stored_timer(room_id).await?;
    if !state.complete_due(now_ms(), &settings) {
        return Ok(());
    }
    if save(hub, room_id, version, &state).await? {
        let view = state.view(now_ms());
        super::broadcast(io, room_key(room_id), server::TIMER_UPDATE, &view).await;
        super::rituals::blocks_ended(hub, io, room_id, &state.ended).await;
    }
    Ok(())
}

/// Background loop: phase ends, and activity for rooms with people in them.
pub async fn run<A: Adapter>(hub: Arc<Hub>, io: SocketIo<A>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_touch = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match db::live::timers_due(&hub.app.db, now_ms()).await {
            Ok(rooms) => {
                for room in rooms {
                    if let Err(e) = complete(&hub, &io, &room).await {
                        tracing::warn!(room = %room, error = %e, "timer phase end failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "timer poll failed"),
        }
        // A live connection is activity: occupied rooms do not expire.
        if last_touch.elapsed() > Duration::from_secs(300) {
            last_touch = std::time::Instant::now();
            let expires = now_ms() + crate::clock::ms(hub.app.config().rooms.idle_expiry);
            let rooms = io.local().rooms().await.unwrap_or_default();
            for room in rooms.iter().filter_map(|r| r.strip_prefix("r:")) {
                let _ = db::lifecycle::touch(&hub.app.db, room, expires).await;
            }
        }
    }
}
