//! `flowsync bench`: drives a running server with simulated participants (`crate::bench`) and
//! prints a table, or JSON for scripts; `--slo` thresholds decide the exit code.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{Cli, CmdResult, Failure, exit};
use crate::bench::report::Slo;
use crate::bench::{BenchError, Progress, Scenario};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync bench --url http://127.0.0.1:8080 --rooms 100 --per-room 5 --duration 30s --rate 4
  flowsync bench --rooms 3000 --per-room 5 --rate 4 --slo 'p99<5ms' --slo 'delivered>=100%'
  flowsync bench --rooms 3800 --per-room 5 --idle --duration 10m      # idle capacity
  flowsync bench --rooms 1 --per-room 10 --candidates 10              # one room's join burst
  flowsync bench --rooms 20 --per-room 10 --candidates 10 --rate 0 --connect-rate 10 \\
    --join-rate 500 --slo 'burst.p99<200ms'                # bursts while 500 others join/min
  flowsync bench --rooms 500 --per-room 10 --timer-every 5s --json | jq .timer_spread
  flowsync bench --rooms 3000 --per-room 5 --rate 4 --slow-percent 1   # 1 % stop reading
  flowsync bench --rooms 3000 --per-room 5 --rate 0 --rest-rate 2000 --slo 'rest.p99<10ms'

