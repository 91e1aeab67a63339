//! The steps of `flowsync init`: a registry ([`STEPS`]) in the order init runs them, like
//! doctor's checks. Each looks at the current state first and reports `unchanged` when there
//! is nothing to do, so runs are idempotent and resumable.

mod files;
mod service;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::LocalBoxFuture;

use super::{
    Answers, Change, DatabaseChoice, InitError, Layout, Options, StepResult, StepStatus, TlsChoice,
    TurnChoice, Ui,
};
use crate::config::template::{self, Values};
use crate::config::{Config, LoadOptions};
use crate::doctor::{self, system};
use crate::ownership::SERVICE_USER;

pub struct Run<'a, 'o> {
    answers: &'a Answers,
    layout: &'a Layout,
    opts: &'a mut Options<'o>,
    /// The values the config file gets (taken by the `config` step), and the admin token to
    /// store when a new one was generated.
    planned: Option<(Values, Option<String>)>,
    /// The configuration as written (or as it would be, in a dry run).
    config: Option<Config>,
    /// Whether an earlier step changed anything (a run that changed nothing leaves a running
    /// service alone).
    changed: bool,
}

type StepFn =
    for<'r, 'a, 'o> fn(&'r mut Run<'a, 'o>) -> LocalBoxFuture<'r, Result<StepResult, InitError>>;

/// One step of `flowsync init`.
pub struct Step {
    pub name: &'static str,
    /// What it is doing, shown while it runs.
    pub doing: &'static str,
    run: StepFn,
}

/// Every step, in the order init runs them (docs/operating/init.md has one row for each).
pub static STEPS: &[Step] = &[
    Step {
        name: "preflight",
        doing: "checking this host",
        run: |r| Box::pin(r.preflight_planned()),
    },
    Step {
        name: "config",
        doing: "writing the configuration",
        run: |r| Box::pin(async move { r.write_planned() }),
    },
    Step {
        name: "user",
        doing: "creating the flowsync user",
        run: |r| Box::pin(async move { r.user() }),
    },
    Step {
        name: "directories",
        doing: "creating directories",
        run: |r| Box::pin(async move { r.directories() }),
    },
    Step {
        name: "units",
        doing: "installing systemd units",
        run: |r| Box::pin(async move { r.units() }),
    },
    Step {
        name: "database",
        doing: "preparing the database",
        run: |r| Box::pin(r.database()),
    },
    Step {
        name: "certificate",
        doing: "obtaining the certificate",
        run: |r| Box::pin(r.certificate()),
    },
    Step {
        name: "start",
        doing: "starting the service",
        run: |r| Box::pin(r.start()),
    },
    Step {
        name: "doctor",
        doing: "running doctor",
        run: |r| Box::pin(r.doctor()),
    },
];

