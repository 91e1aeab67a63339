//! What one simulated participant does: connect (spread over source addresses), negotiate with
//! the others the way the browser client does (offer, answer, ICE candidates), then the steady
//! traffic of the measured window (relays, chat, media-state and hand churn, timer changes),
//! reconnecting when asked, with every message timed where it arrives.

use super::*;

/// A pseudo-random number from a per-connection state (xorshift; no shared RNG to contend on).
pub(super) fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A participant's random state: different for every seat of a room and every run.
pub(super) fn participant_seed(me: usize, now_us: u64) -> u64 {
    0x9E37_79B9_7F4A_7C15u64 ^ ((me as u64 + 1) * 0x2545_F491_4F6C_DD1D) ^ now_us
}

/// Where in the cycle of [`OFFER_EVERY`] steady relays a participant starts, from the high
/// bits of its random phase.
pub(super) fn offer_cycle_start(phase: u64) -> u64 {
    (phase >> 40) % OFFER_EVERY
}

pub(super) fn sdp(bytes: usize) -> String {
    let line = "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0\r\n";
    let mut s = String::with_capacity(bytes + line.len());
    s.push_str("v=0\r\no=- 0 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    while s.len() < bytes {
        s.push_str(line);
    }
    s.truncate(bytes);
    s
}

/// A steady relay's offer as JSON text, around an SDP escaped once (`Value::to_string` of it):
/// the same JSON as `{"to", "offer": {"type": "offer", "sdp", "t", "bench": "steady"}}`, without
/// copying and escaping a few KiB per message.
pub(super) fn steady_offer(to: &str, t: u64, sdp_json: &str) -> String {
    let to = Value::from(to);
    format!(r#"{{"to":{to},"offer":{{"type":"offer","sdp":{sdp_json},"t":{t},"bench":"steady"}}}}"#)
}

/// A steady relay's ICE candidate as JSON text; `candidate_json` is [`CANDIDATE`] escaped once.
pub(super) fn steady_candidate(to: &str, t: u64, candidate_json: &str) -> String {
    let to = Value::from(to);
    format!(
        r#"{{"to":{to},"candidate":{{"candidate":{candidate_json},"sdpMid":"0","sdpMLineIndex":0,"t":{t},"bench":"steady"}}}}"#
    )
}

/// A browser's ICE candidate line.
pub(super) const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 192.0.2.7 61523 typ srflx raddr 10.0.0.7 rport 61523 generation 0 ufrag sEMT network-cost 999";

pub(super) fn candidate(t: u64, kind: &str) -> Value {
    json!({
        "candidate": CANDIDATE,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "t": t,
        "bench": kind,
    })
}

/// Periods of the per-connection timers: a room's rate is shared by its participants.
pub(super) fn period(per_room_rate: f64, per_room: usize) -> Option<Duration> {
    (per_room_rate > 0.0).then(|| Duration::from_secs_f64(per_room as f64 / per_room_rate))
}

pub(super) fn ticker(p: Option<Duration>, phase: u64) -> Option<tokio::time::Interval> {
    p.map(|p| {
        let offset = Duration::from_nanos(phase % p.as_nanos().max(1) as u64);
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + offset, p);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        i
    })
}

pub(super) async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A newcomer's side of a join burst, like a browser: to everyone already in the room, an
/// offer, then our candidates.
pub(super) async fn offer_burst(
    shared: &Shared,
    conn: &mut Conn,
    peers: &[String],
    sdp: &str,
) -> anyhow::Result<()> {
    for p in peers {
        describe(shared, conn, p, "offer", sdp, "burst").await?;
    }
    Ok(())
}

/// Answers a newcomer's offer like a browser: the answer, then our candidates.
pub(super) async fn answer_burst(
    shared: &Shared,
    conn: &mut Conn,
    to: &str,
    sdp: &str,
) -> anyhow::Result<()> {
    describe(shared, conn, to, "answer", sdp, "burst-reply").await
}

/// One side of a pair's negotiation: the session description (`kind` is `offer` or `answer`,
/// also the event's name), then `--candidates` ICE candidates, each stamped and tagged `tag`.
pub(super) async fn describe(
    shared: &Shared,
    conn: &mut Conn,
    to: &str,
    kind: &str,
    sdp: &str,
    tag: &str,
) -> anyhow::Result<()> {
    let description =
        json!({"to": to, kind: {"type": kind, "sdp": sdp, "t": shared.now_us(), "bench": tag}});
    conn.emit(kind, &description).await?;
    for _ in 0..shared.scenario.candidates {
        let c = json!({"to": to, "candidate": candidate(shared.now_us(), tag)});
        conn.emit("ice-candidate", &c).await?;
    }
    Ok(())
}

