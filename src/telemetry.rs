//! Logging to stderr: human text on a terminal, plain lines (no colour) under systemd or cron,
//! JSON when `log.format = "json"`. `-v`/`-q` override `log.level`; `SIGHUP` can change the
//! level of a running server through [`LogControl`].

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::LogFormat;

/// Changes the log level of the running process.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `-v`/`-q` were given: the command line wins over reloaded config.
    pinned: bool,
}

impl LogControl {
    pub fn set_level(&self, level: &str) -> anyhow::Result<()> {
        if self.pinned {
            return Ok(());
        }
        let filter = filter_for(level);
        self.handle
            .modify(|f| *f = filter)
            .map_err(|e| anyhow::anyhow!("cannot change the log level: {e}"))
    }
}

/// Dependencies stay at warn unless named: their info logs are noise to operators. The STUN/TURN
/// protocol crates log every refused or challenged request at ERROR (their `#[instrument(err)]`),
/// which for a TURN server is routine (every allocation starts with a 401 challenge): they are
/// silenced; `crate::turn` logs what an operator needs.
fn filter_for(level: &str) -> EnvFilter {
    let directive = if level.contains('=') || level.contains(',') {
        level.to_owned()
    } else {
        format!(
            "warn,flowsync={level},stun_proto=off,stun_types=off,turn_server_proto=off,turn_types=off,turn_client_proto=off"
        )
    };
    EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. `verbosity`: 0 = config level, >0 more, <0 less.
pub fn init(level: &str, format: LogFormat, verbosity: i8) -> LogControl {
    let level = match verbosity {
        v if v >= 2 => "trace",
        1 => "debug",
        v if v < 0 => "error",
        _ => level,
    };
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::stderr().is_terminal();
    let _ = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .with_target(false),
            )
            .try_init(),
    };
    LogControl {
        handle,
        pinned: verbosity != 0,
    }
}
