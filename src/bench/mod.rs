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

mod background;
pub mod capacity;
mod probe;
pub mod report;
mod setup;
pub mod sio;
mod traffic;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use background::*;
pub use probe::rss_kib;
use probe::*;
use report::{Latency, Report, ServerUse, Slo};
use setup::*;
use sio::{Conn, Incoming, Target};
use traffic::*;

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
