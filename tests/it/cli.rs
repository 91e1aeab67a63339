//! The built binary, run in a fresh directory: help and exit codes, the embedded default,
//! migrations, the operator commands, and failures that must be one clear line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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
fn sighup_reloads_what_can_change_and_survives_a_broken_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("flowsync.toml");
    let data = dir.path().join("data");
    // The embedded TURN server: its secret and URLs are derived at start.
    let turn_port = crate::helpers::free_port();
    let write = |max: u32| {
        std::fs::write(
            &cfg,
            format!(
                "[server]\ndata_dir = \"{}\"\n[rooms]\nmessage_max_chars = {max}\n\
                 [turn]\nmode = \"embedded\"\nlisten = \"127.0.0.1:{turn_port}\"\n",
                data.display()
            ),
        )
        .expect("write")
    };
    write(10);
    let served = Served::start(dir.path(), &["--config", cfg.to_str().expect("utf8")]);
    let (_, room) = http(
        "POST",
        &format!("{}/api/rooms", served.url),
        Some(serde_json::json!({"display_name": "Ada"})),
    );
    let code = room["room_code"].as_str().expect("code").to_owned();
    let token = room["token"].as_str().expect("token").to_owned();
    // Only a participant in the room (connected, as the room page is) posts.
    let live_rt = tokio::runtime::Runtime::new().expect("rt");
    let _live = live_rt
        .block_on(async {
            let target = flowsync::bench::sio::Target::from_url(&served.url).await?;
            flowsync::bench::sio::Conn::connect(&target, None, &token).await
        })
        .expect("the socket connects");
    let post = |text: &str| -> u16 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/rooms/{code}/messages", served.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "message": text }))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        })
    };
    let fifteen = "fifteen chars!!";
    assert_eq!(post(fifteen), 422);

    let pid = nix::unistd::Pid::from_raw(served.child.id() as i32);
    // The same file again: nothing changes and nothing is said to need a restart (values the
    // server derives at start, such as the embedded TURN server's, are not changes).
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("signal");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served.log().contains("configuration reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload logged:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    // `flowsync reload` (the unit's ExecReload) returns once the server has applied the file.
    write(20);
    let cfg_arg = cfg.to_str().expect("utf8");
    let pid_arg = served.child.id().to_string();
    let o = run(
        dir.path(),
        &["--config", cfg_arg, "reload", "--pid", &pid_arg],
    );
    assert!(o.status.success(), "reload: {}", stderr(&o));
    assert!(
        stdout(&o).contains("applied rooms.message_max_chars"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("restart"), "{}", stdout(&o));
    assert_eq!(post(fifteen), 201, "applied before reload returned");
    let log = served.log();
    assert!(
        !log.contains("only after a restart"),
        "a reload that changes only a SIGHUP key warns of nothing else:\n{log}"
    );

    // A broken file: `reload` refuses it (exit 2) before signalling; a SIGHUP sent anyway is
    // refused by the server, which keeps running on the last good configuration.
    std::fs::write(&cfg, "[rooms\nbroken").expect("write");
    let o = run(
        dir.path(),
        &["--config", cfg_arg, "reload", "--pid", &pid_arg],
    );
    assert_fails(&o, 2, &["flowsync.toml"]);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("signal");
    let status_file = data.join(".reload-status.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&status_file)
        .unwrap_or_default()
        .contains("\"ok\":false")
    {
        assert!(Instant::now() < deadline, "the refusal was not recorded");
        std::thread::sleep(Duration::from_millis(25));
    }
    let (status, _) = http("GET", &format!("{}/healthz", served.url), None);
    assert_eq!(
        status, 200,
        "a broken file on reload keeps the server running"
    );
    assert_eq!(post(fifteen), 201, "and keeps the last good configuration");
    assert!(served.terminate().success());
}

#[test]
fn committed_completions_and_man_pages_match_the_binary() {
    crate::helpers::needs!(
        crate::helpers::Need::Tool("zsh"),
        crate::helpers::Need::Tool("fish")
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tmp");
    let fix = "run scripts/gen-completions.sh and commit the result";
    for (shell, file) in [
        ("bash", "flowsync.bash"),
        ("zsh", "_flowsync"),
        ("fish", "flowsync.fish"),
        ("elvish", "flowsync.elv"),
        ("powershell", "_flowsync.ps1"),
    ] {
        let o = run(dir.path(), &["completions", shell]);
        assert!(o.status.success(), "{}", stderr(&o));
        let committed =
            std::fs::read(root.join("completions").join(file)).expect("committed completion");
        assert!(
            committed == o.stdout,
            "completions/{file} drifted from the binary; {fix}"
        );
    }
    let bash = run(dir.path(), &["completions", "bash"]);
    let script = dir.path().join("flowsync.bash");
    std::fs::write(&script, &bash.stdout).expect("write");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        check.status.success(),
        "the bash completion does not parse: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The completion offers the subcommands.
    let probe = format!(
        "source {}; COMP_WORDS=(flowsync ''); COMP_CWORD=1; _flowsync flowsync '' flowsync; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let offered = Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .output()
        .expect("bash runs");
    let offered = String::from_utf8_lossy(&offered.stdout);
    for sub in [
        "init",
        "doctor",
        "serve",
        "migrate",
        "rooms",
        "bench",
        "completions",
        "manpages",
    ] {
        assert!(
            offered.lines().any(|l| l == sub),
            "bash completion lacks {sub}: {offered}"
        );
    }
    // zsh and fish (installed by scripts/test.sh) parse theirs; fish also completes.
    let zsh = root.join("completions/_flowsync");
    let o = Command::new("zsh")
        .arg("-n")
        .arg(&zsh)
        .output()
        .expect("zsh is installed");
    assert!(
        o.status.success(),
        "_flowsync does not parse: {}",
        stderr(&o)
    );
    let fish = root.join("completions/flowsync.fish");
    let o = Command::new("fish")
        .arg("-n")
        .arg(&fish)
        .output()
        .expect("fish is installed");
    assert!(
        o.status.success(),
        "flowsync.fish does not parse: {}",
        stderr(&o)
    );
    let o = Command::new("fish")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C 'flowsync '",
            fish.display()
        ))
        .output()
        .expect("fish runs");
    let offered = stdout(&o);
    for sub in ["init", "doctor", "serve", "backup"] {
        assert!(
            offered.lines().any(|l| l.split('\t').next() == Some(sub)),
            "fish completion lacks {sub}: {offered}"
        );
    }
    let o = run(dir.path(), &["init", "--print-example"]);
    let committed = std::fs::read(root.join("packaging/flowsync.toml.example")).expect("example");
    assert!(
        committed == o.stdout,
        "packaging/flowsync.toml.example drifted from the binary; {fix}"
    );

    let man = dir.path().join("man");
    let o = run(dir.path(), &["manpages", man.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut generated: Vec<String> = std::fs::read_dir(&man)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut committed: Vec<String> = std::fs::read_dir(root.join("packaging/man"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    committed.sort();
    assert_eq!(generated, committed, "man page set drifted; {fix}");
    assert!(
        generated.contains(&"flowsync-rooms-list.1".to_owned())
            && generated.contains(&"flowsync-serve.1".to_owned())
    );
    for name in &generated {
        let a = std::fs::read(man.join(name)).expect("generated");
        let b = std::fs::read(root.join("packaging/man").join(name)).expect("committed");
        assert!(
            a == b,
            "packaging/man/{name} drifted from the binary; {fix}"
        );
    }
}

/// systemd's notify protocol, with a socket this test listens on (no systemd is PID 1 here).
#[test]
fn serve_signals_readiness_and_stopping_over_notify_socket() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().expect("tmp");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut child = flowsync(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a readiness message");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // Ready means really listening: the URL in STATUS answers at once.
    let url = msg
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=serving on "))
        .expect("status with URL")
        .to_owned();
    let (status, _) = http("GET", &format!("{url}/readyz"), None);
    assert_eq!(status, 200);

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("signal");
    let n = sock.recv(&mut buf).expect("reloading");
    let reloading = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")
            && reloading["RELOADING=1\nMONOTONIC_USEC=".len()..]
                .parse::<u64>()
                .is_ok_and(|us| us > 0),
        "{reloading}"
    );
    let n = sock.recv(&mut buf).expect("ready again");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "READY=1");

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let n = sock.recv(&mut buf).expect("stopping");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
    assert!(child.wait().expect("exit").success());
}

/// The unit passes `systemd-analyze verify` (with ExecStart pointed at the built binary) and
/// its exposure score stays at or below 2.0.
#[test]
fn systemd_unit_verifies_and_is_hardened() {
    crate::helpers::needs!(crate::helpers::Need::Tool("systemd-analyze"));
    let score = crate::helpers::check_units(BIN, &["flowsync.service"]);
    assert!(score <= 2.0, "exposure {score} > 2.0");
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

/// Under systemd (`JOURNAL_STREAM` naming stderr) each line starts with its syslog priority and
/// carries no timestamp, so `journalctl -p warning` finds warnings and the fatal error; with
/// the variable naming another stream, the usual format stays.
#[test]
fn journal_lines_carry_priorities_and_no_timestamp() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tmp");
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let serve = |journal: bool| -> String {
        let log = dir.path().join("stderr.log");
        let file = std::fs::File::create(&log).expect("log file");
        let meta = file.metadata().expect("stat");
        let stream = if journal {
            format!("{}:{}", meta.dev(), meta.ino())
        } else {
            format!("{}:{}", meta.dev(), meta.ino() + 1)
        };
        let status = flowsync(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("JOURNAL_STREAM", stream)
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .expect("runs");
        assert_eq!(status.code(), Some(1));
        std::fs::read_to_string(&log).expect("read log")
    };
    let journal = serve(true);
    let lines: Vec<&str> = journal.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("<6>INFO ")), "{journal}");
    let fatal = lines
        .iter()
        .find(|l| l.contains("cannot listen on"))
        .expect("the fatal line");
    assert!(fatal.starts_with("<3>error: "), "{fatal}");
    for l in &lines {
        assert!(
            l.len() > 3
                && l.starts_with('<')
                && l.as_bytes()[1].is_ascii_digit()
                && l.as_bytes()[2] == b'>',
            "every line has a priority: {l}"
        );
        assert!(
            !l[3..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit()),
            "no timestamp of our own: {l}"
        );
    }
    let plain = serve(false);
    assert!(!plain.contains("<6>") && !plain.contains("<3>"), "{plain}");
    assert!(plain.lines().any(|l| l.starts_with("error: ")), "{plain}");
}

#[test]
fn the_service_stops_restarting_when_it_cannot_start() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/flowsync.service"),
    )
    .expect("unit");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(value("StartLimitBurst"), "5");
    assert_eq!(value("StartLimitIntervalSec"), "60s");
    let no_restart: Vec<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        no_restart.contains(&"2") && no_restart.contains(&"4"),
        "configuration (2) and refusal (4) are not retried: {no_restart:?}"
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
