//! A team's own rooms: who may create rooms (`rooms.create_policy`), standing rooms (no idle
//! expiry, `/r/<slug>`, chat kept for its retention), host links, and making a room standing
//! later; on every backend.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Setup, TestApp, ack, code, each_backend, eventually, next_event};

const ADMIN_TOKEN: &str = "admin-token-for-team-rooms";

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

fn with_policy(setup: Setup, policy: flowsync::config::CreatePolicy) -> Setup {
    setup.with(move |c| {
        c.rooms.create_policy = policy;
        c.server.admin_token_sha256 = Some(flowsync::config::Secret::new(sha256(
            ADMIN_TOKEN.as_bytes(),
        )));
    })
}

async fn create(t: &TestApp, body: Value, bearer: Option<&str>) -> (StatusCode, Value) {
    t.post("/api/rooms", body, bearer).await
}

/// `link`: creating needs the team's create link (rotatable); the operator always may.
async fn create_policy_link(setup: Setup) {
    let t = with_policy(setup, flowsync::config::CreatePolicy::Link)
        .spawn()
        .await;
    let body = json!({ "display_name": "Ada" });
    let (s, b) = create(&t, body.clone(), None).await;
    assert_eq!((s.as_u16(), code(&b)), (403, "CREATE_NOT_ALLOWED"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("create link"),
        "{b}"
    );
    let (s, b) = create(
        &t,
        json!({ "display_name": "Ada", "create_key": "guess" }),
        None,
    )
    .await;
    assert_eq!((s.as_u16(), code(&b)), (403, "CREATE_NOT_ALLOWED"), "{b}");

    let key = flowsync::rooms::team::create_secret(&t.app().db)
        .await
        .expect("create link");
    let (s, b) = create(
        &t,
        json!({ "display_name": "Ada", "create_key": key }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let rotated = flowsync::rooms::team::rotate_create_secret(&t.app().db)
        .await
        .expect("rotate");
    let (s, b) = create(
        &t,
        json!({ "display_name": "Ada", "create_key": key }),
        None,
    )
    .await;
    assert_eq!(
        (s.as_u16(), code(&b)),
        (403, "CREATE_NOT_ALLOWED"),
        "the old link: {b}"
    );
    let (s, b) = create(
        &t,
        json!({ "display_name": "Ada", "create_key": rotated }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let (s, b) = create(&t, body, Some(ADMIN_TOKEN)).await;
    assert_eq!(s, StatusCode::CREATED, "the operator: {b}");
    let (s, b) = create(&t, json!({ "display_name": "Ada" }), Some("wrong")).await;
    assert_eq!(s.as_u16(), 403, "a wrong admin token: {b}");
    t.stop().await;
}
each_backend!(create_policy_link);

/// `operator`: only the operator creates; `open`: anyone (rate-limited).
async fn create_policy_operator_and_open(setup: Setup) {
    let t = with_policy(setup, flowsync::config::CreatePolicy::Operator)
        .spawn()
        .await;
    let key = flowsync::rooms::team::create_secret(&t.app().db)
        .await
        .expect("create link");
    let (s, b) = create(
        &t,
        json!({ "display_name": "Ada", "create_key": key }),
        None,
    )
    .await;
    assert_eq!((s.as_u16(), code(&b)), (403, "CREATE_NOT_ALLOWED"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("operator"),
        "{b}"
    );
    let (s, b) = create(&t, json!({ "display_name": "Ada" }), Some(ADMIN_TOKEN)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A refused create hands out no TURN credentials.
    assert!(b["ice_servers"].is_array());
    t.stop().await;

    let t = Setup::new(
        crate::helpers::Backend::Sqlite,
        crate::helpers::StateKind::Memory,
    )
    .await
    .spawn()
    .await;
    let (s, b) = create(&t, json!({ "display_name": "Ada" }), None).await;
    assert_eq!(s, StatusCode::CREATED, "open is the default: {b}");
    t.stop().await;
}
each_backend!(create_policy_operator_and_open);

/// A standing room: its slug, no idle expiry through a sweep, its chat kept for the retention.
async fn standing_rooms_stay(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.idle_expiry = Duration::from_secs(1))
        .spawn()
        .await;
    let (s, team) = create(
        &t,
        json!({ "display_name": "Ada", "name": "Design Team", "standing": true, "slug": "design" }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    assert_eq!(team["room"]["standing"], true);
    assert_eq!(team["room"]["slug"], "design");
    assert_eq!(team["room"]["retention_days"], 30);
    assert_eq!(team["room"]["expires_at"], Value::Null);
    assert!(
        team["host_key"].as_str().is_some_and(|k| k.len() == 22),
        "{team}"
    );
    let code_ = team["room_code"].as_str().expect("code").to_owned();

    // Slugs: a chosen one must be free; one made from the name gets a number.
    let (s, b) = create(
        &t,
        json!({ "display_name": "Bo", "standing": true, "slug": "design" }),
        None,
    )
    .await;
    assert_eq!((s.as_u16(), code(&b)), (409, "SLUG_TAKEN"), "{b}");
    let (s, b) = create(
        &t,
        json!({ "display_name": "Bo", "standing": true, "name": "design" }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["room"]["slug"], "design-2");
    let (s, b) = create(&t, json!({ "display_name": "Bo", "slug": "nope" }), None).await;
    assert_eq!(
        (s.as_u16(), code(&b)),
        (422, "VALIDATION"),
        "slug without standing: {b}"
    );
    let (s, b) = t.get("/api/slugs/design", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["code"], code_.as_str());
    let (s, b) = t.get("/api/slugs/nobody-here", None).await;
    assert_eq!((s.as_u16(), code(&b)), (404, "ROOM_NOT_FOUND"), "{b}");
    let page = t.client.get(t.url("/r/design")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);

    // Chat in the standing room, one line older than the retention.
    let token = team["token"].as_str().expect("token").to_owned();
    let seat = crate::helpers::seat(team.clone());
    let live = t.connect(&seat).await;
    let path = format!("/api/rooms/{code_}/messages");
    for m in ["old news", "fresh"] {
        let (s, _) = t.post(&path, json!({ "message": m }), Some(&token)).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    t.sql(
        "UPDATE room_messages SET created_at = created_at - 2678400000 WHERE body = $1",
        "old news",
    )
    .await;
    live.close().await;

    // An ordinary room expires after idle_expiry and a sweep; the standing room does not.
    let plain = t.create_simple().await;
    eventually(Duration::from_secs(10), || async {
        let (s, _) = t.get(&format!("/api/rooms/{}", plain.code), None).await;
        (s == StatusCode::GONE).then_some(())
    })
    .await;
    let (s, report) = t.admin("POST", "/api/admin/sweep").await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert!(
        report["expired"].to_string().contains(&plain.code),
        "{report}"
    );
    assert!(!report["expired"].to_string().contains(&code_), "{report}");
    assert_eq!(report["messages_purged"], 1, "{report}");
    let (s, b) = t.get(&format!("/api/rooms/{code_}"), None).await;
    assert_eq!(s, StatusCode::OK, "the standing room survives: {b}");
    let (_, joined) = t.connect_snapshot(&seat).await;
    assert_eq!(joined["room"]["standing"], true);
    let (s, b) = t.get(&path, Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let text = b.to_string();
    assert!(text.contains("fresh") && !text.contains("old news"), "{b}");
    t.stop().await;
}
each_backend!(standing_rooms_stay);

/// The host link makes whoever opens it host; the host can copy or renew it; an ordinary
/// room's host can make it standing, and everyone in it hears so.
async fn host_links(setup: Setup) {
    let t = setup.spawn().await;
    let (_, team) = create(
        &t,
        json!({ "display_name": "Ada", "name": "Ops", "standing": true }),
        None,
    )
    .await;
    let host_key = team["host_key"].as_str().expect("host key").to_owned();
    let ada = crate::helpers::seat(team);
    let mut a = t.connect(&ada).await;
    let ben = t.join_ok(&ada.code, "Ben").await;
    let (mut b, snapshot) = t.connect_snapshot(&ben).await;
    assert_eq!(snapshot["self"]["role"], "guest");
    assert_eq!(snapshot["room"]["slug"], "ops");

    let wrong = ack(
        &mut b,
        "claim-host",
        json!({ "host_key": "x".repeat(22) }),
        1,
    )
    .await;
    assert_eq!(wrong["error"]["code"], "FORBIDDEN", "{wrong}");
    let ok = ack(&mut b, "claim-host", json!({ "host_key": host_key }), 2).await;
    assert_eq!(ok["ok"], true, "{ok}");
    while next_event(&mut a, "host-changed").await["participant_id"] != ben.participant_id.as_str()
    {
    }
    let refused = ack(&mut a, "host-link", json!({}), 1).await;
    assert_eq!(
        refused["error"]["code"], "FORBIDDEN",
        "the old host: {refused}"
    );

    let same = ack(&mut b, "host-link", json!({}), 3).await;
    assert_eq!(same["host_key"], host_key.as_str());
    let renewed = ack(&mut b, "host-link", json!({ "rotate": true }), 4).await;
    let new_key = renewed["host_key"].as_str().expect("key").to_owned();
    assert_ne!(new_key, host_key);
    let stale = ack(&mut a, "claim-host", json!({ "host_key": host_key }), 2).await;
    assert_eq!(stale["error"]["code"], "FORBIDDEN", "{stale}");
    let fresh = ack(&mut a, "claim-host", json!({ "host_key": new_key }), 3).await;
    assert_eq!(fresh["ok"], true, "{fresh}");

    // An ordinary room made standing by its host.
    let host = t
        .create_room(json!({ "display_name": "Cy", "name": "Cy's desk" }))
        .await;
    let mut c = t.connect(&host).await;
    let dee = t.join_ok(&host.code, "Dee").await;
    let mut d = t.connect(&dee).await;
    let refused = ack(&mut d, "make-standing", json!({}), 1).await;
    assert_eq!(refused["error"]["code"], "FORBIDDEN", "{refused}");
    let made = ack(&mut c, "make-standing", json!({ "retention_days": 7 }), 1).await;
    assert_eq!(made["room"]["standing"], true, "{made}");
    assert_eq!(made["room"]["slug"], "cy-s-desk");
    assert_eq!(made["room"]["retention_days"], 7);
    assert!(made["host_key"].as_str().is_some());
    let updated = next_event(&mut d, "room-updated").await;
    assert_eq!(updated["room"]["slug"], "cy-s-desk");
    let (_, b) = t.get("/api/slugs/cy-s-desk", None).await;
    assert_eq!(b["code"], host.code.as_str());
    t.stop().await;
}
each_backend!(host_links);
