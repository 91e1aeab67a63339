//! The run itself, phase by phase: the scenario checked, set-up, the ramped connect, the
//! measured window, the disconnect, and the report assembled from what every connection
//! counted.

use super::*;

/// Runs a scenario end to end.
pub async fn run(s: Scenario, progress: Arc<dyn Progress>) -> Result<Report, BenchError> {
    let sockets = check(&s)?;
    let targets = targets(&s).await?;
    let http = rest_client()?;
    let rooms = set_up(&s, &http, progress.as_ref()).await?;
    let background_codes = if s.join_rate > 0.0 {
        background_rooms(&s, &http).await?
    } else {
        Vec::new()
    };
    let pid = find_server(&targets[0], s.server_pid);
    let source_ips = sources(&targets[0], &s.source_ips);
    let shared = Arc::new(Shared::new(targets, s.clone()));
    let mut server = pid.map(|pid| ServerUse {
        pid,
        rss_before_kib: rss_kib(pid),
        fds_before: fds(pid),
        ..Default::default()
    });
    let sampler = Sampler::start(pid, shared.base);

    // Background joins run from before the first connection to the end of the measurement.
    let joins_driver = (s.join_rate > 0.0).then(|| {
        tokio::spawn(background_joins(
            shared.clone(),
            http.clone(),
            background_codes.clone(),
            source_ips.clone(),
        ))
    });

    let mut tasks = connect(&shared, &rooms, sockets, &source_ips, progress.as_ref()).await;
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

    let window = measure(&shared, &http, &rooms, pid, progress.as_ref()).await;

    shared.stop.cancel();
    progress.phase("disconnecting", 0);
    while tasks.join_next().await.is_some() {}
    if let Some(d) = joins_driver {
        let _ = d.await;
    }
    let samples = sampler.stop();
    if let Some(srv) = server.as_mut() {
        after_the_run(srv, &shared, &window, samples).await;
    }
    progress.finish();

    let (chat_acked, chat_acked_missing) = if s.reconnect {
        verify_chat(&s, &http, &rooms).await
    } else {
        (0, 0)
    };
    let relay_sent = shared.relay_sent.load(Ordering::Relaxed);
    let relay_delivered = shared.relay_delivered.load(Ordering::Relaxed);
    let seconds = window.length.as_secs_f64();
    let mut report = Report {
        url: s.url.clone(),
        also_urls: s.also_urls.clone(),
        rooms: s.rooms,
        per_room: s.per_room,
        sockets,
        duration_s: seconds,
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
        deliveries_per_s: relay_delivered as f64 / seconds,
        chat: take(&shared.chat).summary(),
        chat_expected: shared.chat_expected.load(Ordering::Relaxed),
        chat_delivered: shared.chat_delivered.load(Ordering::Relaxed),
        burst: burst_summary,
        timer_spread: timer_spread(&rooms).summary(),
        messages_per_s: window.received as f64 / seconds,
        delivered_percent: if relay_sent == 0 {
            100.0
        } else {
            relay_delivered as f64 / relay_sent as f64 * 100.0
        },
        server,
        generator_cpu_percent: window.own_cpu,
        steal_percent: window.steal,
        rest: take(&shared.rest).summary(),
        rest_ok: shared.rest_ok.load(Ordering::Relaxed),
        rest_failed: shared.rest_failed.load(Ordering::Relaxed),
        slow_consumers: rooms
            .iter()
            .map(|r| (r.seats.len() - r.readers) as u64)
            .sum(),
        lost: shared.lost.load(Ordering::Relaxed),
        reconnected: shared.reconnected.load(Ordering::Relaxed),
        reconnect: take(&shared.reconnect).summary(),
        joins: take(&shared.joins).summary(),
        generator_lag: window.lag.summary(),
        joins_ok: shared.joins_ok.load(Ordering::Relaxed),
        joins_failed: shared.joins_failed.load(Ordering::Relaxed),
        chat_acked,
        chat_acked_missing,
        slo: Vec::new(),
    };
    report.slo = s.slos.iter().map(|slo| slo.judge(&report)).collect();
    Ok(report)
}

/// The scenario's limits: room sizes FlowSync accepts, and enough open files for its sockets.
/// Returns the number of sockets.
fn check(s: &Scenario) -> Result<usize, BenchError> {
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
    Ok(sockets)
}

/// `--url` first, then every `--also-url`, each resolved once.
async fn targets(s: &Scenario) -> Result<Vec<Target>, BenchError> {
    let mut targets = vec![
        Target::from_url(&s.url)
            .await
            .map_err(|e| BenchError::Usage(format!("{e:#}")))?,
    ];
    for url in &s.also_urls {
        targets.push(
            Target::from_url(url)
                .await
                .map_err(|e| BenchError::Usage(format!("--also-url: {e:#}")))?,
        );
    }
    Ok(targets)
}

