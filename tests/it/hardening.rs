//! What someone with a room link (or none) must not get: a silent seat that reads the room,
//! seats held without being seen, text that passes for something else.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Setup, code, each_backend, eventually, next_event};

/// A seat taken over REST reads nothing until its live connection arrives, is shown to the room
/// ("joining…": `participant-pending`, and in `room-joined`'s `pending`), can be removed by the
/// host, and reads nothing again once its seat lapsed.
async fn no_silent_reader(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.reconnect_grace = Duration::from_secs(1))
        .spawn()
        .await;
    let host = t.create_simple().await;
    let mut host_live = t.connect(&host).await;
    let path = format!("/api/rooms/{}/messages", host.code);
    let (s, _) = t
        .post(&path, json!({ "message": "the plan" }), Some(&host.token))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let eve = t.join_ok(&host.code, "Eve").await;
    let pending = next_event(&mut host_live, "participant-pending").await;
    assert_eq!(pending["participant_id"], eve.participant_id.as_str());
    assert_eq!(pending["display_name"], "Eve");
    assert!(pending["expires_in_ms"].as_i64().is_some_and(|ms| ms > 0));
    for (method, p) in [
        (reqwest::Method::GET, path.clone()),
        (reqwest::Method::GET, format!("{path}/export?format=txt")),
        (reqwest::Method::POST, format!("{path}/export-link")),
    ] {
        let body = (method == reqwest::Method::POST).then(|| json!({}));
        let (s, b) = t.call(method, &p, body, Some(&eve.token)).await;
        assert_eq!((s.as_u16(), code(&b)), (409, "NOT_IN_ROOM"), "{p}: {b}");
    }
    let (s, b) = t
        .post(&path, json!({ "message": "hi" }), Some(&eve.token))
        .await;
    assert_eq!((s.as_u16(), code(&b)), (409, "NOT_IN_ROOM"), "{b}");

    // Someone who reconnects now sees the pending seat in the snapshot.
    let guest = t.join_ok(&host.code, "Gus").await;
    let (_guest_live, snapshot) = t.connect_snapshot(&guest).await;
    let names: Vec<&str> = snapshot["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter_map(|p| p["display_name"].as_str())
        .collect();
    assert_eq!(names, ["Eve"], "{snapshot}");

    // Connected, Eve reads; after she is gone past the grace, her token reads nothing.
    let eve_live = t.connect(&eve).await;
    let (s, b) = t.get(&path, Some(&eve.token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.to_string().contains("the plan"));
    eve_live.close().await;
    // The room hears of her departure (presence drops her seat just before the broadcast, so
    // wait for the event itself: a later `user-left` must not be hers).
    while next_event(&mut host_live, "user-left").await["participant_id"]
        != eve.participant_id.as_str()
    {}
    eventually(Duration::from_secs(10), || async {
        let (s, b) = t.get(&path, Some(&eve.token)).await;
        ((s.as_u16(), code(&b)) == (409, "NOT_IN_ROOM")).then_some(())
    })
    .await;

    // The host sees a pending seat and can remove it.
    let mallory = t.join_ok(&host.code, "Mallory").await;
    while next_event(&mut host_live, "participant-pending").await["participant_id"]
        != mallory.participant_id.as_str()
    {}
    host_live
        .emit_with_ack(
            "kick-participant",
            &json!({ "participant_id": mallory.participant_id }),
            7,
        )
        .await
        .expect("kick");
    let left = next_event(&mut host_live, "user-left").await;
    assert_eq!(left["participant_id"], mallory.participant_id.as_str());
    let (s, b) = t.get(&path, Some(&mallory.token)).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "INVALID_TOKEN"), "{b}");
    t.stop().await;
}
each_backend!(no_silent_reader);

