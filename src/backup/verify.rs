//! Reading an archive back: opening it (decrypting when it is age-encrypted), checking the
//! manifest and every member's size and SHA-256 without trusting anything it says beyond
//! fixed limits, and reading the passphrase file.

use super::*;

/// Opens an archive for reading, decrypting when it is an age file.
pub(super) fn open(
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

pub(super) fn decrypt_error(e: age::DecryptError, path: &Path) -> anyhow::Error {
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
pub(super) fn member_name(
    entry: &tar::Entry<'_, impl Read>,
    path: &Path,
) -> anyhow::Result<String> {
    Ok(entry
        .path()
        .map_err(|e| corrupt(e, path))?
        .to_string_lossy()
        .into_owned())
}

pub(super) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
pub(super) fn corrupt(e: impl std::fmt::Display, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is damaged or truncated ({e}); use another archive",
        path.display()
    )
}

/// Largest manifest read (a real one is a few KiB, growing with the TLS files listed).
pub(super) const MAX_MANIFEST: u64 = 1 << 20;
/// Most members an archive may list: the tables, the config and TLS files.
pub(super) const MAX_MEMBERS: usize = 1024;

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
pub(super) fn check_manifest(m: &Manifest) -> anyhow::Result<()> {
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
pub(super) struct HashingReader<R, F> {
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
