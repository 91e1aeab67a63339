//! Certificates from an ACME CA (RFC 8555) with instant-acme: Let's Encrypt by default, or any
//! directory (`tls.acme_directory`, trusting `tls.acme_ca_root` for a private CA).
//!
//! Everything lives in `<data_dir>/tls` (files 0600): `acme-account.json` (the account, made
//! once and reused), `acme.crt` / `acme.key` (the certificate `serve` presents), `.issue.lock`
//! (one issuer at a time), and `challenges/` where an issuer leaves its answers:
//! `http-01/<token>` (served on port 80 at `/.well-known/acme-challenge/<token>`) and
//! `tls-alpn-01/<name>.pem` (presented to `acme-tls/1` handshakes on port 443). Whichever
//! process holds the port answers from those files: a running `serve`, or `flowsync cert issue`
//! itself, which binds the port for the duration of the order when nothing else holds it.
//! `serve` watches `acme.crt` and swaps in a certificate another process obtained.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;

use crate::config::{Challenge, Config};

mod shared;
use shared::SHARED_SYNC_WAIT;
pub use shared::Shared;

mod responder;
use responder::responder;

/// Files of the ACME state under `<data_dir>/tls`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
    pub account: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub lock: PathBuf,
    pub http01: PathBuf,
    pub alpn01: PathBuf,
}

impl Paths {
    pub fn new(config: &Config) -> Paths {
        let dir = config.server.data_dir.join("tls");
        Paths {
            account: dir.join("acme-account.json"),
            cert: dir.join("acme.crt"),
            key: dir.join("acme.key"),
            lock: dir.join(".issue.lock"),
            http01: dir.join("challenges/http-01"),
            alpn01: dir.join("challenges/tls-alpn-01"),
            dir,
        }
    }
}

/// The stored account, with the directory it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// Another issuer holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another flowsync is obtaining a certificate right now (it holds {0}); try again when it is done"
)]
pub struct Busy(pub PathBuf);

/// How an order went wrong, in words that say what to check.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(
        "cannot reach the ACME directory {url}: {reason}; check the URL (tls.acme_directory), DNS and outbound HTTPS"
    )]
    Directory { url: String, reason: String },
    #[error(
        "the CA refused the challenge for {name}: {reason}; check that {name} points at this host and that port {port} reaches flowsync"
    )]
    Challenge {
        name: String,
        port: &'static str,
        reason: String,
    },
    #[error(
        "the CA is rate limiting this account or domain: {0}; wait, or use --staging while testing"
    )]
    RateLimited(String),
    #[error("cannot open the database that shares ACME state between instances: {0}")]
    Store(String),
}

/// What an issuance produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    pub names: Vec<String>,
    pub certificate: PathBuf,
    pub not_after: String,
    pub serial: String,
    pub account_created: bool,
    pub challenge: &'static str,
    /// Who answered the challenge: "serve" (already running) or "cert" (this process).
    pub answered_by: &'static str,
}

/// Holds `.issue.lock` while alive.
pub struct IssueLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

impl IssueLock {
    pub fn acquire(paths: &Paths) -> anyhow::Result<IssueLock> {
        std::fs::create_dir_all(&paths.dir)?;
        let f = crate::ownership::open_lock(&paths.lock)
            .with_context(|| format!("opening {}", paths.lock.display()))?;
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(f) => Ok(IssueLock { _file: f }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Busy(paths.lock.clone()).into()),
            Err((_, e)) => Err(anyhow::anyhow!("locking {}: {e}", paths.lock.display())),
        }
    }
}

/// The TLS-ALPN-01 challenge certificate left for `name`, if any.
pub fn alpn_challenge_key(dir: &Path, name: &str) -> Option<CertifiedKey> {
    if !safe_name(name) {
        return None;
    }
    let pem = std::fs::read(dir.join(format!("{name}.pem"))).ok()?;
    super::certified_key_unchecked(&pem, &pem).ok()
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with('.')
        && !name.contains("..")
}

