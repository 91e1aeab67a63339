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

mod archives;
mod faults;
mod operations;
mod round_trip;

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
