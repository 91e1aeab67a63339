//! `flowsync doctor`: a registry of named checks, run in order, each with a deadline.
//!
//! Every check lives in its own file under `checks/` and returns an [`Outcome`]: `ok`, `warn`,
//! `fail` or `skip`, one line of detail and one line saying how to fix it. Checks that need
//! something unavailable (no config, no database, systemd not running) are `skip` with the
//! reason. Some checks carry a *safe* fix (`--fix`): create or chown directories, apply
//! migrations, start the unit, renew an expiring certificate. The checks use the same config,
//! database, TLS and Redis code that `serve` uses.
//!
//! The JSON report (`doctor --json`) is a stable interface; its shape is documented in the
//! doctor guide (docs/operating/doctor.md) and pinned by a snapshot test. Fields are only ever added.

pub mod checks;
mod context;
mod report;
pub mod system;

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::Serialize;

pub use context::{Context, ServiceUser};
pub use report::{Report, redacted_report};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What a check found: one line of detail and, unless it is `ok`, one line saying what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
    pub hint: String,
}

impl Outcome {
    pub fn ok(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Ok,
            detail: detail.into(),
            hint: String::new(),
        }
    }
    pub fn warn(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Outcome {
            status: Status::Warn,
            detail: detail.into(),
            hint: hint.into(),
        }
    }
    pub fn fail(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Outcome {
            status: Status::Fail,
            detail: detail.into(),
            hint: hint.into(),
        }
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Skip,
            detail: reason.into(),
            hint: String::new(),
        }
    }
}

type RunFn = for<'a> fn(&'a Context) -> BoxFuture<'a, Outcome>;
type FixFn = for<'a> fn(&'a Context) -> BoxFuture<'a, anyhow::Result<String>>;

/// One entry of the registry.
pub struct Check {
    pub name: &'static str,
    /// What it looks at, for `doctor --list`.
    pub about: &'static str,
    pub run: RunFn,
    /// A safe repair `--fix` may apply when the check warns or fails.
    pub fix: Option<FixFn>,
    /// The fix writes data (a backup, then migrations) and is never cut off half-way; other
    /// fixes get four check deadlines.
    pub fix_runs_to_end: bool,
}

/// The result of one check in a run.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: String,
    pub duration_ms: u64,
    /// What `--fix` did before this (re-run) result, if anything.
    pub fixed: Option<String>,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Only these checks (empty: all), in registry order.
    pub only: Vec<String>,
    pub fix: bool,
    /// Deadline of each check (and of each fix).
    pub timeout: Duration,
}

/// Runs the selected checks in order; with `fix`, repairs what can be repaired safely and runs
/// the check again. `progress` is told each finding as it is known.
pub async fn run(
    ctx: &Context,
    opts: &RunOptions,
    mut progress: impl FnMut(&Finding),
) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in checks::REGISTRY {
        if !opts.only.is_empty() && !opts.only.iter().any(|n| n == check.name) {
            continue;
        }
        let mut finding = run_one(ctx, check, opts.timeout).await;
        if opts.fix
            && matches!(finding.status, Status::Warn | Status::Fail)
            && let Some(fix) = check.fix
        {
            let deadline = if check.fix_runs_to_end {
                Duration::from_secs(24 * 3600)
            } else {
                opts.timeout * 4
            };
            let did = match tokio::time::timeout(deadline, fix(ctx)).await {
                Ok(Ok(did)) => did,
                Ok(Err(e)) => format!("fix failed: {e:#}"),
                Err(_) => format!("fix did not finish within {} s", deadline.as_secs()),
            };
            ctx.forget_connections().await;
            finding = run_one(ctx, check, opts.timeout).await;
            finding.fixed = Some(did);
        }
        progress(&finding);
        out.push(finding);
    }
    ctx.close().await;
    out
}

async fn run_one(ctx: &Context, check: &Check, timeout: Duration) -> Finding {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, (check.run)(ctx)).await {
        Ok(o) => o,
        Err(_) => Outcome::fail(
            format!("no answer within {} s", timeout.as_secs()),
            "something it depends on hangs; run `flowsync doctor --run NAME -v` to see what",
        ),
    };
    Finding {
        name: check.name,
        status: outcome.status,
        detail: one_line(&outcome.detail),
        hint: one_line(&outcome.hint),
        duration_ms: started.elapsed().as_millis() as u64,
        fixed: None,
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ").trim().to_owned()
}

/// The names in registry order, for `--run` validation and `--list`.
pub fn names() -> Vec<&'static str> {
    checks::REGISTRY.iter().map(|c| c.name).collect()
}

/// The worst status among findings (`ok` when there are none).
pub fn overall(findings: &[Finding]) -> Status {
    findings
        .iter()
        .map(|f| f.status)
        .filter(|s| *s != Status::Skip)
        .max()
        .unwrap_or(Status::Ok)
}
