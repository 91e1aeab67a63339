//! The Socket.io protocol: event names (defined once) and typed payloads, as `SPEC.md` §4
//! describes them. Acknowledgements are `{ok: true, ...}` or `{ok: false, error: {code, message}}`.

use serde::{Deserialize, Serialize};

use crate::errors::ApiError;
use crate::rooms::rituals::Outcome;
use crate::rooms::timer::Phase;

/// Client → server events.
pub mod client {
    pub const OFFER: &str = "offer";
    pub const ANSWER: &str = "answer";
    pub const ICE_CANDIDATE: &str = "ice-candidate";
    pub const CHAT_MESSAGE: &str = "chat-message";
    pub const MEDIA_STATE: &str = "media-state";
    pub const RAISE_HAND: &str = "raise-hand";
    /// Host: lower one participant's hand, or everyone's.
    pub const LOWER_HAND: &str = "lower-hand";
    pub const START_PRESENTING: &str = "start-presenting";
    pub const STOP_PRESENTING: &str = "stop-presenting";
    pub const START_TIMER: &str = "start-timer";
    pub const PAUSE_TIMER: &str = "pause-timer";
    pub const RESUME_TIMER: &str = "resume-timer";
    pub const RESET_TIMER: &str = "reset-timer";
    pub const SKIP_TIMER: &str = "skip-timer";
    pub const KICK_PARTICIPANT: &str = "kick-participant";
    pub const END_ROOM: &str = "end-room";
    pub const TRANSFER_HOST: &str = "transfer-host";
    /// Become host with a standing room's host link.
    pub const CLAIM_HOST: &str = "claim-host";
    /// Host: the standing room's host-link key (optionally a new one).
    pub const HOST_LINK: &str = "host-link";
    /// Host: make the room standing (or change its slug or chat retention).
    pub const MAKE_STANDING: &str = "make-standing";
    pub const LEAVE_ROOM: &str = "leave-room";
    pub const CLOCK: &str = "clock";
    /// Set (or change) one's goal for the current or next work block: `{text}`.
    pub const SET_GOAL: &str = "set-goal";
    /// Remove one's goal for the current or next work block.
    pub const CLEAR_GOAL: &str = "clear-goal";
    /// Answer the check-in of an ended block: `{block, outcome, note?}`.
    pub const CHECK_IN: &str = "check-in";
    /// Show one's status: `{status: "auto"|"focusing"|"on_break"|"away"}`.
    pub const SET_STATUS: &str = "set-status";
    /// Host: the room's focus rules `{mute_at_work_start?, quiet_chat?, break_banner?}`.
    pub const SET_FOCUS_POLICY: &str = "set-focus-policy";

    /// Every event a client may send.
    pub const ALL: &[&str] = &[
        OFFER,
        ANSWER,
        ICE_CANDIDATE,
        CHAT_MESSAGE,
        MEDIA_STATE,
        RAISE_HAND,
        LOWER_HAND,
        START_PRESENTING,
        STOP_PRESENTING,
        START_TIMER,
        PAUSE_TIMER,
        RESUME_TIMER,
        RESET_TIMER,
        SKIP_TIMER,
        KICK_PARTICIPANT,
        END_ROOM,
        TRANSFER_HOST,
        CLAIM_HOST,
        HOST_LINK,
        MAKE_STANDING,
        LEAVE_ROOM,
        CLOCK,
        SET_GOAL,
        CLEAR_GOAL,
        CHECK_IN,
        SET_STATUS,
        SET_FOCUS_POLICY,
    ];
}

/// Server → client events.
pub mod server {
    pub const ROOM_JOINED: &str = "room-joined";
    pub const USER_JOINED: &str = "user-joined";
    pub const USER_LEFT: &str = "user-left";
    /// A seat was taken over REST; its socket has not arrived yet (`PendingView`).
    pub const PARTICIPANT_PENDING: &str = "participant-pending";
    pub const CHAT_MESSAGE: &str = "chat-message";
    pub const MEDIA_STATE: &str = "media-state";
    pub const HAND_RAISED: &str = "hand-raised";
    pub const PRESENTER_CHANGED: &str = "presenter-changed";
    pub const TIMER_UPDATE: &str = "timer-update";
    pub const KICKED: &str = "kicked";
    pub const ROOM_ENDED: &str = "room-ended";
    pub const HOST_CHANGED: &str = "host-changed";
    /// The room's public facts changed (made standing): `{room}`.
    pub const ROOM_UPDATED: &str = "room-updated";
    pub const SESSION_REPLACED: &str = "session-replaced";
    pub const SERVER_RESTARTING: &str = "server-restarting";
    pub const ERROR: &str = "error";
    /// Someone's goal was set, changed, cleared or checked in: `{participant_id, block, goal}`.
    pub const GOAL_UPDATED: &str = "goal-updated";
    /// To the owner of each goal of a block that just ended: `{block, goal}`.
    pub const CHECK_IN_REQUESTED: &str = "check-in-requested";
    /// Someone's status changed: `{participant_id, status}`.
    pub const STATUS_CHANGED: &str = "status-changed";

    /// Every event the server sends (relayed signaling keeps the client's names).
    pub const ALL: &[&str] = &[
        ROOM_JOINED,
        USER_JOINED,
        USER_LEFT,
        PARTICIPANT_PENDING,
        CHAT_MESSAGE,
        MEDIA_STATE,
        HAND_RAISED,
        PRESENTER_CHANGED,
        TIMER_UPDATE,
        KICKED,
        ROOM_ENDED,
        HOST_CHANGED,
        ROOM_UPDATED,
        SESSION_REPLACED,
        SERVER_RESTARTING,
        ERROR,
        GOAL_UPDATED,
        CHECK_IN_REQUESTED,
        STATUS_CHANGED,
    ];
}

