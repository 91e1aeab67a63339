//! The operator's local channel: a Unix socket in the data directory (`admin.sock`, mode 0660,
//! inside the data directory, 0750 `flowsync:flowsync` when installed and 0700 when `serve`
//! creates it, so only the service user, its group and root reach it) serving the same
//! routes as the TCP listeners. A request that came through it carries [`LocalChannel`], which
//! is what makes it an operator without the admin token: `flowsync rooms end` uses it. Loopback
//! TCP is not enough for `/api/admin` (a local proxy without `X-Forwarded-For`, or a
//! DNS-rebinding page in a browser on the server, would pass for the operator).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// The socket's name in `server.data_dir`.
pub const SOCKET_NAME: &str = "admin.sock";

/// Marks a request that came over the local channel.
#[derive(Debug, Clone, Copy)]
pub struct LocalChannel;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Binds `admin.sock` in `data_dir` and serves `router` on it until `stop` fires. A socket file
/// left by a process that is gone is replaced; one another live server answers on is left alone
/// (and this server goes without: the CLI then needs the admin token).
pub async fn serve(data_dir: &Path, router: axum::Router, stop: CancellationToken) {
    let path = socket_path(data_dir);
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            tracing::warn!(path = %path.display(), "another server answers on the admin socket; this one serves none");
            return;
        }
        let _ = std::fs::remove_file(&path);
    }
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the admin socket; `flowsync rooms end` will need FLOWSYNC_ADMIN_TOKEN");
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot restrict the admin socket to 0660; closing it");
        let _ = std::fs::remove_file(&path);
        return;
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting on the admin socket failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Local processes have no address; rate limits see loopback.
        let conn = http.serve_connection(
            TokioIo::new(stream),
            super::serve::router_service(
                router.clone(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                Some(LocalChannel),
            ),
        );
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// One request over the local channel (for the CLI): method, path, no body. Returns the status
/// and body, or the connect error when no server listens.
pub async fn request(data_dir: &Path, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = UnixStream::connect(socket_path(data_dir)).await?;
    s.write_all(
        // HTTP/1.0: the answer is sent whole and the connection closed, never chunked.
        format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 30 s"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let body = body.to_owned();
    Ok((status, body))
}
