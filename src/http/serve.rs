//! Serving HTTP connections: FlowSync's accept-and-serve loop, shared by the plain-HTTP, HTTPS
//! and port-80 redirect listeners, with the limits an unattended server on the internet needs
//! (docs/security.md → "Connections"):
//!
//! - **Header-read timeout** (`server.header_timeout`): a request's head must arrive within it,
//!   and an idle keep-alive connection waits that long for its next request (hyper's timer).
//! - **Idle timeout** (`server.idle_timeout`): a connection that moves no byte either way for
//!   that long is closed, WebSockets included (the upgraded stream is the same tracked stream;
//!   Socket.IO's heartbeat moves bytes every 25 s, so a live socket never idles out).
//! - **Per-address cap** (`server.max_connections_per_ip`): concurrent connections from one IPv4
//!   address or one IPv6 network (`server.rate_limit_ipv6_prefix`). Trusted proxies and
//!   `server.connection_cap_exempt` are not counted here; clients behind a trusted proxy are
//!   held by the per-client Socket.IO caps instead (see `signaling::admission`).
//! - **Total cap** (`server.max_connections`) and **running out of file descriptors**: when
//!   `accept` fails for want of descriptors, or the total is reached, the connection that has
//!   been quiet longest is closed to make room, so the server keeps answering (an idle flood
//!   cannot lock everyone out until its clients let go).
//!
//! One registry holds every open connection: an entry is a few atomics (when it last moved a
//! byte, whether it must close, and the wakers that make closing immediate). A sweeper walks it
//! once a second for idle connections; nothing is timed per read or write.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use futures_util::task::AtomicWaker;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;

mod tracked;
pub use tracked::Tracked;

/// How often idle connections are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// After a failed `accept` that was not for want of descriptors (or with nothing to shed).
const ACCEPT_BACK_OFF: Duration = Duration::from_millis(50);

/// The limits every listener applies, from `server.*`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub ipv6_prefix: u8,
    /// Peers not counted per address: trusted proxies and `server.connection_cap_exempt`.
    pub exempt: Vec<IpNet>,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let s = &config.server;
        let mut exempt = s.connection_cap_exempt.clone();
        exempt.extend(s.trusted_proxies.iter().copied());
        Limits {
            header_timeout: s.header_timeout,
            idle_timeout: s.idle_timeout,
            max_connections: s.max_connections as usize,
            max_per_ip: s.max_connections_per_ip as usize,
            ipv6_prefix: s.rate_limit_ipv6_prefix,
            exempt,
        }
    }
}

/// The address a per-address limit counts `ip` under: an IPv4 address (IPv4-mapped IPv6
/// included), or the IPv6 network of `v6_prefix` bits around it.
pub fn limit_key(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ipnet::Ipv6Net::new(v6, v6_prefix.min(128))
                .map(|n| IpAddr::V6(n.trunc().addr()))
                .unwrap_or(ip),
        },
    }
}

/// One open connection, as the registry sees it.
struct Conn {
    id: u64,
    /// The per-address counter it holds, unless its peer is exempt.
    key: Option<IpAddr>,
    /// Milliseconds since the registry's epoch when a byte last moved.
    last_active: AtomicU64,
    closing: AtomicBool,
    read_waker: AtomicWaker,
    write_waker: AtomicWaker,
    task_waker: AtomicWaker,
}

impl Conn {
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.read_waker.wake();
        self.write_waker.wake();
        self.task_waker.wake();
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    live: HashMap<u64, Arc<Conn>>,
    per_ip: HashMap<IpAddr, u32>,
}

/// Why a connection was closed by the server rather than by its client (for `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    pub refused_per_ip: AtomicU64,
    pub refused_full: AtomicU64,
    pub closed_idle: AtomicU64,
    pub shed: AtomicU64,
}

/// Every open HTTP connection of the process, across listeners.
pub struct Connections {
    limits: Limits,
    epoch: Instant,
    registry: Mutex<Registry>,
    pub counters: Counters,
    /// Last time a shortage was logged (ms since epoch), so a flood logs once a minute.
    last_warned: AtomicU64,
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Connections {
            limits,
            epoch: Instant::now(),
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
            last_warned: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain counters behind; keep using them.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.registry().live.len()
    }

