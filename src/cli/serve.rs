//! `flowsync serve`: run the server until Ctrl-C or SIGTERM, then drain and exit.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use toml::Value;

use super::{Cli, CmdResult, Failure};
use crate::config::FlagValue;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync serve                          # embedded default: SQLite in ./flowsync-data, http://127.0.0.1:8080
  flowsync serve --listen 0.0.0.0:8080    # reachable from the LAN (browsers need HTTPS off localhost)
  flowsync serve --database-url postgres://flowsync@localhost/flowsync --redis-url redis://127.0.0.1/?protocol=resp3
  flowsync serve --print-config           # the effective configuration and where each value came from")]
pub struct Opts {
    /// Address to listen on (server.http_listen)
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Data directory (server.data_dir)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (database.url)
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Redis URL for shared state (redis.url)
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// Print the effective configuration with the source of each value (secrets masked) and exit
    #[arg(long)]
    print_config: bool,
    /// Migrate without taking a backup first (by default a database with data is backed up
    /// into backup.dir before pending migrations run)
    #[arg(long)]
    no_backup: bool,
}

impl Opts {
    fn flags(&self) -> Vec<FlagValue> {
        let mut f = Vec::new();
        let mut add = |dotted, flag, v: Option<String>| {
            if let Some(v) = v {
                f.push(FlagValue {
                    dotted,
                    flag,
                    value: Value::String(v),
                });
            }
        };
        add("server.http_listen", "--listen", self.listen.clone());
        add(
            "server.data_dir",
            "--data-dir",
            self.data_dir.as_ref().map(|p| p.display().to_string()),
        );
        add("database.url", "--database-url", self.database_url.clone());
        add("redis.url", "--redis-url", self.redis_url.clone());
        f
    }
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    let (loaded, log) = cli.load_config_with_log(opts.flags())?;
    if opts.print_config {
        match &loaded.file {
            Some(p) => println!("# config file: {}", p.display()),
            None => println!("# config file: none (built-in defaults)"),
        }
        let mut section = "";
        for (key, value) in loaded.config.render() {
            if key.section != section {
                section = key.section;
                println!("\n[{section}]");
            }
            let source = loaded.layers.source_of(&key.dotted());
            match value {
                Some(v) => println!("{} = {v}  # {source}", key.key),
                None => println!("# {} is unset  # {source}", key.key),
            }
        }
        return Ok(());
    }
    // One file per socket: use the whole hard limit (systemd's LimitNOFILE), as Go and Node do.
    if let Some(n) = crate::doctor::system::raise_nofile()
        && n < loaded.config.server.max_connections as u64 + crate::doctor::checks::HEADROOM
    {
        tracing::warn!(
            limit = n,
            max_connections = loaded.config.server.max_connections,
            "the open-file limit is below server.max_connections; raise LimitNOFILE or lower max_connections (flowsync doctor --run open-files)"
        );
    }
    if loaded.file.is_none() {
        tracing::info!(
            data_dir = %loaded.config.server.data_dir.display(),
            "no config file: running on the embedded default (SQLite, in-process state)"
        );
    }
    let mut config = loaded.config;
    config.backup.before_migrate = !opts.no_backup;
    config.backup.config_file = loaded.file.clone();
    // Signal handlers exist before readiness is announced: a SIGHUP right after READY=1 must
    // reload, not hit the default action (terminate).
    use tokio::signal::unix::{SignalKind, signal};
    let hup = signal(SignalKind::hangup()).ok();
    let term = signal(SignalKind::terminate()).ok();
    let server = crate::server::start(config).await?;
    crate::notify::notify(&format!("READY=1\nSTATUS=serving on {}", server.url()));
    let stop = server.stop_token();
    tokio::spawn(reload_on_sighup(
        hup,
        server.reloader(),
        cli.load_options(opts.flags()),
        log,
    ));
    tokio::spawn(async move {
        wait_for_signal(term).await;
        tracing::info!("shutting down: finishing requests in flight");
        crate::notify::notify("STOPPING=1");
        stop.cancel();
    });
    server
        .wait(Duration::from_secs(10))
        .await
        .map_err(Failure::from)?;
    tracing::info!("stopped");
    Ok(())
}

/// `SIGHUP` (systemd's reload): re-reads the configuration; applies what can change while
/// running, names what needs a restart, and keeps running on an invalid file.
async fn reload_on_sighup(
    hup: Option<tokio::signal::unix::Signal>,
    reloader: crate::server::Reloader,
    options: crate::config::LoadOptions,
    log: crate::telemetry::LogControl,
) {
    let Some(mut hup) = hup else {
        tracing::warn!("cannot listen for SIGHUP; configuration reload is unavailable");
        return;
    };
    // The data directory cannot change without a restart, so receipts always land here.
    let data_dir = reloader.config().server.data_dir.clone();
    let mut status = crate::reload::Status {
        pid: std::process::id(),
        ok: true,
        ..Default::default()
    };
    crate::reload::record(&data_dir, &status);
    while hup.recv().await.is_some() {
        crate::notify::notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            crate::notify::monotonic_usec()
        ));
        status.generation += 1;
        match crate::config::Config::load(&options) {
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
                status.ok = false;
                status.error = Some(e.to_string());
                status.applied.clear();
                status.needs_restart.clear();
            }
            Ok(loaded) => {
                let level = loaded.config.log.level.clone();
                let report = reloader.reload(loaded.config);
                if let Err(e) = log.set_level(&level) {
                    tracing::warn!(error = %format!("{e:#}"), "log level unchanged");
                }
                tracing::info!(applied = ?report.applied, "configuration reloaded");
                if !report.needs_restart.is_empty() {
                    tracing::warn!(keys = ?report.needs_restart, "changed keys take effect only after a restart");
                }
                status.ok = true;
                status.error = None;
                status.applied = report.applied;
                status.needs_restart = report.needs_restart;
            }
        }
        crate::reload::record(&data_dir, &status);
        crate::notify::notify("READY=1");
    }
}

/// Ctrl-C or SIGTERM (systemd's stop); `term` was registered before readiness.
async fn wait_for_signal(term: Option<tokio::signal::unix::Signal>) {
    let ctrl_c = tokio::signal::ctrl_c();
    let Some(mut term) = term else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