fn result(step: &'static str, status: StepStatus, detail: impl Into<String>) -> StepResult {
    StepResult {
        step,
        status,
        detail: detail.into(),
        lines: Vec::new(),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn random_b64(n: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    crate::auth::fill_random(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The `flowsync` account's uid/gid, when it exists.
fn service_ids() -> Option<(nix::unistd::Uid, nix::unistd::Gid)> {
    nix::unistd::User::from_name(SERVICE_USER)
        .ok()
        .flatten()
        .map(|u| (u.uid, u.gid))
}

/// Loads a configuration from text, exactly as `serve --config` would (environment ignored).
fn load_text(text: &str, dir: &Path) -> anyhow::Result<Config> {
    let tmp = tempfile::Builder::new()
        .prefix(".flowsync-init-")
        .suffix(".toml")
        .tempfile_in(dir)
        .or_else(|_| tempfile::Builder::new().suffix(".toml").tempfile())?;
    std::fs::write(tmp.path(), text)?;
    let loaded = Config::load_with_env(
        &LoadOptions {
            path: Some(tmp.path().to_path_buf()),
            flags: Vec::new(),
        },
        Vec::<(String, String)>::new(),
    )
    .map_err(|e| anyhow::anyhow!("the generated configuration does not validate: {e}"))?;
    Ok(loaded.config)
}

fn nearest_existing(p: &Path) -> PathBuf {
    let mut p = p.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent.to_path_buf(),
            None => return PathBuf::from("/"),
        }
    }
    p
}

impl<'a, 'o> Run<'a, 'o> {
    pub fn new(answers: &'a Answers, layout: &'a Layout, opts: &'a mut Options<'o>) -> Self {
        Run {
            answers,
            layout,
            opts,
            planned: None,
            config: None,
            changed: false,
        }
    }

    pub async fn all(mut self, ui: &mut dyn Ui) -> Result<Vec<StepResult>, InitError> {
        if self.layout.is_host() && !is_root() && !self.opts.dry_run {
            return Err(InitError::Refused(
                "init configures this host (/etc/flowsync, a system user, systemd): run it as root (sudo flowsync init), or with --prefix DIR to write into a directory".into(),
            ));
        }
        self.planned = Some(self.values().await?);
        let mut out: Vec<StepResult> = Vec::new();
        for step in STEPS {
            ui.begin(step.name, step.doing);
            self.changed = out.iter().any(|r| r.status == StepStatus::Done);
            match (step.run)(&mut self).await {
                Ok(r) => {
                    ui.end(&r);
                    out.push(r);
                }
                Err(e) => {
                    ui.end(&result(
                        step.name,
                        StepStatus::Failed,
                        "stopped (see the error below)",
                    ));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// `preflight` on the values about to be written.
    async fn preflight_planned(&mut self) -> Result<StepResult, InitError> {
        let Some((values, note)) = self.planned.take() else {
            return Err(InitError::Other(anyhow::anyhow!(
                "init has no values to check"
            )));
        };
        let result = self.preflight(&values).await;
        self.planned = Some((values, note));
        result
    }

    /// The `config` step: writes the planned values.
    fn write_planned(&mut self) -> Result<StepResult, InitError> {
        let Some((values, note)) = self.planned.take() else {
            return Err(InitError::Other(anyhow::anyhow!(
                "init has no values to write"
            )));
        };
        self.write_config(values, note)
    }

    /// The config file's current text and table, if it exists.
    fn existing(&self) -> Result<Option<(String, toml::Table)>, InitError> {
        match std::fs::read_to_string(&self.layout.config) {
            Ok(text) => {
                let table: toml::Table = toml::from_str(&text).map_err(|e| {
                    InitError::Refused(format!(
                        "{} exists but does not parse ({}); fix or move it, then run init again",
                        self.layout.config.display(),
                        e.message().trim()
                    ))
                })?;
                Ok(Some((text, table)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", self.layout.config.display()).into()),
        }
    }

    /// The values init manages, with secrets kept from an existing file (or generated). Also
    /// returns the admin token to store, when a new one was generated.
    async fn values(&self) -> Result<(Values, Option<String>), InitError> {
        use toml::Value as V;
        let a = self.answers;
        let existing = self.existing()?.map(|(_, t)| t);
        let old = |dotted: &str| -> Option<String> {
            let (s, k) = dotted.split_once('.')?;
            existing
                .as_ref()?
                .get(s)?
                .get(k)?
                .as_str()
                .map(str::to_owned)
        };
        let s = |x: &str| V::String(x.to_owned());
        let mut v = Values::new();
        v.insert("server.http_listen".into(), s(&a.http_listen.to_string()));
        v.insert("server.https_listen".into(), s(&a.https_listen.to_string()));
        v.insert(
            "server.data_dir".into(),
            s(&self.layout.data_dir.display().to_string()),
        );
        v.insert(
            "backup.dir".into(),
            s(&self.layout.backup_dir.display().to_string()),
        );
        let mut new_token = None;
        let admin = match old("server.admin_token") {
            Some(t) => t,
            None => {
                let token = crate::auth::new_token();
                let hash = format!("sha256:{}", crate::auth::token_hash(&token));
                new_token = Some(token);
                hash
            }
        };
        v.insert("server.admin_token".into(), s(&admin));
        let db_url = match &a.database {
            DatabaseChoice::Sqlite => format!(
                "sqlite://{}",
                self.layout.data_dir.join("flowsync.db").display()
            ),
            DatabaseChoice::Postgres(url) => url.clone(),
            DatabaseChoice::LocalPostgres(name) => {
                // Keep the password of an earlier run for the same role.
                let prefix = format!("postgres://{name}:");
                match old("database.url").filter(|u| u.starts_with(&prefix)) {
                    Some(u) => u,
                    None => format!("postgres://{name}:{}@localhost/{name}", random_b64(24)),
                }
            }
        };
        v.insert("database.url".into(), s(&db_url));
        if let Some(r) = &a.redis {
            v.insert("redis.url".into(), s(r));
        }
        v.insert("rooms.create_policy".into(), s(a.create_policy.as_str()));
        v.insert("tls.mode".into(), s(a.tls.as_str()));
        if let Some(d) = &a.domain {
            v.insert("tls.domains".into(), V::Array(vec![s(d)]));
            if a.tls == TlsChoice::Off {
                let port = a.http_listen.port();
                let url = if port == 80 {
                    format!("http://{d}")
                } else {
                    format!("http://{d}:{port}")
                };
                v.insert("server.public_url".into(), s(&url));
            }
        }
        if let Some(e) = &a.email {
            v.insert("tls.email".into(), s(e));
        }
        if let Some(d) = &a.acme_directory {
            v.insert("tls.acme_directory".into(), s(d));
        }
        if let Some(r) = &a.acme_ca_root {
            v.insert("tls.acme_ca_root".into(), s(&r.display().to_string()));
        }
        match &a.turn {
            TurnChoice::Off => {
                v.insert("turn.mode".into(), s("off"));
            }
            TurnChoice::Embedded => {
                // serve generates the shared secret and keeps it in the database.
                v.insert("turn.mode".into(), s("embedded"));
            }
            TurnChoice::External { urls, secret } => {
                v.insert("turn.mode".into(), s("external"));
                v.insert(
                    "turn.urls".into(),
                    V::Array(urls.iter().map(|u| s(u)).collect()),
                );
                let secret = secret
                    .clone()
                    .or_else(|| old("turn.shared_secret"))
                    .unwrap_or_else(|| random_b64(32));
                v.insert("turn.shared_secret".into(), s(&secret));
            }
        }
        Ok((v, new_token))
    }

    async fn preflight(&mut self, values: &Values) -> Result<StepResult, InitError> {
        let mut lines = vec![
            format!("os: {}", system::os_name()),
            format!(
                "cpus: {}, memory: {}",
                system::cpus(),
                system::memory_bytes()
                    .map(crate::timefmt::bytes)
                    .unwrap_or_else(|| "?".into())
            ),
            crate::bench::capacity::summary(system::memory_bytes(), system::cpus()),
        ];
        let scratch = nearest_existing(&self.layout.root);
        let config = load_text(&template::render(&[], values), &scratch)?;
        let ctx = doctor::Context::new(Ok(config.clone()), None, self.layout.prefix.clone());
        let findings = doctor::run(
            &ctx,
            &doctor::RunOptions {
                only: ["ports", "dns", "clock", "disk"].map(String::from).to_vec(),
                fix: false,
                timeout: Duration::from_secs(10),
            },
            |_| {},
        )
        .await;
        let mut status = StepStatus::Checked;
        for f in &findings {
            lines.push(format!("{}: {} {}", f.name, f.status.as_str(), f.detail));
            match f.status {
                doctor::Status::Fail if f.name == "ports" => {
                    return Err(InitError::Refused(format!(
                        "pre-flight: {}; {}",
                        f.detail, f.hint
                    )));
                }
                doctor::Status::Fail | doctor::Status::Warn => {
                    lines.push(format!("  → {}", f.hint));
                    status = StepStatus::Warn;
                }
                _ => {}
            }
        }
        self.config = Some(config);
        Ok(StepResult {
            step: "preflight",
            status,
            detail: format!("{} CPUs, {}", system::cpus(), system::os_name()),
            lines,
        })
    }

    fn config(&self) -> Result<&Config, InitError> {
        self.config
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the configuration was not prepared").into())
    }
}

/// `systemctl ARGS` stdout, trimmed: is-enabled/is-active print their answer even when they
/// exit non-zero; empty when systemctl cannot run.
fn systemctl_state(args: &[&str]) -> String {
    Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
