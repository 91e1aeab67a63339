//! What the embedded TURN server refuses: forged and expired credentials, loopback peers,
//! allocations over quota, participants no longer in a live room, and peers a permission may not
//! reach.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn refuses_forged_and_expired_credentials_loopback_peers_and_over_quota() {
    crate::helpers::needs!(crate::helpers::Need::Tool("turnutils_peer"));
    let (server, setup) = server(|c| {
        c.turn.allow_peers = vec![];
        // One uclient session makes three allocations.
        c.turn.user_quota = 3;
        c.turn.shared_secret = Some(flowsync::config::Secret::new("s3cret-for-tests".into()));
    })
    .await;
    let (ice, _room, _live) = live_creator(&server).await;
    let udp = port_of(&ice[0]["urls"], "turn:");
    let (user, pass) = creds(&ice);
    let peer = echo_peer();
    let run_with = |u: String, p: String, args: &'static [&'static str], secs: u64| {
        let port = peer.1;
        tokio::task::spawn_blocking(move || uclient(udp, &u, &p, port, args, secs))
    };

    // A forged password: the allocation is refused (401).
    let run = run_with(user.clone(), "Zm9yZ2Vk".into(), &[], 10)
        .await
        .unwrap();
    assert!(
        run.out.contains("Cannot complete Allocation"),
        "{}",
        run.out
    );
    assert_eq!(run.received, 0);

    // A correctly signed but expired credential: refused before the protocol sees it.
    let expired = format!("{}:p_old", 1_000_000);
    let signed = flowsync::ice::rest_password(b"s3cret-for-tests", &expired);
    let run = run_with(expired, signed, &[], 6).await.unwrap();
    assert_eq!(run.received, 0, "{}", run.out);
    assert!(!run.out.contains("Received relay addr"), "{}", run.out);

    // Loopback is on the server's side: no permission, no data.
    let run = run_with(user.clone(), pass.clone(), &["-v"], 8)
        .await
        .unwrap();
    assert!(
        run.out.contains("Received relay addr"),
        "allocation itself works: {}",
        run.out
    );
    assert_eq!(run.received, 0, "relayed to loopback: {}", run.out);

    // The quota is three allocations per credential, all held by the session above until
    // their lifetime ends: another session with the same credential gets 508.
    let run = run_with(user.clone(), pass.clone(), &[], 8).await.unwrap();
    assert!(run.out.contains("508"), "{}", run.out);
    drop(peer);
    server.stop_token().cancel();
    drop(setup);
}

