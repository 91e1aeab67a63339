//! What live connections change in the database, on both backends: seats claimed at connect
//! (atomically, against capacity; telling first arrivals from returning ones), session records,
//! seats released, and freed by an explicit leave; the timer's compare-and-set.

use flowsync::clock::now_ms;
use flowsync::db;
use serde_json::json;

use crate::helpers::{Setup, each_backend};

async fn seats_at_connect(setup: Setup) {
    let t = setup.spawn().await;
    let app = t.app();
    let host = t
        .create_room(json!({ "display_name": "Ada", "max_participants": 2 }))
        .await;
    let bob = t.join_ok(&host.code, "Bob").await;
    let room_id = t.room_id(&host.code).await;
    let cutoff = || now_ms() - 60_000;

    let first = db::live::claim_seat(&app.db, &room_id, &host.participant_id, cutoff())
        .await
        .expect("claim")
        .expect("a seat");
    assert!(!first.returning, "never connected before");
    assert!(!first.session_open);
    // A session record is opened once: a second open (a reconnect after a restart, whose lost
    // connection left it open) continues it.
    for _ in 0..2 {
        db::live::open_session(&app.db, &room_id, &host.participant_id)
            .await
            .expect("session");
    }
    let open = t
        .sql_count(
            "SELECT COUNT(*) FROM room_sessions WHERE participant_id = $1 AND left_at IS NULL",
            &host.participant_id,
        )
        .await;
    assert_eq!(open, 1);
    let again = db::live::claim_seat(&app.db, &room_id, &host.participant_id, cutoff())
        .await
        .expect("claim")
        .expect("a seat");
    assert!(again.returning, "connected before");
    assert!(again.session_open, "its session was never closed");
    // Bob's seat lapses (gone past the grace) and Cy takes it.
    t.sql(
        "UPDATE participants SET last_seen_at = 0 WHERE id = $1",
        &bob.participant_id,
    )
    .await;
    let cy = t.join_ok(&host.code, "Cy").await;
    assert!(
        db::live::claim_seat(&app.db, &room_id, &bob.participant_id, cutoff())
            .await
            .expect("claim")
            .is_none(),
        "no free seat for Bob now"
    );
    // Cy leaves explicitly: the seat is free at once and Bob gets it back.
    db::live::mark_left(&app.db, &cy.participant_id)
        .await
        .expect("leave");
    assert!(
        db::live::claim_seat(&app.db, &room_id, &bob.participant_id, cutoff())
            .await
            .expect("claim")
            .is_some()
    );
    // Connected participants hold seats regardless of time; releasing starts the grace.
    db::live::release_seat(&app.db, &bob.participant_id)
        .await
        .expect("release");
    let seen = t
        .sql_count(
            "SELECT last_seen_at FROM participants WHERE id = $1",
            &bob.participant_id,
        )
        .await;
    assert!(
        seen <= now_ms() && seen > now_ms() - 10_000,
        "grace starts at release: {seen}"
    );
    t.stop().await;
}
each_backend!(seats_at_connect);

async fn concurrent_claims_respect_capacity(setup: Setup) {
    let t = setup
        .with(|c| c.rooms.join_rate_per_ip = "1000/minute".parse().expect("rate"))
        .spawn()
        .await;
    let app = t.app();
    let host = t
        .create_room(json!({ "display_name": "Ada", "max_participants": 4 }))
        .await;
    let room_id = t.room_id(&host.code).await;
    let mut guests = Vec::new();
    for i in 0..3 {
        guests.push(t.join_ok(&host.code, &format!("g{i}")).await);
    }
    // Everyone's seat lapses, then 3 newcomers take 3 seats: one seat is left for 3 claimants.
    for g in &guests {
        t.sql(
            "UPDATE participants SET last_seen_at = 0 WHERE id = $1",
            &g.participant_id,
        )
        .await;
    }
    for i in 0..2 {
        t.join_ok(&host.code, &format!("n{i}")).await;
    }
    let claims = guests
        .iter()
        .map(|g| db::live::claim_seat(&app.db, &room_id, &g.participant_id, now_ms() - 60_000));
    let won = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|r| r.as_ref().expect("claim").is_some())
        .count();
    assert_eq!(won, 1, "exactly the one free seat was claimed");
    t.stop().await;
}
each_backend!(concurrent_claims_respect_capacity);

