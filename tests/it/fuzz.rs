//! Property-based fuzzing (proptest) of the decoders that face the network and the disk:
//! Socket.IO event payloads and frames, REST bodies, the config file, the backup archive reader
//! and the text cleaning every name and message goes through. The server runs as the built
//! binary, so a panic anywhere (a handler, a socket task) shows on its stderr and fails the
//! test. CI runs a bounded number of cases; `FUZZ_CASES=20000 cargo test --release
//! --test it fuzz::` runs longer. A failure is shrunk and saved in
//! `tests/it/proptest-regressions/fuzz.txt`, which is committed: it is replayed first on every
//! later run.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, FileFailurePersistence, TestRunner};
use serde_json::{Value, json};

use crate::helpers::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(PropConfig {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/proptest-regressions/fuzz.txt",
        ))),
        ..PropConfig::default()
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[\\x00-\\x1f\\u{202e}\\u{200d}a-z]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("to".to_owned()),
                    Just("message".to_owned()),
                    Just("participant_id".to_owned()),
                    Just("display_name".to_owned()),
                    Just("audio".to_owned()),
                    Just("work_minutes".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON text: a valid document, or bytes that are not one.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,60}",
        1 => "[\\[\\]{}\",:0-9a-z\\\\]{0,40}",
    ]
}