impl Shared {
    fn new(targets: Vec<Target>, scenario: Scenario) -> Shared {
        Shared {
            base: Instant::now(),
            targets,
            scenario,
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
        }
    }
}

/// The server's memory and CPU, sampled once a second for the whole run: (seconds since the
/// run began, RSS in KiB, CPU %).
struct Sampler {
    samples: Arc<Mutex<Vec<(f64, u64, f64)>>>,
    stop: CancellationToken,
}

impl Sampler {
    fn start(pid: Option<u32>, base: Instant) -> Sampler {
        let sampler = Sampler {
            samples: Arc::default(),
            stop: CancellationToken::new(),
        };
        if let Some(pid) = pid {
            let (samples, stop) = (sampler.samples.clone(), sampler.stop.clone());
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
        sampler
    }

    /// Stops sampling; the samples taken.
    fn stop(self) -> Vec<(f64, u64, f64)> {
        self.stop.cancel();
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Opens every participant's connection at `--connect-rate`, then waits until everyone has
/// connected (or failed) and every join burst is done, for 30 s at most.
async fn connect(
    shared: &Arc<Shared>,
    rooms: &[Arc<Room>],
    sockets: usize,
    source_ips: &[IpAddr],
    progress: &dyn Progress,
) -> tokio::task::JoinSet<()> {
    let s = &shared.scenario;
    progress.phase("connecting", sockets as u64);
    let mut tasks = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / s.connect_rate.max(1.0));
    let mut next = tokio::time::Instant::now();
    let mut n = 0usize;
    for room in rooms {
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
    tasks
}

/// What the measured window saw besides the connections' own counters.
struct Window {
    length: Duration,
    /// The server process's CPU ticks at the start and end.
    cpu: (Option<ProcessTicks>, Option<ProcessTicks>),
    /// The core the server is pinned to, if it is, and that core's ticks at the start and end.
    core: Option<usize>,
    core_ticks: (Option<[u64; 8]>, Option<[u64; 8]>),
    /// This generator's CPU use, and the share of the machine's time stolen by a hypervisor.
    own_cpu: f64,
    steal: f64,
    lag: Latency,
    /// Messages received by every connection, in the window and the second after.
    received: u64,
}

/// `--duration` of traffic (or of holding still with `--idle`), then a second for in-flight
/// messages to land.
async fn measure(
    shared: &Arc<Shared>,
    http: &reqwest::Client,
    rooms: &[Arc<Room>],
    pid: Option<u32>,
    progress: &dyn Progress,
) -> Window {
    let s = &shared.scenario;
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
            rooms.to_vec(),
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
    let length = window_start.elapsed();
    if let Some(d) = rest_driver {
        let _ = d.await;
    }
    let cpu_end = pid.and_then(process_ticks);
    let core_end = core.and_then(core_ticks);
    let own_cpu = cpu_ticks(std::process::id()).saturating_sub(own_start) as f64
        / ticks_per_s()
        / length.as_secs_f64()
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
    Window {
        length,
        cpu: (cpu_start, cpu_end),
        core,
        core_ticks: (core_start, core_end),
        own_cpu,
        steal,
        lag,
        received: shared.received.load(Ordering::Relaxed),
    }
}

/// The server's side after everyone left: descriptors back to baseline (counted on the
/// server listening now, after a restart), peak memory, memory per socket, and CPU.
async fn after_the_run(
    srv: &mut ServerUse,
    shared: &Shared,
    window: &Window,
    samples: Vec<(f64, u64, f64)>,
) {
    // Give the server a moment to close its side, then count again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    if !std::path::Path::new(&format!("/proc/{}", srv.pid)).exists() {
        srv.pid_after = find_server(&shared.targets[0], None).filter(|p| *p != srv.pid);
    }
    srv.fds_after = fds(srv.pid_after.unwrap_or(srv.pid));
    srv.samples = samples;
    srv.rss_peak_kib = srv.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let open = shared.connects_ok.load(Ordering::Relaxed).max(1) as f64;
    srv.rss_per_socket_kib = srv.rss_connected_kib.saturating_sub(srv.rss_before_kib) as f64 / open;
    if let (Some(a), Some(b)) = window.cpu {
        let share = |t: u64| t as f64 / ticks_per_s() / window.length.as_secs_f64() * 100.0;
        srv.cpu_percent = Some(share(b.total().saturating_sub(a.total())));
        srv.cpu_kernel_percent = Some(share(b.system.saturating_sub(a.system)));
    }
    if let (Some(cpu), (Some(a), Some(b))) = (window.core, window.core_ticks) {
        srv.core = Some(core_use(cpu, a, b));
    }
}

/// Timer spread per change: only changes every reading participant of the room saw.
fn timer_spread(rooms: &[Arc<Room>]) -> Latency {
    let mut timer = Latency::default();
    for room in rooms {
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
    timer
}
