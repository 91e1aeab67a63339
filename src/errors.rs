//! The one table of error codes FlowSync answers with, shared by the REST API and Socket.io.
//!
//! Policy: handlers return [`ApiError`]; its `code` is stable (clients branch on it), its
//! `message` is for people, lowercase, and says what to do. Internal failures are logged with
//! their cause and answered with `INTERNAL`, never with the cause itself.

use std::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $status:literal;)*) => {
        /// A stable, documented error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the reference table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// The code as clients see it (JSON and Socket.io acks).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

// Each code once: its meaning, its name on the wire and its HTTP status.
error_codes! {
    /// 400/422: the request is malformed or a field is out of range.
    Validation = "VALIDATION", 422;
    /// 401: no token was sent.
    Unauthorized = "UNAUTHORIZED", 401;
    /// 401: the token is unknown, revoked or belongs to an ended room.
    InvalidToken = "INVALID_TOKEN", 401;
    /// 403: the token is valid but may not do this (not host, another room, not loopback).
    Forbidden = "FORBIDDEN", 403;
    /// 404: no route here.
    NotFound = "NOT_FOUND", 404;
    /// 404: no room has this code.
    RoomNotFound = "ROOM_NOT_FOUND", 404;
    /// 410: the room expired or was ended.
    RoomExpired = "ROOM_EXPIRED", 410;
    /// 403: every seat is taken.
    RoomFull = "ROOM_FULL", 403;
    /// 403: this device was removed from the room by its host.
    Kicked = "KICKED", 403;
    /// 401: the room password is wrong or missing.
    WrongPassword = "WRONG_PASSWORD", 401;
    /// 429: too many requests; see `Retry-After`.
    RateLimited = "RATE_LIMITED", 429;
    /// 413: the body is too large.
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", 413;
    /// 405: the method is not allowed on this path.
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405;
    /// 409: the participant is not in the room (signaling).
    NotInRoom = "NOT_IN_ROOM", 409;
    /// 409: someone else is already presenting (signaling).
    PresenterExists = "PRESENTER_EXISTS", 409;
    /// 409: another room (or the tombstone of one) has this slug.
    SlugTaken = "SLUG_TAKEN", 409;
    /// 403: creating rooms here needs the team's create link (`rooms.create_policy = "link"`)
    /// or is for the operator only (`"operator"`).
    CreateNotAllowed = "CREATE_NOT_ALLOWED", 403;
    /// 503: a dependency (database, Redis) is unreachable or the server is overloaded.
    Unavailable = "UNAVAILABLE", 503;
    /// 500: a bug or an unexpected failure; the log has the cause.
    Internal = "INTERNAL", 500;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to a client: a code, a message for people, and for 400-vs-422 and 429
/// the details the transport needs.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Overrides the code's default status (e.g. 400 for unparsable JSON).
    pub status: Option<u16>,
    /// Seconds until a rate-limited client may retry.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                ErrorCode::RateLimited,
                format!("too many requests; try again in {} s", retry_after.max(1)),
            )
        }
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// Logs `cause` and answers `INTERNAL` without revealing it.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "internal error; the server log has details",
        )
    }

    /// Logs `cause` and answers `UNAVAILABLE`.
    pub fn unavailable(what: &str, cause: impl fmt::Display) -> Self {
        tracing::warn!(error = %cause, "{what} unavailable");
        let mut e = Self::new(
            ErrorCode::Unavailable,
            format!("{what} is unavailable; try again shortly"),
        );
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        e
    }
}

/// Seconds a client is asked to wait after `UNAVAILABLE` (a dependency that is restarting, a
/// disk being freed).
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Markdown table of every code, for the HTTP reference (docs/reference/http-api.md).
pub fn markdown_table() -> String {
    let mut out = String::from("| code | HTTP status |\n|---|---|\n");
    for c in ErrorCode::ALL {
        out.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.status()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for c in ErrorCode::ALL {
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
    }
}
