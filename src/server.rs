//! Starting and stopping the server: open the database, migrate (or refuse), build the `App`,
//! bind, serve until told to stop, drain. Used by `flowsync serve` and by the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{App, SharedApp};
use crate::config::Config;
use crate::db::{Db, migrate};

/// Why the server did not start; `cli` maps each to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] crate::db::ConnectError),
    #[error("{0:#}")]
    Dependency(anyhow::Error),
    /// `server.data_dir` cannot be created or written: configuration (or permissions) to fix.
    #[error("{0:#}")]
    DataDir(anyhow::Error),
    #[error(
        "{count} database migration(s) pending ({list}) and database.auto_migrate is false; run `flowsync migrate`, then start again"
    )]
    PendingMigrations { count: usize, list: String },
    #[error(
        "cannot listen on {addr} ({key}): {reason}; free the port or set {key}{flag}",
        flag = if *key == "server.http_listen" || *key == "server.https_listen" { " (or --listen)" } else { "" }
    )]
    Bind {
        addr: SocketAddr,
        /// The key that names this address, for the operator to change.
        key: &'static str,
        reason: String,
    },
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// Opens the database and brings its schema up to date (or refuses, per `auto_migrate`).
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let dir = &config.server.data_dir;
    crate::db::create_private_dir(dir).map_err(|e| {
        StartError::DataDir(e.context("check server.data_dir and the permissions of its parent"))
    })?;
    if let Err(e) = crate::db::space::try_write(dir) {
        let what = format!("cannot write to the data directory {}: {e}", dir.display());
        return Err(if crate::db::space::is_full(&e) {
            StartError::Dependency(anyhow::anyhow!("{what}; free space on its disk"))
        } else {
            StartError::DataDir(anyhow::anyhow!(
                "{what}; make it writable by the user FlowSync runs as (the package runs it as `flowsync`), or set server.data_dir"
            ))
        });
    }
    let db = Db::connect(&config.database).await?;
    let status = migrate::status(&db).await.map_err(StartError::Dependency)?;
    let pending = status.pending();
    if !pending.is_empty() {
        if config.database.auto_migrate {
            match crate::backup::before_migrate(&db, config).await {
                Ok(Some(b)) => {
                    tracing::info!(archive = %b.archive.display(), "backed up the database before migrating")
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(StartError::Other(anyhow::anyhow!(
                        "the backup before migrating failed: {e:#}; fix that, or start with --no-backup to migrate without one"
                    )));
                }
            }
            let applied = migrate::apply(&db, |i, n, m| {
                tracing::info!(
                    version = m.version,
                    step = i + 1,
                    of = n,
                    "applying migration {}",
                    m.description
                );
            })
            .await
            .map_err(StartError::Other)?;
            tracing::info!(count = applied.len(), "database migrated");
        } else {
            return Err(StartError::PendingMigrations {
                count: pending.len(),
                list: pending
                    .iter()
                    .map(|m| m.version.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    } else if let Some(v) = status.unknown_applied.first() {
        return Err(StartError::Other(anyhow::anyhow!(
            "the database has migration {v}, unknown to this flowsync: it was migrated by a newer version; install that version"
        )));
    }
    if let Err(e) = crate::db::fix_data_dir(config) {
        tracing::warn!(error = %format!("{e:#}"), "could not hand data files to the service user");
    }
    Ok(db)
}

/// A running server.
pub struct Server {
    /// The address serving the app: HTTPS when TLS is on, else plain HTTP.
    pub addr: SocketAddr,
    /// With TLS on, the plain-HTTP listener that redirects to HTTPS.
    pub redirect_addr: Option<SocketAddr>,
    pub tls: bool,
    pub app: SharedApp,
    /// The embedded STUN/TURN server, when `turn.mode = embedded`.
    pub turn: Option<crate::turn::Turn>,
    /// The certificate being served, when TLS is on (a reload re-reads it in files mode).
    pub certificate: Option<Arc<crate::tls::CertResolver>>,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// How often the expiry sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Starts the embedded STUN/TURN server and fills in what browsers are handed: the shared
/// secret (from the config, else generated once and kept in the database, so every instance
/// mints the same credentials) and, unless configured, the ICE URLs.
async fn start_turn(
    config: &mut Config,
    db: &crate::db::Db,
    https: Option<SocketAddr>,
    stop: CancellationToken,
) -> Result<crate::turn::Turn, StartError> {
    let secret = match &config.turn.shared_secret {
        Some(s) => s.expose().clone(),
        None => hex::encode(
            db.server_secret("turn")
                .await
                .map_err(StartError::Dependency)?,
        ),
    };
    config.turn.shared_secret = Some(crate::config::Secret::new(secret.clone()));
    let mut settings = crate::turn::settings(config, secret.into_bytes());
    settings.tls_listen = https;
    // Only participants of live rooms are relayed (see `turn`). The reconnect grace is read at
    // start: a reload that changes it reaches the relay at the next start.
    let grace = crate::clock::ms(config.rooms.reconnect_grace);
    let db_for_turn = db.clone();
    settings.authorize = Some(crate::turn::Authorizer::new(move |participant: String| {
        let db = db_for_turn.clone();
        async move {
            crate::db::rooms::live_room_of(&db, &participant, crate::clock::now_ms() - grace).await
        }
    }));
    let listen = settings.listen;
    let turn = crate::turn::Turn::start(settings, stop)
        .await
        .map_err(|e| StartError::Bind {
            addr: listen,
            key: "turn.listen",
            reason: format!("{e:#}"),
        })?;
    if config.turn.urls.is_empty() {
        let mut c = config.clone();
        if let Some(h) = https {
            c.server.https_listen = h;
        }
        config.turn.urls = crate::turn::urls(&c, turn.udp_addr.port(), https.map(|h| h.port()));
    }
    tracing::info!(udp = %turn.udp_addr, tcp = %turn.tcp_addr, urls = ?config.turn.urls, "embedded TURN server listening");
    Ok(turn)
}

/// Connections the kernel may queue before they are accepted (it caps this at
/// `net.core.somaxconn`). After a restart every client reconnects at once: a SYN beyond the
/// queue is dropped, and the client's TCP retries it only after 1, 3, 7… s. tokio's default
/// is 1,024; `scripts/bench.sh restart` (15,000 clients) is limited by the handshake rate
/// either way, but a bigger queue keeps a herd from losing seconds to SYN retries.
const ACCEPT_BACKLOG: u32 = 65_535;

/// Binds a listening socket with [`ACCEPT_BACKLOG`] (and `SO_REUSEADDR`, as tokio's `bind`).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Opens everything, binds `server.http_listen` and starts serving in the background.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let tls_on = config.tls.mode != crate::config::TlsMode::Off;
    let addr = if tls_on {
        config.server.https_listen
    } else {
        config.server.http_listen
    };
    let redirect_listen = config.server.http_listen;
    let certificate = crate::tls::load(&config).map_err(|e| {
        StartError::Other(e.context("TLS is on (tls.mode) but no certificate could be loaded"))
    })?;
    let db = open_database(&config).await?;
    let bind = |addr: SocketAddr, key: &'static str| async move {
        listen(addr).map_err(|e| StartError::Bind {
            addr,
            key,
            reason: e.to_string(),
        })
    };
    let main_key = if tls_on {
        "server.https_listen"
    } else {
        "server.http_listen"
    };
    let listener = bind(addr, main_key).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(e.into()))?;
    let stop = CancellationToken::new();
    let mut config = config;
    let turn = if crate::turn::enabled(&config) {
        Some(start_turn(&mut config, &db, tls_on.then_some(addr), stop.clone()).await?)
    } else {
        None
    };
    let app = App::new(config, db).await.map_err(StartError::Dependency)?;
    tokio::spawn(crate::sweeper::run(app.clone(), SWEEP_EVERY, stop.clone()));
    tokio::spawn(checkpoint_loop(app.clone(), stop.clone()));
    let attached =
        crate::signaling::attach(app.clone(), crate::http::router(app.clone()), stop.clone())
            .await
            .map_err(StartError::Dependency)?;
    let router = attached.router;
    let close_sockets = attached.shutdown;
    // On stop, the listener stops accepting at once (clients coming back must find the next
    // process, not this one), while the sockets are told and closed; the serve task ends when
    // both are done. Upgraded WebSockets are not connections `http::serve` waits for, so
    // without the closing they would be cut without a goodbye.
    let closing = {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            close_sockets().await;
        }
    };
    let mut redirect_addr = None;
    let mut served_certificate = None;
    tokio::spawn({
        let data_dir = app.config().server.data_dir.clone();
        let router = router.clone();
        let stop = stop.clone();
        async move { crate::http::local::serve(&data_dir, router, stop).await }
    });
    let conns = crate::http::serve::Connections::new(crate::http::serve::Limits::from_config(
        &app.config(),
    ));
    tokio::spawn(conns.clone().sweep_until(stop.clone()));
    let task = match (tls_on, certificate) {
        (false, _) => {
            let serve = crate::http::serve::serve(
                listener,
                crate::http::serve::Plain,
                router,
                conns,
                stop.clone(),
            );
            tokio::spawn(async move { tokio::join!(serve, closing).0 })
        }
        (true, certificate) => {
            let acme = app.config().tls.mode == crate::config::TlsMode::Acme;
            let paths = crate::tls::acme::Paths::new(&app.config());
            let resolver = Arc::new(crate::tls::CertResolver::new(
                certificate.map(|(k, _)| k),
                acme.then(|| paths.alpn01.clone()),
            ));
            served_certificate = Some(resolver.clone());
            if acme {
                tokio::spawn(crate::tls::acme::maintain(
                    app.config_handle(),
                    crate::tls::acme::Shared::of(&app.db),
                    resolver.clone(),
                    stop.clone(),
                ));
            }
            let tls_config = crate::tls::server_config(resolver).map_err(StartError::Other)?;
            // TURN over TLS shares the HTTPS port: the listener hands TURN's streams over.
            let sink = turn
                .clone()
                .map(|t| Arc::new(t) as Arc<dyn crate::tls::listener::StreamSink>);
            let handshake = crate::tls::listener::TlsHandshake::new(tls_config, sink, stop.clone());
            // The redirect target: the public URL, derived with the port really bound.
            let public_url = {
                let mut c = (*app.config()).clone();
                c.server.https_listen = addr;
                c.public_url()
            };
            let redirect = bind(redirect_listen, "server.http_listen").await?;
            redirect_addr = redirect.local_addr().ok();
            tokio::spawn(crate::http::redirect::serve(
                redirect,
                public_url,
                acme.then(|| crate::tls::challenges::HttpChallenges::new(paths.http01.clone())),
                conns.clone(),
                stop.clone(),
            ));
            let router = router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static(crate::tls::HSTS),
            ));
            let serve = crate::http::serve::serve(listener, handshake, router, conns, stop.clone());
            tokio::spawn(async move { tokio::join!(serve, closing).0 })
        }
    };
    let server = Server {
        addr,
        redirect_addr,
        tls: tls_on,
        app,
        turn,
        certificate: served_certificate,
        stop,
        task,
    };
    tracing::info!(
        url = %server.url(),
        database = ?server.app.db.backend(),
        state = server.app.state.kind(),
        "flowsync listening"
    );
    Ok(server)
}

