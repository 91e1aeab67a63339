//! The archives in a backup directory: listing them with their last verification, remembering
//! verification results next to them, cleaning what a killed run left, and turning a full disk
//! into advice.

use super::*;

/// One archive in a backup directory, for `backup list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub created_at: String,
    pub age_seconds: i64,
    pub encrypted: bool,
    /// `verified`, `failed` or `unverified`.
    pub state: String,
    pub checked_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct StateFile {
    archives: BTreeMap<String, CheckState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CheckState {
    checked_at: String,
    ok: bool,
    error: Option<String>,
}

/// Remembers a verification result next to the archives (best effort).
pub fn record_state(dir: &Path, archive: &Path, error: Option<String>) {
    let Some(name) = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return;
    };
    let path = dir.join(STATE_FILE);
    let mut st: StateFile = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    st.archives.insert(
        name,
        CheckState {
            checked_at: retention::rfc3339(time::OffsetDateTime::now_utc()),
            ok: error.is_none(),
            error,
        },
    );
    st.archives.retain(|n, _| dir.join(n).exists());
    if let Ok(body) = serde_json::to_vec_pretty(&st) {
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let written = create_private(&tmp).and_then(|mut f| Ok(f.write_all(&body)?));
        if written.is_ok() && fs::rename(&tmp, &path).is_ok() {
            // Private like the archives it describes, and the service user's like them when
            // root made it (doctor, run as that user, reads it).
            let _ = crate::ownership::hand_to_service_user(&[path.as_path()]);
        }
    }
}

/// The archives in a directory, newest first.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Listed>> {
    let st: StateFile = fs::read(dir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    let mut out: Vec<Listed> = retention::archives(dir)?
        .into_iter()
        .map(|(name, stamp)| {
            let path = dir.join(&name);
            let check = st.archives.get(&name);
            Listed {
                bytes: fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                created_at: retention::rfc3339(stamp),
                age_seconds: (now - stamp).whole_seconds(),
                encrypted: name.ends_with(".age"),
                state: match check {
                    Some(c) if c.ok => "verified",
                    Some(_) => "failed",
                    None => "unverified",
                }
                .into(),
                checked_at: check.map(|c| c.checked_at.clone()),
                error: check.and_then(|c| c.error.clone()),
                name,
                path,
            }
        })
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.name.cmp(&a.name)));
    Ok(out)
}

/// Removes what a killed run left behind: partial archives and work directories.
pub(super) fn clean_leftovers(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".flowsync-backup-") {
            let _ = fs::remove_dir_all(e.path());
        } else if name.starts_with('.') && name.ends_with(".partial") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Turns "no space left" into advice (the partial file is already gone).
pub(super) fn disk_hint(e: anyhow::Error, dir: &Path) -> anyhow::Error {
    let full = e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(nix::libc::ENOSPC))
    });
    if full {
        anyhow::anyhow!(
            "the disk holding {} is full; no archive was written. Free space there or point backup.dir / --output elsewhere ({e:#})",
            dir.display()
        )
    } else {
        e
    }
}
