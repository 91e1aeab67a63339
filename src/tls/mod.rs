//! TLS termination without nginx: rustls with the `ring` provider, TLS 1.2 and 1.3 only (ring's
//! suites are all AEAD with forward secrecy), ALPN `h2` and `http/1.1`. The certificate is served
//! through [`CertResolver`], so a renewed or re-read certificate is swapped in for new
//! handshakes while open connections keep theirs.
//!
//! Modes (`tls.mode`): `off`; `self-signed` (rcgen, generated into `<data_dir>/tls` on first
//! start and reused; for a LAN or testing); `files` (`tls.cert_path` / `tls.key_path` read in
//! place and re-read on SIGHUP); `acme` (see [`acme`]: obtained and renewed from an RFC 8555 CA,
//! stored in `<data_dir>/tls`).

pub mod acme;
pub mod challenges;
pub mod client;
pub mod listener;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::{Config, TlsMode};

/// The value of `Strict-Transport-Security` on HTTPS responses (one year).
pub const HSTS: &str = "max-age=31536000";

/// ALPN protocol of ACME TLS-ALPN-01 validation handshakes (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Serves the current certificate; [`CertResolver::swap`] replaces it for new handshakes. With
/// a challenge directory it also answers ACME TLS-ALPN-01 validation handshakes with the
/// challenge certificate `flowsync cert issue` left there for that name.
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    challenges: Option<PathBuf>,
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertResolver")
    }
}

impl CertResolver {
    pub fn new(key: Option<CertifiedKey>, challenges: Option<PathBuf>) -> Self {
        CertResolver {
            current: RwLock::new(key.map(Arc::new)),
            challenges,
        }
    }

    pub fn swap(&self, key: CertifiedKey) {
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(Arc::new(key));
        }
    }

    pub fn has_certificate(&self) -> bool {
        self.current.read().map(|c| c.is_some()).unwrap_or(false)
    }

    /// Answers with certificates only from challenge files (the standalone `cert issue`).
    pub fn challenges_only(dir: PathBuf) -> Self {
        CertResolver::new(None, Some(dir))
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protos| protos.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let dir = self.challenges.as_ref()?;
            let name = hello.server_name()?;
            return acme::alpn_challenge_key(dir, name).map(Arc::new);
        }
        self.current.read().ok().and_then(|k| k.clone())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's rustls configuration around a resolver.
pub fn server_config(resolver: Arc<CertResolver>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(cfg))
}

/// A certificate chain and private key (PEM) as a rustls signing key, checked to belong together.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<CertifiedKey> {
    let ck = certified_key_unchecked(cert_pem, key_pem)?;
    ck.keys_match()
        .context("the private key does not belong to the certificate")?;
    Ok(ck)
}

/// Like [`certified_key`] without the pairing check, which parses the certificate with webpki
/// and so refuses the critical `acmeIdentifier` extension of TLS-ALPN-01 challenge certificates.
pub fn certified_key_unchecked(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .context("the certificate file is not PEM")?;
    if certs.is_empty() {
        bail!("the certificate file holds no certificate");
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).context("the key file holds no PEM private key")?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .context("the private key cannot be used (unsupported type?)")?;
    Ok(CertifiedKey::new(certs, signing))
}

/// A self-signed certificate for `names` (DNS names or IP addresses), valid for `days`.
pub fn self_signed(names: &[String], days: u32) -> anyhow::Result<(String, String)> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).context("certificate names")?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "flowsync".into()),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "FlowSync (self-signed)");
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Where `self-signed` mode keeps its certificate.
pub fn self_signed_paths(config: &Config) -> (PathBuf, PathBuf) {
    let dir = config.server.data_dir.join("tls");
    (dir.join("self-signed.crt"), dir.join("self-signed.key"))
}

/// The names a self-signed certificate covers: `tls.domains`, else localhost and the loopback
/// addresses.
pub fn default_names(config: &Config) -> Vec<String> {
    if config.tls.domains.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        config.tls.domains.clone()
    }
}

/// Writes a file the service reads and renews (keys, certificates, the ACME account): as
/// [`write_private`], then, when run as root, the file and its directory are handed to the
/// service user. Only for files under the data directory: never for `/etc/flowsync`.
pub fn write_service_file(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    write_private(path, body)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::ownership::hand_to_service_user(&[dir, path])?;
    Ok(())
}