async fn timer_compare_and_set(setup: Setup) {
    let t = setup.spawn().await;
    let app = t.app();
    let host = t.create_simple().await;
    let room_id = t.room_id(&host.code).await;
    let (_, version, _) = db::live::timer_load(&app.db, &room_id)
        .await
        .expect("load")
        .expect("room");
    assert!(
        db::live::timer_save(&app.db, &room_id, version, "{}", Some(5))
            .await
            .expect("save")
    );
    assert!(
        !db::live::timer_save(&app.db, &room_id, version, "{}", Some(6))
            .await
            .expect("save"),
        "a stale version loses"
    );
    assert_eq!(
        db::live::timers_due(&app.db, 10).await.expect("due"),
        vec![room_id.clone()]
    );
    assert!(
        db::live::timers_due(&app.db, 4)
            .await
            .expect("due")
            .is_empty()
    );
    // The poll runs every 100 ms: on SQLite it must visit only rooms whose phase has ended (the
    // timer index), not every active room (the status index SQLite's planner prefers).
    if let db::Db::Sqlite { read, .. } = &app.db {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            db::live::TIMERS_DUE_SQLITE
        )))
        .bind(0_i64)
        .fetch_all(read)
        .await
        .expect("plan");
        assert!(
            plan.len() == 1
                && plan[0]
                    .3
                    .starts_with("SEARCH rooms USING INDEX rooms_timer_ends_at"),
            "the timer poll's plan: {plan:?}"
        );
    }
    t.stop().await;
}
each_backend!(timer_compare_and_set);

/// Chat lines posted at the same moment are written together (group commit): every caller
/// gets its own row back, ids follow the posting order, and a line that cannot be stored (its
/// room does not exist) fails alone.
async fn concurrent_lines_are_committed_together(setup: Setup) {
    let t = setup.spawn().await;
    let app = t.app();
    let host = t.create_simple().await;
    let room_id = t.room_id(&host.code).await;
    let line = |room: String, body: String| async move {
        let m = db::messages::NewMessage {
            room_id: &room,
            participant_id: Some("p-test"),
            sender_name: "Tester",
            kind: "text",
            body: &body,
            client_id: None,
        };
        app.messages.insert(&m, None).await
    };
    // Round 1: all good (one multi-row statement). Round 2: one line of a missing room in the
    // middle (the batch fails and each line is retried alone).
    for (round, bad) in [(1, None), (2, Some(30))] {
        let bodies: Vec<String> = (0..60).map(|i| format!("round {round} line {i}")).collect();
        let mut calls: Vec<_> = bodies
            .iter()
            .map(|b| Box::pin(line(room_id.clone(), b.clone())))
            .collect();
        if let Some(at) = bad {
            calls.insert(at, Box::pin(line("no-such-room".into(), "lost".into())));
        }
        let mut results = futures::future::join_all(calls).await;
        if let Some(at) = bad {
            assert!(
                results.remove(at).is_err(),
                "the line of a missing room fails"
            );
        }
        let rows: Vec<_> = results.into_iter().map(|r| r.expect("stored")).collect();
        for (row, body) in rows.iter().zip(&bodies) {
            assert_eq!(&row.body, body, "each caller gets its own row");
            assert_eq!(row.room_id, room_id);
        }
        assert!(
            rows.windows(2).all(|w| w[0].id < w[1].id),
            "distinct ids in posting order"
        );
    }
    let stored = t
        .sql_count(
            "SELECT COUNT(*) FROM room_messages WHERE room_id = $1",
            &room_id,
        )
        .await;
    assert_eq!(stored, 120);
    t.stop().await;
}
each_backend!(concurrent_lines_are_committed_together);

