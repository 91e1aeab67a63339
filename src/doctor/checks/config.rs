//! `config`: the file parses and validates (the same loader `serve` uses), and since it holds
//! secrets, it is not readable by everyone.

use std::os::unix::fs::MetadataExt;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

fn check(ctx: &Context) -> Outcome {
    let config = match &ctx.config {
        Ok(c) => c,
        Err(e) => {
            return Outcome::fail(
                e.clone(),
                "fix the named key or line; `flowsync init` writes a complete commented file",
            );
        }
    };
    let Some(file) = &ctx.config_file else {
        return Outcome::warn(
            "no config file: built-in defaults (SQLite in ./flowsync-data, plain HTTP on 127.0.0.1:8080)",
            "run `flowsync init` to configure this host, or pass --config FILE",
        );
    };
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) => return Outcome::fail(format!("{}: {e}", file.display()), "check the path"),
    };
    if meta.mode() & 0o004 != 0 {
        return Outcome::warn(
            format!(
                "{} is readable by every user and holds secrets",
                file.display()
            ),
            format!(
                "chmod 640 {} && chgrp {} {}",
                file.display(),
                ctx.user.name,
                file.display()
            ),
        );
    }
    Outcome::ok(format!(
        "{} is valid (tls {}, database {})",
        file.display(),
        tls_mode(config),
        crate::db::Backend::of_url(config.database.url.expose()).as_str()
    ))
}

fn tls_mode(c: &crate::config::Config) -> &'static str {
    use crate::config::TlsMode;
    match c.tls.mode {
        TlsMode::Off => "off",
        TlsMode::Acme => "acme",
        TlsMode::SelfSigned => "self-signed",
        TlsMode::Files => "files",
    }
}
