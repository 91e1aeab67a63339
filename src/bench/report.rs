//! What a benchmark run measured, how it is printed (table or JSON) and how `--slo` thresholds
//! are judged against it.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

mod slo;
pub use slo::*;

/// Latencies in microseconds, 1 µs to 5 minutes, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        Latency(Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 300_000_000);
        let _ = self.0.record(us);
    }

    pub fn merge(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> Summary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            count: self.0.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// A relay delivery at least this late counts as late for [`Stalls`].
pub const LATE_MS: u64 = 10;

/// Late relay deliveries (≥ [`LATE_MS`]) grouped by when they happened. A slow server queues
/// evenly; a pause of the machine (another process taking the core, the hypervisor) makes a
/// burst of late deliveries at one moment, and pauses that recur show up as bursts at a steady
/// period. On virtual machines the relay tail is often such bursts, every few seconds (docs/performance.md).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stalls {
    /// Late deliveries in all.
    pub late: u64,
    /// Bursts in all.
    pub burst_count: u64,
    /// Bursts of at least [`MIN_BURST`] late deliveries, in all.
    pub large_burst_count: u64,
    /// Bursts, in time order (the first [`MAX_BURSTS`]; `burst_count` counts all).
    pub bursts: Vec<Burst>,
    /// Median time between the starts of bursts of at least [`MIN_BURST`] deliveries, when
    /// there are three or more such bursts.
    pub period_s: Option<f64>,
}

/// One group of late deliveries, each received within [`BURST_GAP_MS`] of the previous one.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Burst {
    /// Seconds into the measured window when the earliest of them was sent.
    pub at_s: f64,
    /// From then to the last one's arrival.
    pub span_ms: f64,
    pub late: u64,
    pub worst_ms: f64,
}

/// Late deliveries further apart than this belong to different bursts.
pub const BURST_GAP_MS: f64 = 200.0;
/// A burst with fewer late deliveries does not count towards [`Stalls::period_s`].
pub const MIN_BURST: u64 = 20;
pub const MAX_BURSTS: usize = 200;

impl Stalls {
    /// From (received, latency) pairs in microseconds since the measured window began.
    pub fn from_late(mut late: Vec<(u64, u64)>) -> Stalls {
        late.sort_unstable();
        let mut bursts: Vec<Burst> = Vec::new();
        let mut last_received = f64::NEG_INFINITY;
        for (received_us, latency_us) in &late {
            let received = *received_us as f64 / 1000.0;
            let latency = *latency_us as f64 / 1000.0;
            let sent = received - latency;
            match bursts.last_mut() {
                Some(b) if received - last_received <= BURST_GAP_MS => {
                    let start = b.at_s * 1000.0;
                    let new_start = start.min(sent);
                    b.span_ms = received.max(start + b.span_ms) - new_start;
                    b.at_s = new_start / 1000.0;
                    b.late += 1;
                    b.worst_ms = b.worst_ms.max(latency);
                }
                _ => bursts.push(Burst {
                    at_s: sent / 1000.0,
                    span_ms: latency,
                    late: 1,
                    worst_ms: latency,
                }),
            }
            last_received = received;
        }
        let starts: Vec<f64> = bursts
            .iter()
            .filter(|b| b.late >= MIN_BURST)
            .map(|b| b.at_s)
            .collect();
        let mut gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let period_s = (gaps.len() >= 2).then(|| gaps[gaps.len() / 2]);
        let burst_count = bursts.len() as u64;
        let large_burst_count = starts.len() as u64;
        bursts.truncate(MAX_BURSTS);
        Stalls {
            late: late.len() as u64,
            burst_count,
            large_burst_count,
            bursts,
            period_s,
        }
    }

