//! Room rules as pure functions: codes, names, timer settings, messages, seats. No I/O here, so
//! the REST API, signaling and the CLI share one definition of what is valid.

pub mod create;
pub mod record;
pub mod rituals;
pub mod service;
pub mod team;
pub mod text;
pub mod timer;

use serde::{Deserialize, Serialize};

use crate::errors::ApiError;

/// Room codes use upper-case letters and digits that cannot be confused (no 0/O/1/I/L).
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 6;

/// A fresh random room code.
pub fn new_code() -> String {
    let mut out = String::with_capacity(CODE_LEN);
    while out.len() < CODE_LEN {
        let mut buf = [0u8; 16];
        crate::auth::fill_random(&mut buf);
        for b in buf {
            // Rejection sampling keeps every symbol equally likely.
            let limit = 256 - (256 % CODE_ALPHABET.len());
            if (b as usize) < limit && out.len() < CODE_LEN {
                out.push(CODE_ALPHABET[b as usize % CODE_ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// Normalises a code typed by a person (case-insensitive, surrounding spaces ignored).
/// `None` when it cannot be a FlowSync code, so lookups of garbage never reach the database.
pub fn normalize_code(input: &str) -> Option<String> {
    let code = input.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// Per-room pomodoro durations, fixed at creation, and the room's focus rules (which its host
/// may change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerSettings {
    pub work_seconds: u32,
    pub short_break_seconds: u32,
    pub long_break_seconds: u32,
    pub long_break_every: u32,
    pub auto_start: bool,
    /// A room made before focus rules existed has the shipped defaults.
    #[serde(default)]
    pub focus: FocusPolicy,
}

/// A room's focus rules, which every page applies from the room's state (so they are in the
/// room's facts, and a newcomer knows them before joining): microphones muted when a work
/// block starts (each person may unmute, and nobody is told who did), chat without sounds or
/// notifications during work (a count waits for the break), and a banner during breaks. New
/// rooms take `rooms.focus_*`; the host changes them per room (`set-focus-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocusPolicy {
    pub mute_at_work_start: bool,
    pub quiet_chat: bool,
    pub break_banner: bool,
}

impl Default for FocusPolicy {
    fn default() -> Self {
        FocusPolicy {
            mute_at_work_start: false,
            quiet_chat: false,
            break_banner: true,
        }
    }
}

/// `set-focus-policy`: the rules to change (the others stay).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusInput {
    pub mute_at_work_start: Option<bool>,
    pub quiet_chat: Option<bool>,
    pub break_banner: Option<bool>,
}

impl FocusPolicy {
    pub fn with(self, change: FocusInput) -> FocusPolicy {
        FocusPolicy {
            mute_at_work_start: change.mute_at_work_start.unwrap_or(self.mute_at_work_start),
            quiet_chat: change.quiet_chat.unwrap_or(self.quiet_chat),
            break_banner: change.break_banner.unwrap_or(self.break_banner),
        }
    }
}

/// Timer settings as a client may send them: every field optional, defaults from config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerInput {
    pub work_seconds: Option<i64>,
    pub short_break_seconds: Option<i64>,
    pub long_break_seconds: Option<i64>,
    pub long_break_every: Option<i64>,
    pub auto_start: Option<bool>,
}

impl TimerInput {
    pub fn resolve(&self, defaults: TimerSettings) -> Result<TimerSettings, ApiError> {
        let secs = |name: &str, v: Option<i64>, d: u32| -> Result<u32, ApiError> {
            match v {
                None => Ok(d),
                Some(v) if (1..=14_400).contains(&v) => Ok(v as u32),
                Some(v) => Err(ApiError::validation(format!(
                    "timer.{name} must be between 1 and 14400 seconds, got {v}"
                ))),
            }
        };
        let every = match self.long_break_every {
            None => defaults.long_break_every,
            Some(v) if (1..=100).contains(&v) => v as u32,
            Some(v) => {
                return Err(ApiError::validation(format!(
                    "timer.long_break_every must be between 1 and 100, got {v}"
                )));
            }
        };
        Ok(TimerSettings {
            work_seconds: secs("work_seconds", self.work_seconds, defaults.work_seconds)?,
            short_break_seconds: secs(
                "short_break_seconds",
                self.short_break_seconds,
                defaults.short_break_seconds,
            )?,
            long_break_seconds: secs(
                "long_break_seconds",
                self.long_break_seconds,
                defaults.long_break_seconds,
            )?,
            long_break_every: every,
            auto_start: self.auto_start.unwrap_or(defaults.auto_start),
            focus: defaults.focus,
        })
    }
}

/// Display names: 1–50 characters once cleaned ([`text::clean_name`]: no invisible or control
/// characters, whitespace runs as one space, trimmed).
pub fn display_name(input: &str) -> Result<String, ApiError> {
    let name = text::clean_name(input);
    if name.is_empty() {
        return Err(ApiError::validation(
            "display_name must have visible characters (1 to 50)",
        ));
    }
    if name.chars().count() > 50 {
        return Err(ApiError::validation(
            "display_name must be 1 to 50 characters",
        ));
    }
    Ok(name)
}

/// Room names: optional, at most 80 characters once cleaned like display names. `None` when
/// none was given (or nothing visible): the room is then called "Room ABC123" after its code,
/// chosen on insert.
pub fn room_name(input: Option<&str>) -> Result<Option<String>, ApiError> {
    let name = text::clean_name(input.unwrap_or(""));
    if name.chars().count() > 80 {
        return Err(ApiError::validation("name must be at most 80 characters"));
    }
    Ok(Some(name).filter(|n| !n.is_empty()))
}

/// Room passwords: optional; when given, 4–128 characters.
pub fn password(input: Option<&str>) -> Result<Option<String>, ApiError> {
    match input {
        None | Some("") => Ok(None),
        Some(p) if (4..=128).contains(&p.chars().count()) => Ok(Some(p.to_owned())),
        Some(_) => Err(ApiError::validation("password must be 4 to 128 characters")),
    }
}

/// Slugs, the readable part of a standing room's link `/r/<slug>`: 3–40 lower-case letters,
/// digits and single hyphens, starting and ending with a letter or digit. Upper case is
/// lowered and spaces become hyphens, so "Design Team" is `design-team`.
pub fn slug(input: &str) -> Result<String, ApiError> {
    let s = input.trim().to_lowercase().replace([' ', '_'], "-");
    let ok = (3..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(s)
    } else {
        Err(ApiError::validation(
            "slug must be 3 to 40 letters, digits and single hyphens (like design-team)",
        ))
    }
}

/// A slug made from a room name: ASCII letters and digits kept, anything else a hyphen; too
/// short a result (a name in another script) falls back to `room`.
pub fn slug_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 32 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.len() >= 3 { out } else { "room".into() }
}

/// Days a standing room keeps its chat: 1 to 3650, 30 unless chosen.
pub fn retention_days(input: Option<i64>) -> Result<i64, ApiError> {
    match input {
        None => Ok(DEFAULT_RETENTION_DAYS),
        Some(d) if (1..=3650).contains(&d) => Ok(d),
        Some(_) => Err(ApiError::validation(
            "retention_days must be between 1 and 3650",
        )),
    }
}

/// A standing room's chat retention unless its host or the operator sets another.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// Device ids are random strings the browser keeps; anything else is ignored.
pub fn device_id(input: Option<&str>) -> Result<Option<String>, ApiError> {
    match input {
        None | Some("") => Ok(None),
        Some(d)
            if d.len() <= 64
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(d.to_owned()))
        }
        Some(_) => Err(ApiError::validation(
            "device_id must be up to 64 letters, digits, '-' or '_'",
        )),
    }
}

