//! The embedded STUN/TURN server (`turn.mode = embedded`), so calls connect through NATs and
//! firewalls with nothing but this binary.
//!
//! The protocol is `turn-server-proto` (sans-IO; RFC 5766/8656, evaluated in docs/operating/turn.md). This
//! module owns the I/O and the policy around it. There is one actor task with three protocol
//! instances: UDP and TCP on `turn.listen`, and TURN over TLS on the HTTPS port, where
//! `tls::listener` hands over decrypted streams whose first byte is not HTTP (`Turn` is its
//! `StreamSink`). The actor also
//! holds the UDP relay sockets it binds in `turn.relay_ports`.
//!
//! Policy lives here, not in the crate:
//! - credentials are only TURN REST ones: `expiry:participant` with
//!   base64(HMAC-SHA1(secret, username)). An expired or malformed username is refused before
//!   the protocol sees it, and a forged password fails the message integrity check;
//! - only participants of live rooms are relayed: Allocate, Refresh, CreatePermission and
//!   ChannelBind are checked against the database (the username carries the participant id;
//!   answers are cached for [`LIVE_CHECK_TTL`]), a kicked or departed participant or an ended
//!   room gets 403, and every participant holding allocations is checked again every
//!   [`RECHECK_EVERY`], its allocations released when it is no longer in a live room. A
//!   credential only has to be unexpired to allocate: refreshing an allocation it made keeps
//!   working while its participant is in the room, so `turn.credential_ttl` can be short.
//!   Usernames whose participant starts with `~` are the operator's (doctor's checks), minted
//!   with the shared secret and not tied to a room;
//! - allocations are bounded per credential (`turn.user_quota`), per room (`turn.room_quota`)
//!   and in total (`turn.max_allocations`); beyond that the answer is 508 Insufficient
//!   Capacity;
//! - the relay never exchanges data with loopback, private or link-local addresses, nor with
//!   this host's own addresses, except its own relayed addresses and `turn.allow_peers` (see
//!   [`policy`]). Permissions and channels to such peers get 403 Forbidden (signed with the
//!   client's key), and data to or from them is dropped;
//! - an expired or malformed credential gets 401 with no nonce, so clients stop retrying, and
//!   so does a request with USERHASH (it would hide the expiry; the crate offers it anyway);
//! - allocations end with their lifetime (600 s by default, refreshed by clients) or when the
//!   client's TCP/TLS connection closes (the relay socket and quota are freed at once; the
//!   address is not reused until the protocol's own record of it lapses);
//! - TCP/TLS connections are capped (`turn.max_allocations`) and one that holds no allocation
//!   after [`STREAM_GRACE`] is closed, so idle connections cannot pile up.

mod actor;
pub mod client;
pub mod policy;
mod stream;
mod udp;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use turn_server_proto::api::{SocketAllocateError, Transmit, TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::types::attribute::XorPeerAddress;
use turn_server_proto::types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, REFRESH, SEND};
use turn_server_proto::types::stun::attribute::{
    ErrorCode, MessageIntegrity, Nonce, Realm, Userhash, Username, XorMappedAddress,
};
use turn_server_proto::types::stun::message::{
    BINDING, IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageWriteVec,
};
use turn_server_proto::types::stun::prelude::AttributeStaticType;
use turn_server_proto::types::stun::prelude::{MessageWrite, MessageWriteExt};
use turn_server_proto::types::{AddressFamily, Instant, TransportType};

use crate::config::{Config, TlsMode, TurnMode};
use policy::PeerPolicy;

/// Which protocol instance a client speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Via {
    Udp = 0,
    Tcp = 1,
    Tls = 2,
}

/// A v4-mapped IPv6 address (`[::ffff:a.b.c.d]`, how a dual-stack socket sees IPv4 clients) as
/// the IPv4 address it is, so clients see their real address and the peer policy applies.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// The form a socket bound to an IPv6 address needs for an IPv4 destination.
fn for_socket(to: SocketAddr, v6_socket: bool) -> SocketAddr {
    match to {
        SocketAddr::V4(v4) if v6_socket => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        other => other,
    }
}

/// The participant a REST username belongs to (`expiry:participant`): quotas count per
/// participant, not per credential, so fetching fresh credentials does not reset them.
fn participant_of(username: &str) -> &str {
    username.split_once(':').map(|(_, p)| p).unwrap_or(username)
}

/// Operator credentials (doctor's checks) name a participant starting with this; only holders
/// of the shared secret can mint them, and they are not tied to a room.
pub const OPERATOR_PREFIX: char = '~';

