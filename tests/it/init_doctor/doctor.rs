//! `flowsync doctor` on an install made by init: healthy, then one thing broken at a time (each
//! failing the right check and, where a safe fix exists, repaired by `--fix`), and the TURN
//! check's STUN binding request.

use super::*;

#[test]
fn doctor_on_a_healthy_install_then_one_breakage_at_a_time() {
    let i = Install::new();
    let o = i.init(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let server = i.serve(&[]);

    let (code, report, out) = i.doctor(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert_healthy(&report);
    assert_eq!(
        shape(&report),
        SHAPE,
        "doctor --json shape changed: update docs/operating/doctor.md and SHAPE"
    );
    assert_eq!(report["status"], "ok");
    for name in [
        "config",
        "data-dir",
        "ownership",
        "database",
        "migrations",
        "certificate",
        "ports",
        "server",
        "open-files",
        "disk",
        "backup",
    ] {
        assert_eq!(
            status(&report, name),
            "ok",
            "{name}: {:#}",
            check(&report, name)
        );
    }
    assert!(
        check(&report, "server")["detail"]
            .as_str()
            .unwrap()
            .contains("ready")
    );
    assert!(
        check(&report, "ports")["detail"]
            .as_str()
            .unwrap()
            .contains("held by flowsync")
    );

    // A shareable report without secrets.
    let report_file = i.root.join("report.md");
    let (code, _, out) = i.doctor(&["--report", report_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let md = std::fs::read_to_string(&report_file).unwrap();
    let config = std::fs::read_to_string(i.config()).unwrap();
    let hash_line = config
        .lines()
        .find(|l| l.starts_with("admin_token"))
        .unwrap();
    let hash = hash_line.split('"').nth(1).unwrap();
    assert!(!md.contains(hash), "the admin token hash is masked");
    assert!(md.contains("admin_token = \"********\""), "{md}");
    assert!(md.contains("| server | ok |"), "{md}");

    // --run selects; an unknown name is a usage error (2).
    let (code, r, _) = i.doctor(&["--run", "database", "--run", "migrations"]);
    assert_eq!(code, Some(0));
    assert_eq!(r["checks"].as_array().unwrap().len(), 2);
    let o = flowsync()
        .args(["doctor", "--run", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // 1. The data directory is unusable for the service user (root ignores modes; doctor
    //    judges the mode bits as that user would).
    std::fs::set_permissions(i.data(), std::fs::Permissions::from_mode(0o000)).unwrap();
    let (code, r, _) = i.doctor(&["--run", "data-dir"]);
    assert_eq!((code, status(&r, "data-dir")), (Some(1), "fail"), "{r:#}");
    let (code, r, _) = i.doctor(&["--run", "data-dir", "--fix"]);
    assert_eq!((code, status(&r, "data-dir")), (Some(0), "ok"), "{r:#}");
    assert!(check(&r, "data-dir")["fixed"].is_string());
    assert_eq!(std::fs::metadata(i.data()).unwrap().mode() & 0o777, 0o750);

    // 2. A file in the data dir owned by someone else (as a root-run command would leave it).
    if nix::unistd::geteuid().is_root() {
        let stray = i.data().join("stray.txt");
        std::fs::write(&stray, "x").unwrap();
        std::os::unix::fs::chown(&stray, Some(65534), Some(65534)).unwrap();
        let (code, r, _) = i.doctor(&["--run", "ownership"]);
        assert_eq!((code, status(&r, "ownership")), (Some(1), "fail"), "{r:#}");
        assert!(
            check(&r, "ownership")["detail"]
                .as_str()
                .unwrap()
                .contains("stray.txt")
        );
        let (code, r, _) = i.doctor(&["--run", "ownership", "--fix"]);
        assert_eq!((code, status(&r, "ownership")), (Some(0), "ok"), "{r:#}");
        std::fs::remove_file(&stray).unwrap();
    }

    // 3. The certificate expired: fail; --fix makes a new self-signed one.
    let cert = i.data().join("tls/self-signed.crt");
    let key = i.data().join("tls/self-signed.key");
    let (expired_cert, expired_key) = expired_pair();
    std::fs::write(&cert, expired_cert).unwrap();
    std::fs::write(&key, expired_key).unwrap();
    let (code, r, _) = i.doctor(&["--run", "certificate"]);
    assert_eq!(
        (code, status(&r, "certificate")),
        (Some(1), "fail"),
        "{r:#}"
    );
    assert!(
        check(&r, "certificate")["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let (code, r, _) = i.doctor(&["--run", "certificate", "--fix"]);
    assert_eq!((code, status(&r, "certificate")), (Some(0), "ok"), "{r:#}");

    // 4. A pending migration (the database is one version behind this binary).
    stop(server);
    let db = i.data().join("flowsync.db");
    // Undo the newest migration (work blocks) and forget it was applied.
    let sql = "DROP TABLE goals; DROP TABLE work_blocks; \
               DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations);";
    sqlite(&db, sql);
    let (code, r, _) = i.doctor(&["--run", "migrations"]);
    assert_eq!((code, status(&r, "migrations")), (Some(1), "fail"), "{r:#}");
    assert!(
        check(&r, "migrations")["detail"]
            .as_str()
            .unwrap()
            .contains("1 pending")
    );
    let (code, r, _) = i.doctor(&["--run", "migrations", "--fix"]);
    assert_eq!((code, status(&r, "migrations")), (Some(0), "ok"), "{r:#}");

    // 5. The server is down: fail, and the hint says how to start it.
    let (code, r, _) = i.doctor(&["--run", "server"]);
    assert_eq!((code, status(&r, "server")), (Some(1), "fail"), "{r:#}");
    assert!(
        check(&r, "server")["hint"]
            .as_str()
            .unwrap()
            .contains("serve")
    );

    // 6. A broken config file: the config check fails with the line, the others skip.
    let good = std::fs::read_to_string(i.config()).unwrap();
    std::fs::write(
        i.config(),
        format!("{good}\n[server]\nnot valid toml = = \n"),
    )
    .unwrap();
    let (code, r, _) = i.doctor(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(status(&r, "config"), "fail");
    assert!(
        check(&r, "config")["detail"]
            .as_str()
            .unwrap()
            .contains("flowsync.toml:")
    );
    assert_eq!(status(&r, "database"), "skip");
    std::fs::write(i.config(), &good).unwrap();

    // 7. A database that accepts connections and never answers: the check times out, doctor
    //    does not hang.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://x@{}/x?connect_timeout=60",
        hung.local_addr().unwrap()
    );
    let started = Instant::now();
    let (code, r, _) = i.doctor_env(
        &["--run", "database", "--timeout", "2s"],
        &[("FLOWSYNC_DATABASE__URL", &url)],
    );
    assert_eq!((code, status(&r, "database")), (Some(1), "fail"), "{r:#}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "doctor hung: {:?}",
        started.elapsed()
    );

    // 8. Low disk: the backup directory on a tiny filesystem that is full.
    low_disk(&i);
}

/// Mounts a 4 MiB tmpfs over the backup directory, fills it, and expects the disk check to
/// fail. Needs root (as CI runs); skipped with a note otherwise.
fn low_disk(i: &Install) {
    let dir = i.root.join("var/backups/flowsync");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("low-disk case skipped: cannot mount a tmpfs here (not root)");
        return;
    }
    // Writes until the filesystem is full (the write then fails with ENOSPC).
    let fill = std::fs::write(dir.join("fill"), vec![0u8; 5 * 1024 * 1024]);
    let (code, r, _) = i.doctor(&["--run", "disk"]);
    let _ = Command::new("umount").arg(&dir).status();
    assert!(fill.is_err(), "the tmpfs filled up");
    assert_eq!((code, status(&r, "disk")), (Some(1), "fail"), "{r:#}");
    assert!(
        check(&r, "disk")["hint"]
            .as_str()
            .unwrap()
            .contains("free space")
    );
}

fn sqlite(db: &Path, sql: &str) {
    let db = db.to_owned();
    let sql = sql.to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    });
}

/// A self-signed certificate for localhost that expired in 2021.
fn expired_pair() -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The turn check sends a real STUN binding request: answered by a minimal responder here
/// (XOR-MAPPED-ADDRESS of the sender), and failing against a port where nothing answers.
#[test]
fn turn_check_sends_a_stun_binding_request() {
    let i = Install::new();
    assert_eq!(i.init(&[]).status.code(), Some(0));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 20 || buf[0..2] != [0, 1] {
                continue;
            }
            let std::net::SocketAddr::V4(v4) = from else {
                continue;
            };
            let mut res = vec![0x01, 0x01, 0, 12];
            res.extend_from_slice(&buf[4..20]); // magic cookie + transaction id
            let xport = v4.port() ^ 0x2112;
            let xip = u32::from(*v4.ip()) ^ 0x2112_A442;
            res.extend_from_slice(&[0x00, 0x20, 0, 8, 0, 1]);
            res.extend_from_slice(&xport.to_be_bytes());
            res.extend_from_slice(&xip.to_be_bytes());
            let _ = sock.send_to(&res, from);
        }
    });
    let env = |url: String| {
        vec![
            ("FLOWSYNC_TURN__MODE".to_owned(), "external".to_owned()),
            ("FLOWSYNC_TURN__URLS".to_owned(), url),
            (
                "FLOWSYNC_TURN__SHARED_SECRET".to_owned(),
                "s3cret".to_owned(),
            ),
        ]
    };
    let run = |vars: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        i.doctor_env(&["--run", "turn"], &refs)
    };
    let (code, r, _) = run(env(format!("stun:127.0.0.1:{port}")));
    assert_eq!((code, status(&r, "turn")), (Some(0), "ok"), "{r:#}");
    let detail = check(&r, "turn")["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("sees us as 127.0.0.1:"), "{detail}");
    let dead_port = free_port();
    let (code, r, _) = run(env(format!("turn:127.0.0.1:{dead_port}")));
    assert_eq!((code, status(&r, "turn")), (Some(1), "fail"), "{r:#}");
    // A name that does not resolve is DNS's failure: the turn check warns and points there.
    let (_, r, _) = run(env(format!("turn:flowsync-doctor.invalid:{port}")));
    assert_eq!(status(&r, "turn"), "warn", "{r:#}");
    let turn = check(&r, "turn");
    assert!(
        turn["detail"]
            .as_str()
            .unwrap()
            .contains("does not resolve")
            && turn["hint"].as_str().unwrap().contains("dns check"),
        "{turn:#}"
    );
}
