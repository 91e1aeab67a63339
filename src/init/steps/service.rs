//! The database (migrations, the local PostgreSQL role, the create link), the certificate, and
//! the running service: starting it and running doctor against it.

use super::*;

impl Run<'_, '_> {
    pub(super) async fn database(&mut self) -> Result<StepResult, InitError> {
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
        crate::db::fix_data_dir(&config)?;
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
    pub(super) async fn keep_create_link(
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

    pub(super) async fn certificate(&mut self) -> Result<StepResult, InitError> {
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
    pub(super) async fn start(&mut self) -> Result<StepResult, InitError> {
        let changed = self.changed;
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

    pub(super) async fn doctor(&mut self) -> Result<StepResult, InitError> {
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
    use crate::db::provision;
    psql(&provision::upsert_role(name, &password))?;
    let exists = psql(&provision::database_exists(name))?;
    if exists == "1" {
        return Ok(format!("PostgreSQL role and database {name} exist"));
    }
    psql(&provision::create_database(name))?;
    Ok(format!("created the PostgreSQL role and database {name}"))
}