/// Writes a file readable only by its owner, replacing it atomically. The owner is whoever
/// runs this (root's admin token stays root's).
pub fn write_private(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    // A fresh file, never one planted at the temporary name (a symlink there would redirect
    // a root-run write): remove what is there, then create exclusively without following links.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The certificate `serve` should present now, per `tls.mode` (None when TLS is off). In
/// `self-signed` mode a certificate is generated on first use and reused afterwards (a new
/// one replaces it when the names change or it has less than 30 days left).
pub fn load(config: &Config) -> anyhow::Result<Option<(CertifiedKey, PathBuf)>> {
    match config.tls.mode {
        TlsMode::Off => Ok(None),
        TlsMode::Acme => {
            let p = acme::Paths::new(config);
            match (std::fs::read(&p.cert), std::fs::read(&p.key)) {
                (Ok(c), Ok(k)) => match certified_key(&c, &k) {
                    Ok(key) => Ok(Some((key, p.cert))),
                    // A crash between writing the key and the certificate: obtain a new pair
                    // rather than refuse to start.
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "the stored ACME certificate is unusable; a new one will be obtained");
                        Ok(None)
                    }
                },
                // Not obtained yet: serve starts without one and obtains it.
                _ => Ok(None),
            }
        }
        TlsMode::Files => {
            let (cert, key) = match (&config.tls.cert_path, &config.tls.key_path) {
                (Some(c), Some(k)) => (c, k),
                _ => bail!("tls.mode = files needs tls.cert_path and tls.key_path"),
            };
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading tls.cert_path {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("reading tls.key_path {}", key.display()))?;
            let ck = certified_key(&cert_pem, &key_pem)
                .with_context(|| format!("loading {} and {}", cert.display(), key.display()))?;
            Ok(Some((ck, cert.clone())))
        }
        TlsMode::SelfSigned => {
            let (cert, key) = self_signed_paths(config);
            let names = default_names(config);
            let reuse = match (std::fs::read(&cert), std::fs::read(&key)) {
                (Ok(c), Ok(k)) => {
                    let info = inspect(&c).ok();
                    let fresh = info.as_ref().is_some_and(|i| {
                        i.days_left >= 30 && names.iter().all(|n| i.names.contains(n))
                    });
                    fresh.then_some((c, k))
                }
                _ => None,
            };
            let (c, k) = match reuse {
                Some(pair) => pair,
                None => {
                    let (c, k) = self_signed(&names, 365)?;
                    write_service_file(&key, k.as_bytes())?;
                    write_service_file(&cert, c.as_bytes())?;
                    tracing::info!(path = %cert.display(), names = ?names, "generated a self-signed certificate");
                    (c.into_bytes(), k.into_bytes())
                }
            };
            Ok(Some((certified_key(&c, &k)?, cert)))
        }
    }
}

/// What `cert status` shows of a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub self_signed: bool,
}

/// Reads the first certificate of a PEM chain.
pub fn inspect(cert_pem: &[u8]) -> anyhow::Result<CertInfo> {
    let der = CertificateDer::pem_slice_iter(cert_pem)
        .next()
        .context("no certificate in the PEM")?
        .context("the certificate is not PEM")?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("the certificate cannot be parsed: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let addr = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        16 => <[u8; 16]>::try_from(*ip)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        _ => None,
                    };
                    names.extend(addr);
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    let not_after = validity.not_after.to_datetime();
    let days_left = (not_after - time::OffsetDateTime::now_utc()).whole_days();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        serial: cert.raw_serial_as_string(),
        not_before: fmt(validity.not_before.to_datetime()),
        not_after: fmt(not_after),
        days_left,
        self_signed: cert.subject() == cert.issuer(),
    })
}

/// Sets `[tls] mode = "files"`, `cert_path` and `key_path` in a config file, keeping its
/// comments and layout (`cert import`).
pub fn point_config_at(config_file: &Path, cert: &Path, key: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_file)
        .with_context(|| format!("reading {}", config_file.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", config_file.display()))?;
    if !doc.contains_table("tls") {
        doc["tls"] = toml_edit::table();
    }
    doc["tls"]["mode"] = toml_edit::value("files");
    doc["tls"]["cert_path"] = toml_edit::value(cert.display().to_string());
    doc["tls"]["key_path"] = toml_edit::value(key.display().to_string());
    let dir = config_file.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(".flowsync.toml.tmp");
    std::fs::write(&tmp, doc.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    // Keep the file's permissions (0640 root:flowsync after init).
    if let Ok(meta) = std::fs::metadata(config_file) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
        use std::os::unix::fs::MetadataExt;
        let _ = nix::unistd::chown(
            &tmp,
            Some(nix::unistd::Uid::from_raw(meta.uid())),
            Some(nix::unistd::Gid::from_raw(meta.gid())),
        );
    }
    std::fs::rename(&tmp, config_file)
        .with_context(|| format!("writing {}", config_file.display()))?;
    Ok(())
}
