//! `flowsync init`: provisions this host from a set of [`Answers`] (asked by the wizard or
//! given as flags; see `cli::init`). Each step first looks at what is already there, so a second
//! run changes nothing, and a run that was interrupted continues where it stopped:
//!
//! 1. pre-flight: OS, CPUs, memory, and doctor's ports/dns/clock/disk checks on the
//!    configuration about to be written;
//! 2. config: the fully commented `/etc/flowsync/flowsync.toml` (0640 root:flowsync) with
//!    generated secrets; an existing file keeps its secrets and is only edited (in place,
//!    comments kept) after confirmation or `--force`;
//! 3. user: the `flowsync` system account;
//! 4. directories: data (0750) and backups (0750), owned by `flowsync`;
//! 5. units: the systemd units (the package's, or written from the copies in this binary) are
//!    enabled when systemd runs;
//! 6. database: a local PostgreSQL role and database when asked, then migrations (a backup is
//!    taken first when there is data);
//! 7. certificate: ACME issuance or the self-signed certificate;
//! 8. start: `systemctl restart flowsync` and wait for `/readyz`;
//! 9. doctor: every check, on the installed configuration.
//!
//! `--prefix DIR` roots every path under DIR and leaves accounts and systemd alone, `--dry-run`
//! reports what each step would do and writes nothing.

pub mod steps;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which database the configuration uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// `sqlite://<data_dir>/flowsync.db`
    Sqlite,
    /// A PostgreSQL URL the administrator gave (tested before it is written).
    Postgres(String),
    /// Create a role and database of this name on the local PostgreSQL server.
    LocalPostgres(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsChoice {
    Acme,
    SelfSigned,
    Off,
}

impl TlsChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsChoice::Acme => "acme",
            TlsChoice::SelfSigned => "self-signed",
            TlsChoice::Off => "off",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnChoice {
    Off,
    /// The STUN/TURN server inside serve (UDP/TCP on 3478, TLS on 443).
    Embedded,
    /// A coturn with `use-auth-secret`; the secret is generated when not given.
    External {
        urls: Vec<String>,
        secret: Option<String>,
    },
}

/// Everything init needs to know; the wizard asks for it, `--yes` takes it from flags.
#[derive(Debug, Clone)]
pub struct Answers {
    pub domain: Option<String>,
    pub email: Option<String>,
    pub database: DatabaseChoice,
    pub redis: Option<String>,
    pub tls: TlsChoice,
    pub turn: TurnChoice,
    pub http_listen: SocketAddr,
    pub https_listen: SocketAddr,
    pub acme_directory: Option<String>,
    pub acme_ca_root: Option<PathBuf>,
    /// Who may create rooms (`rooms.create_policy`).
    pub create_policy: crate::config::CreatePolicy,
}

/// Where everything goes, under `--prefix` (default `/`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: Option<PathBuf>,
    pub root: PathBuf,
    pub config_dir: PathBuf,
    pub config: PathBuf,
    pub admin_token: PathBuf,
    /// The team's create link (`rooms.create_policy = "link"`), root's alone.
    pub create_link: PathBuf,
    pub data_dir: PathBuf,
    pub backup_dir: PathBuf,
    pub unit_dir: PathBuf,
}

impl Layout {
    pub fn new(prefix: Option<&Path>) -> Layout {
        let root = prefix.map(Path::to_path_buf).unwrap_or_else(|| "/".into());
        let at = |p: &str| root.join(p);
        Layout {
            prefix: prefix.map(Path::to_path_buf),
            config_dir: at("etc/flowsync"),
            config: at("etc/flowsync/flowsync.toml"),
            admin_token: at("etc/flowsync/admin-token"),
            create_link: at("etc/flowsync/create-link"),
            data_dir: at("var/lib/flowsync"),
            backup_dir: at("var/backups/flowsync"),
            unit_dir: at("etc/systemd/system"),
            root,
        }
    }

    /// Whether this is the host's own root (accounts and systemd may be touched).
    pub fn is_host(&self) -> bool {
        self.prefix.is_none()
    }
}

/// How a run goes.
pub struct Options<'a> {
    pub dry_run: bool,
    pub force: bool,
    pub no_systemd: bool,
    pub no_start: bool,
    /// Asked before an existing config is changed (shown the changes); `--yes` without
    /// `--force` answers no.
    pub confirm: &'a mut (dyn FnMut(&[Change]) -> bool + Send),
}

/// One key whose value init would change in an existing config.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub old: Option<String>,
    pub new: String,
    pub secret: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &str| {
            if self.secret {
                "********".to_owned()
            } else {
                v.to_owned()
            }
        };
        match &self.old {
            Some(old) => write!(f, "{}: {} → {}", self.key, show(old), show(&self.new)),
            None => write!(f, "{}: (unset) → {}", self.key, show(&self.new)),
        }
    }
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Done,
    Unchanged,
    Skipped,
    /// `--dry-run`: what it would do.
    Would,
    /// Looked, nothing to change (pre-flight, doctor).
    Checked,
    /// Finished, with something to look at (pre-flight or doctor findings).
    Warn,
    /// Finished, and a check failed (doctor): the run went on, the finding needs fixing.
    Fail,
    /// The step stopped the run (the error follows).
    Failed,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepResult {
    pub step: &'static str,
    pub status: StepStatus,
    pub detail: String,
    /// Extra lines (pre-flight facts, doctor findings, config changes).
    pub lines: Vec<String>,
}

/// Why init stopped; the CLI maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The current state does not allow it without `--force` (exit 4).
    #[error("{0}")]
    Refused(String),
    /// A dependency (database, Redis, ACME CA) is unreachable (exit 3).
    #[error("{0}")]
    Unreachable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<std::io::Error> for InitError {
    fn from(e: std::io::Error) -> Self {
        InitError::Other(e.into())
    }
}

impl From<nix::errno::Errno> for InitError {
    fn from(e: nix::errno::Errno) -> Self {
        InitError::Other(e.into())
    }
}

/// Progress of a run, drawn by the CLI (spinner on a terminal, lines otherwise).
pub trait Ui: Send {
    fn begin(&mut self, step: &'static str, what: &str);
    fn end(&mut self, result: &StepResult);
}

/// Runs every step in order and returns their results.
pub async fn run(
    answers: &Answers,
    layout: &Layout,
    opts: &mut Options<'_>,
    ui: &mut dyn Ui,
) -> Result<Vec<StepResult>, InitError> {
    steps::Run::new(answers, layout, opts).all(ui).await
}
