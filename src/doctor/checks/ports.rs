//! `ports`: each address FlowSync listens on is free (the service is stopped) or held by
//! FlowSync itself; anything else holding it (nginx, apache, a coturn on 3478) would keep
//! `serve` from starting. The embedded TURN listener is checked over TCP and UDP.

use std::net::SocketAddr;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::TlsMode;
use crate::doctor::system::{self, PortState};
use crate::doctor::{Context, Outcome};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

/// The addresses `serve` binds with this configuration, with what each is for (TCP, and UDP
/// for "turn udp").
pub fn listeners(config: &crate::config::Config) -> Vec<(&'static str, SocketAddr)> {
    let mut v = vec![("http", config.server.http_listen)];
    if config.tls.mode != TlsMode::Off {
        v.push(("https", config.server.https_listen));
    }
    if config.turn.mode == crate::config::TurnMode::Embedded {
        v.push(("turn", config.turn.listen));
        v.push(("turn udp", config.turn.listen));
    }
    v.retain(|(_, a)| a.port() != 0);
    v
}

fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let listeners = listeners(config);
    if listeners.is_empty() {
        return Outcome::skip("every listener uses port 0 (a free port picked at start)");
    }
    let mut parts = Vec::new();
    for (what, addr) in listeners {
        let state = if what.ends_with("udp") {
            system::udp_port_state(addr)
        } else {
            system::port_state(addr)
        };
        match state {
            PortState::Free => parts.push(format!("{what} {addr} free")),
            s if s.is_flowsync() => match s {
                PortState::Held { pid, .. } => {
                    parts.push(format!("{what} {addr} held by flowsync (pid {pid})"))
                }
                _ => parts.push(format!("{what} {addr} held by flowsync (the service user)")),
            },
            PortState::HeldByUser { uid, user } => {
                return Outcome::fail(
                    format!("{what} {addr} is held by a program of user {user} (uid {uid})"),
                    format!(
                        "stop it or move it to another port; `sudo {}` names it",
                        ss(what, addr)
                    ),
                );
            }
            PortState::Held { pid, name } => {
                return Outcome::fail(
                    format!("{what} {addr} is held by {name} (pid {pid})"),
                    format!(
                        "stop {name} or move it to another port (FlowSync terminates TLS itself; no proxy needed)"
                    ),
                );
            }
            PortState::NotLocal => {
                return Outcome::fail(
                    format!("{what} {addr}: that address is not on this host"),
                    "use [::] (every address) or one of this host's addresses in server.*_listen",
                );
            }
            PortState::HeldUnknown(e) => {
                return Outcome::fail(
                    format!("{what} {addr} cannot be bound ({e}) and its holder is not visible"),
                    format!(
                        "run doctor as root to name the holder, or `{}`",
                        ss(what, addr)
                    ),
                );
            }
        }
    }
    Outcome::ok(parts.join(", "))
}

/// The `ss` command that lists the listener on `addr` (UDP for the TURN UDP port).
fn ss(what: &str, addr: std::net::SocketAddr) -> String {
    let proto = if what.ends_with("udp") { "u" } else { "t" };
    format!("ss -l{proto}np 'sport = :{}'", addr.port())
}
