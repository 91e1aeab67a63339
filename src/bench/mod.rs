//! `flowsync bench`: a load generator for a running FlowSync (or any server speaking the same
//! REST + Socket.IO protocol), in the spirit of `redis-benchmark` and `pgbench`.
//!
//! A run has three phases:
//! 1. set-up (not timed): rooms are created and joined over REST (`POST /api/rooms`,
//!    `POST /api/rooms/{code}/join`), so every simulated participant holds a token;
//! 2. connect: participants open Socket.IO connections at `--connect-rate`, spread over the
//!    source addresses, and wait for `room-joined`. With `--candidates N` each newcomer
//!    negotiates with everyone already in its room the way the browser client does (an offer
//!    of `--sdp-bytes`, an answer, N ICE candidates each way), and the whole negotiation is
//!    timed ("join burst");
//! 3. measure (`--duration`): signaling relays (`--rate` per room: ICE candidates, every tenth an
//!    offer with a full SDP) to a random peer, chat (`--chat-rate`), `media-state`/`raise-hand`
//!    churn (`--churn`) and timer changes (`--timer-every`) go on; `--idle` sends nothing and
//!    only answers heartbeats. Every message carries its send time and is timed where it
//!    arrives (one process, one clock).
//!
//! Then the senders stop, in-flight messages get a second to land, and everyone disconnects.
//! One tokio task per connection and no thread per connection: the generator is meant to hold
//! tens of thousands of sockets on one core without being the bottleneck.

pub mod capacity;
mod probe;
pub mod report;
pub mod sio;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use probe::rss_kib;
use probe::*;
use report::{Latency, Report, ServerUse, Slo};
use sio::{Conn, Incoming, Target};

/// The knobs of one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub url: String,
    /// More instances of the same deployment (scale-out over Redis): a room's participants are
    /// spread over `url` and these in turn, so signaling crosses instances. Rooms are created
    /// through `url`.
    pub also_urls: Vec<String>,
    pub rooms: usize,
    pub per_room: usize,
    pub duration: Duration,
    /// New connections per second.
    pub connect_rate: f64,
    /// Signaling messages per second per room (0 = none).
    pub rate: f64,
    /// ICE candidates each side sends per peer pair when someone joins (0 = no join burst).
    pub candidates: usize,
    /// Size of the SDP in offers and answers.
    pub sdp_bytes: usize,
    /// Chat messages per second per room.
    pub chat_rate: f64,
    /// Per room, `media-state` and `raise-hand` changes per second.
    pub churn: f64,
    /// The host changes the timer this often.
    pub timer_every: Option<Duration>,
    /// Hold the sockets with heartbeats only.
    pub idle: bool,
    /// Reconnect lost connections (as browsers do) and measure how long each took; chat
    /// messages the server acknowledged are looked up over REST at the end.
    pub reconnect: bool,
    /// REST requests per second during the measurement (mixed: room lookups, message pages,
    /// posted messages), from participants' tokens.
    pub rest_rate: f64,
    /// This share of participants (percent) stops reading once the measurement starts: slow
    /// consumers, which must not slow down the others.
    pub slow_percent: f64,
    /// Background joins per minute, from the start of the connect phase to the end of the
    /// measurement: newcomers join extra rooms over REST, connect, negotiate with whoever is
    /// there, stay [`JOIN_HOLD`] and leave (`leave-room`). Timed from the REST join to
    /// `room-joined`; the measured rooms never see their traffic.
    pub join_rate: f64,
    /// Source addresses to spread connections over (empty: the system's choice).
    pub source_ips: Vec<IpAddr>,
    /// The server's process, to sample its memory and CPU (found by its port when local).
    pub server_pid: Option<u32>,
    pub slos: Vec<Slo>,
}

/// What the caller shows while a run goes on.
pub trait Progress: Send + Sync {
    /// A new phase with `total` steps (0: open-ended).
    fn phase(&self, name: &str, total: u64);
    /// Progress within the phase.
    fn update(&self, done: u64, detail: &str);
    fn finish(&self);
}

/// Why a run could not be done at all (as opposed to a run that measured failures).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Usage(String),
}

