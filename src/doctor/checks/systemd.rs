//! `systemd`: `flowsync.service` and `flowsync-backup.timer` are installed, enabled and active,
//! the timer has a next run, and the last backup run did not fail. An enabled timer that is
//! not active runs no backup until the next boot, so it is a warning, as is a failed last run.
//! Where systemd is not the init system (containers, `--prefix` installs) the unit files are
//! still looked for and the rest is `skip`. Fix: `systemctl enable --now` both units.

use std::path::PathBuf;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome, system};

/// Where unit files may live, most specific first (init writes `/etc/systemd/system`, the
/// package installs into `/usr/lib/systemd/system`).
const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { start(ctx) }.boxed()
}

/// The installed unit file `name`, if any (under `--prefix`).
pub fn unit_path(ctx: &Context, name: &str) -> Option<PathBuf> {
    UNIT_DIRS
        .iter()
        .map(|d| ctx.prefix.join(d).join(name))
        .find(|p| p.exists())
}

/// Whether systemctl may be used: systemd runs and the install is this host's own root.
pub fn usable(ctx: &Context) -> bool {
    system::systemd_running() && ctx.prefix == std::path::Path::new("/")
}

/// `systemctl ARGS` stdout (is-enabled/is-active print their answer even when exiting non-zero).
async fn systemctl(args: &[&str]) -> String {
    match tokio::process::Command::new("systemctl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Err(e) => format!("systemctl: {e}"),
    }
}

async fn check(ctx: &Context) -> Outcome {
    let Some(service) = unit_path(ctx, "flowsync.service") else {
        return if usable(ctx) {
            Outcome::fail(
                "flowsync.service is not installed",
                "install the flowsync package, or run `flowsync init` (it writes the units)",
            )
        } else {
            Outcome::skip("systemd is not running here and no flowsync.service is installed")
        };
    };
    let timer = unit_path(ctx, "flowsync-backup.timer");
    if !usable(ctx) {
        return Outcome::skip(format!(
            "systemd is not running here (units installed: {}{})",
            service.display(),
            timer
                .map(|t| format!(", {}", t.display()))
                .unwrap_or_default()
        ));
    }
    let enabled = systemctl(&["is-enabled", "flowsync.service"]).await;
    let active = systemctl(&["is-active", "flowsync.service"]).await;
    let timer_enabled = systemctl(&["is-enabled", "flowsync-backup.timer"]).await;
    let timer_active = systemctl(&["is-active", "flowsync-backup.timer"]).await;
    let next = systemctl(&[
        "show",
        "-P",
        "NextElapseUSecRealtime",
        "flowsync-backup.timer",
    ])
    .await;
    let last = systemctl(&["show", "-P", "Result", "flowsync-backup.service"]).await;
    let mut detail = format!(
        "flowsync.service {enabled}/{active}, flowsync-backup.timer {timer_enabled}/{timer_active}"
    );
    if timer_active == "active" && !next.is_empty() {
        detail.push_str(&format!(", next backup {next}"));
    }
    if active != "active" {
        return Outcome::fail(
            detail,
            "`flowsync doctor --fix` (systemctl enable --now flowsync); `journalctl -u flowsync -n 50` says why it stopped",
        );
    }
    if timer_active != "active" || next.is_empty() {
        return Outcome::warn(
            format!("{detail}: no daily backup is scheduled"),
            "`flowsync doctor --fix` (systemctl enable --now flowsync-backup.timer)",
        );
    }
    if !last.is_empty() && last != "success" {
        return Outcome::warn(
            format!("{detail}; the last backup run ended with {last}"),
            "`journalctl -u flowsync-backup -n 50` says why; `systemctl start flowsync-backup` runs it again",
        );
    }
    if enabled != "enabled" || timer_enabled != "enabled" {
        return Outcome::warn(
            detail,
            "systemctl enable flowsync.service flowsync-backup.timer (so they run after a reboot)",
        );
    }
    Outcome::ok(detail)
}

/// Enables and starts the service and the backup timer.
pub fn start(ctx: &Context) -> anyhow::Result<String> {
    if !usable(ctx) {
        anyhow::bail!("systemd is not running here; start FlowSync with `flowsync serve`");
    }
    let out = std::process::Command::new("systemctl")
        .args([
            "enable",
            "--now",
            "flowsync.service",
            "flowsync-backup.timer",
        ])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "systemctl enable --now failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok("enabled and started flowsync.service and flowsync-backup.timer".into())
}
