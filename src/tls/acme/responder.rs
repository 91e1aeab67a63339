//! Answering a challenge while an order runs: from this process, on a port it binds for the
//! order's duration, when no `serve` holds the port (which then answers from the same files).

use super::*;

/// A challenge answered from the files this issuer writes: by this process on `port` when it
/// could bind it, else by the `serve` already holding it.
pub(super) struct Responder {
    pub(super) answered_by: &'static str,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(super) async fn responder(config: &Config, paths: &Paths) -> anyhow::Result<Responder> {
    let stop = tokio_util::sync::CancellationToken::new();
    let (addr, what) = match config.tls.challenge {
        Challenge::Http01 => (config.server.http_listen, "HTTP-01"),
        Challenge::TlsAlpn01 => (config.server.https_listen, "TLS-ALPN-01"),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::info!(%addr, "the port is in use (flowsync serve is running?); it answers the {what} challenge");
            return Ok(Responder {
                answered_by: "serve",
                stop,
            });
        }
        Err(e) => bail!("cannot listen on {addr} to answer the {what} challenge: {e}"),
    };
    let conns =
        crate::http::serve::Connections::new(crate::http::serve::Limits::from_config(config));
    tokio::spawn(conns.clone().sweep_until(stop.clone()));
    match config.tls.challenge {
        Challenge::Http01 => {
            tokio::spawn(crate::http::redirect::serve(
                listener,
                config.public_url(),
                Some(crate::tls::challenges::HttpChallenges::new(
                    paths.http01.clone(),
                )),
                conns,
                stop.clone(),
            ));
        }
        Challenge::TlsAlpn01 => {
            let resolver = Arc::new(crate::tls::CertResolver::challenges_only(
                paths.alpn01.clone(),
            ));
            let tls = crate::tls::server_config(resolver)?;
            // Validation handshakes end inside the handshake; nothing else is served.
            let handshake = crate::tls::listener::TlsHandshake::new(tls, None, stop.clone());
            tokio::spawn(crate::http::serve::serve(
                listener,
                handshake,
                axum::Router::new(),
                conns,
                stop.clone(),
            ));
        }
    }
    Ok(Responder {
        answered_by: "cert",
        stop,
    })
}
