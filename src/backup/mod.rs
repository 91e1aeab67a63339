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
//! - `tls/…` — certificates under `<data_dir>/tls`; private keys (files whose name contains
//!   `key`) only with secrets.
//!
//! The server's generated secrets (`server_secrets`: the link-signing key) are data only with
//! `--include-secrets`; without them a restored server generates new ones (signed export
//! links in flight stop working, nothing else changes).
//!
//! Tables are first streamed to spool files next to the archive (memory stays flat; the sizes
//! are known before the tar headers are written), then packed into `.<name>.partial`, fsynced,
//! renamed, and the directory fsynced. The new archive is read back and verified before older
//! ones are pruned. One lock (`<data_dir>/.backup.lock`) keeps backups and restores apart.

pub mod retention;
pub mod tables;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use age::secrecy::SecretString;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{Db, migrate};
use tables::{TABLES, Tx};

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
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
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

/// Makes one backup. The caller holds the [`Lock`].
pub async fn create(db: &Db, opts: CreateOptions<'_>) -> anyhow::Result<Created> {
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let encrypted = opts.passphrase.is_some();
    let (dir, final_path) = match &opts.dest {
        Dest::File(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (dir, p.clone())
        }
        Dest::Dir(d) => {
            let mut name = archive_name(now, encrypted);
            let mut n = 2;
            while d.join(&name).exists() {
                name = archive_name(now, encrypted).replacen(".tar.gz", &format!("-{n}.tar.gz"), 1);
                n += 1;
            }
            (d.clone(), d.join(name))
        }
    };
    let created_dir = !dir.exists();
    fs::create_dir_all(&dir).with_context(|| {
        format!(
            "creating the backup directory {}; set backup.dir or --output to a writable place",
            dir.display()
        )
    })?;
    clean_leftovers(&dir);
    // Tables (and the config) are spooled before the archive is written, since the manifest,
    // which comes first, holds their checksums. Spooled into unnamed files: they are plaintext
    // even when the archive is encrypted, and an unnamed file disappears with the process
    // however it ends (a killed backup leaves nothing readable behind).
    let spool = || {
        tempfile::tempfile_in(&dir)
            .with_context(|| format!("creating a work file in {}", dir.display()))
    };
    let mut spooled: Vec<(String, File)> = Vec::new();

    // 1. The snapshot, spooled table by table.
    let status = migrate::status(db)
        .await
        .context("reading the schema version")?;
    let mut tx = begin_snapshot(db).await?;
    let mut tables = Vec::new();
    let mut members = BTreeMap::new();
    let mut omitted = Vec::new();
    let mut rows = BTreeMap::new();
    for t in TABLES {
        let columns = tx.columns(t).await?;
        if columns.is_empty() {
            continue; // not in this schema version
        }
        if t.secret && !opts.include_secrets {
            omitted.push(format!("table {} (secrets)", t.name));
            continue;
        }
        let total = tx.count(t.name).await?;
        let member = format!("data/{}.jsonl", t.name);
        let file = spool()?;
        let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        opts.progress.start(t.name, total);
        let progress = &mut *opts.progress;
        let n = tx
            .dump(t, &columns, &mut out, |done| progress.update(done))
            .await
            .map_err(|e| disk_hint(e, &dir))?;
        opts.progress.finish();
        let (digest, bytes, file) = out.finish().map_err(|e| disk_hint(e.into(), &dir))?;
        let file = file
            .into_inner()
            .map_err(|e| disk_hint(e.into_error().into(), &dir))?;
        spooled.push((member.clone(), file));
        members.insert(
            member.clone(),
            Member {
                sha256: digest,
                bytes,
            },
        );
        rows.insert(t.name.to_owned(), n);
        tables.push(TableEntry {
            name: t.name.to_owned(),
            member,
            rows: n,
            columns: columns.iter().map(|(c, _)| (*c).to_owned()).collect(),
        });
    }
    tx.commit().await.context("closing the snapshot")?;

    // 2. Config and TLS material.
    let mut extra: Vec<(String, PathBuf)> = Vec::new();
    if let Some(cfg) = &opts.config_file
        && cfg.exists()
    {
        let text = fs::read_to_string(cfg).with_context(|| format!("reading {}", cfg.display()))?;
        let (body, left_out) = if opts.include_secrets {
            (text, Vec::new())
        } else {
            strip_secrets(&text).with_context(|| format!("reading {}", cfg.display()))?
        };
        omitted.extend(left_out.into_iter().map(|k| format!("config key {k}")));
        let mut out = HashingWriter::new(spool()?);
        out.write_all(body.as_bytes())
            .map_err(|e| disk_hint(e.into(), &dir))?;
        let (sha256, bytes, file) = out.finish().map_err(|e| disk_hint(e.into(), &dir))?;
        let member = "config/flowsync.toml".to_owned();
        members.insert(member.clone(), Member { sha256, bytes });
        spooled.push((member, file));
    }
    let tls = opts.data_dir.join("tls");
    if tls.is_dir() {
        for file in walk(&tls)? {
            let rel = file
                .strip_prefix(&tls)
                .unwrap_or(&file)
                .to_string_lossy()
                .into_owned();
            // Challenge answers and lock/temp files are transient; only certificates (*.crt)
            // are public: keys and the ACME account (which holds a key) are secrets.
            let transient =
                rel.starts_with("challenges/") || rel.split('/').any(|c| c.starts_with('.'));
            if transient {
                continue;
            }
            let secret = !rel.ends_with(".crt");
            if secret && !opts.include_secrets {
                omitted.push(format!("tls/{rel} (private key or ACME account)"));
                continue;
            }
            extra.push((format!("tls/{rel}"), file));
        }
    }
    for (member, path) in &extra {
        let (sha256, bytes) = hash_file(path)?;
        members.insert(member.clone(), Member { sha256, bytes });
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        flowsync_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: status.current_version(),
        backend: db.backend(),
        created_at: retention::rfc3339(now),
        hostname: hostname(),
        include_secrets: opts.include_secrets,
        omitted,
        tables: tables.clone(),
        members,
    };

    // 3. The archive, under a temporary name until it is complete and on disk.
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let partial = dir.join(format!(".{name}.partial"));
    let result = write_archive(
        &partial,
        &manifest,
        spooled,
        &extra,
        opts.passphrase.as_ref(),
    );
    if let Err(e) = result {
        let _ = fs::remove_file(&partial);
        return Err(disk_hint(e, &dir));
    }
    fs::rename(&partial, &final_path)
        .with_context(|| format!("renaming {} to {}", partial.display(), final_path.display()))?;
    sync_dir(&dir);

    // 4. Read it back before anything old is deleted.
    let verified = verify(&final_path, opts.passphrase.as_ref(), &mut Quiet);
    record_state(
        &dir,
        &final_path,
        verified.as_ref().err().map(|e| format!("{e:#}")),
    );
    verified.with_context(|| {
        format!(
            "the new archive {} failed verification",
            final_path.display()
        )
    })?;
    let pruned = match &opts.dest {
        Dest::Dir(d) => retention::prune(d, &opts.retention, now)?,
        Dest::File(_) => Vec::new(),
    };
    let bytes = fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
    // Run as root: the archive (and a directory this run created) go to the service user;
    // an existing directory such as /tmp or /etc keeps its owner.
    let mut owned = vec![final_path.as_path()];
    if created_dir {
        owned.push(dir.as_path());
    }
    crate::ownership::hand_to_service_user(&owned)?;
    Ok(Created {
        archive: final_path,
        bytes,
        rows,
        millis: started.elapsed().as_millis(),
        encrypted,
        include_secrets: opts.include_secrets,
        schema_version: manifest.schema_version,
        verified: true,
        pruned,
    })
}

