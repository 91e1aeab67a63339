//! `flowsync init`: the answers come from the wizard (dialoguer, on a terminal) or from flags
//! with `--yes`; the provisioning itself is `crate::init`. Each wizard answer is checked before
//! the next question (a PostgreSQL URL is connected to, a Redis URL PINGed), and unattended
//! runs refuse to guess a required answer, naming the missing flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use dialoguer::{Confirm, Input, Select};

use super::{Cli, CmdResult, Failure, exit};
use crate::init::{
    self, Answers, Change, DatabaseChoice, InitError, Layout, StepResult, StepStatus, TlsChoice,
    TurnChoice,
};

mod wizard;
use wizard::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TlsArg {
    /// Let's Encrypt (or tls.acme_directory), obtained now and renewed by serve
    Acme,
    /// A certificate made here (LAN, testing); browsers warn
    SelfSigned,
    /// Plain HTTP (behind your own proxy, or localhost only)
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CreatePolicyArg {
    /// Whoever has the team's create link (printed at the end, kept in /etc/flowsync/create-link)
    Link,
    /// Only the operator: `flowsync rooms create`
    Operator,
    /// Anyone who reaches the server (rate-limited per address)
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TurnArg {
    /// No relay: calls between strict NATs or firewalls may fail
    Off,
    /// The relay inside serve: UDP/TCP on 3478, TLS on the HTTPS port, relay ports 49152-65535
    Embedded,
    /// Your coturn with use-auth-secret (--turn-url, --turn-secret)
    External,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo flowsync init                                   # the wizard
  sudo flowsync init --yes --domain rooms.example.org --email ops@example.org
  sudo flowsync init --yes --domain rooms.example.org --email ops@example.org \\
       --database local-postgres --redis redis://127.0.0.1:6379/
  sudo flowsync init --yes --tls off --http-listen 127.0.0.1:8080   # behind your own proxy
  flowsync init --yes --prefix /tmp/root --no-systemd --no-start --tls self-signed --domain localhost
  sudo flowsync init --dry-run --yes --domain rooms.example.org --email ops@example.org

Running it again is safe: it shows what would change, keeps the generated secrets and the data,
and changes nothing without confirmation (--force with --yes). A run that was interrupted
continues where it stopped, since every step first looks at what is already there.

Exit codes: 0 done (doctor's findings are printed; run `flowsync doctor` for its exit code),
1 a step failed, 2 usage error or a required answer missing with --yes, 3 a database, Redis or
the ACME CA is unreachable, 4 refused: the config would change (confirm, or --force), a port is
held by another program, or not root without --prefix.")]
pub struct Opts {
    /// Print the commented example configuration (every key at its default) and exit
    #[arg(long, exclusive = true)]
    print_example: bool,
    /// Unattended: take every answer from flags and defaults, ask nothing
    #[arg(long, short = 'y')]
    yes: bool,
    /// Apply changes to an existing config without asking (secrets are still kept)
    #[arg(long)]
    force: bool,
    /// Show what each step would do; write nothing
    #[arg(long)]
    dry_run: bool,
    /// Root every path (config, data, backups, units) under DIR; accounts and systemd are left alone
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
    /// Do not install or enable systemd units
    #[arg(long)]
    no_systemd: bool,
    /// Do not start the service
    #[arg(long)]
    no_start: bool,
    /// The name people open (required with --yes unless --tls off)
    #[arg(long, value_name = "NAME")]
    domain: Option<String>,
    /// Contact address for the ACME account (required with --yes and --tls acme)
    #[arg(long, value_name = "ADDRESS")]
    email: Option<String>,
    /// sqlite, local-postgres (create a role and database on this host's PostgreSQL), or a postgres:// URL
    #[arg(long, value_name = "DATABASE", default_value = "sqlite")]
    database: String,
    /// Role and database name for --database local-postgres
    #[arg(long, value_name = "NAME", default_value = "flowsync")]
    local_db_name: String,
    /// none (state in-process, one instance) or a redis:// URL
    #[arg(long, value_name = "URL", default_value = "none")]
    redis: String,
    /// How HTTPS is provided
    #[arg(long, value_enum, default_value = "acme")]
    tls: TlsArg,
    /// TURN relay for participants behind strict NATs and firewalls
    #[arg(long, value_enum, default_value = "embedded")]
    turn: TurnArg,
    /// A turn:/turns:/stun: URL of your coturn (repeatable; --turn external)
    #[arg(long = "turn-url", value_name = "URL")]
    turn_urls: Vec<String>,
    /// coturn's static-auth-secret (generated when omitted; copy it into coturn)
    #[arg(
        long,
        value_name = "SECRET",
        env = "FLOWSYNC_INIT_TURN_SECRET",
        hide_env_values = true
    )]
    turn_secret: Option<String>,
    /// HTTP listener (ACME HTTP-01 and the redirect to HTTPS)
    #[arg(long, value_name = "ADDR", default_value = "[::]:80")]
    http_listen: SocketAddr,
    /// HTTPS listener
    #[arg(long, value_name = "ADDR", default_value = "[::]:443")]
    https_listen: SocketAddr,
    /// Who may create rooms
    #[arg(long, value_enum, default_value = "link")]
    create_policy: CreatePolicyArg,
    /// ACME directory URL (default Let's Encrypt production)
    #[arg(long, value_name = "URL")]
    acme_directory: Option<String>,
    /// PEM root to trust for a private ACME directory
    #[arg(long, value_name = "FILE")]
    acme_ca_root: Option<PathBuf>,
}

fn policy(a: CreatePolicyArg) -> crate::config::CreatePolicy {
    match a {
        CreatePolicyArg::Link => crate::config::CreatePolicy::Link,
        CreatePolicyArg::Operator => crate::config::CreatePolicy::Operator,
        CreatePolicyArg::Open => crate::config::CreatePolicy::Open,
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, anyhow::anyhow!("{}", msg.into()))
}

fn valid_domain(d: &str) -> Result<(), String> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok || d.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{d:?} is not a host name (letters, digits, hyphens and dots)"
        ))
    }
}

