//! What doctor prints: the JSON document (`--json`, schema 1), and the shareable report
//! (`--report FILE`): host facts, the effective configuration with every secret masked, and the
//! findings. Nothing secret goes in either: details name databases with the password masked,
//! and the configuration comes from `Config::render`, which masks secret keys.

use serde::Serialize;

use super::{Context, Finding, Status, overall, system};

/// `doctor --json`. Fields are only ever added; `schema` changes if one is removed or renamed.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub schema: u32,
    pub version: &'static str,
    pub host: String,
    pub config_file: Option<String>,
    pub status: Status,
    pub summary: Summary,
    pub checks: &'a [Finding],
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

impl<'a> Report<'a> {
    pub fn new(ctx: &Context, findings: &'a [Finding]) -> Report<'a> {
        let mut summary = Summary::default();
        for f in findings {
            match f.status {
                Status::Ok => summary.ok += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
                Status::Skip => summary.skip += 1,
            }
        }
        Report {
            schema: 1,
            version: env!("CARGO_PKG_VERSION"),
            host: hostname(),
            config_file: ctx.config_file.as_ref().map(|p| p.display().to_string()),
            status: overall(findings),
            summary,
            checks: findings,
        }
    }
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into())
}

/// A Markdown report to attach to a support request.
pub fn redacted_report(ctx: &Context, findings: &[Finding]) -> String {
    let mut out = String::new();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    out.push_str(&format!(
        "# flowsync doctor report\n\n- generated: {now}\n- flowsync: {}\n- host: {}\n- os: {}\n- cpus: {}\n- memory: {}\n- config file: {}\n\n",
        env!("CARGO_PKG_VERSION"),
        hostname(),
        system::os_name(),
        system::cpus(),
        system::memory_bytes().map(crate::timefmt::bytes).unwrap_or_else(|| "?".into()),
        ctx.config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none (built-in defaults)".into()),
    ));
    out.push_str("## Checks\n\n| check | status | detail | hint |\n|---|---|---|---|\n");
    for f in findings {
        let mut hint = f.hint.clone();
        if let Some(did) = &f.fixed {
            hint = format!("fixed: {did}. {hint}");
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            f.name,
            f.status.as_str(),
            f.detail.replace('|', "\\|"),
            hint.replace('|', "\\|")
        ));
    }
    out.push_str("\n## Effective configuration (secrets masked)\n\n```toml\n");
    match &ctx.config {
        Ok(config) => {
            let mut section = "";
            for (key, value) in config.render() {
                if key.section != section {
                    section = key.section;
                    out.push_str(&format!("\n[{section}]\n"));
                }
                match value {
                    Some(v) => out.push_str(&format!("{} = {v}\n", key.key)),
                    None => out.push_str(&format!("# {} unset\n", key.key)),
                }
            }
        }
        Err(e) => out.push_str(&format!("# the configuration did not load: {e}\n")),
    }
    out.push_str("```\n");
    out
}