/// What a configuration reload touches: the app's configuration and, when TLS certificates
/// come from files, the certificate being served. Cloned into the `SIGHUP` task.
#[derive(Clone)]
pub struct Reloader {
    app: SharedApp,
    certificate: Option<Arc<crate::tls::CertResolver>>,
}

impl Reloader {
    /// Applies a reloaded configuration (`App::reload`) and re-reads certificate files: a bad
    /// new file keeps the certificate being served.
    pub fn reload(&self, new: crate::config::Config) -> crate::app::ReloadReport {
        let mut report = self.app.reload(new);
        let config = self.app.config();
        if config.tls.mode == crate::config::TlsMode::Files
            && let Some(resolver) = &self.certificate
        {
            match crate::tls::load(&config) {
                Ok(Some((key, path))) => {
                    resolver.swap(key);
                    tracing::info!(path = %path.display(), "TLS certificate re-read");
                    report.applied.push("tls certificate".into());
                }
                Ok(None) => {}
                Err(e) => tracing::error!(
                    error = %format!("{e:#}"),
                    "cannot load the TLS certificate; still serving the previous one"
                ),
            }
        }
        report
    }

    /// The configuration in effect now.
    pub fn config(&self) -> Arc<crate::config::Config> {
        self.app.config()
    }
}

