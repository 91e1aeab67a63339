//! `flowsync doctor`: runs the check registry (`crate::doctor`) and prints one line per check,
//! a JSON document (`--json`) or a shareable report (`--report FILE`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Cli, CmdResult, Failure, exit};
use crate::config::Config;
use crate::doctor::{self, Context, Finding, RunOptions, Status};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync doctor                         # every check, one line each
  flowsync doctor --fix                   # also repair what is safe to repair, then check again
  flowsync doctor --run database --run migrations
  flowsync doctor --json | jq '.checks[] | select(.status == \"fail\")'
  flowsync doctor --report /tmp/flowsync-report.md   # secrets masked; attach it to a bug report
  flowsync doctor --list

Statuses: ok; warn (works, but look at it); fail (broken; the hint says what to do); skip (does
not apply here, or needs something unavailable; the detail says which).

--fix repairs: data-dir (create, chown, chmod 750), ownership (chown strays to the service
user), migrations (backup first, then apply), certificate (renew ACME / regenerate
self-signed), server and systemd (systemctl enable --now flowsync).

Exit codes: 0 no check failed (warnings allowed), 1 at least one check failed, 2 doctor itself
could not run (bad flag, report file not writable).")]
pub struct Opts {
    /// Print one JSON document (schema in docs/operating/doctor.md) instead of lines
    #[arg(long)]
    json: bool,
    /// Run only this check (repeatable; names from --list)
    #[arg(long = "run", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(doctor::names()))]
    run: Vec<String>,
    /// List the checks and exit
    #[arg(long)]
    list: bool,
    /// Apply the safe fixes of failing checks, then check again
    #[arg(long)]
    fix: bool,
    /// Also write a shareable Markdown report (secrets masked) to FILE
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Deadline of each check
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Install root, as given to `flowsync init --prefix` (where units are looked for)
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
}

pub async fn run(cli: &Cli, o: &Opts) -> CmdResult {
    if o.list {
        for c in doctor::checks::REGISTRY {
            println!(
                "{:<13} {}{}",
                c.name,
                c.about,
                if c.fix.is_some() { " [--fix]" } else { "" }
            );
        }
        return Ok(());
    }
    // A broken config is a finding (the config check fails), not a reason to stop.
    let opts = cli.load_options(Vec::new());
    let (config, file) = match Config::load(&opts) {
        Ok(loaded) => {
            crate::telemetry::init(
                &loaded.config.log.level,
                loaded.config.log.format,
                cli.verbosity(),
            );
            let mut config = loaded.config;
            config.backup.config_file = loaded.file.clone();
            (Ok(config), loaded.file)
        }
        Err(e) => (
            Err(e.to_string()),
            opts.path.clone().or_else(|| {
                let p = PathBuf::from(crate::config::DEFAULT_CONFIG_PATH);
                p.exists().then_some(p)
            }),
        ),
    };
    let ctx = Context::new(config, file, o.prefix.clone());
    let run_opts = RunOptions {
        only: o.run.clone(),
        fix: o.fix,
        timeout: o.timeout,
    };
    let show = !o.json && !cli.quiet;
    let findings = doctor::run(&ctx, &run_opts, |f| {
        if show {
            print_line(f);
        }
    })
    .await;
    if let Some(path) = &o.report {
        let body = doctor::redacted_report(&ctx, &findings);
        write_report(path, &body).map_err(|e| {
            Failure::new(
                exit::USAGE,
                anyhow::anyhow!("cannot write the report {}: {e}", path.display()),
            )
        })?;
    }
    let report = doctor::Report::new(&ctx, &findings);
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        );
    } else if show {
        let s = &report.summary;
        println!(
            "\n{} ok, {} warn, {} fail, {} skip{}",
            s.ok,
            s.warn,
            s.fail,
            s.skip,
            o.report
                .as_ref()
                .map(|p| format!(" — report written to {}", p.display()))
                .unwrap_or_default()
        );
    }
    if report.status == Status::Fail {
        return Err(Failure::new(
            exit::FAILED,
            anyhow::anyhow!(
                "{} check(s) failed; each hint above says what to do (`flowsync doctor --fix` repairs the safe ones)",
                report.summary.fail
            ),
        ));
    }
    Ok(())
}

fn write_report(path: &std::path::Path, body: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        // The report may go to a shared directory such as /tmp: never write through a symlink.
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(body.as_bytes())
}

fn print_line(f: &Finding) {
    let color = super::stdout_is_terminal();
    let tag = f.status.as_str().to_uppercase();
    let tag = if color {
        let code = match f.status {
            Status::Ok => "32",
            Status::Warn => "33",
            Status::Fail => "31",
            Status::Skip => "2",
        };
        format!("\x1b[{code}m{tag:<4}\x1b[0m")
    } else {
        format!("{tag:<4}")
    };
    println!("{tag} {:<13} {}", f.name, f.detail);
    if let Some(did) = &f.fixed {
        println!("     {:<13} fixed: {did}", "");
    }
    if !f.hint.is_empty() && f.status != Status::Ok {
        println!("     {:<13} → {}", "", f.hint);
    }
}
