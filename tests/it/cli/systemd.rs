//! What systemd and packaging rely on: readiness and stopping over the notify socket, the unit
//! files (verified and hardened), journal priorities, giving up on a service that cannot start,
//! and the committed completions and man pages matching the binary.

use super::*;

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