async fn begin_snapshot(db: &Db) -> anyhow::Result<Tx> {
    Tx::snapshot(db).await
}

fn write_archive(
    partial: &Path,
    manifest: &Manifest,
    spooled: Vec<(String, File)>,
    extra: &[(String, PathBuf)],
    passphrase: Option<&SecretString>,
) -> anyhow::Result<()> {
    let file = create_private(partial)?;
    let buffered = BufWriter::with_capacity(1 << 20, file);
    let sink = match passphrase {
        Some(p) => Sink::Age(
            age::Encryptor::with_user_passphrase(p.clone())
                .wrap_output(buffered)
                .context("starting encryption")?,
        ),
        None => Sink::Plain(buffered),
    };
    let gz = flate2::write::GzEncoder::new(sink, flate2::Compression::new(3));
    let mut tar = tar::Builder::new(gz);
    let mtime = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let manifest_json = serde_json::to_vec_pretty(manifest)?;
    append(
        &mut tar,
        MANIFEST,
        manifest_json.len() as u64,
        mtime,
        &manifest_json[..],
    )?;
    for (member, mut f) in spooled {
        f.seek(io::SeekFrom::Start(0))?;
        let len = f.metadata()?.len();
        append(
            &mut tar,
            &member,
            len,
            mtime,
            BufReader::with_capacity(1 << 20, f),
        )?;
    }
    for (member, path) in extra {
        let f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let len = f.metadata()?.len();
        append(&mut tar, member, len, mtime, f)?;
    }
    let gz = tar.into_inner().context("finishing the archive")?;
    let sink = gz.finish().context("finishing compression")?;
    let file = sink.finish().context("finishing the archive")?;
    file.sync_all()
        .with_context(|| format!("syncing {}", partial.display()))?;
    Ok(())
}

