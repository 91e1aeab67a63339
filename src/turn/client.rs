//! A small TURN client over UDP, TCP or TLS, on `turn-client-proto` (the sans-IO client of the
//! same family as the server crate). `flowsync doctor` uses it to make a real allocation against
//! the configured TURN server, and the integration tests use it where coturn's command-line
//! client cannot reach (allocation expiry, connections closing, error answers).
//!
//! It allocates a UDP relay (the only kind browsers use), installs permissions, sends and
//! receives peer data and deletes the allocation. Every wait has a deadline.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::client::TurnClient;
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::{TransportType, TurnCredentials};
use turn_client_proto::udp::TurnClientUdp;
use turn_server_proto::api::Transmit;
use turn_server_proto::types::Instant;
use turn_server_proto::types::message::ALLOCATE;
use turn_server_proto::types::stun::attribute::{ErrorCode, MessageIntegrity, Nonce, Realm};
use turn_server_proto::types::stun::message::{
    LongTermKeyCredentials, Message, MessageClass, TransactionId,
};
use turn_server_proto::types::stun::prelude::AttributeStaticType;

/// How to reach the TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// TLS with this server name (SNI). The certificate is not judged here: the TURN check is
    /// about the relay; whether browsers trust the certificate is the certificate check's job.
    Tls(String),
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

enum Io {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

/// One connection to a TURN server, holding at most one allocation.
pub struct Client {
    io: Io,
    client: TurnClient,
    transport: TransportType,
    local: SocketAddr,
    remote: SocketAddr,
    base: std::time::Instant,
    inbox: VecDeque<(SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
    username: String,
    password: String,
    /// The first 401 challenge: (transaction, nonce).
    challenge: Option<(TransactionId, String)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("turn::Client")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish()
    }
}

/// What went wrong, worded for a person reading doctor's output.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the server refused the allocation (over quota, or no relay port free)")]
    AllocationRefused,
    #[error("the server refused the credentials: {0}")]
    Unauthorized(String),
    #[error("the server refused a permission for {0}")]
    PermissionRefused(IpAddr),
    #[error("the server closed the connection")]
    Closed,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |e| ClientError::Io(format!("{what}: {e}"))
}

