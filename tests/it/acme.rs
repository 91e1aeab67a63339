//! ACME against a real CA: Debian's `pebble` (with `pebble-challtestsrv` as its DNS, resolving
//! every name to 127.0.0.1), one per test on free loopback ports, its validation ports pointed
//! at the ports FlowSync listens on. Covers `cert issue` over HTTP-01 (answered by the command
//! itself) and TLS-ALPN-01 (answered by a running `serve`), `serve` obtaining a certificate at
//! start, a forced renewal while a WebSocket stays connected, the issuance lock, and failures
//! that must leave the stored certificate untouched.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowsync::config::{Challenge, Config, TlsMode};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, Setup, StateKind, free_port, fresh_pg_database};

const NAME: &str = "flowsync.test";

/// A pebble CA and its DNS, killed on drop.
struct Pebble {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
    directory: String,
    /// Trust anchor of pebble's own HTTPS listener (tls.acme_ca_root).
    ca_root: PathBuf,
    management: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pebble {
    async fn start(http_port: u16, tls_port: u16) -> Pebble {
        if Command::new("pebble").arg("-h").output().is_err() {
            panic!("pebble is not installed; scripts/test.sh installs it (apt-get install pebble)");
        }
        let dir = tempfile::tempdir().unwrap();
        // pebble ships no certificate for its own HTTPS listener: make a CA and a leaf.
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble listener test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_root = dir.path().join("ca.pem");
        std::fs::write(&ca_root, ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();

        // Pebble is ready only when its directory answers over TLS with the certificate made
        // above (a bare TCP connect was once satisfied by whoever else held the port, and
        // `cert issue` then "could not reach" the directory); if either process exits first
        // (its port was taken), both start again on new ports.
        let trust = reqwest::Certificate::from_pem(&std::fs::read(&ca_root).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(trust)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        for _attempt in 0..5 {
            let (acme, mgmt, dns, dns_mgmt) = (free_port(), free_port(), free_port(), free_port());
            let mut children =
                Self::spawn(dir.path(), http_port, tls_port, [acme, mgmt, dns, dns_mgmt]);
            let directory = format!("https://127.0.0.1:{acme}/dir");
            let started = Instant::now();
            let ready = loop {
                if children.iter_mut().any(|c| c.try_wait().unwrap().is_some()) {
                    break false;
                }
                let answered = match client.get(&directory).send().await {
                    Ok(r) if r.status().is_success() => {
                        r.text().await.is_ok_and(|t| t.contains("newOrder"))
                    }
                    _ => false,
                };
                if answered && std::net::TcpStream::connect(("127.0.0.1", dns)).is_ok() {
                    // A DNS port taken by someone else makes challtestsrv exit at once.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break children.iter_mut().all(|c| c.try_wait().unwrap().is_none());
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "pebble did not start"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if ready {
                return Pebble {
                    _dir: dir,
                    children,
                    directory,
                    ca_root,
                    management: format!("https://127.0.0.1:{mgmt}"),
                };
            }
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        panic!("pebble or pebble-challtestsrv exited five times: their ports were taken");
    }

    /// pebble-challtestsrv (pebble's DNS) and pebble on the given ports: [acme, management,
    /// dns, dns management].
    fn spawn(dir: &Path, http_port: u16, tls_port: u16, ports: [u16; 4]) -> Vec<Child> {
        let [acme, mgmt, dns, dns_mgmt] = ports;
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("cert.pem"),
            "privateKey": dir.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let quiet = || std::process::Stdio::null();
        let dns_srv = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-management",
                &format!("127.0.0.1:{dns_mgmt}"),
            ])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap();
        let ca = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap();
        vec![dns_srv, ca]
    }

    /// The root that signs the certificates pebble issues.
    async fn issuing_root(&self) -> String {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca_root).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        client
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// A FlowSync config in acme mode against `pebble`, listening on the given ports.
async fn acme_config(
    pebble: &Pebble,
    http: u16,
    https: u16,
    challenge: Challenge,
) -> (Config, Arc<tempfile::TempDir>) {
    let setup = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.http_listen = SocketAddr::from(([127, 0, 0, 1], http));
            c.server.https_listen = SocketAddr::from(([127, 0, 0, 1], https));
            c.tls.mode = TlsMode::Acme;
            c.tls.domains = vec![NAME.into()];
            c.tls.email = Some("ops@flowsync.test".into());
            c.tls.acme_directory = pebble.directory.clone();
            c.tls.acme_ca_root = Some(pebble.ca_root.clone());
            c.tls.challenge = challenge;
        });
    (setup.config, setup.dir)
}

/// The same configuration for the binary, as environment variables.
fn cli(config: &Config, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowsync"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOWSYNC_") {
            c.env_remove(k);
        }
    }
    let ch = match config.tls.challenge {
        Challenge::Http01 => "http-01",
        Challenge::TlsAlpn01 => "tls-alpn-01",
    };
    c.env("FLOWSYNC_SERVER__DATA_DIR", &config.server.data_dir)
        .env("FLOWSYNC_DATABASE__URL", config.database.url.expose())
        .env(
            "FLOWSYNC_SERVER__HTTP_LISTEN",
            config.server.http_listen.to_string(),
        )
        .env(
            "FLOWSYNC_SERVER__HTTPS_LISTEN",
            config.server.https_listen.to_string(),
        )
        .env("FLOWSYNC_TLS__MODE", "acme")
        .env("FLOWSYNC_TLS__DOMAINS", config.tls.domains.join(","))
        .env("FLOWSYNC_TLS__ACME_DIRECTORY", &config.tls.acme_directory)
        .env(
            "FLOWSYNC_TLS__ACME_CA_ROOT",
            config.tls.acme_ca_root.as_ref().unwrap(),
        )
        .env("FLOWSYNC_TLS__CHALLENGE", ch)
        .env("FLOWSYNC_LOG__LEVEL", "warn")
        .args(args)
        .output()
        .unwrap()
}

fn say(o: &Output) -> String {
    format!(
        "{:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn connector(root_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// A verified TLS connection to `addr` for NAME (fails unless the served chain is pebble's).
async fn tls_connect(
    c: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    c.connect(ServerName::try_from(NAME).unwrap(), tcp)
        .await
        .expect("a certificate for the name, from pebble")
}

fn serial_of(conn: &tokio_rustls::client::TlsStream<TcpStream>) -> String {
    let der = &conn.get_ref().1.peer_certificates().unwrap()[0];
    x509_parser::parse_x509_certificate(der.as_ref())
        .unwrap()
        .1
        .raw_serial_as_string()
}

fn stored(config: &Config) -> Option<Vec<u8>> {
    std::fs::read(flowsync::tls::acme::Paths::new(config).cert).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_issue_over_http01_then_serve_presents_it() {
    crate::helpers::needs!(
        crate::helpers::Need::Tool("pebble"),
        crate::helpers::Need::Tool("pebble-challtestsrv")
    );
    let (http, https) = (free_port(), free_port());
    let pebble = Pebble::start(http, https).await;
    let (config, _dir) = acme_config(&pebble, http, https, Challenge::Http01).await;
    let out = cli(&config, &["cert", "issue", "--json"]);
    assert!(out.status.success(), "{}", say(&out));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        issued["answered_by"], "cert",
        "nothing else held port 80: the command answered"
    );
    assert_eq!(issued["account_created"], true);
    let paths = flowsync::tls::acme::Paths::new(&config);
    for f in [&paths.key, &paths.account] {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    // The account is reused; not due, so renew does nothing.
    let again = cli(&config, &["cert", "renew", "--json"]);
    assert!(again.status.success(), "{}", say(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("not due"));
    let status = cli(&config, &["cert", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["certificate"]["names"], serde_json::json!([NAME]));
    assert!(status["acme"]["account"].is_string());
    // doctor sees the same: the chain pebble sent links up, the names match, the account is
    // stored, and it says when renewal starts.
    let doc = cli(
        &config,
        &[
            "doctor",
            "--json",
            "--run",
            "certificate",
            "--run",
            "acme-account",
        ],
    );
    assert!(doc.status.success(), "{}", say(&doc));
    let doc: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap();
    for c in doc["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c:#}");
    }
    assert!(
        doc["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("renewal from")
    );

    let server = flowsync::server::start(config.clone()).await.unwrap();
    let root = pebble.issuing_root().await;
    let mut conn = tls_connect(&connector(&root), server.addr).await;
    conn.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut res = String::new();
    conn.read_to_string(&mut res).await.unwrap();
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    server.shutdown().await.unwrap();
}

/// A masked WebSocket text frame (client → server).
fn ws_text(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_obtains_over_tls_alpn_and_a_forced_renewal_keeps_websockets_open() {
    crate::helpers::needs!(
        crate::helpers::Need::Tool("pebble"),
        crate::helpers::Need::Tool("pebble-challtestsrv")
    );
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("flowsync=debug")
        .try_init();
    let (http, https) = (free_port(), free_port());
    let pebble = Pebble::start(http, https).await;
    let (config, _dir) = acme_config(&pebble, http, https, Challenge::TlsAlpn01).await;
    assert!(stored(&config).is_none());
    let server = flowsync::server::start(config.clone()).await.unwrap();
    let resolver = server.certificate.as_ref().unwrap().clone();
    let started = Instant::now();
    while !resolver.has_certificate() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve never obtained a certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let root = pebble.issuing_root().await;
    let tls = connector(&root);

    // A WebSocket (Socket.io's transport) stays open across the renewal.
    let mut ws = tls_connect(&tls, server.addr).await;
    let first_serial = serial_of(&ws);
    ws.write_all(
        format!("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {NAME}\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = ws.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));

    // `cert renew --force` while serve runs: serve holds 443 and answers the challenge.
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli(&config, &["cert", "renew", "--force", "--json"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", say(&out));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(issued["answered_by"], "serve");
    assert_ne!(issued["serial"].as_str().unwrap(), first_serial);

    // New connections get the new certificate once serve notices it (it polls every 2 s).
    let started = Instant::now();
    loop {
        let c = tls_connect(&tls, server.addr).await;
        if serial_of(&c) != first_serial {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve kept the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The old WebSocket still answers: a Socket.io CONNECT without a token gets CONNECT_ERROR.
    ws.write_all(&ws_text(b"40")).await.unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.contains("44") && Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(5), ws.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the WebSocket was closed by the renewal");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("44"), "{got}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_issuer_is_refused_while_one_holds_the_lock() {
    crate::helpers::needs!(
        crate::helpers::Need::Tool("pebble"),
        crate::helpers::Need::Tool("pebble-challtestsrv")
    );
    let (http, https) = (free_port(), free_port());
    let pebble = Pebble::start(http, https).await;
    let (config, _dir) = acme_config(&pebble, http, https, Challenge::Http01).await;
    let _held =
        flowsync::tls::acme::IssueLock::acquire(&flowsync::tls::acme::Paths::new(&config)).unwrap();
    let out = cli(&config, &["cert", "issue"]);
    assert_eq!(out.status.code(), Some(5), "{}", say(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("another flowsync is obtaining a certificate")
    );
}

fn plant(config: &Config, path: &Path) -> Vec<u8> {
    let (cert, key) = flowsync::tls::self_signed(&[NAME.into()], 30).unwrap();
    let p = flowsync::tls::acme::Paths::new(config);
    std::fs::create_dir_all(&p.dir).unwrap();
    std::fs::write(&p.cert, &cert).unwrap();
    std::fs::write(&p.key, key).unwrap();
    let _ = path;
    cert.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_say_why_and_leave_the_stored_certificate_alone() {
    crate::helpers::needs!(
        crate::helpers::Need::Tool("pebble"),
        crate::helpers::Need::Tool("pebble-challtestsrv")
    );
    let (http, https) = (free_port(), free_port());
    let pebble = Pebble::start(http, https).await;

    // The directory is down.
    let (mut config, _dir) = acme_config(&pebble, http, https, Challenge::Http01).await;
    let before = plant(&config, Path::new(""));
    config.tls.acme_directory = format!("https://127.0.0.1:{}/dir", free_port());
    let out = cli(&config, &["cert", "issue"]);
    assert_eq!(out.status.code(), Some(3), "{}", say(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the ACME directory"),
        "{}",
        say(&out)
    );
    assert_eq!(stored(&config).unwrap(), before);

    // The challenge is answered where the CA does not look (our port 80 is not pebble's).
    let (mut config, _dir2) = acme_config(&pebble, free_port(), https, Challenge::Http01).await;
    let before = plant(&config, Path::new(""));
    config.tls.acme_directory = pebble.directory.clone();
    let out = cli(&config, &["cert", "issue"]);
    assert_eq!(out.status.code(), Some(1), "{}", say(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the CA refused the challenge"),
        "{}",
        say(&out)
    );
    assert_eq!(stored(&config).unwrap(), before);
}

async fn serial_at(root: &str, addr: SocketAddr) -> String {
    serial_of(&tls_connect(&connector(root), addr).await)
}

/// Two instances on one PostgreSQL database serve the same certificate, and a challenge for an
/// order placed through one is answered by the other (the one the CA reaches).
#[tokio::test(flavor = "multi_thread")]
async fn instances_sharing_postgres_share_certificates_and_answer_each_others_challenges() {
    crate::helpers::needs!(
        crate::helpers::Need::Postgres,
        crate::helpers::Need::Tool("pebble"),
        crate::helpers::Need::Tool("pebble-challtestsrv")
    );
    let (http_a, https_a, http_b, https_b) = (free_port(), free_port(), free_port(), free_port());
    let pebble = Pebble::start(http_b, https_b).await; // the CA only ever reaches instance B
    let url = fresh_pg_database().await;
    let (mut a, _da) = acme_config(&pebble, http_a, https_a, Challenge::Http01).await;
    let (mut b, _db) = acme_config(&pebble, http_b, https_b, Challenge::Http01).await;
    a.database.url = flowsync::config::Secret::new(url.clone());
    b.database.url = flowsync::config::Secret::new(url);

    let server_b = flowsync::server::start(b.clone()).await.unwrap();
    let started = Instant::now();
    while !server_b.certificate.as_ref().unwrap().has_certificate() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "B never obtained a certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let root = pebble.issuing_root().await;
    let first = serial_at(&root, server_b.addr).await;

    // A starts with nothing on its disk and serves B's certificate from the database.
    let server_a = flowsync::server::start(a.clone()).await.unwrap();
    let started = Instant::now();
    while !server_a.certificate.as_ref().unwrap().has_certificate() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "A never picked up the shared certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(serial_at(&root, server_a.addr).await, first);

    // Renewing through A's configuration: the CA checks B, which answers from the database.
    let out = tokio::task::spawn_blocking({
        let a = a.clone();
        move || cli(&a, &["cert", "renew", "--force", "--json"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", say(&out));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = issued["serial"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let started = Instant::now();
    for addr in [server_a.addr, server_b.addr] {
        while serial_at(&root, addr).await != second {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{addr} kept the old certificate"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    server_a.shutdown().await.unwrap();
    server_b.shutdown().await.unwrap();
}
