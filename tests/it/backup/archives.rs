//! Archives that are not what they claim: damaged, crafted to exhaust memory or disk, or with a
//! bad row, are refused by `verify` and `restore` with the reason, cheaply, and a failed restore
//! changes nothing.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn damaged_archives_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 5_000).await;
    let data = dir.path().join("data");
    let made = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json", "--output"])
            .arg(dir.path().join("b"))
            .output()
            .unwrap(),
    );
    let archive = PathBuf::from(made["archive"].as_str().unwrap());
    let bytes = std::fs::read(&archive).unwrap();
    let ok = flowsync(&url, &data)
        .args(["backup", "verify"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", out(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("test restore matched"),
        "{}",
        out(&ok)
    );

    let bad = dir.path().join("bad.tar.gz");
    let check = |bytes: &[u8], words: &[&str]| {
        std::fs::write(&bad, bytes).unwrap();
        for args in [vec!["backup", "verify"], vec!["restore"]] {
            let target = tempfile::tempdir().unwrap();
            let o = flowsync(&sqlite_url(target.path()), &target.path().join("data"))
                .args(&args)
                .arg(&bad)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(1), "{args:?}: {}", out(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                words.iter().any(|w| err.contains(w)),
                "{args:?} said: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    };
    // A flipped byte in the middle, a truncated file, an empty file, something else entirely.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    check(&flipped, &["damaged", "checksum"]);
    check(
        &bytes[..bytes.len() * 2 / 3],
        &["damaged", "truncated", "missing"],
    );
    check(b"", &["empty"]);
    check(b"hello, I am not a backup", &["not a FlowSync backup"]);

    // A manifest that lies about a checksum.
    let gz = flate2::read::GzDecoder::new(&bytes[..]);
    let mut archive_in = tar::Archive::new(gz);
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for e in archive_in.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        members.push((name, body));
    }
    let mut manifest: Value = serde_json::from_slice(&members[0].1).unwrap();
    manifest["members"]["data/room_messages.jsonl"]["sha256"] = json!("00".repeat(32));
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    let mut tarball = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, body) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o600);
        tarball.append_data(&mut h, name, &body[..]).unwrap();
    }
    let forged = tarball.into_inner().unwrap().finish().unwrap();
    check(&forged, &["does not match its checksum"]);
}

/// The members of a plain (gzip) archive, in order.
fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            (name, body)
        })
        .collect()
}

/// Packs members into an archive, with a manifest (the first member) made to agree with them:
/// sizes, checksums and row counts as a genuine backup would have them.
fn reseal(mut members: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    use sha2::Digest;
    let mut manifest: Value = serde_json::from_slice(&members[0].1).unwrap();
    for (name, body) in &members[1..] {
        manifest["members"][name] = json!({
            "sha256": hex::encode(sha2::Sha256::digest(body)),
            "bytes": body.len(),
        });
        for t in manifest["tables"].as_array_mut().unwrap() {
            if t["member"] == json!(name) {
                t["rows"] = json!(
                    body.split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                        .count()
                );
            }
        }
    }
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    pack(
        members
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    b.len() as u64,
                    Box::new(&b[..]) as Box<dyn std::io::Read>,
                )
            })
            .collect(),
    )
}

/// A tar.gz of members given as readers (so a huge member need not be held in memory).
fn pack(members: Vec<(String, u64, Box<dyn std::io::Read + '_>)>) -> Vec<u8> {
    let mut tarball = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, size, body) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o600);
        tarball.append_data(&mut h, &name, body).unwrap();
    }
    tarball.into_inner().unwrap().finish().unwrap()
}

/// Runs a command to its end: exit code, stderr, peak RSS (KiB, the kernel's high-water mark
/// read every 2 ms while it runs) and time taken.
fn measured(mut cmd: Command) -> (i32, String, i64, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let mut peak = 0i64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (
        status.code().unwrap_or(-1),
        reader.join().unwrap(),
        peak,
        started.elapsed(),
    )
}

/// A SQLite database of `n` messages in `dir`, its data directory, and the members of a
/// backup of it.
async fn genuine_archive(dir: &Path, n: u64) -> (String, PathBuf, Vec<(String, Vec<u8>)>) {
    let url = sqlite_with(dir, n).await;
    let data = dir.join("data");
    let made = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json", "--output"])
            .arg(dir.join("b"))
            .output()
            .unwrap(),
    );
    let members = unpack(&std::fs::read(made["archive"].as_str().unwrap()).unwrap());
    (url, data, members)
}

