//! The TURN actor: one task that owns the three protocol instances (UDP, TCP, TLS), the open
//! TCP/TLS clients and the relay sockets, and applies the policy [`super`] describes to every
//! message (credentials, live-room checks, quotas, forbidden peers, idle streams).

use super::*;

mod relays;
use relays::RelaySocket;

pub(super) struct Actor {
    settings: Settings,
    base: std::time::Instant,
    /// Added to the protocol clock by [`Turn::advance_clock`].
    skew: Duration,
    servers: [TurnServer; 3],
    listen: [SocketAddr; 3],
    udp: Arc<UdpSocket>,
    tx: mpsc::Sender<Event>,
    /// Open TCP/TLS clients: their writer and when they connected.
    streams: HashMap<(Via, SocketAddr), StreamClient>,
    relays: HashMap<SocketAddr, RelaySocket>,
    /// Relayed addresses freed when their client's connection closed, which the protocol still
    /// counts until their lifetime lapses: not handed out again before that.
    lingering: HashSet<SocketAddr>,
    last_reap: Instant,
    /// The local address each UDP client last sent to, and when: answers leave from it. Kept
    /// while the client holds a relay, or for [`UDP_CLIENT_MEMORY`] after its last datagram.
    udp_local: HashMap<SocketAddr, (IpAddr, Instant)>,
    /// The credential each client last authenticated with (allocation quotas).
    client_user: HashMap<(Via, SocketAddr), String>,
    per_user: HashMap<String, u32>,
    per_room: HashMap<String, u32>,
    /// What the database last said about each participant, and when (protocol clock).
    live: HashMap<String, (Option<String>, Instant)>,
    /// Participants being checked now (messages for them wait in `Event::Checked` replays).
    checking: HashSet<String>,
    last_recheck: Instant,
    known_users: HashSet<String>,
    next_port: u16,
    stats: Arc<Stats>,
}

const VIAS: [Via; 3] = [Via::Udp, Via::Tcp, Via::Tls];
/// How long the local address a UDP client without a relay sent to is remembered.
const UDP_CLIENT_MEMORY: Duration = Duration::from_secs(60);
/// The most UDP clients whose local address is remembered at once (a flood from spoofed
/// addresses between two sweeps is answered from the kernel's choice instead).
const UDP_CLIENTS_TRACKED: usize = 65_536;

impl Actor {
    pub(super) fn new(
        settings: Settings,
        udp_addr: SocketAddr,
        tcp_addr: SocketAddr,
        udp: Arc<UdpSocket>,
        tx: mpsc::Sender<Event>,
        stats: Arc<Stats>,
    ) -> Actor {
        let tls_addr = settings.tls_listen.unwrap_or(tcp_addr);
        let listen = [udp_addr, tcp_addr, tls_addr];
        let realm = settings.realm.clone();
        let servers = [
            TurnServer::new(TransportType::Udp, udp_addr, realm.clone()),
            TurnServer::new(TransportType::Tcp, tcp_addr, realm.clone()),
            TurnServer::new(TransportType::Tcp, tls_addr, realm),
        ];
        let next_port = settings.relay_ports.0;
        Actor {
            settings,
            base: std::time::Instant::now(),
            skew: Duration::ZERO,
            servers,
            listen,
            udp,
            tx,
            streams: HashMap::new(),
            relays: HashMap::new(),
            lingering: HashSet::new(),
            last_reap: Instant::ZERO,
            udp_local: HashMap::new(),
            client_user: HashMap::new(),
            per_user: HashMap::new(),
            per_room: HashMap::new(),
            live: HashMap::new(),
            checking: HashSet::new(),
            last_recheck: Instant::ZERO,
            known_users: HashSet::new(),
            next_port,
            stats,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_std(self.base) + self.skew
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Event>, stop: CancellationToken) {
        let mut deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                ev = rx.recv() => match ev {
                    Some(ev) => self.handle(ev).await,
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {}
            }
            deadline = self.drive().await;
        }
        for r in self.relays.values() {
            r.stop.cancel();
        }
    }

