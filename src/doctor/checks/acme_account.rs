//! `acme-account`: in `tls.mode = acme`, the ACME account key is stored (it is created on the
//! first issuance and reused for renewals).

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::TlsMode;
use crate::doctor::{Context, Outcome};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    if config.tls.mode != TlsMode::Acme {
        return Outcome::skip("tls.mode is not acme");
    }
    let paths = crate::tls::acme::Paths::new(config);
    let body = match std::fs::read(&paths.account) {
        Ok(b) => b,
        Err(_) => {
            return Outcome::fail(
                format!("no ACME account in {}", paths.account.display()),
                "`flowsync cert issue` registers one (serve does it at start)",
            );
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => {
            let dir = v
                .get("directory")
                .and_then(|d| d.as_str())
                .unwrap_or(&config.tls.acme_directory)
                .to_owned();
            if dir != config.tls.acme_directory {
                return Outcome::warn(
                    format!(
                        "the stored account belongs to {dir}, not tls.acme_directory {}",
                        config.tls.acme_directory
                    ),
                    "`flowsync cert issue` registers an account with the configured directory",
                );
            }
            Outcome::ok(format!(
                "account stored in {} (directory {dir})",
                paths.account.display()
            ))
        }
        Err(e) => Outcome::fail(
            format!("{} is damaged: {e}", paths.account.display()),
            "remove it; `flowsync cert issue` registers a new account",
        ),
    }
}