async fn account(
    config: &Config,
    paths: &Paths,
    shared: Option<&Shared>,
) -> anyhow::Result<(Account, bool)> {
    if let Some(sh) = shared
        && !paths.account.exists()
        && let Some(v) = sh.store.get("acme/account").await?
    {
        super::write_service_file(&paths.account, v.as_bytes())?;
    }
    let directory = config.tls.acme_directory.clone();
    let builder = || -> anyhow::Result<instant_acme::AccountBuilder> {
        Ok(match &config.tls.acme_ca_root {
            Some(root) => Account::builder_with_root(root)
                .with_context(|| format!("loading tls.acme_ca_root {}", root.display()))?,
            None => Account::builder().context("setting up the ACME client")?,
        })
    };
    if let Ok(text) = std::fs::read(&paths.account)
        && let Ok(stored) = serde_json::from_slice::<StoredAccount>(&text)
        && stored.directory == directory
    {
        let acct = builder()?
            .from_credentials(stored.credentials)
            .await
            .map_err(|e| directory_error(&directory, e))?;
        return Ok((acct, false));
    }
    let contact = config.tls.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(|c| c.as_str()).collect();
    let (acct, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.clone(),
            None,
        )
        .await
        .map_err(|e| directory_error(&directory, e))?;
    let body = serde_json::to_vec_pretty(&StoredAccount {
        directory,
        credentials,
    })?;
    super::write_service_file(&paths.account, &body)?;
    Ok((acct, true))
}

fn directory_error(url: &str, e: instant_acme::Error) -> anyhow::Error {
    let reason = e.to_string();
    if reason.contains("rateLimited") {
        return IssueError::RateLimited(reason).into();
    }
    IssueError::Directory {
        url: url.to_owned(),
        reason,
    }
    .into()
}