/// Seats taken over REST and never connected lapse after `rooms.pending_seat_grace`, not after
/// the whole reconnect grace: four squatters cannot keep an invitee out.
async fn squatted_seats_lapse(setup: Setup) {
    let t = setup
        .with(|c| {
            c.rooms.reconnect_grace = Duration::from_secs(60);
            c.rooms.pending_seat_grace = Duration::from_secs(1);
        })
        .spawn()
        .await;
    let host = t
        .create_room(json!({ "display_name": "Host", "max_participants": 5 }))
        .await;
    let _host_live = t.connect(&host).await;
    for i in 0..4 {
        t.join_ok(&host.code, &format!("Squatter {i}")).await;
    }
    let (s, b) = t
        .join(&host.code, json!({ "display_name": "Invitee" }))
        .await;
    assert_eq!((s.as_u16(), code(&b)), (403, "ROOM_FULL"), "{b}");
    let started = std::time::Instant::now();
    let invitee = eventually(Duration::from_secs(10), || async {
        let (s, b) = t
            .join(&host.code, json!({ "display_name": "Invitee" }))
            .await;
        (s == StatusCode::OK).then(|| crate::helpers::seat(b))
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the squatters' seats lapsed after {:?}",
        started.elapsed()
    );
    // The other squatters' seats lapse as well (each a second after its own join); a
    // connected participant keeps its seat for the whole grace.
    let _live = t.connect(&invitee).await;
    eventually(Duration::from_secs(5), || async {
        let (_, b) = t.get(&format!("/api/rooms/{}", host.code), None).await;
        (b["participant_count"] == 2).then_some(())
    })
    .await;
    t.stop().await;
}
each_backend!(squatted_seats_lapse);

/// Names and chat cannot carry invisible or control characters: no impersonation with a
/// zero-width joiner, no forged transcript lines, no NUL that PostgreSQL refuses; chat keeps
/// its line breaks, shown indented in the transcript.
async fn text_that_cannot_lie(setup: Setup) {
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let _live = t.connect(&host).await;
    let (s, b) = t
        .join(&host.code, json!({ "display_name": "Host\u{200d}" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = t
        .join(
            &host.code,
            json!({ "display_name": "\u{200b}\u{200d}\u{202e}" }),
        )
        .await;
    assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{b}");
    let path = format!("/api/rooms/{}/messages", host.code);
    for (sent, stored) in [
        (
            "hi\n[12:00] * Mallory was made host",
            "hi\n[12:00] * Mallory was made host",
        ),
        ("bell\u{7}\u{1b}[2J and NUL\u{0}", "bell[2J and NUL"),
        ("rtl \u{202e}olleh", "rtl olleh"),
    ] {
        let (s, b) = t
            .post(&path, json!({ "message": sent }), Some(&host.token))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["message"], stored);
    }
    let (s, b) = t
        .post(
            &path,
            json!({ "message": "\u{200b}\u{0}" }),
            Some(&host.token),
        )
        .await;
    assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{b}");
    let res = t
        .client
        .get(t.url(&format!("{path}/export?format=txt")))
        .bearer_auth(&host.token)
        .send()
        .await
        .expect("sent");
    let txt = res.text().await.unwrap_or_default();
    assert!(txt.contains("Host: hi\n    [12:00] * Mallory"), "{txt}");
    assert!(
        !txt.lines().any(|l| l.starts_with("[12:00]")),
        "no forged entry: {txt}"
    );
    assert!(!txt.contains('\u{1b}') && !txt.contains('\u{0}'));
    t.stop().await;
}
each_backend!(text_that_cannot_lie);

/// A participant's chat has a budget, over REST and Socket.io together.
async fn chat_has_a_budget(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.message_rate_per_participant = "3/minute".parse().expect("rate"))
        .spawn()
        .await;
    let host = t.create_simple().await;
    let mut live = t.connect(&host).await;
    let path = format!("/api/rooms/{}/messages", host.code);
    for i in 0..2 {
        let (s, _) = t
            .post(
                &path,
                json!({ "message": format!("m{i}") }),
                Some(&host.token),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    live.emit_with_ack("chat-message", &json!({ "message": "m2" }), 1)
        .await
        .expect("emit");
    let ack = next_event(&mut live, "ack:1").await;
    assert_eq!(ack["ok"], true, "{ack}");
    live.emit_with_ack("chat-message", &json!({ "message": "m3" }), 2)
        .await
        .expect("emit");
    let ack = next_event(&mut live, "ack:2").await;
    assert_eq!(ack["error"]["code"], "RATE_LIMITED", "{ack}");
    let res = t
        .client
        .post(t.url(&path))
        .bearer_auth(&host.token)
        .json(&json!({ "message": "m4" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().contains_key("retry-after"));
    t.stop().await;
}
each_backend!(chat_has_a_budget);
