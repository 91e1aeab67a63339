//! Backups with the built binary against real databases: round trips on SQLite and PostgreSQL
//! and across them while a writer keeps inserting, crash safety (SIGKILL mid-write, a full
//! disk), damaged archives, the lock, retention, encryption, and the backup taken before
//! migrations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowsync::db::Db;
use flowsync::db::dump::Tx;
use flowsync::db::tables::TABLES;
use serde_json::{Value, json};

use crate::helpers::{Backend, Setup, StateKind, fresh_pg_database};

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");
const ADMIN_TOKEN: &str = "admin-token-that-must-not-leak-0123456789";

/// `flowsync` with a database and data dir of our choosing (and nothing from the caller).
fn flowsync(db_url: &str, data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOWSYNC_") {
            c.env_remove(k);
        }
    }
    // A config file with a secret in it, next to the data dir (archives copy it, masked).
    let config = data_dir.with_extension("toml");
    if !config.exists() {
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, format!("# test config\n[server]\nadmin_token = \"{ADMIN_TOKEN}\"\n\n[rooms]\nmax_participants = 8\n")).unwrap();
    }
    c.env("FLOWSYNC_DATABASE__URL", db_url)
        .env("FLOWSYNC_SERVER__DATA_DIR", data_dir)
        .env("FLOWSYNC_LOG__LEVEL", "warn")
        .env("FLOWSYNC_CONFIG", &config);
    c
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", out(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out(o)))
}

/// One member of an unencrypted archive.
fn member(archive: &Path, name: &str) -> Option<Vec<u8>> {
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            return Some(body);
        }
    }
    None
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("flowsync.db").display())
}

/// Every row of every table, as JSON lines in key order.
async fn rows(db: &Db) -> Vec<(String, Vec<String>)> {
    let mut tx = Tx::snapshot(db).await.unwrap();
    let mut all = Vec::new();
    for t in TABLES {
        let cols = tx.columns(t).await.unwrap();
        let mut buf = Vec::new();
        tx.dump(t, &cols, &mut buf, |_| {}).await.unwrap();
        let lines = String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        all.push((t.name.to_owned(), lines));
    }
    all
}

fn table<'a>(all: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    &all.iter().find(|(n, _)| n == name).unwrap().1
}

async fn connect(url: &str) -> Db {
    Db::connect(&flowsync::config::DatabaseConfig {
        url: flowsync::config::Secret::new(url.to_owned()),
        max_connections: 4,
        auto_migrate: true,
    })
    .await
    .unwrap()
}

/// A long message with text from several scripts, emoji and quotes.
fn tricky(i: u64) -> String {
    let mut s = format!(
        "#{i} héllo 👋🏽 «quotes» \"json\" \\ back\\slash tab\t newline\n Ω≈ç√ 漢字 עברית 🧑‍💻"
    );
    if i.is_multiple_of(50) {
        s.push_str(&"long line ".repeat(190)); // ~1,900 characters
    }
    s
}