impl Server {
    /// What `SIGHUP` calls (see [`Reloader`]).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            app: self.app.clone(),
            certificate: self.certificate.clone(),
        }
    }

    /// Applies a reloaded configuration now (see [`Reloader::reload`]).
    pub fn reload(&self, new: crate::config::Config) -> crate::app::ReloadReport {
        self.reloader().reload(new)
    }

    /// Where the app answers: `https://ADDR` with TLS, else `http://ADDR`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// A handle that stops the server when cancelled (signals, tests).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the server stops (after [`Self::stop_token`] fires), draining requests for
    /// at most `drain`, then closes the database.
    pub async fn wait(self, drain: Duration) -> anyhow::Result<()> {
        let Server {
            app, stop, task, ..
        } = self;
        stop.cancelled().await;
        let started = std::time::Instant::now();
        match tokio::time::timeout(drain, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e.into()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => tracing::warn!("requests still running after {drain:?}; stopping anyway"),
        }
        let drained = started.elapsed();
        app.db.close().await;
        tracing::info!(
            drained_ms = drained.as_millis() as u64,
            database_closed_ms = (started.elapsed() - drained).as_millis() as u64,
            "connections closed"
        );
        Ok(())
    }

    /// Stops and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.wait(Duration::from_secs(5)).await
    }
}

/// Keeps the SQLite write-ahead log short (see `Db::checkpoint`); nothing to do on PostgreSQL.
async fn checkpoint_loop(app: SharedApp, stop: CancellationToken) {
    if app.db.backend() != crate::db::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = app.db.checkpoint().await {
                    tracing::warn!(error = %format!("{e:#}"), "WAL checkpoint failed; retrying");
                }
            }
        }
    }
    // A final full copy so the database file is complete on its own after a clean stop.
    let _ = app.db.checkpoint().await;
}
