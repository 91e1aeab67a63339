//! Socket.IO sessions that have not authenticated yet. Opening an engine session costs nothing
//! but a request, and the socket is only asked for its token afterwards (the namespace
//! connect), so sessions that never authenticate are held to two caps: per client address
//! (`server.unauthenticated_sockets_per_ip`; behind a trusted proxy, the forwarded client) and
//! in all (`server.max_unauthenticated_sockets`). A session counts from the request that opened
//! it until it authenticates, or until [`AUTH_TIMEOUT`] has passed, when the engine has closed
//! it anyway. Over a cap, the opening request is answered 429 `RATE_LIMITED` with `Retry-After`.
//! Addresses in `server.connection_cap_exempt` are not counted.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::config::Config;
use crate::errors::ApiError;

/// How long a new Socket.IO session has to authenticate (socketioxide's `connect_timeout`;
/// the browser client sends its token at once).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Admission {
    per_ip: usize,
    total: usize,
    trusted: Vec<IpNet>,
    exempt: Vec<IpNet>,
    v6_prefix: u8,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    by_ip: HashMap<IpAddr, VecDeque<Instant>>,
    count: usize,
}

impl Open {
    /// Forgets sessions older than [`AUTH_TIMEOUT`] for `key`.
    fn expire(&mut self, key: IpAddr, now: Instant) {
        if let Some(q) = self.by_ip.get_mut(&key) {
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) >= AUTH_TIMEOUT)
            {
                q.pop_front();
                self.count -= 1;
            }
            if q.is_empty() {
                self.by_ip.remove(&key);
            }
        }
    }

    fn expire_all(&mut self, now: Instant) {
        let keys: Vec<IpAddr> = self.by_ip.keys().copied().collect();
        for k in keys {
            self.expire(k, now);
        }
    }
}

impl Admission {
    pub fn new(config: &Config) -> Arc<Self> {
        let s = &config.server;
        Arc::new(Admission {
            per_ip: s.unauthenticated_sockets_per_ip as usize,
            total: s.max_unauthenticated_sockets as usize,
            trusted: s.trusted_proxies.clone(),
            exempt: s.connection_cap_exempt.clone(),
            v6_prefix: s.rate_limit_ipv6_prefix,
            open: Mutex::new(Open::default()),
        })
    }

    /// The address a request from `peer` counts under, or None when it is exempt.
    pub fn key(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let ip = crate::http::extract::client_ip(peer.ip(), headers, &self.trusted);
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return None;
        }
        Some(crate::http::serve::limit_key(ip, self.v6_prefix))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new session from `key`, or says in how many seconds to retry.
    pub fn open(&self, key: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut open = self.lock();
        open.expire(key, now);
        if open.count >= self.total {
            open.expire_all(now);
        }
        let mine = open.by_ip.get(&key).map_or(0, VecDeque::len);
        let full = |q: Option<&VecDeque<Instant>>| {
            q.and_then(|q| q.front())
                .map(|t| {
                    AUTH_TIMEOUT
                        .saturating_sub(now.duration_since(*t))
                        .as_secs()
                        + 1
                })
                .unwrap_or(1)
        };
        if mine >= self.per_ip {
            return Err(full(open.by_ip.get(&key)));
        }
        if open.count >= self.total {
            return Err(AUTH_TIMEOUT.as_secs());
        }
        open.by_ip.entry(key).or_default().push_back(now);
        open.count += 1;
        Ok(())
    }

    /// A session from `key` authenticated: it no longer counts.
    pub fn authenticated(&self, key: IpAddr) {
        let mut open = self.lock();
        if let Some(q) = open.by_ip.get_mut(&key)
            && q.pop_front().is_some()
        {
            if q.is_empty() {
                open.by_ip.remove(&key);
            }
            open.count -= 1;
        }
    }

    /// Sessions counted now (for tests and `/metrics`).
    pub fn pending(&self) -> usize {
        let mut open = self.lock();
        open.expire_all(Instant::now());
        open.count
    }
}

/// Whether `req` opens a new engine session (a Socket.IO request without a session id).
fn opens_session(req: &Request) -> bool {
    req.uri().path().starts_with("/socket.io/")
        && !req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .any(|kv| kv.starts_with("sid="))
}

/// Middleware in front of Socket.IO: counts each new session, or answers 429.
pub async fn limit(admission: Arc<Admission>, req: Request, next: Next) -> Response {
    if opens_session(&req)
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
        && let Some(key) = admission.key(peer, req.headers())
        && let Err(retry_after) = admission.open(key)
    {
        return ApiError::rate_limited(retry_after).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_ip: usize, total: usize) -> Admission {
        Admission {
            per_ip,
            total,
            trusted: vec!["10.0.0.1/32".parse().expect("net")],
            exempt: vec!["127.0.0.0/8".parse().expect("net")],
            v6_prefix: 64,
            open: Mutex::new(Open::default()),
        }
    }

    #[test]
    fn caps_per_address_and_in_all_and_frees_on_authentication() {
        let a = admission(2, 3);
        let x: IpAddr = "192.0.2.1".parse().expect("ip");
        let y: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(a.open(x).is_ok());
        assert!(a.open(x).is_ok());
        let retry = a.open(x).expect_err("third from x");
        assert!((1..=AUTH_TIMEOUT.as_secs() + 1).contains(&retry));
        assert!(a.open(y).is_ok());
        assert!(a.open(y).is_err(), "three in all");
        a.authenticated(x);
        assert!(a.open(y).is_ok());
        assert_eq!(a.pending(), 3);
    }

    #[test]
    fn forwarded_clients_count_separately_and_exempt_ones_not_at_all() {
        let a = admission(1, 100);
        let proxy: SocketAddr = "10.0.0.1:5000".parse().expect("addr");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7".parse().expect("value"));
        assert_eq!(a.key(proxy, &h), Some("198.51.100.7".parse().expect("ip")));
        h.insert("x-forwarded-for", "127.0.0.1".parse().expect("value"));
        assert_eq!(a.key(proxy, &h), None);
        // An untrusted peer's header is ignored.
        let stranger: SocketAddr = "203.0.113.9:1".parse().expect("addr");
        assert_eq!(
            a.key(stranger, &h),
            Some("203.0.113.9".parse().expect("ip"))
        );
    }
}
