//! The record of the day on every backend: goals and a check-in made over Socket.io while the
//! timer ends a work block, then read back as the Today panel reads it (REST), as the transcript
//! exports it (JSON and Markdown), and as an operator reads it (`flowsync rooms show CODE
//! --today`, the built binary on the same database); ending the room removes it.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Setup, ack, each_backend, next_event};

const BIN: &str = env!("CARGO_BIN_EXE_flowsync");

/// The built binary with only this database and data dir in its environment.
fn cli(url: &str, data: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLOWSYNC_") {
            c.env_remove(k);
        }
    }
    c.env("FLOWSYNC_DATABASE__URL", url)
        .env("FLOWSYNC_SERVER__DATA_DIR", data)
        .env("FLOWSYNC_LOG__LEVEL", "warn")
        .env("FLOWSYNC_CONFIG", data.with_extension("toml"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout_json(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

async fn record_of_the_day(setup: Setup) {
    let url = setup.config.database.url.expose().clone();
    let data = setup.config.server.data_dir.clone();
    std::fs::write(data.with_extension("toml"), "# test\n").expect("config file");
    let t = setup.spawn().await;
    let ada = t
        .create_room(json!({
            "display_name": "Ada", "name": "Team", "standing": true,
            "timer": {"work_seconds": 1, "short_break_seconds": 600, "long_break_every": 4, "auto_start": true},
        }))
        .await;
    let bob = t.join_ok(&ada.code, "Bob").await;
    let (mut a, _) = t.connect_snapshot(&ada).await;
    let (mut b, _) = t.connect_snapshot(&bob).await;
    let set = ack(&mut a, "set-goal", json!({"text": "Write the spec"}), 1).await;
    assert_eq!(set["goal"]["block"], 0, "{set}");
    assert_eq!(
        ack(&mut b, "set-goal", json!({"text": "Review *it*"}), 1).await["ok"],
        true
    );
    assert_eq!(ack(&mut a, "start-timer", json!({}), 2).await["ok"], true);
    let asked = next_event(&mut a, "check-in-requested").await;
    assert_eq!(asked["goal"]["text"], "Write the spec", "{asked}");
    next_event(&mut b, "check-in-requested").await;
    let done = ack(
        &mut a,
        "check-in",
        json!({"block": 0, "outcome": "done"}),
        3,
    )
    .await;
    assert_eq!(done["goal"]["outcome"], "done", "{done}");

    // The Today panel's view (today in UTC).
    let path = format!("/api/rooms/{}/record", ada.code);
    let (s, r) = t.call(Method::GET, &path, None, Some(&bob.token)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["summary"], "1 block · 2 goals · 1 done");
    assert_eq!(
        r["tally"],
        json!({"blocks": 1, "goals": 2, "done": 1, "partly": 0, "not_done": 0})
    );
    assert_eq!(r["blocks"][0]["completed"], true);
    let mut people: Vec<&str> = r["blocks"][0]["people"]
        .as_array()
        .expect("people")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    people.sort_unstable();
    assert_eq!(people, ["Ada", "Bob"]);
    assert_eq!(
        r["streaks"],
        json!([{"name": "Ada", "days": 1}, {"name": "Bob", "days": 1}]),
        "a standing room counts streaks"
    );
    for bad in ["?date=2026-02-30", "?date=yesterday", "?utc_offset=5000"] {
        let (s, e) = t
            .call(Method::GET, &format!("{path}{bad}"), None, Some(&bob.token))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
        assert_eq!(e["error"]["code"], "VALIDATION");
    }
    let (s, _) = t.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, empty) = t
        .call(
            Method::GET,
            &format!("{path}?date=2001-01-01"),
            None,
            Some(&bob.token),
        )
        .await;
    assert_eq!(
        (s, &empty["summary"]),
        (StatusCode::OK, &json!("0 blocks · 0 goals · 0 done"))
    );

    // Exported with the transcript.
    let export = format!("/api/rooms/{}/messages/export", ada.code);
    let (_, j) = t
        .call(
            Method::GET,
            &format!("{export}?format=json"),
            None,
            Some(&ada.token),
        )
        .await;
    assert_eq!(j["record"][0]["tally"]["blocks"], 1, "{j}");
    assert!(
        j["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["message"] == "Ada ✓ Write the spec"),
        "the check-in is a chat line"
    );
    let md = t
        .client
        .get(t.url(&format!("{export}?format=md")))
        .bearer_auth(&ada.token)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert!(md.contains("## Work blocks"), "{md}");
    assert!(md.contains("- Ada ✓ Write the spec (block 1)"), "{md}");
    assert!(md.contains(r"- Bob · Review \*it\* (block 1)"), "{md}");
    assert!(md.contains("Ada ✓ Write the spec"), "{md}");

    // The operator's view, from the built binary on the same database.
    let code = ada.code.as_str();
    let j = stdout_json(&cli(
        &url,
        &data,
        &["rooms", "show", code, "--today", "--json"],
    ));
    assert_eq!(j["tally"]["goals"], 2, "{j}");
    let text = cli(&url, &data, &["rooms", "show", code, "--today"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("1 block · 2 goals · 1 done"), "{text}");
    assert!(
        text.contains("✓ done") && text.contains("Write the spec"),
        "{text}"
    );
    assert!(text.contains("streaks   Ada 1 day, Bob 1 day"), "{text}");
    let old = stdout_json(&cli(
        &url,
        &data,
        &[
            "rooms",
            "show",
            code,
            "--date",
            "2001-01-01",
            "--utc-offset",
            "-05:00",
            "--json",
        ],
    ));
    assert_eq!(
        (
            old["tally"]["blocks"].as_u64(),
            old["utc_offset_minutes"].as_i64()
        ),
        (Some(0), Some(-300))
    );
    let bad = cli(
        &url,
        &data,
        &["rooms", "show", code, "--today", "--utc-offset", "2"],
    );
    assert_eq!(bad.status.code(), Some(2), "a bad offset is a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("+02:00"));

    // Ending the room removes its record, as it removes its chat.
    let (s, _) = t
        .call(
            Method::DELETE,
            &format!("/api/rooms/{code}"),
            None,
            Some(&ada.token),
        )
        .await;
    assert!(s.is_success(), "{s}");
    let room_id = t.room_id(code).await;
    let left = t
        .sql_count("SELECT COUNT(*) FROM goals WHERE room_id = $1", &room_id)
        .await
        + t.sql_count(
            "SELECT COUNT(*) FROM work_blocks WHERE room_id = $1",
            &room_id,
        )
        .await;
    assert_eq!(left, 0);
    t.stop().await;
}
each_backend!(record_of_the_day);
