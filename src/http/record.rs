//! `GET /api/rooms/{code}/record?date=YYYY-MM-DD&utc_offset=MIN`: one day of the room's record
//! (work blocks, goals and check-ins, the tally, streaks in a standing room) for the Today
//! panel. The day is the caller's: the browser sends its date and UTC offset (minutes east).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::extract::{ApiQuery, Participant};
use super::rooms::same_room;
use crate::app::SharedApp;
use crate::clock::now_ms;
use crate::errors::ApiError;
use crate::rooms::record::{Day, DayRecord, day_record};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    date: Option<String>,
    #[serde(default)]
    utc_offset: i32,
}

pub async fn day(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    Participant(who): Participant,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<DayRecord>, ApiError> {
    same_room(&who, &code)?;
    app.require_in_room(&who.participant_id).await?;
    let day = Day::parse(q.date.as_deref(), q.utc_offset, now_ms())?;
    let room = app.find_active_room(&code).await?;
    Ok(Json(day_record(&app.db, &room, day).await?))
}
