//! `certificate`: the certificate `serve` presents (per `tls.mode`) is present, its key
//! matches, its chain links up (each certificate signed by the next), it covers every name in
//! `tls.domains`, and how many days are left; in acme mode also when it will be renewed.
//! Fix: renew an ACME certificate that is missing or due; regenerate a self-signed one.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{Config, TlsMode};
use crate::doctor::{Context, Outcome};

/// Below this many days an ACME certificate that has not been renewed is a warning.
const WARN_DAYS: i64 = 14;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { repair(ctx).await }.boxed()
}

/// The certificate and key files of the configured mode.
fn files(config: &Config) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    match config.tls.mode {
        TlsMode::Off => None,
        TlsMode::Acme => {
            let p = crate::tls::acme::Paths::new(config);
            Some((p.cert, p.key))
        }
        TlsMode::SelfSigned => Some(crate::tls::self_signed_paths(config)),
        TlsMode::Files => Some((
            config.tls.cert_path.clone().unwrap_or_default(),
            config.tls.key_path.clone().unwrap_or_default(),
        )),
    }
}

fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let Some((cert, key)) = files(config) else {
        return Outcome::skip("tls.mode = off (plain HTTP)");
    };
    let missing_hint = match config.tls.mode {
        TlsMode::Acme => "`flowsync doctor --fix` or `flowsync cert issue` obtains one",
        TlsMode::SelfSigned => "`flowsync doctor --fix` or `flowsync cert self-signed` makes one",
        _ => "point tls.cert_path / tls.key_path at your certificate (`flowsync cert import`)",
    };
    let (cert_pem, key_pem) = match (std::fs::read(&cert), std::fs::read(&key)) {
        (Ok(c), Ok(k)) => (c, k),
        (Err(e), _) => {
            return Outcome::fail(format!("{}: {e}", cert.display()), missing_hint);
        }
        (_, Err(e)) => return Outcome::fail(format!("{}: {e}", key.display()), missing_hint),
    };
    if let Err(e) = crate::tls::certified_key(&cert_pem, &key_pem) {
        return Outcome::fail(
            format!(
                "{} and {} do not form a pair: {e:#}",
                cert.display(),
                key.display()
            ),
            missing_hint,
        );
    }
    if let Err(e) = chain_links(&cert_pem) {
        return Outcome::fail(
            format!("the chain in {} is broken: {e}", cert.display()),
            "use the full chain (leaf first, then its issuers) the CA gave you",
        );
    }
    let info = match crate::tls::inspect(&cert_pem) {
        Ok(i) => i,
        Err(e) => return Outcome::fail(format!("{}: {e:#}", cert.display()), missing_hint),
    };
    let wanted = if config.tls.mode == TlsMode::SelfSigned {
        crate::tls::default_names(config)
    } else {
        config.tls.domains.clone()
    };
    let uncovered: Vec<&String> = wanted.iter().filter(|n| !info.names.contains(n)).collect();
    if !uncovered.is_empty() {
        return Outcome::fail(
            format!(
                "{} is for {:?}, not for {:?}",
                cert.display(),
                info.names,
                uncovered
            ),
            missing_hint,
        );
    }
    let names = info.names.join(", ");
    if info.days_left < 0 {
        return Outcome::fail(
            format!("the certificate for {names} expired on {}", info.not_after),
            missing_hint,
        );
    }
    let mut detail = format!(
        "{names}, issued by {}, {} days left (until {})",
        short_dn(&info.issuer),
        info.days_left,
        info.not_after
    );
    match config.tls.mode {
        TlsMode::Acme => {
            if let Some(at) = renewal_at(&info) {
                detail.push_str(&format!(", renewal from {at}"));
            }
            if crate::tls::acme::due(config) && info.days_left < WARN_DAYS {
                return Outcome::warn(
                    format!("{detail}; renewal is due and has not happened"),
                    "is serve running? `flowsync doctor --fix` or `flowsync cert renew` renews now",
                );
            }
        }
        TlsMode::SelfSigned => {
            if info.days_left < 30 {
                return Outcome::warn(
                    detail,
                    "restart serve or `flowsync doctor --fix` to regenerate",
                );
            }
        }
        _ => {
            if info.days_left < WARN_DAYS {
                return Outcome::warn(
                    detail,
                    "replace the files with a renewed certificate and reload (systemctl reload flowsync)",
                );
            }
        }
    }
    Outcome::ok(detail)
}

/// `CN=x, O=y` → `CN=x` (one line stays short).
fn short_dn(dn: &str) -> String {
    dn.split(", ").next().unwrap_or(dn).to_owned()
}

/// When `serve` starts renewing: a third of the lifetime before expiry.
fn renewal_at(info: &crate::tls::CertInfo) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let from = time::OffsetDateTime::parse(&info.not_before, &Rfc3339).ok()?;
    let to = time::OffsetDateTime::parse(&info.not_after, &Rfc3339).ok()?;
    let at: time::OffsetDateTime = to - (to - from) / 3;
    at.format(&Rfc3339).ok()
}

/// Each certificate's issuer is the next one's subject, and its signature verifies with the
/// next one's key.
fn chain_links(pem: &[u8]) -> Result<(), String> {
    let ders: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    let certs = ders
        .iter()
        .map(|d| {
            x509_parser::parse_x509_certificate(d.as_ref())
                .map(|(_, c)| c)
                .map_err(|e| format!("unparsable certificate: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in certs.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer() != parent.subject() {
            return Err(format!(
                "certificate {} is issued by {}, but the next one is {}",
                i + 1,
                child.issuer(),
                parent.subject()
            ));
        }
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|e| format!("certificate {} is not signed by the next one: {e}", i + 1))?;
    }
    Ok(())
}

async fn repair(ctx: &Context) -> anyhow::Result<String> {
    let config = ctx.config.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    match config.tls.mode {
        TlsMode::Acme => {
            let issued = crate::tls::acme::issue_now(config, &mut |_| {}).await?;
            Ok(format!(
                "obtained a certificate for {} valid until {}",
                issued.names.join(", "),
                issued.not_after
            ))
        }
        TlsMode::SelfSigned => {
            let (cert, key) = crate::tls::self_signed_paths(config);
            let names = crate::tls::default_names(config);
            let (c, k) = crate::tls::self_signed(&names, 365)?;
            crate::tls::write_service_file(&key, k.as_bytes())?;
            crate::tls::write_service_file(&cert, c.as_bytes())?;
            crate::ownership::hand_to_service_user(&[cert.as_path(), key.as_path()])?;
            Ok(format!(
                "made a self-signed certificate for {}",
                names.join(", ")
            ))
        }
        _ => anyhow::bail!("certificates in files mode are yours to replace"),
    }
}
