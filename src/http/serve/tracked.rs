//! A connection's stream as `serve` hands it on: counted in the registry while it exists, marked
//! active by every byte it moves, and failing every read and write once the registry closes it.

use super::*;

/// A connection's stream, counted in the registry while it exists: every byte moved marks it
/// active, and once the registry closes it every read and write fails, so whoever holds it
/// (hyper, or the WebSocket it was upgraded to) lets it go.
pub struct Tracked<S> {
    pub(super) inner: S,
    pub(super) conn: Arc<Conn>,
    pub(super) owner: Arc<Connections>,
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.owner.remove(&self.conn);
    }
}

pub(super) fn closed_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "connection closed by the server (idle, or to make room)",
    )
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.conn
            .last_active
            .store(self.owner.now(), Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.conn.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                self.conn.read_waker.register(cx.waker());
                if self.conn.is_closing() {
                    return Poll::Ready(Err(closed_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S> Tracked<S> {
    /// What a write on the inner stream gave, with the bookkeeping: bytes written mark the
    /// connection active; a write that has to wait registers for closing.
    fn after_write(
        &self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.touch();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                self.conn.write_waker.register(cx.waker());
                if self.conn.is_closing() {
                    return Poll::Ready(Err(closed_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.conn.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.conn.is_closing() {
            return Poll::Ready(Err(closed_error()));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
