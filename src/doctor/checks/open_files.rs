//! `open-files`: the open-file limit `serve` gets covers `server.max_connections` (one file per
//! socket) plus headroom for the database pool, TLS files and listeners. The limit that counts
//! is, in order: the running server's own (`/proc/PID/limits`, readable by every user; the
//! server is found as systemd's main PID of `flowsync.service`, or as the listener's process),
//! the limit systemd gives the unit (`LimitNOFILESoft`, drop-ins included), the unit file's
//! `LimitNOFILE`, or the hard limit of this shell (serve raises its soft limit to the hard one
//! at start).

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome, system};

/// Files serve needs beside client sockets.
pub const HEADROOM: u64 = 256;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

/// `LimitNOFILE=` of an installed unit (the soft value when given as soft:hard).
fn unit_limit(ctx: &Context) -> Option<(u64, std::path::PathBuf)> {
    let path = super::systemd::unit_path(ctx, "flowsync.service")?;
    let text = std::fs::read_to_string(&path).ok()?;
    let v = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("LimitNOFILE="))?
        .trim();
    let soft = v.split(':').next()?;
    let n = if soft == "infinity" {
        u64::MAX
    } else {
        soft.parse().ok()?
    };
    Some((n, path))
}

/// The running server's pid: systemd's main PID for the unit (any user may ask), else the
/// process holding one of its listeners (visible to root).
async fn server_pid(ctx: &Context, config: &crate::config::Config) -> Option<u32> {
    if super::systemd::usable(ctx)
        && let Some(pid) =
            system::output("systemctl", &["show", "-P", "MainPID", "flowsync.service"])
                .await
                .and_then(|p| p.parse::<u32>().ok())
                .filter(|p| *p != 0)
    {
        return Some(pid);
    }
    super::ports::listeners(config)
        .into_iter()
        .find_map(|(_, a)| system::listener_process(a.port()).filter(|(_, n)| n == "flowsync"))
        .map(|(pid, _)| pid)
}

/// The soft open-file limit systemd applies to the unit (unit file and drop-ins).
async fn systemd_limit(ctx: &Context) -> Option<u64> {
    if !super::systemd::usable(ctx) || super::systemd::unit_path(ctx, "flowsync.service").is_none()
    {
        return None;
    }
    let v = system::output(
        "systemctl",
        &["show", "-P", "LimitNOFILESoft", "flowsync.service"],
    )
    .await?;
    if v == "infinity" {
        Some(u64::MAX)
    } else {
        v.parse().ok()
    }
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let need = config.server.max_connections as u64 + HEADROOM;
    let (limit, source) = if let Some(pid) = server_pid(ctx, config).await
        && let Some(n) = system::process_nofile(pid)
    {
        (n, format!("the running server (pid {pid})"))
    } else if let Some(n) = systemd_limit(ctx).await {
        (n, "systemd's setting for flowsync.service".to_owned())
    } else if let Some((n, path)) = unit_limit(ctx) {
        (n, format!("LimitNOFILE in {}", path.display()))
    } else if let Some((_, hard)) = system::nofile_limits() {
        (
            hard,
            "the hard limit of this shell (`ulimit -Hn`)".to_owned(),
        )
    } else {
        return Outcome::skip("cannot read any open-file limit here");
    };
    let detail = format!(
        "limit {limit} from {source}; server.max_connections = {} needs {need}",
        config.server.max_connections
    );
    if limit < need {
        Outcome::fail(
            detail,
            format!(
                "raise LimitNOFILE in the unit (systemctl edit flowsync) or lower server.max_connections to {}",
                limit.saturating_sub(HEADROOM)
            ),
        )
    } else {
        Outcome::ok(detail)
    }
}