/// `flowsync serve` on a free loopback port, its stderr kept to look for panics.
struct Served {
    child: Child,
    url: String,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn healthz(rt: &tokio::runtime::Runtime, url: &str) -> Option<u16> {
    rt.block_on(async {
        reqwest::get(format!("{url}/healthz"))
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

/// Creates a room; its JSON answer.
fn create_room(rt: &tokio::runtime::Runtime, url: &str) -> Value {
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/api/rooms"))
            .json(&json!({"name": "Fuzz", "display_name": "Ada"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json")
    })
}

impl Served {
    fn start(rt: &tokio::runtime::Runtime) -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let stderr = dir.path().join("stderr.log");
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("FLOWSYNC_") {
                c.env_remove(k);
            }
        }
        let child = c
            .args(["serve", "--quiet", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            // Fuzzing is not a flood: limits would answer 429 before the decoders run.
            .env("FLOWSYNC_ROOMS__CREATE_RATE_PER_IP", "1000000/second")
            .env("FLOWSYNC_ROOMS__JOIN_RATE_PER_IP", "1000000/second")
            .env("FLOWSYNC_ROOMS__LOOKUP_RATE_PER_IP", "1000000/second")
            .env(
                "FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT",
                "1000000/second",
            )
            .env("FLOWSYNC_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("serve starts");
        let url = format!("http://127.0.0.1:{port}");
        let served = Served {
            child,
            url,
            stderr,
            _dir: dir,
        };
        let started = std::time::Instant::now();
        while healthz(rt, &served.url).is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }

    /// Fails if the server panicked or exited.
    fn assert_healthy(&mut self, rt: &tokio::runtime::Runtime) {
        let mut log = String::new();
        let _ = std::fs::File::open(&self.stderr).and_then(|mut f| f.read_to_string(&mut log));
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
        assert!(
            self.child.try_wait().expect("status").is_none(),
            "the server exited:\n{log}"
        );
        assert_eq!(healthz(rt, &self.url), Some(200));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rest_bodies_never_make_a_server_error() {
    let rt = rt();
    let mut served = Served::start(&rt);
    let http = reqwest::Client::new();
    let room = create_room(&rt, &served.url);
    let code = room["room_code"].as_str().expect("code").to_owned();
    let token = room["token"].as_str().expect("token").to_owned();
    let paths = [
        "/api/rooms".to_owned(),
        format!("/api/rooms/{code}/join"),
        format!("/api/rooms/{code}/messages"),
        format!("/api/rooms/{code}/messages/export-link"),
    ];
    let strategy = (0..paths.len(), json_text(), any::<bool>());
    runner(96)
        .run(&strategy, |(p, body, authed)| {
            let mut req = http
                .post(format!("{}{}", served.url, paths[p]))
                .header("content-type", "application/json")
                .body(body.clone());
            if authed {
                req = req.bearer_auth(&token);
            }
            let res = rt.block_on(req.send()).expect("an answer");
            prop_assert!(
                res.status().as_u16() < 500,
                "POST {} {body:?}: {}",
                paths[p],
                res.status()
            );
            Ok(())
        })
        .expect("no server error");
    served.assert_healthy(&rt);
}

#[test]
fn socket_payloads_and_frames_never_break_the_server() {
    let rt = rt();
    let mut served = Served::start(&rt);
    let room = create_room(&rt, &served.url);
    let token = room["token"].as_str().expect("token").to_owned();
    let target = rt
        .block_on(flowsync::bench::sio::Target::from_url(&served.url))
        .expect("target");
    let connect = || {
        rt.block_on(async {
            let mut c = flowsync::bench::sio::Conn::connect(&target, None, &token)
                .await
                .expect("the socket connects");
            crate::helpers::next_event(&mut c, "room-joined").await;
            c
        })
    };
    let conn = std::cell::RefCell::new(connect());
    // Ending or leaving the room would end the run early; every other event is fair game.
    let events: Vec<&str> = flowsync::signaling::protocol::client::ALL
        .iter()
        .copied()
        .filter(|e| !["end-room", "leave-room"].contains(e))
        .chain(["no-such-event"])
        .collect();
    let strategy = (0..events.len(), json_text(), 0u8..3);
    runner(160)
        .run(&strategy, |(e, data, how)| {
            let mut c = conn.borrow_mut();
            let sent = rt.block_on(async {
                match how {
                    0 => c.emit_json(events[e], &data).await,
                    1 => c.emit_with_ack(events[e], &json!(data), 9).await,
                    // A frame that is not a Socket.IO event at all.
                    _ => c.send_raw(&data).await,
                }
            });
            if sent.is_err() {
                // The server closed this socket (a malformed frame, or the event budget):
                // that is an answer; go on with a fresh one.
                drop(c);
                *conn.borrow_mut() = connect();
            }
            Ok(())
        })
        .expect("no failure");
    std::thread::sleep(Duration::from_millis(300));
    served.assert_healthy(&rt);
    // The room still works for a fresh connection.
    let mut fresh = connect();
    rt.block_on(async {
        fresh
            .emit_with_ack("chat-message", &json!({"message": "still here"}), 1)
            .await
            .expect("send");
        let ack = crate::helpers::next_event(&mut fresh, "ack:1").await;
        assert_eq!(ack["ok"], true, "{ack}");
    });
}

#[test]
fn config_files_load_or_fail_with_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys: Vec<String> = flowsync::config::keys::KEYS
        .iter()
        .map(|k| format!("{}.{}", k.section, k.key))
        .collect();
    let value = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        "\"[^\"\\\\]{0,20}\"",
        any::<i64>().prop_map(|n| n.to_string()),
        Just("true".to_owned()),
        Just("[\"127.0.0.1/8\", \"::1\"]".to_owned()),
        Just("\"0s\"".to_owned()),
        Just("\"1/second\"".to_owned()),
    ];
    let file = prop_oneof![
        prop::collection::vec((0..keys.len(), value), 0..6).prop_map(move |kv| {
            kv.into_iter()
                .map(|(k, v)| {
                    let (section, key) = keys[k].split_once('.').expect("section.key");
                    format!("[{section}]\n{key} = {v}\n")
                })
                .collect::<String>()
        }),
        ".{0,200}",
    ];
    runner(256)
        .run(&file, |text| {
            let path = dir.path().join("flowsync.toml");
            std::fs::write(&path, &text).expect("write");
            let r = flowsync::config::Config::load_with_env(
                &flowsync::config::LoadOptions {
                    path: Some(path),
                    flags: vec![],
                },
                Vec::<(String, String)>::new(),
            );
            if let Err(e) = r {
                prop_assert!(!e.to_string().is_empty(), "an error says what is wrong");
            }
            Ok(())
        })
        .expect("config loading never panics");
}

#[test]
fn backup_reader_refuses_damaged_archives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = real_archive(dir.path());
    let good = std::fs::read(&archive).expect("archive");
    let strategy = prop_oneof![
        // A real archive with bytes changed, cut short, or grown.
        prop::collection::vec((0..good.len(), any::<u8>()), 1..8).prop_map({
            let good = good.clone();
            move |edits| {
                let mut b = good.clone();
                for (at, byte) in edits {
                    b[at] ^= byte | 1;
                }
                b
            }
        }),
        (0..good.len()).prop_map({
            let good = good.clone();
            move |n| good[..n].to_vec()
        }),
        prop::collection::vec(any::<u8>(), 0..2048),
    ];
    runner(128)
        .run(&strategy, |bytes| {
            let path = dir.path().join("damaged.tar.gz");
            std::fs::write(&path, &bytes).expect("write");
            let mut quiet = flowsync::backup::Quiet;
            // Damage the checksums catch is refused; a change gzip ignores (its header's
            // timestamp or name) may still verify.
            if let Err(e) = flowsync::backup::verify(&path, None, &mut quiet) {
                let message = format!("{e:#}");
                prop_assert!(!message.is_empty());
            }
            Ok(())
        })
        .expect("the archive reader never panics");
}

/// A backup of a fresh server's database (made by the binary, as cron does).
fn real_archive(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let out = dir.join("backups");
    let o = Command::new(BIN)
        .arg("migrate")
        .env("FLOWSYNC_SERVER__DATA_DIR", &data)
        .env_remove("FLOWSYNC_DATABASE__URL")
        .output()
        .expect("migrate");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(BIN)
        .args(["backup", "--json", "--output"])
        .arg(&out)
        .env("FLOWSYNC_SERVER__DATA_DIR", &data)
        .env_remove("FLOWSYNC_DATABASE__URL")
        .output()
        .expect("backup");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    v["archive"].as_str().expect("archive path").into()
}

#[test]
fn text_cleaning_leaves_nothing_that_lies() {
    use flowsync::rooms::text::{clean_chat, clean_name, transcript_body};
    let text = prop_oneof![
        ".{0,80}",
        "[\\x00-\\x1f\\x7f\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}\\u{feff} a-z\\n\\r\\t\\u{1f469}\\u{1f4bb}]{0,40}",
    ];
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    runner(2048)
        .run(&text, |s| {
            let name = clean_name(&s);
            prop_assert!(!name.chars().any(|c| c.is_control() || bidi(c)), "{name:?}");
            prop_assert_eq!(name.trim(), name.as_str());
            prop_assert_eq!(clean_name(&name), name.clone(), "idempotent");
            let chat = clean_chat(&s);
            prop_assert!(
                !chat
                    .chars()
                    .any(|c| (c.is_control() && c != '\n') || bidi(c)),
                "{chat:?}"
            );
            prop_assert_eq!(clean_chat(&chat), chat.clone(), "idempotent");
            let body = transcript_body(&chat);
            for line in body.lines().skip(1) {
                prop_assert!(line.starts_with("    "), "{body:?}");
            }
            Ok(())
        })
        .expect("clean text");
}
