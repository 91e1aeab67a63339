//! Files created by commands an administrator runs as root (`migrate`, `serve` started by
//! hand) are handed to the `flowsync` system user, so the service can always open them.

use std::path::Path;

/// The service account created by the package and by `flowsync init`.
pub const SERVICE_USER: &str = "flowsync";

/// When running as root and the service user exists, chowns each existing path to it.
/// Returns the paths changed. Does nothing for other users.
pub fn hand_to_service_user(paths: &[&Path]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(Vec::new());
    }
    let Some(user) = nix::unistd::User::from_name(SERVICE_USER)? else {
        return Ok(Vec::new());
    };
    let mut changed = Vec::new();
    for p in paths {
        if p.exists() {
            nix::unistd::chown(*p, Some(user.uid), Some(user.gid)).map_err(|e| {
                anyhow::anyhow!("cannot give {} to user {SERVICE_USER}: {e}", p.display())
            })?;
            changed.push(p.to_path_buf());
        }
    }
    Ok(changed)
}

/// The data directory and the SQLite files in it.
pub fn fix_data_dir(config: &crate::config::Config) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut paths = vec![config.server.data_dir.clone()];
    if let Some(db) = config.sqlite_path() {
        paths.extend(crate::db::sqlite_files(&db));
    }
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    hand_to_service_user(&refs)
}