/// How long an answer about a participant is trusted before the database is asked again.
pub const LIVE_CHECK_TTL: Duration = Duration::from_secs(10);

/// How often participants holding allocations are checked again.
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Asks whether a participant is in a live room: its room id if so, None if not (kicked, left,
/// lapsed, unknown, or the room ended). An error counts as "not now" and is asked again.
#[derive(Clone)]
pub struct Authorizer(
    Arc<dyn Fn(String) -> BoxFuture<anyhow::Result<Option<String>>> + Send + Sync>,
);

impl Authorizer {
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Option<String>>> + Send + 'static,
    {
        Authorizer(Arc::new(move |p| Box::pin(f(p))))
    }
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorizer")
    }
}

/// What to do with a client's message.
enum Admit {
    /// Hand it to the protocol.
    Pass,
    /// Refused (the reason is counted and logged).
    Drop,
    /// Answered here.
    Reply(Vec<u8>),
    /// Waiting for the database to say whether its participant is in a live room; handled
    /// again when the answer comes.
    Defer,
}

/// A Binding success response (XOR-MAPPED-ADDRESS, FINGERPRINT). Answered here because
/// turn-server-proto 0.7.3 addresses its Binding responses to its own listen address.
/// An error response to the request `msg`, signed with the client's long-term key when it
/// proved it holds one (clients discard unsigned answers to signed requests).
fn error_response(
    msg: &Message<'_>,
    code: u16,
    reason: &str,
    key: Option<LongTermKeyCredentials>,
) -> Option<Vec<u8>> {
    let error = ErrorCode::builder(code).reason(reason).build().ok()?;
    let mut response = Message::builder_error(msg, MessageWriteVec::with_capacity(160));
    response.add_attribute(&error).ok()?;
    // A 401 repeats the realm and nonce the client used: browsers read a 401 with the
    // challenge they already answered as "these credentials are refused" and stop.
    if code == ErrorCode::UNAUTHORIZED {
        if let Ok(realm) = msg.attribute::<Realm>() {
            response.add_attribute(&realm).ok()?;
        }
        if let Ok(nonce) = msg.attribute::<Nonce>() {
            response.add_attribute(&nonce).ok()?;
        }
    }
    if let Some(key) = key {
        response
            .add_message_integrity(&key.into(), IntegrityAlgorithm::Sha1)
            .ok()?;
    }
    response.add_fingerprint().ok()?;
    Some(response.finish())
}

/// Answers a refused request with an error (indications get nothing).
fn refuse(
    msg: &Message<'_>,
    code: u16,
    reason: &str,
    key: Option<LongTermKeyCredentials>,
) -> Admit {
    if !msg.has_class(MessageClass::Request) {
        return Admit::Drop;
    }
    error_response(msg, code, reason, key).map_or(Admit::Drop, Admit::Reply)
}

/// How long a TCP/TLS connection may stay open without an allocation (pre-authentication).
pub const STREAM_GRACE: Duration = Duration::from_secs(30);

fn binding_response(msg: &Message<'_>, from: SocketAddr) -> Option<Vec<u8>> {
    let xor = XorMappedAddress::new(from, msg.transaction_id());
    let mut response = Message::builder_success(msg, MessageWriteVec::with_capacity(64));
    response.add_attribute(&xor).ok()?;
    response.add_fingerprint().ok()?;
    Some(response.finish())
}

/// What the actor needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where TLS streams come from (the HTTPS listener), used as their local address.
    pub tls_listen: Option<SocketAddr>,
    pub relay_ports: (u16, u16),
    /// The address relayed candidates carry (`turn.external_ip`, or detected).
    pub advertise_ip: IpAddr,
    pub secret: Vec<u8>,
    pub realm: String,
    pub max_allocations: u32,
    pub user_quota: u32,
    pub room_quota: u32,
    /// Whether a participant is in a live room (None: everyone with a valid credential is).
    pub authorize: Option<Authorizer>,
    /// Longest credential lifetime accepted (turn.credential_ttl plus a minute of clock skew).
    pub max_ttl: u64,
    pub policy: PeerPolicy,
}

/// Counters for /metrics and doctor.
#[derive(Debug, Default)]
pub struct Stats {
    pub allocations: AtomicU64,
    pub relayed_bytes: AtomicU64,
    pub refused_credentials: AtomicU64,
    pub refused_peers: AtomicU64,
    pub refused_quota: AtomicU64,
}

