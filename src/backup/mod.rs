//! Backups: one archive per run, written so that a file that looks complete is complete.
//!
//! An archive is `flowsync-<version>-<UTC timestamp>.tar.gz` (`.tar.gz.age` when encrypted with
//! a passphrase, using the `age` format). Its members, in order:
//!
//! - `manifest.json` — format, FlowSync version, schema version (last migration), backend,
//!   created_at, hostname, whether secrets are included and what was left out, each table's
//!   columns and row count, and the SHA-256 and size of every other member;
//! - `data/<table>.jsonl` — every row of every table as one JSON object per line, all read in
//!   one read transaction (REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so
//!   the snapshot is consistent while `serve` keeps writing;
//! - `config/flowsync.toml` — the config file in use, secret keys removed unless secrets are
//!   included;
//! - `tls/…` — certificates (`*.crt`) under `<data_dir>/tls`; every other file there (private
//!   keys, the ACME account) only with secrets.
//!
//! The server's generated secrets (`server_secrets`: the link-signing key) are data only with
//! `--include-secrets`; without them a restored server generates new ones (signed export
//! links in flight stop working, nothing else changes).
//!
//! Tables are first streamed to spool files next to the archive (memory stays flat; the sizes
//! are known before the tar headers are written), then packed into `.<name>.partial`, fsynced,
//! renamed, and the directory fsynced. The new archive is read back and verified before older
//! ones are pruned. One lock (`<data_dir>/.backup.lock`) keeps backups and restores apart.

mod archive;
mod catalogue;
mod restore;
pub mod retention;
mod verify;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use age::secrecy::SecretString;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::dump::Tx;
use crate::db::tables::{self, TABLES};
use crate::db::{Db, migrate};
pub use archive::*;
pub use catalogue::*;
pub use restore::*;
pub use verify::*;

/// The archive format this code writes and reads.
pub const FORMAT: &str = "flowsync-backup/1";
const MANIFEST: &str = "manifest.json";
const LOCK_FILE: &str = ".backup.lock";
const STATE_FILE: &str = ".flowsync-backups.json";
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub flowsync_version: String,
    pub schema_version: Option<i64>,
    pub backend: crate::db::Backend,
    pub created_at: String,
    pub hostname: String,
    pub include_secrets: bool,
    /// What a backup without secrets left out, in words.
    pub omitted: Vec<String>,
    pub tables: Vec<TableEntry>,
    /// Every member other than the manifest: path → checksum and size.
    pub members: BTreeMap<String, Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub member: String,
    pub rows: u64,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub sha256: String,
    pub bytes: u64,
}

impl Manifest {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Progress reporting for long steps; the CLI draws bars on a terminal, others ignore it.
pub trait Progress: Send {
    fn start(&mut self, _what: &str, _total: u64) {}
    fn update(&mut self, _done: u64) {}
    fn finish(&mut self) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Another backup or restore holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another flowsync backup or restore is running (it holds {0}); wait for it to finish, or run this one later"
)]
pub struct Busy(pub PathBuf);

/// Held while a backup or restore runs; released on drop (and by the kernel if killed).
pub struct Lock {
    _file: nix::fcntl::Flock<File>,
}

impl Lock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<Lock> {
        fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join(LOCK_FILE);
        let file = crate::ownership::open_lock(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(f) => Ok(Lock { _file: f }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Busy(path).into()),
            Err((_, e)) => Err(anyhow::anyhow!("locking {}: {e}", path.display())),
        }
    }
}

/// Where a backup goes: a directory (named archive, retention applies) or an exact file.
#[derive(Debug, Clone)]
pub enum Dest {
    Dir(PathBuf),
    File(PathBuf),
}

impl Dest {
    /// `--output`: a path ending in `.tar.gz` or `.age` is a file; anything else a directory.
    pub fn parse(p: PathBuf) -> Dest {
        let s = p.to_string_lossy();
        if s.ends_with(".tar.gz") || s.ends_with(".age") {
            Dest::File(p)
        } else {
            Dest::Dir(p)
        }
    }
}

pub struct CreateOptions<'a> {
    pub dest: Dest,
    pub include_secrets: bool,
    pub passphrase: Option<SecretString>,
    /// The config file in use, copied into the archive.
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub retention: retention::Policy,
    pub progress: &'a mut dyn Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub archive: PathBuf,
    pub bytes: u64,
    pub rows: BTreeMap<String, u64>,
    pub millis: u128,
    pub encrypted: bool,
    pub include_secrets: bool,
    pub schema_version: Option<i64>,
    pub verified: bool,
    pub pruned: Vec<PathBuf>,
}

/// The file name for a backup made now.
pub fn archive_name(now: time::OffsetDateTime, encrypted: bool) -> String {
    format!(
        "flowsync-{}-{}.tar.gz{}",
        env!("CARGO_PKG_VERSION"),
        retention::format_stamp(now),
        if encrypted { ".age" } else { "" }
    )
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = HashingWriter::new(io::sink());
    io::copy(&mut f, &mut h)?;
    let (sha256, bytes, _) = h.finish()?;
    Ok((sha256, bytes))
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(mut self) -> io::Result<(String, u64, W)> {
        self.inner.flush()?;
        Ok((hex::encode(self.hasher.finalize()), self.bytes, self.inner))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
