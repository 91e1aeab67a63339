//! The HTTPS listener: accepts TCP connections and runs each TLS handshake in its own task (a
//! slow or hostile client never holds up the others), handing finished streams to `axum::serve`
//! through a channel. Handshakes time out after 10 s. With the embedded TURN server, a stream
//! that did not negotiate HTTP/2 is looked at first: a STUN message starts with a byte below
//! 0x40, an HTTP/1 request with a letter, so TURN over TLS shares port 443 with the web app
//! (browsers send the TURN Allocate request first, as soon as TLS is up).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts one TCP connection. On an error (out of file descriptors and the like) it logs, backs
/// off 50 ms instead of spinning, and returns None. Shared by the HTTPS and TURN listeners.
pub async fn accept_or_back_off(l: &TcpListener, what: &str) -> Option<(TcpStream, SocketAddr)> {
    match l.accept().await {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::warn!(error = %e, listener = what, "accepting a connection failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

pub struct TlsListener {
    rx: mpsc::Receiver<(Prefixed<TlsStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
}

/// A stream with bytes already read from it put back in front.
pub struct Prefixed<S> {
    head: Vec<u8>,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(head: Vec<u8>, inner: S) -> Self {
        Prefixed { head, inner }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl TlsListener {
    /// Starts accepting on `tcp` until `stop` fires.
    pub fn spawn(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        turn: Option<crate::turn::Turn>,
        stop: CancellationToken,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = accept_or_back_off(&tcp, "HTTPS") => match r {
                        Some(pair) => pair,
                        None => continue,
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let turn = turn.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            // An ACME TLS-ALPN-01 validation ends with the handshake.
                            if tls.get_ref().1.alpn_protocol() == Some(super::ACME_TLS_ALPN) {
                                tracing::info!(%peer, "answered an ACME TLS-ALPN-01 validation");
                                return;
                            }
                            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                            let mut tls = tls;
                            let mut head = Vec::new();
                            if let Some(turn) = turn.filter(|_| !h2) {
                                let mut first = [0u8; 1];
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.read(&mut first))
                                    .await
                                {
                                    Ok(Ok(1)) => head.push(first[0]),
                                    _ => return,
                                }
                                if first[0] < 0x40 {
                                    turn.serve_tls(Prefixed::new(head, tls), peer, stop);
                                    return;
                                }
                            }
                            let _ = tx.send((Prefixed::new(head, tls), peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Prefixed<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(pair) => pair,
            // Stopped: accept nothing more (the server is draining).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
