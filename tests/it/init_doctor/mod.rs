//! `flowsync init` and `flowsync doctor` with the built binary: unattended installs under a
//! temporary `--prefix` (SQLite; PostgreSQL + Redis; a local PostgreSQL database created by
//! init), the wizard driven through a real terminal (tmux), and doctor on a healthy install,
//! then with one thing broken at a time, each failing the right check and, where a safe fix
//! exists, repaired by `--fix`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::free_port;

mod doctor;

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");

fn flowsync() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOWSYNC_") {
            c.env_remove(k);
        }
    }
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A temporary install root with its own ports.
struct Install {
    _dir: tempfile::TempDir,
    root: PathBuf,
    http: u16,
    https: u16,
}

impl Install {
    fn new() -> Install {
        let dir = tempfile::tempdir().unwrap();
        Install {
            root: dir.path().join("root"),
            _dir: dir,
            http: free_port(),
            https: free_port(),
        }
    }

    fn config(&self) -> PathBuf {
        self.root.join("etc/flowsync/flowsync.toml")
    }

    fn data(&self) -> PathBuf {
        self.root.join("var/lib/flowsync")
    }

    fn init(&self, extra: &[&str]) -> Output {
        self.init_on(self.http, extra)
    }

    /// `init` with another HTTP port (a changed answer).
    fn init_on(&self, http: u16, extra: &[&str]) -> Output {
        flowsync()
            .args(["init", "--yes", "--no-systemd", "--no-start", "--prefix"])
            .arg(&self.root)
            .args(["--tls", "self-signed", "--domain", "localhost"])
            // Tests run in parallel; the embedded TURN port (3478) would collide.
            .args(["--turn", "off"])
            .args(["--http-listen", &format!("127.0.0.1:{http}")])
            .args(["--https-listen", &format!("127.0.0.1:{}", self.https)])
            .args(extra)
            .output()
            .unwrap()
    }

    fn doctor(&self, args: &[&str]) -> (Option<i32>, Value, String) {
        self.doctor_env(args, &[])
    }

    fn doctor_env(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
        let o = flowsync()
            .arg("--config")
            .arg(self.config())
            .args(["doctor", "--json", "--prefix"])
            .arg(&self.root)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let json = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {}", text(&o)));
        (o.status.code(), json, text(&o))
    }

    /// `flowsync serve` on the installed config, once it reports its URL.
    fn serve(&self, env: &[(&str, &str)]) -> Child {
        let mut child = flowsync()
            .arg("--config")
            .arg(self.config())
            .arg("serve")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = String::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "serve never became ready: {seen}"
            );
            let line = lines.next().expect("serve exited early").unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("url=") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        child
    }
}

fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"].as_str().unwrap()
}

/// Every check that ran is ok or skip.
fn assert_healthy(report: &Value) {
    for c in report["checks"].as_array().unwrap() {
        assert!(
            c["status"] == "ok" || c["status"] == "skip",
            "not healthy: {c:#}\nfull report: {report:#}"
        );
    }
}

/// The documented shape of `doctor --json` (docs/operating/doctor.md), as a snapshot: keys and value types.
fn shape(v: &Value) -> String {
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    let mut out = String::new();
    for (k, x) in v.as_object().unwrap() {
        out.push_str(&format!("{k}: {}\n", kind(x)));
    }
    for (k, x) in v["summary"].as_object().unwrap() {
        out.push_str(&format!("summary.{k}: {}\n", kind(x)));
    }
    let first = &v["checks"][0];
    for (k, x) in first.as_object().unwrap() {
        let t = if k == "fixed" { "string|null" } else { kind(x) };
        out.push_str(&format!("checks[].{k}: {t}\n"));
    }
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    out.push_str(&format!("names: {}\n", names.join(",")));
    out
}

const SHAPE: &str = "\
checks: array
config_file: string
host: string
schema: number
status: string
summary: object
version: string
summary.fail: number
summary.ok: number
summary.skip: number
summary.warn: number
checks[].detail: string
checks[].duration_ms: number
checks[].fixed: string|null
checks[].hint: string
checks[].name: string
checks[].status: string
names: config,data-dir,ownership,database,migrations,redis,certificate,acme-account,dns,ports,server,turn,clock,open-files,disk,systemd,backup
";

