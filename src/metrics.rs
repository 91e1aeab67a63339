//! Counters exposed at `/metrics` in the Prometheus text format. Plain atomics: no registry
//! crate, no locks on the request path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_errors_4xx: AtomicU64,
    pub http_errors_5xx: AtomicU64,
    pub rooms_created: AtomicU64,
    pub rooms_joined: AtomicU64,
    pub rooms_ended: AtomicU64,
    pub rooms_expired: AtomicU64,
    pub messages_posted: AtomicU64,
    pub rate_limited: AtomicU64,
    pub password_failures: AtomicU64,
    /// Socket.IO connections closed because they stopped reading (their queue was full).
    pub slow_consumers_dropped: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Renders every counter plus the gauges passed in.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "flowsync_http_requests_total",
                "HTTP requests served",
                &self.http_requests,
            ),
            (
                "flowsync_http_client_errors_total",
                "HTTP responses with a 4xx status",
                &self.http_errors_4xx,
            ),
            (
                "flowsync_http_server_errors_total",
                "HTTP responses with a 5xx status",
                &self.http_errors_5xx,
            ),
            (
                "flowsync_rooms_created_total",
                "rooms created",
                &self.rooms_created,
            ),
            (
                "flowsync_rooms_joined_total",
                "successful joins",
                &self.rooms_joined,
            ),
            (
                "flowsync_rooms_ended_total",
                "rooms ended by a host or operator",
                &self.rooms_ended,
            ),
            (
                "flowsync_rooms_expired_total",
                "rooms expired by the sweeper",
                &self.rooms_expired,
            ),
            (
                "flowsync_messages_total",
                "chat messages stored",
                &self.messages_posted,
            ),
            (
                "flowsync_rate_limited_total",
                "requests refused by a rate limit",
                &self.rate_limited,
            ),
            (
                "flowsync_password_failures_total",
                "wrong room passwords",
                &self.password_failures,
            ),
            (
                "flowsync_slow_consumers_dropped_total",
                "signaling connections closed because they stopped reading",
                &self.slow_consumers_dropped,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Relaxed)
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}