/// Chat message kinds a participant may send; `system` lines are written by the server only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Emoji,
    System,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::Emoji => "emoji",
            MessageType::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(MessageType::Text),
            "emoji" => Some(MessageType::Emoji),
            "system" => Some(MessageType::System),
            _ => None,
        }
    }
}

/// Checks the id a client chose for a chat line: 1-64 characters of `A-Z a-z 0-9 _ -`.
pub fn validate_client_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "client_id must be 1-64 characters of letters, digits, '_' and '-'",
        ))
    }
}

/// Validates a participant's chat message: cleaned ([`text::clean_chat`]: line breaks kept,
/// other control and invisible characters removed), 1..=max characters; emoji ≤ 16 characters.
pub fn chat_message(input: &str, kind: MessageType, max_chars: usize) -> Result<String, ApiError> {
    if kind == MessageType::System {
        return Err(ApiError::validation(
            "type must be \"text\" or \"emoji\"; system lines are written by the server",
        ));
    }
    let text = text::clean_chat(input);
    let len = text.chars().count();
    if len == 0 {
        return Err(ApiError::validation(
            "message must not be empty (invisible characters do not count)",
        ));
    }
    let max = if kind == MessageType::Emoji {
        16
    } else {
        max_chars
    };
    if len > max {
        return Err(ApiError::validation(format!(
            "message must be at most {max} characters"
        )));
    }
    Ok(text)
}

