//! `server`: the running FlowSync answers `/readyz` on this host (its own database and Redis
//! probes), and runs the installed version (a mismatch after an upgrade means it needs a
//! restart). The request goes to the local listener; the certificate is judged by the
//! certificate check, not here. Fix: start the unit (when systemd runs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::{Config, TlsMode};
use crate::doctor::{Context, Outcome, system};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { super::systemd::start(ctx) }.boxed()
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// The local URL of `path` on the listener that serves the app, and the client for it.
pub fn local(config: &Config, path: &str) -> anyhow::Result<(String, reqwest::Client)> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    let url = if config.tls.mode == TlsMode::Off {
        format!("http://{}{path}", loopback(config.server.http_listen))
    } else {
        let addr = loopback(config.server.https_listen);
        let host = config
            .tls
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into());
        builder = builder
            .resolve(&host, addr)
            .danger_accept_invalid_certs(true);
        format!("https://{host}:{}{path}", addr.port())
    };
    Ok((url, builder.build()?))
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    if config.server.http_listen.port() == 0 {
        return Outcome::skip("server.http_listen uses port 0: no fixed address to ask");
    }
    let (url, client) = match local(config, "/readyz") {
        Ok(x) => x,
        Err(e) => return Outcome::fail(format!("{e:#}"), ""),
    };
    let how_to_start = if system::systemd_running() {
        "`flowsync doctor --fix` or `systemctl start flowsync`; then `journalctl -u flowsync`"
    } else {
        "start it: `flowsync serve` (systemd is not running on this host)"
    };
    let started = Instant::now();
    let res = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(
                format!("nothing answers {url}: {}", root_cause(&e)),
                how_to_start,
            );
        }
    };
    let rtt = started.elapsed().as_millis();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        let failing: Vec<String> = body["checks"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v["ok"] != true)
                    .map(|(k, v)| format!("{k}: {}", v["error"].as_str().unwrap_or("down")))
                    .collect()
            })
            .unwrap_or_default();
        return Outcome::fail(
            format!("{url} answers {status}: {}", failing.join("; ")),
            "see the database and redis checks; `journalctl -u flowsync`",
        );
    }
    let version = match local(config, "/healthz") {
        Ok((u, c)) => match c.get(&u).send().await {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["version"].as_str().map(str::to_owned)),
            Err(_) => None,
        },
        Err(_) => None,
    };
    let running = version.unwrap_or_else(|| "?".into());
    let detail = format!(
        "{url} ready in {rtt} ms (version {running}, state {})",
        body["state_store"].as_str().unwrap_or("?")
    );
    if running != env!("CARGO_PKG_VERSION") {
        return Outcome::warn(
            format!("{detail}; this binary is {}", env!("CARGO_PKG_VERSION")),
            "restart the service to run the installed version: systemctl restart flowsync",
        );
    }
    Outcome::ok(detail)
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s = inner.to_string();
        src = inner.source();
    }
    s
}
