//! The HTTPS listener's handshake: each TLS handshake runs in its connection's own task (a slow
//! or hostile client never holds up the others) under `http::serve`'s limits, and times out
//! after 10 s. With a [`StreamSink`] (the embedded TURN server, plugged in by `server`), a
//! stream that did not negotiate HTTP/2 is looked at first: a stream whose first byte the sink
//! claims is handed to it, so TURN over TLS shares port 443 with the web app (a STUN message
//! starts with a byte below 0x40, an HTTP/1 request with a letter, and browsers send the TURN
//! Allocate request first, as soon as TLS is up).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::http::serve::{Handshake, Tracked};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts one TCP connection. On an error (out of file descriptors and the like) it logs, backs
/// off 50 ms instead of spinning, and returns None. Used by the TURN listener.
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

/// A decrypted stream from the HTTPS listener, with the bytes already read put back.
pub type TlsIo = Prefixed<TlsStream<Tracked<TcpStream>>>;

/// Takes the streams on the HTTPS port that are not for the web app.
pub trait StreamSink: Send + Sync {
    /// Whether a stream whose first byte is `first` belongs to this sink.
    fn claims(&self, first: u8) -> bool;
    /// Serves `stream` (from `peer`) until it ends or `stop` fires; must not block.
    fn take(&self, stream: TlsIo, peer: SocketAddr, stop: CancellationToken);
}

/// The HTTPS side of `http::serve`: the TLS handshake (10 s at most) on an admitted connection,
/// ACME TLS-ALPN-01 answers, and streams for the sink split off by their first byte.
#[derive(Clone)]
pub struct TlsHandshake {
    acceptor: TlsAcceptor,
    sink: Option<Arc<dyn StreamSink>>,
    stop: CancellationToken,
}

impl TlsHandshake {
    pub fn new(
        config: Arc<rustls::ServerConfig>,
        sink: Option<Arc<dyn StreamSink>>,
        stop: CancellationToken,
    ) -> Self {
        TlsHandshake {
            acceptor: TlsAcceptor::from(config),
            sink,
            stop,
        }
    }
}

impl Handshake for TlsHandshake {
    type Io = TlsIo;

    async fn handshake(&self, tcp: Tracked<TcpStream>, peer: SocketAddr) -> Option<Self::Io> {
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return None;
            }
        };
        // An ACME TLS-ALPN-01 validation ends with the handshake.
        if tls.get_ref().1.alpn_protocol() == Some(super::ACME_TLS_ALPN) {
            tracing::info!(%peer, "answered an ACME TLS-ALPN-01 validation");
            return None;
        }
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let mut tls = tls;
        let mut head = Vec::new();
        if let Some(sink) = self.sink.as_ref().filter(|_| !h2) {
            let mut first = [0u8; 1];
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.read(&mut first)).await {
                Ok(Ok(1)) => head.push(first[0]),
                _ => return None,
            }
            if sink.claims(first[0]) {
                sink.take(Prefixed::new(head, tls), peer, self.stop.clone());
                return None;
            }
        }
        Some(Prefixed::new(head, tls))
    }
}
