//! The REST side of a bench run: the `--rest-rate` load, background joins (`--join-rate`) into
//! rooms made for them, and the check after `--reconnect` that every acknowledged chat line was
//! stored.

use super::*;

/// After a `--reconnect` run: every chat message the server acknowledged must be in its room's
/// history. Returns (acknowledged, missing); a room whose history cannot be read counts all
/// its acknowledged messages as missing.
pub(super) async fn verify_chat(
    s: &Scenario,
    http: &reqwest::Client,
    rooms: &[Arc<Room>],
) -> (u64, u64) {
    let base = s.url.trim_end_matches('/').to_owned();
    let checks = rooms.iter().map(|room| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut want: std::collections::HashSet<i64> = room
                .acked_chat
                .lock()
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            let acked = want.len() as u64;
            let mut before: Option<i64> = None;
            while !want.is_empty() {
                let mut url = format!("{base}/api/rooms/{}/messages?limit=200", room.code);
                if let Some(b) = before {
                    url.push_str(&format!("&before={b}"));
                }
                let Ok(res) = http.get(url).bearer_auth(&room.seats[0].token).send().await else {
                    break;
                };
                let Ok(page) = res.json::<Value>().await else {
                    break;
                };
                for m in page["messages"].as_array().into_iter().flatten() {
                    if let Some(id) = m["id"].as_i64() {
                        want.remove(&id);
                    }
                }
                match page["next_before"].as_i64() {
                    Some(b) => before = Some(b),
                    None => break,
                }
            }
            (acked, want.len() as u64)
        }
    });
    futures_util::stream::iter(checks)
        .buffer_unordered(16)
        .fold((0, 0), |(a, m), (ra, rm)| async move { (a + ra, m + rm) })
        .await
}

/// REST traffic while the sockets are held: `rate` requests a second until sending stops, a
/// mix of room lookups (half), message pages and posted messages (a quarter each) with a
/// random participant's token. At most 256 in flight: beyond that a request counts as failed
/// (the server is not keeping up) rather than silently lowering the rate.
pub(super) async fn rest_load(
    shared: Arc<Shared>,
    http: reqwest::Client,
    rooms: Vec<Arc<Room>>,
    rate: f64,
) {
    let base = shared.scenario.url.trim_end_matches('/').to_owned();
    let slots = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ shared.now_us();
    let mut n = 0u64;
    let mut inflight = tokio::task::JoinSet::new();
    while !shared.stop_sending.is_cancelled() {
        tokio::select! {
            _ = shared.stop_sending.cancelled() => break,
            _ = tick.tick() => {}
        }
        while inflight.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            shared.rest_failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        n += 1;
        let room = &rooms[(next_rand(&mut rng) % rooms.len() as u64) as usize];
        let seat = &room.seats[(next_rand(&mut rng) % room.seats.len() as u64) as usize];
        let req = match n % 4 {
            0 | 1 => http.get(format!("{base}/api/rooms/{}", room.code)),
            2 => http
                .get(format!("{base}/api/rooms/{}/messages?limit=20", room.code))
                .bearer_auth(&seat.token),
            _ => http
                .post(format!("{base}/api/rooms/{}/messages", room.code))
                .bearer_auth(&seat.token)
                .json(&json!({"message": "bench rest"})),
        };
        let req = req.timeout(Duration::from_secs(10));
        let shared = shared.clone();
        inflight.spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            match req.send().await {
                Ok(res) if res.status().is_success() => {
                    let _ = res.bytes().await;
                    record(&shared.rest, started.elapsed());
                    shared.rest_ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(res) => {
                    shared.rest_failed.fetch_add(1, Ordering::Relaxed);
                    shared.error(format!("REST: {} {}", res.status(), res.url().path()));
                }
                Err(e) => {
                    shared.rest_failed.fetch_add(1, Ordering::Relaxed);
                    shared.error(format!("REST: {e}"));
                }
            }
        });
    }
    while inflight.join_next().await.is_some() {}
}

/// How long a background joiner (`--join-rate`) stays in its room before it leaves.
pub const JOIN_HOLD: Duration = Duration::from_secs(5);

/// Rooms for the background joiners: about five of them in a room at once, as rooms fill and
/// empty in a real deployment (a room holds ten).
pub(super) fn background_room_count(per_minute: f64) -> usize {
    (per_minute / 60.0 * JOIN_HOLD.as_secs_f64() / 5.0)
        .ceil()
        .max(1.0) as usize
}

