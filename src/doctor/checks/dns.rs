//! `dns`: the domain people open (first of `tls.domains`, else the host of the public URL)
//! resolves, and to an address of this host. Behind 1:1 NAT (cloud VPS with a floating IP) the
//! public address is not on an interface, so a mismatch is a warning, not a failure; a name
//! that does not resolve fails in acme mode, where the CA must reach this host by it.

use std::net::IpAddr;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::TlsMode;
use crate::doctor::{Context, Outcome, system};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

/// The host name people use, when it is a name (not an address or localhost).
pub fn domain(config: &crate::config::Config) -> Option<String> {
    let host = match config.tls.domains.first() {
        Some(d) => d.clone(),
        None => {
            let url = config.public_url();
            let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
            let hostport = rest.split('/').next().unwrap_or(rest);
            if hostport.starts_with('[') {
                return None;
            }
            hostport.split(':').next().unwrap_or(hostport).to_owned()
        }
    };
    (host.parse::<IpAddr>().is_err() && host != "localhost").then_some(host)
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let Some(name) = domain(config) else {
        return Outcome::skip(
            "no domain name configured (the public URL uses an address or localhost)",
        );
    };
    let resolved: Vec<IpAddr> = match tokio::net::lookup_host((name.as_str(), 443)).await {
        Ok(addrs) => {
            let mut v: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            v.sort();
            v.dedup();
            v
        }
        Err(e) => {
            let detail = format!("{name} does not resolve: {e}");
            let hint = format!(
                "create an A (and AAAA) record for {name} pointing at this host: browsers reach \
                 the rooms and the TURN server by this name"
            );
            return if config.tls.mode == TlsMode::Acme {
                Outcome::fail(detail, hint)
            } else {
                Outcome::warn(detail, hint)
            };
        }
    };
    let local = system::local_addresses();
    let shown: Vec<String> = resolved.iter().map(|a| a.to_string()).collect();
    // A name in this host's own hosts file pointing at loopback (Debian maps the host name
    // to 127.0.1.1): this host reaches itself by it, nobody else does.
    if resolved.iter().all(|a| a.is_loopback()) {
        return Outcome::warn(
            format!(
                "{name} → {} (loopback: only this host reaches itself by that name)",
                shown.join(", ")
            ),
            format!(
                "point {name} at this host's LAN or public address in DNS (or in the clients' hosts files)"
            ),
        );
    }
    if resolved.iter().any(|a| local.contains(a)) {
        return Outcome::ok(format!("{name} → {} (this host)", shown.join(", ")));
    }
    let mine: Vec<String> = local
        .iter()
        .filter(|a| !a.is_loopback())
        .map(|a| a.to_string())
        .collect();
    let mine = if mine.is_empty() {
        "this host has loopback only".to_owned()
    } else {
        mine.join(", ")
    };
    Outcome::warn(
        format!(
            "{name} → {}, none of this host's addresses ({mine})",
            shown.join(", ")
        ),
        "fine behind 1:1 NAT (set turn.external_ip); otherwise point the A/AAAA records at this host",
    )
}