/// Connects one seat and waits for `room-joined`: the connection, who was already in the room,
/// and the newcomers that offered before our `room-joined` arrived (answered once we are in).
pub(super) async fn join(
    shared: &Shared,
    seat: &Seat,
    me: usize,
    source: Option<IpAddr>,
) -> anyhow::Result<(Conn, Vec<String>, Vec<String>)> {
    let mut conn = Conn::connect(
        &shared.targets[me % shared.targets.len()],
        source,
        &seat.token,
    )
    .await?;
    let mut early_offers: Vec<String> = Vec::new();
    loop {
        match conn.next().await? {
            Incoming::Event(name, v) if name == "room-joined" => {
                let peers = v["participants"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p["participant_id"].as_str())
                            .filter(|p| *p != seat.participant_id)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok((conn, peers, early_offers));
            }
            Incoming::Event(name, v) => {
                if name == "offer" && v["offer"]["bench"] == "burst" {
                    early_offers.extend(v["from"].as_str().map(str::to_owned));
                }
            }
            other => anyhow::bail!("{other:?} before room-joined"),
        }
    }
}

/// With `--reconnect`: after a lost connection, tries again as a browser does (a randomised
/// delay of 100-300 ms, doubling up to 2 s) until it is back in its room or the run ends.
pub(super) async fn rejoin(
    shared: &Shared,
    seat: &Seat,
    me: usize,
    source: Option<IpAddr>,
    rng: &mut u64,
) -> Option<Conn> {
    let lost_at = Instant::now();
    shared.lost.fetch_add(1, Ordering::Relaxed);
    let mut delay_ms = 200u64;
    loop {
        let jitter = next_rand(rng) % delay_ms;
        tokio::select! {
            _ = shared.stop.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(delay_ms / 2 + jitter)) => {}
        }
        if let Ok((conn, _, _)) = join(shared, seat, me, source).await {
            record(&shared.reconnect, lost_at.elapsed());
            shared.reconnected.fetch_add(1, Ordering::Relaxed);
            return Some(conn);
        }
        delay_ms = (delay_ms * 2).min(2000);
    }
}

