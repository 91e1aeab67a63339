//! What the bench reads of the server process and of this machine while it drives load: resident
//! memory, CPU time (the process's, one core's, the hypervisor's steal), open files, and how late
//! the generator's own timers fire.

use super::*;

/// `/proc/PID` readings: resident memory in KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A process's CPU time in ticks: user and kernel (system calls, and the network stack's work
/// the kernel charges to it).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ProcessTicks {
    pub(super) user: u64,
    pub(super) system: u64,
}

impl ProcessTicks {
    pub(super) fn total(self) -> u64 {
        self.user + self.system
    }
}

/// `None` when the process is gone (a server restarted during the run).
pub(super) fn process_ticks(pid: u32) -> Option<ProcessTicks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcessTicks {
        user: n(11)?,
        system: n(12)?,
    })
}

pub(super) fn cpu_ticks(pid: u32) -> u64 {
    process_ticks(pid).map_or(0, ProcessTicks::total)
}

/// The one CPU a process is pinned to (`taskset -c N`), from `Cpus_allowed_list`.
pub(super) fn pinned_cpu(pid: u32) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim()
        .parse()
        .ok()
}

/// A `/proc/stat` CPU line's first counters (`label` is `cpu` for the whole machine, `cpuN` for
/// one CPU): user nice system idle iowait irq softirq steal (guest time is already in user).
pub(super) fn stat_ticks(label: &str) -> Option<[u64; 8]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat
        .lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(' '))?;
    let mut out = [0u64; 8];
    for (slot, v) in out.iter_mut().zip(line.split_whitespace()) {
        *slot = v.parse().ok()?;
    }
    Some(out)
}

/// One CPU's counters (see [`stat_ticks`]).
pub(super) fn core_ticks(cpu: usize) -> Option<[u64; 8]> {
    stat_ticks(&format!("cpu{cpu}"))
}

/// How the server's core spent the window, from two [`core_ticks`] readings.
pub(super) fn core_use(cpu: usize, a: [u64; 8], b: [u64; 8]) -> report::CoreUse {
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| y.saturating_sub(*x) as f64)
        .collect();
    let all: f64 = d.iter().sum::<f64>().max(1.0);
    let pct = |v: f64| v / all * 100.0;
    report::CoreUse {
        cpu,
        user_percent: pct(d[0] + d[1]),
        system_percent: pct(d[2]),
        irq_percent: pct(d[5] + d[6]),
        idle_percent: pct(d[3] + d[4]),
        steal_percent: pct(d[7]),
    }
}

/// How late this generator's runtime wakes a 1 ms timer, until `stop`: the delay the generator
/// itself adds to every latency it measures (a message is timed when its reader runs). When
/// its tail matches the relay's, the tail is the generator's, not the server's.
pub(super) async fn generator_lag(stop: CancellationToken) -> Latency {
    const TICK: Duration = Duration::from_millis(1);
    let mut lag = Latency::default();
    while !stop.is_cancelled() {
        let asked = Instant::now();
        tokio::time::sleep(TICK).await;
        // tokio's timer wheel has a 1 ms resolution, so up to a millisecond is the wheel's.
        lag.record(asked.elapsed().saturating_sub(TICK));
    }
    lag
}

/// The machine's CPU time from `/proc/stat` as (stolen by the hypervisor, all), in ticks; zeros
/// when unreadable. A run whose tail latencies jump while steal is high measured the host, not
/// the server.
pub(super) fn steal_ticks() -> (u64, u64) {
    stat_ticks("cpu").map_or((0, 0), |f| (f[7], f.iter().sum()))
}

pub(super) fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

pub(super) fn ticks_per_s() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}