fn newcomer(name: &str) -> db::models::NewParticipant {
    db::models::NewParticipant {
        id: flowsync::auth::new_id("p"),
        display_name: name.to_owned(),
        role: "guest",
        device_id: None,
        token_hash: flowsync::auth::token_hash(&flowsync::auth::new_token()),
        last_seen_at: flowsync::clock::now_ms(),
    }
}

/// Joins through the group commit (`App::joins`): arriving together, each still gets the
/// outcome it would get alone (seats given out in order, an ended room refused) and a bad one
/// fails alone. On SQLite a batch is one transaction that sees its own seats and leaves nothing
/// behind when any join in it fails.
async fn joins_written_together(setup: Setup) {
    let backend = setup.backend;
    let t = setup.spawn().await;
    let app = t.app();
    let open = t
        .create_room(json!({ "display_name": "Ada", "max_participants": 3 }))
        .await;
    let ended = t.create_room(json!({ "display_name": "Bo" })).await;
    // The duplicate goes to a room with free seats, so it fails on the id alone whichever
    // order the joins run in (on PostgreSQL they run side by side; in the full room it could
    // come back `Full` after two newcomers took the seats).
    let roomy = t.create_room(json!({ "display_name": "Di" })).await;
    let (open_id, ended_id) = (t.room_id(&open.code).await, t.room_id(&ended.code).await);
    let roomy_id = t.room_id(&roomy.code).await;
    t.sql("UPDATE rooms SET status = 'ended' WHERE id = $1", &ended_id)
        .await;
    let cutoff = now_ms() - 60_000;
    let expiry = now_ms() + 3_600_000;
    let mut duplicate = newcomer("Dup");
    duplicate.id = open.participant_id.clone();
    let mut jobs = vec![(roomy_id.as_str(), duplicate)];
    jobs.extend((0..4).map(|i| (open_id.as_str(), newcomer(&format!("p{i}")))));
    jobs.push((ended_id.as_str(), newcomer("late")));
    let outcomes = futures::future::join_all(
        jobs.into_iter()
            .map(|(room, p)| app.joins.join(room, p, cutoff, expiry, false)),
    )
    .await;
    let names: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Ok(o) => format!("{o:?}"),
            Err(_) => "error".to_owned(),
        })
        .collect();
    assert_eq!(names[0], "error", "a participant id that exists: {names:?}");
    let mut seats: Vec<&str> = names[1..5].iter().map(String::as_str).collect();
    seats.sort_unstable();
    assert_eq!(seats, ["Full", "Full", "Joined", "Joined"], "{names:?}");
    assert_eq!(names[5], "Gone");
    let count = "SELECT COUNT(*) FROM participants WHERE room_id = $1";
    assert_eq!(t.sql_count(count, &open_id).await, 3);

    if backend == crate::helpers::Backend::Sqlite {
        let room = t
            .create_room(json!({ "display_name": "Cy", "max_participants": 2 }))
            .await;
        let room_id = t.room_id(&room.code).await;
        let join = |p| db::rooms::Join {
            room_id: &room_id,
            participant: p,
            seat_cutoff_ms: cutoff,
            new_expires_at: expiry,
            touch: true,
        };
        // One free seat: the second join of the batch sees the first one's.
        let (a, b) = (newcomer("a"), newcomer("b"));
        let got = db::rooms::join_many(&app.db, &[join(&a), join(&b)])
            .await
            .expect("a batch");
        assert_eq!(format!("{got:?}"), "[Joined, Full]");
        // A failing join (an id that exists) rolls the whole batch back; seats are plenty.
        t.sql(
            "UPDATE rooms SET max_participants = 10 WHERE id = $1",
            &room_id,
        )
        .await;
        let (c, mut bad) = (newcomer("c"), newcomer("bad"));
        bad.id = a.id.clone();
        assert!(
            db::rooms::join_many(&app.db, &[join(&c), join(&bad)])
                .await
                .is_err()
        );
        assert_eq!(t.sql_count(count, &room_id).await, 2, "c was rolled back");
    }
    t.stop().await;
}
each_backend!(joins_written_together);
