//! Files created by commands an administrator runs as root (`migrate`, `serve` started by
//! hand, `backup`, `cert`) are handed to the `flowsync` system user, so the service can always
//! open them.

use std::path::Path;

/// The service account created by the package and by `flowsync init`.
pub const SERVICE_USER: &str = "flowsync";

/// When running as root and the service user exists, chowns each existing path to it.
/// Returns the paths changed. Does nothing for other users.
pub fn hand_to_service_user(paths: &[&Path]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    hand_to_user(SERVICE_USER, paths)
}

fn hand_to_user(name: &str, paths: &[&Path]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(Vec::new());
    }
    let Some(user) = nix::unistd::User::from_name(name)? else {
        return Ok(Vec::new());
    };
    let mut changed = Vec::new();
    for p in paths {
        // lchown: a symlink planted in the data dir must not hand its target to the user.
        if std::fs::symlink_metadata(p).is_ok() {
            std::os::unix::fs::lchown(*p, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(|e| {
                    anyhow::anyhow!("cannot give {} to user {SERVICE_USER}: {e}", p.display())
                })?;
            changed.push(p.to_path_buf());
        }
    }
    Ok(changed)
}

/// Opens, creating it when missing, a file that is only ever `flock`ed (the backup and
/// certificate-issue locks). One created as root is handed to the service user. One an earlier
/// root run left unwritable is opened read-only, which `flock` accepts, so the service and an
/// administrator's `sudo flowsync …` always share the lock instead of the service failing.
pub fn open_lock(path: &Path) -> std::io::Result<std::fs::File> {
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path);
    let file = match opened {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.exists() => {
            std::fs::File::open(path)?
        }
        other => other?,
    };
    hand_to_service_user(&[path]).map_err(std::io::Error::other)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    /// As root (as CI runs here), files are handed to the named user; `nobody` stands in for
    /// `flowsync` so the test creates no accounts. As another user nothing changes.
    #[test]
    fn root_hands_files_to_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flowsync.db");
        std::fs::write(&file, b"x").unwrap();
        let missing = dir.path().join("flowsync.db-wal");
        let changed = super::hand_to_user("nobody", &[&file, &missing]).unwrap();
        if nix::unistd::geteuid().is_root() {
            let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
            assert_eq!(changed, vec![file.clone()], "missing files are skipped");
            assert_eq!(std::fs::metadata(&file).unwrap().uid(), nobody.uid.as_raw());
        } else {
            assert!(changed.is_empty());
        }
        let none = super::hand_to_user("no-such-user-flowsync-test", &[&file]).unwrap();
        assert!(none.is_empty(), "no service user, nothing to do");
    }
}
