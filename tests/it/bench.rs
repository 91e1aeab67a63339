//! `flowsync bench` end to end, small (200 sockets, a few seconds): the built binary drives a
//! real server over REST and Socket.IO and its report must show every connection made, every
//! relayed message, chat line, join burst and timer change delivered to everyone still
//! reading (5 % are slow consumers that stop), and REST requests alongside answered. Not a timing assertion:
//! thresholds are only used to prove that a missed `--slo` changes the exit code.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, Setup, StateKind};

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");

async fn server(raise_limits: bool) -> (flowsync::server::Server, Setup) {
    let setup = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            if raise_limits {
                // The documented benchmark settings: every participant joins from this host.
                c.rooms.create_rate_per_ip = "100000/second".parse().unwrap();
                c.rooms.join_rate_per_ip = "100000/second".parse().unwrap();
                c.rooms.lookup_rate_per_ip = "100000/second".parse().unwrap();
                c.rooms.message_rate_per_participant = "100000/second".parse().unwrap();
            }
        });
    let server = flowsync::server::start(setup.config.clone())
        .await
        .expect("server starts");
    (server, setup)
}

/// Runs the bench binary off the runtime's threads; returns (exit code, stdout, stderr). The
/// arguments are copied first, so the future can be spawned.
fn bench(
    args: &[&str],
) -> impl std::future::Future<Output = (Option<i32>, String, String)> + use<> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    async move {
        let out = tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("bench")
                .args(&args)
                .output()
                .expect("bench runs")
        })
        .await
        .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_drives_a_real_server_end_to_end() {
    let (server, _setup) = server(true).await;
    let url = server.url();
    let args = [
        "--url",
        &url,
        "--rooms",
        "40",
        "--per-room",
        "5",
        "--duration",
        "4s",
        "--rate",
        "10",
        "--chat-rate",
        "1",
        "--churn",
        "2",
        "--timer-every",
        "1s",
        "--candidates",
        "2",
        "--sdp-bytes",
        "3000",
        "--slow-percent",
        "5",
        "--rest-rate",
        "40",
        "--join-rate",
        "600",
        "--json",
        "--slo",
        "failed=0",
        "--slo",
        "joins_failed=0",
        "--slo",
        "delivered>=100%",
        "--slo",
        "disconnects=0",
    ];
    let (code, out, err) = bench(&args).await;
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let r: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(r["sockets"], 200);
    assert_eq!(r["connects_ok"], 200, "{r:#}");
    assert_eq!(r["connects_failed"], 0);
    assert_eq!(r["disconnects"], 0);
    // 5 % stop reading when the measurement starts; what is sent to them is not expected.
    assert_eq!(r["slow_consumers"], 10, "{r:#}");
    // REST traffic alongside (40/s for 4 s): every request answered.
    assert!(r["rest_ok"].as_u64().unwrap() >= 100, "{r:#}");
    assert_eq!(r["rest_failed"], 0, "{r:#}");
    // Background joins (10/s from the first connection to the end): joined, negotiated, left.
    assert!(r["joins_ok"].as_u64().unwrap() >= 30, "{r:#}");
    assert_eq!(r["joins_failed"], 0, "{r:#}");
    assert_eq!(
        r["joins"]["count"].as_u64().unwrap(),
        r["joins_ok"].as_u64().unwrap()
    );
    let sent = r["relay_sent"].as_u64().unwrap();
    assert!(sent > 100, "40 rooms at 10/s for 4 s: {sent}");
    assert_eq!(r["relay_delivered"].as_u64().unwrap(), sent, "{r:#}");
    assert_eq!(r["relay"]["count"].as_u64().unwrap(), sent);
    let chat = r["chat_expected"].as_u64().unwrap();
    assert!(chat > 0);
    assert_eq!(
        r["chat_delivered"].as_u64().unwrap(),
        chat,
        "every chat line to everyone"
    );
    // Newcomers that found others in their room negotiated with all of them (how many found
    // someone depends on connection timing; an unfinished negotiation would be an error).
    assert!(r["burst"]["count"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    assert!(r["timer_spread"]["count"].as_u64().unwrap() >= 40, "{r:#}");
    assert!(r["messages_per_s"].as_f64().unwrap() > 0.0);
    // The server runs in this test process and is found by its port.
    assert_eq!(r["server"]["pid"], std::process::id(), "{r:#}");
    assert!(r["server"]["fds_connected"].as_u64().unwrap() >= 200);
    // The server's CPU, and the kernel's part of it, over the window (the test process is the
    // server here, and it did work: 200 sockets relaying).
    let (cpu, kernel) = (
        r["server"]["cpu_percent"].as_f64().unwrap(),
        r["server"]["cpu_kernel_percent"].as_f64().unwrap(),
    );
    assert!(cpu > 0.0 && (0.0..=cpu).contains(&kernel), "{r:#}");
    assert!(
        r["slo"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["met"] == true)
    );
    server.stop_token().cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_exit_codes_for_missed_slos_rate_limits_and_bad_flags() {
    let (srv, _setup) = server(true).await;
    let url = srv.url();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "--url",
            &url,
            "--rooms",
            "2",
            "--per-room",
            "3",
            "--duration",
            "1s",
        ];
        a.extend_from_slice(extra);
        bench(&a)
    };
    // Nothing relays in under a microsecond: the threshold is missed, exit 1, named.
    let (code, out, err) = run(&["--slo", "p99<0.001ms"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("missed: p99<0.001ms"), "{err}");
    assert!(out.contains("MISSED"), "the table says which: {out}");
    // A threshold that cannot be parsed is a usage error.
    let (code, _, err) = run(&["--slo", "p98<5ms"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown metric"), "{err}");
    let (code, _, err) = run(&["--per-room", "11"]).await;
    assert_eq!(code, Some(2), "{err}");
    srv.stop_token().cancel();

    // A server with its normal per-address limits refuses the set-up: exit 3, and the message
    // says which settings to raise.
    let (limited, _setup) = server(false).await;
    let (code, _, err) = bench(&[
        "--url",
        &limited.url(),
        "--rooms",
        "20",
        "--per-room",
        "2",
        "--duration",
        "1s",
    ])
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("join_rate_per_ip"), "{err}");
    limited.stop_token().cancel();
    // Nothing listening: exit 3 too.
    let dead_url = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let (code, _, err) = bench(&["--url", &dead_url, "--rooms", "1", "--duration", "1s"]).await;
    assert_eq!(code, Some(3), "{err}");
}

/// A participant that stops reading is dropped once its queue is full, and the senders keep
/// going: the relay never fails or stalls for them. Driven with the bench's own Socket.IO
/// client: four senders push 50 KB offers at the one silent receiver until the kernel's
/// buffers and the server's queue for it are full.
#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_stops_reading_is_dropped() {
    use flowsync::bench::sio::{Conn, Incoming, Target};
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| c.rooms.join_rate_per_ip = "1000/second".parse().unwrap())
        .spawn()
        .await;
    let host = t.create_simple().await;
    let mut seats = vec![host.clone()];
    for k in 0..4 {
        seats.push(t.join_ok(&host.code, &format!("Sender {k}")).await);
    }
    let target = Target::from_url(&t.base).await.unwrap();
    async fn joined(target: &Target, token: &str) -> Conn {
        let mut c = Conn::connect(target, None, token).await.unwrap();
        loop {
            match c.next().await.unwrap() {
                Incoming::Event(name, _) if name == "room-joined" => return c,
                Incoming::Event(..) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    // The receiver (the host) joins first, then stops reading.
    let silent = joined(&target, &host.token).await;
    let receiver = host.participant_id.clone();
    let sdp = "a".repeat(50_000);
    let done = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for seat in &seats[1..] {
        let mut c = joined(&target, &seat.token).await;
        let (receiver, sdp, done) = (receiver.clone(), sdp.clone(), done.clone());
        senders.push(tokio::spawn(async move {
            // 150 a second each (under the per-socket budget of 200), for up to 20 s; the
            // sender keeps reading its own socket so only the receiver is slow.
            let offer = serde_json::json!({"to": receiver, "offer": {"type": "offer", "sdp": sdp}});
            let mut tick = tokio::time::interval(Duration::from_millis(7));
            let started = std::time::Instant::now();
            let mut sent = 0u32;
            while !done.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
                tokio::select! {
                    _ = tick.tick() => {
                        if c.emit("offer", &offer).await.is_err() {
                            return (sent, false);
                        }
                        sent += 1;
                    }
                    ev = c.next() => match ev {
                        Ok(Incoming::Event(..)) => {}
                        _ => return (sent, false),
                    },
                }
            }
            (sent, true)
        }));
    }
    // The server drops the receiver: its metric counts it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let dropped = loop {
        let res = t.client.get(t.url("/metrics")).send().await.unwrap();
        let text = res.text().await.unwrap();
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("flowsync_slow_consumers_dropped_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    done.store(true, Ordering::Relaxed);
    assert!(dropped >= 1, "the silent receiver was never dropped");
    // The senders kept their connections throughout.
    for s in senders {
        let (sent, stayed) = s.await.unwrap();
        assert!(stayed, "a sender lost its connection after {sent} offers");
    }
    drop(silent);
}

/// `--reconnect` across a real restart: the server is shut down (as SIGTERM does) while
/// participants signal and chat, and started again on the same address and database. Every
/// lost connection must come back into its room, and every chat message the first server
/// acknowledged must still be stored.
#[tokio::test(flavor = "multi_thread")]
async fn bench_reconnects_after_a_restart_and_loses_no_acknowledged_chat() {
    let (first, setup) = server(true).await;
    let url = first.url();
    let args = [
        "--url",
        &url,
        "--rooms",
        "10",
        "--per-room",
        "3",
        "--duration",
        "8s",
        "--rate",
        "2",
        "--chat-rate",
        "4",
        "--reconnect",
        "--json",
        "--slo",
        "reconnected>=100%",
        "--slo",
        "chat_lost=0",
    ];
    let run = tokio::spawn(bench(&args));
    // Restart once chat flows (everyone is in and measuring).
    let http = reqwest::Client::new();
    let mut chatting = false;
    for _ in 0..300 {
        let metrics = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let messages: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("flowsync_messages_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        if messages >= 40.0 {
            chatting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chatting, "chat never started");
    let mut config = setup.config.clone();
    config.server.http_listen = first.url().trim_start_matches("http://").parse().unwrap();
    first.shutdown().await.expect("graceful shutdown");
    let second = flowsync::server::start(config)
        .await
        .expect("the server starts again on the same address");
    let (code, out, err) = run.await.unwrap();
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let r: Value = serde_json::from_str(&out).expect("one JSON document");
    let lost = r["lost"].as_u64().unwrap();
    assert!(lost >= 30, "every connection was lost: {r:#}");
    assert_eq!(r["reconnected"].as_u64().unwrap(), lost, "{r:#}");
    assert_eq!(r["reconnect"]["count"].as_u64().unwrap(), lost, "{r:#}");
    assert!(r["chat_acked"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["chat_acked_missing"], 0, "{r:#}");
    second.stop_token().cancel();
}