/// The archive's byte sink: the file, or an age stream into it (which must be finished to
/// write its last chunk).
enum Sink {
    Plain(BufWriter<File>),
    Age(age::stream::StreamWriter<BufWriter<File>>),
}

impl Sink {
    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Sink::Plain(b) => b,
            Sink::Age(s) => s.finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    len: u64,
    mtime: u64,
    data: impl Read,
) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(len);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
        .with_context(|| format!("adding {path} to the archive"))
}

/// Opens an archive for reading, decrypting when it is an age file.
fn open(
    path: &Path,
    passphrase: Option<&SecretString>,
) -> anyhow::Result<tar::Archive<Box<dyn Read>>> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 19];
    let n = read_up_to(&mut file, &mut magic)?;
    drop(file);
    let file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let plain: Box<dyn Read> = if magic[..n].starts_with(AGE_MAGIC) {
        let Some(p) = passphrase else {
            bail!(
                "{} is encrypted; pass the passphrase file with --passphrase-file",
                path.display()
            );
        };
        let decryptor = age::Decryptor::new(file).map_err(|e| decrypt_error(e, path))?;
        let mut identity = age::scrypt::Identity::new(p.clone());
        identity.set_max_work_factor(24);
        let reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| decrypt_error(e, path))?;
        Box::new(reader)
    } else if magic[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(file)
    } else if n == 0 {
        bail!("{} is empty: not a FlowSync backup", path.display());
    } else {
        bail!(
            "{} is neither a gzip nor an age file: not a FlowSync backup",
            path.display()
        );
    };
    Ok(tar::Archive::new(Box::new(flate2::read::GzDecoder::new(
        plain,
    ))))
}

fn decrypt_error(e: age::DecryptError, path: &Path) -> anyhow::Error {
    match e {
        age::DecryptError::NoMatchingKeys
        | age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed => {
            anyhow::anyhow!("wrong passphrase for {}", path.display())
        }
        other => anyhow::anyhow!("{} cannot be decrypted: {other}", path.display()),
    }
}

/// A member's path inside the archive.
fn member_name(entry: &tar::Entry<'_, impl Read>, path: &Path) -> anyhow::Result<String> {
    Ok(entry
        .path()
        .map_err(|e| corrupt(e, path))?
        .to_string_lossy()
        .into_owned())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Explains a read failure in an archive (corruption shows up as a gzip, tar or age error).
fn corrupt(e: impl std::fmt::Display, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is damaged or truncated ({e}); use another archive",
        path.display()
    )
}

/// Largest manifest read (a real one is a few KiB, growing with the TLS files listed).
const MAX_MANIFEST: u64 = 1 << 20;
/// Most members an archive may list: the tables, the config and TLS files.
const MAX_MEMBERS: usize = 1024;

