//! Round trips with a writer inserting all along: SQLite and PostgreSQL, across the two, with
//! and without secrets, and encrypted (with a wrong passphrase refused).

use super::*;

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
