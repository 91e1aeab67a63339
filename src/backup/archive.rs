//! Writing an archive: the tables streamed to spool files in one read transaction, the config
//! (secrets removed unless asked) and certificates, packed into `.<name>.partial` with the
//! manifest first, optionally encrypted with age, fsynced and renamed; then verified, recorded
//! and pruned.

use super::*;

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

pub(super) async fn begin_snapshot(db: &Db) -> anyhow::Result<Tx> {
    Tx::snapshot(db).await
}

pub(super) fn write_archive(
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
pub(super) enum Sink {
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

pub(super) fn append(
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

pub(super) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Removes secret keys (those the registry marks secret) from a config file's text.
pub(super) fn strip_secrets(text: &str) -> anyhow::Result<(String, Vec<String>)> {
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
