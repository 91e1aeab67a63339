//! The copy of the ACME state in PostgreSQL, for instances that share a database: the account,
//! the certificate and pending challenge answers, mirrored into each instance's files.

use super::*;

/// The copy of the ACME state in PostgreSQL, when several instances may share the database:
/// every instance mirrors the certificate from it, pending challenge answers are visible to
/// whichever instance the CA reaches, and an advisory lock lets one instance issue at a time.
#[derive(Clone, Debug)]
pub struct Shared {
    pub(super) store: crate::db::certs::CertStore,
}

/// How long an issuer waits after publishing challenge answers, so every instance (which
/// syncs every 2 s) has them before the CA comes looking.
pub(super) const SHARED_SYNC_WAIT: Duration = Duration::from_millis(2500);

impl Shared {
    pub fn of(db: &crate::db::Db) -> Option<Shared> {
        crate::db::certs::CertStore::of(db).map(|store| Shared { store })
    }

    /// Copies what the database holds to this instance's files: the account and certificate
    /// when they differ, and the pending challenge answers (removing answers no longer there).
    pub async fn sync_down(&self, paths: &Paths) -> anyhow::Result<()> {
        for (name, file) in [
            ("acme/account", &paths.account),
            ("acme/key", &paths.key),
            ("acme/cert", &paths.cert),
        ] {
            if let Some(v) = self.store.get(name).await?
                && std::fs::read(file).ok().as_deref() != Some(v.as_bytes())
            {
                crate::tls::write_service_file(file, v.as_bytes())?;
            }
        }
        let mut wanted = std::collections::HashSet::new();
        for (name, value) in self.store.challenges().await? {
            let file = if let Some(token) = name.strip_prefix("challenge/http-01/") {
                crate::tls::challenges::HttpChallenges::new(paths.http01.clone()).file(token)
            } else if let Some(host) = name.strip_prefix("challenge/tls-alpn-01/") {
                safe_name(host).then(|| paths.alpn01.join(format!("{host}.pem")))
            } else {
                None
            };
            if let Some(file) = file {
                if std::fs::read(&file).ok().as_deref() != Some(value.as_bytes()) {
                    crate::tls::write_service_file(&file, value.as_bytes())?;
                }
                wanted.insert(file.clone());
            }
        }
        for dir in [&paths.http01, &paths.alpn01] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.is_file()
                        && !wanted.contains(&p)
                        && !e.file_name().to_string_lossy().starts_with('.')
                    {
                        let _ = std::fs::remove_file(&p);
                    }
                }
            }
        }
        Ok(())
    }
}
