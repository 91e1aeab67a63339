//! `/api/rooms/{code}/messages`: history pages (newest first by cursor), posting, and the
//! transcript export (bearer token, or a short-lived signed link for plain downloads).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{ApiJson, ApiQuery, MaybeParticipant, Participant};
use super::rooms::same_room;
use crate::app::SharedApp;
use crate::clock::now_ms;
use crate::db;
use crate::errors::{ApiError, ErrorCode};
use crate::rooms::MessageType;
use crate::rooms::record::{self, Day, DayRecord};
use crate::rooms::service::MessageView;
use crate::rooms::text::transcript_body;
use crate::timefmt::{human, rfc3339};

/// How long a signed export link works.
const LINK_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET …/messages?before=ID&limit=N` → `{messages (oldest→newest), next_before}`.
pub async fn list(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    Participant(who): Participant,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    same_room(&who, &code)?;
    app.require_in_room(&who.participant_id).await?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 200"));
    }
    let (rows, next) = db::messages::page(&app.db, &who.room_id, p.before, limit).await?;
    let messages: Vec<MessageView> = rows.iter().map(MessageView::from).collect();
    Ok(Json(
        serde_json::json!({ "messages": messages, "next_before": next }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostBody {
    message: String,
    #[serde(rename = "type", default = "text")]
    kind: String,
}

fn text() -> String {
    "text".into()
}

/// `POST …/messages` `{message, type}` → 201 with the stored message (also sent live).
pub async fn post(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    Participant(who): Participant,
    ApiJson(body): ApiJson<PostBody>,
) -> Result<impl IntoResponse, ApiError> {
    same_room(&who, &code)?;
    app.require_in_room(&who.participant_id).await?;
    let kind = MessageType::parse(&body.kind)
        .filter(|k| *k != MessageType::System)
        .ok_or_else(|| ApiError::validation("type must be \"text\" or \"emoji\""))?;
    let row = app.post_message(&who, &body.message, kind).await?;
    Ok((StatusCode::CREATED, Json(MessageView::from(&row))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    format: Option<String>,
    /// The reader's UTC offset in minutes east, for the days of the record (default UTC).
    #[serde(default)]
    utc_offset: i32,
    /// Signed-link fields: participant, expiry (unix seconds), signature.
    p: Option<String>,
    exp: Option<i64>,
    sig: Option<String>,
}

fn link_payload(code: &str, participant: &str, exp: i64) -> String {
    format!("export|{code}|{participant}|{exp}")
}

/// `POST …/messages/export-link` → `{url, expires_at}`: a link that downloads the transcript
/// without a header (for `<a download>`), valid for five minutes.
pub async fn export_link(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    Participant(who): Participant,
) -> Result<Json<serde_json::Value>, ApiError> {
    same_room(&who, &code)?;
    app.require_in_room(&who.participant_id).await?;
    let exp = now_ms() / 1000 + LINK_TTL.as_secs() as i64;
    let sig = crate::auth::sign(
        &app.link_key,
        &link_payload(&who.room_code, &who.participant_id, exp),
    );
    let url = format!(
        "/api/rooms/{}/messages/export?p={}&exp={exp}&sig={sig}",
        who.room_code, who.participant_id
    );
    Ok(Json(
        serde_json::json!({ "url": url, "expires_at": rfc3339(exp * 1000) }),
    ))
}

/// `GET …/messages/export?format=json|txt|md`: the whole transcript as a download, with the
/// room's record of work blocks, goals and check-ins (JSON and Markdown) day by day.
pub async fn export(
    State(app): State<SharedApp>,
    Path(code): Path<String>,
    MaybeParticipant(who): MaybeParticipant,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let room = app.find_active_room(&code).await?;
    let participant = match who {
        Some(who) => {
            same_room(&who, &code)?;
            who.participant_id
        }
        None => check_signed_link(&app, &room, &q)?,
    };
    // Whoever exports is in the room now (the link dies with its participant's seat).
    app.require_in_room(&participant).await?;
    let rows = db::messages::all(&app.db, &room.id).await?;
    let format = q.format.as_deref().unwrap_or("json");
    let record = match format {
        "json" | "md" => {
            let offset = Day::parse(None, q.utc_offset, now_ms())?.offset;
            record::all_days(&app.db, &room, offset).await?
        }
        _ => Vec::new(),
    };
    let (body, mime, ext) = match format {
        "json" => {
            let messages: Vec<MessageView> = rows.iter().map(MessageView::from).collect();
            let doc = serde_json::json!({
                "room": { "code": room.code, "name": room.name },
                "exported_at": rfc3339(now_ms()),
                "messages": messages,
                "record": record,
            });
            (
                serde_json::to_string_pretty(&doc).map_err(ApiError::internal)?,
                "application/json",
                "json",
            )
        }
        "txt" => (
            transcript_text(&room.name, &room.code, &rows),
            "text/plain; charset=utf-8",
            "txt",
        ),
        "md" => (
            transcript_markdown(&room.name, &room.code, &rows, &record),
            "text/markdown; charset=utf-8",
            "md",
        ),
        _ => return Err(ApiError::validation("format must be json, txt or md")),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"flowsync-{}-chat.{ext}\"",
        room.code
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The participant a signed export link names, if its signature holds and it has not expired.
fn check_signed_link(
    app: &SharedApp,
    room: &crate::db::models::RoomRow,
    q: &ExportParams,
) -> Result<String, ApiError> {
    let unauthorized = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "send the room token, or use a fresh export link",
        )
    };
    let (Some(p), Some(exp), Some(sig)) = (&q.p, q.exp, &q.sig) else {
        return Err(unauthorized());
    };
    if !crate::auth::verify_signature(&app.link_key, &link_payload(&room.code, p, exp), sig) {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "this export link is not valid",
        ));
    }
    if exp < now_ms() / 1000 {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "this export link has expired; create a new one",
        ));
    }
    Ok(p.clone())
}

/// A plain-text transcript, one entry per message; a message's further lines are indented
/// ([`transcript_body`]), so only the server starts a line with `[time]`.
pub fn transcript_text(name: &str, code: &str, rows: &[crate::db::models::MessageRow]) -> String {
    let mut out = format!(
        "FlowSync chat transcript: {name} ({code})\nExported {}\n\n",
        human(now_ms())
    );
    for m in rows {
        let line = if m.kind == "system" {
            format!("[{}] * {}\n", human(m.created_at), transcript_body(&m.body))
        } else {
            format!(
                "[{}] {}: {}\n",
                human(m.created_at),
                m.sender_name,
                transcript_body(&m.body)
            )
        };
        out.push_str(&line);
    }
    out
}

/// The Markdown transcript: the record of the work blocks day by day, then the chat as in the
/// plain-text transcript (in a code block, so nobody's message becomes Markdown).
pub fn transcript_markdown(
    name: &str,
    code: &str,
    rows: &[crate::db::models::MessageRow],
    days: &[DayRecord],
) -> String {
    let mut out = format!(
        "# {name} ({code})\n\nExported {} from FlowSync.\n\n## Work blocks\n\n",
        human(now_ms())
    );
    if days.is_empty() {
        out.push_str("No work blocks or goals are on record.\n\n");
    }
    for day in days {
        out.push_str(&record::markdown(day));
        out.push('\n');
    }
    let text = transcript_text(name, code, rows);
    let chat = text.split_once("\n\n").map(|(_, rest)| rest).unwrap_or("");
    // A fence longer than any run of backticks in the chat.
    let longest = chat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    out.push_str(&format!("## Chat\n\n{fence}text\n{chat}{fence}\n"));
    out
}