/// Handshake `auth` payload.
#[derive(Debug, Deserialize)]
pub struct Auth {
    pub token: String,
}

/// A relay's payload as it came: each top-level field as its raw JSON text. Relays are most of
/// the traffic and carry SDPs of a few KiB, so they are neither parsed into a tree nor escaped
/// again on the way out (serde_json checks the text and copies it).
pub type RelayBody = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;

/// `offer` / `answer` / `ice-candidate` `{to, ...}`: the body is relayed untouched, so any SDP or
/// candidate shape a browser produces passes; only `to` is interpreted. Returns `to` and the
/// rest of the body.
pub fn relay_parts(event: &str, body: Option<RelayBody>) -> Result<(String, RelayBody), ApiError> {
    let Some(mut body) = body else {
        return Err(ApiError::validation(format!(
            "invalid {event} payload: expected an object with `to`"
        )));
    };
    let to = body.remove("to").ok_or_else(|| {
        ApiError::validation(format!("invalid {event} payload: missing field `to`"))
    })?;
    serde_json::from_str::<String>(to.get())
        .map(|to| (to, body))
        .map_err(|_| {
            ApiError::validation(format!(
                "invalid {event} payload: `to` must be a participant id"
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatIn {
    pub message: String,
    #[serde(rename = "type", default = "text")]
    pub kind: String,
    /// An id the client chose for this line (1-64 of `A-Z a-z 0-9 _ -`), so that resending it
    /// after a reconnect stores it once.
    #[serde(default)]
    pub client_id: Option<String>,
}

fn text() -> String {
    "text".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaiseHand {
    pub raised: bool,
}

/// `lower-hand`: the host lowers `participant_id`'s hand, or with `all: true` every hand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowerHand {
    pub participant_id: Option<String>,
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartTimer {
    pub phase: Option<Phase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub participant_id: String,
}

/// `claim-host`: the key from a host link (`#host=<key>`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimHost {
    pub host_key: String,
}

/// `host-link`: `rotate` replaces the link (the old one stops working).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostLink {
    #[serde(default)]
    pub rotate: bool,
}

/// `make-standing`: the slug (made from the room's name when absent) and chat retention.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeStanding {
    pub slug: Option<String>,
    pub retention_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    pub client_time: f64,
}

/// `set-goal`: the goal for the current work block (or, during a break, the next one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetGoal {
    pub text: String,
}

/// `check-in`: how the ended `block` went for one's goal, with an optional note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub block: u64,
    pub outcome: Outcome,
    #[serde(default)]
    pub note: Option<String>,
}

/// One goal, in `goal-updated`, `check-in-requested`, acks and the `goals` of `room-joined`.
pub use crate::rooms::record::GoalView;

/// What someone shows about themselves: `auto` follows the timer (focusing during work, on
/// break during a break); the others are chosen (or `away`, set by the page when its tab was
/// hidden through a whole work block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Auto,
    Focusing,
    OnBreak,
    Away,
}

impl Status {
    /// As presence stores it (an integer flag; 0, the default, is `auto`).
    pub fn code(self) -> i64 {
        match self {
            Status::Auto => 0,
            Status::Focusing => 1,
            Status::OnBreak => 2,
            Status::Away => 3,
        }
    }

    pub fn from_code(code: i64) -> Status {
        match code {
            1 => Status::Focusing,
            2 => Status::OnBreak,
            3 => Status::Away,
            _ => Status::Auto,
        }
    }
}

/// `set-status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub status: Status,
}

/// One participant in `room-joined` and `user-joined`.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    pub participant_id: String,
    pub display_name: String,
    pub role: String,
    pub hand_raised: bool,
    /// When the hand went up (server ms), so every page shows the same queue; null when down.
    pub hand_raised_at: Option<i64>,
    pub audio: bool,
    pub video: bool,
    pub presenting: bool,
    pub status: Status,
}

/// Builds an acknowledgement body.
pub fn ack_ok(extra: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({ "ok": true });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

pub fn ack_err(e: &ApiError) -> serde_json::Value {
    serde_json::json!({ "ok": false, "error": { "code": e.code, "message": e.message } })
}

/// Parses a payload into its typed form; malformed input is a `VALIDATION` error naming the event.
pub fn parse<T: serde::de::DeserializeOwned>(
    event: &str,
    value: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("invalid {event} payload: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Option<RelayBody> {
        serde_json::from_str(json).ok()
    }

    #[test]
    fn a_relay_keeps_its_fields_as_sent_and_gives_up_to() {
        let sdp = r#"{"type":"offer","sdp":"v=0\r\no=- 0 2 IN IP4 127.0.0.1\r\n","t":1}"#;
        let (to, mut rest) = relay_parts(
            "offer",
            body(&format!(r#"{{"to":"p_\u0041b","offer":{sdp}}}"#)),
        )
        .expect("a valid relay");
        assert_eq!(to, "p_Ab");
        let from = serde_json::value::to_raw_value("p_\"me\"").expect("a string");
        rest.insert("from".into(), from);
        let out = serde_json::to_string(&rest).expect("serialises");
        assert_eq!(out, format!(r#"{{"from":"p_\"me\"","offer":{sdp}}}"#));
    }

    #[test]
    fn a_relay_without_a_string_to_is_refused_with_the_reason() {
        let reason = |json: &str| {
            relay_parts("offer", body(json))
                .expect_err("refused")
                .to_string()
        };
        assert!(reason(r#"{"offer":{}}"#).contains("missing field `to`"));
        assert!(reason(r#"{"to":5,"offer":{}}"#).contains("must be a participant id"));
        assert!(reason(r#"["to"]"#).contains("expected an object"));
        assert!(reason("null").contains("expected an object"));
    }
}
