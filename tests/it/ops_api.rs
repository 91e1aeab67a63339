//! Health, readiness, metrics, the admin API, security headers, pages and ICE servers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, Setup, StateKind, code, each_backend};

async fn health_and_readiness(setup: Setup) {
    let redis = setup.state == StateKind::Redis;
    let backend = setup.backend;
    let t = setup.spawn().await;
    let (s, b) = t.get("/healthz", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = t.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["checks"]["database"]["ok"], true);
    let want = if backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(b["checks"]["database"]["backend"], want);
    assert_eq!(b["checks"].get("redis").is_some(), redis);
    t.stop().await;
}
each_backend!(health_and_readiness);

async fn admin_api_and_metrics(setup: Setup) {
    let t = setup
        .with(|c| {
            c.server.admin_token_sha256 = Some(flowsync::config::Secret::new(sha256(
                b"admin-token-for-tests",
            )))
        })
        .spawn()
        .await;
    let room = t.create_simple().await;
    t.join_ok(&room.code, "Bob").await;

    // Loopback TCP is not the operator (a local proxy or a DNS-rebinding page would be); the
    // admin socket and the admin token are.
    let (s, b) = t.get("/api/admin/rooms", None).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "UNAUTHORIZED"), "{b}");
    let (s, rooms) = t.admin("GET", "/api/admin/rooms").await;
    assert_eq!(s, StatusCode::OK, "the admin socket: {rooms}");
    assert_eq!(rooms[0]["code"], room.code.as_str());
    assert_eq!(rooms[0]["participant_count"], 2);
    assert!(rooms[0]["expires_at"].as_str().is_some());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(t.app().config().server.data_dir.join("admin.sock"))
            .expect("admin.sock")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o660);
    let with_token = t
        .client
        .get(t.url(&format!("/api/admin/rooms/{}", room.code)))
        .bearer_auth("admin-token-for-tests")
        .send()
        .await
        .expect("sent");
    assert_eq!(with_token.status(), StatusCode::OK);
    let detail: serde_json::Value = with_token.json().await.expect("json");
    assert_eq!(detail["participants"].as_array().map(Vec::len), Some(2));

    // /metrics from loopback: only when addressed to this server (a rebinding page sends its
    // own host name).
    let local = t.client.get(t.url("/metrics")).send().await.expect("sent");
    assert_eq!(local.status(), StatusCode::OK);
    let rebound = t
        .client
        .get(t.url("/metrics"))
        .header("host", "attacker.example:8080")
        .send()
        .await
        .expect("sent");
    assert_eq!(rebound.status().as_u16(), 401);

    // A forwarded request is not trusted as loopback; the admin token is.
    let forwarded = t
        .client
        .get(t.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("sent");
    assert_eq!(forwarded.status().as_u16(), 401);
    let wrong = t
        .client
        .get(t.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status().as_u16(), 403);
    let ok = t
        .client
        .get(t.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth("admin-token-for-tests")
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), StatusCode::OK);
    let text = ok.text().await.unwrap_or_default();
    assert!(text.contains("flowsync_rooms_created_total 1"), "{text}");
    assert!(text.contains("flowsync_rooms_joined_total 1"), "{text}");
    assert!(
        text.contains("# TYPE flowsync_rooms_active gauge\nflowsync_rooms_active 1"),
        "{text}"
    );

    let mut live = t.app().live.subscribe();
    let (s, b) = t
        .admin("DELETE", &format!("/api/admin/rooms/{}", room.code))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(matches!(
        live.try_recv(),
        Ok(flowsync::live::LiveEvent::RoomEnded { .. })
    ));
    let (s, b) = t
        .admin("DELETE", &format!("/api/admin/rooms/{}", room.code))
        .await;
    assert_eq!((s.as_u16(), code(&b)), (410, "ROOM_EXPIRED"));
    t.stop().await;
}
each_backend!(admin_api_and_metrics);

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

