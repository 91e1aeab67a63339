//! The host role: handed to a participant (by the host, or on a departure), or taken by an
//! arrival in a room where no host is present, so control of a room is never lost.

use std::sync::Arc;

use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::presence::unavailable as presence_error;
use super::protocol::server;
use super::{Hub, broadcast, room_key};
use crate::clock::now_ms;
use crate::db;
use crate::errors::{ApiError, ErrorCode};

/// Makes `participant_id` the host (database, caches, live room) and tells the room.
pub async fn make_host<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    room_id: &str,
    participant_id: &str,
) -> Result<(), ApiError> {
    let hashes = db::live::set_host(&hub.app.db, room_id, participant_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotInRoom, "no such participant in your room"))?;
    announce_host(hub, io, room_id, participant_id, &hashes).await
}

/// After the database changed the host: the auth cache forgets the changed roles, the live
/// room takes the new host, and the room hears `host-changed`.
async fn announce_host<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    room_id: &str,
    participant_id: &str,
    changed_token_hashes: &[String],
) -> Result<(), ApiError> {
    let _ = hub.app.state.auth_invalidate(changed_token_hashes).await;
    hub.live
        .set_host(room_id, participant_id)
        .await
        .map_err(presence_error)?;
    let body = json!({ "participant_id": participant_id });
    broadcast(io, room_key(room_id), server::HOST_CHANGED, &body).await;
    Ok(())
}

/// Makes `participant_id`, who just arrived, host of a room where no host is present (the host
/// left alone, or its grace ran out with nobody there): control of a room is never lost. True
/// when it did. A host still within its reconnect grace, or still arriving (its seat taken
/// over REST, its socket not here yet), holds its seat: nobody takes its place.
pub async fn take_vacant_host<A: Adapter>(
    hub: &Arc<Hub>,
    io: &SocketIo<A>,
    room_id: &str,
    participant_id: &str,
) -> Result<bool, ApiError> {
    let (present, _) = hub.live.snapshot(room_id).await.map_err(presence_error)?;
    if present.iter().any(|p| p.role == "host") {
        return Ok(false);
    }
    let cutoff = now_ms() - crate::clock::ms(hub.app.config().rooms.reconnect_grace);
    let Some(hashes) = db::live::claim_host(&hub.app.db, room_id, participant_id, cutoff).await?
    else {
        return Ok(false);
    };
    announce_host(hub, io, room_id, participant_id, &hashes).await?;
    Ok(true)
}
