//! A full disk is a condition to wait out, not a server fault: writes that fail for lack of
//! space are answered 503 `UNAVAILABLE` with `Retry-After` (see the `From<anyhow::Error>` for
//! `ApiError` in `db/`), and `/readyz` says the data directory cannot be written until space is
//! freed.

use std::io::Write;
use std::path::PathBuf;

/// SQLite's `SQLITE_FULL` and PostgreSQL's `disk_full` class (`53100`) and
/// `insufficient_resources` (`53000`), or an `ENOSPC` from the file system.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return is_enospc(io);
        }
        let Some(s) = c.downcast_ref::<sqlx::Error>() else {
            return false;
        };
        match s {
            sqlx::Error::Io(io) => is_enospc(io),
            sqlx::Error::Database(d) => {
                let code = d.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite reports the primary code 13; an extended code keeps it in its low byte.
                let sqlite_full = code.parse::<i64>().is_ok_and(|n| n & 0xff == 13);
                sqlite_full || code == "53100" || code == "53000"
            }
            _ => false,
        }
    })
}

fn is_enospc(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(nix::libc::ENOSPC)
}

/// Writes, syncs and removes a small file in `dir`: whether the server can store anything
/// there now.
pub fn try_write(dir: &std::path::Path) -> std::io::Result<()> {
    let path = dir.join(".flowsync-ready");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    };
    let result = write();
    let _ = std::fs::remove_file(&path);
    result
}

/// Whether a failed write is the disk being full (a condition that passes) rather than a
/// directory the server may not write to (configuration to fix).
pub fn is_full(e: &std::io::Error) -> bool {
    is_enospc(e)
}

/// [`try_write`] for readiness, with a message that says what is wrong.
pub async fn probe_writable(dir: PathBuf) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        try_write(&dir).map_err(|e| {
            if is_enospc(&e) {
                anyhow::anyhow!("{} cannot be written: the disk is full", dir.display())
            } else {
                anyhow::anyhow!("{} cannot be written: {e}", dir.display())
            }
        })
    })
    .await?
}