fn valid_email(e: &str) -> Result<(), String> {
    match e.split_once('@') {
        Some((user, host)) if !user.is_empty() && host.contains('.') && !e.contains(' ') => Ok(()),
        _ => Err(format!("{e:?} is not an email address")),
    }
}

fn database_choice(s: &str, name: &str) -> Result<DatabaseChoice, String> {
    match s {
        "sqlite" => Ok(DatabaseChoice::Sqlite),
        "local-postgres" => Ok(DatabaseChoice::LocalPostgres(name.to_owned())),
        u if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(DatabaseChoice::Postgres(u.to_owned()))
        }
        other => Err(format!(
            "--database {other:?}: use sqlite, local-postgres or a postgres:// URL"
        )),
    }
}

/// Answers from flags (`--yes`), refusing to guess what has no sensible default.
fn from_flags(o: &Opts) -> Result<Answers, Failure> {
    let tls = match o.tls {
        TlsArg::Acme => TlsChoice::Acme,
        TlsArg::SelfSigned => TlsChoice::SelfSigned,
        TlsArg::Off => TlsChoice::Off,
    };
    if o.domain.is_none() && tls != TlsChoice::Off {
        return Err(usage(
            "--domain is required with --yes (the name people open; or --tls off for plain HTTP)",
        ));
    }
    if let Some(d) = &o.domain {
        valid_domain(d).map_err(|e| usage(format!("--domain: {e}")))?;
    }
    if tls == TlsChoice::Acme {
        match &o.email {
            None => {
                return Err(usage(
                    "--email is required with --yes and --tls acme (the CA sends expiry warnings there)",
                ));
            }
            Some(e) => valid_email(e).map_err(|e| usage(format!("--email: {e}")))?,
        }
    }
    let turn = match o.turn {
        TurnArg::Off => TurnChoice::Off,
        TurnArg::Embedded => TurnChoice::Embedded,
        TurnArg::External if o.turn_urls.is_empty() => {
            return Err(usage("--turn-url is required with --turn external"));
        }
        TurnArg::External => TurnChoice::External {
            urls: o.turn_urls.clone(),
            secret: o.turn_secret.clone(),
        },
    };
    Ok(Answers {
        domain: o.domain.clone(),
        email: o.email.clone(),
        database: database_choice(&o.database, &o.local_db_name).map_err(usage)?,
        redis: redis_choice(&o.redis).map_err(usage)?,
        tls,
        turn,
        http_listen: o.http_listen,
        https_listen: o.https_listen,
        acme_directory: o.acme_directory.clone(),
        acme_ca_root: o.acme_ca_root.clone(),
        create_policy: policy(o.create_policy),
    })
}

fn redis_choice(s: &str) -> Result<Option<String>, String> {
    match s {
        "none" | "" => Ok(None),
        u if u.starts_with("redis://") || u.starts_with("rediss://") => Ok(Some(u.to_owned())),
        other => Err(format!("--redis {other:?}: use none or a redis:// URL")),
    }
}

/// Spinner per step on a terminal; one line per step otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
    quiet: bool,
}

impl init::Ui for Progress {
    fn begin(&mut self, _step: &'static str, what: &str) {
        if self.terminal && !self.quiet {
            let s = indicatif::ProgressBar::new_spinner();
            s.enable_steady_tick(Duration::from_millis(120));
            s.set_message(format!("{what}…"));
            self.bar = Some(s);
        }
    }

