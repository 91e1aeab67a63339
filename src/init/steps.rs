//! The steps of `flowsync init`, in order. Each looks at the current state first and reports
//! `unchanged` when there is nothing to do, so runs are idempotent and resumable.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use super::{
    Answers, Change, DatabaseChoice, InitError, Layout, Options, StepResult, StepStatus, TlsChoice,
    TurnChoice, Ui,
};
use crate::config::template::{self, Values};
use crate::config::{Config, LoadOptions};
use crate::doctor::{self, system};
use crate::ownership::SERVICE_USER;

/// The units this binary carries, written when no package installed them.
const UNITS: &[(&str, &str)] = &[
    (
        "flowsync.service",
        include_str!("../../systemd/flowsync.service"),
    ),
    (
        "flowsync-backup.service",
        include_str!("../../systemd/flowsync-backup.service"),
    ),
    (
        "flowsync-backup.timer",
        include_str!("../../systemd/flowsync-backup.timer"),
    ),
];

pub struct Run<'a, 'o> {
    answers: &'a Answers,
    layout: &'a Layout,
    opts: &'a mut Options<'o>,
    /// The configuration as written (or as it would be, in a dry run).
    config: Option<Config>,
}

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
            config: None,
        }
    }

    pub async fn all(mut self, ui: &mut dyn Ui) -> Result<Vec<StepResult>, InitError> {
        if self.layout.is_host() && !is_root() && !self.opts.dry_run {
            return Err(InitError::Refused(
                "init configures this host (/etc/flowsync, a system user, systemd): run it as root (sudo flowsync init), or with --prefix DIR to write into a directory".into(),
            ));
        }
        let mut out = Vec::new();
        macro_rules! step {
            ($name:literal, $what:literal, $call:expr) => {{
                ui.begin($name, $what);
                let r = $call;
                match r {
                    Ok(r) => {
                        ui.end(&r);
                        out.push(r);
                    }
                    Err(e) => {
                        ui.end(&result(
                            $name,
                            StepStatus::Failed,
                            "stopped (see the error below)",
                        ));
                        return Err(e);
                    }
                }
            }};
        }
        let (values, secrets_note) = self.values().await?;
        step!(
            "preflight",
            "checking this host",
            self.preflight(&values).await
        );
        step!(
            "config",
            "writing the configuration",
            self.write_config(values, secrets_note)
        );
        step!("user", "creating the flowsync user", self.user());
        step!("directories", "creating directories", self.directories());
        step!("units", "installing systemd units", self.units());
        step!("database", "preparing the database", self.database().await);
        step!(
            "certificate",
            "obtaining the certificate",
            self.certificate().await
        );
        // A run that changed nothing leaves a running service alone.
        let changed = out.iter().any(|r| r.status == StepStatus::Done);
        step!("start", "starting the service", self.start(changed).await);
        step!("doctor", "running doctor", self.doctor().await);
        Ok(out)
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

    fn write_config(
        &mut self,
        values: Values,
        new_token: Option<String>,
    ) -> Result<StepResult, InitError> {
        let path = &self.layout.config;
        let (text, changes) = match self.existing()? {
            None => {
                let header = vec![
                    format!(
                        "FlowSync configuration, written by `flowsync init` (FlowSync {}).",
                        env!("CARGO_PKG_VERSION")
                    ),
                    "Run `flowsync init` again to change the answers; it keeps the secrets below."
                        .into(),
                ];
                (template::render(&header, &values), None)
            }
            Some((text, table)) => {
                let changes: Vec<Change> = values
                    .iter()
                    .filter_map(|(dotted, new)| {
                        let (s, k) = dotted.split_once('.')?;
                        let old = table.get(s).and_then(|t| t.get(k));
                        (old != Some(new)).then(|| Change {
                            key: dotted.clone(),
                            old: old.map(|o| o.to_string()),
                            new: new.to_string(),
                            secret: crate::config::keys::find(s, k).is_some_and(|d| d.secret),
                        })
                    })
                    .collect();
                if changes.is_empty() {
                    self.finish_config_files(None)?;
                    return Ok(result(
                        "config",
                        StepStatus::Unchanged,
                        format!(
                            "{} already has these answers (secrets kept)",
                            path.display()
                        ),
                    ));
                }
                let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
                if self.opts.dry_run {
                    return Ok(StepResult {
                        step: "config",
                        status: StepStatus::Would,
                        detail: format!(
                            "would change {} key(s) in {}",
                            changes.len(),
                            path.display()
                        ),
                        lines,
                    });
                }
                if !self.opts.force && !(self.opts.confirm)(&changes) {
                    return Err(InitError::Refused(format!(
                        "{} exists and would change ({}); nothing was written. Rerun with --force to apply",
                        path.display(),
                        changes
                            .iter()
                            .map(|c| c.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let changed: Values = changes
                    .iter()
                    .filter_map(|c| values.get(&c.key).map(|v| (c.key.clone(), v.clone())))
                    .collect();
                let edited = template::set_values(&text, &changed)
                    .with_context(|| format!("editing {}", path.display()))?;
                (edited, Some(lines))
            }
        };
        // The file must load exactly as serve will read it before it replaces anything.
        let config = load_text(&text, &nearest_existing(&self.layout.config_dir))?;
        if self.opts.dry_run {
            return Ok(result(
                "config",
                StepStatus::Would,
                format!("would write {} (0640, generated secrets)", path.display()),
            ));
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(&self.layout.config_dir)
                .with_context(|| format!("creating {}", self.layout.config_dir.display()))?;
        }
        let tmp = self.layout.config_dir.join(".flowsync.toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // Created 0640 from the start: secrets are never readable by others, even briefly.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&tmp)
                .with_context(|| format!("writing {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        self.finish_config_files(new_token.as_deref())?;
        self.config = Some(config);
        let mut r = result(
            "config",
            StepStatus::Done,
            match &changes {
                None => format!("wrote {} (0640, generated secrets)", path.display()),
                Some(c) => format!("changed {} key(s) in {}", c.len(), path.display()),
            },
        );
        r.lines = changes.unwrap_or_default();
        if new_token.is_some() {
            r.lines.push(format!(
                "admin token (for /metrics and /api/admin) stored in {} (0600)",
                self.layout.admin_token.display()
            ));
        }
        Ok(r)
    }

    /// Owner and modes of the config directory, file and admin token: root:flowsync 0750/0640,
    /// the token 0600 root.
    fn finish_config_files(&mut self, new_token: Option<&str>) -> Result<(), InitError> {
        if self.opts.dry_run {
            return Ok(());
        }
        if let Some(token) = new_token {
            crate::tls::write_private(&self.layout.admin_token, format!("{token}\n").as_bytes())?;
        }
        std::fs::set_permissions(
            &self.layout.config_dir,
            std::fs::Permissions::from_mode(0o750),
        )?;
        if is_root()
            && let Some((_, gid)) = service_ids()
        {
            for p in [&self.layout.config_dir, &self.layout.config] {
                nix::unistd::chown(p.as_path(), Some(nix::unistd::Uid::from_raw(0)), Some(gid))
                    .with_context(|| format!("chown root:{SERVICE_USER} {}", p.display()))?;
            }
        }
        // The admin token is root's alone, whoever wrote it before (an older writer handed it
        // to the service user along with its directory).
        let token = &self.layout.admin_token;
        if is_root() && std::fs::symlink_metadata(token).is_ok_and(|m| m.is_file()) {
            let root = nix::unistd::Uid::from_raw(0);
            nix::unistd::chown(
                token.as_path(),
                Some(root),
                Some(nix::unistd::Gid::from_raw(0)),
            )
            .with_context(|| format!("chown root:root {}", token.display()))?;
            std::fs::set_permissions(token, std::fs::Permissions::from_mode(0o600))?;
        }
        if self.config.is_none() {
            let text = std::fs::read_to_string(&self.layout.config)?;
            self.config = Some(load_text(&text, &self.layout.config_dir)?);
        }
        Ok(())
    }

    fn user(&mut self) -> Result<StepResult, InitError> {
        if !self.layout.is_host() {
            return Ok(result(
                "user",
                StepStatus::Skipped,
                "--prefix: accounts on this host are left alone (the package creates flowsync)",
            ));
        }
        if service_ids().is_some() {
            return Ok(result(
                "user",
                StepStatus::Unchanged,
                "the flowsync user exists",
            ));
        }
        if self.opts.dry_run {
            return Ok(result(
                "user",
                StepStatus::Would,
                "would create the flowsync system user",
            ));
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--home-dir",
                "/var/lib/flowsync",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "FlowSync",
                SERVICE_USER,
            ])
            .output()
            .context("running useradd")?;
        if !out.status.success() {
            return Err(anyhow::anyhow!(
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        // The config was written before the group existed.
        if let Some((_, gid)) = service_ids() {
            for p in [&self.layout.config_dir, &self.layout.config] {
                nix::unistd::chown(p.as_path(), None, Some(gid))?;
            }
        }
        Ok(result(
            "user",
            StepStatus::Done,
            "created the flowsync system user",
        ))
    }

    fn directories(&mut self) -> Result<StepResult, InitError> {
        let dirs = [&self.layout.data_dir, &self.layout.backup_dir];
        let missing: Vec<&&PathBuf> = dirs.iter().filter(|d| !d.exists()).collect();
        if self.opts.dry_run {
            return Ok(if missing.is_empty() {
                result(
                    "directories",
                    StepStatus::Unchanged,
                    "data and backup directories exist",
                )
            } else {
                result(
                    "directories",
                    StepStatus::Would,
                    format!(
                        "would create {}",
                        missing
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            });
        }
        let mut changed = !missing.is_empty();
        for d in dirs {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            let mode = std::fs::metadata(d)?.permissions().mode() & 0o7777;
            if mode != 0o750 {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o750))?;
                changed = true;
            }
        }
        let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
        let handed = crate::ownership::hand_to_service_user(&refs)?;
        let owner = if handed.is_empty() {
            "this user"
        } else {
            "flowsync"
        };
        Ok(result(
            "directories",
            if changed {
                StepStatus::Done
            } else {
                StepStatus::Unchanged
            },
            format!(
                "{} and {} (0750, {owner})",
                self.layout.data_dir.display(),
                self.layout.backup_dir.display()
            ),
        ))
    }

    fn units(&mut self) -> Result<StepResult, InitError> {
        if self.opts.no_systemd {
            return Ok(result("units", StepStatus::Skipped, "--no-systemd"));
        }
        let packaged = ["usr/lib/systemd/system", "lib/systemd/system"]
            .iter()
            .map(|d| self.layout.root.join(d).join("flowsync.service"))
            .find(|p| p.exists());
        let mut status = StepStatus::Unchanged;
        let mut detail = match &packaged {
            Some(p) => format!(
                "the package's units ({})",
                p.parent()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
            None => String::new(),
        };
        if packaged.is_none() {
            let exe = std::env::current_exe().ok();
            let binary = match (&exe, self.layout.is_host()) {
                (Some(e), true) => e.display().to_string(),
                _ => "/usr/bin/flowsync".into(),
            };
            let mut written = Vec::new();
            for (name, body) in UNITS {
                let body = body.replace("/usr/bin/flowsync", &binary);
                let path = self.layout.unit_dir.join(name);
                if std::fs::read_to_string(&path).ok().as_deref() == Some(body.as_str()) {
                    continue;
                }
                written.push(name.to_string());
                if !self.opts.dry_run {
                    std::fs::create_dir_all(&self.layout.unit_dir)?;
                    std::fs::write(&path, body)
                        .with_context(|| format!("writing {}", path.display()))?;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
                }
            }
            detail = format!("units in {}", self.layout.unit_dir.display());
            if !written.is_empty() {
                status = if self.opts.dry_run {
                    StepStatus::Would
                } else {
                    StepStatus::Done
                };
                detail = format!(
                    "{} {} in {}",
                    if self.opts.dry_run {
                        "would write"
                    } else {
                        "wrote"
                    },
                    written.join(", "),
                    self.layout.unit_dir.display()
                );
            }
        }
        if !(self.layout.is_host() && system::systemd_running()) {
            return Ok(result(
                "units",
                status,
                format!("{detail}; systemd is not running here, so nothing was enabled"),
            ));
        }
        // What systemd must do: enable both units (so they come back after a reboot) and
        // start the timer now (enabling alone would leave the first backup to the next boot).
        let mut actions: Vec<Vec<&str>> = Vec::new();
        if status != StepStatus::Unchanged {
            actions.push(vec!["daemon-reload"]);
        }
        for unit in ["flowsync.service", "flowsync-backup.timer"] {
            if systemctl_state(&["is-enabled", unit]) != "enabled" {
                actions.push(vec!["enable", unit]);
            }
        }
        if systemctl_state(&["is-active", "flowsync-backup.timer"]) != "active" {
            actions.push(vec!["start", "flowsync-backup.timer"]);
        }
        let said: Vec<String> = actions
            .iter()
            .filter(|a| a.len() == 2)
            .map(|a| format!("{} {}", a[0], a[1]))
            .collect();
        if self.opts.dry_run {
            return Ok(result(
                "units",
                if actions.is_empty() {
                    status
                } else {
                    StepStatus::Would
                },
                if said.is_empty() {
                    format!("{detail}; enabled, backup timer active")
                } else {
                    format!("{detail}; would {}", said.join(", "))
                },
            ));
        }
        for args in &actions {
            let out = Command::new("systemctl")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .context("running systemctl")?;
            if !out.status.success() {
                return Err(anyhow::anyhow!(
                    "systemctl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )
                .into());
            }
        }
        let next = systemctl_state(&[
            "show",
            "-P",
            "NextElapseUSecRealtime",
            "flowsync-backup.timer",
        ]);
        let timer = if next.is_empty() {
            "backup timer active".to_owned()
        } else {
            format!("next backup {next}")
        };
        if actions.is_empty() {
            return Ok(result(
                "units",
                status,
                format!("{detail}; enabled, {timer}"),
            ));
        }
        Ok(result(
            "units",
            StepStatus::Done,
            format!("{detail}; {}; {timer}", said.join(", ")),
        ))
    }

    fn config(&self) -> Result<&Config, InitError> {
        self.config
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the configuration was not prepared").into())
    }

    async fn database(&mut self) -> Result<StepResult, InitError> {
        let config = self.config()?.clone();
        let mut lines = Vec::new();
        if let DatabaseChoice::LocalPostgres(name) = &self.answers.database {
            if self.opts.dry_run {
                lines.push(format!(
                    "would create the PostgreSQL role and database {name} if missing"
                ));
            } else {
                lines.push(create_local_postgres(name, config.database.url.expose())?);
            }
        }
        if self.opts.dry_run {
            let shown = crate::config::redact_url(config.database.url.expose());
            let exists = config.sqlite_path().is_none_or(|p| p.exists());
            let pending = match exists {
                true => match crate::db::Db::connect(&config.database).await {
                    Ok(db) => {
                        let n = crate::db::migrate::status(&db)
                            .await
                            .map(|s| s.pending().len())
                            .ok();
                        db.close().await;
                        n
                    }
                    Err(_) => None,
                },
                false => None,
            };
            let (status, detail) = match pending {
                Some(0) => (StepStatus::Unchanged, format!("{shown}: schema up to date")),
                Some(n) => (
                    StepStatus::Would,
                    format!("{shown}: would apply {n} migration(s)"),
                ),
                None => (
                    StepStatus::Would,
                    format!("{shown}: would create the schema"),
                ),
            };
            return Ok(StepResult {
                step: "database",
                status,
                detail,
                lines,
            });
        }
        let db = crate::db::Db::connect(&config.database)
            .await
            .map_err(|e| InitError::Unreachable(e.to_string()))?;
        let outcome = async {
            let status = crate::db::migrate::status(&db).await?;
            if status.pending().is_empty() {
                return Ok::<_, anyhow::Error>((
                    StepStatus::Unchanged,
                    format!(
                        "schema at version {}",
                        status.current_version().unwrap_or(0)
                    ),
                ));
            }
            let mut c = config.clone();
            c.backup.config_file = Some(self.layout.config.clone());
            let backup = crate::backup::before_migrate(&db, &c).await?;
            let applied = crate::db::migrate::apply(&db, |_, _, _| {}).await?;
            let mut detail = format!("applied {} migration(s)", applied.len());
            if let Some(b) = backup {
                detail.push_str(&format!(" (backup first: {})", b.archive.display()));
            }
            Ok((StepStatus::Done, detail))
        }
        .await;
        let create_link = match &outcome {
            Ok(_) => self.keep_create_link(&db, &config).await,
            Err(_) => Ok(None),
        };
        db.close().await;
        crate::ownership::fix_data_dir(&config)?;
        let (mut status, detail) = outcome?;
        if let Some((line, written)) = create_link? {
            lines.push(line);
            if written {
                status = StepStatus::Done;
            }
        }
        Ok(StepResult {
            step: "database",
            status,
            detail: format!(
                "{}: {detail}",
                crate::config::redact_url(config.database.url.expose())
            ),
            lines,
        })
    }

    /// With `rooms.create_policy = "link"`, keeps the team's create link (made on first use) in
    /// its file, root's alone (0600): a line saying so, and whether the file was (re)written.
    async fn keep_create_link(
        &self,
        db: &crate::db::Db,
        config: &Config,
    ) -> Result<Option<(String, bool)>, InitError> {
        if config.rooms.create_policy != crate::config::CreatePolicy::Link {
            return Ok(None);
        }
        let secret = crate::rooms::team::create_secret(db).await?;
        let link = crate::rooms::team::create_link(&config.public_url(), &secret);
        let path = &self.layout.create_link;
        let body = format!("{link}\n");
        let same = std::fs::read_to_string(path).is_ok_and(|t| t == body);
        if !same {
            crate::tls::write_private(path, body.as_bytes())?;
        }
        Ok(Some((
            format!(
                "create link kept in {} (whoever opens it may create rooms; rotate with `flowsync rooms create-link --rotate`)",
                path.display()
            ),
            !same,
        )))
    }

    async fn certificate(&mut self) -> Result<StepResult, InitError> {
        let config = self.config()?.clone();
        match self.answers.tls {
            TlsChoice::Off => Ok(result("certificate", StepStatus::Skipped, "tls.mode = off")),
            TlsChoice::SelfSigned => {
                let (cert, _) = crate::tls::self_signed_paths(&config);
                let before = std::fs::read(&cert).ok();
                if self.opts.dry_run {
                    return Ok(result(
                        "certificate",
                        if before.is_some() {
                            StepStatus::Unchanged
                        } else {
                            StepStatus::Would
                        },
                        format!("self-signed certificate in {}", cert.display()),
                    ));
                }
                crate::tls::load(&config)?;
                crate::ownership::hand_to_service_user(&[config
                    .server
                    .data_dir
                    .join("tls")
                    .as_path()])?;
                let after = std::fs::read(&cert).ok();
                let info = after.as_deref().map(crate::tls::inspect).transpose()?;
                Ok(result(
                    "certificate",
                    if before == after {
                        StepStatus::Unchanged
                    } else {
                        StepStatus::Done
                    },
                    match info {
                        Some(i) => format!(
                            "self-signed for {} ({} days left)",
                            i.names.join(", "),
                            i.days_left
                        ),
                        None => "self-signed".into(),
                    },
                ))
            }
            TlsChoice::Acme => {
                if !crate::tls::acme::due(&config) {
                    let p = crate::tls::acme::Paths::new(&config);
                    let info = crate::tls::inspect(&std::fs::read(&p.cert)?)?;
                    return Ok(result(
                        "certificate",
                        StepStatus::Unchanged,
                        format!("{} valid until {}", info.names.join(", "), info.not_after),
                    ));
                }
                if self.opts.dry_run {
                    return Ok(result(
                        "certificate",
                        StepStatus::Would,
                        format!(
                            "would obtain a certificate for {} from {}",
                            config.tls.domains.join(", "),
                            config.tls.acme_directory
                        ),
                    ));
                }
                let issued = crate::tls::acme::issue_now(&config, &mut |_| {})
                    .await
                    .map_err(|e| match e.downcast_ref::<crate::tls::acme::IssueError>() {
                        Some(crate::tls::acme::IssueError::Directory { .. }) => {
                            InitError::Unreachable(format!("{e:#}"))
                        }
                        _ => InitError::Other(e),
                    })?;
                Ok(result(
                    "certificate",
                    StepStatus::Done,
                    format!(
                        "obtained for {} (valid until {})",
                        issued.names.join(", "),
                        issued.not_after
                    ),
                ))
            }
        }
    }

    /// Starts the service, or restarts it when this run changed something (configuration,
    /// units, schema, certificate). A running service with nothing changed is left alone.
    async fn start(&mut self, changed: bool) -> Result<StepResult, InitError> {
        let how = format!(
            "start it with `flowsync --config {} serve`",
            self.layout.config.display()
        );
        if self.opts.no_start {
            return Ok(result(
                "start",
                StepStatus::Skipped,
                format!("--no-start; {how}"),
            ));
        }
        if self.opts.no_systemd || !self.layout.is_host() || !system::systemd_running() {
            return Ok(result(
                "start",
                StepStatus::Skipped,
                format!("systemd is not in use here; {how}"),
            ));
        }
        let running = systemctl_state(&["is-active", "flowsync.service"]) == "active";
        if running && !changed {
            return Ok(result(
                "start",
                StepStatus::Unchanged,
                "flowsync.service is running and nothing changed",
            ));
        }
        let action = if running { "restart" } else { "start" };
        if self.opts.dry_run {
            return Ok(result(
                "start",
                StepStatus::Would,
                format!("would {action} flowsync.service"),
            ));
        }
        let out = Command::new("systemctl")
            .args([action, "flowsync.service"])
            .stdin(Stdio::null())
            .output()
            .context("running systemctl")?;
        if !out.status.success() {
            return Err(anyhow::anyhow!(
                "systemctl {action} flowsync failed: {}; see `journalctl -u flowsync -n 50`",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        // Type=notify: restart returns once serve is ready; confirm from the outside.
        let config = self.config()?;
        let (url, client) = crate::doctor::checks::local_url(config, "/readyz")?;
        for _ in 0..30 {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(result(
                    "start",
                    StepStatus::Done,
                    format!(
                        "flowsync.service {} ({url} ready)",
                        if running { "restarted" } else { "started" }
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(anyhow::anyhow!("flowsync.service started but {url} is not ready after 30 s; see `journalctl -u flowsync -n 50`").into())
    }

    async fn doctor(&mut self) -> Result<StepResult, InitError> {
        if self.opts.dry_run {
            return Ok(result("doctor", StepStatus::Skipped, "dry run"));
        }
        let config = self.config()?.clone();
        let ctx = doctor::Context::new(
            Ok(config),
            Some(self.layout.config.clone()),
            self.layout.prefix.clone(),
        );
        let findings = doctor::run(
            &ctx,
            &doctor::RunOptions {
                only: Vec::new(),
                fix: false,
                timeout: Duration::from_secs(10),
            },
            |_| {},
        )
        .await;
        let report = doctor::Report::new(&ctx, &findings);
        let s = &report.summary;
        let mut lines = Vec::new();
        for f in &findings {
            if matches!(f.status, doctor::Status::Warn | doctor::Status::Fail) {
                lines.push(format!("{} {}: {}", f.status.as_str(), f.name, f.detail));
                lines.push(format!("  → {}", f.hint));
            }
        }
        Ok(StepResult {
            step: "doctor",
            status: if s.fail > 0 {
                StepStatus::Fail
            } else if s.warn > 0 {
                StepStatus::Warn
            } else {
                StepStatus::Checked
            },
            detail: format!(
                "{} ok, {} warn, {} fail, {} skip",
                s.ok, s.warn, s.fail, s.skip
            ),
            lines,
        })
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

/// Creates (or updates the password of) a login role and its database on the local PostgreSQL
/// server, as the `postgres` account (peer authentication, as Debian sets it up). The password
/// goes through stdin, never the command line.
fn create_local_postgres(name: &str, url: &str) -> Result<String, InitError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
        return Err(InitError::Refused(format!(
            "{name:?} is not a plain PostgreSQL name (letters, digits, _)"
        )));
    }
    let password = url
        .split_once("://")
        .and_then(|(_, r)| r.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no password in the generated database URL"))?;
    let psql = |sql: &str| -> Result<String, InitError> {
        use std::io::Write;
        let mut child = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                InitError::Unreachable(format!(
                    "cannot run psql as postgres: {e}; is PostgreSQL installed here?"
                ))
            })?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("psql stdin"))?
            .write_all(sql.as_bytes())
            .context("writing to psql")?;
        let out = child.wait_with_output().context("waiting for psql")?;
        if !out.status.success() {
            // psql echoes a failing statement, which may carry the password: masked.
            let stderr = String::from_utf8_lossy(&out.stderr).replace(&password, "********");
            return Err(InitError::Unreachable(format!(
                "the local PostgreSQL refused: {}",
                stderr.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let quoted = password.replace('\'', "''");
    psql(&format!(
        "DO $$ BEGIN\n  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN\n    ALTER ROLE \"{name}\" LOGIN PASSWORD '{quoted}';\n  ELSE\n    CREATE ROLE \"{name}\" LOGIN PASSWORD '{quoted}';\n  END IF;\nEND $$;\n"
    ))?;
    let exists = psql(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}';\n"
    ))?;
    if exists == "1" {
        return Ok(format!("PostgreSQL role and database {name} exist"));
    }
    psql(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\";\n"))?;
    Ok(format!("created the PostgreSQL role and database {name}"))
}
