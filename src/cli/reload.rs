//! `flowsync reload`: checks the configuration file, asks the running server to re-read it
//! (`SIGHUP`) and waits until it has, then says what was applied and what needs a restart.
//! It is the unit's `ExecReload`, so `systemctl reload flowsync` returns only once the server
//! is done, and fails (with the reason in `systemctl status`) for a file the server would
//! refuse, which keeps running on its previous configuration either way.

use std::time::{Duration, Instant};

use clap::Args;

use super::{Cli, CmdResult, Failure, exit};

/// How long the server may take to apply a reload (it re-reads a file and maybe a certificate).
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo flowsync reload                 # what `systemctl reload flowsync` runs
  flowsync reload --pid 1234 --json    # a server started by hand, outcome for scripts

Exit codes: 0 applied (keys that need a restart are listed), 2 the configuration is invalid
(checked before the signal, or refused by the server), 3 no running server answered.")]
pub struct Opts {
    /// The server's process id (default: systemd's main PID of flowsync.service)
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Machine-readable outcome
    #[arg(long)]
    json: bool,
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    // The same file the server will read, checked first: an invalid one fails here with its
    // line and column, and the server is not disturbed.
    let loaded = cli.load_config(Vec::new())?;
    let data_dir = loaded.config.server.data_dir;
    let pid = match opts.pid {
        Some(p) => p,
        None => main_pid().await.ok_or_else(|| {
            Failure::new(
                exit::UNREACHABLE,
                anyhow::anyhow!(
                    "no running flowsync.service to reload (systemctl show -P MainPID flowsync is 0); give --pid for a server started by hand"
                ),
            )
        })?,
    };
    let before = crate::reload::read(&data_dir)
        .filter(|s| s.pid == pid)
        .map(|s| s.generation);
    let target = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP).map_err(|e| {
        Failure::new(
            exit::UNREACHABLE,
            anyhow::anyhow!(
                "cannot signal the server (pid {pid}): {e}; run as root or as the flowsync user"
            ),
        )
    })?;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = crate::reload::read(&data_dir)
            && s.pid == pid
            && before.is_none_or(|g| s.generation > g)
            && s.generation > 0
        {
            break s;
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                exit::UNREACHABLE,
                anyhow::anyhow!(
                    "the server (pid {pid}) did not report the reload within {} s; `journalctl -u flowsync -n 50` says what it did",
                    WAIT.as_secs()
                ),
            ));
        }
        if nix::sys::signal::kill(target, None).is_err() {
            return Err(Failure::new(
                exit::UNREACHABLE,
                anyhow::anyhow!("the server (pid {pid}) exited during the reload"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if opts.json {
        println!(
            "{}",
            serde_json::to_string(&status).map_err(anyhow::Error::from)?
        );
    }
    if !status.ok {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "the server refused the configuration and keeps running with the previous one: {}",
                status.error.unwrap_or_default()
            ),
        ));
    }
    if !opts.json {
        if status.applied.is_empty() {
            println!("reloaded: nothing changed");
        } else {
            println!("reloaded: applied {}", status.applied.join(", "));
        }
        if !status.needs_restart.is_empty() {
            println!(
                "changed but needing a restart (systemctl restart flowsync): {}",
                status.needs_restart.join(", ")
            );
        }
    }
    Ok(())
}

/// systemd's main PID of `flowsync.service`, when it runs.
async fn main_pid() -> Option<u32> {
    if !crate::doctor::system::systemd_running() {
        return None;
    }
    crate::doctor::system::output("systemctl", &["show", "-P", "MainPID", "flowsync.service"])
        .await?
        .parse()
        .ok()
        .filter(|p| *p != 0)
}