/// Checks an archive end to end, reading at most what its manifest declares: the manifest
/// comes first, is ours and is at most 1 MiB; it lists every table this flowsync knows once,
/// each with its member; every member appears once, with the size and SHA-256 the manifest
/// gives; every table's rows are JSON objects whose values fit their columns (no row longer
/// than [`tables::MAX_LINE`]) and number what the manifest says; nothing is missing or extra.
/// What only a database can check (keys, references, required fields) is checked by loading
/// the archive: `backup verify` does that in a scratch database, and `restore` in one
/// transaction that changes nothing when it fails.
pub fn verify(
    path: &Path,
    passphrase: Option<&SecretString>,
    progress: &mut dyn Progress,
) -> anyhow::Result<Manifest> {
    let mut archive = open(path, passphrase)?;
    let mut entries = archive.entries().map_err(|e| corrupt(e, path))?;
    let first = entries
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} holds no files: not a FlowSync backup", path.display()))?
        .map_err(|e| corrupt(e, path))?;
    let first_path = member_name(&first, path)?;
    if first_path != MANIFEST {
        bail!(
            "{} does not start with a manifest (found {first_path}): not a FlowSync backup",
            path.display()
        );
    }
    let declared = first.header().size().map_err(|e| corrupt(e, path))?;
    if declared > MAX_MANIFEST {
        bail!(
            "{}: the manifest is {declared} bytes; a FlowSync manifest is at most {} KiB: not a FlowSync backup",
            path.display(),
            MAX_MANIFEST / 1024
        );
    }
    let manifest: Manifest = serde_json::from_reader(first.take(MAX_MANIFEST))
        .map_err(|e| anyhow::anyhow!("{}: the manifest is not valid ({e})", path.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{}: unknown archive format {:?} (this flowsync reads {FORMAT})",
            path.display(),
            manifest.format
        );
    }
    check_manifest(&manifest).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let total: u64 = manifest.members.values().map(|m| m.bytes).sum();
    progress.start("verify", total);
    let mut seen = BTreeMap::new();
    let mut done = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some(expected) = manifest.members.get(&name) else {
            bail!("{}: {name} is not listed in the manifest", path.display());
        };
        if seen.insert(name.clone(), ()).is_some() {
            bail!("{}: {name} appears twice in the archive", path.display());
        }
        let size = entry.header().size().map_err(|e| corrupt(e, path))?;
        if size != expected.bytes {
            bail!(
                "{}: {name} is {size} bytes but the manifest says {}",
                path.display(),
                expected.bytes
            );
        }
        let mut hashing = HashingReader::new((&mut entry).take(expected.bytes), |n| {
            done += n;
            progress.update(done);
        });
        match table_member(&manifest, &name)? {
            Some((t, spec)) => {
                let checked = tables::check_rows(
                    spec,
                    &t.columns,
                    BufReader::with_capacity(1 << 16, &mut hashing),
                    false,
                );
                let rows = match checked {
                    Ok(rows) => rows,
                    Err(e) => {
                        // A bad row in a member that does not match its checksum is damage
                        // (say so); in one that does, the archive was made that way. Only a
                        // bounded rest is read to tell.
                        let _ = io::copy(&mut (&mut hashing).take(64 << 20), &mut io::sink());
                        let got = hashing.finish();
                        if got.bytes == expected.bytes && &got != expected {
                            bail!(
                                "{}: {name} does not match its checksum (damaged: {e:#})",
                                path.display()
                            );
                        }
                        if e.chain().any(|c| c.is::<io::Error>()) {
                            return Err(corrupt(format!("{name}: {e:#}"), path));
                        }
                        bail!("{}: {name}: {e:#}", path.display());
                    }
                };
                if rows != t.rows {
                    bail!(
                        "{}: {name} holds {rows} rows but the manifest says {}",
                        path.display(),
                        t.rows
                    );
                }
            }
            None => {
                io::copy(&mut hashing, &mut io::sink()).map_err(|e| corrupt(e, path))?;
            }
        }
        let got = hashing.finish();
        if &got != expected {
            bail!(
                "{}: {name} does not match its checksum (manifest: {} bytes, sha256 {}; archive: {} bytes, sha256 {})",
                path.display(),
                expected.bytes,
                expected.sha256,
                got.bytes,
                got.sha256
            );
        }
    }
    progress.finish();
    if let Some(missing) = manifest.members.keys().find(|m| !seen.contains_key(*m)) {
        bail!(
            "{}: {missing} is missing (the archive is incomplete)",
            path.display()
        );
    }
    Ok(manifest)
}

/// What a manifest must say to be read further: a bounded number of members, and each table
/// known, listed once, with a member of its own that the manifest lists.
fn check_manifest(m: &Manifest) -> anyhow::Result<()> {
    if m.members.len() > MAX_MEMBERS {
        bail!(
            "the manifest lists {} members; a FlowSync archive holds at most {MAX_MEMBERS}",
            m.members.len()
        );
    }
    let mut names = std::collections::BTreeSet::new();
    let mut members = std::collections::BTreeSet::new();
    for t in &m.tables {
        if tables::table(&t.name).is_none() {
            bail!(
                "the archive has a table {} this flowsync does not know",
                t.name
            );
        }
        if !names.insert(t.name.as_str()) {
            bail!("the manifest lists table {} twice", t.name);
        }
        if !members.insert(t.member.as_str()) {
            bail!("the manifest gives two tables the member {}", t.member);
        }
        if !m.members.contains_key(&t.member) {
            bail!(
                "table {} is in {}, which the manifest does not list (the archive is incomplete)",
                t.name,
                t.member
            );
        }
    }
    Ok(())
}

