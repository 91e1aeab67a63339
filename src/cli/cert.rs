//! `flowsync cert`: the certificate `serve` presents. `issue` / `renew` obtain one from an ACME
//! CA (see `tls::acme`), `self-signed` makes one with rcgen for a LAN or testing, `status`
//! shows what is configured and served (issuer, names, validity, next renewal, ACME account).

use clap::{Args, Subcommand};

use super::{Cli, CmdResult, Failure, exit};
use crate::config::TlsMode;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync cert self-signed                              # for tls.domains (or localhost), 1 year
  flowsync cert self-signed --name rooms.lan --name 192.168.1.10 --days 825
  flowsync cert issue                  # tls.mode = acme: obtain a certificate for tls.domains now
  flowsync cert issue --staging        # from Let's Encrypt's staging CA while testing
  flowsync cert renew --force          # renew now even if not due (serve picks it up by itself)
  flowsync cert import --cert fullchain.pem --key privkey.pem   # your own CA's certificate
  flowsync cert status --json

Exit codes: 0 done, 1 failed (the CA refused, or the challenge failed; the stored certificate is
untouched), 2 usage or config error, 3 the ACME directory is unreachable, 4 nothing to show (TLS
is off or no certificate yet), 5 another issuer is running.")]
pub struct Opts {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Obtain a certificate for tls.domains from the ACME CA (tls.mode = acme)
    Issue(IssueOpts),
    /// Renew the ACME certificate when a third of its lifetime is left (or now with --force)
    Renew(RenewOpts),
    /// Copy a certificate and key into <data_dir>/tls and point the config at them (mode files)
    Import(ImportOpts),
    /// Make a self-signed certificate into <data_dir>/tls (what tls.mode = self-signed serves)
    SelfSigned(SelfSignedOpts),
    /// Show the configured certificate: issuer, names, validity, days left
    Status(StatusOpts),
}

#[derive(Debug, Args)]
struct SelfSignedOpts {
    /// A DNS name or IP address to cover (repeatable; default tls.domains, else localhost,
    /// 127.0.0.1 and ::1)
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Validity in days
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ImportOpts {
    /// PEM certificate chain (leaf first)
    #[arg(long, value_name = "FILE")]
    cert: std::path::PathBuf,
    /// PEM private key of that certificate
    #[arg(long, value_name = "FILE")]
    key: std::path::PathBuf,
    /// Replace a previously imported certificate
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct IssueOpts {
    /// Use Let's Encrypt's staging directory (untrusted certificates, generous rate limits)
    #[arg(long)]
    staging: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RenewOpts {
    /// Renew even if the certificate is not due
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StatusOpts {
    #[arg(long)]
    json: bool,
}

/// Exit codes for ACME failures: 5 busy, 3 directory unreachable, 1 otherwise.
fn acme_failure(e: anyhow::Error) -> Failure {
    use crate::tls::acme::{Busy, IssueError};
    let code = if e.downcast_ref::<Busy>().is_some() {
        5
    } else if matches!(
        e.downcast_ref::<IssueError>(),
        Some(IssueError::Directory { .. } | IssueError::Store(_))
    ) {
        3
    } else {
        1
    };
    Failure::new(code, e)
}

async fn obtain(cli: &Cli, config: &crate::config::Config, json: bool) -> CmdResult {
    if config.tls.mode != TlsMode::Acme {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("tls.mode is not acme; set tls.mode = \"acme\" and tls.domains first"),
        ));
    }
    let show = !json && !cli.quiet;
    let terminal = super::stdout_is_terminal();
    let spinner = (show && terminal).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let mut step = |what: &str| {
        let text = match what {
            "account" => "ACME account",
            "order" => "new order",
            "challenges" => "answering challenges",
            "validation" => "waiting for the CA to validate",
            "certificate" => "downloading the certificate",
            other => other,
        };
        match &spinner {
            Some(s) => s.set_message(text.to_owned()),
            None if show => println!("{text}…"),
            None => {}
        }
    };
    let result = crate::tls::acme::issue_now(config, &mut step).await;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let issued = result.map_err(acme_failure)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&issued).map_err(anyhow::Error::from)?
        );
    } else if show {
        println!(
            "certificate for {} stored in {} (valid until {}; challenge {} answered by {})",
            issued.names.join(", "),
            issued.certificate.display(),
            issued.not_after,
            issued.challenge,
            if issued.answered_by == "serve" {
                "the running serve"
            } else {
                "this command"
            }
        );
    }
    Ok(())
}

