//! Logging to stderr: human text on a terminal, plain lines (no colour) under systemd or cron,
//! JSON when `log.format = "json"`. `-v`/`-q` override `log.level`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `verbosity`: 0 = config level, >0 more, <0 less.
pub fn init(level: &str, format: LogFormat, verbosity: i8) {
    let level = match verbosity {
        v if v >= 2 => "trace".to_owned(),
        1 => "debug".to_owned(),
        v if v < 0 => "error".to_owned(),
        _ => level.to_owned(),
    };
    // Dependencies stay at warn unless asked for by name: their info logs are noise to operators.
    let directive = if level.contains('=') || level.contains(',') {
        level
    } else {
        format!("warn,flowsync={level}")
    };
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
