//! Control of a room is never lost: a room whose host left alone, or whose host's grace ran out
//! with nobody there, makes the next person who arrives its host, on every backend.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Setup, TestApp, ack, each_backend, eventually, next_event};

/// Waits until nobody holds an open session in the room (its last departure is recorded).
async fn empty(t: &TestApp, code: &str) {
    let room_id = t.room_id(code).await;
    eventually(Duration::from_secs(10), || async {
        let open = t
            .sql_count(
                "SELECT COUNT(*) FROM room_sessions WHERE room_id = $1 AND left_at IS NULL",
                &room_id,
            )
            .await;
        (open == 0).then_some(())
    })
    .await;
}

async fn next_joiner_takes_a_hostless_room(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.reconnect_grace = Duration::from_secs(1))
        .spawn()
        .await;
    let host = t.create_simple().await;

    // The host's connection is lost and its grace runs out with nobody there.
    t.connect(&host).await.close().await;
    empty(&t, &host.code).await;
    let ada = t.join_ok(&host.code, "Ada").await;
    let (mut a, snapshot) = t.connect_snapshot(&ada).await;
    assert_eq!(snapshot["self"]["role"], "host", "{snapshot}");
    let started = ack(&mut a, "start-timer", json!({}), 1).await;
    assert_eq!(started["ok"], true, "{started}");

    // Someone arriving while a host is present stays a guest.
    let bob = t.join_ok(&host.code, "Bob").await;
    let (mut b, snapshot) = t.connect_snapshot(&bob).await;
    assert_eq!(snapshot["self"]["role"], "guest", "{snapshot}");
    let refused = ack(&mut b, "pause-timer", json!({}), 1).await;
    assert_eq!(refused["error"]["code"], "FORBIDDEN", "{refused}");

    // The host leaves explicitly: Bob, present, succeeds. Then Bob leaves alone.
    assert_eq!(ack(&mut a, "leave-room", json!({}), 2).await["ok"], true);
    while next_event(&mut b, "host-changed").await["participant_id"] != bob.participant_id.as_str()
    {
    }
    assert_eq!(ack(&mut b, "leave-room", json!({}), 2).await["ok"], true);
    empty(&t, &host.code).await;

    // The room is not left without control: the next arrival is host; the old host, back on
    // its link, is a guest beside it.
    let cy = t.join_ok(&host.code, "Cy").await;
    let (mut c, snapshot) = t.connect_snapshot(&cy).await;
    assert_eq!(snapshot["self"]["role"], "host", "{snapshot}");
    let paused = ack(&mut c, "pause-timer", json!({}), 1).await;
    assert_eq!(paused["ok"], true, "{paused}");
    let (_h, snapshot) = t.connect_snapshot(&host).await;
    assert_eq!(snapshot["self"]["role"], "guest", "{snapshot}");
    t.stop().await;
}
each_backend!(next_joiner_takes_a_hostless_room);

/// While the host is within its reconnect grace it is present: nobody takes its place, and it
/// comes back as host.
async fn a_host_within_its_grace_keeps_the_role(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.reconnect_grace = Duration::from_secs(30))
        .spawn()
        .await;
    let host = t.create_simple().await;
    t.connect(&host).await.close().await;
    let ada = t.join_ok(&host.code, "Ada").await;
    let (_a, snapshot) = t.connect_snapshot(&ada).await;
    assert_eq!(snapshot["self"]["role"], "guest", "{snapshot}");
    let (_h, snapshot) = t.connect_snapshot(&host).await;
    assert_eq!(snapshot["self"]["role"], "host", "{snapshot}");
    t.stop().await;
}
each_backend!(a_host_within_its_grace_keeps_the_role);

/// Two people arriving together in a hostless room: exactly one becomes host.
async fn one_host_of_two_arrivals(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.reconnect_grace = Duration::from_secs(1))
        .spawn()
        .await;
    let host = t.create_simple().await;
    t.connect(&host).await.close().await;
    empty(&t, &host.code).await;
    let ada = t.join_ok(&host.code, "Ada").await;
    let bob = t.join_ok(&host.code, "Bob").await;
    let ((_a, sa), (_b, sb)) = tokio::join!(t.connect_snapshot(&ada), t.connect_snapshot(&bob));
    let room_id = t.room_id(&host.code).await;
    let hosts = t
        .sql_count(
            "SELECT COUNT(*) FROM participants WHERE room_id = $1 AND role = 'host'",
            &room_id,
        )
        .await;
    assert_eq!(hosts, 1, "{sa} {sb}");
    t.stop().await;
}
each_backend!(one_host_of_two_arrivals);

/// The lobby shows who is inside: the names of the people connected now, in the order they
/// joined; for a room with a password only the count.
async fn the_lobby_shows_who_is_inside(setup: Setup) {
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let path = format!("/api/rooms/{}", host.code);
    let (_, room) = t.get(&path, None).await;
    assert_eq!(room["inside"], json!([]), "{room}");
    let _h = t.connect(&host).await;
    let ada = t.join_ok(&host.code, "Ada").await;
    let (_, room) = t.get(&path, None).await;
    assert_eq!(
        room["inside"],
        json!(["Host"]),
        "a pending seat is not inside: {room}"
    );
    let _a = t.connect(&ada).await;
    let (_, room) = t.get(&path, None).await;
    assert_eq!(room["inside"], json!(["Host", "Ada"]), "{room}");

    let locked = t
        .create_room(json!({ "display_name": "Host", "password": "correct horse" }))
        .await;
    let _l = t.connect(&locked).await;
    let (_, room) = t.get(&format!("/api/rooms/{}", locked.code), None).await;
    assert_eq!(room["inside"], Value::Null, "{room}");
    assert_eq!(room["participant_count"], 1, "{room}");
    t.stop().await;
}
each_backend!(the_lobby_shows_who_is_inside);