    /// Counts a new connection from `peer` in, or refuses it (None: close it at once).
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Arc<Conn>> {
        let ip = peer.ip();
        let key = (!self.limits.exempt.iter().any(|n| n.contains(&ip)))
            .then(|| limit_key(ip, self.limits.ipv6_prefix));
        let now = self.now();
        let mut reg = self.registry();
        if let Some(k) = key
            && reg.per_ip.get(&k).copied().unwrap_or(0) as usize >= self.limits.max_per_ip
        {
            self.counters.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            drop(reg);
            self.warn_once(format_args!(
                "refusing connections from {k}: it holds server.max_connections_per_ip = {}",
                self.limits.max_per_ip
            ));
            return None;
        }
        if reg.live.len() >= self.limits.max_connections && !Self::shed_quietest(&reg, now) {
            self.counters.refused_full.fetch_add(1, Ordering::Relaxed);
            drop(reg);
            self.warn_once(format_args!(
                "refusing connections: server.max_connections = {} are open and none is idle",
                self.limits.max_connections
            ));
            return None;
        }
        reg.next_id += 1;
        let conn = Arc::new(Conn {
            id: reg.next_id,
            key,
            last_active: AtomicU64::new(now),
            closing: AtomicBool::new(false),
            read_waker: AtomicWaker::new(),
            write_waker: AtomicWaker::new(),
            task_waker: AtomicWaker::new(),
        });
        if let Some(k) = key {
            *reg.per_ip.entry(k).or_default() += 1;
        }
        reg.live.insert(conn.id, conn.clone());
        Some(conn)
    }

    fn remove(&self, conn: &Conn) {
        let mut reg = self.registry();
        reg.live.remove(&conn.id);
        if let Some(k) = conn.key
            && let Some(n) = reg.per_ip.get_mut(&k)
        {
            *n -= 1;
            if *n == 0 {
                reg.per_ip.remove(&k);
            }
        }
    }

    /// Closes the connection that has been quiet longest (at least a second), to make room.
    /// False when there is none.
    fn shed_quietest(reg: &Registry, now: u64) -> bool {
        let quietest = reg
            .live
            .values()
            .filter(|c| !c.is_closing())
            .min_by_key(|c| c.last_active.load(Ordering::Relaxed));
        match quietest {
            Some(c) if now.saturating_sub(c.last_active.load(Ordering::Relaxed)) >= 1_000 => {
                c.close();
                true
            }
            _ => false,
        }
    }

    /// Makes room after `accept` failed for want of file descriptors.
    fn shed_for_descriptors(&self) -> bool {
        let now = self.now();
        let shed = Self::shed_quietest(&self.registry(), now);
        if shed {
            self.counters.shed.fetch_add(1, Ordering::Relaxed);
        }
        shed
    }

    /// Closes every connection idle for `idle_timeout`.
    fn sweep(&self) {
        let now = self.now();
        let idle = self.limits.idle_timeout.as_millis() as u64;
        let reg = self.registry();
        for c in reg.live.values() {
            if !c.is_closing() && now.saturating_sub(c.last_active.load(Ordering::Relaxed)) >= idle
            {
                self.counters.closed_idle.fetch_add(1, Ordering::Relaxed);
                c.close();
            }
        }
    }