#[tokio::test]
async fn security_headers_and_pages() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .spawn()
        .await;
    // Socket.IO answers (a long-polling handshake, and a refused one) carry them too.
    for path in [
        "/",
        "/room/ABCDEF",
        "/api/rooms/ABCDEF",
        "/healthz",
        "/socket.io/?EIO=4&transport=polling",
        "/socket.io/?EIO=9&transport=polling",
    ] {
        let res = t.client.get(t.url(path)).send().await.expect("sent");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap_or("");
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let pp = h["permissions-policy"].to_str().unwrap_or("");
        assert!(
            pp.contains("camera=(self)")
                && pp.contains("microphone=(self)")
                && pp.contains("display-capture=(self)"),
            "{pp}"
        );
    }
    let res = t.client.get(t.url("/")).send().await.expect("sent");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap_or_default().contains("FlowSync"));
    let api = t
        .client
        .get(t.url("/api/rooms/ABCDEF"))
        .send()
        .await
        .expect("sent");
    assert_eq!(api.headers()["cache-control"], "no-store");
    t.stop().await;
}

#[tokio::test]
async fn ice_servers_from_external_turn() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.turn.mode = flowsync::config::TurnMode::External;
            c.turn.urls = vec!["turn:turn.example.test:3478?transport=udp".into()];
            c.turn.shared_secret = Some(flowsync::config::Secret::new("shared".into()));
            c.turn.credential_ttl = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let room = t.create_simple().await;
    let servers = &room.body["ice_servers"];
    assert_eq!(
        servers[0]["urls"][0], "turn:turn.example.test:3478?transport=udp",
        "the host receives TURN servers too"
    );
    let (s, b) = t.get("/api/ice-servers", Some(&room.token)).await;
    assert_eq!(s, StatusCode::OK);
    let user = b["ice_servers"][0]["username"].as_str().unwrap_or("");
    let (expiry, pid) = user.split_once(':').unwrap_or_default();
    assert_eq!(pid, room.participant_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expiry: u64 = expiry.parse().unwrap_or(0);
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "time-limited: {user}"
    );
    assert!(
        b["ice_servers"][0]["credential"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    let (s, b) = t.get("/api/ice-servers", None).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "UNAUTHORIZED"));
    t.stop().await;
}

#[tokio::test]
async fn create_rate_limit_is_per_address_behind_trusted_proxies() {
    let t = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
            c.rooms.create_rate_per_ip = "1/hour".parse().expect("rate");
        })
        .spawn()
        .await;
    let create = |ip: &'static str| {
        t.client
            .post(t.url("/api/rooms"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "display_name": "a" }))
            .send()
    };
    assert_eq!(
        create("198.51.100.1")
            .await
            .expect("sent")
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        create("198.51.100.1")
            .await
            .expect("sent")
            .status()
            .as_u16(),
        429
    );
    assert_eq!(
        create("198.51.100.2")
            .await
            .expect("sent")
            .status()
            .as_u16(),
        201,
        "another client behind the proxy has its own budget"
    );
    t.stop().await;
}

/// The data directory and the database (which holds the link-signing key and the TURN secret)
/// are private to the account that runs `serve`, whatever its umask; an older database file
/// that others could read loses their bits.
#[tokio::test]
async fn data_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    // The test process's umask is the usual 022, under which the directory would be 0755.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let setup = Setup::new(Backend::Sqlite, StateKind::Memory).await;
    let data = setup.config.server.data_dir.clone();
    let _keep = setup.dir.clone();
    let t = setup.spawn().await;
    t.create_simple().await;
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    for f in ["flowsync.db", "flowsync.db-wal", "flowsync.db-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    t.stop().await;
    // A database left world-readable by an older run is tightened at the next start.
    std::fs::set_permissions(
        data.join("flowsync.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let again = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .with(|c| {
            c.server.data_dir = data.clone();
            c.database.url = flowsync::config::Secret::new(format!(
                "sqlite://{}",
                data.join("flowsync.db").display()
            ));
        })
        .spawn()
        .await;
    assert_eq!(mode(&data.join("flowsync.db")), 0o640);
    again.stop().await;
    nix::sys::stat::umask(old);
}