/// Peak RSS a refused archive may cost `verify` or `restore` (the binary itself needs ~20 MiB).
const REFUSAL_RSS_KIB: i64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn crafted_archives_are_refused_cheaply_and_completely() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, genuine) = genuine_archive(dir.path(), 50).await;
    let messages = genuine
        .iter()
        .position(|(n, _)| n == "data/room_messages.jsonl")
        .unwrap();
    let bad = dir.path().join("crafted.tar.gz");
    let refuse = |bytes: &[u8], words: &str| {
        std::fs::write(&bad, bytes).unwrap();
        for args in [vec!["backup", "verify"], vec!["restore"]] {
            let target = tempfile::tempdir().unwrap();
            let mut cmd = flowsync(&sqlite_url(target.path()), &target.path().join("data"));
            cmd.args(&args).arg(&bad);
            let (code, err, rss, took) = measured(cmd);
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(err.contains(words), "{args:?} said: {err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(rss < REFUSAL_RSS_KIB, "{args:?} peaked at {rss} KiB: {err}");
            assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        }
    };

    // A 256 MiB line (about 256 KiB compressed) where a row belongs.
    let huge: u64 = 256 << 20;
    let mut manifest: Value = serde_json::from_slice(&genuine[0].1).unwrap();
    manifest["members"]["data/room_messages.jsonl"] =
        json!({"sha256": "00".repeat(32), "bytes": huge});
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut members: Vec<(String, u64, Box<dyn std::io::Read>)> = vec![(
        "manifest.json".into(),
        manifest.len() as u64,
        Box::new(&manifest[..]),
    )];
    for (n, b) in &genuine[1..] {
        if n == "data/room_messages.jsonl" {
            members.push((
                n.clone(),
                huge,
                Box::new(std::io::Read::take(std::io::repeat(b'x'), huge)),
            ));
        } else {
            members.push((n.clone(), b.len() as u64, Box::new(&b[..])));
        }
    }
    refuse(&pack(members), "longer than 1024 KiB");

    // A manifest that is one 512 MiB string.
    let big: u64 = 512 << 20;
    let body = std::io::Read::chain(
        &b"{\"format\": \""[..],
        std::io::Read::chain(
            std::io::Read::take(std::io::repeat(b'a'), big - 14),
            &b"\"}"[..],
        ),
    );
    refuse(
        &pack(vec![("manifest.json".into(), big, Box::new(body))]),
        "a FlowSync manifest is at most",
    );

    // A table whose member is missing (the manifest still lists the table).
    let mut gone = genuine.clone();
    gone.remove(messages);
    let mut m: Value = serde_json::from_slice(&gone[0].1).unwrap();
    m["members"]
        .as_object_mut()
        .unwrap()
        .remove("data/room_messages.jsonl");
    gone[0].1 = serde_json::to_vec(&m).unwrap();
    refuse(&reseal(gone), "the manifest does not list");

    // The same member twice.
    let mut twice = genuine.clone();
    twice.push(genuine[messages].clone());
    refuse(&reseal(twice), "appears twice");
}

/// A genuine archive of a 100-message database with one extra line in room_messages.
fn with_bad_row(genuine: &[(String, Vec<u8>)], line: &str) -> Vec<u8> {
    let mut members = genuine.to_vec();
    let (_, body) = members
        .iter_mut()
        .find(|(n, _)| n == "data/room_messages.jsonl")
        .unwrap();
    body.extend_from_slice(line.as_bytes());
    body.push(b'\n');
    reseal(members)
}

async fn message_count(url: &str) -> i64 {
    let db = connect(url).await;
    let n = match &db {
        Db::Sqlite { read, .. } => {
            sqlx::query_scalar("SELECT COUNT(*) FROM room_messages")
                .fetch_one(read)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM room_messages")
                .fetch_one(p)
                .await
        }
    }
    .unwrap();
    db.close().await;
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_checks_what_restore_loads_and_a_failed_restore_changes_nothing() {
    crate::helpers::needs!(crate::helpers::Need::Postgres);
    let dir = tempfile::tempdir().unwrap();
    let (url, data, genuine) = genuine_archive(dir.path(), 100).await;
    let cases = [
        (
            "an orphaned message",
            r#"{"id":900001,"room_id":"no-such-room","participant_id":null,"sender_name":"x","type":"text","body":"orphan","created_at":1}"#,
            &["foreign key"][..],
        ),
        (
            "a message without a body",
            r#"{"id":900002,"room_id":"r_1","participant_id":null,"sender_name":"x","type":"text","body":null,"created_at":1}"#,
            &["not null", "not-null"][..],
        ),
        (
            "a duplicate key",
            r#"{"id":1,"room_id":"r_1","participant_id":null,"sender_name":"x","type":"text","body":"again","created_at":1}"#,
            &["unique"][..],
        ),
    ];
    for (what, line, words) in cases {
        let bad = dir.path().join("bad.tar.gz");
        std::fs::write(&bad, with_bad_row(&genuine, line)).unwrap();
        let o = flowsync(&url, &data)
            .args(["backup", "verify"])
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{what}: {}", out(&o));
        let said = |o: &Output| {
            let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
            words.iter().any(|w| err.contains(w))
        };
        assert!(said(&o), "{what}: {}", out(&o));
        // Restored over live data (7 messages) with --force, on both backends: refused, and
        // the target is exactly as it was.
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let target_dir = tempfile::tempdir().unwrap();
            let target = match backend {
                Backend::Sqlite => sqlite_with(target_dir.path(), 7).await,
                Backend::Postgres => {
                    let url = fresh_pg_database().await;
                    let db = connect(&url).await;
                    flowsync::db::migrate::apply(&db, |_, _, _| {})
                        .await
                        .unwrap();
                    exec(&db, ROOM_SQL, None).await;
                    for i in 0..7 {
                        exec(
                            &db,
                            &format!("INSERT INTO room_messages (room_id, sender_name, type, body, created_at) VALUES ('r_1', 'bot', 'text', 'm{i}', {i})"),
                            None,
                        )
                        .await;
                    }
                    db.close().await;
                    url
                }
            };
            let o = flowsync(&target, &target_dir.path().join("data"))
                .args(["restore", "--force"])
                .arg(&bad)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(1), "{what} {backend:?}: {}", out(&o));
            assert!(said(&o), "{what} {backend:?}: {}", out(&o));
            assert_eq!(
                message_count(&target).await,
                7,
                "{what} {backend:?}: the target is unchanged"
            );
        }
    }
}