    /// Closes idle connections until `stop` fires.
    pub async fn sweep_until(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.sweep(),
            }
        }
    }

    fn warn_once(&self, what: std::fmt::Arguments<'_>) {
        let now = self.now();
        let last = self.last_warned.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 60_000)
            && self
                .last_warned
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!("{what} (logged at most once a minute)");
        }
    }
}
/// Resolves once the registry closes `conn`.
fn closed(conn: Arc<Conn>) -> impl Future<Output = ()> {
    std::future::poll_fn(move |cx| {
        if conn.is_closing() {
            return Poll::Ready(());
        }
        conn.task_waker.register(cx.waker());
        if conn.is_closing() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// What a listener does with an admitted TCP connection before (or instead of) HTTP.
pub trait Handshake: Clone + Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// The stream to serve HTTP on, or None when the connection was dealt with (a failed TLS
    /// handshake, an ACME validation, TURN over TLS).
    fn handshake(
        &self,
        tcp: Tracked<TcpStream>,
        peer: SocketAddr,
    ) -> impl Future<Output = Option<Self::Io>> + Send;
}

/// Plain HTTP: the TCP stream as it is.
#[derive(Clone)]
pub struct Plain;

impl Handshake for Plain {
    type Io = Tracked<TcpStream>;
    async fn handshake(&self, tcp: Tracked<TcpStream>, _peer: SocketAddr) -> Option<Self::Io> {
        Some(tcp)
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The errno values `accept` reports when the process or the system is out of descriptors or
/// buffers (Linux numbering, as everywhere FlowSync runs).
mod libc_errno {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}

/// `router` as a hyper service for one connection from `peer`: each request carries
/// `ConnectInfo(peer)` (and `mark`, the local channel's marker), as axum's own serving adds.
pub fn router_service<M: Clone + Send + Sync + 'static>(
    router: axum::Router,
    peer: SocketAddr,
    mark: Option<M>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(m) = &mark {
            req.extensions_mut().insert(m.clone());
        }
        let router = router.clone();
        async move {
            use tower::ServiceExt;
            Ok::<_, Infallible>(
                router
                    .oneshot(req.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            )
        }
    })
}

/// Serves `router` on `listener` until `stop` fires; then stops accepting, lets requests in
/// progress finish (idle keep-alive connections close at once) and returns when every HTTP
/// connection is done. Upgraded WebSockets are not waited for: the signaling layer closes them.
pub async fn serve<H: Handshake>(
    listener: TcpListener,
    handshake: H,
    router: axum::Router,
    conns: Arc<Connections>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(conns.limits.header_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(conns.limits.idle_timeout / 2))
        .keep_alive_timeout(conns.limits.header_timeout);
    let http = Arc::new(http);
    let tasks = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) if out_of_descriptors(&e) => {
                    conns.warn_once(format_args!(
                        "accepting a connection failed ({e}); closing the quietest connection to make room"
                    ));
                    if conns.shed_for_descriptors() {
                        // Let the shed connection's task drop its socket before accepting again.
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::time::sleep(ACCEPT_BACK_OFF).await;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACK_OFF).await;
                    continue;
                }
            },
        };
        // Signaling is many small writes: without TCP_NODELAY, Nagle and delayed ACKs hold
        // some of them back ~40 ms (measured with `flowsync bench`).
        let _ = tcp.set_nodelay(true);
        let Some(conn) = conns.admit(peer) else {
            continue;
        };
        let tracked = Tracked {
            inner: tcp,
            conn: conn.clone(),
            owner: conns.clone(),
        };
        let handshake = handshake.clone();
        let router = router.clone();
        let http = http.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let io = tokio::select! {
                io = handshake.handshake(tracked, peer) => match io {
                    Some(io) => io,
                    None => return,
                },
                _ = closed(conn.clone()) => return,
            };
            let service = router_service(router, peer, None::<()>);
            let connection = http.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closed(conn.clone()) => return,
                _ = stop.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closed(conn) => {}
            }
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_per_ip: usize, max_connections: usize) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections,
            max_per_ip,
            ipv6_prefix: 64,
            exempt: vec!["10.9.0.0/16".parse().expect("net")],
        }
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn ipv6_counts_by_network_and_mapped_v4_as_v4() {
        let a = limit_key("2001:db8:1:2::1".parse().expect("ip"), 64);
        let b = limit_key("2001:db8:1:2:ffff::9".parse().expect("ip"), 64);
        let c = limit_key("2001:db8:1:3::1".parse().expect("ip"), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            limit_key("::ffff:192.0.2.7".parse().expect("ip"), 64),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn per_address_cap_counts_until_released_and_skips_exempt_peers() {
        let conns = Connections::new(limits(2, 100));
        let a1 = conns.admit(peer("192.0.2.1:1000")).expect("first");
        let _a2 = conns.admit(peer("192.0.2.1:1001")).expect("second");
        assert!(
            conns.admit(peer("192.0.2.1:1002")).is_none(),
            "third refused"
        );
        assert!(
            conns.admit(peer("192.0.2.2:1000")).is_some(),
            "another address"
        );
        // An IPv6 /64 is one address.
        let _v1 = conns.admit(peer("[2001:db8::1]:1")).expect("v6 first");
        let _v2 = conns.admit(peer("[2001:db8::2]:1")).expect("v6 second");
        assert!(conns.admit(peer("[2001:db8::3]:1")).is_none());
        for port in 0..10 {
            assert!(conns.admit(peer(&format!("10.9.1.1:{port}"))).is_some());
        }
        conns.remove(&a1);
        assert!(conns.admit(peer("192.0.2.1:1003")).is_some(), "room again");
        assert_eq!(conns.counters.refused_per_ip.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn full_server_sheds_the_quietest_connection_or_refuses() {
        let conns = Connections::new(limits(100, 2));
        let old = conns.admit(peer("192.0.2.1:1")).expect("one");
        let new = conns.admit(peer("192.0.2.2:1")).expect("two");
        // Nobody has been quiet for a second yet: refused.
        assert!(conns.admit(peer("192.0.2.3:1")).is_none());
        let now = conns.now() + 5_000;
        old.last_active.store(0, Ordering::Relaxed);
        new.last_active.store(now, Ordering::Relaxed);
        assert!(Connections::shed_quietest(&conns.registry(), now));
        assert!(old.is_closing() && !new.is_closing());
    }

    #[test]
    fn sweep_closes_only_idle_connections() {
        let mut l = limits(100, 100);
        l.idle_timeout = Duration::from_millis(0);
        let conns = Connections::new(l);
        let c = conns.admit(peer("192.0.2.1:1")).expect("one");
        conns.sweep();
        assert!(c.is_closing());
        let mut l = limits(100, 100);
        l.idle_timeout = Duration::from_secs(3600);
        let conns = Connections::new(l);
        let c = conns.admit(peer("192.0.2.1:1")).expect("one");
        conns.sweep();
        assert!(!c.is_closing());
    }
}