/// Capacity check on seats (connected, or disconnected within the grace period).
pub fn has_free_seat(seats_taken: i64, max_participants: i64) -> bool {
    seats_taken < max_participants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_readable_and_safe() {
        assert_eq!(slug("Design Team").unwrap(), "design-team");
        assert_eq!(slug("  ops_2027 ").unwrap(), "ops-2027");
        for bad in [
            "ab",
            "-ab",
            "ab-",
            "a--b",
            "ümlaut",
            "../x",
            "a/b",
            &"x".repeat(41),
        ] {
            assert!(slug(bad).is_err(), "{bad}");
        }
        assert_eq!(slug_from_name("Design Team: Daily!"), "design-team-daily");
        assert_eq!(slug_from_name("日本"), "room");
        assert!(slug(&slug_from_name(&"long name ".repeat(20))).is_ok());
        assert_eq!(retention_days(None).unwrap(), 30);
        assert!(retention_days(Some(0)).is_err());
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
            assert_eq!(normalize_code(&c.to_lowercase()), Some(c));
        }
    }

    #[test]
    fn garbage_codes_are_rejected() {
        assert_eq!(normalize_code("ABC12"), None);
        assert_eq!(normalize_code("ABCDE0"), None);
        assert_eq!(normalize_code("../etc"), None);
        assert_eq!(normalize_code(" abcdef "), Some("ABCDEF".into()));
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Ada ").ok().as_deref(), Some("Ada"));
        assert!(display_name("   ").is_err());
        assert!(display_name(&"x".repeat(51)).is_err());
        assert!(display_name(&"é".repeat(50)).is_ok());
        assert_eq!(display_name("a\u{0007}b").ok().as_deref(), Some("ab"));
        assert!(display_name("\u{200B}\u{200D}").is_err(), "nothing visible");
        assert_eq!(display_name("Host\u{200D}").ok().as_deref(), Some("Host"));
        assert_eq!(room_name(Some("  ")).ok(), Some(None));
        assert_eq!(
            room_name(Some(" Focus\u{202E} ")).ok(),
            Some(Some("Focus".into()))
        );
    }

    #[test]
    fn timer_input_bounds() {
        let d = TimerSettings {
            work_seconds: 1500,
            short_break_seconds: 300,
            long_break_seconds: 900,
            long_break_every: 4,
            auto_start: true,
            focus: FocusPolicy::default(),
        };
        assert_eq!(TimerInput::default().resolve(d).ok(), Some(d));
        let t = TimerInput {
            work_seconds: Some(14_401),
            ..Default::default()
        };
        assert!(t.resolve(d).is_err());
        let t = TimerInput {
            short_break_seconds: Some(0),
            ..Default::default()
        };
        assert!(t.resolve(d).is_err());
        let t = TimerInput {
            work_seconds: Some(2),
            auto_start: Some(false),
            ..Default::default()
        };
        let r = t.resolve(d).ok();
        assert_eq!(r.map(|r| (r.work_seconds, r.auto_start)), Some((2, false)));
    }

    #[test]
    fn chat_rules() {
        assert!(chat_message("  ", MessageType::Text, 10).is_err());
        assert!(chat_message("hello", MessageType::System, 10).is_err());
        assert!(chat_message(&"a".repeat(11), MessageType::Text, 10).is_err());
        assert_eq!(
            chat_message(" hi ", MessageType::Text, 10).ok().as_deref(),
            Some("hi")
        );
        assert!(chat_message(&"🎉".repeat(17), MessageType::Emoji, 2000).is_err());
    }

    #[test]
    fn seats() {
        assert!(has_free_seat(9, 10));
        assert!(!has_free_seat(10, 10));
    }
}
