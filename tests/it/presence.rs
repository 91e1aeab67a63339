//! The presence rules, run against the in-process store and against real Redis (two handles
//! standing for two instances): arrival and reconnects, the grace bookkeeping, departures
//! with host succession, the presenter race, and reaping a crashed instance's participants.

use flowsync::config::{RedisConfig, Secret};
use flowsync::signaling::presence::{
    LiveRooms, Presence, Present, RELAY_TARGET_TTL, RedisPresence,
};
use flowsync::state::StateStore;

use crate::helpers::{eventually, random_suffix, redis_url};

fn person(name: &str, role: &str, since: i64) -> Present {
    Present {
        display_name: name.into(),
        role: role.into(),
        hand_raised_at: None,
        audio: true,
        video: true,
        status: 0,
        sockets: 1,
        since,
        epoch: 1,
    }
}

async fn redis_pair() -> (Presence, Presence, String) {
    let prefix = format!("fstest:{}:", random_suffix());
    let cfg = RedisConfig {
        url: Some(Secret::new(redis_url())),
        key_prefix: prefix.clone(),
    };
    let StateStore::Redis(state) = StateStore::connect(&cfg).await.expect("redis") else {
        panic!("redis store")
    };
    let a = RedisPresence::new(state.connection(), &prefix, "inst-a");
    let b = RedisPresence::new(state.connection(), &prefix, "inst-b");
    a.heartbeat().await.expect("heartbeat");
    b.heartbeat().await.expect("heartbeat");
    (Presence::Redis(a), Presence::Redis(b), prefix)
}

async fn rules(a: &Presence, b: &Presence) {
    let room = "r_1";
    // Arrivals: the first is announced, a second socket is not (it replaces or joins).
    let arr = a
        .arrive(room, "p_host", person("Host", "host", 1))
        .await
        .expect("arrive");
    assert!(arr.arrived && arr.had_sockets == 0);
    assert!(
        b.arrive(room, "p_ada", person("Ada", "guest", 2))
            .await
            .expect("arrive")
            .arrived
    );
    assert!(
        a.arrive(room, "p_bob", person("Bob", "guest", 3))
            .await
            .expect("arrive")
            .arrived
    );
    let again = b
        .arrive(room, "p_ada", person("Ada", "guest", 9))
        .await
        .expect("arrive");
    assert!(!again.arrived && again.had_sockets == 1, "{again:?}");
    let (views, presenter) = a.snapshot(room).await.expect("snapshot");
    assert_eq!(
        views
            .iter()
            .map(|v| v.participant_id.as_str())
            .collect::<Vec<_>>(),
        ["p_host", "p_ada", "p_bob"],
        "longest-present first"
    );
    assert_eq!(presenter, None);
    // Who may be relayed to: present participants of that room only.
    for p in [a, b] {
        assert!(p.is_present(room, "p_bob").await.expect("lookup"));
        assert!(p.relay_target_present(room, "p_bob").await.expect("lookup"));
        assert!(
            !p.relay_target_present(room, "p_nobody")
                .await
                .expect("lookup")
        );
        assert!(
            !p.relay_target_present("r_other", "p_bob")
                .await
                .expect("lookup"),
            "not from another room"
        );
    }

    // Hands and media state are visible from every instance.
    a.set_hand(room, "p_bob", Some(1_700_000_000_123))
        .await
        .expect("hand");
    b.set_media(room, "p_bob", false, true)
        .await
        .expect("media");
    a.set_status(room, "p_bob", flowsync::signaling::protocol::Status::Away)
        .await
        .expect("status");
    let bob = b
        .participant(room, "p_bob")
        .await
        .expect("lookup")
        .expect("present");
    assert!(bob.hand_raised && !bob.audio && bob.video);
    assert_eq!(bob.status, flowsync::signaling::protocol::Status::Away);
    assert_eq!(
        bob.hand_raised_at,
        Some(1_700_000_000_123),
        "the queue order is shared"
    );

    // The presenter race: of many simultaneous starts exactly one wins.
    let pids = ["p_host", "p_ada", "p_bob"];
    let starts = pids
        .iter()
        .flat_map(|p| [a.start_presenting(room, p), b.start_presenting(room, p)]);
    let results = futures::future::join_all(starts).await;
    let mut winners: Vec<&str> = pids
        .iter()
        .flat_map(|p| [*p, *p])
        .zip(results)
        .filter(|(_, r)| *r.as_ref().expect("start"))
        .map(|(p, _)| p)
        .collect();
    winners.dedup();
    assert_eq!(
        winners.len(),
        1,
        "exactly one participant wins: {winners:?}"
    );
    let (_, presenter) = a.snapshot(room).await.expect("snapshot");
    let presenter = presenter.expect("someone presents");
    assert_eq!(presenter, winners[0]);
    for other in ["p_host", "p_ada", "p_bob"]
        .iter()
        .filter(|p| **p != presenter)
    {
        assert!(!a.start_presenting(room, other).await.expect("start"));
        assert!(
            !b.stop_presenting(room, other).await.expect("stop"),
            "only the presenter can stop"
        );
    }
    assert!(a.stop_presenting(room, &presenter).await.expect("stop"));

    // Sockets closing: Ada had two, the first close is not the last.
    let c = b.socket_closed(room, "p_ada").await.expect("close");
    assert!(!c.last);
    let c = b.socket_closed(room, "p_ada").await.expect("close");
    assert!(c.last);
    assert!(b.still_gone(room, "p_ada", c.epoch).await.expect("gone"));
    // She reconnects inside the grace: the pending departure must not happen.
    assert!(
        !a.arrive(room, "p_ada", person("Ada", "guest", 9))
            .await
            .expect("arrive")
            .arrived
    );
    assert!(!b.still_gone(room, "p_ada", c.epoch).await.expect("gone"));

    // The host departs: the longest-present remaining participant succeeds; announced once.
    assert!(a.is_host(room, "p_host").await.expect("role"));
    let d = a.depart(room, "p_host").await.expect("depart");
    assert!(d.departed && d.was_host);
    assert_eq!(d.successor.as_deref(), Some("p_ada"));
    assert!(
        !b.depart(room, "p_host").await.expect("depart").departed,
        "a second departure is a no-op"
    );
    b.set_host(room, "p_ada").await.expect("host");
    assert!(a.is_host(room, "p_ada").await.expect("role"));
    assert!(!a.is_host(room, "p_bob").await.expect("role"));
    a.remove_room(room).await.expect("remove");
    assert!(b.snapshot(room).await.expect("snapshot").0.is_empty());
}