    fn end(&mut self, r: &StepResult) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let mark = match (r.status, self.terminal) {
            (StepStatus::Done, true) => "\x1b[32m✔\x1b[0m",
            (StepStatus::Unchanged, true) => "\x1b[2m=\x1b[0m",
            (StepStatus::Skipped, true) => "\x1b[2m-\x1b[0m",
            (StepStatus::Would, true) => "\x1b[36m~\x1b[0m",
            (StepStatus::Warn, true) => "\x1b[33m!\x1b[0m",
            (StepStatus::Fail, true) => "\x1b[31m!\x1b[0m",
            (StepStatus::Checked, true) => "\x1b[32m✔\x1b[0m",
            (StepStatus::Failed, true) => "\x1b[31m✘\x1b[0m",
            (StepStatus::Done, false) => "done",
            (StepStatus::Unchanged, false) => "unchanged",
            (StepStatus::Skipped, false) => "skipped",
            (StepStatus::Would, false) => "would",
            (StepStatus::Warn, false) => "warn",
            (StepStatus::Fail, false) => "fail",
            (StepStatus::Checked, false) => "checked",
            (StepStatus::Failed, false) => "failed",
        };
        // Plain lines: "STEP STATUS detail", easy to grep under cron or a packaging script.
        let pad = if self.terminal { 1 } else { 9 };
        println!("{mark:<pad$} {:<12} {}", r.step, r.detail);
        for l in &r.lines {
            println!("{:<pad$} {:<12} {l}", "", "");
        }
    }
}

pub async fn run(cli: &Cli, o: &Opts) -> CmdResult {
    if o.print_example {
        print!("{}", example());
        return Ok(());
    }
    crate::telemetry::init("warn", crate::config::LogFormat::Text, cli.verbosity());
    let layout = Layout::new(o.prefix.as_deref());
    let terminal = super::stdout_is_terminal() && {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    };
    let answers = if o.yes {
        from_flags(o)?
    } else if terminal {
        wizard(o, &layout).await?
    } else {
        return Err(usage(
            "init asks its questions on a terminal; here, run it with --yes and flags (see flowsync init --help)",
        ));
    };
    let (yes, force) = (o.yes, o.force);
    let mut confirm = move |changes: &[Change]| -> bool {
        if force {
            return true;
        }
        if yes {
            return false;
        }
        eprintln!("The existing configuration would change:");
        for c in changes {
            eprintln!("  {c}");
        }
        Confirm::new()
            .with_prompt("Apply these changes?")
            .default(false)
            .interact()
            .unwrap_or(false)
    };
    let mut opts = init::Options {
        dry_run: o.dry_run,
        force: o.force,
        no_systemd: o.no_systemd,
        no_start: o.no_start,
        confirm: &mut confirm,
    };
    let mut ui = Progress {
        bar: None,
        terminal: super::stdout_is_terminal(),
        quiet: cli.quiet,
    };
    let results = init::run(&answers, &layout, &mut opts, &mut ui)
        .await
        .map_err(|e| match e {
            InitError::Refused(m) => Failure::new(exit::REFUSED, anyhow::anyhow!(m)),
            InitError::Unreachable(m) => Failure::new(exit::UNREACHABLE, anyhow::anyhow!(m)),
            InitError::Other(e) => Failure::new(exit::FAILED, e),
        })?;
    if !cli.quiet {
        let changed = results
            .iter()
            .filter(|r| matches!(r.status, StepStatus::Done | StepStatus::Would))
            .count();
        println!();
        if o.dry_run {
            println!("dry run: {changed} step(s) would change something; nothing was written");
        } else {
            let url = public_url(&layout).unwrap_or_default();
            println!(
                "{}FlowSync is set up. Open {url}",
                if changed == 0 {
                    "Nothing changed. "
                } else {
                    ""
                }
            );
            println!("config: {}", layout.config.display());
            if layout.admin_token.exists() {
                println!("admin token: {}", layout.admin_token.display());
            }
            if let Ok(link) = std::fs::read_to_string(&layout.create_link)
                && created_with_link(&layout)
            {
                println!(
                    "create link: {} (share it with the team: whoever opens it may create rooms; kept in {})",
                    link.trim(),
                    layout.create_link.display()
                );
            }
        }
    }
    Ok(())
}

/// The example the package ships under /usr/share/doc/flowsync/examples/: every key commented
/// out at its default, no secrets.
fn example() -> String {
    crate::config::template::render(
        &[
            "Example FlowSync configuration: every key, commented out at its default.".into(),
            "`sudo flowsync init` writes /etc/flowsync/flowsync.toml (with generated secrets);"
                .into(),
            "copy keys from here into it to change more, then `systemctl reload flowsync`.".into(),
        ],
        &crate::config::template::Values::new(),
    )
}

/// Whether the written config asks for the create link (`rooms.create_policy = "link"`).
fn created_with_link(layout: &Layout) -> bool {
    crate::config::Config::load_with_env(
        &crate::config::LoadOptions {
            path: Some(layout.config.clone()),
            flags: Vec::new(),
        },
        Vec::<(String, String)>::new(),
    )
    .is_ok_and(|l| l.config.rooms.create_policy == crate::config::CreatePolicy::Link)
}

fn public_url(layout: &Layout) -> Option<String> {
    let loaded = crate::config::Config::load_with_env(
        &crate::config::LoadOptions {
            path: Some(layout.config.clone()),
            flags: Vec::new(),
        },
        Vec::<(String, String)>::new(),
    )
    .ok()?;
    Some(loaded.config.public_url())
}
