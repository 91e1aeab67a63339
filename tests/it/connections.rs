//! Connection limits on every listener (`http::serve`): header-read and idle timeouts on plain
//! HTTP, HTTPS and the port-80 redirect, the per-address cap, the cap on Socket.IO sessions
//! that never authenticate, and a server that keeps answering when it runs out of file
//! descriptors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use flowsync::config::TlsMode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, Setup, StateKind, free_port};

/// Reads until the server closes the connection (EOF or reset); how long that took.
async fn closed_within(conn: &mut (impl AsyncRead + Unpin), within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open for {within:?}"));
    started.elapsed()
}

const PARTIAL_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";

#[tokio::test(flavor = "multi_thread")]
async fn half_open_requests_are_closed_on_the_plain_listener() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| c.server.header_timeout = Duration::from_secs(1))
        .spawn()
        .await;
    let addr = t.server.as_ref().expect("server").addr;
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(PARTIAL_HEAD).await.expect("write");
        conns.push(c);
    }
    for c in &mut conns {
        closed_within(c, Duration::from_secs(8)).await;
    }
    // A keep-alive connection waiting for its next request is closed the same way.
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let took = closed_within(&mut c, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn https_and_redirect_listeners_time_out_headers_and_idle_websockets() {
    let (cfg, _dir) = crate::tls::config(|c| {
        c.tls.mode = TlsMode::SelfSigned;
        c.server.header_timeout = Duration::from_secs(1);
        c.server.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let cert_path = cfg.server.data_dir.join("tls/self-signed.crt");
    let server = flowsync::server::start(cfg).await.expect("server starts");
    let ca = std::fs::read(&cert_path).expect("certificate");
    let tls = crate::tls::client(&ca, &[&rustls::version::TLS13], &[b"http/1.1"]);

    // After the handshake, a request head that never ends.
    let mut https = crate::tls::connect(&tls, server.addr).await;
    https.write_all(PARTIAL_HEAD).await.expect("write");
    closed_within(&mut https, Duration::from_secs(5)).await;

    // The port-80 redirect listener.
    let mut plain = TcpStream::connect(server.redirect_addr.expect("redirect listener"))
        .await
        .expect("connect");
    plain.write_all(PARTIAL_HEAD).await.expect("write");
    closed_within(&mut plain, Duration::from_secs(5)).await;

    // A WebSocket that moves nothing after its upgrade is closed after idle_timeout (a live
    // Socket.IO client moves bytes every 25 s, so the default 60 s never cuts one).
    let mut ws = crate::tls::connect(&tls, server.addr).await;
    ws.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write");
    let mut head = [0u8; 512];
    let n = ws.read(&mut head).await.expect("read");
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    let took = closed_within(&mut ws, Duration::from_secs(8)).await;
    assert!(
        took < Duration::from_secs(8),
        "closed by the idle timeout, before Socket.IO's own (10 s to authenticate): {took:?}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_holds_at_most_max_connections_per_ip() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.connection_cap_exempt = vec![];
            c.server.max_connections_per_ip = 5;
        })
        .spawn()
        .await;
    let addr = t.server.as_ref().expect("server").addr;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        // A complete request each, so every connection has been accepted and counted.
        assert!(get(&mut c).await.starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    let mut sixth = TcpStream::connect(addr).await.expect("connect");
    let _ = sixth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    closed_within(&mut sixth, Duration::from_secs(5)).await;
    // One let go: room for another.
    held.pop();
    answered_soon(addr).await;
    t.stop().await;
}

/// Sends `GET /healthz` and returns the response head.
async fn get(c: &mut TcpStream) -> String {
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Asserts that a new connection is answered 200 within 5 s (a slot may take a moment to be
/// released after a client let go).
async fn answered_soon(addr: SocketAddr) {
    let started = Instant::now();
    loop {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        if get(&mut c).await.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no slot came free"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_io_sessions_that_never_authenticate_are_capped() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.connection_cap_exempt = vec![];
            c.server.unauthenticated_sockets_per_ip = 2;
        })
        .spawn()
        .await;
    let host = t.create_simple().await;
    // An authenticated socket does not count.
    let _live = t.connect(&host).await;
    let open = || async {
        t.client
            .get(t.url("/socket.io/?EIO=4&transport=polling"))
            .send()
            .await
            .expect("request")
    };
    for _ in 0..2 {
        assert_eq!(open().await.status(), 200);
    }
    let refused = open().await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=11).contains(&retry), "{retry}");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(crate::helpers::code(&body), "RATE_LIMITED");
    // Requests within an open session (it has a sid) are not new sessions.
    t.stop().await;
}

/// 1,100 idle connections against a 1,024-descriptor limit: `accept` fails for want of
/// descriptors, the quietest connections are closed to make room, and `/healthz` still answers.
#[tokio::test(flavor = "multi_thread")]
async fn keeps_answering_when_file_descriptors_run_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = tokio::process::Command::new("prlimit")
        .args(["--nofile=1024:1024", "--"])
        .arg(env!("CARGO_BIN_EXE_flowsync"))
        .args(["serve", "--quiet", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        // Only making room can help: no timeout frees anything during the test.
        .env("FLOWSYNC_SERVER__HEADER_TIMEOUT", "300s")
        .env("FLOWSYNC_SERVER__IDLE_TIMEOUT", "300s")
        .env("FLOWSYNC_LOG__LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start flowsync under prlimit");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = Instant::now();
    loop {
        if let Ok(mut c) = TcpStream::connect(addr).await
            && get(&mut c).await.starts_with("HTTP/1.1 200")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        idle.push(
            TcpStream::connect(addr)
                .await
                .expect("connect (the kernel queues it)"),
        );
    }
    // Older than a second: quiet enough to be closed for room.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let asked = Instant::now();
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let head = get(&mut c).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    assert!(asked.elapsed() < Duration::from_secs(10));
    // Some of the idle connections were closed to make room; the server is still up.
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    assert!(closed > 0, "no idle connection was closed");
    assert!(child.try_wait().expect("status").is_none(), "serve exited");
    drop(idle);
    let _ = child.kill().await;
}