/// One simulated participant's identity.
#[derive(Debug, Clone)]
struct Seat {
    participant_id: String,
    token: String,
    /// Stops reading when the measurement starts.
    slow: bool,
}

/// A room and what its participants share.
#[derive(Debug)]
struct Room {
    code: String,
    seats: Vec<Seat>,
    /// Participants that keep reading (everyone but the slow consumers).
    readers: usize,
    /// Arrival times of each room's k-th `timer-update`, per participant.
    timer_arrivals: Mutex<HashMap<u64, Vec<Instant>>>,
    /// Ids of the chat messages the server acknowledged (stored).
    acked_chat: Mutex<Vec<i64>>,
}

/// Late relay deliveries kept for [`report::Stalls`] (16 bytes each): a run where everything
/// is late still fits.
const MAX_LATE: usize = 4_000_000;
/// One steady relay in this many is an offer (an SDP of `--sdp-bytes`); the rest are ICE
/// candidates.
const OFFER_EVERY: u64 = 10;

/// Counters and histograms shared by every connection.
struct Shared {
    base: Instant,
    /// `url` first, then `also_urls`: participant `k` of a room connects to `targets[k % len]`.
    targets: Vec<Target>,
    scenario: Scenario,
    go: CancellationToken,
    stop_sending: CancellationToken,
    stop: CancellationToken,
    measuring: AtomicBool,
    connects_ok: AtomicU64,
    connects_failed: AtomicU64,
    disconnects: AtomicU64,
    relay_sent: AtomicU64,
    relay_delivered: AtomicU64,
    chat_expected: AtomicU64,
    chat_delivered: AtomicU64,
    received: AtomicU64,
    connect: Mutex<Latency>,
    relay: Mutex<Latency>,
    /// When the measured window began (µs since `base`), and the late relay deliveries as
    /// (received, latency) in µs since then, for [`report::Stalls`].
    window_start_us: AtomicU64,
    late_relays: Mutex<Vec<(u64, u64)>>,
    chat: Mutex<Latency>,
    burst: Mutex<Latency>,
    rest: Mutex<Latency>,
    rest_ok: AtomicU64,
    rest_failed: AtomicU64,
    errors: Mutex<Vec<String>>,
    joined: AtomicU64,
    bursts_done: AtomicU64,
    /// Background joins (`--join-rate`): REST join to `room-joined`.
    joins: Mutex<Latency>,
    joins_ok: AtomicU64,
    joins_failed: AtomicU64,
    /// Connections lost during the run and won back (`--reconnect`).
    lost: AtomicU64,
    reconnected: AtomicU64,
    reconnect: Mutex<Latency>,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn since(&self, t_us: u64) -> Duration {
        Duration::from_micros(self.now_us().saturating_sub(t_us))
    }

    /// Records one relay delivery sent at `t_us`.
    fn relayed(&self, t_us: u64) {
        let now = self.now_us();
        let latency = Duration::from_micros(now.saturating_sub(t_us));
        record(&self.relay, latency);
        if latency >= Duration::from_millis(report::LATE_MS)
            && self.measuring.load(Ordering::Relaxed)
            && let Ok(mut v) = self.late_relays.lock()
            && v.len() < MAX_LATE
        {
            let start = self.window_start_us.load(Ordering::Relaxed);
            v.push((now.saturating_sub(start), latency.as_micros() as u64));
        }
    }

    fn error(&self, e: impl std::fmt::Display) {
        if let Ok(mut v) = self.errors.lock()
            && v.len() < 5
        {
            v.push(e.to_string());
        }
    }
}

fn record(h: &Mutex<Latency>, d: Duration) {
    if let Ok(mut h) = h.lock() {
        h.record(d);
    }
}

fn take(h: &Mutex<Latency>) -> Latency {
    h.lock().map(|h| h.clone()).unwrap_or_default()
}

/// The REST client of a run (set-up, `--rest-rate` load, the `--reconnect` chat check). Like
/// the WebSocket connections, it does not verify the server's certificate.
fn rest_client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Setup(format!("HTTP client: {e}")))
}