/// A reader that hashes and counts what passes through, reporting progress.
struct HashingReader<R, F> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: F,
}

impl<R: Read, F: FnMut(u64)> HashingReader<R, F> {
    fn new(inner: R, progress: F) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            progress,
        }
    }

    fn finish(self) -> Member {
        Member {
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
        }
    }
}

impl<R: Read, F: FnMut(u64)> Read for HashingReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Reads a passphrase file (first line, trailing newline removed; must not be empty).
pub fn read_passphrase(path: &Path) -> anyhow::Result<SecretString> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("the passphrase file {} is empty", path.display());
    }
    Ok(SecretString::from(line))
}

pub struct RestoreOptions<'a> {
    pub passphrase: Option<SecretString>,
    /// Replace a database that holds data (the caller backs it up first).
    pub force: bool,
    pub progress: &'a mut dyn Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub archive: PathBuf,
    pub backend_from: crate::db::Backend,
    pub backend_to: crate::db::Backend,
    pub schema_version: Option<i64>,
    pub migrated_after: Vec<i64>,
    pub rows: BTreeMap<String, u64>,
    pub millis: u128,
}

/// The retention policy configured in `[backup]`.
pub fn policy(config: &crate::config::Config) -> retention::Policy {
    retention::Policy {
        keep: config.backup.keep,
        keep_daily: config.backup.keep_daily,
        keep_weekly: config.backup.keep_weekly,
    }
}

/// Before migrations run on a database that holds data, one backup into `backup.dir`, so an
/// upgrade can be undone. Returns None when there was nothing to back up or it is switched off.
pub async fn before_migrate(
    db: &Db,
    config: &crate::config::Config,
) -> anyhow::Result<Option<Created>> {
    if !config.backup.before_migrate || !has_data(db).await? {
        return Ok(None);
    }
    let _lock = Lock::acquire(&config.server.data_dir)?;
    let created = create(
        db,
        CreateOptions {
            dest: Dest::Dir(config.backup.dir.clone()),
            include_secrets: config.backup.include_secrets,
            passphrase: None,
            config_file: config.backup.config_file.clone(),
            data_dir: config.server.data_dir.clone(),
            retention: policy(config),
            progress: &mut Quiet,
        },
    )
    .await?;
    Ok(Some(created))
}

/// Whether any FlowSync table holds rows (generated server secrets do not count).
pub async fn has_data(db: &Db) -> anyhow::Result<bool> {
    let mut tx = begin_snapshot(db).await?;
    for t in TABLES.iter().filter(|t| !t.secret) {
        if !tx.columns(t).await?.is_empty() && tx.count(t.name).await? > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Loads an archive into `db`. The caller holds the [`Lock`] and has checked (or backed up)
/// existing data; the archive is verified completely before the database is touched.
pub async fn restore(db: &Db, path: &Path, opts: RestoreOptions<'_>) -> anyhow::Result<Restored> {
    let started = Instant::now();
    let manifest = verify(path, opts.passphrase.as_ref(), opts.progress)?;
    let status = migrate::status(db)
        .await
        .context("reading the database's migrations")?;
    if let Some(v) = manifest.schema_version
        && !status.migrations.iter().any(|m| m.version == v)
    {
        bail!(
            "the archive's schema version {v} is unknown to this flowsync {} (it was made by flowsync {}); install that version or newer to restore it",
            env!("CARGO_PKG_VERSION"),
            manifest.flowsync_version
        );
    }
    if has_data(db).await? && !opts.force {
        bail!(NotEmpty);
    }

    // Every row must fit its column before anything is dropped.
    let postgres = db.backend() == crate::db::Backend::Postgres;
    let mut archive = open(path, opts.passphrase.as_ref())?;
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some((t, spec)) = table_member(&manifest, &name)? else {
            continue;
        };
        tables::check_rows(
            spec,
            &t.columns,
            BufReader::with_capacity(1 << 20, entry),
            postgres,
        )?;
    }

    // All or nothing, in one transaction: drop FlowSync's tables (empty, or backed up by the
    // caller under --force), build the schema at the archive's version, load, migrate forward,
    // commit. Any failure (a row the schema refuses, a full disk, a killed process) leaves the
    // database as it was.
    let before: Vec<i64> = status
        .migrations
        .iter()
        .filter(|m| manifest.schema_version.is_none_or(|v| m.version > v))
        .map(|m| m.version)
        .collect();
    let mut tx = Tx::write(db).await?;
    tx.drop_schema().await?;
    tx.migrate(manifest.schema_version).await?;
    tx.clear().await?;
    let mut archive = open(path, opts.passphrase.as_ref())?;
    let mut rows = BTreeMap::new();
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some((t, spec)) = table_member(&manifest, &name)? else {
            continue;
        };
        opts.progress.start(&t.name, t.rows);
        let progress = &mut *opts.progress;
        let n = tx
            .load(
                spec,
                &t.columns,
                BufReader::with_capacity(1 << 20, entry),
                |d| progress.update(d),
            )
            .await?;
        opts.progress.finish();
        rows.insert(t.name.clone(), n);
    }
    tx.fix_sequences().await?;
    tx.migrate(None).await?;
    tx.commit().await.context("committing the restore")?;
    let migrated_after = if manifest.schema_version.is_some() {
        before
    } else {
        Vec::new()
    };
    Ok(Restored {
        archive: path.to_path_buf(),
        backend_from: manifest.backend,
        backend_to: db.backend(),
        schema_version: manifest.schema_version,
        migrated_after,
        rows,
        millis: started.elapsed().as_millis(),
    })
}