/// [`issue`] for a command (`cert issue`, `init`, `doctor --fix`): with PostgreSQL the result is
/// published in the shared store too (several instances may share it), and files a root-run
/// command created are handed to the service user.
pub async fn issue_now(
    config: &Config,
    step: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Issued> {
    let db = match crate::db::Backend::of_url(config.database.url.expose()) {
        crate::db::Backend::Postgres => Some(
            crate::db::Db::connect(&config.database)
                .await
                .map_err(|e| IssueError::Store(e.to_string()))?,
        ),
        crate::db::Backend::Sqlite => None,
    };
    let shared = db.as_ref().and_then(Shared::of);
    let result = issue(config, shared.as_ref(), step).await;
    if let Some(db) = &db {
        db.close().await;
    }
    let issued = result?;
    crate::ownership::hand_to_service_user(&[config.server.data_dir.join("tls").as_path()])?;
    Ok(issued)
}

/// Obtains a certificate for `tls.domains` and stores it. The caller holds no lock; this takes
/// [`IssueLock`] (refusing when another issuer runs). Leaves the stored certificate untouched
/// unless a new one was obtained.
pub async fn issue(
    config: &Config,
    shared: Option<&Shared>,
    step: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Issued> {
    let names = config.tls.domains.clone();
    if names.is_empty() {
        bail!("tls.domains is empty: name the domain(s) the certificate is for");
    }
    let paths = Paths::new(config);
    let _lock = IssueLock::acquire(&paths)?;
    // With a shared database, one issuer across every instance: a session advisory lock held
    // on one connection for the whole order.
    let mut held = None;
    if let Some(sh) = shared {
        let Some(lock) = sh.store.try_lock_issuance().await? else {
            bail!(Busy(PathBuf::from(
                "the database's certificate issuance lock"
            )));
        };
        held = Some(lock);
    }
    let result = issue_locked(config, &paths, names, shared, step).await;
    if let Some(lock) = held {
        lock.release().await;
    }
    result
}

async fn issue_locked(
    config: &Config,
    paths: &Paths,
    names: Vec<String>,
    shared: Option<&Shared>,
    step: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Issued> {
    let paths = paths.clone();
    step("account");
    let (acct, account_created) = account(config, &paths, shared).await?;
    step("order");
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = acct
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| directory_error(&config.tls.acme_directory, e))?;
    let responder = responder(config, &paths).await?;
    let (kind, port) = match config.tls.challenge {
        Challenge::Http01 => (ChallengeType::Http01, "80 (server.http_listen)"),
        Challenge::TlsAlpn01 => (ChallengeType::TlsAlpn01, "443 (server.https_listen)"),
    };
    let mut written = Vec::new();
    let mut published = Vec::new();
    let result: anyhow::Result<()> = async {
        step("challenges");
        let mut authzs = order.authorizations();
        while let Some(a) = authzs.next().await {
            let mut a = a.map_err(|e| directory_error(&config.tls.acme_directory, e))?;
            match a.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => bail!("authorization is {other:?}"),
            }
            let mut ch = a.challenge(kind.clone()).ok_or_else(|| {
                anyhow::anyhow!(
                    "the CA offers no {kind:?} challenge; set tls.challenge to the other kind"
                )
            })?;
            let name = ch.identifier().to_string();
            let ka = ch.key_authorization();
            match config.tls.challenge {
                Challenge::Http01 => {
                    let file = paths.http01.join(&ch.token);
                    super::write_service_file(&file, ka.as_str().as_bytes())?;
                    written.push(file);
                    if let Some(sh) = shared {
                        let key = format!("challenge/http-01/{}", ch.token);
                        sh.store.put(&key, ka.as_str()).await?;
                        published.push(key);
                        tokio::time::sleep(SHARED_SYNC_WAIT).await;
                    }
                }
                Challenge::TlsAlpn01 => {
                    let mut params = rcgen::CertificateParams::new(vec![name.clone()])?;
                    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
                        ka.digest().as_ref(),
                    )];
                    let key = rcgen::KeyPair::generate()?;
                    let cert = params.self_signed(&key)?;
                    let file = paths.alpn01.join(format!("{name}.pem"));
                    super::write_service_file(
                        &file,
                        format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes(),
                    )?;
                    written.push(file);
                }
            }
            ch.set_ready()
                .await
                .map_err(|e| directory_error(&config.tls.acme_directory, e))?;
        }
        step("validation");
        let status = order
            .poll_ready(&RetryPolicy::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if status != OrderStatus::Ready {
            let reason = format!("order is {status:?}");
            bail!(IssueError::Challenge {
                name: names.join(", "),
                port,
                reason
            });
        }
        Ok(())
    }
    .await;
    for f in &written {
        let _ = std::fs::remove_file(f);
    }
    if let Some(sh) = shared {
        for key in &published {
            sh.store.delete(key).await;
        }
    }
    let answered_by = responder.answered_by;
    drop(responder);
    if let Err(e) = result {
        // Say which challenge failed, and why, when the CA told us.
        let detail = order
            .refresh()
            .await
            .ok()
            .and_then(|s| s.error.as_ref().map(|p| p.to_string()));
        return Err(match (e.downcast_ref::<IssueError>(), detail) {
            (Some(_), _) => e,
            (None, Some(d)) => IssueError::Challenge {
                name: names.join(", "),
                port,
                reason: d,
            }
            .into(),
            (None, None) => IssueError::Challenge {
                name: names.join(", "),
                port,
                reason: format!("{e:#}"),
            }
            .into(),
        });
    }
    step("certificate");
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| anyhow::anyhow!("finalizing the order: {e}"))?;
    let chain = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .map_err(|e| anyhow::anyhow!("downloading the certificate: {e}"))?;
    super::certified_key(chain.as_bytes(), key_pem.as_bytes())
        .context("the CA's certificate does not match our key")?;
    super::write_service_file(&paths.key, key_pem.as_bytes())?;
    super::write_service_file(&paths.cert, chain.as_bytes())?;
    if let Some(sh) = shared {
        // Key first: an instance that sees the new certificate finds its key already there.
        sh.store.put("acme/key", &key_pem).await?;
        sh.store.put("acme/cert", &chain).await?;
    }
    let info = super::inspect(chain.as_bytes())?;
    Ok(Issued {
        names,
        certificate: paths.cert,
        not_after: info.not_after,
        serial: info.serial,
        account_created,
        challenge: match config.tls.challenge {
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        },
        answered_by,
    })
}

