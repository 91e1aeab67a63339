//! Backups as an operator meets them: the lock, retention, restoring over data, the backup taken
//! before migrations (by `migrate` and by `serve`), and the daily systemd units.

use super::*;

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