    /// One line for the table, or `None` when nothing was late.
    fn describe(&self, delivered: u64) -> Option<String> {
        if self.late == 0 {
            return None;
        }
        let mut line = format!(
            "late relays      {} of {} at least {LATE_MS} ms late, in {} burst(s)",
            self.late, delivered, self.burst_count
        );
        let shown: Vec<String> = self
            .bursts
            .iter()
            .filter(|b| b.late >= MIN_BURST)
            .take(6)
            .map(|b| format!("{:.1}", b.at_s))
            .collect();
        if !shown.is_empty() {
            line.push_str(&format!(
                "; {} of {MIN_BURST}+ at {}{} s",
                self.large_burst_count,
                shown.join(", "),
                if self.large_burst_count > 6 {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        if let Some(p) = self.period_s {
            line.push_str(&format!(
                ", every {p:.1} s (a recurring pause, not queueing)"
            ));
        }
        line.push('\n');
        Some(line)
    }
}

/// How one CPU spent the measured window (`/proc/stat`), in percent of that CPU. Interrupt and
/// softirq time is the network stack's work that no process is charged for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoreUse {
    pub cpu: usize,
    pub user_percent: f64,
    pub system_percent: f64,
    pub irq_percent: f64,
    pub idle_percent: f64,
    pub steal_percent: f64,
}

/// Server resource use, sampled from `/proc` when the server runs on this machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerUse {
    pub pid: u32,
    /// Before the first connection.
    pub rss_before_kib: u64,
    /// With every connection open.
    pub rss_connected_kib: u64,
    pub rss_peak_kib: u64,
    /// (connected − before) / open connections.
    pub rss_per_socket_kib: f64,
    /// Open file descriptors before and with every connection open, and after they left.
    pub fds_before: u64,
    pub fds_connected: u64,
    pub fds_after: u64,
    /// The server process that listened at the end, when the one sampled at the start had
    /// exited (a restart); `fds_after` is that process's count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_after: Option<u32>,
    /// CPU time over the measured window, as a share of one core; absent when the process
    /// exited during the window (a restart), rather than a misleading 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// The part of `cpu_percent` spent in the kernel (system calls; on loopback that includes
    /// the receiving side's TCP work for what the server sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_kernel_percent: Option<f64>,
    /// How the server's core spent the window, when the server is pinned to one CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<CoreUse>,
    /// (seconds since start, RSS KiB, CPU % of one core) once a second.
    pub samples: Vec<(f64, u64, f64)>,
}

/// The whole result of a run (`--json` prints this).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub url: String,
    /// Further instances participants were spread over (`--also-url`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_urls: Vec<String>,
    pub rooms: usize,
    pub per_room: usize,
    pub sockets: usize,
    pub duration_s: f64,
    pub connects_ok: u64,
    pub connects_failed: u64,
    /// Connections the server closed during the run (not at its end).
    pub disconnects: u64,
    /// First error messages seen (at most 5), for the reader.
    pub errors: Vec<String>,
    pub connect: Summary,
    /// offer/answer/ice-candidate: sender → server → one receiver.
    pub relay: Summary,
    pub relay_sent: u64,
    pub relay_delivered: u64,
    /// When the late relay deliveries happened: evenly (queueing) or in recurring bursts.
    pub relay_stalls: Stalls,
    pub deliveries_per_s: f64,
    /// Chat: sender → server (persisted) → everyone in the room.
    pub chat: Summary,
    pub chat_expected: u64,
    pub chat_delivered: u64,
    /// A joiner's whole negotiation (offers, answers and candidates with every peer).
    pub burst: Summary,
    /// Per timer change: last minus first arrival of that `timer-update` in a room.
    pub timer_spread: Summary,
    /// Every frame received per second of the measured window.
    pub messages_per_s: f64,
    pub delivered_percent: f64,
    pub server: Option<ServerUse>,
    /// This generator's own CPU over the measured window, as a share of one core (near 100 %
    /// on one core means the generator, not the server, may be the limit).
    pub generator_cpu_percent: f64,
    /// Share of the machine's CPU time the hypervisor took for other guests over the measured
    /// window (`/proc/stat` steal). On shared virtual machines it comes in bursts, and a run
    /// with a few percent of it has a worse tail whatever server is measured.
    pub steal_percent: f64,
    /// Participants that stopped reading (`--slow-percent`); not counted in deliveries.
    pub slow_consumers: u64,
    /// `--rest-rate` requests: latency of the successful ones, and the counts.
    pub rest: Summary,
    pub rest_ok: u64,
    pub rest_failed: u64,
    /// `--reconnect`: connections lost during the run, how many came back into their room and
    /// how long each took (from the loss to `room-joined`).
    pub lost: u64,
    pub reconnected: u64,
    pub reconnect: Summary,
    /// `--join-rate`: background joins, from the REST join to `room-joined`, and the counts.
    pub joins: Summary,
    /// How late the generator woke a 1 ms timer during the window (see `generator_lag`): what
    /// the generator itself adds to the latencies above.
    pub generator_lag: Summary,
    pub joins_ok: u64,
    pub joins_failed: u64,
    /// `--reconnect`: chat messages the server acknowledged, and how many of them a REST
    /// lookup at the end did not find (lost).
    pub chat_acked: u64,
    pub chat_acked_missing: u64,
    pub slo: Vec<SloResult>,
}

fn line(out: &mut String, name: &str, s: &Summary) {
    if s.count == 0 {
        return;
    }
    out.push_str(&format!(
        "{name:<16} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n",
        s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms
    ));
}

impl Report {
    /// Lost connections that came back, in percent (100 when none was lost).
    pub fn reconnected_percent(&self) -> f64 {
        if self.lost == 0 {
            100.0
        } else {
            self.reconnected as f64 / self.lost as f64 * 100.0
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{} — {} rooms × {} = {} sockets, {:.1} s measured\n",
            std::iter::once(&self.url)
                .chain(&self.also_urls)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" + "),
            self.rooms,
            self.per_room,
            self.sockets,
            self.duration_s
        ));
        out.push_str(&format!(
            "connects         {} ok, {} failed; {} disconnected during the run\n",
            self.connects_ok, self.connects_failed, self.disconnects
        ));
        if self.slow_consumers > 0 {
            out.push_str(&format!(
                "slow consumers   {} stopped reading when the measurement began (not counted)\n",
                self.slow_consumers
            ));
        }
        out.push_str(&format!(
            "\n{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        ));
        line(&mut out, "connect", &self.connect);
        line(&mut out, "relay", &self.relay);
        line(&mut out, "chat", &self.chat);
        line(&mut out, "join burst", &self.burst);
        line(&mut out, "timer spread", &self.timer_spread);
        line(&mut out, "REST", &self.rest);
        line(&mut out, "reconnect", &self.reconnect);
        line(&mut out, "background join", &self.joins);
        line(&mut out, "generator lag", &self.generator_lag);
        out.push_str(&format!(
            "\nrelay            {} sent, {} delivered ({:.3} %), {:.0} deliveries/s\n",
            self.relay_sent, self.relay_delivered, self.delivered_percent, self.deliveries_per_s
        ));
        if let Some(line) = self.relay_stalls.describe(self.relay_delivered) {
            out.push_str(&line);
        }
        if self.rest_ok + self.rest_failed > 0 {
            out.push_str(&format!(
                "REST             {} ok, {} failed ({:.0}/s)\n",
                self.rest_ok,
                self.rest_failed,
                (self.rest_ok + self.rest_failed) as f64 / self.duration_s.max(1e-9)
            ));
        }
        if self.joins_ok + self.joins_failed > 0 {
            out.push_str(&format!(
                "background joins {} ok, {} failed (while connecting and measuring)\n",
                self.joins_ok, self.joins_failed
            ));
        }
        if self.lost > 0 {
            out.push_str(&format!(
                "reconnects       {} lost, {} back in their room ({:.2} %)\n",
                self.lost,
                self.reconnected,
                self.reconnected_percent()
            ));
        }
        if self.chat_acked > 0 {
            out.push_str(&format!(
                "stored chat      {} acknowledged, {} missing afterwards\n",
                self.chat_acked, self.chat_acked_missing
            ));
        }
        if self.chat_expected > 0 {
            out.push_str(&format!(
                "chat             {} of {} deliveries\n",
                self.chat_delivered, self.chat_expected
            ));
        }
        out.push_str(&format!(
            "messages         {:.0} received/s; generator CPU {:.0} % of a core; hypervisor steal {:.1} % of the machine\n",
            self.messages_per_s, self.generator_cpu_percent, self.steal_percent
        ));
        if let Some(s) = &self.server {
            let cpu = match (s.cpu_percent, s.cpu_kernel_percent) {
                (Some(all), Some(kernel)) => {
                    format!("CPU {all:.0} % of a core ({kernel:.0} % in the kernel)")
                }
                _ => "CPU not known (the process exited during the run)".to_owned(),
            };
            let after = match s.pid_after {
                Some(pid) => format!("{} (pid {pid}, after the restart)", s.fds_after),
                None => s.fds_after.to_string(),
            };
            out.push_str(&format!(
                "server (pid {})  RSS {} → {} KiB (peak {}), {:.2} KiB per socket; fds {} → {} → {after}; {cpu}\n",
                s.pid,
                s.rss_before_kib,
                s.rss_connected_kib,
                s.rss_peak_kib,
                s.rss_per_socket_kib,
                s.fds_before,
                s.fds_connected,
            ));
            if let Some(c) = &s.core {
                out.push_str(&format!(
                    "server's core    cpu{}: user {:.0} %, kernel {:.0} %, interrupts {:.0} %, idle {:.0} %, steal {:.1} %\n",
                    c.cpu, c.user_percent, c.system_percent, c.irq_percent, c.idle_percent, c.steal_percent
                ));
            }
        }
        for e in &self.errors {
            out.push_str(&format!("error            {e}\n"));
        }
        for s in &self.slo {
            out.push_str(&format!(
                "slo              {:<24} {} (measured {:.3})\n",
                s.slo,
                if s.met { "met" } else { "MISSED" },
                s.value
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Late deliveries every 3.1 s (40 each, up to 30 ms late) form one burst per pause and
    /// give the period; the same number spread evenly over the run give no period.
    #[test]
    fn late_relays_group_into_bursts_with_a_period() {
        let mut late = Vec::new();
        for pause in 0..6u64 {
            let at_us = 1_000_000 + pause * 3_100_000;
            for k in 0..40u64 {
                // Sent during the pause, all received as it ends.
                late.push((at_us + 30_000 + k * 100, 30_000 - k * 500));
            }
        }
        let stalls = Stalls::from_late(late);
        assert_eq!(stalls.late, 240);
        assert_eq!(stalls.bursts.len(), 6);
        assert_eq!((stalls.burst_count, stalls.large_burst_count), (6, 6));
        assert!(
            stalls
                .bursts
                .iter()
                .all(|b| b.late == 40 && b.worst_ms == 30.0)
        );
        assert!(
            (stalls.bursts[1].at_s - 4.1).abs() < 1e-9,
            "{:?}",
            stalls.bursts[1]
        );
        assert!((stalls.period_s.unwrap_or(0.0) - 3.1).abs() < 1e-9);
        let line = stalls.describe(100_000).unwrap_or_default();
        assert!(
            line.contains("240 of 100000")
                && line.contains("6 of 20+")
                && line.contains("every 3.1 s"),
            "{line}"
        );

        let spread: Vec<(u64, u64)> = (0..240u64).map(|k| (k * 1_000_000, 12_000)).collect();
        let stalls = Stalls::from_late(spread);
        assert_eq!(
            (stalls.late, stalls.bursts.len(), stalls.period_s),
            (240, 200, None)
        );
        assert_eq!(stalls.burst_count, 240);
        assert_eq!(Stalls::default().describe(10), None);
    }

    #[test]
    fn slos_parse_and_judge() {
        let r = Report {
            relay: Summary {
                count: 10,
                p50_ms: 0.4,
                p99_ms: 3.0,
                ..Default::default()
            },
            chat: Summary {
                count: 10,
                p99_ms: 60.0,
                ..Default::default()
            },
            delivered_percent: 100.0,
            connects_failed: 1,
            steal_percent: 3.5,
            ..Default::default()
        };
        let judge = |s: &str| Slo::parse(s).unwrap().judge(&r).met;
        assert!(!judge("steal<2%"));
        assert!(judge("steal<5"));
        assert!(judge("p99<5ms"));
        assert!(!judge("p99<2ms"));
        assert!(judge("relay.p50<=400us"));
        assert!(!judge("chat.p99<50ms"));
        assert!(judge("chat.p99<0.1s"));
        assert!(judge("delivered>=100%"));
        assert!(!judge("failed=0"));
        assert!(Slo::parse("p98<5ms").is_err());
        assert!(Slo::parse("p99 5ms").is_err());
        assert!(Slo::parse("p99<fast").is_err());
    }

    #[test]
    fn histogram_percentiles_in_ms() {
        let mut l = Latency::default();
        for i in 1..=1000u64 {
            l.record(Duration::from_micros(i * 10));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.05, "{s:?}");
        assert!((s.max_ms - 10.0).abs() < 0.05, "{s:?}");
    }
}