The server must run with the benchmark settings (docs/performance.md, \"Benchmark settings\"): its per-address rate
limits for creating and joining rooms are raised, since every simulated participant joins from
this one machine. Rooms are created before the clock starts. On loopback, connections are
spread over 127.0.0.1-127.0.0.8 (--source-ip to choose).

--slo METRIC<VALUE (also <=, >, >=, =), repeatable. Metrics:
[relay.|chat.|connect.|burst.|timer.|rest.|reconnect.|join.|lag.]p50|p90|p99|p99.9|max (with ms,
s or us; lag. is how late the generator's own 1 ms timer fired, what it adds to every latency),
delivered (%), failed, disconnects, deliveries_per_s, reconnected (%), chat_lost, joins_failed,
steal (% of the machine's CPU time the hypervisor took during the window; steal<2% marks a run
whose tail was not the host's doing). Latencies without a prefix are the relay's. Examples:
p99<5ms, chat.p99<50ms, burst.p99<200ms, timer.max<20ms, delivered>=100%, failed=0, disconnects=0.

Exit codes: 0 the run completed and every --slo was met, 1 an --slo was missed, 2 usage error
(bad flag, too few open files allowed), 3 the server could not be reached or refused the set-up
(e.g. rate limited).")]
pub struct Opts {
    /// The FlowSync to drive (http:// or https://; certificates are not verified)
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Another instance of the same deployment (repeatable): each room's participants are
    /// spread over --url and these in turn, so signaling crosses instances (scale-out)
    #[arg(long = "also-url", value_name = "URL")]
    also_urls: Vec<String>,
    /// Rooms to create
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Participants per room (2-10)
    #[arg(long, default_value_t = 5)]
    per_room: usize,
    /// How long to measure, once everyone is connected
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Signaling messages (offer/answer/ICE) per second per room
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// New connections per second (ramp)
    #[arg(long, default_value_t = 1000.0)]
    connect_rate: f64,
    /// ICE candidates each side sends per peer pair when someone joins (0: no join burst)
    #[arg(long, default_value_t = 0)]
    candidates: usize,
    /// SDP size of offers and answers, in bytes
    #[arg(long, default_value_t = 4096)]
    sdp_bytes: usize,
    /// Chat messages per second per room
    #[arg(long, default_value_t = 0.0)]
    chat_rate: f64,
    /// media-state / raise-hand changes per second per room
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// The host of each room changes the timer this often (start, then skip)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timer_every: Option<Duration>,
    /// Hold the sockets with heartbeats only (no traffic)
    #[arg(long)]
    idle: bool,
    /// Reconnect lost connections as browsers do and time it (server restarts); chat messages
    /// the server acknowledged are looked up over REST at the end
    #[arg(long)]
    reconnect: bool,
    /// REST requests per second while measuring (room lookups, message pages, posted messages)
    #[arg(long, value_name = "PER_SECOND", default_value_t = 0.0)]
    rest_rate: f64,
    /// Background joins per minute while connecting and measuring: newcomers join extra rooms
    /// over REST, connect, negotiate with whoever is there (--candidates), stay 5 s and leave;
    /// timed as "background join"
    #[arg(long, value_name = "PER_MINUTE", default_value_t = 0.0)]
    join_rate: f64,
    /// Percentage of participants that stop reading when the measurement starts (slow consumers)
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    slow_percent: f64,
    /// Source address for connections (repeatable; spread round-robin)
    #[arg(long = "source-ip", value_name = "IP")]
    source_ips: Vec<IpAddr>,
    /// The server's pid, to sample its memory and CPU (found by its port when it is local)
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// A threshold the run must meet (repeatable), e.g. 'p99<5ms'
    #[arg(long = "slo", value_name = "METRIC<VALUE", value_parser = Slo::parse)]
    slos: Vec<Slo>,
    /// Print one JSON document instead of the table
    #[arg(long)]
    json: bool,
}

/// An indicatif bar on a terminal; otherwise a plain line per phase and every 5 seconds.
struct Bars {
    bar: Option<indicatif::ProgressBar>,
    last_line: std::sync::Mutex<std::time::Instant>,
    phase: std::sync::Mutex<String>,
}

impl Bars {
    fn new(quiet: bool) -> Bars {
        let tty = {
            use std::io::IsTerminal;
            std::io::stderr().is_terminal()
        };
        Bars {
            bar: (tty && !quiet).then(indicatif::ProgressBar::hidden),
            last_line: std::sync::Mutex::new(std::time::Instant::now()),
            phase: std::sync::Mutex::new(String::new()),
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        if let Ok(mut p) = self.phase.lock() {
            *p = name.to_owned();
        }
        match &self.bar {
            Some(bar) => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.reset();
                bar.set_length(total);
                let style = if total > 0 {
                    "{prefix:>16} [{bar:30}] {pos}/{len} {msg}"
                } else {
                    "{prefix:>16} {spinner} {msg}"
                };
                if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
                    bar.set_style(s.progress_chars("=> "));
                }
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
            }
            None => eprintln!("bench: {name}"),
        }
    }

    fn update(&self, done: u64, detail: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(detail.to_owned());
            }
            None => {
                if let Ok(mut last) = self.last_line.lock()
                    && last.elapsed() >= Duration::from_secs(5)
                {
                    *last = std::time::Instant::now();
                    let phase = self.phase.lock().map(|p| p.clone()).unwrap_or_default();
                    eprintln!("bench: {phase} {done} {detail}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub async fn run(cli: &Cli, o: &Opts) -> CmdResult {
    let scenario = Scenario {
        url: o.url.clone(),
        also_urls: o.also_urls.clone(),
        rooms: o.rooms,
        per_room: o.per_room,
        duration: o.duration,
        connect_rate: o.connect_rate,
        rate: o.rate,
        candidates: o.candidates,
        sdp_bytes: o.sdp_bytes,
        chat_rate: o.chat_rate,
        churn: o.churn,
        timer_every: o.timer_every,
        idle: o.idle,
        reconnect: o.reconnect,
        slow_percent: o.slow_percent,
        join_rate: o.join_rate,
        rest_rate: o.rest_rate,
        source_ips: o.source_ips.clone(),
        server_pid: o.server_pid,
        slos: o.slos.clone(),
    };
    let progress = Arc::new(Bars::new(cli.quiet || o.json));
    let report = crate::bench::run(scenario, progress)
        .await
        .map_err(|e| match e {
            BenchError::Usage(m) => Failure::new(exit::USAGE, anyhow::anyhow!(m)),
            BenchError::Setup(m) => Failure::new(exit::UNREACHABLE, anyhow::anyhow!(m)),
        })?;
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        );
    } else {
        print!("{}", report.table());
    }
    let missed: Vec<&str> = report
        .slo
        .iter()
        .filter(|s| !s.met)
        .map(|s| s.slo.as_str())
        .collect();
    if !missed.is_empty() {
        return Err(Failure::new(
            exit::FAILED,
            anyhow::anyhow!("missed: {}", missed.join(", ")),
        ));
    }
    Ok(())
}