fn import(cli: &Cli, loaded: &crate::config::Loaded, o: &ImportOpts) -> CmdResult {
    let config = &loaded.config;
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| Failure::new(exit::USAGE, anyhow::anyhow!("reading {}: {e}", p.display())))
    };
    let (cert_pem, key_pem) = (read(&o.cert)?, read(&o.key)?);
    crate::tls::certified_key(&cert_pem, &key_pem).map_err(|e| Failure::new(exit::FAILED, e))?;
    let info = crate::tls::inspect(&cert_pem)?;
    let dir = config.server.data_dir.join("tls");
    let (cert, key) = (dir.join("imported.crt"), dir.join("imported.key"));
    if cert.exists() && !o.force {
        return Err(Failure::new(
            exit::REFUSED,
            anyhow::anyhow!("{} exists; pass --force to replace it", cert.display()),
        ));
    }
    crate::tls::write_service_file(&key, &key_pem)?;
    crate::tls::write_service_file(&cert, &cert_pem)?;
    let updated = match &loaded.file {
        Some(f) => {
            crate::tls::point_config_at(f, &cert, &key)?;
            Some(f.clone())
        }
        None => None,
    };
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "certificate": cert, "key": key, "config_updated": updated, "info": info,
            }))
            .map_err(anyhow::Error::from)?
        );
    } else if !cli.quiet {
        println!(
            "imported {} ({}, valid until {})",
            cert.display(),
            info.names.join(", "),
            info.not_after
        );
        match &updated {
            Some(f) if config.tls.mode == TlsMode::Files => {
                println!(
                    "updated {}; `systemctl reload flowsync` (SIGHUP) serves it",
                    f.display()
                )
            }
            Some(f) => println!(
                "updated {} (tls.mode = \"files\"); restart flowsync to serve it",
                f.display()
            ),
            None => println!(
                "no config file in use: set [tls] mode = \"files\", cert_path = \"{}\", key_path = \"{}\"",
                cert.display(),
                key.display()
            ),
        }
    }
    Ok(())
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    let loaded = cli.load_config(Vec::new())?;
    if let Action::Import(o) = &opts.action {
        return import(cli, &loaded, o);
    }
    let mut config = loaded.config;
    match &opts.action {
        Action::Import(_) => Ok(()),
        Action::Issue(o) => {
            if o.staging {
                config.tls.acme_directory = crate::config::LETS_ENCRYPT_STAGING.to_owned();
            }
            obtain(cli, &config, o.json).await
        }
        Action::Renew(o) => {
            if !o.force && config.tls.mode == TlsMode::Acme && !crate::tls::acme::due(&config) {
                if o.json {
                    println!(
                        "{}",
                        serde_json::json!({"renewed": false, "reason": "not due"})
                    );
                } else if !cli.quiet {
                    println!(
                        "not due: more than a third of the certificate's lifetime is left (--force renews anyway)"
                    );
                }
                return Ok(());
            }
            obtain(cli, &config, o.json).await
        }
        Action::SelfSigned(o) => {
            let names = if o.names.is_empty() {
                crate::tls::default_names(&config)
            } else {
                o.names.clone()
            };
            let (cert_pem, key_pem) = crate::tls::self_signed(&names, o.days)?;
            let (cert, key) = crate::tls::self_signed_paths(&config);
            crate::tls::write_service_file(&key, key_pem.as_bytes())?;
            crate::tls::write_service_file(&cert, cert_pem.as_bytes())?;
            let info = crate::tls::inspect(cert_pem.as_bytes())?;
            if o.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "certificate": cert, "key": key, "info": info,
                    }))
                    .map_err(anyhow::Error::from)?
                );
            } else if !cli.quiet {
                println!(
                    "wrote {} (valid until {}) for {}",
                    cert.display(),
                    info.not_after,
                    info.names.join(", ")
                );
                if config.tls.mode != TlsMode::SelfSigned {
                    println!(
                        "serve it with tls.mode = \"self-signed\" (FLOWSYNC_TLS__MODE=self-signed)"
                    );
                }
            }
            Ok(())
        }
        Action::Status(o) => {
            let path = match config.tls.mode {
                TlsMode::Off => {
                    return Err(Failure::new(
                        exit::REFUSED,
                        anyhow::anyhow!("TLS is off (tls.mode = off): serve speaks plain HTTP"),
                    ));
                }
                TlsMode::SelfSigned => crate::tls::self_signed_paths(&config).0,
                TlsMode::Acme => crate::tls::acme::Paths::new(&config).cert,
                TlsMode::Files => config.tls.cert_path.clone().ok_or_else(|| {
                    Failure::new(exit::USAGE, anyhow::anyhow!("tls.cert_path is not set"))
                })?,
            };
            let pem = match std::fs::read(&path) {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Failure::new(
                        exit::REFUSED,
                        anyhow::anyhow!(
                            "no certificate at {} yet; `flowsync cert issue` (acme) or `flowsync cert self-signed` makes one (serve also does on first start)",
                            path.display()
                        ),
                    ));
                }
                Err(e) => {
                    return Err(Failure::new(
                        exit::FAILED,
                        anyhow::anyhow!("reading {}: {e}", path.display()),
                    ));
                }
            };
            let info = crate::tls::inspect(&pem)?;
            let mode = match config.tls.mode {
                TlsMode::SelfSigned => "self-signed",
                TlsMode::Files => "files",
                TlsMode::Acme => "acme",
                TlsMode::Off => "off",
            };
            let acme = (config.tls.mode == TlsMode::Acme).then(|| {
                let p = crate::tls::acme::Paths::new(&config);
                serde_json::json!({
                    "directory": config.tls.acme_directory,
                    "account": p.account.exists().then_some(&p.account),
                    "renewal_due": crate::tls::acme::due(&config),
                    "renews": "when a third of the lifetime is left",
                })
            });
            if o.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "mode": mode, "path": path, "certificate": info, "acme": acme,
                    }))
                    .map_err(anyhow::Error::from)?
                );
            } else {
                println!("mode        {mode}");
                println!("file        {}", path.display());
                println!("subject     {}", info.subject);
                println!(
                    "issuer      {}{}",
                    info.issuer,
                    if info.self_signed {
                        " (self-signed)"
                    } else {
                        ""
                    }
                );
                println!("names       {}", info.names.join(", "));
                println!("valid       {} → {}", info.not_before, info.not_after);
                println!("days left   {}", info.days_left);
                println!("serial      {}", info.serial);
                if let Some(a) = &acme {
                    println!(
                        "directory   {}",
                        a["directory"].as_str().unwrap_or_default()
                    );
                    println!(
                        "account     {}",
                        a["account"].as_str().unwrap_or("none yet")
                    );
                    println!(
                        "renewal     {}",
                        if a["renewal_due"].as_bool().unwrap_or(false) {
                            "due now"
                        } else {
                            "when a third of the lifetime is left"
                        }
                    );
                }
            }
            Ok(())
        }
    }
}