/// A source with rooms (one standing), participants (one kicked), chat through the API and bulk
/// messages.
async fn filled(backend: Backend) -> (crate::helpers::TestApp, String, PathBuf) {
    let setup = Setup::new(backend, StateKind::Memory).await;
    let url = setup.config.database.url.expose().clone();
    let data = setup.config.server.data_dir.clone();
    let app = setup.spawn().await;
    for r in 0..3 {
        let room = app
            .create_room(
                json!({"display_name": format!("Host {r}"), "name": format!("Room ✨ {r}")}),
            )
            .await;
        for g in 0..3 {
            let (status, _) = app
                .post(
                    &format!("/api/rooms/{}/join", room.code),
                    json!({"display_name": format!("Gäst {g} 🦊")}),
                    None,
                )
                .await;
            assert!(status.is_success());
        }
        let _live = app.connect(&room).await;
        for m in 0..20 {
            let (status, _) = app
                .post(
                    &format!("/api/rooms/{}/messages", room.code),
                    json!({"message": tricky(m), "type": "text"}),
                    Some(&room.token),
                )
                .await;
            assert!(status.is_success(), "post message");
        }
    }
    // A standing room: its slug, retention and host-link generation travel too.
    let team = app
        .create_room(json!({"display_name": "Ada", "name": "Team", "standing": true, "slug": "team-room", "retention_days": 90}))
        .await;
    assert_eq!(team.body["room"]["slug"], "team-room");
    // Its record: a goal checked in on an ended block, and a goal for the next one.
    let db = &app.app().db;
    let room_id = app.room_id(&team.code).await;
    use flowsync::db::rituals;
    let goal = rituals::set_goal(db, &room_id, 0, &team.participant_id, "Ada", "Ship “it” ✨")
        .await
        .unwrap();
    assert!(goal.is_some());
    let end = flowsync::rooms::timer::BlockEnd {
        block: 0,
        ended_at: 1_700_000_000_000,
        completed: true,
    };
    rituals::end_block(db, &room_id, &end, &["Ada".to_owned()])
        .await
        .unwrap();
    rituals::check_in(
        db,
        &room_id,
        0,
        &team.participant_id,
        "partly",
        Some("half"),
    )
    .await
    .unwrap()
    .expect("checked in");
    rituals::set_goal(db, &room_id, 1, &team.participant_id, "Ada", "Next")
        .await
        .unwrap();
    bulk_messages(&app.app().db, 2_000).await;
    (app, url, data)
}

/// Inserts `n` messages into the first room with plain SQL (fast, and the same on both backends).
async fn bulk_messages(db: &Db, n: u64) {
    let room: String = match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_scalar("SELECT id FROM rooms ORDER BY created_at LIMIT 1")
                .fetch_one(read)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar("SELECT id FROM rooms ORDER BY created_at LIMIT 1")
                .fetch_one(p)
                .await
        }
    }
    .unwrap();
    for chunk in 0..n.div_ceil(500) {
        let mut sql = String::from(
            "INSERT INTO room_messages (room_id, participant_id, sender_name, type, body, created_at) VALUES ",
        );
        let from = chunk * 500;
        let to = ((chunk + 1) * 500).min(n);
        let vals: Vec<String> = (from..to)
            .map(|i| {
                format!(
                    "($1, NULL, 'bulk', 'text', '{}', {})",
                    tricky(i).replace('\'', "''"),
                    1_700_000_000_000u64 + i
                )
            })
            .collect();
        sql.push_str(&vals.join(", "));
        exec(db, &sql, Some(&room)).await;
    }
}

