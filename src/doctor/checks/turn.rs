//! `turn`: the STUN/TURN servers handed to browsers work. For every URL browsers get (the
//! configured `turn.urls`, or in embedded mode the ones `serve` derives):
//! - `stun:` gets a binding request (UDP, or TCP for `?transport=tcp`): round trip and the
//!   address the server saw;
//! - `turn:` and `turns:` (TLS, e.g. on the HTTPS port) get a real allocation with freshly
//!   minted REST credentials for the participant `doctor`, valid one minute, which is deleted
//!   again: round trip and relayed address. The shared secret is `turn.shared_secret` or, in
//!   embedded mode, the one `serve` keeps in the database (read, never created, here).
//!
//! The TLS certificate is not judged here (the certificate check does that).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::TurnMode;
use crate::doctor::{Context, Outcome};
use crate::turn::client::{Transport, probe};

const MAGIC: u32 = 0x2112_A442;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

/// `turn:host:port?transport=tcp` → (scheme, host, port, tcp).
fn parse(url: &str) -> Option<(&str, String, u16, bool)> {
    let (scheme, rest) = url.split_once(':')?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let tcp = query.contains("transport=tcp");
    let default = if scheme == "turns" { 5349 } else { 3478 };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, p) = h.split_once(']')?;
        (
            h.to_owned(),
            p.strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (hostport.to_owned(), default),
        }
    };
    Some((scheme, host, port, tcp))
}

fn request(txid: &[u8; 12]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&0x0001u16.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC.to_be_bytes());
    m.extend_from_slice(txid);
    m
}

/// The XOR-MAPPED-ADDRESS of a binding success response for `txid`.
fn mapped(resp: &[u8], txid: &[u8; 12]) -> Result<SocketAddr, String> {
    if resp.len() < 20 || resp[8..20] != txid[..] {
        return Err("not a STUN answer to our request".into());
    }
    let kind = u16::from_be_bytes([resp[0], resp[1]]);
    if kind != 0x0101 {
        return Err(format!(
            "STUN answer type {kind:#06x}, not a binding success"
        ));
    }
    let len = u16::from_be_bytes([resp[2], resp[3]]) as usize;
    let mut attrs = resp.get(20..20 + len).ok_or("truncated STUN answer")?;
    while attrs.len() >= 4 {
        let t = u16::from_be_bytes([attrs[0], attrs[1]]);
        let l = u16::from_be_bytes([attrs[2], attrs[3]]) as usize;
        let v = attrs.get(4..4 + l).ok_or("truncated attribute")?;
        if t == 0x0020 && v.len() >= 8 {
            let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC >> 16) as u16;
            let ip = match v[1] {
                1 => {
                    let x = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) ^ MAGIC;
                    std::net::IpAddr::from(x.to_be_bytes())
                }
                2 if v.len() >= 20 => {
                    let mut key = [0u8; 16];
                    key[..4].copy_from_slice(&MAGIC.to_be_bytes());
                    key[4..].copy_from_slice(txid);
                    let mut b = [0u8; 16];
                    for i in 0..16 {
                        b[i] = v[4 + i] ^ key[i];
                    }
                    std::net::IpAddr::from(b)
                }
                _ => return Err("unknown address family".into()),
            };
            return Ok(SocketAddr::new(ip, port));
        }
        attrs = attrs.get((4 + l).div_ceil(4) * 4..).unwrap_or(&[]);
    }
    Err("no XOR-MAPPED-ADDRESS in the answer".into())
}

async fn binding(host: &str, port: u16, tcp: bool) -> Result<(Duration, SocketAddr), String> {
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut txid = [0u8; 12];
    getrandom::fill(&mut txid).map_err(|e| e.to_string())?;
    let req = request(&txid);
    let started = Instant::now();
    let mut buf = vec![0u8; 1500];
    let n = if tcp {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(&req).await.map_err(|e| e.to_string())?;
        let mut head = [0u8; 20];
        s.read_exact(&mut head).await.map_err(|e| e.to_string())?;
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        buf[..20].copy_from_slice(&head);
        buf.resize(20 + len, 0);
        s.read_exact(&mut buf[20..])
            .await
            .map_err(|e| e.to_string())?;
        20 + len
    } else {
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().map_err(|_| "bad address")?
        } else {
            "[::]:0".parse().map_err(|_| "bad address")?
        };
        let s = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0;
        for _ in 0..3 {
            s.send_to(&req, addr).await.map_err(|e| e.to_string())?;
            match tokio::time::timeout(Duration::from_millis(700), s.recv(&mut buf)).await {
                Ok(Ok(got)) => {
                    n = got;
                    break;
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => continue,
            }
        }
        if n == 0 {
            return Err(format!("no answer from {addr} over UDP (3 tries)"));
        }
        n
    };
    let rtt = started.elapsed();
    Ok((rtt, mapped(&buf[..n], &txid)?))
}

