//! HTTPS in `serve` with rustls: self-signed and files modes, TLS 1.2/1.3 only (an old client is
//! refused with the server's alert), ALPN h2, HSTS, the HTTP → HTTPS redirect, WebSockets over
//! TLS, and a certificate swapped on reload while an open connection keeps working.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use flowsync::config::{Config, TlsMode};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::helpers::{Backend, Setup, StateKind};

pub(crate) async fn config(f: impl FnOnce(&mut Config)) -> (Config, Arc<tempfile::TempDir>) {
    let setup = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.https_listen = "127.0.0.1:0".parse().unwrap();
            f(c);
        });
    (setup.config, setup.dir)
}

pub(crate) fn client(
    ca_pem: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(cfg))
}

pub(crate) async fn connect(c: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    c.connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// One HTTP/1.1 request on an open (keep-alive) connection; returns the head and body text.
async fn request(conn: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin), path: &str) -> String {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

fn serial(conn: &TlsStream<TcpStream>) -> String {
    let der = &conn.get_ref().1.peer_certificates().unwrap()[0];
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    cert.raw_serial_as_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_https_h2_hsts_websockets_and_redirect() {
    crate::helpers::needs!(crate::helpers::Need::Tool("openssl"));
    let (cfg, _dir) = config(|c| c.tls.mode = TlsMode::SelfSigned).await;
    let cert_path = cfg.server.data_dir.join("tls/self-signed.crt");
    let server = flowsync::server::start(cfg).await.unwrap();
    assert!(server.url().starts_with("https://"));
    let ca = std::fs::read(&cert_path).expect("serve generated a certificate");
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(cert_path.with_extension("key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600, "the private key is 0600");

    // TLS 1.3 with h2 offered: h2 is chosen.
    let tls13 = client(&ca, &[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let conn = connect(&tls13, server.addr).await;
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    drop(conn);

    // TLS 1.2 works too; HTTP/1.1 responses carry HSTS and the security headers.
    let tls12 = client(&ca, &[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut conn = connect(&tls12, server.addr).await;
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let res = request(&mut conn, "/healthz").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let lower = res.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age=31536000"),
        "{res}"
    );
    assert!(lower.contains("content-security-policy:"), "{res}");

    // Socket.io's WebSocket upgrade goes through TLS.
    let mut ws = connect(&tls12, server.addr).await;
    ws.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = [0u8; 256];
    let n = ws.read(&mut head).await.unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );

    // Plain HTTP redirects to the configured origin, whatever Host says.
    let mut plain = TcpStream::connect(server.redirect_addr.unwrap())
        .await
        .unwrap();
    plain
        .write_all(
            b"GET /room/ABCDEF?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut text = String::new();
    plain.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 308"), "{text}");
    let want = format!(
        "location: https://localhost:{}/room/ABCDEF?x=1",
        server.addr.port()
    );
    assert!(text.contains(&want), "{text}");

    // An old client offering only TLS 1.1 (and weak ciphers allowed, so OpenSSL itself does not
    // refuse first) is turned away by an alert the server sends: rustls answers a ClientHello
    // without TLS 1.2+ with handshake_failure (alert 40).
    let old = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &server.addr.to_string(),
            "-servername",
            "localhost",
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&old.stdout),
        String::from_utf8_lossy(&old.stderr)
    );
    assert!(!old.status.success(), "TLS 1.1 must fail: {said}");
    assert!(
        said.contains("SSL alert number 40") || said.contains("SSL alert number 70"),
        "the refusal comes from the server's alert: {said}"
    );
    assert!(
        said.contains("Protocol  : TLSv1.1"),
        "the client really offered TLS 1.1: {said}"
    );
    server.shutdown().await.unwrap();
}

fn write(path: &Path, (cert, key): &(String, String)) {
    std::fs::write(path.with_extension("crt"), cert).unwrap();
    std::fs::write(path.with_extension("key"), key).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn files_mode_swaps_the_certificate_on_reload_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("site");
    let first = flowsync::tls::self_signed(&["localhost".into()], 30).unwrap();
    write(&base, &first);
    let (cfg, _d) = config(|c| {
        c.tls.mode = TlsMode::Files;
        c.tls.cert_path = Some(base.with_extension("crt"));
        c.tls.key_path = Some(base.with_extension("key"));
    })
    .await;
    let server = flowsync::server::start(cfg.clone()).await.unwrap();
    let c1 = client(
        first.0.as_bytes(),
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    );
    let mut open = connect(&c1, server.addr).await;
    let old_serial = serial(&open);
    assert!(
        request(&mut open, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );

    let second = flowsync::tls::self_signed(&["localhost".into()], 60).unwrap();
    write(&base, &second);
    let report = server.reload(cfg.clone());
    assert!(
        report.applied.iter().any(|a| a == "tls certificate"),
        "{report:?}"
    );
    let c2 = client(
        second.0.as_bytes(),
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    );
    let fresh = connect(&c2, server.addr).await;
    assert_ne!(
        serial(&fresh),
        old_serial,
        "new connections get the new certificate"
    );
    assert!(
        request(&mut open, "/healthz")
            .await
            .starts_with("HTTP/1.1 200"),
        "the open connection still works"
    );

    // A broken file on reload keeps the current certificate.
    std::fs::write(base.with_extension("crt"), "not a certificate").unwrap();
    let report = server.reload(cfg);
    assert!(!report.applied.iter().any(|a| a == "tls certificate"));
    let still = connect(&c2, server.addr).await;
    assert_eq!(serial(&still), serial(&fresh));
    server.shutdown().await.unwrap();
}

#[test]
fn tls_config_errors_name_the_key() {
    let load = |env: &[(&str, &str)]| {
        flowsync::config::Config::load_with_env(
            &flowsync::config::LoadOptions::default(),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let err = load(&[("FLOWSYNC_TLS__MODE", "acme")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls.domains"), "{err}");
    let err = load(&[
        ("FLOWSYNC_TLS__MODE", "acme"),
        ("FLOWSYNC_TLS__DOMAINS", "a.example"),
        ("FLOWSYNC_TLS__CHALLENGE", "dns-01"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("tls.challenge") && err.contains("tls-alpn-01"),
        "{err}"
    );
    let err = load(&[("FLOWSYNC_TLS__MODE", "quantum")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls.mode") && err.contains("self-signed"),
        "{err}"
    );
    let err = load(&[("FLOWSYNC_TLS__MODE", "files")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls.cert_path"), "{err}");
    let ok = load(&[
        ("FLOWSYNC_TLS__MODE", "self-signed"),
        ("FLOWSYNC_TLS__DOMAINS", "rooms.example.com"),
    ])
    .unwrap();
    assert_eq!(ok.config.public_url(), "https://rooms.example.com");
}

#[test]
fn cert_self_signed_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowsync"));
        for (k, _) in std::env::vars() {
            if k.starts_with("FLOWSYNC_") {
                c.env_remove(k);
            }
        }
        c.env("FLOWSYNC_SERVER__DATA_DIR", dir.path().join("data"))
            .envs(env.iter().copied())
            .args(args)
            .output()
            .unwrap()
    };
    let off = run(&["cert", "status"], &[]);
    assert_eq!(
        off.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let ss = [("FLOWSYNC_TLS__MODE", "self-signed")];
    let none = run(&["cert", "status"], &ss);
    assert_eq!(none.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&none.stderr).contains("cert self-signed"));
    let made = run(
        &[
            "cert",
            "self-signed",
            "--name",
            "rooms.lan",
            "--name",
            "192.168.1.10",
            "--days",
            "90",
        ],
        &ss,
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let status = run(&["cert", "status", "--json"], &ss);
    assert!(status.status.success());
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        v["certificate"]["names"],
        serde_json::json!(["rooms.lan", "192.168.1.10"])
    );
    assert!(v["certificate"]["self_signed"].as_bool().unwrap());
    let days = v["certificate"]["days_left"].as_i64().unwrap();
    assert!((88..=90).contains(&days), "{days}");
}

#[test]
fn cert_import_copies_the_pair_and_points_the_config_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flowsync.toml");
    std::fs::write(
        &cfg,
        "# my comments stay\n[server]\ndata_dir = \"DATA\" # here too\n"
            .replace("DATA", &dir.path().join("data").display().to_string()),
    )
    .unwrap();
    let (cert, key) = flowsync::tls::self_signed(&["rooms.example.org".into()], 90).unwrap();
    let (other_cert, _) = flowsync::tls::self_signed(&["other.example.org".into()], 90).unwrap();
    std::fs::write(dir.path().join("a.crt"), &cert).unwrap();
    std::fs::write(dir.path().join("a.key"), &key).unwrap();
    std::fs::write(dir.path().join("b.crt"), &other_cert).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowsync"));
        for (k, _) in std::env::vars() {
            if k.starts_with("FLOWSYNC_") {
                c.env_remove(k);
            }
        }
        c.arg("--config")
            .arg(&cfg)
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    // A certificate with someone else's key is refused.
    let bad = run(&["cert", "import", "--cert", "b.crt", "--key", "a.key"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not belong"));

    let ok = run(&["cert", "import", "--cert", "a.crt", "--key", "a.key"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("# my comments stay") && text.contains("# here too"),
        "{text}"
    );
    assert!(
        text.contains("mode = \"files\"") && text.contains("imported.crt"),
        "{text}"
    );
    let key_path = dir.path().join("data/tls/imported.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let status = run(&["cert", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["mode"], "files");
    assert_eq!(
        v["certificate"]["names"],
        serde_json::json!(["rooms.example.org"])
    );
    let again = run(&["cert", "import", "--cert", "a.crt", "--key", "a.key"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(
        run(&[
            "cert", "import", "--cert", "a.crt", "--key", "a.key", "--force"
        ])
        .status
        .success()
    );
}
