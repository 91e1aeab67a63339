//! Chat over REST: posting, newest-first cursor pages, export (token and signed link), by
//! participants who are in the room (connected, as the room page is).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Setup, code, each_backend};

async fn history_pages_newest_first(setup: Setup) {
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let guest = t.join_ok(&host.code, "Bob").await;
    let _live = (t.connect(&host).await, t.connect(&guest).await);
    let path = format!("/api/rooms/{}/messages", host.code);
    for i in 1..=7 {
        let who = if i % 2 == 0 { &guest } else { &host };
        let (s, m) = t
            .post(
                &path,
                json!({ "message": format!("m{i}") }),
                Some(&who.token),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        assert_eq!(m["message"], format!("m{i}"));
        assert_eq!(m["type"], "text");
        assert_eq!(m["sender_id"], who.participant_id.as_str());
    }
    let (s, b) = t
        .post(
            &path,
            json!({ "message": "🎉", "type": "emoji" }),
            Some(&host.token),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let texts = |b: &serde_json::Value| -> Vec<String> {
        b["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["message"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (s, page) = t.get(&format!("{path}?limit=3"), Some(&guest.token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        texts(&page),
        ["m6", "m7", "🎉"],
        "the newest page first, oldest→newest inside"
    );
    let cursor = page["next_before"].as_i64().expect("more pages");
    let (_, page) = t
        .get(
            &format!("{path}?limit=3&before={cursor}"),
            Some(&guest.token),
        )
        .await;
    assert_eq!(texts(&page), ["m3", "m4", "m5"]);
    let cursor = page["next_before"].as_i64().expect("more pages");
    let (_, page) = t
        .get(
            &format!("{path}?limit=3&before={cursor}"),
            Some(&guest.token),
        )
        .await;
    assert_eq!(texts(&page), ["Bob joined", "m1", "m2"]);
    let cursor = page["next_before"].as_i64().expect("more pages");
    let (_, page) = t
        .get(
            &format!("{path}?limit=3&before={cursor}"),
            Some(&guest.token),
        )
        .await;
    assert_eq!(texts(&page), ["Host joined"], "the arrivals' lines");
    assert!(page["next_before"].is_null(), "no older page");

    for bad in [
        "?limit=0",
        "?limit=201",
        "?limit=abc",
        "?before=x",
        "?surprise=1",
    ] {
        let (s, b) = t.get(&format!("{path}{bad}"), Some(&guest.token)).await;
        assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{bad}: {b}");
    }
    for bad in [
        json!({ "message": "   " }),
        json!({ "message": "x".repeat(2001) }),
        json!({ "message": "hi", "type": "system" }),
        json!({ "message": "hi", "type": "shout" }),
        json!({ "message": "🎉".repeat(17), "type": "emoji" }),
    ] {
        let (s, b) = t.post(&path, bad.clone(), Some(&host.token)).await;
        assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"), "{bad}: {b}");
    }
    t.stop().await;
}
each_backend!(history_pages_newest_first);

async fn export_transcripts(setup: Setup) {
    let t = setup.spawn().await;
    let host = t
        .create_room(json!({ "display_name": "Ada", "name": "Standup" }))
        .await;
    let live = t.connect(&host).await;
    let path = format!("/api/rooms/{}/messages", host.code);
    t.post(&path, json!({ "message": "first" }), Some(&host.token))
        .await;
    t.post(&path, json!({ "message": "second" }), Some(&host.token))
        .await;

    let (s, doc) = t
        .get(&format!("{path}/export?format=json"), Some(&host.token))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["room"]["name"], "Standup");
    assert_eq!(
        doc["messages"].as_array().map(Vec::len),
        Some(3),
        "Ada's arrival and two messages"
    );

    let res = t
        .client
        .get(t.url(&format!("{path}/export?format=txt")))
        .bearer_auth(&host.token)
        .send()
        .await
        .expect("sent");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains(&format!("flowsync-{}-chat.txt", host.code))
    );
    let txt = res.text().await.unwrap_or_default();
    assert!(txt.contains("Standup"));
    assert!(
        txt.contains("Ada: first\n") && txt.find("first") < txt.find("second"),
        "{txt}"
    );

    // A signed link downloads without a header; a tampered or unsigned one does not.
    let (s, link) = t
        .post(&format!("{path}/export-link"), json!({}), Some(&host.token))
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    let url = link["url"].as_str().expect("url").to_owned();
    let res = t
        .client
        .get(t.url(&format!("{url}&format=txt")))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap_or_default().contains("second"));
    let tampered = url.replace("sig=", "sig=x");
    let (s, b) = t.get(&tampered, None).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "INVALID_TOKEN"));
    let (s, b) = t.get(&format!("{path}/export"), None).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "UNAUTHORIZED"));
    let (s, b) = t
        .get(&format!("{path}/export?format=pdf"), Some(&host.token))
        .await;
    assert_eq!((s.as_u16(), code(&b)), (422, "VALIDATION"));
    // The link dies with its participant's seat: after leaving, it downloads nothing.
    let mut live = live;
    live.emit("leave-room", &json!({})).await.expect("leave");
    crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let (s, b) = t.get(&url, None).await;
        ((s.as_u16(), code(&b)) == (409, "NOT_IN_ROOM")).then_some(())
    })
    .await;
    t.stop().await;
}
each_backend!(export_transcripts);