/// The shared secret credentials are signed with, as `serve` uses it.
async fn secret(ctx: &Context, config: &crate::config::Config) -> Result<Vec<u8>, Outcome> {
    if let Some(s) = &config.turn.shared_secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    if config.turn.mode == TurnMode::External {
        return Err(Outcome::fail(
            "turn.mode = external but turn.shared_secret is not set",
            "set turn.shared_secret to coturn's static-auth-secret",
        ));
    }
    let db = ctx.db().await.map_err(|e| {
        Outcome::skip(format!(
            "the TURN secret lives in the database, which is unreachable: {e}"
        ))
    })?;
    match db.existing_server_secret("turn").await {
        Ok(Some(s)) => Ok(hex::encode(s).into_bytes()),
        Ok(None) => Err(Outcome::skip(
            "serve has not run yet, so there is no TURN secret to sign credentials with",
        )),
        Err(e) => Err(Outcome::skip(format!("reading the TURN secret: {e:#}"))),
    }
}

/// One allocation through `url`, trying each address `host` resolves to (`localhost` may be
/// `::1` first while the server listens on 127.0.0.1).
async fn allocate(
    url: &str,
    host: &str,
    port: u16,
    transport: Transport,
    secret: &[u8],
) -> Result<String, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    let (username, password) =
        crate::ice::rest_credential(secret, "~doctor", crate::timefmt::unix_now() + 60);
    let mut errors = Vec::new();
    for addr in addrs {
        match probe(
            addr,
            transport.clone(),
            &username,
            &password,
            Duration::from_secs(3),
        )
        .await
        {
            Ok(p) => {
                return Ok(format!(
                    "{url} allocated {} in {} ms",
                    p.relayed,
                    p.rtt.as_millis()
                ));
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    if errors.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Err(errors.join(", "))
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    match config.turn.mode {
        TurnMode::Off => {
            return Outcome::skip("turn.mode = off: browsers get no STUN/TURN servers");
        }
        TurnMode::External | TurnMode::Embedded => {}
    }
    let derived;
    let urls = if config.turn.mode == TurnMode::Embedded && config.turn.urls.is_empty() {
        if config.turn.listen.port() == 0 {
            return Outcome::skip("turn.listen uses port 0: no fixed port to ask");
        }
        let https = (config.tls.mode != crate::config::TlsMode::Off)
            .then_some(config.server.https_listen.port());
        derived = crate::turn::urls(config, config.turn.listen.port(), https);
        &derived
    } else {
        &config.turn.urls
    };
    if urls.is_empty() {
        return Outcome::fail(
            "turn.mode = external but turn.urls is empty",
            "list your coturn's turn:/stun: URLs in turn.urls",
        );
    }
    let mut secret_bytes = None;
    let mut parts = Vec::new();
    let mut failed = Vec::new();
    // Hosts this machine cannot resolve: a DNS problem (the dns check names it), not a TURN
    // one, so they make this check a warning that points there rather than a failure.
    let mut unresolved = Vec::new();
    for url in urls {
        let Some((scheme, host, port, tcp)) = parse(url) else {
            failed.push(format!("{url}: not a stun:/turn:/turns: URL"));
            continue;
        };
        if let Err(e) = tokio::net::lookup_host((host.as_str(), port)).await {
            unresolved.push(format!("{url}: {host} does not resolve here ({e})"));
            continue;
        }
        let answer = if scheme == "stun" {
            tokio::time::timeout(Duration::from_secs(3), binding(&host, port, tcp))
                .await
                .unwrap_or_else(|_| Err("no answer within 3 s".into()))
                .map(|(rtt, seen)| {
                    format!(
                        "{url} answered in {} ms (sees us as {seen})",
                        rtt.as_millis()
                    )
                })
        } else {
            if secret_bytes.is_none() {
                match secret(ctx, config).await {
                    Ok(s) => secret_bytes = Some(s),
                    Err(o) => return o,
                }
            }
            let transport = match (scheme, tcp) {
                ("turns", _) => Transport::Tls(host.clone()),
                (_, true) => Transport::Tcp,
                _ => Transport::Udp,
            };
            allocate(
                url,
                &host,
                port,
                transport,
                secret_bytes.as_deref().unwrap_or_default(),
            )
            .await
        };
        match answer {
            Ok(line) => parts.push(line),
            Err(e) => failed.push(format!("{url}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Outcome::fail(
            failed.join("; "),
            "check that the TURN server runs, that its ports are open (UDP and TCP, and the relay \
             port range), and that turn.shared_secret matches the server's",
        );
    }
    if !unresolved.is_empty() {
        parts.extend(unresolved);
        return Outcome::warn(
            format!("untested: {}", parts.join("; ")),
            "fix the name first (see the dns check); browsers reach the TURN server by it",
        );
    }
    Outcome::ok(parts.join("; "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_ice_urls() {
        assert_eq!(
            super::parse("turn:turn.example.org:3478?transport=tcp"),
            Some(("turn", "turn.example.org".into(), 3478, true))
        );
        assert_eq!(
            super::parse("stun:[::1]"),
            Some(("stun", "::1".into(), 3478, false))
        );
        assert_eq!(
            super::parse("turns:t.example.org:443"),
            Some(("turns", "t.example.org".into(), 443, false))
        );
    }
}