/// The relay serves participants of live rooms only: a seat never connected is refused, a
/// connected participant is relayed, a room's allocations are capped together, and a kicked
/// participant or an ended room loses the relay at its next request (the check is cached for
/// ten seconds of the relay's clock, which the test moves on).
#[tokio::test(flavor = "multi_thread")]
async fn relays_only_participants_of_live_rooms() {
    let (server, _setup) = server(|c| c.turn.room_quota = 2).await;
    let turn = server.turn.clone().expect("embedded TURN runs");
    let (ice, room, mut host_live) = live_creator(&server).await;
    let code = room["room_code"].as_str().unwrap().to_owned();
    let joined: Value = http()
        .post(format!("{}/api/rooms/{code}/join", server.url()))
        .json(&json!({"display_name": "Gus"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gus_cred = creds(&joined["ice_servers"]);
    let mut gus = client(turn.udp_addr, Transport::Udp, &gus_cred).await;
    let r = gus.allocate(Duration::from_secs(5)).await;
    assert!(r.is_err(), "a seat never connected is not relayed: {r:?}");

    // Connected, Gus is relayed.
    let _gus_live = connect_live(&server.url(), joined["token"].as_str().unwrap()).await;
    turn.advance_clock(flowsync::turn::LIVE_CHECK_TTL + Duration::from_secs(1))
        .await;
    let mut gus = client(turn.udp_addr, Transport::Udp, &gus_cred).await;
    gus.allocate(Duration::from_secs(5))
        .await
        .expect("a connected participant is relayed");
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    gus.permit(loopback, Duration::from_secs(5))
        .await
        .expect("permitted");

    // The room's quota is two allocations: the host's first fits, its second does not.
    let host_cred = creds(&ice);
    let mut host = client(turn.udp_addr, Transport::Udp, &host_cred).await;
    host.allocate(Duration::from_secs(5))
        .await
        .expect("the host is relayed");
    let mut again = client(turn.udp_addr, Transport::Udp, &host_cred).await;
    let r = again.allocate(Duration::from_secs(5)).await;
    assert!(matches!(r, Err(ClientError::AllocationRefused)), "{r:?}");

    // Kicked, Gus loses the relay at his next request, and cannot allocate again.
    host_live
        .emit_with_ack(
            "kick-participant",
            &json!({ "participant_id": joined["participant_id"] }),
            7,
        )
        .await
        .expect("kick");
    crate::helpers::next_event(&mut host_live, "ack:7").await;
    turn.advance_clock(flowsync::turn::LIVE_CHECK_TTL + Duration::from_secs(1))
        .await;
    let r = gus.permit(loopback, Duration::from_secs(5)).await;
    assert!(r.is_err(), "a kicked participant keeps no relay: {r:?}");
    let mut gus = client(turn.udp_addr, Transport::Udp, &gus_cred).await;
    let r = gus.allocate(Duration::from_secs(5)).await;
    assert!(r.is_err(), "a kicked participant cannot allocate: {r:?}");

    // The room ends: the host's allocation goes the same way.
    host_live
        .emit_with_ack("end-room", &json!({}), 8)
        .await
        .expect("end");
    crate::helpers::next_event(&mut host_live, "ack:8").await;
    turn.advance_clock(flowsync::turn::LIVE_CHECK_TTL + Duration::from_secs(1))
        .await;
    let r = host.permit(loopback, Duration::from_secs(5)).await;
    assert!(r.is_err(), "an ended room keeps no relay: {r:?}");
    server.stop_token().cancel();
}

/// CreatePermission may name several peers: every one is checked, not only the first.
#[tokio::test(flavor = "multi_thread")]
async fn create_permission_checks_every_peer() {
    use turn_server_proto::types::attribute::XorPeerAddress;
    use turn_server_proto::types::message::CREATE_PERMISSION;
    use turn_server_proto::types::stun::attribute::{ErrorCode, Nonce, Realm, Username};
    use turn_server_proto::types::stun::message::{
        IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageWriteVec,
    };
    use turn_server_proto::types::stun::prelude::{MessageWrite, MessageWriteExt};

    let (server, _setup) = server(|c| c.turn.allow_peers = vec![]).await;
    let turn = server.turn.clone().expect("embedded TURN runs");
    let now = flowsync::timefmt::unix_now();
    let (user, pass) = rest(&server, "~multi", now + 600);
    let mut req = Message::builder_request(CREATE_PERMISSION, MessageWriteVec::new());
    let tid = req.transaction_id();
    req.add_attribute(&Username::new(&user).unwrap()).unwrap();
    req.add_attribute(&Realm::new("localhost").unwrap())
        .unwrap();
    req.add_attribute(&Nonce::new("n0nce").unwrap()).unwrap();
    req.add_attribute(&XorPeerAddress::new(
        "93.184.216.34:4000".parse().unwrap(),
        tid,
    ))
    .unwrap();
    req.add_attribute(&XorPeerAddress::new("127.0.0.1:5432".parse().unwrap(), tid))
        .unwrap();
    let key = LongTermKeyCredentials::new(user, pass, "localhost".into());
    req.add_message_integrity(&key.into(), IntegrityAlgorithm::Sha1)
        .unwrap();
    req.add_fingerprint().unwrap();
    let bytes = req.finish();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&bytes, turn.udp_addr).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = Message::from_bytes(&buf[..n]).expect("STUN");
    let code = answer.attribute::<ErrorCode>().expect("an error").code();
    assert_eq!(code, 403, "the second peer (loopback) is refused");
    server.stop_token().cancel();
}
