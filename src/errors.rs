//! The one table of error codes FlowSync answers with, shared by the REST API and Socket.io.
//!
//! Policy: handlers return [`ApiError`]; its `code` is stable (clients branch on it), its
//! `message` is for people, lowercase, and says what to do. Internal failures are logged with
//! their cause and answered with `INTERNAL`, never with the cause itself.

use std::fmt;

/// A stable, documented error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400/422: the request is malformed or a field is out of range.
    Validation,
    /// 401: no token was sent.
    Unauthorized,
    /// 401: the token is unknown, revoked or belongs to an ended room.
    InvalidToken,
    /// 403: the token is valid but may not do this (not host, another room, not loopback).
    Forbidden,
    /// 404: no route here.
    NotFound,
    /// 404: no room has this code.
    RoomNotFound,
    /// 410: the room expired or was ended.
    RoomExpired,
    /// 403: every seat is taken.
    RoomFull,
    /// 403: this device was removed from the room by its host.
    Kicked,
    /// 401: the room password is wrong or missing.
    WrongPassword,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 405: the method is not allowed on this path.
    MethodNotAllowed,
    /// 409: the participant is not in the room (signaling).
    NotInRoom,
    /// 409: someone else is already presenting (signaling).
    PresenterExists,
    /// 503: a dependency (database, Redis) is unreachable or the server is overloaded.
    Unavailable,
    /// 500: a bug or an unexpected failure; the log has the cause.
    Internal,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Validation,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidToken,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RoomNotFound,
        ErrorCode::RoomExpired,
        ErrorCode::RoomFull,
        ErrorCode::Kicked,
        ErrorCode::WrongPassword,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotInRoom,
        ErrorCode::PresenterExists,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Validation => 422,
            ErrorCode::Unauthorized | ErrorCode::InvalidToken | ErrorCode::WrongPassword => 401,
            ErrorCode::Forbidden | ErrorCode::RoomFull | ErrorCode::Kicked => 403,
            ErrorCode::NotFound | ErrorCode::RoomNotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::NotInRoom | ErrorCode::PresenterExists => 409,
            ErrorCode::RoomExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::RoomNotFound => "ROOM_NOT_FOUND",
            ErrorCode::RoomExpired => "ROOM_EXPIRED",
            ErrorCode::RoomFull => "ROOM_FULL",
            ErrorCode::Kicked => "KICKED",
            ErrorCode::WrongPassword => "WRONG_PASSWORD",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::NotInRoom => "NOT_IN_ROOM",
            ErrorCode::PresenterExists => "PRESENTER_EXISTS",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
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