/// The manifest entry and table definition of a data member (None for other members).
fn table_member<'m>(
    manifest: &'m Manifest,
    member: &str,
) -> anyhow::Result<Option<(&'m TableEntry, &'static tables::Table)>> {
    let Some(t) = manifest.tables.iter().find(|t| t.member == member) else {
        return Ok(None);
    };
    match tables::table(&t.name) {
        Some(spec) => Ok(Some((t, spec))),
        None => bail!(
            "the archive has a table {} this flowsync does not know",
            t.name
        ),
    }
}

/// The target database holds data and `--force` was not given.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database already holds rooms or messages; restore into an empty database, or pass --force to replace it (a backup of it is taken first)"
)]
pub struct NotEmpty;

/// Extracts one member (config or TLS material) to `to`; refuses to overwrite unless `force`.
pub fn extract(
    path: &Path,
    passphrase: Option<&SecretString>,
    prefix: &str,
    to: &Path,
    force: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut archive = open(path, passphrase)?;
    let mut written = Vec::new();
    for entry in archive.entries().map_err(|e| corrupt(e, path))? {
        let mut entry = entry.map_err(|e| corrupt(e, path))?;
        let name = member_name(&entry, path)?;
        let Some(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        // A file prefix ("config/flowsync.toml") names exactly one member.
        if !prefix.ends_with('/') && !rel.is_empty() {
            continue;
        }
        if prefix.ends_with('/') && rel.split('/').any(|c| c == ".." || c.is_empty()) {
            bail!("{}: unsafe member name {name}", path.display());
        }
        let target = if prefix.ends_with('/') {
            to.join(rel)
        } else {
            to.to_path_buf()
        };
        if target.exists() && !force {
            bail!("{} exists; pass --force to overwrite it", target.display());
        }
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut out = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode_0600()
            .open(&target)
            .with_context(|| format!("writing {}", target.display()))?;
        io::copy(&mut entry, &mut out).map_err(|e| corrupt(e, path))?;
        out.sync_all()?;
        written.push(target);
    }
    Ok(written)
}

/// A new file readable by its owner only (archives hold every chat message).
fn create_private(path: &Path) -> anyhow::Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode_0600()
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

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
struct StateFile {
    archives: BTreeMap<String, CheckState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckState {
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
fn clean_leftovers(dir: &Path) {
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
fn disk_hint(e: anyhow::Error, dir: &Path) -> anyhow::Error {
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

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Removes secret keys (those the registry marks secret) from a config file's text.
fn strip_secrets(text: &str) -> anyhow::Result<(String, Vec<String>)> {
    let mut doc: toml::Table = toml::from_str(text).context("the config file is not valid TOML")?;
    let mut left_out = Vec::new();
    for k in crate::config::keys::KEYS.iter().filter(|k| k.secret) {
        if let Some(toml::Value::Table(section)) = doc.get_mut(k.section)
            && section.remove(k.key).is_some()
        {
            left_out.push(k.dotted());
        }
    }
    let mut body = String::from(
        "# Copied by `flowsync backup` without secrets; set the keys listed in the manifest's\n# \"omitted\" entry again before using this file.\n",
    );
    body.push_str(&toml::to_string_pretty(&doc).context("writing the config copy")?);
    Ok((body, left_out))
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
