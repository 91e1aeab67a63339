//! The time FlowSync keeps: unix milliseconds, the unit of every stored time, of the protocol's
//! times and of the timer. A leaf module: everything may use it, and it uses nothing else of
//! FlowSync.

use std::time::Duration;

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A duration in milliseconds (saturating: a duration too long for i64 is "forever").
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
