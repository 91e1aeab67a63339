//! `/api/rooms` and `/api/ice-servers`: create, look up, join and end rooms.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::extract::{ApiJson, ClientIp, MaybeOperator, Participant};
use crate::app::SharedApp;
use crate::clock::now_ms;
use crate::errors::{ApiError, ErrorCode};
use crate::ice::ice_servers;
use crate::rooms::service::{CreateRoom, Creator, JoinRoom, RoomLookup};

/// `POST /api/rooms`, rate-limited per address, under `rooms.create_policy`; the operator
/// (admin socket or token) may always create, without the rate limit.
pub async fn create(
    State(app): State<SharedApp>,
    ip: ClientIp,
    MaybeOperator(operator): MaybeOperator,
    ApiJson(req): ApiJson<CreateRoom>,
) -> Result<impl IntoResponse, ApiError> {
    let by = if operator {
        Creator::Operator
    } else {
        app.check_rate("create", ip.ip, app.config().rooms.create_rate_per_ip)
            .await?;
        Creator::Public
    };
    let joined = app.create_room(req, by).await?;
    Ok((StatusCode::CREATED, Json(joined)))
}

/// `GET /api/rooms/{code}`: public facts about a room; 404 unknown, 410 ended/expired.
/// Rate-limited per address, so codes cannot be guessed by trying them.
pub async fn get(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Path(code): Path<String>,
) -> Result<Json<RoomLookup>, ApiError> {
    app.check_rate("lookup", ip.ip, app.config().rooms.lookup_rate_per_ip)
        .await?;
    Ok(Json(app.lookup_room(&code).await?))
}

/// `GET /api/slugs/{slug}`: the standing room whose readable link is `/r/<slug>`, as
/// `GET /api/rooms/{code}` answers (404 unknown, 410 ended). Rate-limited like lookups.
pub async fn by_slug(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Path(slug): Path<String>,
) -> Result<Json<RoomLookup>, ApiError> {
    app.check_rate("lookup", ip.ip, app.config().rooms.lookup_rate_per_ip)
        .await?;
    let not_found = || {
        ApiError::new(
            ErrorCode::RoomNotFound,
            format!("no room has the link /r/{slug}"),
        )
    };
    let slug = crate::rooms::slug(&slug).map_err(|_| not_found())?;
    let code = crate::db::rooms::code_by_slug(&app.db, &slug)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(app.lookup_room(&code).await?))
}

/// `POST /api/rooms/{code}/join`, rate-limited per address (this is where passwords are guessed).
pub async fn join(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<JoinRoom>,
) -> Result<impl IntoResponse, ApiError> {
    app.check_rate("join", ip.ip, app.config().rooms.join_rate_per_ip)
        .await?;
    Ok(Json(app.join_room(&code, req).await?))
}

/// `DELETE /api/rooms/{code}`: the host ends the room for everyone.
pub async fn delete(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    Participant(who): Participant,
) -> Result<StatusCode, ApiError> {
    same_room(&who, &code)?;
    if !who.is_host() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the host can end the room",
        ));
    }
    app.end_room(&who.room_id, &who.room_code, "ended").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/ice-servers`: fresh time-limited TURN credentials for the caller.
pub async fn ice(
    State(app): State<SharedApp>,
    Participant(who): Participant,
) -> Json<serde_json::Value> {
    let servers = ice_servers(
        &app.config().turn,
        &who.participant_id,
        (now_ms() / 1000) as u64,
    );
    Json(serde_json::json!({
        "ice_servers": servers,
        "ttl_seconds": app.config().turn.credential_ttl.as_secs(),
    }))
}

/// A token works only for its own room.
pub fn same_room(who: &crate::db::models::AuthRow, code: &str) -> Result<(), ApiError> {
    if crate::rooms::normalize_code(code).as_deref() == Some(who.room_code.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "this token belongs to another room",
        ))
    }
}