/// Whether the stored certificate should be renewed: missing, not for `tls.domains`, or with
/// less than a third of its lifetime left.
pub fn due(config: &Config) -> bool {
    let paths = Paths::new(config);
    let Ok(pem) = std::fs::read(&paths.cert) else {
        return true;
    };
    let Ok(info) = super::inspect(&pem) else {
        return true;
    };
    if !config.tls.domains.iter().all(|d| info.names.contains(d)) {
        return true;
    }
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    match (parse(&info.not_before), parse(&info.not_after)) {
        (Some(from), Some(to)) => {
            let left = to - time::OffsetDateTime::now_utc();
            left < (to - from) / 3
        }
        _ => true,
    }
}

/// `serve` in acme mode: obtains a certificate when there is none, renews when due (retrying
/// with backoff), and swaps in a certificate another process (`cert renew`) stored.
/// It reads the running configuration from `config` on every round, so a reload of the `tls.*`
/// ACME keys (email, directory, CA root, challenge) is in effect for the next order.
pub async fn maintain(
    config: crate::config::Handle,
    shared: Option<Shared>,
    resolver: Arc<super::CertResolver>,
    stop: tokio_util::sync::CancellationToken,
) {
    let running = config;
    let mut seen = modified(&Paths::new(&running.get()).cert);
    let mut backoff = Duration::from_secs(30);
    let mut next_check = tokio::time::Instant::now();
    loop {
        let config = running.get();
        let paths = Paths::new(&config);
        if let Some(sh) = &shared
            && let Err(e) = sh.sync_down(&paths).await
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the shared TLS state from the database");
        }
        // Picked up a certificate written by `flowsync cert issue/renew` or another instance?
        let now_mod = modified(&paths.cert);
        if now_mod != seen {
            seen = now_mod;
            match super::load(&config) {
                Ok(Some((key, path))) => {
                    resolver.swap(key);
                    tracing::info!(path = %path.display(), "serving the renewed certificate");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot load the stored certificate; keeping the current one")
                }
            }
        }
        if tokio::time::Instant::now() >= next_check {
            if !resolver.has_certificate() || due(&config) {
                tracing::info!(domains = ?config.tls.domains, "obtaining a certificate");
                match issue(&config, shared.as_ref(), &mut |s| {
                    tracing::info!(step = s, "ACME")
                })
                .await
                {
                    Ok(done) => {
                        seen = modified(&paths.cert);
                        match super::load(&config) {
                            Ok(Some((key, _))) => resolver.swap(key),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!(error = %format!("{e:#}"), "cannot load the new certificate")
                            }
                        }
                        tracing::info!(serial = %done.serial, not_after = %done.not_after, "certificate obtained");
                        backoff = Duration::from_secs(30);
                        next_check = tokio::time::Instant::now() + Duration::from_secs(12 * 3600);
                    }
                    Err(e) if e.downcast_ref::<Busy>().is_some() => {
                        next_check = tokio::time::Instant::now() + Duration::from_secs(10);
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), retry_in = ?backoff, "obtaining a certificate failed");
                        next_check = tokio::time::Instant::now() + backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(6 * 3600));
                    }
                }
            } else {
                next_check = tokio::time::Instant::now() + Duration::from_secs(12 * 3600);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    /// Challenge certificates carry a critical extension webpki does not know; they must
    /// still load (the CA, not us, checks them).
    #[test]
    fn alpn_challenge_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["flowsync.test".to_string()]).unwrap();
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&[7u8; 32])];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = format!("{}{}", cert.pem(), key.serialize_pem());
        std::fs::write(dir.path().join("flowsync.test.pem"), &pem).unwrap();
        let direct = crate::tls::certified_key_unchecked(pem.as_bytes(), pem.as_bytes());
        assert!(direct.is_ok(), "{:?}", direct.err());
        assert!(super::alpn_challenge_key(dir.path(), "flowsync.test").is_some());
    }
}
