//! Logging to stderr: human text on a terminal, plain lines (no colour) under cron, JSON when
//! `log.format = "json"`. When stderr is the journal (systemd sets `JOURNAL_STREAM` to its
//! device and inode), each text line starts with a syslog `<N>` priority and carries no
//! timestamp of its own: journald stamps it, and `journalctl -p warning` then finds warnings
//! and errors. `-v`/`-q` override `log.level`; `SIGHUP` can change the
//! level of a running server through [`LogControl`].

use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
        LogFormat::Text if stderr_is_journal() => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .event_format(Journal),
            )
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

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` is `DEVICE:INODE` of the
/// stream systemd gave the service, and it must be stderr itself (a child whose stderr was
/// redirected inherits the variable but not the stream).
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(st) => {
            dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
        }
        Err(_) => false,
    }
}

/// The syslog priority journald files a line under (`<3>` err … `<7>` debug).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One journal line: `<N>LEVEL span{fields}: message fields`, without a timestamp.
struct Journal;

impl<S, N> FormatEvent<S, N> for Journal
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        write!(writer, "<{}>{level} ", syslog_priority(level))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                write!(writer, ": ")?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
