//! Backups that fail part-way: killed mid-write (plain and encrypted) or out of disk, leave
//! nothing that looks like a complete archive, and say why.

use super::*;

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
