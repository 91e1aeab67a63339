//! The built binary, run in a fresh directory: help and exit codes, the embedded default,
//! migrations, the operator commands, and failures that must be one clear line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod reload;
mod systemd;

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");

/// A `flowsync` command in `dir`, isolated from any FLOWSYNC_* variables of the caller.
fn flowsync(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOWSYNC_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    flowsync(dir).args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failure is one `error:` line with the given exit code and words, without panics.
fn assert_fails(o: &Output, code: i32, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing in: {}", lines[0]);
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

/// A running `flowsync serve` child, its URL and what it has logged so far.
struct Served {
    child: Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    fn start(dir: &Path, args: &[&str]) -> Served {
        let mut child = flowsync(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = String::new();
        let url = loop {
            assert!(Instant::now() < deadline, "no readiness line in: {seen}");
            let line = lines.next().expect("serve exited early").expect("read");
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("url=").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(seen));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        Served { child, url, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signal");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn http(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().expect("method"), url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("sent");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(dir.path(), &["--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for w in [
        "serve",
        "migrate",
        "rooms",
        "Exit codes",
        "2  usage or configuration error",
        "3  a dependency is unreachable",
    ] {
        assert!(out.contains(w), "{w:?} missing in --help:\n{out}");
    }
    for sub in [
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["rooms", "--help"],
        vec!["init", "--help"],
        vec!["doctor", "--help"],
    ] {
        let o = run(dir.path(), &sub);
        assert!(
            o.status.success() && stdout(&o).contains("Examples:"),
            "{sub:?}"
        );
    }
    let o = run(dir.path(), &["doctor", "--help"]);
    assert!(stdout(&o).contains("Exit codes: 0 no check failed"));
}

#[test]
fn serve_runs_the_embedded_default_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = Served::start(dir.path(), &[]);
    let (status, body) = http("GET", &format!("{}/readyz", served.url), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"]["backend"], "sqlite");
    assert_eq!(body["state_store"], "in-process");
    let (status, room) = http(
        "POST",
        &format!("{}/api/rooms", served.url),
        Some(serde_json::json!({"display_name": "Ada"})),
    );
    assert_eq!(status, 201);
    let code = room["room_code"].as_str().expect("code").to_owned();

    // The operator commands see it; `rooms end` reaches the running server.
    let o = run(dir.path(), &["rooms", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(list[0]["code"], code.as_str());
    assert_eq!(list[0]["participant_count"], 1);
    let o = run(
        dir.path(),
        &["rooms", "show", &code.to_lowercase(), "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let show: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(show["participants"][0]["role"], "host");
    let port = served.url.rsplit(':').next().unwrap_or_default();
    // Over TCP the admin API needs the token; without --server the CLI uses the admin socket.
    let o = run(
        dir.path(),
        &[
            "rooms",
            "end",
            &code,
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_fails(
        &o,
        3,
        &["refused the admin request", "FLOWSYNC_ADMIN_TOKEN"],
    );
    let o = run(dir.path(), &["rooms", "end", &code, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ended: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (ended["ended"].as_bool(), ended["via_server"].as_bool()),
        (Some(true), Some(true))
    );
    let (status, _) = http("GET", &format!("{}/api/rooms/{code}", served.url), None);
    assert_eq!(status, 410);
    let o = run(dir.path(), &["rooms", "end", &code]);
    assert_fails(&o, 4, &["already ended"]);

    let status = served.terminate();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    assert!(
        dir.path().join("flowsync-data/flowsync.db").exists(),
        "SQLite in ./flowsync-data"
    );
}

#[test]
fn migrate_status_dry_run_and_apply() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(dir.path(), &["migrate", "--status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(st["backend"], "sqlite");
    assert!(st["pending"].as_u64().unwrap_or(0) >= 1);
    assert!(st["current_version"].is_null());

    let o = run(dir.path(), &["migrate", "--dry-run"]);
    assert!(
        o.status.success() && stdout(&o).contains("would apply"),
        "{}",
        stdout(&o)
    );
    let o = run(dir.path(), &["migrate", "--status", "--json"]);
    let st: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        st["pending"].as_u64().unwrap_or(0) >= 1,
        "dry run applied nothing"
    );

    let o = run(dir.path(), &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("applied"), "{}", stdout(&o));
    let o = run(dir.path(), &["migrate", "--status", "--json"]);
    let st: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(st["pending"], 0);
    assert!(
        st["migrations"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["applied"] == true))
    );
    let o = run(dir.path(), &["migrate"]);
    assert!(stdout(&o).contains("up to date"));
}

#[test]
fn serve_refuses_pending_migrations_without_auto_migrate() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = flowsync(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FLOWSYNC_DATABASE__AUTO_MIGRATE", "false")
        .output()
        .expect("runs");
    assert_fails(&o, 4, &["pending", "flowsync migrate"]);
}

#[test]
fn broken_config_is_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[server]\nhttp_listen = \"127.0.0.1:0\"\nlisten_typo = 1\n",
    )
    .expect("write");
    let o = run(
        dir.path(),
        &["--config", cfg.to_str().expect("utf8"), "serve"],
    );
    assert_fails(&o, 2, &["bad.toml:3:", "listen_typo"]);

    let o = run(
        dir.path(),
        &["--config", "/nonexistent/flowsync.toml", "migrate"],
    );
    assert_fails(&o, 2, &["/nonexistent/flowsync.toml"]);

    let o = flowsync(dir.path())
        .args(["serve"])
        .env("FLOWSYNC_ROOMS__IDLE_EXPIRY", "forever")
        .output()
        .expect("runs");
    assert_fails(&o, 2, &["rooms.idle_expiry", "FLOWSYNC_ROOMS__IDLE_EXPIRY"]);
}

#[test]
fn unreachable_dependencies_exit_3_without_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(
        dir.path(),
        &[
            "serve",
            "--database-url",
            "postgres://flowsync:pw-secret@127.0.0.1:1/flowsync",
        ],
    );
    assert_fails(
        &o,
        3,
        &[
            "cannot open database",
            "postgres://flowsync:********@127.0.0.1:1/flowsync",
            "PostgreSQL is running",
        ],
    );
    assert!(!stderr(&o).contains("pw-secret"));

    let o = run(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            "redis://127.0.0.1:1/",
        ],
    );
    assert_fails(&o, 3, &["cannot connect to Redis", "redis.url"]);

    let o = run(dir.path(), &["migrate", "--status"]);
    assert!(o.status.success());
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::write(ro.join("data"), "a file where a directory must be").expect("write");
    let o = flowsync(dir.path())
        .args([
            "serve",
            "--data-dir",
            ro.join("data").to_str().expect("utf8"),
        ])
        .output()
        .expect("runs");
    // A data directory FlowSync cannot write to is configuration to fix, not a dependency.
    assert_fails(
        &o,
        2,
        &["cannot write to the data directory", "server.data_dir"],
    );
}

#[test]
fn print_config_shows_sources_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = flowsync(dir.path())
        .args([
            "serve",
            "--print-config",
            "--listen",
            "127.0.0.1:9999",
            "--database-url",
            "postgres://u:topsecret@db/fs",
        ])
        .env("FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS", "500")
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("http_listen = \"127.0.0.1:9999\"  # flag --listen"),
        "{out}"
    );
    assert!(
        out.contains("message_max_chars = 500  # env FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS"),
        "{out}"
    );
    assert!(out.contains("reconnect_grace = \"1m\"  # default"), "{out}");
    assert!(
        out.contains("url = \"postgres://u:********@db/fs\""),
        "{out}"
    );
    assert!(!out.contains("topsecret"));
}

#[test]
fn a_port_clash_names_the_key_that_sets_the_port() {
    let dir = tempfile::tempdir().expect("tmp");
    // The embedded TURN server's port, held by another program.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let o = flowsync(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FLOWSYNC_TURN__MODE", "embedded")
        .env("FLOWSYNC_TURN__LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .expect("runs");
    assert_fails(&o, 1, &["cannot listen on", "turn.listen"]);
    assert!(!stderr(&o).contains("server.http_listen"), "{}", stderr(&o));
    // The HTTP port, held.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let o = flowsync(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .expect("runs");
    assert_fails(
        &o,
        1,
        &["cannot listen on", "server.http_listen", "--listen"],
    );
}

/// The operator's team rooms: a standing room made by the CLI (nobody in it yet), listed apart
/// with its link, shown with its host link, the host link and the create link rotated.
#[test]
fn rooms_create_standing_and_the_links() {
    let dir = tempfile::tempdir().expect("tmp");
    assert!(run(dir.path(), &["migrate"]).status.success());
    let o = run(
        dir.path(),
        &[
            "rooms",
            "create",
            "--standing",
            "--name",
            "Design Team",
            "--slug",
            "design",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let made: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(made["slug"], "design");
    let host_link = made["host_link"].as_str().expect("host link").to_owned();
    assert!(host_link.ends_with(&format!(
        "/r/design#host={}",
        &host_link[host_link.len() - 22..]
    )));
    let o = run(
        dir.path(),
        &["rooms", "create", "--standing", "--slug", "design"],
    );
    assert_fails(&o, 4, &["/r/design", "another slug"]);
    let o = run(dir.path(), &["rooms", "create", "--slug", "x-y"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--slug needs --standing: {}",
        stderr(&o)
    );
    assert!(
        run(dir.path(), &["rooms", "create", "--name", "Quick"])
            .status
            .success()
    );

    let o = run(dir.path(), &["rooms", "list"]);
    let list = stdout(&o);
    assert!(list.starts_with("standing rooms\n"), "{list}");
    assert!(
        list.contains("/r/design") && list.contains("\nrooms\n"),
        "{list}"
    );
    let o = run(dir.path(), &["rooms", "show", "design"]);
    assert!(
        stdout(&o).contains(&format!("host link {host_link}")),
        "{}",
        stdout(&o)
    );

    let o = run(
        dir.path(),
        &["rooms", "host-link", "design", "--rotate", "--json"],
    );
    let rotated: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_ne!(rotated["host_link"], host_link.as_str());
    let o = run(dir.path(), &["rooms", "host-link", "Quick"]);
    assert_fails(&o, 1, &["no room has the code or slug"]);

    let link = |args: &[&str]| -> String {
        let o = run(dir.path(), args);
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        v["create_link"].as_str().expect("link").to_owned()
    };
    let first = link(&["rooms", "create-link", "--json"]);
    assert!(first.contains("/#create="), "{first}");
    assert_eq!(link(&["rooms", "create-link", "--json"]), first);
    assert_ne!(link(&["rooms", "create-link", "--rotate", "--json"]), first);
}
