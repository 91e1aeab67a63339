//! REST rooms: create, look up, join, capacity by seats, passwords, kicks, ending, tombstones,
//! expiry and the sweeper — each body run on SQLite and PostgreSQL, with and without Redis.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Setup, code, each_backend};

async fn create_get_join(setup: Setup) {
    let t = setup.spawn().await;
    let host = t
        .create_room(
            json!({ "display_name": "  Ada  ", "name": "Deep work", "device_id": "dev-1" }),
        )
        .await;
    assert_eq!(host.body["role"], "host");
    assert_eq!(host.body["room"]["name"], "Deep work");
    assert!(host.token.len() >= 43, "token has at least 128 bits");
    assert_eq!(host.code.len(), 6);
    assert!(!host.code.contains(['0', 'O', '1', 'I', 'L']));
    assert_eq!(host.body["ice_servers"], json!([]));

    // Codes are case-insensitive.
    let (status, room) = t
        .get(&format!("/api/rooms/{}", host.code.to_lowercase()), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(room["participant_count"], 1);
    assert_eq!(room["has_password"], false);
    assert_eq!(room["max_participants"], 10);
    assert!(room.get("password_hash").is_none());

    let guest = t.join_ok(&host.code.to_lowercase(), "Bob").await;
    assert_eq!(guest.body["role"], "guest");
    assert_eq!(guest.code, host.code);
    assert_ne!(guest.token, host.token);
    let (_, room) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!(room["participant_count"], 2);

    // Tokens are stored hashed, never in clear.
    let stored = t
        .sql_count(
            "SELECT COUNT(*) FROM participants WHERE token_hash = $1",
            &host.token,
        )
        .await;
    assert_eq!(stored, 0);
    let hashed = t
        .sql_count(
            "SELECT COUNT(*) FROM participants WHERE token_hash = $1",
            &flowsync::auth::token_hash(&host.token),
        )
        .await;
    assert_eq!(hashed, 1);
    t.stop().await;
}
each_backend!(create_get_join);

async fn bad_input(setup: Setup) {
    let t = setup.spawn().await;
    let raw = |body: &'static str, ctype: &'static str| {
        let req = t
            .client
            .post(t.url("/api/rooms"))
            .header("content-type", ctype)
            .body(body);
        async move {
            let res = req.send().await.expect("sent");
            let status = res.status();
            (
                status,
                res.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (s, b) = raw("{not json", "application/json").await;
    assert_eq!((s.as_u16(), code(&b)), (400, "VALIDATION"), "{b}");
    let (s, b) = raw(r#"{"display_name": 5}"#, "application/json").await;
    assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{b}");
    let (s, b) = raw(r#"{"display_name": "a"}"#, "text/plain").await;
    assert_eq!((s.as_u16(), code(&b)), (415, "VALIDATION"), "{b}");
    let (s, b) = raw(
        r#"{"display_name": "a", "surprise": 1}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        (s.as_u16(), code(&b)),
        (422, "VALIDATION"),
        "unknown fields are refused: {b}"
    );

    let cases = [
        json!({ "display_name": "   " }),
        json!({ "display_name": "x".repeat(51) }),
        json!({ "display_name": "a", "max_participants": 11 }),
        json!({ "display_name": "a", "max_participants": 1 }),
        json!({ "display_name": "a", "password": "abc" }),
        json!({ "display_name": "a", "timer": { "work_seconds": 0 } }),
        json!({ "display_name": "a", "timer": { "long_break_seconds": 14401 } }),
        json!({ "display_name": "a", "device_id": "not a device id!" }),
        json!({ "display_name": "a", "name": "n".repeat(81) }),
    ];
    for body in cases {
        let (s, b) = t.post("/api/rooms", body.clone(), None).await;
        assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{body} → {b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    // Oversized bodies: 413, and the server keeps working.
    let big = json!({ "display_name": "a", "name": "x".repeat(64 * 1024) });
    let (s, b) = t.post("/api/rooms", big, None).await;
    assert_eq!((s.as_u16(), code(&b)), (413, "PAYLOAD_TOO_LARGE"), "{b}");

    // Unknown rooms: well-formed and garbage codes are both 404, garbage never reaches SQL.
    for c in ["ABCDEF", "zzzzzz", "%27%3B--", "TOOLONGCODE"] {
        let (s, b) = t.get(&format!("/api/rooms/{c}"), None).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "ROOM_NOT_FOUND"), "{c}: {b}");
        let (s, b) = t.join(c, json!({ "display_name": "x" })).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "ROOM_NOT_FOUND"), "{c}: {b}");
    }
    let (s, b) = t.get("/api/nothing-here", None).await;
    assert_eq!((s.as_u16(), code(&b)), (404, "NOT_FOUND"));
    let (s, b) = t.call(Method::PUT, "/api/rooms", None, None).await;
    assert_eq!((s.as_u16(), code(&b)), (405, "METHOD_NOT_ALLOWED"));

    // Still healthy after all that.
    let room = t.create_simple().await;
    assert_eq!(room.body["role"], "host");
    t.stop().await;
}
each_backend!(bad_input);

async fn passwords(setup: Setup) {
    let t = setup.spawn().await;
    let host = t
        .create_room(json!({ "display_name": "Ada", "password": "open sesame" }))
        .await;
    let (_, room) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!(room["has_password"], true);
    let phc = t
        .sql_string(
            "SELECT password_hash FROM rooms WHERE code = $1",
            &host.code,
        )
        .await
        .unwrap_or_default();
    assert!(phc.starts_with("$argon2id$"), "stored as Argon2id: {phc}");

    let (s, b) = t.join(&host.code, json!({ "display_name": "Eve" })).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "WRONG_PASSWORD"));
    let (s, b) = t
        .join(
            &host.code,
            json!({ "display_name": "Eve", "password": "guess" }),
        )
        .await;
    assert_eq!((s.as_u16(), code(&b)), (401, "WRONG_PASSWORD"));
    let (s, b) = t
        .join(
            &host.code,
            json!({ "display_name": "Bob", "password": "open sesame" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Chat of a password room is not readable without a token of that room.
    let (s, b) = t
        .get(&format!("/api/rooms/{}/messages", host.code), None)
        .await;
    assert_eq!((s.as_u16(), code(&b)), (401, "UNAUTHORIZED"));
    t.stop().await;
}
each_backend!(passwords);

async fn capacity_counts_seats(setup: Setup) {
    let t = setup.spawn().await;
    let host = t
        .create_room(json!({ "display_name": "Ada", "max_participants": 2 }))
        .await;
    let guest = t.join_ok(&host.code, "Bob").await;
    let (s, b) = t.join(&host.code, json!({ "display_name": "Cy" })).await;
    assert_eq!((s.as_u16(), code(&b)), (403, "ROOM_FULL"), "{b}");

    // A participant gone longer than the reconnect grace no longer holds a seat.
    t.sql(
        "UPDATE participants SET last_seen_at = 0 WHERE id = $1",
        &guest.participant_id,
    )
    .await;
    let (s, b) = t.join(&host.code, json!({ "display_name": "Cy" })).await;
    assert_eq!(s, StatusCode::OK, "the seat was freed: {b}");
    // A connected participant (last_seen_at = db::rooms::CONNECTED) keeps its seat.
    t.sql(
        "UPDATE participants SET last_seen_at = 9223372036854775807, connections = 1 WHERE id = $1",
        &host.participant_id,
    )
    .await;
    let (s, b) = t.join(&host.code, json!({ "display_name": "Di" })).await;
    assert_eq!((s.as_u16(), code(&b)), (403, "ROOM_FULL"), "{b}");
    t.stop().await;
}
each_backend!(capacity_counts_seats);

async fn capacity_is_atomic(setup: Setup) {
    let t = setup
        .with(|c| {
            c.rooms.join_rate_per_ip = "1000/minute".parse().unwrap_or(c.rooms.join_rate_per_ip)
        })
        .spawn()
        .await;
    let host = t
        .create_room(json!({ "display_name": "Ada", "max_participants": 4 }))
        .await;
    let joins = (0..12).map(|i| t.join(&host.code, json!({ "display_name": format!("p{i}") })));
    let results = futures::future::join_all(joins).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let full = results
        .iter()
        .filter(|(s, b)| s.as_u16() == 403 && code(b) == "ROOM_FULL")
        .count();
    assert_eq!(
        (ok, full),
        (3, 9),
        "exactly the free seats were given out: {results:?}"
    );
    let (_, room) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!(room["participant_count"], 4);
    t.stop().await;
}
each_backend!(capacity_is_atomic);

async fn tokens_and_host_powers(setup: Setup) {
    let t = setup.spawn().await;
    let a = t.create_simple().await;
    let guest = t.join_ok(&a.code, "Bob").await;
    let b = t.create_simple().await;

    let path = format!("/api/rooms/{}/messages", a.code);
    let (s, body) = t.get(&path, Some("fst_not-a-real-token")).await;
    assert_eq!((s.as_u16(), code(&body)), (401, "INVALID_TOKEN"));
    let (s, body) = t.get(&path, Some(&b.token)).await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (403, "FORBIDDEN"),
        "token of another room"
    );
    let (s, body) = t.call(Method::GET, &path, None, None).await;
    assert_eq!((s.as_u16(), code(&body)), (401, "UNAUTHORIZED"));

    let room_path = format!("/api/rooms/{}", a.code);
    let (s, body) = t
        .call(Method::DELETE, &room_path, None, Some(&guest.token))
        .await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (403, "FORBIDDEN"),
        "guests cannot end the room"
    );
    let (s, body) = t
        .call(Method::DELETE, &room_path, None, Some(&b.token))
        .await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (403, "FORBIDDEN"),
        "another room's host cannot end it"
    );

    let mut live = t.app().live.subscribe();
    let (s, _) = t
        .call(Method::DELETE, &room_path, None, Some(&a.token))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    match live.try_recv() {
        Ok(flowsync::live::LiveEvent::RoomEnded { reason, .. }) => assert_eq!(reason, "ended"),
        other => panic!("live participants must hear of the end: {other:?}"),
    }

    // Ended: 410 for everyone, tokens revoked (also when they were cached), code not reusable.
    let (s, body) = t.get(&room_path, None).await;
    assert_eq!((s.as_u16(), code(&body)), (410, "ROOM_EXPIRED"));
    let (s, body) = t.join(&a.code, json!({ "display_name": "Late" })).await;
    assert_eq!((s.as_u16(), code(&body)), (410, "ROOM_EXPIRED"));
    let (s, body) = t.get(&path, Some(&guest.token)).await;
    assert_eq!((s.as_u16(), code(&body)), (401, "INVALID_TOKEN"));
    let tombstones = t
        .sql_count(
            "SELECT COUNT(*) FROM rooms WHERE code = $1 AND status = 'ended'",
            &a.code,
        )
        .await;
    assert_eq!(tombstones, 1);
    let left = t.sql_count("SELECT COUNT(*) FROM participants p JOIN rooms r ON r.id = p.room_id WHERE r.code = $1", &a.code).await;
    assert_eq!(left, 0, "participants and their tokens are purged");
    t.stop().await;
}
each_backend!(tokens_and_host_powers);

async fn kicked_devices_cannot_rejoin(setup: Setup) {
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let (s, b) = t
        .join(
            &host.code,
            json!({ "display_name": "Mallory", "device_id": "dev-mallory" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pid = b["participant_id"].as_str().unwrap_or_default().to_owned();
    // Kicking arrives with signaling; its effect on the database is a revoked, kicked row.
    t.sql(
        "UPDATE participants SET revoked_at = 1, revoked_reason = 'kicked' WHERE id = $1",
        &pid,
    )
    .await;
    let (s, b) = t
        .join(
            &host.code,
            json!({ "display_name": "Mallory", "device_id": "dev-mallory" }),
        )
        .await;
    assert_eq!((s.as_u16(), code(&b)), (403, "KICKED"));
    let (s, _) = t
        .join(
            &host.code,
            json!({ "display_name": "Mallory", "device_id": "dev-other" }),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a different device is not refused (the password is the real lock)"
    );
    t.stop().await;
}
each_backend!(kicked_devices_cannot_rejoin);

async fn expiry_sweep_and_tombstones(setup: Setup) {
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let other = t.create_simple().await;
    let _live = t.connect(&host).await;
    let before = t
        .sql_count("SELECT expires_at FROM rooms WHERE code = $1", &host.code)
        .await;
    let (s, _) = t
        .post(
            &format!("/api/rooms/{}/messages", host.code),
            json!({ "message": "still here" }),
            Some(&host.token),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let after = t
        .sql_count("SELECT expires_at FROM rooms WHERE code = $1", &host.code)
        .await;
    assert!(
        after >= before,
        "a message is activity and extends the expiry"
    );

    // Idle past expiry: 410 at once, even before the sweeper runs.
    t.sql(
        "UPDATE rooms SET expires_at = 1 WHERE code = $1",
        &host.code,
    )
    .await;
    let (s, b) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!((s.as_u16(), code(&b)), (410, "ROOM_EXPIRED"));

    let (s, report) = t.admin("POST", "/api/admin/sweep").await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["expired"], json!([host.code]));
    let msgs = t.sql_count("SELECT COUNT(*) FROM room_messages m JOIN rooms r ON r.id = m.room_id WHERE r.code = $1", &host.code).await;
    assert_eq!(msgs, 0, "messages purged");
    let status = t
        .sql_string("SELECT status FROM rooms WHERE code = $1", &host.code)
        .await;
    assert_eq!(status.as_deref(), Some("expired"), "the tombstone stays");
    let (s, _) = t.get(&format!("/api/rooms/{}", other.code), None).await;
    assert_eq!(s, StatusCode::OK, "active rooms are untouched");

    // Once the tombstone's reservation ends, the code is free again (404).
    t.sql(
        "UPDATE rooms SET tombstone_until = 1 WHERE code = $1",
        &host.code,
    )
    .await;
    let (_, report) = t.admin("POST", "/api/admin/sweep").await;
    assert_eq!(report["tombstones_deleted"], 1);
    let (s, _) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!(s.as_u16(), 404);
    t.stop().await;
}
each_backend!(expiry_sweep_and_tombstones);

async fn rate_limits(setup: Setup) {
    let t = setup
        .with(|c| {
            c.rooms.create_rate_per_ip = "2/hour".parse().expect("rate");
            c.rooms.join_rate_per_ip = "3/minute".parse().expect("rate");
        })
        .spawn()
        .await;
    let a = t.create_simple().await;
    t.create_simple().await;
    let res = t
        .client
        .post(t.url("/api/rooms"))
        .json(&json!({ "display_name": "x" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (1..=3600).contains(&retry),
        "Retry-After in seconds: {retry}"
    );
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(code(&body), "RATE_LIMITED");

    for _ in 0..3 {
        t.join(&a.code, json!({ "display_name": "g", "password": "x" }))
            .await;
    }
    let (s, b) = t.join(&a.code, json!({ "display_name": "g" })).await;
    assert_eq!(
        (s.as_u16(), code(&b)),
        (429, "RATE_LIMITED"),
        "password guessing is bounded"
    );
    t.stop().await;
}
each_backend!(rate_limits);

/// The status, error code and `Retry-After` of a request sent from `from` through a trusted
/// proxy on 127.0.0.1 (which names the client in `X-Forwarded-For`).
async fn from_address(
    t: &crate::helpers::TestApp,
    from: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String, Option<u64>) {
    let mut req = t
        .client
        .request(method, t.url(path))
        .header("x-forwarded-for", from);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let b: serde_json::Value = res.json().await.unwrap_or_default();
    (status, code(&b).to_owned(), retry)
}

/// Every door has a limit: room lookups per address (codes cannot be enumerated), IPv6 counted
/// by its /64, wrong passwords per room whatever the address, all answered 429 `RATE_LIMITED`
/// with `Retry-After`.
async fn limits_on_every_door(setup: Setup) {
    use reqwest::Method;
    let t = setup
        .with(|c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
            c.rooms.lookup_rate_per_ip = "4/minute".parse().expect("rate");
            c.rooms.password_failures_per_room = "3/hour".parse().expect("rate");
        })
        .spawn()
        .await;
    let room = t
        .create_room(json!({ "display_name": "Host", "password": "opensesame" }))
        .await;
    // Lookups: four at once from one address, then one every 15 s; misses count as much as hits.
    let lookup = |from: &'static str, code: &'static str| {
        let t = &t;
        async move { from_address(t, from, Method::GET, &format!("/api/rooms/{code}"), None).await }
    };
    for _ in 0..4 {
        assert_eq!(lookup("198.51.100.7", "ZZZZZZ").await.0, 404);
    }
    let (s, c, retry) = lookup("198.51.100.7", "ZZZZZZ").await;
    assert_eq!((s, c.as_str()), (429, "RATE_LIMITED"));
    assert!(retry.is_some_and(|r| (1..=15).contains(&r)), "{retry:?}");
    assert_eq!(lookup("198.51.100.8", "ZZZZZZ").await.0, 404, "per address");
    // IPv6: one /64 is one subscriber; another /64 has its own budget.
    for i in 1..=4 {
        let from: &'static str = [
            "2001:db8:0:1::1",
            "2001:db8:0:1::2",
            "2001:db8:0:1::3",
            "2001:db8:0:1:ffff::9",
        ][i - 1];
        assert_eq!(lookup(from, "ZZZZZZ").await.0, 404);
    }
    assert_eq!(
        lookup("2001:db8:0:1::77", "ZZZZZZ").await.0,
        429,
        "same /64"
    );
    assert_eq!(
        lookup("2001:db8:0:2::1", "ZZZZZZ").await.0,
        404,
        "another /64"
    );

    // Wrong passwords: three in the room's budget, from three addresses; then every attempt
    // waits, the right password too, whatever the address.
    let join = |from: &'static str, password: &'static str| {
        let t = &t;
        let path = format!("/api/rooms/{}/join", room.code);
        async move {
            from_address(
                t,
                from,
                Method::POST,
                &path,
                Some(json!({ "display_name": "Guess", "password": password })),
            )
            .await
        }
    };
    for from in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let (s, c, _) = join(from, "wrong").await;
        assert_eq!((s, c.as_str()), (401, "WRONG_PASSWORD"));
    }
    let (s, c, retry) = join("203.0.113.4", "opensesame").await;
    assert_eq!(
        (s, c.as_str()),
        (429, "RATE_LIMITED"),
        "the room's budget is spent"
    );
    assert!(retry.is_some_and(|r| r > 0), "{retry:?}");
    t.stop().await;
}
each_backend!(limits_on_every_door);