#[test]
fn init_with_sqlite_is_idempotent_and_keeps_secrets() {
    let i = Install::new();
    let o = i.init(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let config = std::fs::read_to_string(i.config()).unwrap();
    let meta = std::fs::metadata(i.config()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640, "config is 0640");
    let token_file = i.root.join("etc/flowsync/admin-token");
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().mode() & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        !config.contains(token.trim()),
        "the token itself is not in the config"
    );
    assert!(config.contains("admin_token = \"sha256:"), "its hash is");
    assert!(config.contains("# default:"), "the file is commented");
    assert_eq!(std::fs::metadata(i.data()).unwrap().mode() & 0o777, 0o750);
    // Who may create rooms: the team's create link, kept 0600 and printed at the end.
    assert!(config.contains("create_policy = \"link\""), "{config}");
    let link_file = i.root.join("etc/flowsync/create-link");
    assert_eq!(std::fs::metadata(&link_file).unwrap().mode() & 0o777, 0o600);
    let link = std::fs::read_to_string(&link_file).unwrap();
    assert!(link.contains("/#create="), "{link}");
    assert!(
        text(&o).contains(&format!("create link: {}", link.trim())),
        "{}",
        text(&o)
    );

    // Again with the same answers: nothing changes.
    let o = i.init(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for step in ["config", "directories", "database", "certificate"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("unchanged") && l.contains(step)),
            "{step} unchanged on a second run: {out}"
        );
    }
    assert!(out.contains("Nothing changed"), "{out}");
    assert_eq!(std::fs::read_to_string(i.config()).unwrap(), config);
    assert_eq!(
        std::fs::read_to_string(&link_file).unwrap(),
        link,
        "the same create link"
    );

    // A different answer without --force: refused, named, nothing written.
    let port = free_port();
    let other = format!("127.0.0.1:{port}");
    let o = i.init_on(port, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("server.http_listen") && text(&o).contains("--force"));
    assert_eq!(std::fs::read_to_string(i.config()).unwrap(), config);

    // --dry-run shows the change and writes nothing.
    let o = i.init_on(port, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("\"{other}\"")), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(i.config()).unwrap(), config);

    // With --force: changed in place, comments and secrets kept.
    let o = i.init_on(port, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = std::fs::read_to_string(i.config()).unwrap();
    assert!(after.contains(&format!("http_listen = \"{other}\"")));
    let hash = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("admin_token"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(hash(&after), hash(&config), "the admin token is kept");
    assert!(after.contains("# default:"));
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
}

#[test]
fn unattended_init_names_the_missing_flag() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        flowsync()
            .args(["init", "--prefix"])
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--yes"], "--domain"),
        (&["--yes", "--domain", "rooms.example.org"], "--email"),
        (
            &["--yes", "--tls", "off", "--turn", "external"],
            "--turn-url",
        ),
        (&["--yes", "--domain", "bad_name!"], "--domain"),
        (
            &["--yes", "--tls", "off", "--database", "mysql://x"],
            "--database",
        ),
        (&[], "--yes"),
    ];
    for (args, flag) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(flag), "{args:?} names {flag}: {err}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_with_postgres_and_redis_then_doctor() {
    crate::helpers::needs!(crate::helpers::Need::Postgres, crate::helpers::Need::Redis);
    let url = crate::helpers::fresh_pg_database().await;
    let redis = crate::helpers::redis_url();
    let i = Install::new();
    let o = i.init(&["--database", &url, "--redis", &redis]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let config = std::fs::read_to_string(i.config()).unwrap();
    assert!(config.contains(&format!("url = \"{url}\"")));
    assert!(!i.data().join("flowsync.db").exists(), "no SQLite file");
    let server = i.serve(&[]);
    let (code, r, out) = i.doctor(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert_healthy(&r);
    assert!(
        check(&r, "database")["detail"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL")
    );
    assert_eq!(status(&r, "redis"), "ok");
    assert!(
        check(&r, "server")["detail"]
            .as_str()
            .unwrap()
            .contains("state redis")
    );
    // Second run: no-op.
    let o = i.init(&["--database", &url, "--redis", &redis]);
    assert!(text(&o).contains("Nothing changed"), "{}", text(&o));

    // Redis down (a dead port): the redis check fails, the others are unaffected.
    let dead = format!("redis://127.0.0.1:{}/", free_port());
    let (code, r, _) = i.doctor_env(&["--run", "redis"], &[("FLOWSYNC_REDIS__URL", &dead)]);
    assert_eq!((code, status(&r, "redis")), (Some(1), "fail"), "{r:#}");
    stop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn init_creates_a_local_postgres_database() {
    crate::helpers::needs!(crate::helpers::Need::Postgres);
    if !Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() || !nix::unistd::geteuid().is_root()
    {
        eprintln!("skipped: needs root and the local PostgreSQL socket");
        return;
    }
    let name = format!("fst_{}", crate::helpers::random_suffix());
    let i = Install::new();
    let o = i.init(&["--database", "local-postgres", "--local-db-name", &name]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("created the PostgreSQL role and database {name}")));
    let config = std::fs::read_to_string(i.config()).unwrap();
    let line = config
        .lines()
        .find(|l| l.starts_with("url = \"postgres://"))
        .unwrap()
        .to_owned();
    // Again: the role's password is kept, the database reused.
    let o = i.init(&["--database", "local-postgres", "--local-db-name", &name]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Nothing changed"), "{}", text(&o));
    assert!(std::fs::read_to_string(i.config()).unwrap().contains(&line));
    let (code, r, out) = i.doctor(&["--run", "database", "--run", "migrations"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(status(&r, "migrations"), "ok");
    // Clean up the role (the test script drops fst_% databases, not roles).
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&crate::helpers::pg_admin_url())
        .await
        .unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// The wizard, through a real terminal: every question answered with keys, as a person would.
#[test]
fn wizard_full_path_through_a_terminal() {
    crate::helpers::needs!(crate::helpers::Need::Tool("tmux"));
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is missing; scripts/test.sh installs it");
    }
    let i = Install::new();
    let session = format!("fs{}", std::process::id());
    let done = i.root.with_file_name("exit-code");
    let cmd = format!(
        "TERM=xterm {BIN} init --prefix {} --no-systemd --no-start --http-listen 127.0.0.1:{} --https-listen 127.0.0.1:{}; echo $? > {}; sleep 30",
        i.root.display(),
        i.http,
        i.https,
        done.display()
    );
    let tmux = |args: &[&str]| {
        let o = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    tmux(&[
        "-L",
        &session,
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "50",
        &cmd,
    ]);
    let screen = || tmux(&["-L", &session, "capture-pane", "-p"]);
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = screen();
            if s.contains(what) {
                return;
            }
            assert!(Instant::now() < deadline, "no {what:?} on screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let keys = |k: &[&str]| {
        let mut args = vec!["-L", session.as_str(), "send-keys"];
        args.extend_from_slice(k);
        tmux(&args);
    };
    wait_for("HTTPS");
    keys(&["Down", "Enter"]); // self-signed
    wait_for("Domain people open");
    keys(&["localhost", "Enter"]);
    wait_for("Database");
    keys(&["Enter"]); // SQLite
    wait_for("Redis (only needed");
    keys(&["Enter"]); // none
    wait_for("TURN relay");
    keys(&["Enter"]); // embedded
    wait_for("Who may create rooms");
    keys(&["Down", "Enter"]); // only the operator
    wait_for("HTTP listen address");
    keys(&["Enter"]); // the default from --http-listen
    wait_for("HTTPS listen address");
    keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done.exists() {
        assert!(
            Instant::now() < deadline,
            "init did not finish:\n{}",
            screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let shown = screen();
    tmux(&["-L", &session, "kill-server"]);
    let code = std::fs::read_to_string(&done).unwrap();
    assert_eq!(code.trim(), "0", "{shown}");
    assert!(shown.contains("FlowSync is set up"), "{shown}");
    let config = std::fs::read_to_string(i.config()).unwrap();
    assert!(config.contains("mode = \"self-signed\""), "{config}");
    assert!(config.contains("domains = [\"localhost\"]"), "{config}");
    assert!(config.contains("mode = \"embedded\""), "TURN: {config}");
    assert!(config.contains("create_policy = \"operator\""), "{config}");
    assert!(
        !shown.contains("create link:"),
        "no create link with the operator policy: {shown}"
    );
    assert!(config.contains(&format!("http_listen = \"127.0.0.1:{}\"", i.http)));
}

/// The operator's manual lists init's steps as the registry runs them.
#[test]
fn the_manual_lists_every_init_step_in_order() {
    let manual = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operating/init.md"),
    )
    .expect("docs/operating/init.md");
    let rows: Vec<&str> = manual
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|name| *name != "step" && !name.starts_with("---"))
        .collect();
    let steps: Vec<&str> = flowsync::init::steps::STEPS
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(rows, steps, "docs/operating/init.md's step table");
}
