//! The outcome of a configuration reload, shared by `serve` (which writes it) and `flowsync
//! reload` (systemd's `ExecReload`, which waits for it). `SIGHUP` alone is fire-and-forget:
//! `systemctl reload` would return before the server had re-read anything, and report success
//! for a file the server then refused. The server records each attempt in
//! `<data_dir>/.reload-status.json` (its pid, a generation counted from 0 at start, and what
//! happened); the command sends the signal and waits until the generation moves.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One reload attempt as the server saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// The server process that wrote it.
    pub pid: u32,
    /// 0 when the server started; +1 per `SIGHUP`.
    pub generation: u64,
    /// Whether the new file was read and applied (keys that need a restart do not make it fail).
    pub ok: bool,
    /// Keys applied while running.
    pub applied: Vec<String>,
    /// Keys that changed but keep their running value until a restart.
    pub needs_restart: Vec<String>,
    /// Why the file was refused (it keeps running with the previous configuration).
    pub error: Option<String>,
}

/// Where a server with this data directory records its reloads.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(".reload-status.json")
}

/// Records `status` (atomically: a reader never sees half a file). Failures are logged: a
/// reload is not undone because its receipt could not be written.
pub fn record(data_dir: &Path, status: &Status) {
    let write = || -> anyhow::Result<()> {
        let body = serde_json::to_vec(status)?;
        crate::tls::write_private(&path(data_dir), &body)
    };
    if let Err(e) = write() {
        tracing::warn!(error = %format!("{e:#}"), "cannot record the reload outcome; `flowsync reload` will not see it");
    }
}

/// The last recorded status, if readable.
pub fn read(data_dir: &Path) -> Option<Status> {
    let body = std::fs::read(path(data_dir)).ok()?;
    serde_json::from_slice(&body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_status_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let s = Status {
            pid: 7,
            generation: 2,
            ok: false,
            error: Some("bad".into()),
            ..Status::default()
        };
        record(dir.path(), &s);
        assert_eq!(read(dir.path()), Some(s));
    }
}
