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
mod driver;
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
pub use driver::run;
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
