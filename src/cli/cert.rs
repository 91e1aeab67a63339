//! `flowsync cert`: the certificate `serve` presents. `self-signed` makes one with rcgen for a
//! LAN or testing; `status` shows what is configured and served (issuer, names, validity).
//! ACME (`issue`, `renew`) and `import` arrive with the rest of the TLS issue.

use clap::{Args, Subcommand};

use super::{Cli, CmdResult, Failure};
use crate::config::TlsMode;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync cert self-signed                              # for tls.domains (or localhost), 1 year
  flowsync cert self-signed --name rooms.lan --name 192.168.1.10 --days 825
  flowsync cert status --json

Exit codes: 0 done, 1 failed, 2 usage or config error, 4 nothing to show (TLS is off or no
certificate yet).")]
pub struct Opts {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
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
struct StatusOpts {
    #[arg(long)]
    json: bool,
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    let config = cli.load_config(Vec::new())?.config;
    match &opts.action {
        Action::SelfSigned(o) => {
            let names = if o.names.is_empty() {
                crate::tls::default_names(&config)
            } else {
                o.names.clone()
            };
            let (cert_pem, key_pem) = crate::tls::self_signed(&names, o.days)?;
            let (cert, key) = crate::tls::self_signed_paths(&config);
            crate::tls::write_private(&key, key_pem.as_bytes())?;
            crate::tls::write_private(&cert, cert_pem.as_bytes())?;
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
            let path =
                match config.tls.mode {
                    TlsMode::Off => {
                        return Err(Failure::new(
                            4,
                            anyhow::anyhow!("TLS is off (tls.mode = off): serve speaks plain HTTP"),
                        ));
                    }
                    TlsMode::SelfSigned => crate::tls::self_signed_paths(&config).0,
                    TlsMode::Files => config.tls.cert_path.clone().ok_or_else(|| {
                        Failure::new(2, anyhow::anyhow!("tls.cert_path is not set"))
                    })?,
                };
            let pem = match std::fs::read(&path) {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Failure::new(
                        4,
                        anyhow::anyhow!(
                            "no certificate at {} yet; `flowsync cert self-signed` makes one (serve also does on first start)",
                            path.display()
                        ),
                    ));
                }
                Err(e) => {
                    return Err(Failure::new(
                        1,
                        anyhow::anyhow!("reading {}: {e}", path.display()),
                    ));
                }
            };
            let info = crate::tls::inspect(&pem)?;
            let mode = match config.tls.mode {
                TlsMode::SelfSigned => "self-signed",
                TlsMode::Files => "files",
                TlsMode::Off => "off",
            };
            if o.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "mode": mode, "path": path, "certificate": info,
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
            }
            Ok(())
        }
    }
}