/// A running TURN server.
#[derive(Clone)]
pub struct Turn {
    tx: mpsc::Sender<Event>,
    /// One permit per open TCP/TLS client connection (`turn.max_allocations` of them).
    streams: Arc<tokio::sync::Semaphore>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .finish()
    }
}

enum Event {
    Udp {
        from: SocketAddr,
        /// The local address the datagram was sent to, on a wildcard bind.
        local: Option<IpAddr>,
        data: Vec<u8>,
    },
    StreamOpen {
        via: Via,
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    StreamFrame {
        via: Via,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    StreamClosed {
        via: Via,
        peer: SocketAddr,
    },
    Relay {
        relay: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    /// Moves the protocol clock forward (tests of allocation lifetimes).
    Advance(Duration),
    /// The database's answer about a participant, and the message that waited for it.
    Checked {
        participant: String,
        room: Option<String>,
        replay: Option<(Via, SocketAddr, Vec<u8>)>,
    },
}

/// The host name browsers reach this server by, for ICE URLs.
fn public_host(config: &Config) -> String {
    if let Some(d) = config.tls.domains.first() {
        return d.clone();
    }
    let url = config.public_url();
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    match hostport.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or(v6)),
        None => hostport.split(':').next().unwrap_or(hostport).to_owned(),
    }
}

/// The ICE URLs of the embedded server: UDP and TCP on its port, and TURN over TLS on the
/// HTTPS port when TLS is on.
pub fn urls(config: &Config, turn_port: u16, https_port: Option<u16>) -> Vec<String> {
    let host = public_host(config);
    let mut v = vec![
        format!("turn:{host}:{turn_port}?transport=udp"),
        format!("turn:{host}:{turn_port}?transport=tcp"),
    ];
    if let Some(p) = https_port {
        v.push(format!("turns:{host}:{p}?transport=tcp"));
    }
    v
}

/// The address to advertise in relayed candidates: `turn.external_ip`, else this host's only
/// public IPv4 address, else its first non-loopback IPv4 (a LAN or NATed host: set
/// `turn.external_ip` there), else loopback.
pub fn advertise_ip(config: &Config) -> IpAddr {
    if let Some(ip) = config.turn.external_ip {
        return ip;
    }
    let v4: Vec<Ipv4Addr> = crate::doctor::system::local_addresses()
        .into_iter()
        .filter_map(|a| match a {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .collect();
    let public: Vec<&Ipv4Addr> = v4
        .iter()
        .filter(|a| !a.is_private() && !a.is_link_local())
        .collect();
    if public.len() == 1 {
        return IpAddr::V4(*public[0]);
    }
    match v4.first() {
        Some(a) => {
            tracing::warn!(address = %a, "turn.external_ip is not set and this host has no single public address; relayed candidates use {a} (set turn.external_ip behind NAT)");
            IpAddr::V4(*a)
        }
        None => {
            tracing::warn!(
                "turn: this host shows no network address (is AF_NETLINK allowed?); relayed candidates use 127.0.0.1 and only work on this host: set turn.external_ip"
            );
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }
}

/// Builds the settings for `config` (embedded mode) with the resolved shared secret.
pub fn settings(config: &Config, secret: Vec<u8>) -> Settings {
    let advertise = advertise_ip(config);
    let own = crate::doctor::system::local_addresses();
    Settings {
        listen: config.turn.listen,
        tls_listen: (config.tls.mode != TlsMode::Off).then_some(config.server.https_listen),
        relay_ports: config.turn.relay_ports,
        advertise_ip: advertise,
        secret,
        realm: public_host(config),
        max_allocations: config.turn.max_allocations,
        user_quota: config.turn.user_quota,
        room_quota: config.turn.room_quota,
        authorize: None,
        max_ttl: config.turn.credential_ttl.as_secs() + 60,
        policy: PeerPolicy::new(vec![advertise], own, config.turn.allow_peers.clone()),
    }
}

/// Whether `serve` should run the embedded server.
pub fn enabled(config: &Config) -> bool {
    config.turn.mode == TurnMode::Embedded
}

impl Turn {
    /// Binds `turn.listen` (UDP and TCP) and starts the actor; everything stops with `stop`.
    pub async fn start(settings: Settings, stop: CancellationToken) -> anyhow::Result<Turn> {
        use anyhow::Context as _;
        // UDP and TCP share one port. With port 0 the system picks it for UDP, and that port may
        // already be taken for TCP (ephemeral ports are shared): then pick again.
        let mut attempt = 0;
        let (udp, tcp) = loop {
            attempt += 1;
            let udp = UdpSocket::bind(settings.listen)
                .await
                .with_context(|| format!("binding turn.listen {} (UDP)", settings.listen))?;
            let tcp_bind = SocketAddr::new(settings.listen.ip(), udp.local_addr()?.port());
            match TcpListener::bind(tcp_bind).await {
                Ok(tcp) => break (udp, tcp),
                Err(e)
                    if settings.listen.port() == 0
                        && e.kind() == std::io::ErrorKind::AddrInUse
                        && attempt < 20 => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("binding turn.listen {tcp_bind} (TCP)"));
                }
            }
        };
        udp::track_destinations(&udp).context("asking for UDP destination addresses")?;
        let udp_addr = udp.local_addr()?;
        let tcp_addr = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(4096);
        let udp = Arc::new(udp);
        let stats = Arc::new(Stats::default());
        let turn = Turn {
            tx: tx.clone(),
            streams: Arc::new(tokio::sync::Semaphore::new(
                settings.max_allocations.max(1) as usize
            )),
            udp_addr,
            tcp_addr,
            stats: stats.clone(),
        };
        // UDP reader
        {
            let (udp, tx, stop) = (udp.clone(), tx.clone(), stop.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let r = tokio::select! {
                        _ = stop.cancelled() => break,
                        r = udp::recv(&udp, &mut buf) => r,
                    };
                    match r {
                        Ok((n, from, local)) => {
                            let ev = Event::Udp {
                                from: canonical(from),
                                local: local.map(|ip| canonical(SocketAddr::new(ip, 0)).ip()),
                                data: buf[..n].to_vec(),
                            };
                            if tx.send(ev).await.is_err() {
                                break;
                            }
                        }
                        // ICMP errors surface as recv errors on some systems: keep going.
                        Err(e) => tracing::debug!(error = %e, "turn: UDP receive error"),
                    }
                }
            });
        }
        // TCP acceptor
        {
            let (turn, stop) = (turn.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    let (s, peer) = tokio::select! {
                        _ = stop.cancelled() => break,
                        r = crate::tls::listener::accept_or_back_off(&tcp, "TURN") => match r {
                            Some(p) => p,
                            None => continue,
                        },
                    };
                    let _ = s.set_nodelay(true);
                    turn.spawn_stream(Via::Tcp, s, canonical(peer), stop.clone());
                }
            });
        }
        let actor = actor::Actor::new(settings, udp_addr, tcp_addr, udp, tx, stats);
        tokio::spawn(actor.run(rx, stop));
        Ok(turn)
    }

    /// Moves the protocol's clock forward by `by`, as if that much time had passed: for tests
    /// of allocation lifetimes (600 s at least), which cannot wait that long. Credential expiry
    /// keeps using the wall clock.
    #[doc(hidden)]
    pub async fn advance_clock(&self, by: Duration) {
        let _ = self.tx.send(Event::Advance(by)).await;
    }

    /// Takes a decrypted TLS stream (TURN over TLS on port 443; see the [`StreamSink`] impl).
    pub fn serve_tls<S>(&self, stream: S, peer: SocketAddr, stop: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.spawn_stream(Via::Tls, stream, canonical(peer), stop);
    }

    fn spawn_stream<S>(&self, via: Via, s: S, peer: SocketAddr, stop: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let Ok(permit) = self.streams.clone().try_acquire_owned() else {
            self.stats.refused_quota.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%peer, "turn: too many TCP/TLS connections; closing a new one");
            return;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (writer_tx, writer_rx) = mpsc::channel(256);
            if tx
                .send(Event::StreamOpen {
                    via,
                    peer,
                    writer: writer_tx,
                })
                .await
                .is_err()
            {
                return;
            }
            stream::run(s, writer_rx, stop, |frame| {
                let tx = tx.clone();
                async move {
                    tx.send(Event::StreamFrame {
                        via,
                        peer,
                        data: frame,
                    })
                    .await
                    .is_ok()
                }
            })
            .await;
            let _ = tx.send(Event::StreamClosed { via, peer }).await;
        });
    }
}

/// TURN over TLS on the HTTPS port: the listener hands over streams that start like a STUN
/// message (a first byte below 0x40; an HTTP/1 request starts with a letter).
impl crate::tls::listener::StreamSink for Turn {
    fn claims(&self, first: u8) -> bool {
        first < 0x40
    }

    fn take(&self, stream: crate::tls::listener::TlsIo, peer: SocketAddr, stop: CancellationToken) {
        self.serve_tls(stream, peer, stop);
    }
}

/// An open TCP/TLS client: its writer and when it connected (protocol clock).
type StreamClient = (mpsc::Sender<Vec<u8>>, Instant);
