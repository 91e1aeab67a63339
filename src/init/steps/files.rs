//! The host's files: the configuration (and the admin token), the service account, the
//! directories and the systemd units.

use super::*;

/// The units this binary carries, written when no package installed them.
const UNITS: &[(&str, &str)] = &[
    (
        "flowsync.service",
        include_str!("../../../systemd/flowsync.service"),
    ),
    (
        "flowsync-backup.service",
        include_str!("../../../systemd/flowsync-backup.service"),
    ),
    (
        "flowsync-backup.timer",
        include_str!("../../../systemd/flowsync-backup.timer"),
    ),
];

impl Run<'_, '_> {
    pub(super) fn write_config(
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
    pub(super) fn finish_config_files(&mut self, new_token: Option<&str>) -> Result<(), InitError> {
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

    pub(super) fn user(&mut self) -> Result<StepResult, InitError> {
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

    pub(super) fn directories(&mut self) -> Result<StepResult, InitError> {
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

    pub(super) fn units(&mut self) -> Result<StepResult, InitError> {
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
}