    /// Whether the relay may talk to `peer`: one of this server's live relayed addresses (two
    /// relayed participants), or what the policy allows.
    fn peer_allowed(&self, peer: SocketAddr) -> bool {
        let peer = canonical(peer);
        self.relays.contains_key(&peer) || self.settings.policy.allows(peer)
    }

    /// Checks a client's message before the protocol sees it: REST credentials (adding valid
    /// ones to the protocol's user table) and peer addresses. Returns whether to pass it on.
    fn admit(&mut self, via: Via, from: SocketAddr, data: &[u8]) -> Admit {
        let Ok(msg) = Message::from_bytes(data) else {
            return Admit::Pass; // ChannelData: checked when it leaves through a relay socket
        };
        if msg.method() == BINDING && msg.has_class(MessageClass::Request) {
            return match binding_response(&msg, from) {
                Some(r) => Admit::Reply(r),
                None => Admit::Drop,
            };
        }
        // USERHASH (RFC 8489 anonymity) hides the username, and with it the expiry that must be
        // checked on every request: refused with a final 401. Browsers send USERNAME.
        if msg.has_attribute(Userhash::TYPE) {
            self.stats
                .refused_credentials
                .fetch_add(1, Ordering::Relaxed);
            return refuse(&msg, ErrorCode::UNAUTHORIZED, "Send USERNAME", None);
        }
        // The client's long-term key, once its message integrity checks out: refusals to such a
        // client are signed (clients ignore unsigned answers to signed requests).
        let mut verified = None;
        if let Ok(u) = msg.attribute::<Username>() {
            let name = u.username();
            if msg.has_attribute(MessageIntegrity::TYPE) {
                let realm = msg
                    .attribute::<Realm>()
                    .map(|r| r.realm().to_owned())
                    .unwrap_or_default();
                let password = crate::ice::rest_password(&self.settings.secret, name);
                let key = LongTermKeyCredentials::new(name.to_owned(), password, realm);
                if msg.validate_integrity(&key.clone().into()).is_ok() {
                    verified = Some(key);
                }
            }
            let now = crate::timefmt::unix_now();
            let expiry = name.split(':').next().and_then(|e| e.parse::<u64>().ok());
            let valid_time =
                expiry.is_some_and(|exp| exp > now && exp <= now + self.settings.max_ttl);
            // Past its expiry, a credential still keeps up the allocations it made (browsers
            // refresh with the credential they allocated with); its participant is checked.
            let keeps_allocation = verified.is_some()
                && msg.method() != ALLOCATE
                && self.client_user.get(&(via, from)).map(String::as_str)
                    == Some(participant_of(name))
                && self
                    .relays
                    .values()
                    .any(|r| r.via == via && r.client == from);
            if !valid_time && !keeps_allocation {
                self.stats
                    .refused_credentials
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, "turn: refused an expired or malformed credential");
                // 401 without a nonce: a final answer, not an invitation to retry.
                return refuse(
                    &msg,
                    ErrorCode::UNAUTHORIZED,
                    "Credential expired",
                    verified,
                );
            }
            if !self.known_users.contains(name) {
                // Only a message that proves it holds the password adds its user to the
                // protocol's table, so made-up usernames cannot grow it.
                if !msg.has_attribute(MessageIntegrity::TYPE) {
                    return Admit::Pass; // the protocol answers 401 with a nonce
                }
                let Some(key) = &verified else {
                    self.stats
                        .refused_credentials
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, "turn: refused a credential with a wrong password");
                    return Admit::Pass; // the protocol answers 401 (unknown user)
                };
                for v in VIAS {
                    self.servers[v as usize].add_user(name.to_owned(), key.password().to_owned());
                }
                self.known_users.insert(name.to_owned());
            }
            let method = msg.method();
            let participant = participant_of(name);
            if let Some(key) = &verified
                && [ALLOCATE, REFRESH, CREATE_PERMISSION, CHANNEL_BIND].contains(&method)
                && self.settings.authorize.is_some()
                && !participant.starts_with(OPERATOR_PREFIX)
            {
                match self.live_answer(participant) {
                    Some(Some(_)) => {}
                    Some(None) => {
                        self.stats
                            .refused_credentials
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%from, "turn: refused a participant not in a live room");
                        return refuse(
                            &msg,
                            ErrorCode::FORBIDDEN,
                            "Not in a live room",
                            Some(key.clone()),
                        );
                    }
                    None => {
                        self.check(participant.to_owned(), Some((via, from, data.to_vec())));
                        return Admit::Defer;
                    }
                }
            }
            if method == ALLOCATE {
                self.client_user.insert((via, from), participant.to_owned());
            }
        }
        let method = msg.method();
        // Every XOR-PEER-ADDRESS counts: CreatePermission may carry several.
        let peers = (0..)
            .map_while(|n| msg.nth_attribute::<XorPeerAddress>(n).ok())
            .map(|p| canonical(p.addr(msg.transaction_id())));
        let refused = if method == CREATE_PERMISSION || method == CHANNEL_BIND || method == SEND {
            peers.into_iter().find(|a| !self.peer_allowed(*a))
        } else {
            None
        };
        if let Some(addr) = refused {
            self.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, peer = %addr, "turn: refused a peer on the server's side");
            // Only a client whose integrity checks out learns why; the protocol answers the
            // others (401) itself.
            return match verified {
                Some(key) => refuse(&msg, ErrorCode::FORBIDDEN, "Forbidden peer", Some(key)),
                None => Admit::Drop,
            };
        }
        Admit::Pass
    }

    async fn handle(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Udp { from, local, data } => {
                if let Some(local) = local
                    && (self.udp_local.len() < UDP_CLIENTS_TRACKED
                        || self.udp_local.contains_key(&from))
                {
                    self.udp_local.insert(from, (local, now));
                }
                let to = self.listen[Via::Udp as usize];
                match self.admit(Via::Udp, from, &data) {
                    Admit::Drop | Admit::Defer => {}
                    Admit::Reply(r) => {
                        self.send(Via::Udp, Transmit::new(r, TransportType::Udp, to, from))
                            .await
                    }
                    Admit::Pass => {
                        let out = self.servers[Via::Udp as usize]
                            .recv(Transmit::new(&data[..], TransportType::Udp, from, to), now);
                        if let Some(t) = out {
                            self.send(Via::Udp, t.build()).await;
                        }
                    }
                }
            }
            Event::StreamOpen { via, peer, writer } => {
                let opened = self.now();
                self.streams.insert((via, peer), (writer, opened));
            }
            Event::StreamFrame {
                via,
                peer,
                mut data,
            } => {
                // The stream framing padded ChannelData to 4 bytes; the protocol crate's own
                // TCP buffer expects it unpadded (the padding would start the next message).
                if data.len() >= 4 && data[0] >> 6 == 1 {
                    data.truncate(4 + u16::from_be_bytes([data[2], data[3]]) as usize);
                }
                let to = self.listen[via as usize];
                match self.admit(via, peer, &data) {
                    Admit::Drop | Admit::Defer => {}
                    Admit::Reply(r) => {
                        self.send(via, Transmit::new(r, TransportType::Tcp, to, peer))
                            .await
                    }
                    Admit::Pass => {
                        let out = self.servers[via as usize]
                            .recv(Transmit::new(&data[..], TransportType::Tcp, peer, to), now);
                        if let Some(t) = out {
                            self.send(via, t.build()).await;
                        }
                    }
                }
            }
            Event::StreamClosed { via, peer } => {
                self.streams.remove(&(via, peer));
                self.client_user.remove(&(via, peer));
                // The protocol keeps a stream client's allocations until their lifetime ends;
                // the relay sockets and the quota are freed now.
                let gone: Vec<SocketAddr> = self
                    .relays
                    .iter()
                    .filter(|(_, r)| r.via == via && r.client == peer)
                    .map(|(a, _)| *a)
                    .collect();
                for relayed in gone {
                    self.release(relayed);
                    self.lingering.insert(relayed);
                }
                let to = self.listen[via as usize];
                let empty: &[u8] = &[];
                let _ = self.servers[via as usize]
                    .recv(Transmit::new(empty, TransportType::Tcp, peer, to), now);
            }
            Event::Advance(by) => self.skew += by,
            Event::Checked {
                participant,
                room,
                replay,
            } => {
                self.checking.remove(&participant);
                if room.is_none() {
                    self.release_participant(&participant);
                }
                self.live.insert(participant, (room, now));
                match replay {
                    Some((Via::Udp, from, data)) => {
                        let local = None; // remembered when it first arrived
                        Box::pin(self.handle(Event::Udp { from, local, data })).await
                    }
                    Some((via, peer, data)) => {
                        Box::pin(self.handle(Event::StreamFrame { via, peer, data })).await
                    }
                    None => {}
                }
            }
            Event::Relay { relay, from, data } => {
                let Some(via) = self.relays.get(&relay).map(|r| r.via) else {
                    return;
                };
                if !self.peer_allowed(from) {
                    self.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.stats
                    .relayed_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                let out = self.servers[via as usize].recv(
                    Transmit::new(&data[..], TransportType::Udp, from, relay),
                    now,
                );
                if let Some(t) = out {
                    self.send(via, t.build()).await;
                }
            }
        }
    }

    /// Sends what a protocol instance produced: to a peer through its relay socket, or to the
    /// client over UDP or its stream.
    async fn send(&mut self, via: Via, t: Transmit<Vec<u8>>) {
        if self.lingering.contains(&t.from) {
            return; // an allocation whose client is gone
        }
        if self.relays.contains_key(&t.from) {
            if !self.peer_allowed(t.to) {
                self.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.stats
                .relayed_bytes
                .fetch_add(t.data.len() as u64, Ordering::Relaxed);
            if let Some(relay) = self.relays.get(&t.from) {
                let _ = relay.sock.send_to(&t.data, t.to).await;
            }
            return;
        }
        match via {
            Via::Udp => {
                let to = for_socket(t.to, self.listen[Via::Udp as usize].is_ipv6());
                let from = self.udp_local.get(&canonical(t.to)).map(|(ip, _)| *ip);
                let _ = udp::send(&self.udp, &t.data, to, from).await;
            }
            Via::Tcp | Via::Tls => {
                let mut data = t.data;
                // ChannelData over a stream is padded to a multiple of 4 (RFC 8656 §12.5);
                // the protocol crate leaves that to the transport.
                if data.first().is_some_and(|b| b >> 6 == 1) && !data.len().is_multiple_of(4) {
                    data.resize(data.len().div_ceil(4) * 4, 0);
                }
                // Never wait on one client: a client that does not read loses its connection
                // instead of stalling the server for everyone.
                if let Some((w, _)) = self.streams.get(&(via, t.to))
                    && w.try_send(data).is_err()
                {
                    tracing::debug!(client = %t.to, "turn: a stream client is not reading; closing it");
                    self.streams.remove(&(via, t.to));
                }
            }
        }
    }

    /// Lets every protocol instance make progress; returns when to come back.
    async fn drive(&mut self) -> tokio::time::Instant {
        self.reap_idle_streams();
        if self.settings.authorize.is_some() {
            self.recheck_holders();
        }
        let mut next = self.now() + Duration::from_secs(1);
        for via in VIAS {
            loop {
                let now = self.now();
                match self.servers[via as usize].poll(now) {
                    TurnServerPollRet::WaitUntil(t) => {
                        next = next.min(t);
                        break;
                    }
                    TurnServerPollRet::AllocateSocket {
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                    } => {
                        // Only UDP relays (RFC 6062 TCP allocations are not offered).
                        let result = if allocation_transport == TransportType::Udp {
                            self.allocate(via, client_addr, family).await
                        } else {
                            Err(SocketAllocateError::AddressFamilyNotSupported)
                        };
                        self.servers[via as usize].allocated_socket(
                            transport,
                            listen_addr,
                            client_addr,
                            allocation_transport,
                            family,
                            result,
                            now,
                        );
                    }
                    TurnServerPollRet::SocketClose { listen_addr, .. } => {
                        if !self.lingering.remove(&listen_addr) {
                            self.release(listen_addr);
                        }
                    }
                    TurnServerPollRet::TcpClose { remote_addr, .. } => {
                        // Dropping the writer ends the stream task, which closes the socket.
                        self.streams.remove(&(via, remote_addr));
                    }
                    // TCP allocations (RFC 6062) are not offered: browsers relay over UDP.
                    TurnServerPollRet::TcpConnect { .. } => {}
                }
            }
            let now = self.now();
            while let Some(t) = self.servers[via as usize].poll_transmit(now) {
                self.send(via, t).await;
            }
        }
        let wait = next
            .checked_duration_since(self.now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(1));
        tokio::time::Instant::now() + wait
    }

    /// Closes TCP/TLS connections that have held no allocation for [`STREAM_GRACE`] (checked at
    /// most once a second). Dropping the writer ends the stream task.
    fn reap_idle_streams(&mut self) {
        let now = self.now();
        if now.saturating_duration_since(self.last_reap) < Duration::from_secs(1) {
            return;
        }
        self.last_reap = now;
        let busy: HashSet<(Via, SocketAddr)> =
            self.relays.values().map(|r| (r.via, r.client)).collect();
        self.udp_local.retain(|client, (_, seen)| {
            busy.contains(&(Via::Udp, *client))
                || now.saturating_duration_since(*seen) < UDP_CLIENT_MEMORY
        });
        self.streams.retain(|key, (_, opened)| {
            let keep =
                busy.contains(key) || now.saturating_duration_since(*opened) < STREAM_GRACE;
            if !keep {
                tracing::debug!(client = %key.1, "turn: closing a connection without an allocation");
            }
            keep
        });
    }

    /// What the database last said about `participant`, if recent enough to trust.
    fn live_answer(&self, participant: &str) -> Option<Option<String>> {
        let (room, at) = self.live.get(participant)?;
        (self.now().saturating_duration_since(*at) < LIVE_CHECK_TTL).then(|| room.clone())
    }

    /// Asks the database about `participant` in the background; the answer comes back as
    /// `Event::Checked`, with `replay` (the message that waited) handled again then. Messages
    /// arriving while a check runs are dropped: clients retransmit.
    fn check(&mut self, participant: String, replay: Option<(Via, SocketAddr, Vec<u8>)>) {
        let Some(authorize) = self.settings.authorize.clone() else {
            return;
        };
        if !self.checking.insert(participant.clone()) {
            return;
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let room = match (authorize.0)(participant.clone()).await {
                Ok(room) => room,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "turn: cannot check a participant; refusing for now");
                    None
                }
            };
            let _ = tx
                .send(Event::Checked {
                    participant,
                    room,
                    replay,
                })
                .await;
        });
    }

    /// Checks again every participant holding allocations (at most every [`RECHECK_EVERY`]).
    fn recheck_holders(&mut self) {
        let now = self.now();
        if now.saturating_duration_since(self.last_recheck) < RECHECK_EVERY {
            return;
        }
        self.last_recheck = now;
        let holders: HashSet<String> = self
            .relays
            .values()
            .filter(|r| !r.user.starts_with(OPERATOR_PREFIX))
            .map(|r| r.user.clone())
            .collect();
        for p in holders {
            self.check(p, None);
        }
    }
}
