//! What every check may look at: the loaded configuration (or why it did not load), the
//! install root, the service account, and connections opened once and shared by the checks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::Outcome;
use crate::config::Config;
use crate::db::Db;

/// The account `serve` runs as: `flowsync` when it exists (an installed system), otherwise the
/// user running doctor (a development or `--prefix` install, where serve runs as that user).
#[derive(Debug, Clone)]
pub struct ServiceUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Whether this is the real `flowsync` system account.
    pub system: bool,
}

impl ServiceUser {
    pub fn find() -> ServiceUser {
        if let Ok(Some(u)) = nix::unistd::User::from_name(crate::ownership::SERVICE_USER) {
            return ServiceUser {
                name: u.name,
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                system: true,
            };
        }
        let uid = nix::unistd::geteuid();
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| uid.to_string());
        ServiceUser {
            name,
            uid: uid.as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            system: false,
        }
    }
}

pub struct Context {
    /// The configuration `serve` would run with, or the one-line reason it cannot load.
    pub config: Result<Config, String>,
    /// The file it came from (None: built-in defaults).
    pub config_file: Option<PathBuf>,
    /// Install root (`--prefix`): where units are looked for.
    pub prefix: PathBuf,
    pub user: ServiceUser,
    db: Mutex<Option<Result<Arc<Db>, String>>>,
}

impl Context {
    pub fn new(
        config: Result<Config, String>,
        config_file: Option<PathBuf>,
        prefix: Option<PathBuf>,
    ) -> Context {
        Context {
            config,
            config_file,
            prefix: prefix.unwrap_or_else(|| PathBuf::from("/")),
            user: ServiceUser::find(),
            db: Mutex::new(None),
        }
    }

    /// The configuration, or the `skip` a check reports when it did not load.
    pub fn config(&self) -> Result<&Config, Outcome> {
        self.config
            .as_ref()
            .map_err(|_| Outcome::skip("the configuration did not load (see the config check)"))
    }

    /// An absolute install path under `--prefix`.
    pub fn under_prefix(&self, path: &str) -> PathBuf {
        self.prefix.join(path.trim_start_matches('/'))
    }

    /// The database, connected on first use and shared by the checks. A SQLite file that does
    /// not exist is reported, not created: doctor does not make state.
    pub async fn db(&self) -> Result<Arc<Db>, String> {
        let mut slot = self.db.lock().await;
        if let Some(r) = slot.as_ref() {
            return r.clone();
        }
        let r = self.connect().await;
        *slot = Some(r.clone());
        r
    }

    async fn connect(&self) -> Result<Arc<Db>, String> {
        let config = self.config.as_ref().map_err(|e| e.clone())?;
        if let Some(path) = config.sqlite_path()
            && !path.exists()
        {
            return Err(format!(
                "the database file {} does not exist yet",
                path.display()
            ));
        }
        let db = Db::connect(&config.database)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(db))
    }

    /// Closes shared connections so the next use reconnects (after a fix changed things).
    pub async fn forget_connections(&self) {
        let old = self.db.lock().await.take();
        if let Some(Ok(db)) = old {
            db.close().await;
            self.hand_back_sqlite_files();
        }
    }

    pub async fn close(&self) {
        self.forget_connections().await;
    }

    /// SQLite may have created `-wal`/`-shm` files as root; they belong to the service user.
    fn hand_back_sqlite_files(&self) {
        if let Ok(config) = &self.config {
            let _ = crate::db::fix_data_dir(config);
        }
    }

    /// Whether the configured database is the local SQLite file at `path`.
    pub fn is_sqlite(&self) -> Option<PathBuf> {
        self.config.as_ref().ok().and_then(|c| c.sqlite_path())
    }

    pub fn data_dir(&self) -> Option<&Path> {
        self.config
            .as_ref()
            .ok()
            .map(|c| c.server.data_dir.as_path())
    }
}