/// POSTs JSON during set-up or a background join; rate limiting and refusals are set-up errors.
async fn post(http: &reqwest::Client, url: String, body: Value) -> Result<Value, BenchError> {
    let res = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| BenchError::Setup(format!("POST {url}: {e} (is the server running?)")))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.as_u16() == 429 {
        return Err(BenchError::Setup(format!(
            "POST {url}: rate limited (429: {body}). Run the server with the benchmark settings \
             (docs/performance.md, \"Benchmark settings\"): rooms.create_rate_per_ip, rooms.join_rate_per_ip, \
             rooms.lookup_rate_per_ip and rooms.message_rate_per_participant raised"
        )));
    }
    if !status.is_success() {
        return Err(BenchError::Setup(format!("POST {url}: {status} {body}")));
    }
    Ok(body)
}

impl Seat {
    /// The participant a create or join reply names.
    fn from_reply(b: &Value) -> Result<Seat, BenchError> {
        let field = |name: &str| {
            b[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| BenchError::Setup(format!("no {name} in {b}")))
        };
        Ok(Seat {
            slow: false,
            participant_id: field("participant_id")?,
            token: field("token")?,
        })
    }
}

/// Creates the rooms and their participants over REST.
async fn set_up(
    s: &Scenario,
    http: &reqwest::Client,
    progress: &dyn Progress,
) -> Result<Vec<Arc<Room>>, BenchError> {
    let base = s.url.trim_end_matches('/').to_owned();
    progress.phase("creating rooms", (s.rooms * s.per_room) as u64);
    let done = Arc::new(AtomicU64::new(0));
    let per_room = s.per_room;
    let slow_percent = s.slow_percent;
    let rooms = futures_util::stream::iter(0..s.rooms)
        .map(|i| {
            let (http, base, done) = (http.clone(), base.clone(), done.clone());
            async move {
                let send = |path: String, body: Value| post(&http, format!("{base}{path}"), body);
                let created = send(
                    "/api/rooms".into(),
                    json!({
                        "name": format!("bench {i}"),
                        "display_name": "bench 0",
                        "max_participants": per_room.clamp(2, 10),
                    }),
                )
                .await?;
                let code = created["room_code"]
                    .as_str()
                    .ok_or_else(|| BenchError::Setup(format!("no room_code in {created}")))?
                    .to_owned();
                let mut seats = vec![Seat::from_reply(&created)?];
                done.fetch_add(1, Ordering::Relaxed);
                for k in 1..per_room {
                    let joined = send(
                        format!("/api/rooms/{code}/join"),
                        json!({ "display_name": format!("bench {k}") }),
                    )
                    .await?;
                    seats.push(Seat::from_reply(&joined)?);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                // Slow consumers: spread evenly over all participants, never a room's host
                // (it drives the timer).
                for (k, seat) in seats.iter_mut().enumerate().skip(1) {
                    let n = (i * per_room + k) as f64;
                    seat.slow = slow_percent > 0.0
                        && ((n + 1.0) * slow_percent / 100.0).floor()
                            > (n * slow_percent / 100.0).floor();
                }
                let readers = seats.iter().filter(|x| !x.slow).count();
                Ok::<_, BenchError>(Arc::new(Room {
                    code,
                    seats,
                    readers,
                    timer_arrivals: Mutex::new(HashMap::new()),
                    acked_chat: Mutex::new(Vec::new()),
                }))
            }
        })
        .buffer_unordered(16);
    let mut rooms = std::pin::pin!(rooms);
    let mut out = Vec::with_capacity(s.rooms);
    while let Some(r) = rooms.next().await {
        out.push(r?);
        progress.update(done.load(Ordering::Relaxed), "");
    }
    Ok(out)
}

/// A pseudo-random number from a per-connection state (xorshift; no shared RNG to contend on).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A participant's random state: different for every seat of a room and every run.
fn participant_seed(me: usize, now_us: u64) -> u64 {
    0x9E37_79B9_7F4A_7C15u64 ^ ((me as u64 + 1) * 0x2545_F491_4F6C_DD1D) ^ now_us
}

/// Where in the cycle of [`OFFER_EVERY`] steady relays a participant starts, from the high
/// bits of its random phase.
fn offer_cycle_start(phase: u64) -> u64 {
    (phase >> 40) % OFFER_EVERY
}

fn sdp(bytes: usize) -> String {
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
fn steady_offer(to: &str, t: u64, sdp_json: &str) -> String {
    let to = Value::from(to);
    format!(r#"{{"to":{to},"offer":{{"type":"offer","sdp":{sdp_json},"t":{t},"bench":"steady"}}}}"#)
}

/// A steady relay's ICE candidate as JSON text; `candidate_json` is [`CANDIDATE`] escaped once.
fn steady_candidate(to: &str, t: u64, candidate_json: &str) -> String {
    let to = Value::from(to);
    format!(
        r#"{{"to":{to},"candidate":{{"candidate":{candidate_json},"sdpMid":"0","sdpMLineIndex":0,"t":{t},"bench":"steady"}}}}"#
    )
}

/// A browser's ICE candidate line.
const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 192.0.2.7 61523 typ srflx raddr 10.0.0.7 rport 61523 generation 0 ufrag sEMT network-cost 999";

fn candidate(t: u64, kind: &str) -> Value {
    json!({
        "candidate": CANDIDATE,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "t": t,
        "bench": kind,
    })
}

/// Periods of the per-connection timers: a room's rate is shared by its participants.
fn period(per_room_rate: f64, per_room: usize) -> Option<Duration> {
    (per_room_rate > 0.0).then(|| Duration::from_secs_f64(per_room as f64 / per_room_rate))
}

fn ticker(p: Option<Duration>, phase: u64) -> Option<tokio::time::Interval> {
    p.map(|p| {
        let offset = Duration::from_nanos(phase % p.as_nanos().max(1) as u64);
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + offset, p);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        i
    })
}

async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A newcomer's side of a join burst, like a browser: to everyone already in the room, an
/// offer, then our candidates.
async fn offer_burst(
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
async fn answer_burst(shared: &Shared, conn: &mut Conn, to: &str, sdp: &str) -> anyhow::Result<()> {
    describe(shared, conn, to, "answer", sdp, "burst-reply").await
}

/// One side of a pair's negotiation: the session description (`kind` is `offer` or `answer`,
/// also the event's name), then `--candidates` ICE candidates, each stamped and tagged `tag`.
async fn describe(
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
async fn join(
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
async fn rejoin(
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
async fn participant(shared: Arc<Shared>, room: Arc<Room>, me: usize, source: Option<IpAddr>) {
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

/// After a `--reconnect` run: every chat message the server acknowledged must be in its room's
/// history. Returns (acknowledged, missing); a room whose history cannot be read counts all
/// its acknowledged messages as missing.
async fn verify_chat(s: &Scenario, http: &reqwest::Client, rooms: &[Arc<Room>]) -> (u64, u64) {
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
async fn rest_load(shared: Arc<Shared>, http: reqwest::Client, rooms: Vec<Arc<Room>>, rate: f64) {
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
fn background_room_count(per_minute: f64) -> usize {
    (per_minute / 60.0 * JOIN_HOLD.as_secs_f64() / 5.0)
        .ceil()
        .max(1.0) as usize
}

/// Creates the rooms the background joiners come and go in; their hosts never connect.
async fn background_rooms(s: &Scenario, http: &reqwest::Client) -> Result<Vec<String>, BenchError> {
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
async fn background_joins(
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
async fn joiner(
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

/// The server's pid: given, or the process listening on the URL's port when it is local.
fn find_server(target: &Target, given: Option<u32>) -> Option<u32> {
    if given.is_some() {
        return given;
    }
    let ip = target.addr.ip();
    let local = ip.is_loopback() || crate::doctor::system::local_addresses().contains(&ip);
    local
        .then(|| crate::doctor::system::listener_process(target.addr.port()))
        .flatten()
        .map(|(pid, _)| pid)
}

/// Source addresses: as given, or eight loopback addresses when the target is on loopback (the
/// connections of one source address to one server port are limited by the ephemeral ports).
fn sources(target: &Target, given: &[IpAddr]) -> Vec<IpAddr> {
    if !given.is_empty() {
        return given.to_vec();
    }
    match target.addr.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => {
            (1..=8u8).map(|i| IpAddr::from([127, 0, 0, i])).collect()
        }
        _ => Vec::new(),
    }
}

/// Runs a scenario end to end.
pub async fn run(s: Scenario, progress: Arc<dyn Progress>) -> Result<Report, BenchError> {
    if s.rooms == 0 || s.per_room == 0 {
        return Err(BenchError::Usage(
            "--rooms and --per-room must be at least 1".into(),
        ));
    }
    if s.per_room > 10 {
        return Err(BenchError::Usage(
            "--per-room is at most 10 (FlowSync's room capacity)".into(),
        ));
    }
    let sockets = s.rooms * s.per_room;
    let limit = crate::doctor::system::raise_nofile()
        .or_else(|| crate::doctor::system::nofile_limits().map(|(soft, _)| soft))
        .unwrap_or(1024);
    if sockets as u64 + 64 > limit {
        return Err(BenchError::Usage(format!(
            "{sockets} sockets need more open files than this process may have ({limit}); \
             lower --rooms/--per-room or raise the limit (ulimit -n)"
        )));
    }
    let target = Target::from_url(&s.url)
        .await
        .map_err(|e| BenchError::Usage(format!("{e:#}")))?;
    let mut targets = vec![target];
    for url in &s.also_urls {
        targets.push(
            Target::from_url(url)
                .await
                .map_err(|e| BenchError::Usage(format!("--also-url: {e:#}")))?,
        );
    }
    let http = rest_client()?;
    let rooms = set_up(&s, &http, progress.as_ref()).await?;
    let background_codes = if s.join_rate > 0.0 {
        background_rooms(&s, &http).await?
    } else {
        Vec::new()
    };
    let pid = find_server(&targets[0], s.server_pid);
    let source_ips = sources(&targets[0], &s.source_ips);
    let shared = Arc::new(Shared {
        base: Instant::now(),
        targets,
        scenario: s.clone(),
        go: CancellationToken::new(),
        stop_sending: CancellationToken::new(),
        stop: CancellationToken::new(),
        measuring: AtomicBool::new(false),
        connects_ok: AtomicU64::new(0),
        connects_failed: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
        relay_sent: AtomicU64::new(0),
        relay_delivered: AtomicU64::new(0),
        chat_expected: AtomicU64::new(0),
        chat_delivered: AtomicU64::new(0),
        received: AtomicU64::new(0),
        connect: Mutex::new(Latency::default()),
        relay: Mutex::new(Latency::default()),
        window_start_us: AtomicU64::new(0),
        late_relays: Mutex::default(),
        chat: Mutex::new(Latency::default()),
        burst: Mutex::new(Latency::default()),
        rest: Mutex::new(Latency::default()),
        rest_ok: AtomicU64::new(0),
        rest_failed: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        joined: AtomicU64::new(0),
        bursts_done: AtomicU64::new(0),
        joins: Mutex::new(Latency::default()),
        joins_ok: AtomicU64::new(0),
        joins_failed: AtomicU64::new(0),
        lost: AtomicU64::new(0),
        reconnected: AtomicU64::new(0),
        reconnect: Mutex::new(Latency::default()),
    });

    // Server sampling, once a second, for the whole run.
    let mut server = pid.map(|pid| ServerUse {
        pid,
        rss_before_kib: rss_kib(pid),
        fds_before: fds(pid),
        ..Default::default()
    });
    let samples: Arc<Mutex<Vec<(f64, u64, f64)>>> = Arc::default();
    let sampler_stop = CancellationToken::new();
    if let Some(pid) = pid {
        let (samples, stop, base) = (samples.clone(), sampler_stop.clone(), shared.base);
        tokio::spawn(async move {
            let hz = ticks_per_s();
            let mut last = (Instant::now(), cpu_ticks(pid));
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => {}
                }
                let now = (Instant::now(), cpu_ticks(pid));
                let cpu = (now.1.saturating_sub(last.1)) as f64
                    / hz
                    / (now.0 - last.0).as_secs_f64().max(1e-3)
                    * 100.0;
                last = now;
                if let Ok(mut v) = samples.lock() {
                    v.push((base.elapsed().as_secs_f64(), rss_kib(pid), cpu));
                }
            }
        });
    }

    // Background joins run from before the first connection to the end of the measurement.
    let joins_driver = (s.join_rate > 0.0).then(|| {
        tokio::spawn(background_joins(
            shared.clone(),
            http.clone(),
            background_codes.clone(),
            source_ips.clone(),
        ))
    });

    // Connect, ramped.
    progress.phase("connecting", sockets as u64);
    let mut tasks = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / s.connect_rate.max(1.0));
    let mut next = tokio::time::Instant::now();
    let mut n = 0usize;
    for room in &rooms {
        for me in 0..room.seats.len() {
            tokio::time::sleep_until(next).await;
            next += gap;
            let source = (!source_ips.is_empty()).then(|| source_ips[n % source_ips.len()]);
            n += 1;
            tasks.spawn(participant(shared.clone(), room.clone(), me, source));
            if n.is_multiple_of(100) {
                progress.update(
                    shared.connects_ok.load(Ordering::Relaxed),
                    &format!("{} failed", shared.connects_failed.load(Ordering::Relaxed)),
                );
            }
        }
    }
    // Everyone connected (or failed) and every join burst done, within a deadline.
    let settle = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ok = shared.connects_ok.load(Ordering::Relaxed);
        let failed = shared.connects_failed.load(Ordering::Relaxed);
        progress.update(ok, &format!("{failed} failed"));
        let bursts = shared.bursts_done.load(Ordering::Relaxed);
        if (ok + failed) as usize >= sockets && bursts >= ok {
            break;
        }
        if tokio::time::Instant::now() > settle {
            shared.error("not every connection or join burst finished within 30 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(srv) = server.as_mut() {
        srv.rss_connected_kib = rss_kib(srv.pid);
        srv.fds_connected = fds(srv.pid);
    }
    let connect_summary = take(&shared.connect).summary();
    let burst_summary = take(&shared.burst).summary();
    // The join burst's relays are not part of the steady-state relay figures.
    if let Ok(mut h) = shared.relay.lock() {
        *h = Latency::default();
    }

    // Measure.
    progress.phase(
        if s.idle {
            "holding (idle)"
        } else {
            "measuring"
        },
        s.duration.as_secs(),
    );
    let window_start = Instant::now();
    let cpu_start = pid.and_then(process_ticks);
    let core = pid.and_then(pinned_cpu);
    let core_start = core.and_then(core_ticks);
    let own_start = cpu_ticks(std::process::id());
    let steal_start = steal_ticks();
    shared
        .window_start_us
        .store(shared.now_us(), Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Relaxed);
    shared.go.cancel();
    let lag_probe = tokio::spawn(generator_lag(shared.stop_sending.clone()));
    let rest_driver = (s.rest_rate > 0.0).then(|| {
        tokio::spawn(rest_load(
            shared.clone(),
            http.clone(),
            rooms.clone(),
            s.rest_rate,
        ))
    });
    while window_start.elapsed() < s.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        progress.update(
            window_start.elapsed().as_secs(),
            &format!(
                "{} delivered, {} disconnects",
                shared.relay_delivered.load(Ordering::Relaxed),
                shared.disconnects.load(Ordering::Relaxed)
            ),
        );
    }
    shared.stop_sending.cancel();
    let window = window_start.elapsed();
    if let Some(d) = rest_driver {
        let _ = d.await;
    }
    let cpu_end = pid.and_then(process_ticks);
    let core_end = core.and_then(core_ticks);
    let own_cpu = cpu_ticks(std::process::id()).saturating_sub(own_start) as f64
        / ticks_per_s()
        / window.as_secs_f64()
        * 100.0;
    let steal_end = steal_ticks();
    let lag = lag_probe.await.unwrap_or_default();
    let all = steal_end.1.saturating_sub(steal_start.1);
    let steal = if all == 0 {
        0.0
    } else {
        steal_end.0.saturating_sub(steal_start.0) as f64 / all as f64 * 100.0
    };
    // In-flight messages land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let received = shared.received.load(Ordering::Relaxed);
    shared.stop.cancel();
    progress.phase("disconnecting", 0);
    while tasks.join_next().await.is_some() {}
    if let Some(d) = joins_driver {
        let _ = d.await;
    }
    sampler_stop.cancel();
    if let Some(srv) = server.as_mut() {
        // Give the server a moment to close its side, then count again.
        tokio::time::sleep(Duration::from_secs(2)).await;
        // After a restart the sampled process is gone: count the one that listens now, so
        // "back to baseline" is read off the server that is running.
        if !std::path::Path::new(&format!("/proc/{}", srv.pid)).exists() {
            srv.pid_after = find_server(&shared.targets[0], None).filter(|p| *p != srv.pid);
        }
        srv.fds_after = fds(srv.pid_after.unwrap_or(srv.pid));
        srv.samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
        srv.rss_peak_kib = srv.samples.iter().map(|s| s.1).max().unwrap_or(0);
        let open = shared.connects_ok.load(Ordering::Relaxed).max(1) as f64;
        srv.rss_per_socket_kib =
            srv.rss_connected_kib.saturating_sub(srv.rss_before_kib) as f64 / open;
        if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
            let share = |t: u64| t as f64 / ticks_per_s() / window.as_secs_f64() * 100.0;
            srv.cpu_percent = Some(share(b.total().saturating_sub(a.total())));
            srv.cpu_kernel_percent = Some(share(b.system.saturating_sub(a.system)));
        }
        if let (Some(cpu), Some(a), Some(b)) = (core, core_start, core_end) {
            srv.core = Some(core_use(cpu, a, b));
        }
    }
    progress.finish();

    // Timer spread per change: only changes every participant of the room saw.
    let mut timer = Latency::default();
    for room in &rooms {
        if let Ok(m) = room.timer_arrivals.lock() {
            for arrivals in m.values() {
                if arrivals.len() == room.readers
                    && let (Some(min), Some(max)) = (arrivals.iter().min(), arrivals.iter().max())
                {
                    timer.record(*max - *min);
                }
            }
        }
    }
    let (chat_acked, chat_acked_missing) = if s.reconnect {
        verify_chat(&s, &http, &rooms).await
    } else {
        (0, 0)
    };
    let relay_sent = shared.relay_sent.load(Ordering::Relaxed);
    let slow_consumers = rooms
        .iter()
        .map(|r| (r.seats.len() - r.readers) as u64)
        .sum();
    let relay_delivered = shared.relay_delivered.load(Ordering::Relaxed);
    let mut report = Report {
        url: s.url.clone(),
        also_urls: s.also_urls.clone(),
        rooms: s.rooms,
        per_room: s.per_room,
        sockets,
        duration_s: window.as_secs_f64(),
        connects_ok: shared.connects_ok.load(Ordering::Relaxed),
        connects_failed: shared.connects_failed.load(Ordering::Relaxed),
        disconnects: shared.disconnects.load(Ordering::Relaxed),
        errors: shared.errors.lock().map(|v| v.clone()).unwrap_or_default(),
        connect: connect_summary,
        relay: take(&shared.relay).summary(),
        relay_sent,
        relay_delivered,
        relay_stalls: report::Stalls::from_late(std::mem::take(
            &mut *shared.late_relays.lock().unwrap_or_else(|e| e.into_inner()),
        )),
        deliveries_per_s: relay_delivered as f64 / window.as_secs_f64(),
        chat: take(&shared.chat).summary(),
        chat_expected: shared.chat_expected.load(Ordering::Relaxed),
        chat_delivered: shared.chat_delivered.load(Ordering::Relaxed),
        burst: burst_summary,
        timer_spread: timer.summary(),
        messages_per_s: received as f64 / window.as_secs_f64(),
        delivered_percent: if relay_sent == 0 {
            100.0
        } else {
            relay_delivered as f64 / relay_sent as f64 * 100.0
        },
        server,
        generator_cpu_percent: own_cpu,
        steal_percent: steal,
        rest: take(&shared.rest).summary(),
        rest_ok: shared.rest_ok.load(Ordering::Relaxed),
        rest_failed: shared.rest_failed.load(Ordering::Relaxed),
        slow_consumers,
        lost: shared.lost.load(Ordering::Relaxed),
        reconnected: shared.reconnected.load(Ordering::Relaxed),
        reconnect: take(&shared.reconnect).summary(),
        joins: take(&shared.joins).summary(),
        generator_lag: lag.summary(),
        joins_ok: shared.joins_ok.load(Ordering::Relaxed),
        joins_failed: shared.joins_failed.load(Ordering::Relaxed),
        chat_acked,
        chat_acked_missing,
        slo: Vec::new(),
    };
    report.slo = s.slos.iter().map(|slo| slo.judge(&report)).collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_spread_over_the_participants_cycles() {
        // 15,000 participants connected 1 ms apart, as the relay scenario ramps them: at any
        // one position of the cycle about a tenth of them send an offer, never all at once.
        let mut starts = [0u32; OFFER_EVERY as usize];
        for i in 0..15_000u64 {
            let mut rng = participant_seed((i % 5) as usize, 1_000_000 + i * 1_000);
            let phase = next_rand(&mut rng);
            starts[offer_cycle_start(phase) as usize] += 1;
        }
        for (k, n) in starts.iter().enumerate() {
            assert!(
                (1_200..=1_800).contains(n),
                "{n} participants start at {k}: {starts:?}"
            );
        }
    }

    #[test]
    fn steady_relays_are_the_json_they_stand_for() {
        let big = sdp(3000) + "\"quoted\" \\ é";
        let offer: Value = serde_json::from_str(&steady_offer(
            "p_1",
            7,
            &Value::from(big.as_str()).to_string(),
        ))
        .unwrap();
        assert_eq!(
            offer,
            json!({"to": "p_1", "offer": {"type": "offer", "sdp": big, "t": 7, "bench": "steady"}})
        );
        let cand: Value = serde_json::from_str(&steady_candidate(
            "p_2",
            8,
            &Value::from(CANDIDATE).to_string(),
        ))
        .unwrap();
        assert_eq!(
            cand,
            json!({"to": "p_2", "candidate": candidate(8, "steady")})
        );
    }

    #[test]
    fn core_use_is_each_counter_s_share_of_the_window() {
        // user nice system idle iowait irq softirq steal
        let a = [100, 0, 50, 1000, 0, 0, 10, 0];
        let b = [130, 10, 90, 1010, 0, 2, 18, 0];
        let c = core_use(0, a, b);
        assert_eq!(c.cpu, 0);
        assert!((c.user_percent - 40.0).abs() < 1e-9, "{c:?}");
        assert!((c.system_percent - 40.0).abs() < 1e-9, "{c:?}");
        assert!((c.irq_percent - 10.0).abs() < 1e-9, "{c:?}");
        assert!((c.idle_percent - 10.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.steal_percent, 0.0);
    }

    #[test]
    fn this_process_has_ticks_and_maybe_a_pinned_cpu() {
        let me = std::process::id();
        let t = process_ticks(me).expect("this process has a /proc/self/stat");
        assert_eq!(t.total(), cpu_ticks(me));
        // A process that is gone has no figures (not zeros).
        assert!(process_ticks(u32::MAX).is_none());
        // Pinned or not, the answer must name a CPU that /proc/stat lists.
        if let Some(cpu) = pinned_cpu(me) {
            assert!(core_ticks(cpu).is_some());
        }
        assert!(core_ticks(0).is_some(), "cpu0 in /proc/stat");
        // The machine's line (`cpu  …`) is not taken for a CPU's (`cpu0 …`) or the reverse.
        let (steal, all) = steal_ticks();
        assert!(all > 0 && steal <= all);
        assert_ne!(stat_ticks("cpu"), core_ticks(0));
    }
}
