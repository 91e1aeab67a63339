//! `SIGHUP` and `flowsync reload` with the built binary: what can change is applied, what needs a
//! restart is named, and a broken file leaves the server running on its previous configuration.

use super::*;

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
