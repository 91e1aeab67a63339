//! The state store contract, run against the in-process store and against real Redis.

use std::time::Duration;

use flowsync::config::RedisConfig;
use flowsync::db::models::AuthRow;
use flowsync::state::{RateDecision, StateStore};

use crate::helpers::{eventually, random_suffix, redis_url};

async fn redis_store(prefix: &str) -> StateStore {
    StateStore::connect(&RedisConfig {
        url: Some(flowsync::config::Secret::new(redis_url())),
        key_prefix: prefix.to_owned(),
    })
    .await
    .expect("Redis for tests is reachable; scripts/test.sh starts it")
}

/// A connection to the test Redis, and every key there that starts with `prefix`.
async fn keys_with_prefix(prefix: &str) -> (redis::aio::MultiplexedConnection, Vec<String>) {
    let client = redis::Client::open(redis_url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    (conn, keys)
}

fn memory_store() -> StateStore {
    StateStore::Memory(Default::default())
}

async fn contract(a: StateStore, b: StateStore) {
    // Rate limits: a token bucket (3 at once, then one every 20 s), shared by every handle on
    // the same store; asking whether a hit would pass charges nothing.
    let rate = "3/minute".parse().expect("rate");
    for _ in 0..2 {
        assert_eq!(
            a.rate_limit("join:192.0.2.1", rate).await.expect("rl"),
            RateDecision::Allowed
        );
    }
    assert_eq!(
        b.rate_limit("join:192.0.2.1", rate).await.expect("rl"),
        RateDecision::Allowed
    );
    match a.rate_peek("join:192.0.2.1", rate).await.expect("rl") {
        RateDecision::Limited { retry_after_secs } => {
            assert!((19..=20).contains(&retry_after_secs))
        }
        RateDecision::Allowed => panic!("the bucket is empty"),
    }
    match a.rate_limit("join:192.0.2.1", rate).await.expect("rl") {
        RateDecision::Limited { retry_after_secs } => {
            assert!((19..=20).contains(&retry_after_secs))
        }
        RateDecision::Allowed => panic!("the fourth hit at once is refused"),
    }
    assert_eq!(
        b.rate_peek("join:192.0.2.9", rate).await.expect("rl"),
        RateDecision::Allowed
    );
    for _ in 0..3 {
        assert_eq!(
            b.rate_limit("join:192.0.2.9", rate).await.expect("rl"),
            RateDecision::Allowed,
            "peeking took nothing from the bucket"
        );
    }
    assert_eq!(
        a.rate_limit("join:192.0.2.2", rate).await.expect("rl"),
        RateDecision::Allowed,
        "per key"
    );

    // Token cache with TTL and invalidation seen by every handle.
    let row = AuthRow {
        participant_id: "p_1".into(),
        room_id: "r_1".into(),
        room_code: "ABCDEF".into(),
        display_name: "Ada".into(),
        role: "host".into(),
    };
    a.auth_put("h1", &row, Duration::from_secs(30))
        .await
        .expect("put");
    assert_eq!(b.auth_get("h1").await.expect("get"), Some(row.clone()));
    b.auth_invalidate(&["h1".into()]).await.expect("invalidate");
    assert_eq!(a.auth_get("h1").await.expect("get"), None);
    a.auth_put("h2", &row, Duration::from_millis(50))
        .await
        .expect("put");
    // Entries expire: waited for, not slept on.
    eventually(Duration::from_secs(5), || async {
        a.auth_get("h2").await.expect("get").is_none().then_some(())
    })
    .await;

    // Locks: one holder at a time, re-entrant for the holder, released by the holder only.
    assert!(
        a.try_lock("job", "one", Duration::from_secs(30))
            .await
            .expect("lock")
    );
    assert!(
        !b.try_lock("job", "two", Duration::from_secs(30))
            .await
            .expect("lock")
    );
    assert!(
        a.try_lock("job", "one", Duration::from_secs(30))
            .await
            .expect("lock")
    );
    b.unlock("job", "two").await.expect("unlock");
    assert!(
        !b.try_lock("job", "two", Duration::from_secs(30))
            .await
            .expect("lock"),
        "only the holder releases"
    );
    a.unlock("job", "one").await.expect("unlock");
    assert!(
        b.try_lock("job", "two", Duration::from_millis(50))
            .await
            .expect("lock")
    );
    // A dead holder's lock lapses.
    eventually(Duration::from_secs(5), || async {
        a.try_lock("job", "one", Duration::from_secs(1))
            .await
            .expect("lock")
            .then_some(())
    })
    .await;
    a.ping().await.expect("ping");
}

#[tokio::test]
async fn memory_store_contract() {
    let m = memory_store();
    contract(m.clone(), m.clone()).await;
    if let StateStore::Memory(inner) = &m {
        // Once the short-lived entries' TTLs pass, a purge leaves only the three 3/minute
        // buckets (full again within a minute).
        eventually(Duration::from_secs(5), || async {
            m.purge_expired();
            (inner.len() <= 3).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn redis_store_contract() {
    crate::helpers::needs!(crate::helpers::Need::Redis);
    let prefix = format!("fstest:{}:", random_suffix());
    let a = redis_store(&prefix).await;
    let b = redis_store(&prefix).await;
    contract(a, b).await;
    // Every key carries the one prefix and a TTL.
    let (mut conn, keys) = keys_with_prefix(&prefix).await;
    assert!(!keys.is_empty());
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .expect("ttl");
        assert!(ttl > 0, "{k} has a TTL ({ttl})");
    }
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_error() {
    let err = StateStore::connect(&RedisConfig {
        url: Some(flowsync::config::Secret::new(
            "redis://:hunter2@127.0.0.1:1/".into(),
        )),
        key_prefix: "x:".into(),
    })
    .await
    .expect_err("connect fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cannot connect to Redis") && msg.contains("redis.url"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "no secrets in errors: {msg}");
}

/// The database is the truth and the state store only caches and coordinates: with every key
/// of a running server's prefix deleted from Redis (an eviction, a restart without
/// persistence), rooms still open, a guest still joins, tokens still authenticate a message,
/// and a participant already live still chats and is heard.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_works_when_its_state_store_entries_vanish() {
    use crate::helpers::{Backend, Setup, StateKind, ack, next_event};
    use serde_json::json;
    crate::helpers::needs!(crate::helpers::Need::Redis);
    let setup = Setup::new(Backend::Sqlite, StateKind::Redis).await;
    let prefix = setup.config.redis.key_prefix.clone();
    let t = setup.spawn().await;
    let host = t.create_simple().await;
    let bob = t.join_ok(&host.code, "Bob").await;
    let mut host_live = t.connect(&host).await;
    let mut bob_live = t.connect(&bob).await;
    let path = format!("/api/rooms/{}/messages", host.code);
    let (s, m) = t
        .post(&path, json!({ "message": "before" }), Some(&bob.token))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{m}");

    let (mut conn, keys) = keys_with_prefix(&prefix).await;
    assert!(!keys.is_empty(), "the server keeps state in Redis");
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .expect("del");

    let (s, b) = t.get(&format!("/api/rooms/{}", host.code), None).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{b}");
    t.join_ok(&host.code, "Carol").await;
    let (s, m) = t
        .post(&path, json!({ "message": "after" }), Some(&bob.token))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{m}");
    let sent = ack(
        &mut host_live,
        "chat-message",
        json!({ "message": "still live" }),
        1,
    )
    .await;
    assert!(sent.get("error").is_none(), "{sent}");
    loop {
        let m = next_event(&mut bob_live, "chat-message").await;
        if m["message"] == "still live" {
            break;
        }
    }
    t.stop().await;
}
