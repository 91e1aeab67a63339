//! The command line: global options, one module per subcommand (`Opts` + `run`), and the single
//! place where errors become one line on stderr and an exit code.

mod backup;
mod bench;
mod cert;
mod completions;
mod doctor;
mod init;
mod manpages;
mod migrate;
mod reload;
mod rooms;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, LoadOptions, Loaded};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the command failed; the message says why and what to do
  2  usage or configuration error (bad flag, unreadable or invalid config, a data directory
     FlowSync cannot write to)
  3  a dependency is unreachable (database, Redis, the running server)
  4  refused: the current state does not allow it (e.g. migrations pending with auto_migrate = false,
     restoring into a database that holds data without --force)
  5  busy: another backup or restore is running (it holds <data_dir>/.backup.lock)";

#[derive(Debug, Parser)]
#[command(
    name = "flowsync",
    version,
    about = "Self-hosted video co-working rooms: web app, API, signaling and operations in one binary",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// Config file (default: /etc/flowsync/flowsync.toml when it exists, else built-in defaults)
    #[arg(long, global = true, value_name = "PATH", env = "FLOWSYNC_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Provision this host: config, user, directories, units, database, certificate, start, doctor
    Init(init::Opts),
    /// Run the server: web app, REST API, health, metrics and the expiry sweeper
    Serve(serve::Opts),
    /// Apply or inspect database migrations
    Migrate(migrate::Opts),
    /// Have the running server re-read its configuration, and wait until it has
    Reload(reload::Opts),
    /// List, show or end rooms (operator view)
    Rooms(rooms::Opts),
    /// Back up the database, config and certificates into one verified archive; verify or list archives
    Backup(backup::Opts),
    /// Restore an archive into an empty database (SQLite or PostgreSQL)
    Restore(backup::RestoreOpts),
    /// Make or inspect the TLS certificate serve presents
    Cert(cert::Opts),
    /// Diagnose this installation: named checks, each ok/warn/fail/skip with a fix hint
    Doctor(doctor::Opts),
    /// Drive a running server with simulated participants and measure it (load generator)
    // A later flag wins over an earlier one, so `scripts/bench.sh relay --rooms 10` can narrow
    // a scenario's defaults.
    #[command(args_override_self = true)]
    Bench(bench::Opts),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(completions::Opts),
    /// Write man pages into a directory
    Manpages(manpages::Opts),
}

/// Exit codes every command shares (listed in each command's `--help` and in
/// docs/reference/cli.md). 0 is success; `doctor` has its own (0 healthy, 1 a check failed,
/// 2 doctor could not run).
pub mod exit {
    /// The command failed; the message says why and what to do.
    pub const FAILED: u8 = 1;
    /// Usage or configuration error: a bad flag, an unreadable or invalid config.
    pub const USAGE: u8 = 2;
    /// A dependency is unreachable: the database, Redis, the running server. Retry later.
    pub const UNREACHABLE: u8 = 3;
    /// Refused by the current state (pending migrations, an ended room, a restore over data).
    pub const REFUSED: u8 = 4;
    /// Busy: another backup or restore holds `<data_dir>/.backup.lock`.
    pub const BUSY: u8 = 5;
}

/// A failed command: what to print and which exit code to use.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            code: exit::FAILED,
            error,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::new(exit::USAGE, e)
    }
}

impl From<crate::server::StartError> for Failure {
    fn from(e: crate::server::StartError) -> Self {
        use crate::server::StartError as S;
        let code = match &e {
            S::Database(_) | S::Dependency(_) => exit::UNREACHABLE,
            S::DataDir(_) => exit::USAGE,
            S::PendingMigrations { .. } => exit::REFUSED,
            S::Bind { .. } | S::Other(_) => exit::FAILED,
        };
        Failure::new(code, e)
    }
}

pub type CmdResult = Result<(), Failure>;

impl Cli {
    fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            self.verbose.min(2) as i8
        }
    }

    /// Loads the configuration with command-specific flags and starts logging.
    fn load_config(&self, flags: Vec<crate::config::FlagValue>) -> Result<Loaded, Failure> {
        self.load_config_with_log(flags).map(|(loaded, _)| loaded)
    }

    fn load_options(&self, flags: Vec<crate::config::FlagValue>) -> LoadOptions {
        LoadOptions {
            path: self.config.clone(),
            flags,
        }
    }

    /// Like [`Self::load_config`], also returning the handle that changes the log level later.
    fn load_config_with_log(
        &self,
        flags: Vec<crate::config::FlagValue>,
    ) -> Result<(Loaded, crate::telemetry::LogControl), Failure> {
        let loaded = Config::load(&self.load_options(flags))?;
        let log = crate::telemetry::init(
            &loaded.config.log.level,
            loaded.config.log.format,
            self.verbosity(),
        );
        Ok((loaded, log))
    }
}

/// Runs a parsed command line and reports the outcome.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(Failure::new(
                exit::FAILED,
                anyhow::anyhow!("cannot start the async runtime: {e}"),
            ));
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Init(opts) => init::run(&cli, opts).await,
            Command::Serve(opts) => serve::run(&cli, opts).await,
            Command::Migrate(opts) => migrate::run(&cli, opts).await,
            Command::Reload(opts) => reload::run(&cli, opts).await,
            Command::Rooms(opts) => rooms::run(&cli, opts).await,
            Command::Backup(opts) => backup::run(&cli, opts).await,
            Command::Restore(opts) => backup::restore(&cli, opts).await,
            Command::Cert(opts) => cert::run(&cli, opts).await,
            Command::Doctor(opts) => doctor::run(&cli, opts).await,
            Command::Bench(opts) => bench::run(&cli, opts).await,
            Command::Completions(opts) => completions::run(opts),
            Command::Manpages(opts) => manpages::run(opts),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

/// Prints the error once, as one line, and returns its exit code.
fn report(f: Failure) -> ExitCode {
    let msg = format!("{:#}", f.error).replace('\n', " ");
    // In the journal, at priority err (3), so `journalctl -p warning` shows why it stopped.
    let priority = if crate::telemetry::stderr_is_journal() {
        "<3>"
    } else {
        ""
    };
    eprintln!("{priority}error: {msg}");
    ExitCode::from(f.code)
}

/// Whether stdout is a terminal (progress bars, colours, tables) or a pipe/cron (plain lines).
pub(crate) fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