/// Creates the rooms the background joiners come and go in; their hosts never connect.
pub(super) async fn background_rooms(
    s: &Scenario,
    http: &reqwest::Client,
) -> Result<Vec<String>, BenchError> {
    let base = s.url.trim_end_matches('/');
    let mut codes = Vec::new();
    for i in 0..background_room_count(s.join_rate) {
        let created = post(
            http,
            format!("{base}/api/rooms"),
            json!({"name": format!("bench background {i}"), "display_name": "bench host", "max_participants": 10}),
        )
        .await?;
        codes.push(
            created["room_code"]
                .as_str()
                .ok_or_else(|| BenchError::Setup(format!("no room_code in {created}")))?
                .to_owned(),
        );
    }
    Ok(codes)
}

/// `--join-rate`: a newcomer every `60 / per_minute` seconds until sending stops, in the
/// background rooms in turn. A join that cannot be started on time is started late (Burst), so
/// the rate is kept, and a slow server shows up as join latency.
pub(super) async fn background_joins(
    shared: Arc<Shared>,
    http: reqwest::Client,
    codes: Vec<String>,
    sources: Vec<IpAddr>,
) {
    let mut every =
        tokio::time::interval(Duration::from_secs_f64(60.0 / shared.scenario.join_rate));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut joiners = tokio::task::JoinSet::new();
    let mut n = 0usize;
    loop {
        tokio::select! {
            _ = shared.stop_sending.cancelled() => break,
            _ = every.tick() => {}
        }
        while joiners.try_join_next().is_some() {}
        let code = codes[n % codes.len()].clone();
        let source = (!sources.is_empty()).then(|| sources[n % sources.len()]);
        joiners.spawn(joiner(shared.clone(), http.clone(), code, n, source));
        n += 1;
    }
    while joiners.join_next().await.is_some() {}
}

/// One background newcomer: joins over REST, connects, negotiates with everyone already there
/// as a browser does (offer and `--candidates` candidates each), answers later newcomers,
/// then leaves the room after [`JOIN_HOLD`].
pub(super) async fn joiner(
    shared: Arc<Shared>,
    http: reqwest::Client,
    code: String,
    n: usize,
    source: Option<IpAddr>,
) {
    let started = Instant::now();
    let base = shared.scenario.url.trim_end_matches('/').to_owned();
    let joined = async {
        let reply = post(
            &http,
            format!("{base}/api/rooms/{code}/join"),
            json!({ "display_name": format!("joiner {n}") }),
        )
        .await?;
        let seat = Seat::from_reply(&reply)?;
        join(&shared, &seat, n, source)
            .await
            .map_err(|e| BenchError::Setup(format!("connect: {e:#}")))
    }
    .await;
    let (mut conn, peers, early_offers) = match joined {
        Ok(j) => j,
        Err(e) => {
            shared.joins_failed.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("background join: {e}"));
            return;
        }
    };
    record(&shared.joins, started.elapsed());
    shared.joins_ok.fetch_add(1, Ordering::Relaxed);
    let s = &shared.scenario;
    let big_sdp = sdp(s.sdp_bytes);
    let _ = offer_burst(&shared, &mut conn, &peers, &big_sdp).await;
    for from in early_offers {
        let _ = answer_burst(&shared, &mut conn, &from, &big_sdp).await;
    }
    let leave = tokio::time::sleep(JOIN_HOLD);
    tokio::pin!(leave);
    loop {
        tokio::select! {
            _ = &mut leave => break,
            _ = shared.stop.cancelled() => break,
            ev = conn.next() => match ev {
                Ok(Incoming::Event(name, v)) if name == "offer" => {
                    let from = v["from"].as_str().unwrap_or_default().to_owned();
                    let _ = answer_burst(&shared, &mut conn, &from, &big_sdp).await;
                }
                Ok(Incoming::Event(..) | Incoming::Ack(..)) => {}
                Ok(Incoming::Refused(_) | Incoming::Closed) | Err(_) => {
                    if !shared.stop.is_cancelled() {
                        shared.error("a background joiner lost its connection");
                    }
                    return;
                }
            }
        }
    }
    let _ = conn.emit("leave-room", &json!({})).await;
    conn.close().await;
}