#[tokio::test]
async fn in_process_presence_rules() {
    let p = Presence::Local(LiveRooms::default());
    rules(&p, &p).await;
}

#[tokio::test]
async fn redis_presence_rules_across_two_instances() {
    crate::helpers::needs!(crate::helpers::Need::Redis);
    let (a, b, _) = redis_pair().await;
    rules(&a, &b).await;
}

#[tokio::test]
async fn redis_relay_targets_are_reused_for_a_second_and_forgotten_on_departure() {
    crate::helpers::needs!(crate::helpers::Need::Redis);
    let (a, b, _) = redis_pair().await;
    for (pid, who) in [
        ("p_x", person("X", "host", 1)),
        ("p_y", person("Y", "guest", 2)),
    ] {
        a.arrive("r", pid, who).await.expect("arrive");
    }
    assert!(b.relay_target_present("r", "p_x").await.expect("lookup"));
    // X departs through instance a: a knows at once, b reuses its answer for at most the TTL.
    assert!(a.depart("r", "p_x").await.expect("depart").departed);
    assert!(!a.is_present("r", "p_x").await.expect("lookup"));
    assert!(!b.is_present("r", "p_x").await.expect("lookup"), "exact");
    assert!(b.relay_target_present("r", "p_x").await.expect("lookup"));
    // Forgotten after the TTL.
    eventually(RELAY_TARGET_TTL * 5, || async {
        (!b.relay_target_present("r", "p_x").await.expect("lookup")).then_some(())
    })
    .await;
    // A departure through the instance that holds the answer forgets it at once.
    assert!(b.relay_target_present("r", "p_y").await.expect("lookup"));
    assert!(b.depart("r", "p_y").await.expect("depart").departed);
    assert!(!b.relay_target_present("r", "p_y").await.expect("lookup"));
}

#[tokio::test]
async fn redis_reaps_participants_of_a_dead_instance() {
    crate::helpers::needs!(crate::helpers::Need::Redis);
    let (a, b, prefix) = redis_pair().await;
    let (Presence::Redis(ra), Presence::Redis(_)) = (&a, &b) else {
        unreachable!()
    };
    b.arrive("r", "p_lost", person("Lost", "guest", 1))
        .await
        .expect("arrive");
    a.arrive("r", "p_here", person("Here", "guest", 2))
        .await
        .expect("arrive");
    // Instance b dies: its heartbeat key vanishes (as its TTL would make it).
    let client = redis::Client::open(redis_url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{prefix}inst:inst-b"))
        .query_async(&mut conn)
        .await
        .expect("del");
    // First look records when its sockets stopped counting; past the grace it is due.
    assert!(ra.reap(1_000, 500).await.expect("reap").is_empty());
    assert!(
        ra.reap(1_200, 500).await.expect("reap").is_empty(),
        "inside the grace"
    );
    let due = ra.reap(1_600, 500).await.expect("reap");
    assert_eq!(
        due,
        vec![("r".to_owned(), "p_lost".to_owned(), "Lost".to_owned())]
    );
    assert!(
        a.participant("r", "p_here")
            .await
            .expect("lookup")
            .is_some(),
        "live instances' participants stay"
    );
}
