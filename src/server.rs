//! Starting and stopping the server: open the database, migrate (or refuse), build the `App`,
//! bind, serve until told to stop, drain. Used by `flowsync serve` and by the tests.

use std::net::SocketAddr;
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
    #[error(
        "{count} database migration(s) pending ({list}) and database.auto_migrate is false; run `flowsync migrate`, then start again"
    )]
    PendingMigrations { count: usize, list: String },
    #[error(
        "cannot listen on {addr}: {reason}; free the port or set server.http_listen (or --listen)"
    )]
    Bind { addr: SocketAddr, reason: String },
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// Opens the database and brings its schema up to date (or refuses, per `auto_migrate`).
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
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
    if let Err(e) = crate::ownership::fix_data_dir(config) {
        tracing::warn!(error = %format!("{e:#}"), "could not hand data files to the service user");
    }
    Ok(db)
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: SharedApp,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// How often the expiry sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Opens everything, binds `server.http_listen` and starts serving in the background.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let addr = config.server.http_listen;
    let db = open_database(&config).await?;
    let app = App::new(config, db).await.map_err(StartError::Dependency)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Bind {
            addr,
            reason: e.to_string(),
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(e.into()))?;
    let stop = CancellationToken::new();
    tokio::spawn(crate::sweeper::run(app.clone(), SWEEP_EVERY, stop.clone()));
    tokio::spawn(checkpoint_loop(app.clone(), stop.clone()));
    let attached =
        crate::signaling::attach(app.clone(), crate::http::router(app.clone()), stop.clone())
            .await
            .map_err(StartError::Dependency)?;
    let router = attached.router;
    let close_sockets = attached.shutdown;
    let shutdown = stop.clone();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            // Long-lived sockets would hold the drain open: tell clients and close them.
            close_sockets().await;
        })
        .await
    });
    tracing::info!(
        url = %format!("http://{addr}"),
        database = ?app.db.backend(),
        state = app.state.kind(),
        "flowsync listening"
    );
    Ok(Server {
        addr,
        app,
        stop,
        task,
    })
}

impl Server {
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
        match tokio::time::timeout(drain, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e.into()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => tracing::warn!("requests still running after {drain:?}; stopping anyway"),
        }
        app.db.close().await;
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