async fn tls_connect(
    tcp: TcpStream,
    server_name: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let config = crate::tls::client::any_certificate()
        .map_err(|e| ClientError::Io(format!("TLS set-up: {e}")))?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| ClientError::Io(format!("{server_name} is not a TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(io_err("TLS handshake"))
}

impl Client {
    /// Connects to `server` (no allocation yet) with a TURN REST username and password.
    pub async fn connect(
        server: SocketAddr,
        transport: Transport,
        username: &str,
        password: &str,
    ) -> Result<Client, ClientError> {
        let mut config = TurnConfig::new(TurnCredentials::new(username, password));
        config.set_allocation_transport(TransportType::Udp);
        // FlowSync's server refuses USERHASH: REST usernames carry their expiry, which it checks.
        config.set_anonymous_username(turn_client_proto::stun::auth::Feature::Disabled);
        let (io, local, client, kind) = match transport {
            Transport::Udp => {
                let bind: SocketAddr = if server.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(bind).await.map_err(io_err("UDP socket"))?;
                sock.connect(server).await.map_err(io_err("UDP connect"))?;
                let local = sock.local_addr().map_err(io_err("UDP socket"))?;
                let client = TurnClientUdp::allocate(local, server, config);
                (Io::Udp(sock), local, client.into(), TransportType::Udp)
            }
            Transport::Tcp | Transport::Tls(_) => {
                let tcp = TcpStream::connect(server)
                    .await
                    .map_err(io_err(&format!("connecting to {server}")))?;
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().map_err(io_err("TCP socket"))?;
                let stream: Box<dyn Stream> = match &transport {
                    Transport::Tls(name) => Box::new(tls_connect(tcp, name).await?),
                    _ => Box::new(tcp),
                };
                let client = TurnClientTcp::allocate(local, server, config);
                (Io::Stream(stream), local, client.into(), TransportType::Tcp)
            }
        };
        Ok(Client {
            io,
            client,
            transport: kind,
            local,
            remote: server,
            base: std::time::Instant::now(),
            inbox: VecDeque::new(),
            buf: vec![0u8; 65536],
            username: username.to_owned(),
            password: password.to_owned(),
            challenge: None,
        })
    }

    fn now(&self) -> Instant {
        Instant::from_std(self.base)
    }

    /// Waits for the allocation; returns the relayed address.
    pub async fn allocate(&mut self, within: Duration) -> Result<SocketAddr, ClientError> {
        self.pump(within, false, |ev| match ev {
            TurnEvent::AllocationCreated(_, relayed) => Some(Ok(*relayed)),
            TurnEvent::AllocationCreateFailed(_) => Some(Err(ClientError::AllocationRefused)),
            _ => None,
        })
        .await?
        .ok_or(ClientError::Timeout(within))?
    }

    /// Installs a permission for `peer` and waits for the answer.
    pub async fn permit(&mut self, peer: IpAddr, within: Duration) -> Result<(), ClientError> {
        let now = self.now();
        self.client
            .create_permission(TransportType::Udp, peer, now)
            .map_err(|e| ClientError::Io(format!("permission: {e}")))?;
        self.pump(within, false, |ev| match ev {
            TurnEvent::PermissionCreated(_, ip) if *ip == peer => Some(Ok(())),
            TurnEvent::PermissionCreateFailed(_, ip) if *ip == peer => {
                Some(Err(ClientError::PermissionRefused(peer)))
            }
            _ => None,
        })
        .await?
        .ok_or(ClientError::Timeout(within))?
    }

    /// Sends `data` to `peer` through the relay (a Send indication).
    pub async fn send(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), ClientError> {
        let now = self.now();
        let out = self
            .client
            .send_to(TransportType::Udp, peer, data, now)
            .map_err(|e| ClientError::Io(format!("send: {e}")))?;
        if let Some(t) = out {
            let t = t.build();
            self.write(&t.data).await?;
        }
        Ok(())
    }

    /// The next datagram a peer sent through the relay.
    pub async fn recv(&mut self, within: Duration) -> Result<(SocketAddr, Vec<u8>), ClientError> {
        if let Some(d) = self.inbox.pop_front() {
            return Ok(d);
        }
        self.pump(within, true, |_| None::<()>).await?;
        self.inbox.pop_front().ok_or(ClientError::Timeout(within))
    }

    /// Deletes the allocation (a refresh with lifetime 0) and waits briefly for the answer.
    pub async fn delete(&mut self) -> Result<(), ClientError> {
        let now = self.now();
        self.client
            .delete(now)
            .map_err(|e| ClientError::Io(format!("delete: {e}")))?;
        match self
            .pump(Duration::from_millis(500), false, |_| None::<()>)
            .await
        {
            Ok(_) | Err(ClientError::Closed) | Err(ClientError::Timeout(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), ClientError> {
        match &mut self.io {
            Io::Udp(s) => s.send(data).await.map(|_| ()).map_err(io_err("send")),
            Io::Stream(s) => s.write_all(data).await.map_err(io_err("send")),
        }
    }

    /// Runs the protocol until `want` picks an event (`Some`), peer data arrives when
    /// `for_data` (`None`), the connection closes or `within` passes.
    async fn pump<R>(
        &mut self,
        within: Duration,
        for_data: bool,
        mut want: impl FnMut(&TurnEvent) -> Option<R>,
    ) -> Result<Option<R>, ClientError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let now = self.now();
            while let Some(t) = self.client.poll_transmit(now) {
                let data = t.data.to_vec();
                self.write(&data).await?;
            }
            while let Some(ev) = self.client.poll_event() {
                if let Some(r) = want(&ev) {
                    return Ok(Some(r));
                }
            }
            while let Some(d) = self.client.poll_recv(now) {
                self.inbox.push_back((d.peer, d.data().to_vec()));
            }
            if for_data && !self.inbox.is_empty() {
                return Ok(None);
            }
            let wake = match self.client.poll(now) {
                TurnPollRet::WaitUntil(t) => {
                    let wait = t.checked_duration_since(now).unwrap_or(Duration::ZERO);
                    (tokio::time::Instant::now() + wait).min(deadline)
                }
                TurnPollRet::Closed => return Err(ClientError::Closed),
                _ => deadline.min(tokio::time::Instant::now() + Duration::from_millis(10)),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout(within));
            }
            let n = tokio::select! {
                r = async {
                    match &mut self.io {
                        Io::Udp(s) => s.recv(&mut self.buf).await,
                        Io::Stream(s) => s.read(&mut self.buf).await,
                    }
                } => r.map_err(io_err("receive"))?,
                _ = tokio::time::sleep_until(wake) => continue,
            };
            if n == 0 && matches!(self.io, Io::Stream(_)) {
                return Err(ClientError::Closed);
            }
            let now = self.now();
            let data = self.buf[..n].to_vec();
            if let Some(e) = self.refusal(&data) {
                return Err(e);
            }
            let t = Transmit::new(&data[..], self.transport, self.remote, self.local);
            if let TurnRecvRet::PeerData(d) = self.client.recv(t, now) {
                self.inbox.push_back((d.peer, d.data().to_vec()));
            }
        }
    }
}

impl Client {
    /// Recognises a final 401 to an Allocate, which the protocol crate would only time out on:
    /// one signed with our key (the server knows us but refuses, e.g. an expired credential),
    /// or a second challenge with the nonce we already answered (a wrong password). Streams
    /// may deliver several messages in one read; a 401 is looked for at the start only, which
    /// is where an answer to our one outstanding request lands.
    fn refusal(&mut self, data: &[u8]) -> Option<ClientError> {
        let msg = Message::from_bytes(data).ok()?;
        if msg.method() != ALLOCATE || !msg.has_class(MessageClass::Error) {
            return None;
        }
        let error = msg.attribute::<ErrorCode>().ok()?;
        if error.code() != ErrorCode::UNAUTHORIZED {
            return None;
        }
        let realm = msg
            .attribute::<Realm>()
            .map(|r| r.realm().to_owned())
            .unwrap_or_default();
        let key = LongTermKeyCredentials::new(self.username.clone(), self.password.clone(), realm);
        if msg.has_attribute(MessageIntegrity::TYPE) && msg.validate_integrity(&key.into()).is_ok()
        {
            return Some(ClientError::Unauthorized(error.reason().to_owned()));
        }
        let nonce = msg.attribute::<Nonce>().ok()?.nonce().to_owned();
        let txid = msg.transaction_id();
        match &self.challenge {
            Some((first, seen)) if *first != txid && *seen == nonce => {
                Some(ClientError::Unauthorized(
                    "wrong username or password (check the shared secret)".into(),
                ))
            }
            Some(_) => None,
            None => {
                self.challenge = Some((txid, nonce));
                None
            }
        }
    }
}

/// The result of [`probe`].
#[derive(Debug, Clone)]
pub struct Probe {
    /// From the first request to the allocation (two round trips: the 401 challenge, then the
    /// signed request).
    pub rtt: Duration,
    pub relayed: SocketAddr,
}

/// Makes one allocation with fresh credentials and deletes it again.
pub async fn probe(
    server: SocketAddr,
    transport: Transport,
    username: &str,
    password: &str,
    within: Duration,
) -> Result<Probe, ClientError> {
    let started = std::time::Instant::now();
    let attempt = async {
        let mut c = Client::connect(server, transport, username, password).await?;
        let relayed = c.allocate(within).await?;
        let rtt = started.elapsed();
        c.delete().await?;
        Ok(Probe { rtt, relayed })
    };
    tokio::time::timeout(within, attempt)
        .await
        .unwrap_or(Err(ClientError::Timeout(within)))
}