/// Keeps inserting messages until stopped; returns how many it wrote.
fn writer(db: Db, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            bulk_messages(&db, 20).await;
            count.fetch_add(20, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Waits until the writer has written more than `past` rows.
async fn wait_for_writes(written: &AtomicU64, past: u64) {
    let started = Instant::now();
    while written.load(Ordering::Relaxed) <= past {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the writer stalled"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Back up `from` while a writer inserts, restore into `to`, and compare every row.
async fn round_trip(from: Backend, to: Backend, secrets: bool) {
    let (app, src_url, src_data) = filled(from).await;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let w = writer(app.app().db.clone(), stop.clone(), written.clone());
    wait_for_writes(&written, 0).await; // the writer is running before the backup starts
    let out_dir = tempfile::tempdir().unwrap();
    let mut args = vec!["backup", "--json", "--output"];
    let out_path = out_dir.path().display().to_string();
    args.push(&out_path);
    if secrets {
        args.push("--include-secrets");
    }
    let made = tokio::task::spawn_blocking({
        let (u, d, a) = (
            src_url.clone(),
            src_data.clone(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        move || flowsync(&u, &d).args(&a).output().unwrap()
    })
    .await
    .unwrap();
    // More rows after the snapshot, so the source ends up ahead of the archive.
    wait_for_writes(&written, written.load(Ordering::Relaxed)).await;
    stop.store(true, Ordering::Relaxed);
    w.await.unwrap();
    let made = json_of(&made);
    let archive = made["archive"].as_str().unwrap().to_owned();
    assert!(made["verified"].as_bool().unwrap());
    assert!(written.load(Ordering::Relaxed) > 0, "the writer ran");
    let cfg = member(Path::new(&archive), "config/flowsync.toml")
        .expect("the config file is in the archive");
    let cfg = String::from_utf8(cfg).unwrap();
    assert_eq!(
        cfg.contains(ADMIN_TOKEN),
        secrets,
        "secret config keys only with --include-secrets:\n{cfg}"
    );
    assert!(cfg.contains("max_participants = 8"), "{cfg}");

    let target_dir = tempfile::tempdir().unwrap();
    let target_url = match to {
        Backend::Sqlite => sqlite_url(target_dir.path()),
        Backend::Postgres => fresh_pg_database().await,
    };
    let restored = flowsync(&target_url, &target_dir.path().join("data"))
        .args(["restore", &archive, "--json"])
        .output()
        .unwrap();
    let restored = json_of(&restored);
    assert_eq!(
        restored["restored"]["rows"]["room_messages"],
        made["rows"]["room_messages"]
    );

    let source = rows(&app.app().db).await;
    let target_db = connect(&target_url).await;
    let target = rows(&target_db).await;
    assert_eq!(
        table(&source, "goals").len(),
        2,
        "the record is in the backup"
    );
    assert_eq!(table(&source, "work_blocks").len(), 1);
    for name in [
        "rooms",
        "participants",
        "room_sessions",
        "goals",
        "work_blocks",
    ] {
        assert_eq!(
            table(&source, name),
            table(&target, name),
            "{name} differs after {from:?} → {to:?}"
        );
    }
    // Messages: the snapshot is every message up to some id, with no gaps, byte for byte.
    let (src_msgs, dst_msgs) = (
        table(&source, "room_messages"),
        table(&target, "room_messages"),
    );
    assert!(
        dst_msgs.len() >= 2_060,
        "{} messages restored",
        dst_msgs.len()
    );
    assert_eq!(
        &src_msgs[..dst_msgs.len()],
        dst_msgs,
        "restored messages are a prefix of the source's"
    );
    assert!(
        src_msgs.len() > dst_msgs.len(),
        "the writer kept writing after the snapshot"
    );
    if secrets {
        assert_eq!(
            table(&source, "server_secrets"),
            table(&target, "server_secrets")
        );
    } else {
        assert!(
            table(&target, "server_secrets").is_empty(),
            "secrets stay out unless asked"
        );
    }
    // The restored database is current and takes new rows (sequences follow restored ids).
    let status = flowsync::db::migrate::status(&target_db).await.unwrap();
    assert!(status.pending().is_empty());
    bulk_messages(&target_db, 1).await;
    target_db.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_sqlite() {
    round_trip(Backend::Sqlite, Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_postgres() {
    crate::helpers::needs!(crate::helpers::Need::Postgres);
    round_trip(Backend::Postgres, Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_to_postgres() {
    crate::helpers::needs!(crate::helpers::Need::Postgres);
    round_trip(Backend::Sqlite, Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_sqlite() {
    crate::helpers::needs!(crate::helpers::Need::Postgres);
    round_trip(Backend::Postgres, Backend::Sqlite, false).await;
}

const ROOM_SQL: &str = "INSERT INTO rooms (id, code, name, max_participants, timer_settings, status, created_at, last_activity_at, expires_at) \
     VALUES ('r_1', 'ABCDEF', 'Bulk', 10, '{}', 'active', 1, 1, 9999999999999)";

/// Runs one statement on the writer, with an optional first parameter.
async fn exec(db: &Db, sql: &str, bind: Option<&str>) {
    let q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    let q2 = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    match db {
        Db::Sqlite { write, .. } => {
            let q = if let Some(b) = bind {
                q.bind(b.to_owned())
            } else {
                q
            };
            q.execute(write).await.unwrap();
        }
        Db::Postgres(p) => {
            let q = if let Some(b) = bind {
                q2.bind(b.to_owned())
            } else {
                q2
            };
            q.execute(p).await.unwrap();
        }
    }
}

/// A database at the first schema version with one room in it; returns that version.
async fn old_schema_with_a_room(url: &str) -> i64 {
    let db = connect(url).await;
    let first = flowsync::db::migrate::status(&db).await.unwrap().migrations[0].version;
    flowsync::db::migrate::apply_to(&db, first).await.unwrap();
    exec(&db, ROOM_SQL, None).await;
    db.close().await;
    first
}

/// A migrated SQLite database with `n` messages, made without a server.
async fn sqlite_with(dir: &Path, n: u64) -> String {
    let url = sqlite_url(dir);
    let db = connect(&url).await;
    flowsync::db::migrate::apply(&db, |_, _, _| {})
        .await
        .unwrap();
    exec(&db, ROOM_SQL, None).await;
    exec(
        &db,
        &format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) \
             INSERT INTO room_messages (room_id, sender_name, type, body, created_at) \
             SELECT 'r_1', 'bot', 'text', 'message ' || x || ' ' || hex(randomblob(60)), x FROM c"
        ),
        None,
    )
    .await;
    db.close().await;
    url
}

fn archives_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_write_leaves_no_complete_looking_archive() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 400_000).await;
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let mut child = flowsync(&url, &data)
        .args(["backup", "--output"])
        .arg(&backups)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while it writes the archive itself (its `.partial` file exists).
    let started = Instant::now();
    while !archives_in(&backups)
        .iter()
        .any(|n| n.ends_with(".partial"))
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup finished before it could be killed mid-write; give it more rows"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "backup never started writing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let left = archives_in(&backups);
    assert!(
        left.iter().all(|n| n.starts_with('.')),
        "only hidden work files may remain: {left:?}"
    );

    let again = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json", "--output"])
            .arg(&backups)
            .output()
            .unwrap(),
    );
    assert_eq!(again["rows"]["room_messages"], 400_000);
    let left = archives_in(&backups);
    assert_eq!(
        left.iter().filter(|n| !n.starts_with('.')).count(),
        1,
        "{left:?}"
    );
    assert!(
        !left
            .iter()
            .any(|n| n.ends_with(".partial") || n.starts_with(".flowsync-backup-")),
        "leftovers cleaned: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 50_000).await;
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status();
    if !mounted.map(|s| s.success()).unwrap_or(false) {
        eprintln!(
            "SKIPPED: cannot mount a small tmpfs here (needs root); the full-disk check did not run"
        );
        return;
    }
    let o = flowsync(&url, &dir.path().join("data"))
        .args(["backup", "--output"])
        .arg(&small)
        .output()
        .unwrap();
    let listing = archives_in(&small);
    Command::new("umount").arg(&small).status().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is full") && err.contains("no archive was written"),
        "{err}"
    );
    assert!(
        listing.is_empty(),
        "nothing left on the full disk: {listing:?}"
    );
}

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

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_while_one_holds_the_lock_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 10).await;
    let data = dir.path().join("data");
    let _held = flowsync::backup::Lock::acquire(&data).unwrap();
    for args in [vec!["backup"], vec!["restore", "/nonexistent.tar.gz"]] {
        let o = flowsync(&url, &data).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(5), "{args:?}: {}", out(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("another flowsync backup or restore is running")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_keeps_what_the_policy_says_and_ignores_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 10).await;
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    // Ten older archives, one a day, plus files that are not ours.
    for d in 1..=10 {
        std::fs::write(
            backups.join(format!("flowsync-0.0.9-202601{d:02}T030000Z.tar.gz")),
            b"old",
        )
        .unwrap();
    }
    std::fs::write(backups.join("notes.txt"), b"mine").unwrap();
    std::fs::write(backups.join("flowsync-important.tar.gz"), b"mine").unwrap();
    let made = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json", "--keep", "3", "--output"])
            .arg(&backups)
            .output()
            .unwrap(),
    );
    assert_eq!(made["pruned"].as_array().unwrap().len(), 8);
    let left = archives_in(&backups);
    let ours: Vec<&String> = left
        .iter()
        .filter(|n| n.starts_with("flowsync-0"))
        .collect();
    assert_eq!(ours.len(), 3, "{left:?}");
    assert!(
        ours.iter().any(|n| n.contains("20260110T"))
            && ours.iter().any(|n| n.contains("20260109T"))
    );
    assert!(
        left.contains(&"notes.txt".to_owned())
            && left.contains(&"flowsync-important.tar.gz".to_owned())
    );

    // Daily on top of keep: the newest of each of the last 5 days survives.
    let made = json_of(
        &flowsync(&url, &data)
            .args([
                "backup",
                "--json",
                "--keep",
                "1",
                "--keep-daily",
                "3",
                "--output",
            ])
            .arg(&backups)
            .output()
            .unwrap(),
    );
    let left = archives_in(&backups);
    let ours: Vec<&String> = left
        .iter()
        .filter(|n| n.starts_with("flowsync-0"))
        .collect();
    assert_eq!(
        ours.len(),
        3,
        "newest + the two newest other days: {left:?} ({made})"
    );

    let listed = json_of(
        &flowsync(&url, &data)
            .args(["backup", "list", "--json", "--dir"])
            .arg(&backups)
            .output()
            .unwrap(),
    );
    let states: Vec<&str> = listed["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states[0], "verified", "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_round_trip_and_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 1_000).await;
    let data = dir.path().join("data");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let made = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json", "--encrypt-with"])
            .arg(&pass)
            .arg("--output")
            .arg(dir.path().join("b"))
            .output()
            .unwrap(),
    );
    let archive = made["archive"].as_str().unwrap().to_owned();
    assert!(archive.ends_with(".tar.gz.age"), "{archive}");
    let head = std::fs::read(&archive).unwrap();
    assert!(head.starts_with(b"age-encryption.org/"));
    assert!(
        !head.windows(8).any(|w| w == b"message "),
        "no plaintext inside"
    );

    let target = tempfile::tempdir().unwrap();
    let turl = sqlite_url(target.path());
    let tdata = target.path().join("data");
    let no_pass = flowsync(&turl, &tdata)
        .args(["restore", &archive])
        .output()
        .unwrap();
    assert_eq!(no_pass.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_pass.stderr).contains("--passphrase-file"),
        "{}",
        out(&no_pass)
    );
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "Tr0ub4dor&3").unwrap();
    let bad = flowsync(&turl, &tdata)
        .args(["restore", &archive, "--passphrase-file"])
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("wrong passphrase"),
        "{}",
        out(&bad)
    );
    let good = json_of(
        &flowsync(&turl, &tdata)
            .args(["restore", &archive, "--json", "--passphrase-file"])
            .arg(&pass)
            .output()
            .unwrap(),
    );
    assert_eq!(good["restored"]["rows"]["room_messages"], 1_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_data_without_force_and_backs_it_up_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 100).await;
    let data = dir.path().join("data");
    let made = json_of(
        &flowsync(&url, &data)
            .args(["backup", "--json"])
            .output()
            .unwrap(),
    );
    let archive = made["archive"].as_str().unwrap().to_owned();
    assert!(
        archive.starts_with(&data.join("backups").display().to_string()),
        "default dir is <data_dir>/backups: {archive}"
    );
    let refused = flowsync(&url, &data)
        .args(["restore", &archive])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(4), "{}", out(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    // keep = 1: the safety backup must not prune the archive being restored; the archived
    // config (secret keys removed) comes back with --restore-config.
    let config_file = data.with_extension("toml");
    std::fs::write(&config_file, "# replaced by the restore\n").unwrap();
    let forced = json_of(
        &flowsync(&url, &data)
            .env("FLOWSYNC_BACKUP__KEEP", "1")
            .args(["restore", &archive, "--force", "--restore-config", "--json"])
            .output()
            .unwrap(),
    );
    let safety = forced["safety_backup"].as_str().unwrap();
    assert!(Path::new(safety).exists());
    assert!(
        Path::new(&archive).exists(),
        "the restored archive was kept"
    );
    assert_eq!(forced["restored"]["rows"]["room_messages"], 100);
    let restored_config = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        restored_config.contains("max_participants = 8"),
        "{restored_config}"
    );
    assert!(!restored_config.contains(ADMIN_TOKEN), "{restored_config}");
    assert_eq!(forced["written"][0], config_file.display().to_string());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&archive).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "archives are private");
    let state = data.join("backups").join(".flowsync-backups.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(
        mode & 0o777,
        0o600,
        "so is the verification state beside them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_back_up_a_database_with_data_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let data = dir.path().join("data");
    // A database at the first schema version, with a room in it.
    let first = old_schema_with_a_room(&url).await;
    let migrated = json_of(
        &flowsync(&url, &data)
            .args(["migrate", "--json"])
            .output()
            .unwrap(),
    );
    let archive = migrated["backup"]
        .as_str()
        .expect("a backup before migrating")
        .to_owned();
    // That archive restores the old schema's data into a new database, then migrates it.
    let target = tempfile::tempdir().unwrap();
    let restored = json_of(
        &flowsync(&sqlite_url(target.path()), &target.path().join("data"))
            .args(["restore", &archive, "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(restored["restored"]["schema_version"], first);
    assert!(
        !restored["restored"]["migrated_after"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(restored["restored"]["rows"]["rooms"], 1);
    // Nothing to migrate, nothing to back up; --no-backup skips it.
    let again = json_of(
        &flowsync(&url, &data)
            .args(["migrate", "--json"])
            .output()
            .unwrap(),
    );
    assert!(again["backup"].is_null());
}

/// `serve` auto-migrating an older database with data backs it up first, like `migrate`.
#[tokio::test(flavor = "multi_thread")]
async fn serve_backs_up_before_auto_migrating() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let data = dir.path().join("data");
    old_schema_with_a_room(&url).await;
    let mut child = flowsync(&url, &data)
        .env("FLOWSYNC_LOG__LEVEL", "info")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let ready = line.contains("url=");
        log.push(line);
        if ready {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
    let log = log.join("\n");
    assert!(
        log.contains("backed up the database before migrating"),
        "{log}"
    );
    let archives: Vec<String> = archives_in(&data.join("backups"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}\n{log}");
}

/// The daily backup units verify, and the service is hardened like the main one.
#[test]
fn backup_units_verify_and_are_hardened() {
    crate::helpers::needs!(crate::helpers::Need::Tool("systemd-analyze"));
    let score =
        crate::helpers::check_units(BIN, &["flowsync-backup.service", "flowsync-backup.timer"]);
    assert!(score <= 2.0, "exposure {score} > 2.0");
    let timer = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/flowsync-backup.timer"
    ))
    .unwrap();
    for want in ["Persistent=true", "RandomizedDelaySec=", "OnCalendar="] {
        assert!(timer.contains(want), "timer lacks {want}");
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_encrypted_backup_leaves_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_with(dir.path(), 400_000).await;
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    for delay in [150u64, 400, 900] {
        let mut child = flowsync(&url, &data)
            .args(["backup", "--encrypt-with"])
            .arg(&pass)
            .arg("--output")
            .arg(&backups)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup finished within {delay} ms; give it more rows"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        // Whatever is left (an encrypted partial archive at most) holds no message text.
        let mut stack = vec![backups.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(8).any(|w| w == b"message "),
                    "{} holds plaintext after a kill at {delay} ms",
                    p.display()
                );
            }
        }
    }
}