/// One simulated participant, from connect to disconnect.
pub(super) async fn participant(
    shared: Arc<Shared>,
    room: Arc<Room>,
    me: usize,
    source: Option<IpAddr>,
) {
    let s = &shared.scenario;
    let started = shared.now_us();
    let seat = &room.seats[me];
    let (mut conn, peers_before, early_offers) = match join(&shared, seat, me, source).await {
        Ok(joined) => joined,
        Err(e) => {
            shared.connects_failed.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("connect: {e:#}"));
            return;
        }
    };
    record(&shared.connect, shared.since(started));
    shared.connects_ok.fetch_add(1, Ordering::Relaxed);
    shared.joined.fetch_add(1, Ordering::Relaxed);

    let others: Vec<(&str, bool)> = room
        .seats
        .iter()
        .filter(|x| x.participant_id != seat.participant_id)
        .map(|x| (x.participant_id.as_str(), x.slow))
        .collect();
    let mut rng = participant_seed(me, shared.now_us());
    let big_sdp = sdp(s.sdp_bytes);
    // The steady relays' text, escaped once (see the relay tick below).
    let sdp_json = Value::from(big_sdp.as_str()).to_string();
    let candidate_json = Value::from(CANDIDATE).to_string();

    // The join burst: offer + candidates to everyone already here; done when every one of them
    // has answered with its answer and candidates.
    let burst_started = Instant::now();
    let mut burst_left = if s.candidates > 0 && !s.idle {
        peers_before.len() * (1 + s.candidates)
    } else {
        0
    };
    if burst_left > 0 {
        let _ = offer_burst(&shared, &mut conn, &peers_before, &big_sdp).await;
    } else {
        shared.bursts_done.fetch_add(1, Ordering::Relaxed);
    }
    for from in early_offers {
        let _ = answer_burst(&shared, &mut conn, &from, &big_sdp).await;
    }

    let mut relay_tick = None;
    let mut chat_tick = None;
    let mut churn_tick = None;
    let mut timer_tick = None;
    let mut sending = false;
    let mut sent_n = 0u64;
    let mut timer_seen = 0u64;
    let mut churn_n = 0u64;
    let mut timer_n = 0u64;
    let mut chat_n = 0u64;
    // The run's signals, waited on by the same futures for the whole loop: a fresh
    // `cancelled()` each time round registers with (and leaves) the token's waiter list shared
    // by every participant, which was about 8 % of the generator's core at 20,000 relays/s.
    let stop = shared.stop.cancelled();
    let go = shared.go.cancelled();
    let stop_sending = shared.stop_sending.cancelled();
    tokio::pin!(stop, go, stop_sending);
    let mut started = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = &mut go, if !started && (seat.slow || !s.idle) => {
                started = true;
                if seat.slow {
                    // A slow consumer: from now on it neither reads nor sends. The server
                    // keeps writing to it until its queue is full and must drop it without the
                    // others noticing.
                    (&mut stop).await;
                    return;
                }
                if shared.stop_sending.is_cancelled() {
                    continue;
                }
                sending = true;
                let phase = next_rand(&mut rng);
                // Every tenth steady relay is an offer; where in that cycle each participant
                // starts is random, or every participant's tenth message would be an offer at
                // the same moment: a wave of 15,000 offers (60 MB) in one tick period, every ten
                // periods, which is not a steady state but was what the 24,000/s tail measured.
                sent_n = offer_cycle_start(phase);
                relay_tick = ticker(period(s.rate, s.per_room), phase);
                chat_tick = ticker(period(s.chat_rate, s.per_room), phase >> 8);
                churn_tick = ticker(period(s.churn, s.per_room), phase >> 16);
                if me == 0 {
                    timer_tick = ticker(s.timer_every, phase >> 24);
                }
            }
            _ = &mut stop_sending, if sending => {
                sending = false;
                relay_tick = None;
                chat_tick = None;
                churn_tick = None;
                timer_tick = None;
            }
            ev = conn.next() => {
                let (name, v) = match ev {
                    Ok(Incoming::Event(name, v)) => (name, v),
                    Ok(Incoming::Ack(_, v)) => {
                        // A stored chat message: it must still be there at the end.
                        if v["ok"] == true
                            && let Some(id) = v["message"]["id"].as_i64()
                            && let Ok(mut acked) = room.acked_chat.lock()
                        {
                            acked.push(id);
                        }
                        continue;
                    }
                    lost => {
                        if shared.stop.is_cancelled() {
                            return;
                        }
                        shared.disconnects.fetch_add(1, Ordering::Relaxed);
                        if !s.reconnect {
                            shared.error(match lost {
                                Err(e) => format!("connection lost: {e:#}"),
                                _ => "the server closed a connection during the run".to_owned(),
                            });
                            return;
                        }
                        match rejoin(&shared, seat, me, source, &mut rng).await {
                            Some(c) => conn = c,
                            None => return,
                        }
                        continue;
                    }
                };
                if shared.measuring.load(Ordering::Relaxed) {
                    shared.received.fetch_add(1, Ordering::Relaxed);
                }
                match name.as_str() {
                    "offer" | "answer" | "ice-candidate" => {
                        let body = &v[match name.as_str() { "ice-candidate" => "candidate", n => n }];
                        let t = body["t"].as_u64().unwrap_or(0);
                        let from = v["from"].as_str().unwrap_or_default().to_owned();
                        match body["bench"].as_str() {
                            Some("steady") => {
                                shared.relayed(t);
                                shared.relay_delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Some("burst") => {
                                shared.relayed(t);
                                if name == "offer" {
                                    let _ = answer_burst(&shared, &mut conn, &from, &big_sdp).await;
                                }
                            }
                            Some("burst-reply") => {
                                shared.relayed(t);
                                if burst_left > 0 {
                                    burst_left -= 1;
                                    if burst_left == 0 {
                                        record(&shared.burst, burst_started.elapsed());
                                        shared.bursts_done.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    "chat-message" => {
                        if let Some(t) = v["message"].as_str().and_then(|m| m.strip_prefix("bench ")).and_then(|t| t.parse::<u64>().ok()) {
                            record(&shared.chat, shared.since(t));
                            shared.chat_delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    "timer-update" => {
                        timer_seen += 1;
                        if let Ok(mut m) = room.timer_arrivals.lock() {
                            m.entry(timer_seen).or_default().push(Instant::now());
                        }
                    }
                    _ => {}
                }
            }
            _ = tick(&mut relay_tick) => {
                if others.is_empty() { continue; }
                let (to, to_slow) = others[(next_rand(&mut rng) % others.len() as u64) as usize];
                let t = shared.now_us();
                sent_n += 1;
                let r = if sent_n.is_multiple_of(OFFER_EVERY) {
                    conn.emit_json("offer", &steady_offer(to, t, &sdp_json)).await
                } else {
                    conn.emit_json("ice-candidate", &steady_candidate(to, t, &candidate_json)).await
                };
                // Messages to a slow consumer are sent (they load the server) but not expected.
                if r.is_ok() && !to_slow {
                    shared.relay_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = tick(&mut chat_tick) => {
                let msg = json!({"message": format!("bench {}", shared.now_us())});
                chat_n += 1;
                if conn.emit_with_ack("chat-message", &msg, chat_n).await.is_ok() {
                    shared.chat_expected.fetch_add(room.readers as u64, Ordering::Relaxed);
                }
            }
            _ = tick(&mut churn_tick) => {
                churn_n += 1;
                let _ = if churn_n.is_multiple_of(2) {
                    conn.emit("raise-hand", &json!({"raised": churn_n.is_multiple_of(4)})).await
                } else {
                    conn.emit("media-state", &json!({"audio": !churn_n.is_multiple_of(3), "video": true})).await
                };
            }
            _ = tick(&mut timer_tick) => {
                timer_n += 1;
                let event = if timer_n == 1 { "start-timer" } else { "skip-timer" };
                let _ = conn.emit(event, &json!({})).await;
            }
        }
    }
    conn.close().await;
}
